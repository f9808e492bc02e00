"""Agreements carried out: terms followed to completion, the completion letter that closes the case,
the coordinator's agenda, and the calendar file that carries no name.

The rules of the terms are tables over hand-built facts (pure); the rest goes through intake with the
stored PDFs, the coordinator's desk and the command line.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import icalendar
import pytest
import yaml

from pipeline.casedesk import CaseDesk
from pipeline.cases.phases import CaseFacts, Happening, Outcome, Party, Phase, Term, TermStatus, replay, with_new
from pipeline.errors import AccessDenied, AccordError
from pipeline.governance.access import Actor
from pipeline.office import OfficeSession
from pipeline.workspace import Workspace, init_workspace

from .helpers import list_users, make_office, run_cli

D = dt.date
CASE = "ADR-2026-0150"
TODAY = D(2026, 12, 1)
PARTIES = (Party("Aigerim Bekova", "reporting party"), Party("Lukas Schmidt", "responding party"))
BASE = (Happening(D(2026, 3, 2), "opened", ref="intake"),
        Happening(D(2026, 3, 9), "assessed", ref="intake", process="restorative-justice"),
        Happening(D(2026, 3, 13), "consent", party="Aigerim Bekova"),
        Happening(D(2026, 3, 16), "consent", party="Lukas Schmidt"))
TERMS = (Term(1, D(2026, 5, 15), "responding party"), Term(2, D(2026, 7, 31), "responding party"),
         Term(3, None, "both parties"), Term(4, D(2026, 6, 15), "coordinator"))
AGREEMENT = Happening(D(2026, 4, 8), "agreement", ref="ra-1", process="restorative-justice", terms=TERMS,
                      due=D(2026, 6, 15))
SIGNED = Happening(D(2026, 4, 8), "agreement-signed")


def term_event(kind: str, number: int, day: dt.date, note: str = "") -> Happening:
    return Happening(day, kind, term=number, note=note)


def state(*happenings: Happening):
    return replay(CaseFacts(CASE, True, PARTIES, BASE + happenings, ("Aigerim Bekova", "Lukas Schmidt")), TODAY)


def refusal(new: Happening, *on_file: Happening):
    facts = CaseFacts(CASE, True, PARTIES, BASE + on_file, ("Aigerim Bekova", "Lukas Schmidt"))
    found = replay(with_new(facts, new), TODAY).refusals
    return found[0] if found else None


def statuses(found) -> dict[int, tuple[str, dt.date | None]]:
    return {t.number: (t.status.value, t.on) for t in found.terms if t.agreement == found.agreement}


# --- the terms (pure) ---------------------------------------------------------------------------------


def test_each_term_starts_open_with_its_due_date_and_owner():
    """An agreement's terms are open from its date, each with its due date (none: ongoing) and owner."""
    found = state(AGREEMENT, SIGNED)
    assert found.phase == Phase.MONITORING and found.agreement == "ra-1"
    assert [(t.number, t.due, t.owner, t.status, t.ongoing) for t in found.terms] == [
        (1, D(2026, 5, 15), "responding party", TermStatus.OPEN, False),
        (2, D(2026, 7, 31), "responding party", TermStatus.OPEN, False),
        (3, None, "both parties", TermStatus.OPEN, True),
        (4, D(2026, 6, 15), "coordinator", TermStatus.OPEN, False)]
    assert found.next_due == D(2026, 5, 15) and found.follow_up == D(2026, 6, 15)


