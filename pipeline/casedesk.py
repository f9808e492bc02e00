"""The coordinator's desk: cases listed and shown, their events recorded, case files taken in.

Everything goes through the person's :class:`~pipeline.office.OfficeSession`: a case the person may
not see (``view-case``; a coordinator's own cases only) answers exactly as one that does not exist
and is not counted; recording needs ``manage-case``; every look and every change is in the audit
log. The command line and the portal both use it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import yaml

from pipeline.cases import agenda, casebook
from pipeline.cases.agenda import Item
from pipeline.cases.context import agreement_in_force, measures, terms
from pipeline.cases.ical import agenda_calendar
from pipeline.cases.phases import CaseState, Happening, replay, with_new
from pipeline.cases.rubric import Verdict, describe, evaluate, facts_from_intake, load_rubric
from pipeline.documents.casefile import CASE_SUFFIXES, parse_case
from pipeline.documents.templates import TemplateSpec, load_templates
from pipeline.errors import AccessDenied, AccordError, RecordNotFound
from pipeline.governance import holds
from pipeline.governance.access import RecordFacts, case_filter, decide, decide_case, search_filter
from pipeline.governance.retention import load_retention
from pipeline.intake import inbox
from pipeline.intake.eventfile import is_event_file, parse_event_rows
from pipeline.office import OfficeSession, record_event
from pipeline.records import audit, events
from pipeline.workspace import Workspace

#: The largest case file the portal takes (the intake's own limit applies after).
MAX_UPLOAD = 1024 * 1024


class CaseDesk:
    """Cases for one person (rights checked, everything audited). ``today`` is the office's clock."""

    def __init__(self, session: OfficeSession, templates: Iterable[TemplateSpec] | None = None, *,
                 today: Callable[[], dt.date] = dt.date.today):
        """``templates``: the workspace's templates, when the caller has them already (reading them
        takes about 75 ms)."""
        self.session = session
        self.today = today
        self._templates = list(load_templates(session.ws.templates).values() if templates is None else templates)
        self.policy = load_retention(session.ws.policies, {t.record_class for t in self._templates})

    def __enter__(self) -> "CaseDesk":
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    @property
    def catalog(self):
        return self.session.catalog

    # --- looking ---------------------------------------------------------------------------

    def cases(self, *, phase: str | None = None, process: str | None = None, include_closed: bool = False,
              limit: int | None = None, offset: int = 0) -> list[dict[str, Any]]:
        """The cases the person may see, open ones unless ``include_closed``, oldest in their phase
        first (``limit`` of them from ``offset``); each with the days it has spent in its phase."""
        session = self.session
        decision = decide(session.policy, session.actor, "view-case")
        if not decision:
            session.record_audit("view-case", "denied", details={"reason": decision.reason})
            raise AccessDenied(f"You may not see cases: {decision.reason}.")
        visible = case_filter(session.policy, session.actor, "view-case")
        rows = casebook.listing(self.catalog, visible, phase=phase, process=process, include_closed=include_closed,
                                limit=limit, offset=offset)
        today = self.today()
        for row in rows:
            since = dt.date.fromisoformat(row["phase_since"]) if row["phase_since"] else None
            row["days_in_phase"] = (today - since).days if since else None
        session.record_audit("view-case", "ok", details={"cases": len(rows), "phase": phase, "process": process})
        return rows

    def case(self, case_id: str) -> dict[str, Any]:
        """A case's timeline: phases with dates and evidence, parties with notice and consent, gaps,
        supportive measures, sessions, events, records (status, due dates and why, holds), a destroyed
        case's tombstone, and (for those who read the audit log) the disclosures of its records."""
        session = self.session
        row = casebook.get(self.catalog, case_id)
        if row is not None and not decide_case(session.policy, session.actor, "view-case", case_id):
            row = None
            shown = False
        else:
            shown = True
        visible = search_filter(session.policy, session.actor, "view")
        records = self.catalog.records_of_case(case_id, visible) if shown else []
        tombstones = [t for t in self.catalog.tombstones_of_case(case_id)
                      if decide(session.policy, session.actor, "view",
                                RecordFacts(t["record_id"], t["record_class"], "destroyed", case_id))] if shown else []
        gone = casebook.tombstone(self.catalog, case_id) if shown and decide(
            session.policy, session.actor, "view-case") else None
        if row is None and not records and not tombstones and gone is None:
            session.record_audit("view-case", "denied", details={"reason": "no visible case"}, case_id=case_id)
            raise RecordNotFound(f"No case {case_id!r}.")
        for record in records:
            record["holds"] = [h.__dict__ for h in holds.holds_on(self.catalog, record)]
        timeline: dict[str, Any] = {"case_id": case_id, **_register_view(self.catalog, row, self.today())}
        timeline.update(events=events.of_case(self.catalog, case_id), records=records, tombstones=tombstones,
                        destroyed=gone)
        if decide(session.policy, session.actor, "read-audit"):
            timeline["disclosures"] = [d for r in records for d in audit.disclosures(self.catalog.conn,
                                                                                    r["record_id"])]
        session.record_audit("view-case", "ok", case_id=case_id)
        return timeline

    def agenda(self, as_of: dt.date | None = None, days: int | None = None) -> list[Item]:
        """What is overdue and what falls due in the next ``days`` (``agenda.days`` by default) for the
        cases the person may see, and the MOUs they may view, oldest first: terms, follow-ups,
        notices awaiting an answer, breaches, cases idle in one phase, MOU reviews and expiries."""
        session = self.session
        decision = decide(session.policy, session.actor, "view-case")
        if not decision:
            session.record_audit("agenda", "denied", details={"reason": decision.reason})
            raise AccessDenied(f"You may not see the agenda: {decision.reason}.")
        settings = session.config.agenda
        as_of = as_of or self.today()
        horizon = as_of + dt.timedelta(days=settings.days if days is None else days)
        visible = case_filter(session.policy, session.actor, "view-case", alias="a", column="subject_id")
        mous = self.catalog.subjects_of_templates(self._agenda_templates(),
                                                  search_filter(session.policy, session.actor, "view"))
        items = []
        for item in agenda.due_by(self.catalog, horizon, visible, ("a.subject_id IN (SELECT value FROM json_each(?))",
                                                                    [json.dumps(mous)])):
            if item.yearly:
                item = dataclasses.replace(item, date=agenda.next_yearly(item.date, as_of))
                if item.date > horizon:
                    continue
            items.append(item)
        idle_since = horizon - dt.timedelta(days=settings.idle_days)
        for case_id, phase, since in casebook.idle(self.catalog, case_filter(session.policy, session.actor),
                                                   idle_since):
            items.append(agenda.Item(since + dt.timedelta(days=settings.idle_days), "idle", case_id, phase,
                                     f"{settings.idle_days} days in {phase}"))
        items.sort(key=lambda i: (i.date, i.case_id, agenda.RANK[i.kind], i.ref))
        session.record_audit("agenda", "ok", details={"as_of": as_of.isoformat(), "until": horizon.isoformat(),
                                                       "items": len(items)})
        return items

    def calendar(self, as_of: dt.date | None = None, days: int | None = None) -> bytes:
        """The agenda as an iCalendar file: case ids and kinds only (see ``cases/ical``)."""
        as_of = as_of or self.today()
        scope = f"{self.session.ws.root}|{self.session.actor.name}"
        return agenda_calendar(self.agenda(as_of, days), as_of=as_of, name=f"Accord agenda ({self.session.actor.name})",
                               scope=scope)

    def _agenda_templates(self) -> list[str]:
        return sorted(t.name for t in self._templates if t.agenda and not t.case_role)

    # --- recording -------------------------------------------------------------------------

    def add_event(self, case_id: str, event: str, date: dt.date, note: str = "", party: str = "",
                  term: int | None = None) -> int:
        """Record one event (a consent, a session, a supportive measure, a withdrawal...) for a case."""
        return record_event(self.session, self.policy, self.today(), case_id, event, date, note, party, term)

    def completion_letter(self, case_id: str, date: dt.date) -> str:
        """Ask for the case's completion letter: refused now, with the reason, while the case cannot be
        completed (a dated term or a breach still open, no signed agreement); else its case file goes
        into the inbox (the one path), to be filled from the case and sealed. Returns its name there."""
        reason = self.completion_refusal(case_id, date)
        if reason is not None:
            raise AccordError(f"The completion letter was not written: {reason}.")
        text = yaml.safe_dump({"template": "completion-letter", "case": {"id": case_id}, "date": date.isoformat()},
                              sort_keys=False)
        return self.upload("completion-letter.yaml", text.encode("utf-8"))

    def completion_refusal(self, case_id: str, date: dt.date) -> str | None:
        """Why a completion letter dated ``date`` could not be asked for now (``None``: it could); nothing
        is written. A case the person may not complete is refused as :meth:`completion_letter` refuses it."""
        session = self.session
        row = casebook.get(self.catalog, case_id)
        if row is None or not decide_case(session.policy, session.actor, "manage-case", case_id):
            session.record_audit("completion-letter", "denied", case_id=case_id)
            if row is not None and decide_case(session.policy, session.actor, "view-case", case_id):
                raise AccessDenied(f"You may not complete case {case_id}.")
            raise RecordNotFound(f"No case {case_id!r}.")
        facts = casebook.facts(self.catalog, row)
        state = replay(with_new(facts, Happening(date, "completion", ref="completion-letter")), self.today())
        return state.refusals[0].reason if state.refusals else None

    def upload(self, name: str, data: bytes) -> str:
        """Put a case file into the inbox (the one path every file takes); returns the name it got.
        The name is Accord's own (nothing of the upload's name is used but its kind). The file is read
        first: every case it is about must be one the person may manage (a case they may not see
        answers as an unknown one), and a file that cannot be read is refused with the reason."""
        session = self.session
        decision = decide(session.policy, session.actor, "manage-case")
        if not decision:
            session.record_audit("upload", "denied", details={"reason": decision.reason})
            raise AccessDenied(f"You may not upload case files: {decision.reason}.")
        suffix = next((s for s in (".csv", *CASE_SUFFIXES) if name.lower().endswith(s)), None)
        if suffix is None:
            raise AccordError("Upload a case file (.yaml, .yml or .json) or an event file (.csv).")
        if not data.strip():
            raise AccordError("The file is empty.")
        if len(data) > MAX_UPLOAD:
            raise AccordError(f"The file is larger than {MAX_UPLOAD // 1024} KB.")
        for case_id in self._cases_of_upload(f"upload{suffix}", data):
            if not decide_case(session.policy, session.actor, "manage-case", case_id):
                seen = decide_case(session.policy, session.actor, "view-case", case_id)
                session.record_audit("upload", "denied", details={"reason": "not a case the person manages"},
                                     case_id=case_id)
                if seen:
                    raise AccessDenied(f"You may not upload files for case {case_id}.")
                raise RecordNotFound(f"No case {case_id!r}.")
        digest = hashlib.sha256(data).hexdigest()
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%S")
        placed = inbox.deliver(session.ws, f"portal-{stamp}-{digest[:12]}{suffix}", data)
        session.record_audit("upload", "ok", details={"file": placed.name, "sha256": digest, "size": len(data)})
        return placed.name


    def _cases_of_upload(self, name: str, data: bytes) -> list[str]:
        """The cases an uploaded file is about, read as intake will read it (its problems refused now)."""
        if is_event_file(name, data):
            return sorted({e.case_id for _, e in parse_event_rows(data, name, lambda _: True)})
        templates = {t.name: t for t in self._templates}
        return [parse_case(data, name, templates, self.session.config.intake.max_bytes).subject_id]


