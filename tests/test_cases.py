"""Cases from first contact, through the real pipeline: intake and the rubric, notice and consent,
events with a party, the agreement guard, withdrawal, waiting files, the coordinator's desk and
the command line, access, audit, and what is left of a case once its last record is destroyed.

Every file goes through intake as a coordinator's would (LibreOffice, the seal, the archive, the
catalog); the examples are the project's own copies of the shared case files.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from pipeline.casedesk import CaseDesk, rubric_check
from pipeline.cases import casebook
from pipeline.cli.main import cli
from pipeline.errors import AccessDenied, AccordError, RecordNotFound
from pipeline.governance.access import Actor, case_filter, decide_case, parse_policy
from pipeline.office import OfficeSession, RetentionDesk
from pipeline.records import audit, events
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

from .helpers import copy_workspace, make_office

CASE = "ADR-2026-0150"
OLD_CASE = "ADR-2026-0142"
THE_FUTURE = dt.date(2100, 1, 1)
#: The documented order of the case's files (each example's comment says what must come before it).
IN_ORDER = ["case-intake.yaml", "notice-of-informal-resolution.yaml", "consent-to-informal-resolution.yaml",
            "case-progress.csv", "restorative-agreement.yaml"]


def data_of(examples: Path, name: str) -> dict[str, Any]:
    return yaml.safe_load((examples / name).read_text(encoding="utf-8"))


def dump(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False)


def process(office, *files: tuple[str, str | bytes]):
    """Drop files into the inbox and run intake once; the outcomes by file name."""
    for name, content in files:
        office.drop(name, content)
    return {o.source_name: o for o in office.process().outcomes}


def copy_examples(office, examples: Path, names: list[str]) -> None:
    for name in names:
        shutil.copy(examples / name, office.ws.inbox / name)


def desk_of(ws: Workspace, user: str = "root", today=dt.date.today) -> CaseDesk:
    return CaseDesk(OfficeSession(ws, Actor(user)), today=today)


def case_of(ws: Workspace, case_id: str = CASE) -> dict[str, Any]:
    with desk_of(ws) as desk:
        return desk.case(case_id)


@pytest.fixture(scope="module")
def opened(tmp_path_factory, pki_source, stored_converter, examples) -> Path:
    """A workspace whose case ADR-2026-0150 has its intake record and nothing else (kept pristine)."""
    from pipeline.workspace import init_workspace

    ws = init_workspace(tmp_path_factory.mktemp("opened") / "ws")
    shutil.copytree(pki_source, ws.pki)
    o = make_office(ws, stored_converter)
    shutil.copy(examples / "case-intake.yaml", ws.inbox)
    (outcome,) = o.process().outcomes
    assert outcome.status == "recorded", outcome
    o.ingestor.catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    o.ingestor.close()
    return ws.root


@pytest.fixture
def case_office(opened, tmp_path, stored_converter):
    """A copy of the workspace with the intake on file, with a warm pipeline."""
    ws = copy_workspace(opened, tmp_path / "ws")
    o = make_office(ws, stored_converter)
    yield o
    o.ingestor.close()


# --- the examples -------------------------------------------------------------------------------


def _essentials(case: dict[str, Any]) -> dict[str, Any]:
    """What a case's state is, without record ids or the times things were recorded."""
    return {"phase": case["phase"], "outcome": case["outcome"], "process": case["process"], "gaps": case["gaps"],
            "parties": case["parties"], "history": [(h["phase"], h["since"]) for h in case["history"]],
            "events": sorted((e["event"], e["date"], e["party"], e["note"]) for e in case["events"]),
            "templates": sorted(r["template"] for r in case["records"])}