@pytest.mark.parametrize("events, expected", [
    ((term_event("term-completed", 1, D(2026, 5, 11), "Reflection received"),),
     {1: ("completed", D(2026, 5, 11))}),
    ((term_event("term-waived", 2, D(2026, 6, 1), "Course cancelled"),), {2: ("waived", D(2026, 6, 1))}),
    ((term_event("term-breached", 3, D(2026, 5, 1), "Agenda not followed"),), {3: ("breached", D(2026, 5, 1))}),
    ((term_event("term-breached", 3, D(2026, 5, 1)), term_event("term-waived", 3, D(2026, 5, 20))),
     {3: ("waived", D(2026, 5, 20))}),
], ids=["completed", "waived", "breached", "breach-then-waived"])
def test_term_events_set_the_terms_status(events, expected):
    """A term event sets the term's status and date; a breach may still be waived."""
    found = statuses(state(AGREEMENT, SIGNED, *events))
    assert {n: found[n] for n in expected} == expected
    assert all(found[n][0] == "open" for n in found if n not in expected)


def test_a_breach_does_not_close_the_case():
    """A breach leaves the case in monitoring (the agenda shows it) until it is waived or referred."""
    found = state(AGREEMENT, SIGNED, term_event("term-breached", 1, D(2026, 5, 1)))
    assert found.phase == Phase.MONITORING
    referred = state(AGREEMENT, SIGNED, term_event("term-breached", 1, D(2026, 5, 1)),
                     Happening(D(2026, 5, 3), "case-referred"))
    assert (referred.phase, referred.outcome) == (Phase.CLOSED, Outcome.REFERRED)


@pytest.mark.parametrize("new, on_file, says, waits", [
    (term_event("term-completed", 1, D(2026, 3, 20)), (), "has no agreement on file", True),
    (term_event("term-completed", 5, D(2026, 5, 1)), (AGREEMENT, SIGNED), "has no term 5 (its terms are 1 to 4)",
     False),
    (term_event("term-completed", 1, D(2026, 5, 20)), (AGREEMENT, SIGNED, term_event("term-completed", 1,
                                                                                     D(2026, 5, 11))),
     "already completed on 2026-05-11", False),
    (term_event("term-completed", 1, D(2026, 5, 20)), (AGREEMENT, SIGNED, term_event("term-breached", 1,
                                                                                     D(2026, 5, 11))),
     "breached on 2026-05-11: record term-waived, or referred", False),
], ids=["before-the-agreement", "no-such-term", "completed-twice", "completed-after-breach"])
def test_term_events_that_do_not_fit_are_refused(new, on_file, says, waits):
    """A term event before the agreement waits for it; one naming a term the agreement lacks, or a term
    already completed or breached, is refused with the reason."""
    found = refusal(new, *on_file)
    assert found is not None and says in found.reason, found
    assert found.waits is waits


def test_a_superseding_agreement_replaces_the_open_terms():
    """A newer agreement replaces the open terms of the one it supersedes (they say so); the terms
    completed under the old one keep their status."""
    newer = Happening(D(2026, 6, 1), "agreement", ref="ra-2", process="restorative-justice",
                      terms=(Term(1, D(2026, 9, 1)), Term(2, None)))
    found = state(AGREEMENT, SIGNED, term_event("term-completed", 1, D(2026, 5, 11)), newer)
    old = {t.number: t for t in found.terms if t.agreement == "ra-1"}
    assert old[1].status == TermStatus.COMPLETED
    assert {n: (t.status, t.on, t.note) for n, t in old.items() if n != 1} == {
        n: (TermStatus.SUPERSEDED, D(2026, 6, 1), "replaced by ra-2") for n in (2, 3, 4)}
    assert found.agreement == "ra-2" and found.phase == Phase.AGREEMENT
    assert [t.number for t in found.open_terms] == [1, 2]


@pytest.mark.parametrize("events, says", [
    ((), "terms 1, 2 and 4 are still open"),
    ((term_event("term-completed", 1, D(2026, 5, 11)), term_event("term-completed", 2, D(2026, 7, 20)),
      term_event("term-completed", 4, D(2026, 6, 15)), term_event("term-breached", 3, D(2026, 7, 1))),
     "term 3 is breached"),
], ids=["dated-terms-open", "breach-open"])
def test_the_completion_letter_waits_while_a_term_or_a_breach_is_open(events, says):
    """A completion letter is refused while a dated term is open or a breach is open, naming the terms
    by number (it waits: the events may be in the same batch)."""
    letter = Happening(D(2026, 7, 27), "completion", ref="letter")
    found = refusal(letter, AGREEMENT, SIGNED, *events)
    assert found is not None and says in found.reason and found.waits


