"""A case's phase, from what is on file: a pure function of the case's documents and events.

Everything known about a case is a list of dated :class:`Happening` s (the intake and its
assessment, notices, consent forms, agreements, and the coordinator's events). :func:`replay`
walks them in date order (on one day, in the order a case moves: an intake before a notice, a
consent before a session, an agreement before its signing) and returns the :class:`CaseState`:
the phase and since when, the outcome of a closed case, the parties' notice and consent, the
history of phases with their evidence, and the gaps. A happening marked ``new`` (what a file or
a form is about to record) is checked against the state at its date: one that does not fit is a
:class:`Refusal` with a sentence a coordinator understands, which never quotes a name or a note.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from enum import StrEnum

from pipeline.text import name_key


class Phase(StrEnum):
    INTAKE = "intake"
    ASSESSED = "assessed"
    AWAITING_CONSENT = "awaiting-consent"
    IN_PROCESS = "in-process"
    AGREEMENT = "agreement"
    MONITORING = "monitoring"
    CLOSED = "closed"


class Outcome(StrEnum):
    WITHDRAWN = "withdrawn"
    NOT_SUITABLE = "not-suitable"
    REFERRED = "referred"
    RESOLVED = "resolved"


class Consent(StrEnum):
    PENDING = "pending"
    GIVEN = "given"
    WITHDRAWN = "withdrawn"


NOT_SUITABLE = "not-suitable"
#: Happenings that come from documents (the others are events).
DOCUMENT_KINDS = ("opened", "assessed", "notice", "consent-form", "agreement", "withdrawal-notice", "completion")
#: On one day, the order in which a case moves.
_RANK = {
    "opened": 0, "assessed": 1, "supportive-measure": 2, "notice": 3, "consent-form": 4, "consent": 5,
    "session": 6, "agreement": 7, "agreement-signed": 8, "term-completed": 9, "term-waived": 9,
    "term-breached": 9, "agreement-expired": 10, "agreement-terminated": 10, "withdrawal-notice": 11,
    "case-withdrawn": 11, "case-referred": 11, "completion": 12, "case-closed": 13, "case-reopened": 14,
}
#: Phases in which a case takes part in an informal process (before the agreement is signed).
_BEFORE_SIGNING = (Phase.ASSESSED, Phase.AWAITING_CONSENT, Phase.IN_PROCESS, Phase.AGREEMENT)
_CONSENTING = (Phase.ASSESSED, Phase.AWAITING_CONSENT, Phase.IN_PROCESS)
_WHAT = {
    "notice": "a notice", "consent-form": "a consent form", "consent": "a consent", "session": "a session",
    "supportive-measure": "a supportive measure", "case-withdrawn": "a withdrawal", "case-referred": "a referral",
    "case-closed": "a closure", "case-reopened": "a reopening", "agreement": "an agreement",
    "agreement-signed": "the agreement's signing", "withdrawal-notice": "a withdrawal notice",
    "completion": "a completion letter", "opened": "an intake", "assessed": "an assessment",
}


@dataclass(frozen=True)
class Party:
    """A party of the case, as its intake record (or, for an older case, its agreement) names them."""

    name: str
    role: str = ""
    status: str = ""
    affiliation: str = ""
    email: str = ""

    @property
    def key(self) -> str:
        return name_key(self.name)


class TermStatus(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    WAIVED = "waived"
    BREACHED = "breached"
    SUPERSEDED = "superseded"
    """The agreement it belonged to was replaced by a newer one while the term was open."""


@dataclass(frozen=True)
class Term:
    """A term of an agreement as the agreement states it (its text stays in the case register)."""

    number: int
    due: dt.date | None = None
    owner: str = ""


@dataclass(frozen=True)
class Happening:
    """One dated thing on file about a case: from a document (``ref`` its record id) or an event."""

    date: dt.date
    kind: str
    party: str = ""
    term: int | None = None
    ref: str = ""
    due: dt.date | None = None
    """A date the happening sets (a notice's ``respond_by``)."""
    process: str | None = None
    """The process an assessment decides (or ``not-suitable``), or an agreement's."""
    new: bool = False
    """Being recorded now: checked against the state at its date."""
    terms: tuple[Term, ...] = ()
    """An agreement's terms."""
    note: str = ""
    """An event's note (a breach's or a waiver's is kept with the term)."""


@dataclass(frozen=True)
class CaseFacts:
    case_id: str
    has_intake: bool
    parties: tuple[Party, ...]
    happenings: tuple[Happening, ...]
    agreement_parties: tuple[str, ...] = ()
    """The names of the parties to the agreement in force (gaps: who has no consent on file)."""


@dataclass(frozen=True)
class PartyState:
    name: str
    role: str
    status: str
    notice: dt.date | None
    consent: Consent
    consent_on: dt.date | None
    withdrawn_on: dt.date | None


@dataclass(frozen=True)
class TermState:
    agreement: str
    """The record id of the agreement the term belongs to."""
    number: int
    due: dt.date | None
    owner: str
    status: TermStatus
    on: dt.date | None = None
    """When it was completed, waived, breached or superseded."""
    note: str = ""

    @property
    def ongoing(self) -> bool:
        """A term without a due date: it stays open until the case is completed or it is breached."""
        return self.due is None


@dataclass(frozen=True)
class Step:
    """A phase the case entered, when, and what put it there."""

    phase: Phase
    since: dt.date
    evidence: str
    ref: str = ""


@dataclass(frozen=True)
class Refusal:
    """Why a new happening cannot be recorded (``index``: its place in the facts' happenings)."""

    index: int
    reason: str
    waits: bool = False
    """Whether what is missing can still arrive (the file waits instead of failing)."""


@dataclass(frozen=True)
class CaseState:
    case_id: str
    phase: Phase
    since: dt.date | None
    outcome: Outcome | None
    closed_on: dt.date | None
    process: str | None
    history: tuple[Step, ...]
    parties: tuple[PartyState, ...]
    gaps: tuple[str, ...]
    refusals: tuple[Refusal, ...]
    next_due: dt.date | None
    closing: tuple[tuple[dt.date, Outcome | None], ...] = ()
    """Closures the happenings imply that no ``case-closed`` event records yet (date, outcome)."""
    terms: tuple[TermState, ...] = ()
    """Every term of every agreement of the case, the one in force last."""
    agreement: str | None = None
    """The record id of the agreement in force."""
    follow_up: dt.date | None = None
    open_at_closure: tuple[int, ...] = ()
    """The terms of the agreement in force still open when the coordinator closed the case."""
    notices_due: tuple[tuple[str, dt.date], ...] = ()
    """(party, date) of each notice whose answer is still awaited."""

    @property
    def open_terms(self) -> tuple[TermState, ...]:
        return tuple(t for t in self.terms if t.agreement == self.agreement and t.status == TermStatus.OPEN)

    @property
    def is_open(self) -> bool:
        return self.phase != Phase.CLOSED


@dataclass
class _Walk:
    """The state while the happenings are replayed."""

    facts: CaseFacts
    today: dt.date
    phase: Phase = Phase.INTAKE
    since: dt.date | None = None
    outcome: Outcome | None = None
    closed_on: dt.date | None = None
    process: str | None = None
    decided: str | None = None
    opened: dt.date | None = None
    signed_on: dt.date | None = None
    has_agreement: bool = False
    history: list[Step] = field(default_factory=list)
    notice: dict[str, dt.date] = field(default_factory=dict)
    due: dict[str, dt.date] = field(default_factory=dict)
    consent: dict[str, tuple[Consent, dt.date]] = field(default_factory=dict)
    before_close: Phase | None = None
    refusals: list[Refusal] = field(default_factory=list)
    closed_by_event: set[dt.date] = field(default_factory=set)
    closing: list[tuple[dt.date, Outcome | None]] = field(default_factory=list)
    agreement: str | None = None
    agreement_on: dt.date | None = None
    follow_up: dt.date | None = None
    terms: dict[tuple[str, int], TermState] = field(default_factory=dict)
    open_at_closure: tuple[int, ...] = ()

    def term(self, number: int | None) -> TermState | None:
        return self.terms.get((self.agreement or "", number or 0))

    def current_terms(self) -> list[TermState]:
        return [t for (ref, _), t in self.terms.items() if ref == self.agreement]

    @property
    def party_keys(self) -> set[str]:
        return {p.key for p in self.facts.parties}

    def enter(self, phase: Phase, date: dt.date, evidence: str, ref: str = "") -> None:
        if phase != self.phase or self.since is None:
            self.phase, self.since = phase, date
            self.history.append(Step(phase, date, evidence, ref))

    def close(self, date: dt.date, outcome: Outcome | None, evidence: str, ref: str = "") -> None:
        self.before_close = self.phase
        self.outcome, self.closed_on = outcome, date
        self.enter(Phase.CLOSED, date, evidence, ref)
        if outcome is not None and date not in self.closed_by_event:
            self.closing.append((date, outcome))


def replay(facts: CaseFacts, today: dt.date) -> CaseState:
    """The case's state after everything on file, each new happening checked at its date."""
    walk = _Walk(facts, today)
    order = sorted(range(len(facts.happenings)),
                   key=lambda i: (facts.happenings[i].date, _RANK.get(facts.happenings[i].kind, 9), i))
    walk.closed_by_event = {h.date for h in facts.happenings if h.kind == "case-closed"}
    walk.opened = min((h.date for h in facts.happenings if h.kind == "opened"), default=None)
    if not facts.has_intake:
        walk.phase = Phase.AGREEMENT  # an older case starts at its agreement
    for i in order:
        h = facts.happenings[i]
        reason = _check(walk, h) if h.new else None
        if reason is not None:
            walk.refusals.append(Refusal(i, reason[0], waits=reason[1]))
            continue
        _apply(walk, h)
    return CaseState(
        case_id=facts.case_id, phase=walk.phase, since=walk.since, outcome=walk.outcome,
        closed_on=walk.closed_on if walk.phase == Phase.CLOSED else None, process=walk.process,
        history=tuple(walk.history), parties=_parties(walk), gaps=tuple(_gaps(walk)),
        refusals=tuple(walk.refusals), next_due=_next_due(walk), closing=tuple(walk.closing),
        terms=tuple(walk.terms.values()), agreement=walk.agreement, follow_up=walk.follow_up,
        open_at_closure=walk.open_at_closure if walk.phase == Phase.CLOSED else (),
        notices_due=_notices_due(walk))


# --- what fits the phase ------------------------------------------------------------------------


def _check(walk: _Walk, h: Happening) -> tuple[str, bool] | None:
    """Why ``h`` does not fit the case at its date (and whether what it needs can still arrive)."""
    case = walk.facts.case_id
    what = _WHAT.get(h.kind, f"the event {h.kind}")
    if h.date > walk.today and h.kind not in DOCUMENT_KINDS:
        return f"{what} dated {h.date.isoformat()} is after today; events are recorded once they happen", False
    if walk.opened and h.date < walk.opened and h.kind not in ("opened", "assessed"):
        return (f"{what} dated {h.date.isoformat()} is before case {case} was opened "
                f"({walk.opened.isoformat()})"), False
    if h.kind == "case-reopened":
        if walk.phase != Phase.CLOSED:
            return f"case {case} is not closed, so it cannot be reopened", False
        return None
    if walk.phase == Phase.CLOSED and not walk.facts.has_intake and h.kind == "case-closed":
        return None  # an older case: retention counts its latest closure
    if walk.phase == Phase.CLOSED and h.kind not in ("agreement-expired", "agreement-terminated"):
        how = f" ({walk.outcome.value})" if walk.outcome else ""
        return (f"case {case} was closed on {walk.closed_on.isoformat()}{how}; {what} cannot be recorded "
                "unless the case is reopened first (event reopened)"), False
    party_problem = _party_problem(walk, h)
    if party_problem:
        return party_problem, False
    return _fits_phase(walk, h, what)


def _party_problem(walk: _Walk, h: Happening) -> str | None:
    case = walk.facts.case_id
    if h.kind in ("consent", "notice", "consent-form", "withdrawal-notice") and not h.party:
        return f"{_WHAT[h.kind]} must name the party it is for"
    if h.kind == "case-withdrawn" and not h.party and walk.facts.has_intake:
        return "a withdrawal must name the party who withdraws (the party column)"
    if not h.party:
        return None
    key = name_key(h.party)
    known = walk.party_keys if walk.facts.has_intake else {name_key(n) for n in walk.facts.agreement_parties}
    if key not in known:
        source = "its intake record" if walk.facts.has_intake else "its agreement"
        return f"the party named is not a party of case {case} (as {source} names them)"
    if h.kind in ("consent", "case-withdrawn", "consent-form", "notice"):
        state = walk.consent.get(key)
        if state and state[0] == Consent.WITHDRAWN:
            return f"the party named withdrew from case {case} on {state[1].isoformat()}"
    return None


def _fits_phase(walk: _Walk, h: Happening, what: str) -> tuple[str, bool] | None:
    case, phase = walk.facts.case_id, walk.phase
    if h.kind in ("notice", "consent-form", "consent", "session") and walk.facts.has_intake:
        if phase == Phase.INTAKE:
            return (f"case {case} has no assessment yet: {what} comes once the assessment has decided an "
                    "informal process"), False
        allowed = _CONSENTING if h.kind != "session" else (*_CONSENTING, Phase.AGREEMENT, Phase.MONITORING)
        if phase not in allowed:
            return f"case {case} is at its {phase.value} phase: {what} comes before the agreement", False
    if h.kind == "case-withdrawn":
        if walk.signed_on is not None:
            return (f"the agreement of case {case} was signed on {walk.signed_on.isoformat()}; a party can no "
                    "longer withdraw (record term-breached, referred or closed instead)"), False
    if h.kind == "agreement-signed":
        if not walk.has_agreement:
            return f"case {case} has no agreement on file to be signed", True
        if walk.signed_on is not None:
            return f"the agreement of case {case} was already signed on {walk.signed_on.isoformat()}", False
    if h.kind == "agreement" and walk.facts.has_intake:
        return _agreement_problem(walk, h)
    if h.kind in _TERM_EVENTS:
        return _term_problem(walk, h)
    if h.kind == "completion":
        return _completion_problem(walk)
    return None


_TERM_EVENTS = ("term-completed", "term-waived", "term-breached")
_TERM_STATUS = {"term-completed": TermStatus.COMPLETED, "term-waived": TermStatus.WAIVED,
                "term-breached": TermStatus.BREACHED}


def _term_problem(walk: _Walk, h: Happening) -> tuple[str, bool] | None:
    """A term event needs the agreement in force to have that term, still open (a breached term may
    still be waived)."""
    case = walk.facts.case_id
    if walk.agreement is None:
        return f"case {case} has no agreement on file, so its term {h.term} cannot be followed yet", True
    term = walk.term(h.term)
    if term is None:
        count = len(walk.current_terms())
        return f"the agreement of case {case} has no term {h.term} (its terms are 1 to {count})", False
    if term.status in (TermStatus.COMPLETED, TermStatus.WAIVED):
        return f"term {h.term} of case {case} was already {term.status.value} on {term.on.isoformat()}", False
    if term.status == TermStatus.BREACHED and h.kind != "term-waived":
        return (f"term {h.term} of case {case} was breached on {term.on.isoformat()}: record term-waived, or "
                "referred to treat the breach as a new report"), False
    return None


def _completion_problem(walk: _Walk) -> tuple[str, bool] | None:
    """A completion letter needs the agreement, every dated term completed or waived, and no open breach."""
    case = walk.facts.case_id
    if walk.agreement is None:
        return f"case {case} has no agreement on file to be completed", True
    if walk.signed_on is None:
        return f"the agreement of case {case} is not signed yet", True
    open_terms = [t for t in walk.current_terms() if t.status == TermStatus.OPEN and not t.ongoing]
    breached = [t for t in walk.current_terms() if t.status == TermStatus.BREACHED]
    problems = []
    if open_terms:
        problems.append(_terms_phrase(open_terms) + " still open")
    if breached:
        problems.append(_terms_phrase(breached) + " breached (record term-waived, or referred)")
    if problems:
        return f"case {case} cannot be completed: " + "; ".join(problems), True
    return None


def _terms_phrase(terms: list[TermState]) -> str:
    numbers = [str(t.number) for t in terms]
    listed = numbers[0] if len(numbers) == 1 else f"{', '.join(numbers[:-1])} and {numbers[-1]}"
    return f"term{'s' if len(numbers) > 1 else ''} {listed} {'are' if len(numbers) > 1 else 'is'}"


def _agreement_problem(walk: _Walk, h: Happening) -> tuple[str, bool] | None:
    """The agreement guard: every party of the agreement is a party of the case who consented and did
    not withdraw, and the process is the one decided."""
    case = walk.facts.case_id
    if walk.phase == Phase.INTAKE:
        return f"case {case} has no assessment yet: an agreement comes after the assessment and the consents", True
    if walk.decided and h.process and h.process != walk.decided:
        return (f"the agreement's process ({h.process}) is not the one the assessment of case {case} decided "
                f"({walk.decided})"), False
    problems, waits = [], True
    for n, name in enumerate(walk.facts.agreement_parties, start=1):
        key = name_key(name)
        if key not in walk.party_keys:
            problems.append(f"party {n} of the agreement is not a party of case {case}")
            waits = False
        elif walk.consent.get(key, (Consent.PENDING,))[0] == Consent.WITHDRAWN:
            problems.append(f"party {n} of the agreement withdrew from case {case}")
            waits = False
        elif key not in walk.consent:
            problems.append(f"party {n} of the agreement has no consent on file")
    if problems:
        return "; ".join(problems), waits
    return None


# --- what each happening does --------------------------------------------------------------------


def _apply(walk: _Walk, h: Happening) -> None:
    key = name_key(h.party) if h.party else ""
    kind = h.kind
    if kind == "opened":
        walk.enter(Phase.INTAKE, h.date, "intake record", h.ref)
    elif kind == "assessed":
        walk.decided = h.process
        if h.process == NOT_SUITABLE:
            walk.close(h.date, Outcome.NOT_SUITABLE, "assessed not suitable for an informal process", h.ref)
        else:
            walk.process = h.process
            if walk.phase in (Phase.INTAKE, Phase.ASSESSED):
                walk.enter(Phase.ASSESSED, h.date, f"assessed: {h.process}", h.ref)
    elif kind == "notice":
        walk.notice.setdefault(key, h.date)
        if h.due:
            walk.due[key] = h.due
        if walk.phase == Phase.ASSESSED:
            walk.enter(Phase.AWAITING_CONSENT, h.date, "notice issued", h.ref)
    elif kind == "consent":
        walk.consent.setdefault(key, (Consent.GIVEN, h.date))
        if walk.phase in (Phase.ASSESSED, Phase.AWAITING_CONSENT):
            everyone = all(walk.consent.get(p, (None,))[0] == Consent.GIVEN for p in walk.party_keys)
            walk.enter(Phase.IN_PROCESS if everyone else Phase.AWAITING_CONSENT, h.date,
                       "every party consented" if everyone else "consent received", h.ref)
    elif kind == "agreement":
        walk.has_agreement, walk.signed_on = True, None
        walk.process = h.process or walk.process
        for term in walk.current_terms():  # a newer agreement replaces the open terms of the one in force
            if term.status == TermStatus.OPEN:
                walk.terms[(term.agreement, term.number)] = replace(term, status=TermStatus.SUPERSEDED, on=h.date,
                                                                    note=f"replaced by {h.ref}")
        walk.agreement, walk.agreement_on, walk.follow_up = h.ref, h.date, h.due
        for term in h.terms:
            walk.terms[(h.ref, term.number)] = TermState(h.ref, term.number, term.due, term.owner, TermStatus.OPEN)
        if walk.phase != Phase.CLOSED:
            walk.enter(Phase.AGREEMENT, h.date, "agreement sealed", h.ref)
    elif kind in _TERM_STATUS:
        term = walk.term(h.term)
        if term is not None:
            walk.terms[(term.agreement, term.number)] = replace(term, status=_TERM_STATUS[kind], on=h.date,
                                                                note=h.note)
    elif kind == "agreement-signed":
        walk.signed_on = h.date
        if walk.phase == Phase.AGREEMENT:
            walk.enter(Phase.MONITORING, h.date, "agreement signed", h.ref)
    elif kind in ("case-withdrawn", "withdrawal-notice"):
        if key:
            walk.consent[key] = (Consent.WITHDRAWN, h.date)
        if walk.phase != Phase.CLOSED:
            walk.close(h.date, Outcome.WITHDRAWN, "a party withdrew" if key else "withdrawn", h.ref)
    elif kind == "case-referred":
        if walk.phase != Phase.CLOSED:
            walk.close(h.date, Outcome.REFERRED, "referred to the formal process", h.ref)
    elif kind == "completion":
        if walk.phase != Phase.CLOSED:
            walk.close(h.date, Outcome.RESOLVED, "completion letter sealed", h.ref)
    elif kind == "case-closed":
        if walk.phase != Phase.CLOSED:
            walk.open_at_closure = tuple(t.number for t in walk.current_terms() if t.status == TermStatus.OPEN)
            walk.close(h.date, None, "closed by the coordinator", h.ref)
    elif kind == "case-reopened":
        if walk.phase == Phase.CLOSED:
            back = walk.before_close or Phase.INTAKE
            if walk.outcome == Outcome.NOT_SUITABLE:
                back = Phase.INTAKE  # to be assessed again
            walk.outcome, walk.closed_on = None, None
            walk.enter(back, h.date, "reopened", h.ref)


# --- what the state says ------------------------------------------------------------------------


def _parties(walk: _Walk) -> tuple[PartyState, ...]:
    parties = walk.facts.parties or tuple(Party(n) for n in walk.facts.agreement_parties)
    states = []
    for p in parties:
        consent, on = walk.consent.get(p.key, (Consent.PENDING, None))
        given = walk.consent.get(p.key)
        states.append(PartyState(p.name, p.role, p.status, walk.notice.get(p.key), consent,
                                 on if consent == Consent.GIVEN else None,
                                 given[1] if given and given[0] == Consent.WITHDRAWN else None))
    return tuple(states)


def _gaps(walk: _Walk) -> list[str]:
    facts, gaps = walk.facts, []
    if not facts.has_intake:
        gaps.append("no intake record")
    if facts.has_intake:
        for p in facts.parties:
            if p.key in walk.consent and p.key not in walk.notice:
                gaps.append(f"no notice on file for {p.name}")
    for name in facts.agreement_parties:
        if name_key(name) not in walk.consent:
            gaps.append(f"no consent on file for {name}")
    return list(dict.fromkeys(gaps))


def _notices_due(walk: _Walk) -> tuple[tuple[str, dt.date], ...]:
    """The answer dates of the notices whose party has not answered (none once the case is closed)."""
    if walk.phase == Phase.CLOSED:
        return ()
    names = {p.key: p.name for p in walk.facts.parties}
    return tuple((names.get(key, key), d) for key, d in walk.due.items() if key not in walk.consent)


def _next_due(walk: _Walk) -> dt.date | None:
    """The next date due: a notice's answer awaited, an open term's due date, the agreement's follow-up."""
    if walk.phase == Phase.CLOSED:
        return None
    dates = [d for _, d in _notices_due(walk)]
    dates += [t.due for t in walk.current_terms() if t.status == TermStatus.OPEN and t.due]
    if walk.follow_up and walk.phase in (Phase.AGREEMENT, Phase.MONITORING):
        dates.append(walk.follow_up)
    return min(dates) if dates else None


def with_new(facts: CaseFacts, *happenings: Happening) -> CaseFacts:
    """The facts with ``happenings`` added as new (to be checked)."""
    return replace(facts, happenings=facts.happenings + tuple(replace(h, new=True) for h in happenings))