def test_the_examples_one_at_a_time_in_their_order(office, examples):
    """The case's example files, each dropped alone in its documented order, are all taken, and the
    case ends at its agreement with both consents on file."""
    for name in IN_ORDER:
        shutil.copy(examples / name, office.ws.inbox / name)
        (outcome,) = office.process().outcomes
        assert outcome.status in ("recorded", "events"), (name, outcome.reason)
    case = case_of(office.ws)
    assert (case["phase"], case["process"], case["outcome"]) == ("agreement", "restorative-justice", None)
    assert [(p["name"], p["consent"], p["consent_on"], p["notice"]) for p in case["parties"]] == [
        ("Aigerim Bekova", "given", "2026-03-13", "2026-03-10"), ("Lukas Schmidt", "given", "2026-03-16", None)]
    assert case["gaps"] == ["no notice on file for Lukas Schmidt"]
    assert [(h["phase"], h["since"]) for h in case["history"]] == [
        ("intake", "2026-03-02"), ("assessed", "2026-03-09"), ("awaiting-consent", "2026-03-10"),
        ("in-process", "2026-03-16"), ("agreement", "2026-04-08")]
    assert [s["date"] for s in case["sessions"]] == ["2026-03-24", "2026-04-08"]


def test_the_report_summary_counts_the_case_without_naming_anyone(office, examples):
    """What the reports read of a case: its dates, process, categories, statuses, units and counts,
    and no name, email, free text or note from any of its files; an emptied summary is computed
    again at the next start."""
    copy_examples(office, examples, IN_ORDER)
    office.process()
    catalog = office.ingestor.catalog
    (found,) = casebook.summaries(catalog, ("1", []))
    intake = data_of(examples, "case-intake.yaml")
    assert found["opened"] == "2026-03-02" and found["decided_on"] == "2026-03-09"
    assert (found["process"], found["decision"], found["phase"]) == ("restorative-justice",) * 2 + ("agreement",)
    assert found["agreement_on"] == "2026-04-08" and found["closed_on"] is None
    assert found["jurisdiction"] == intake["case"]["jurisdiction"]
    assert (found["parties"], found["noticed"], found["consented"]) == (2, 1, 2)
    text = json.dumps(found)
    for party in intake["parties"]:
        assert party["name"] not in text and party.get("email", "@") not in text
    assert intake["case"]["summary"][:40] not in text
    with catalog.transaction() as conn:
        conn.execute("UPDATE cases SET summary = '{}'")
    assert casebook.without_summary(catalog) == [CASE]
    office.process()
    assert list(casebook.summaries(catalog, ("1", []))) == [found]


def test_the_examples_all_at_once_end_the_same(office, examples, tmp_path, workspace, stored_converter):
    """Dropped all at once, the same files are all taken (the notice, the consent form and the
    agreement wait for what they need) and the case ends exactly as when they came one by one."""
    copy_examples(office, examples, IN_ORDER)
    outcomes = office.process().outcomes
    assert sorted((o.source_name, o.status) for o in outcomes) == sorted(
        [(n, "events" if n.endswith(".csv") else "recorded") for n in IN_ORDER]), [o.reason for o in outcomes]
    together = _essentials(case_of(office.ws))

    from pipeline.workspace import init_workspace
    ws = init_workspace(tmp_path / "one-by-one")
    shutil.copytree(workspace.pki, ws.pki)
    alone = make_office(ws, stored_converter)
    try:
        for name in IN_ORDER:
            shutil.copy(examples / name, ws.inbox / name)
            alone.process()
    finally:
        alone.ingestor.close()
    assert together == _essentials(case_of(ws))


def test_an_older_case_lists_what_is_missing(office, examples):
    """An agreement for a case Accord has no intake for is taken as before; its case lists the missing
    intake and consents, and a consent recorded later fills its gap."""
    copy_examples(office, examples, ["resolution-agreement.yaml", "case-events.csv"])
    assert {o.status for o in office.process().outcomes} == {"recorded", "events"}
    case = case_of(office.ws, OLD_CASE)
    assert (case["phase"], case["outcome"], case["has_intake"]) == ("closed", None, False)
    assert case["gaps"] == ["no intake record", "no consent on file for Zoë Núñez",
                            "no consent on file for Daniel O'Brien"]
    with desk_of(office.ws) as desk:
        desk.add_event(OLD_CASE, "reopened", dt.date(2026, 11, 30))
        desk.add_event(OLD_CASE, "consent", dt.date(2026, 11, 19), party="Zoe Núñez".replace("Zoe", "Zoë"))
    assert "no consent on file for Zoë Núñez" not in case_of(office.ws, OLD_CASE)["gaps"]