def test_the_completion_letter_closes_the_case_resolved():
    """With every dated term completed or waived (an ongoing term may stay open), the letter closes
    the case, resolved, and asks for the closure that starts the retention clock."""
    done = (term_event("term-completed", 1, D(2026, 5, 11)), term_event("term-completed", 2, D(2026, 7, 20)),
            term_event("term-waived", 4, D(2026, 6, 15)))
    letter = Happening(D(2026, 7, 27), "completion", ref="letter")
    assert refusal(letter, AGREEMENT, SIGNED, *done) is None
    found = state(AGREEMENT, SIGNED, *done, letter)
    assert (found.phase, found.outcome, found.closed_on) == (Phase.CLOSED, Outcome.RESOLVED, D(2026, 7, 27))
    assert found.closing == ((D(2026, 7, 27), Outcome.RESOLVED),)


def test_a_plain_closure_lists_the_terms_open_at_closure():
    """The coordinator's closed event is accepted with terms open, which the case lists as open at closure."""
    found = state(AGREEMENT, SIGNED, term_event("term-completed", 1, D(2026, 5, 11)),
                  Happening(D(2026, 8, 1), "case-closed"))
    assert (found.phase, found.outcome, found.open_at_closure) == (Phase.CLOSED, None, (2, 3, 4))


# --- through intake ----------------------------------------------------------------------------------

IN_ORDER = ["mou.yaml", "resolution-agreement.yaml", "case-events.csv", "case-intake.yaml",
            "notice-of-informal-resolution.yaml", "consent-to-informal-resolution.yaml", "case-progress.csv",
            "restorative-agreement.yaml", "term-progress.csv", "completion-letter.yaml"]


def desk_of(ws: Workspace, user: str = "root") -> CaseDesk:
    return CaseDesk(OfficeSession(ws, Actor(user)))


@pytest.fixture(scope="module")
def monitored(tmp_path_factory, pki_source, stored_converter, examples) -> Path:
    """A workspace with every example up to the agreement, signed on paper (kept pristine)."""
    ws = init_workspace(tmp_path_factory.mktemp("monitored") / "ws")
    shutil.copytree(pki_source, ws.pki)
    office = make_office(ws, stored_converter)
    for name in IN_ORDER[:8]:
        shutil.copy(examples / name, ws.inbox / name)
    outcomes = office.process().outcomes
    assert all(o.status != "failed" for o in outcomes), [o.reason for o in outcomes]
    office.drop("signed.csv", f"case_id,event,date\n{CASE},agreement-signed,2026-04-08\n")
    assert office.process().outcomes[0].status == "events"
    office.ingestor.catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    office.ingestor.close()
    return ws.root


@pytest.fixture
def office(monitored, tmp_path, stored_converter):
    ws = Workspace(shutil.copytree(monitored, tmp_path / "ws"))
    o = make_office(ws, stored_converter)
    yield o
    o.ingestor.close()


@pytest.mark.parametrize("together", [False, True], ids=["one-at-a-time", "all-at-once"])
def test_every_example_is_taken_in_order_and_all_at_once(workspace, stored_converter, examples, together):
    """Every example file, in the order their comments give or dropped all at once, is taken as it is;
    the restorative case ends closed, resolved, kept 7 years from its completion letter."""
    office = make_office(workspace, stored_converter)
    try:
        if together:
            for name in IN_ORDER:
                shutil.copy(examples / name, workspace.inbox / name)
            outcomes = office.process().outcomes
        else:
            outcomes = []
            for name in IN_ORDER:
                shutil.copy(examples / name, workspace.inbox / name)
                outcomes += office.process().outcomes
        assert sorted(o.source_name for o in outcomes) == sorted(IN_ORDER)
        assert [o.reason for o in outcomes if o.status == "failed"] == []
    finally:
        office.ingestor.close()
    case = desk_of(workspace).case(CASE)
    assert (case["phase"], case["outcome"], case["closed_on"]) == ("closed", "resolved", "2026-07-27")
    assert {r["due_date"] for r in case["records"]} == {"2033-07-27"}
    assert [(t["number"], t["status"], t["closed_on"]) for t in case["terms"]] == [
        (1, "completed", "2026-05-11"), (2, "completed", "2026-07-20"), (3, "open", None),
        (4, "completed", "2026-06-15")]