def _register_view(catalog, row: dict[str, Any] | None, today: dt.date) -> dict[str, Any]:
    """What the register says about a case (nothing for a subject with records but no case)."""
    if row is None:
        return {"phase": None, "outcome": None, "process": None, "parties": [], "gaps": [], "history": [],
                "terms": [], "open_at_closure": []}
    state: CaseState = replay(casebook.facts(catalog, row), today)
    intake = row["register"].get("intake") or {}
    agreement = agreement_in_force(row)
    since = state.since
    return {
        "phase": state.phase.value, "outcome": state.outcome.value if state.outcome else None,
        "process": state.process, "opened": row["opened"], "has_intake": bool(row["has_intake"]),
        "phase_since": since.isoformat() if since else None,
        "days_in_phase": (today - since).days if since else None,
        "closed_on": state.closed_on.isoformat() if state.closed_on else None,
        "next_due": state.next_due.isoformat() if state.next_due else None,
        "parties": [{"name": p.name, "role": p.role, "status": p.status,
                     "notice": p.notice.isoformat() if p.notice else None, "consent": p.consent.value,
                     "consent_on": p.consent_on.isoformat() if p.consent_on else None,
                     "withdrawn_on": p.withdrawn_on.isoformat() if p.withdrawn_on else None}
                    for p in state.parties],
        "gaps": list(state.gaps),
        "history": [{"phase": s.phase.value, "since": s.since.isoformat(), "evidence": s.evidence, "ref": s.ref}
                    for s in state.history],
        "reported": intake.get("case"),
        "assessment": intake.get("assessment"),
        "verdict": intake.get("verdict"),
        "measures": [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in m.items()}
                     for m in measures(catalog, row)],
        "sessions": [{"date": e["date"], "note": e["note"], "party": e["party"]}
                     for e in events.of_case(catalog, row["case_id"]) if e["event"] == "session"],
        "documents": row["register"]["documents"],
        "agreement": agreement["record_id"] if agreement else None,
        "follow_up": state.follow_up.isoformat() if state.follow_up else None,
        "terms": [{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in t.items()}
                  for t in (terms(agreement, state) if agreement else [])],
        "open_at_closure": list(state.open_at_closure),
    }


@dataclass(frozen=True)
class RubricCheck:
    """What the rubric says of an intake file before it is dropped."""

    case_id: str
    decision: str | None
    verdict: Verdict
    refusal: str | None
    lines: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.refusal is None


def rubric_check(ws: Workspace, name: str, raw: bytes) -> RubricCheck:
    """Judge an intake file against the workspace's rubric (``accord rubric check``): the file is read
    and checked as intake reads it; nothing is recorded."""
    templates = load_templates(ws.templates)
    config = ws.load_config()
    case = parse_case(raw, name, templates, config.intake.max_bytes)
    if case.template.case_role != "intake":
        raise AccordError(f"The file is a {case.template.name} file; the rubric judges intake records "
                          f"({', '.join(n for n, t in templates.items() if t.case_role == 'intake')}).")
    rubric = load_rubric(ws.policies)
    verdict = evaluate(rubric, facts_from_intake(case.data))
    decision = (case.data.get("assessment") or {}).get("decision")
    return RubricCheck(case.subject_id, decision, verdict, verdict.refusal(decision),
                       tuple(describe(verdict, decision)))