# --- intake and the rubric ----------------------------------------------------------------------


def test_an_intake_the_rubric_excludes_is_refused_naming_the_rule(office, examples):
    """An intake deciding mediation for a Title IX allegation of an employee's sexual harassment of a
    student is refused with the rule and its authority; no case is opened."""
    data = data_of(examples, "case-intake.yaml")
    data["case"].update(jurisdiction=["title-ix"], allegations=["sexual-harassment"])
    data["parties"][1]["status"] = "faculty"
    data["assessment"]["decision"] = "mediation"
    outcome = process(office, ("intake.yaml", dump(data)))["intake.yaml"]
    assert outcome.status == "failed"
    assert "106.45(b)(9)(iii)" in outcome.reason and "title-ix-employee-and-student" in outcome.reason
    assert "Lukas" not in outcome.reason and "Aigerim" not in outcome.reason
    assert not casebook.exists(office.ingestor.catalog, CASE)
    assert not list(office.ws.archive.glob("*/ADR-2026-0150-*"))


def test_an_unknown_answer_is_refused_naming_its_place(office, examples):
    """An answer the rubric's factor does not allow is refused, naming the field, not the value."""
    data = data_of(examples, "case-intake.yaml")
    data["assessment"]["answers"]["safety_risk"] = "catastrophic"
    outcome = process(office, ("intake.yaml", dump(data)))["intake.yaml"]
    assert outcome.status == "failed" and "assessment.answers.safety_risk" in outcome.reason
    assert "catastrophic" not in outcome.reason


def test_not_suitable_closes_the_case_and_starts_the_clock(office, examples):
    """A not-suitable decision keeps the intake record, closes the case with that outcome, and the
    record is kept 7 years from the assessment."""
    data = data_of(examples, "case-intake.yaml")
    data["assessment"]["decision"] = "not-suitable"
    assert process(office, ("intake.yaml", dump(data)))["intake.yaml"].status == "recorded"
    case = case_of(office.ws)
    assert (case["phase"], case["outcome"], case["closed_on"]) == ("closed", "not-suitable", "2026-03-09")
    assert ("case-closed", "2026-03-09") in [(e["event"], e["date"]) for e in case["events"]]
    (record,) = case["records"]
    assert record["due_date"] == "2033-03-09" and "case-closed on 2026-03-09" in record["due_reason"]


def test_an_intake_without_an_assessment_opens_the_case_at_intake(office, examples):
    """An intake filed before its assessment opens the case in the intake phase; a later version with
    the assessment supersedes it and moves the case on."""
    data = data_of(examples, "case-intake.yaml")
    assessment = data.pop("assessment")
    assert process(office, ("intake.yaml", dump(data)))["intake.yaml"].status == "recorded"
    assert case_of(office.ws)["phase"] == "intake"
    data["assessment"] = assessment
    assert process(office, ("intake-2.yaml", dump(data)))["intake-2.yaml"].status == "recorded"
    case = case_of(office.ws)
    assert case["phase"] == "assessed"
    assert sorted(r["status"] for r in case["records"]) == ["sealed", "superseded"]


# --- notices, consents, events -------------------------------------------------------------------