def test_the_completion_letter_fails_while_a_term_is_open(office):
    """A completion letter dropped while term 2 is open fails at the end of the run, naming the term
    (never its text)."""
    office.drop("done.csv", f"case_id,event,date,term\n{CASE},term-completed,2026-05-11,1\n"
                            f"{CASE},term-completed,2026-06-15,4\n")
    office.drop("letter.yaml", f"template: completion-letter\ncase:\n  id: {CASE}\ndate: 2026-07-27\n")
    outcomes = {o.source_name: o for o in office.process().outcomes}
    assert outcomes["done.csv"].status == "events"
    letter = outcomes["letter.yaml"]
    assert letter.status == "failed" and "term 2 is still open" in letter.reason
    assert "intercultural" not in letter.reason


def test_term_events_name_the_term_and_are_judged(office):
    """An event file's term events are refused by line for a term the agreement lacks or no term at all."""
    office.drop("terms.csv", f"case_id,event,date,term\n{CASE},term-completed,2026-05-11,9\n"
                             f"{CASE},term-completed,2026-05-11,\n")
    (outcome,) = office.process().outcomes
    assert outcome.status == "failed" and "line 3: term-completed must name the term" in outcome.reason
    office.drop("terms2.csv", f"case_id,event,date,term\n{CASE},term-completed,2026-05-11,9\n")
    (outcome,) = office.process().outcomes
    assert "line 2: the agreement of case ADR-2026-0150 has no term 9" in outcome.reason


def test_the_case_shows_its_terms_with_owner_due_and_status(office):
    """accord case show lists each term of the agreement in force with its owner, due date and status."""
    with desk_of(office.ws) as desk:
        desk.add_event(CASE, "term-breached", D(2026, 5, 1), note="Agenda not followed", term=3)
        case = desk.case(CASE)
    term3 = next(t for t in case["terms"] if t["number"] == 3)
    assert (term3["owner"], term3["due"], term3["status"], term3["closed_on"], term3["note"]) == \
        ("both parties", None, "breached", "2026-05-01", "Agenda not followed")
    assert "Laboratory meetings" in term3["text"]
    text = run_cli("case", "show", CASE, "-w", str(office.ws.root)).output
    assert "term 3" in text and "breached 2026-05-01" in text


# --- the agenda ----------------------------------------------------------------------------------------


def agenda_of(ws: Workspace, as_of: dt.date, days: int = 14, user: str = "root") -> list[dict[str, Any]]:
    with desk_of(ws, user) as desk:
        return [i.as_dict(as_of) for i in desk.agenda(as_of, days)]


def test_the_agenda_lists_terms_follow_up_and_idle_cases_by_date(office):
    """As of a day, the agenda lists what is overdue and what falls due within the window, sorted by
    date: the terms' due dates, the follow-up, an idle case; each saying only the case and the kind."""
    items = agenda_of(office.ws, D(2026, 5, 20), days=30)
    assert [(i["date"], i["kind"], i["what"], i["overdue"]) for i in items if i["case_id"] == CASE] == [
        ("2026-05-08", "idle", "30 days in monitoring", True),
        ("2026-05-15", "term-due", "term 1 due", True),
        ("2026-06-15", "term-due", "term 4 due", False),
        ("2026-06-15", "follow-up", "follow-up with the parties", False)]
    assert all(set(i) == {"date", "kind", "case_id", "what", "overdue"} for i in items)