def test_a_notice_and_a_consent_form_are_filled_from_the_case(case_office, examples):
    """The notice and the consent form name only the case and the party; their records carry what
    the case holds, and each party's notice is its own document (not a version of the other's)."""
    notice = data_of(examples, "notice-of-informal-resolution.yaml")
    other = {**notice, "recipient": "Lukas Schmidt"}
    outcomes = process(case_office, ("notice.yaml", dump(notice)), ("notice-2.yaml", dump(other)),
                       ("consent.yaml", (examples / "consent-to-informal-resolution.yaml").read_text()))
    assert {o.status for o in outcomes.values()} == {"recorded"}, [o.reason for o in outcomes.values()]
    case = case_of(case_office.ws)
    notices = [r for r in case["records"] if r["template"] == "notice-of-informal-resolution"]
    assert [r["status"] for r in notices] == ["sealed", "sealed"]
    assert case["phase"] == "awaiting-consent"
    assert [p["notice"] for p in case["parties"]] == ["2026-03-10", "2026-03-10"]
    consent = next(r for r in case["records"] if r["template"] == "consent-to-informal-resolution")
    assert consent["signature_fields"] == ["sigparty"]
    assert "Aigerim Bekova" in consent["parties"] or "Lukas Schmidt" in consent["parties"]


@pytest.mark.parametrize("template, field", [
    ("notice-of-informal-resolution.yaml", "recipient"),
    ("consent-to-informal-resolution.yaml", "party"),
], ids=["notice", "consent-form"])
def test_a_document_for_someone_who_is_not_a_party_is_refused(case_office, examples, template, field):
    """A notice or a consent form for someone the intake does not name is refused, without the name."""
    data = data_of(examples, template)
    data[field] = "Mallory Stranger"
    outcome = process(case_office, ("doc.yaml", dump(data)))["doc.yaml"]
    assert outcome.status == "failed" and "not a party of case ADR-2026-0150" in outcome.reason
    assert "Mallory" not in outcome.reason


def test_a_notice_alone_waits_for_its_intake_then_fails(office, examples):
    """A notice for a case with no intake waits for it during the run, then fails saying so."""
    copy_examples(office, examples, ["notice-of-informal-resolution.yaml"])
    (outcome,) = office.process().outcomes
    assert outcome.status == "failed" and "has no intake record yet" in outcome.reason


def test_the_agreement_guard_refuses_an_agreement_without_consents(case_office, examples):
    """An agreement for a case with an intake, and no consent on file, fails with what is missing and
    leaves nothing in the archive."""
    before = sorted(p.name for p in case_office.ws.archive.glob("*/*"))
    outcome = process(case_office, ("ra.yaml", (examples / "restorative-agreement.yaml").read_text()))["ra.yaml"]
    assert outcome.status == "failed"
    assert "party 1 of the agreement has no consent on file" in outcome.reason
    assert sorted(p.name for p in case_office.ws.archive.glob("*/*")) == before


def test_the_agreement_guard_refuses_another_process_and_a_stranger(case_office, examples):
    """With the consents on file, an agreement through another process, or naming a stranger, is refused."""
    copy_examples(case_office, examples, ["case-progress.csv"])
    case_office.process()
    other = data_of(examples, "restorative-agreement.yaml")
    other["case"]["process"] = "mediation"
    stranger = data_of(examples, "restorative-agreement.yaml")
    stranger["parties"][1]["name"] = "Mallory Stranger"
    outcomes = process(case_office, ("other.yaml", dump(other)), ("stranger.yaml", dump(stranger)))
    assert "not the one the assessment" in outcomes["other.yaml"].reason
    assert "party 2 of the agreement is not a party" in outcomes["stranger.yaml"].reason


def test_events_name_a_party_and_are_judged_by_line(case_office):
    """An event file's consent for a stranger and an event after today are each refused by line (a
    row without the party it needs, before the case is asked), and nothing of the file is recorded."""
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    text = ("case_id,event,date,party,note\n"
            f"{CASE},session,2026-03-24,,Pre-conference\n"
            f"{CASE},consent,2026-03-13,Mallory Stranger,\n"
            f"{CASE},session,{tomorrow},,\n")
    outcome = process(case_office, ("progress.csv", text))["progress.csv"]
    assert outcome.status == "failed"
    assert "line 3: the party named is not a party" in outcome.reason
    assert "line 4: a session dated" in outcome.reason and "after today" in outcome.reason
    missing = process(case_office, ("p2.csv", f"case_id,event,date,party\n{CASE},consent,2026-03-13,\n"))["p2.csv"]
    assert missing.status == "failed" and "line 2: consent must name the party" in missing.reason
    assert [e["event"] for e in case_of(case_office.ws)["events"]] == []


def test_a_withdrawal_closes_the_case_and_the_notice_records_it(case_office, examples):
    """A withdrawal notice records the party's withdrawal, which closes the case with outcome withdrawn."""
    copy_examples(case_office, examples, ["case-progress.csv"])
    case_office.process()
    notice = {"template": "withdrawal-notice", "case": {"id": CASE}, "party": "Lukas Schmidt",
              "date": "2026-03-30", "next_step": "formal-process"}
    assert process(case_office, ("w.yaml", dump(notice)))["w.yaml"].status == "recorded"
    case = case_of(case_office.ws)
    assert (case["phase"], case["outcome"], case["closed_on"]) == ("closed", "withdrawn", "2026-03-30")
    on_file = [(e["event"], e["party"]) for e in case["events"] if e["date"] == "2026-03-30"]
    assert ("case-withdrawn", "Lukas Schmidt") in on_file and ("case-closed", "") in on_file
    assert [p["consent"] for p in case["parties"]] == ["given", "withdrawn"]
    # once closed, the agreement cannot come
    outcome = process(case_office, ("ra.yaml", (examples / "restorative-agreement.yaml").read_text()))["ra.yaml"]
    assert outcome.status == "failed" and "was closed on 2026-03-30 (withdrawn)" in outcome.reason


def test_no_withdrawal_once_the_agreement_is_signed(case_office, examples):
    """After the agreement is signed, a party's withdrawal is refused with what to record instead."""
    copy_examples(case_office, examples, ["case-progress.csv", "restorative-agreement.yaml"])
    case_office.process()
    with desk_of(case_office.ws) as desk:
        desk.add_event(CASE, "signed", dt.date(2026, 4, 8))
        with pytest.raises(AccordError, match="can no longer withdraw"):
            desk.add_event(CASE, "withdrawn", dt.date(2026, 4, 20), party="Lukas Schmidt")
    assert case_of(case_office.ws)["phase"] == "monitoring"


def test_an_event_for_a_case_without_intake_waits_for_it_in_the_batch(office, examples):
    """An event file and the intake of its case dropped together: the events wait for the intake."""
    copy_examples(office, examples, ["case-progress.csv", "case-intake.yaml"])
    assert {o.source_name: o.status for o in office.process().outcomes} == {
        "case-intake.yaml": "recorded", "case-progress.csv": "events"}


def test_every_case_event_is_an_audit_entry_without_names(case_office, examples):
    """Each event recorded is an audit entry naming the case and the event, never the party or the note."""
    copy_examples(case_office, examples, ["case-progress.csv"])
    case_office.process()
    entries = [e for e in audit.entries(case_office.ingestor.catalog.db.conn, action="event")
               if e["case_id"] == CASE]
    assert sorted(e["details"]["event"] for e in entries) == ["consent", "consent", "session", "session"]
    raw = json.dumps(entries, ensure_ascii=False)
    assert "Aigerim" not in raw and "Lukas" not in raw and "Pre-conference" not in raw


# --- the desk, access and the command line ------------------------------------------------------


def _with_users(ws: Workspace, users: dict[str, Any]) -> None:
    path = ws.policies / "access.yaml"
    text = path.read_text(encoding="utf-8").replace("\nusers: {}\n", "\n" + yaml.safe_dump({"users": users}))
    path.write_text(text, encoding="utf-8")