def test_a_breach_stays_on_the_agenda_until_waived(office):
    """An open breach is on the agenda (overdue) until it is waived."""
    with desk_of(office.ws) as desk:
        desk.add_event(CASE, "term-breached", D(2026, 5, 1), term=3)
    assert ("2026-05-01", "breach", "term 3 breached", True) in [
        (i["date"], i["kind"], i["what"], i["overdue"]) for i in agenda_of(office.ws, D(2026, 5, 2))]
    with desk_of(office.ws) as desk:
        desk.add_event(CASE, "term-waived", D(2026, 5, 3), term=3)
    assert "breach" not in [i["kind"] for i in agenda_of(office.ws, D(2026, 5, 4))]


def test_a_notice_awaiting_an_answer_is_on_the_agenda(workspace, stored_converter, examples):
    """A notice's respond_by date is on the agenda until the party consents."""
    office = make_office(workspace, stored_converter)
    try:
        for name in ("case-intake.yaml", "notice-of-informal-resolution.yaml"):
            shutil.copy(examples / name, workspace.inbox / name)
        office.process()
        kinds = [(i["date"], i["kind"]) for i in agenda_of(workspace, D(2026, 3, 20))]
        assert ("2026-03-24", "notice-answer") in kinds
        office.drop("c.csv", f"case_id,event,date,party\n{CASE},consent,2026-03-13,Aigerim Bekova\n")
        office.process()
    finally:
        office.ingestor.close()
    assert "notice-answer" not in [i["kind"] for i in agenda_of(workspace, D(2026, 3, 20))]


def test_the_mous_review_and_expiry_are_on_the_agenda(office):
    """The MOU's expiry, and its yearly review read from its own words ("Annually, each December."),
    are on the agenda of those who may view the MOU."""
    items = agenda_of(office.ws, D(2027, 11, 20), days=14)
    assert ("2027-12-01", "mou-review", "MOU-2026-007", "review due") in [
        (i["date"], i["kind"], i["case_id"], i["what"]) for i in items]
    expiry = agenda_of(office.ws, D(2028, 11, 25), days=14)
    assert ("2028-11-30", "mou-expiry", "MOU-2026-007") in [(i["date"], i["kind"], i["case_id"]) for i in expiry]


def test_the_agenda_shows_only_the_cases_one_may_see(office):
    """A coordinator's agenda holds their own cases only; counsel has no agenda."""
    list_users(office.ws, {"mlee": {"roles": ["coordinator"], "cases": ["ADR-2026-015*"]},
                           "other": {"roles": ["coordinator"], "cases": ["ADR-1999-*"]},
                           "jchen": {"roles": ["counsel"]}})
    assert {i["case_id"] for i in agenda_of(office.ws, D(2026, 5, 20), 30, "mlee")} == {CASE}
    assert agenda_of(office.ws, D(2026, 5, 20), 30, "other") == []
    with pytest.raises(AccessDenied):
        agenda_of(office.ws, D(2026, 5, 20), 30, "jchen")


def test_a_closed_case_leaves_the_agenda(office):
    """Once the case is closed (by the coordinator, terms open), nothing of it is on the agenda and
    the case lists the terms open at closure."""
    with desk_of(office.ws) as desk:
        desk.add_event(CASE, "closed", D(2026, 5, 1))
        case = desk.case(CASE)
    assert case["open_at_closure"] == [1, 2, 3, 4]
    assert [i for i in agenda_of(office.ws, D(2026, 5, 20), 60) if i["case_id"] == CASE] == []