def test_a_coordinator_sees_their_own_cases_only(case_office, examples):
    """A coordinator sees and counts their own cases; another case answers exactly as an unknown one."""
    copy_examples(case_office, examples, ["resolution-agreement.yaml"])
    case_office.process()
    _with_users(case_office.ws, {"mlee": {"roles": ["coordinator"], "cases": ["ADR-2026-015*"]},
                                 "other": {"roles": ["coordinator"], "cases": ["ADR-1999-*"]},
                                 "jchen": {"roles": ["counsel"]}, "root": {"roles": ["director"]}})
    with desk_of(case_office.ws, "mlee") as desk:
        assert [c["case_id"] for c in desk.cases(include_closed=True)] == [CASE]
        assert desk.case(CASE)["phase"] == "assessed"
        with pytest.raises(RecordNotFound) as hidden:
            desk.case(OLD_CASE)
        with pytest.raises(RecordNotFound) as unknown:
            desk.case("ADR-2026-9999")
        assert str(hidden.value).replace(OLD_CASE, "X") == str(unknown.value).replace("ADR-2026-9999", "X")
    with desk_of(case_office.ws, "other") as desk:
        assert desk.cases(include_closed=True) == []
        with pytest.raises(RecordNotFound):
            desk.add_event(CASE, "session", dt.date(2026, 3, 24))
    with desk_of(case_office.ws, "jchen") as desk:
        with pytest.raises(AccessDenied):
            desk.cases()
    with desk_of(case_office.ws, "root") as desk:
        assert sorted(c["case_id"] for c in desk.cases(include_closed=True)) == [OLD_CASE, CASE]
        with pytest.raises(AccessDenied):  # the director sees cases but does not run them
            desk.add_event(CASE, "session", dt.date(2026, 3, 24))


def test_the_case_filter_keeps_exactly_what_decide_case_allows():
    """For each user, the SQL filter on case ids keeps the cases decide_case allows, no more."""
    import sqlite3

    policy = parse_policy({"roles": {"coordinator": "", "director": "", "counsel": ""},
                           "users": {"c1": {"roles": ["coordinator"], "cases": ["ADR-2026-*"]},
                                     "c2": {"roles": ["coordinator"], "cases": ["ADR-2026-01?0", "X-*"]},
                                     "d": {"roles": ["director"]}, "k": {"roles": ["counsel"]}},
                           "rules": [{"role": "coordinator", "actions": ["view-case", "manage-case"], "own_cases": True},
                                     {"role": "director", "actions": ["view-case"]}]}, None, "access.yaml")
    ids = ["ADR-2026-0150", "ADR-2026-0142", "ADR-2025-0001", "X-1", "ADR-2026-0100"]
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE c (case_id TEXT)")
    conn.executemany("INSERT INTO c VALUES (?)", [[i] for i in ids])
    for user in ("c1", "c2", "d", "k", "nobody"):
        for action in ("view-case", "manage-case"):
            where, params = case_filter(policy, Actor(user), action, alias="c")
            selected = {r[0] for r in conn.execute(f"SELECT case_id FROM c WHERE {where}", params)}
            assert selected == {i for i in ids if decide_case(policy, Actor(user), action, i)}, (user, action)


def test_looking_and_recording_are_audited(case_office):
    """Listing cases, opening one and recording an event are in the audit log with the actor."""
    with desk_of(case_office.ws) as desk:
        desk.cases()
        desk.case(CASE)
        desk.add_event(CASE, "session", dt.date(2026, 3, 24), note="Pre-conference")
        conn = desk.catalog.db.conn
        actions = [(e["action"], e["outcome"]) for e in audit.entries(conn, newest_first=False)][-3:]
    assert actions == [("view-case", "ok"), ("view-case", "ok"), ("event", "ok")]


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_command_line_lists_and_shows_cases(case_office, examples):
    """accord cases --json and accord case show --json give the documented keys."""
    copy_examples(case_office, examples, ["notice-of-informal-resolution.yaml", "case-progress.csv"])
    case_office.process()
    w = ("-w", str(case_office.ws.root))
    listed = json.loads(run("cases", "--json", *w).output)
    assert [set(r) >= {"case_id", "phase", "process", "opened", "days_in_phase", "next_due"} for r in listed] == [True]
    assert listed[0]["phase"] == "in-process" and listed[0]["days_in_phase"] == (dt.date.today() -
                                                                                  dt.date(2026, 3, 16)).days
    shown = json.loads(run("case", "show", CASE, "--json", *w).output)
    assert set(shown) >= {"case_id", "phase", "outcome", "process", "parties", "gaps", "events", "records"}
    assert {k for p in shown["parties"] for k in p} >= {"name", "role", "status", "notice", "consent"}
    text = run("case", "show", CASE, *w).output
    assert "Aigerim Bekova" in text and "consented 2026-03-13" in text and "GAP: no notice on file" in text
    assert run("cases", "--phase", "closed", *w).output.strip() == "No cases."


def test_event_add_takes_a_party_and_refuses_what_does_not_fit(case_office):
    """accord event add records a consent for a party; a refusal is a plain error with exit 1."""
    w = ("-w", str(case_office.ws.root))
    ok = run("event", "add", CASE, "consent", "--date", "2026-03-13", "--party", "Aigerim Bekova", *w)
    assert ok.exit_code == 0 and ok.output.strip() == "Recorded."
    again = run("event", "add", CASE, "consent", "--date", "2026-03-13", "--party", "aigerim  bekova", *w)
    assert again.output.strip() == "Already recorded."
    bad = run("event", "add", CASE, "consent", "--date", "2026-03-13", "--party", "Nobody", *w)
    assert bad.exit_code == 1 and "not a party of case ADR-2026-0150" in bad.output and "Nobody" not in bad.output


def test_rubric_check_shows_the_verdict_before_the_file_is_dropped(workspace, examples, tmp_path):
    """accord rubric check says what the rubric allows and exits 1 for a decision it excludes."""
    w = ("-w", str(workspace.root))
    ok = run("rubric", "check", str(examples / "case-intake.yaml"), *w)
    assert ok.exit_code == 0 and "restorative-justice is allowed" in ok.output
    data = data_of(examples, "case-intake.yaml")
    data["assessment"]["answers"]["responsibility_acknowledged"] = "no"
    bad = tmp_path / "intake.yaml"
    bad.write_text(dump(data), encoding="utf-8")
    refused = run("rubric", "check", str(bad), "--json", *w)
    assert refused.exit_code == 1
    report = json.loads(refused.output)
    assert report["ok"] is False and "restorative-justice" in report["excluded"]
    assert rubric_check(workspace, "intake.yaml", bad.read_bytes()).refusal == report["refusal"]


# --- when the case's last record is destroyed ---------------------------------------------------


def test_a_destroyed_case_leaves_no_text_of_it(case_office, examples, stored_converter):
    """Once the case closes and its records are destroyed, nothing of its register entry or events is
    left in the catalog file; a tombstone keeps the id, dates, process, outcome and counts."""
    copy_examples(case_office, examples, ["case-progress.csv"])
    case_office.process()
    ws = case_office.ws
    case_office.ingestor.close()
    from pipeline.documents.seal import make_sealer

    sealer = make_sealer(ws, ws.load_config())
    with RetentionDesk(OfficeSession(ws, Actor("root")), today=lambda: THE_FUTURE) as desk:
        desk.add_event(CASE, "referred", dt.date(2026, 4, 1))
        swept = desk.sweep(dt.date(2034, 1, 1), converter=stored_converter, sealer=sealer)
        desk.approve(swept.proposal_id, stored_converter, sealer)
    raw = ws.catalog.read_bytes() + (Path(f"{ws.catalog}-wal").read_bytes()
                                     if Path(f"{ws.catalog}-wal").exists() else b"")
    for word in ("Aigerim", "Bekova", "Schmidt", "abekova@example.edu", "mocked", "facilitated conference",
                 "Laboratory shifts", "Pre-conference", "Signed on paper"):
        assert word.encode() not in raw, word
    with desk_of(ws) as desk:
        gone = desk.case(CASE)
    assert gone["phase"] is None and gone["records"] == []
    stone = gone["destroyed"]
    assert (stone["opened"], stone["process"], stone["outcome"], stone["closed_on"]) == \
        ("2026-03-02", "restorative-justice", "referred", "2026-04-01")
    assert stone["counts"]["records"] == 1 and stone["counts"]["parties"] == 2
    assert stone["counts"]["events"] == {"consent": 2, "session": 2, "case-referred": 1, "case-closed": 1}
    with open_catalog(ws.catalog) as catalog:
        assert events.of_case(catalog, CASE) == [] and not casebook.exists(catalog, CASE)