def test_agenda_on_the_command_line(office):
    """accord agenda --json gives the items; without items it says nothing is due."""
    w = ("-w", str(office.ws.root))
    items = json.loads(run_cli("agenda", "--as-of", "2026-05-20", "--days", "30", "--json", *w).output)
    assert [i["kind"] for i in items if i["case_id"] == CASE] == ["idle", "term-due", "term-due", "follow-up"]
    assert run_cli("agenda", "--as-of", "2020-01-01", "--days", "1", *w).output.strip() == "Nothing is due."


# --- the calendar --------------------------------------------------------------------------------------


def test_the_calendar_parses_and_names_no_one(office, tmp_path, examples):
    """accord agenda --ics writes an RFC 5545 file that icalendar reads, one all-day event per item,
    with the case id and kind only: no party, allegation, term text or note anywhere in it."""
    with desk_of(office.ws) as desk:
        desk.add_event(CASE, "term-breached", D(2026, 5, 1), term=3, note="Agenda not followed in the lab")
    path = tmp_path / "agenda.ics"
    result = run_cli("agenda", "--as-of", "2026-05-20", "--days", "60", "--ics", str(path), "-w", str(office.ws.root))
    assert result.exit_code == 0, result.output
    raw = path.read_bytes()
    cal = icalendar.Calendar.from_ical(raw)
    events = [c for c in cal.walk("VEVENT")]
    summaries = sorted(str(e["summary"]) for e in events)
    assert "ADR-2026-0150: term 3 breached (overdue)" in summaries and "ADR-2026-0150: term 4 due" in summaries
    assert all(isinstance(e.decoded("dtstart"), dt.date) and not isinstance(e.decoded("dtstart"), dt.datetime)
               for e in events)
    words = ["Aigerim", "Bekova", "Lukas", "Schmidt", "accent", "reflection", "intercultural", "Laboratory",
             "Agenda not followed", "Race", "abekova"]
    intake = yaml.safe_load((examples / "case-intake.yaml").read_text())
    words += [intake["case"]["summary"][:30]]
    assert [w for w in words if w.lower().encode() in raw.lower()] == []
    assert path.stat().st_mode & 0o077 == 0


def test_calendar_events_keep_their_uid(office):
    """Two exports give each item the same UID, so a calendar updates it instead of adding a copy."""
    with desk_of(office.ws) as desk:
        first = icalendar.Calendar.from_ical(desk.calendar(D(2026, 5, 20), 30))
        second = icalendar.Calendar.from_ical(desk.calendar(D(2026, 5, 21), 30))
    uids = lambda cal: {str(e["summary"]).split(" (")[0]: str(e["uid"]) for e in cal.walk("VEVENT")}  # noqa: E731
    both = uids(first).keys() & uids(second).keys()
    assert both and all(uids(first)[k] == uids(second)[k] for k in both)


def test_a_refused_event_at_the_desk_is_a_plain_error(office):
    """At the desk, a term event for a term the agreement lacks is an error saying why."""
    with desk_of(office.ws) as desk, pytest.raises(AccordError, match="has no term 7"):
        desk.add_event(CASE, "term-completed", D(2026, 5, 1), term=7)


def test_asking_for_the_completion_letter_checks_the_case_first(office):
    """The desk refuses to write the completion letter while a term is open, and once every dated term
    is done it drops the letter's file into the inbox, which intake seals and the case closes."""
    with desk_of(office.ws) as desk:
        with pytest.raises(AccordError, match="terms 1, 2 and 4 are still open"):
            desk.completion_letter(CASE, D(2026, 7, 27))
        assert list(office.ws.inbox.glob("*.yaml")) == []
        for number, day in ((1, D(2026, 5, 11)), (2, D(2026, 7, 20)), (4, D(2026, 6, 15))):
            desk.add_event(CASE, "term-completed", day, term=number)
        name = desk.completion_letter(CASE, D(2026, 7, 27))
    assert (office.ws.inbox / name).is_file()
    (outcome,) = office.process().outcomes
    assert outcome.status == "recorded", outcome.reason
    with desk_of(office.ws) as desk:
        assert desk.case(CASE)["outcome"] == "resolved"