def test_records_made_before_cases_were_kept_get_their_case(office, examples):
    """A catalog whose agreements were recorded before cases were kept registers their cases at the
    next start, from the archived sources."""
    copy_examples(office, examples, ["resolution-agreement.yaml"])
    office.process()
    catalog = office.ingestor.catalog
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM cases")
        conn.execute("INSERT INTO case_backfill (pending) VALUES (1)")
    summary = office.process()
    assert "1 case(s) registered from records made before cases were kept" in summary.reconciled
    assert case_of(office.ws, OLD_CASE)["phase"] == "agreement"
    assert not casebook.backfill_pending(catalog)


# --- signed copies --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signers_of_parties():
    """Signing keys for the case's parties and coordinator, under a root of their own."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from .helpers import party_certificate, party_signer

    root_key = ec.generate_private_key(ec.SECP256R1())
    root = party_certificate("Party Root CA", root_key, "Party Root CA", root_key, ca=True)

    def signer(cn: str):
        key = ec.generate_private_key(ec.SECP256R1())
        return party_signer(party_certificate(cn, key, "Party Root CA", root_key, ca=False), key, [root])

    return {n: signer(n) for n in ("Aigerim Bekova", "Lukas Schmidt", "Morgan Lee")}


def _sealed_pdf(office, template: str) -> bytes:
    (record,) = [r for r in office.ingestor.catalog.all_records() if r["template"] == template]
    return (office.ws.root / record["pdf_path"]).read_bytes()


def test_a_signed_consent_form_coming_back_records_the_consent(case_office, examples, signers_of_parties):
    """The party's signed copy of their consent form, dropped into the inbox, records their consent on
    the day they signed it."""
    from .helpers import sign_field

    copy_examples(case_office, examples, ["consent-to-informal-resolution.yaml"])
    case_office.process()
    signed = sign_field(_sealed_pdf(case_office, "consent-to-informal-resolution"), "sigparty",
                        signers_of_parties["Lukas Schmidt"])
    outcome = process(case_office, ("consent-signed.pdf", signed))["consent-signed.pdf"]
    assert outcome.status == "signed" and "consent is recorded" in outcome.reason
    consents = [(e["party"], e["date"]) for e in case_of(case_office.ws)["events"] if e["event"] == "consent"]
    assert consents == [("Lukas Schmidt", dt.datetime.now(dt.timezone.utc).date().isoformat())]


def test_an_agreement_signed_by_everyone_moves_the_case_to_monitoring(case_office, examples, signers_of_parties):
    """The agreement's copy signed by both parties and the coordinator records its signing: the case is
    monitored from that day."""
    from .helpers import sign_field

    copy_examples(case_office, examples, ["case-progress.csv", "restorative-agreement.yaml"])
    case_office.process()
    pdf = _sealed_pdf(case_office, "resolution-agreement")
    for field, name in (("sig1", "Aigerim Bekova"), ("sig2", "Lukas Schmidt"), ("sigcoordinator", "Morgan Lee")):
        pdf = sign_field(pdf, field, signers_of_parties[name])
    outcome = process(case_office, ("agreement-signed.pdf", pdf))["agreement-signed.pdf"]
    assert outcome.status == "signed" and "now monitored" in outcome.reason
    case = case_of(case_office.ws)
    assert case["phase"] == "monitoring"
    assert [e["event"] for e in case["events"]].count("agreement-signed") == 1
