"""Retention: schedules and due dates, legal holds, approved disposition, tombstones and
certificates, transfer and review, fixity, failure reports, and the commands that drive them.

The pure functions are tested as tables. Everything else runs against real workspaces: the two
shared examples are processed once per session (conftest's sealed_office) and every test
that writes works on its own copy of that workspace. Dates in the future are reached with case
events and ``as_of`` (the records themselves are created today).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bagit
import pytest
import yaml

from pipeline.casedesk import CaseDesk
from pipeline.documents.seal import make_sealer
from pipeline.documents.trust import TrustRoots
from pipeline.errors import AccessDenied, AccordError, ConfigurationError, SweepError
from pipeline.governance import disposition
from pipeline.governance.access import Actor
from pipeline.governance.disposition import ExecutionReport
from pipeline.governance.retention import (
    Schedule,
    add_period,
    due_for,
    load_retention,
    parse_retention,
    trigger_dates,
)
from pipeline.governance.sweep import SweepReport
from pipeline.office import OfficeSession, RetentionDesk
from pipeline.records import audit, events, fixity
from pipeline.records.search import SearchQuery
from pipeline.records.verify import check_signatures
from pipeline.workspace import CHECKOUT, Workspace

from .helpers import copy_workspace, list_users, make_office, pdfsig, run_cli

D = dt.date
RA, MOU = "resolution-agreement", "mou"
CASE, MOU_CASE = "ADR-2026-0142", "MOU-2026-007"
CLOSED = D(2026, 11, 25)                 # the agreement's case is closed on this day
DUE = D(2033, 11, 25)                    # ... so it is due 7 years later
LATER = D(2034, 1, 1)                    # a sweep "as of" this day finds it due
MOU_DUE = D(2035, 11, 30)                # the MOU expires 2028-11-30: due 7 years later
CERTIFICATE = "disposition-certificate"

#: Words only the resolution agreement holds (the MOU and a certificate hold none of them).
AGREEMENT_WORDS = ["bias-awareness", "Zoë Núñez", "Núñez", "Facilities & Grounds", "Department of Chemistry",
                   "Daniel O'Brien", "Morgan Lee", "shared lab spaces"]


# --- workspaces ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def processed(sealed_office) -> Path:
    """Both examples processed (conftest's sealed_office, as it was right after processing); tests copy the folder."""
    return sealed_office.pristine


@pytest.fixture
def ws(processed, tmp_path) -> Workspace:
    return copy_workspace(processed, tmp_path / "ws")


#: The tests sweep as of days years ahead, when records fall due; for their desks that day has come
#: (a desk on the real calendar refuses to sweep as of a day still to come: see TestFutureSweeps).
THE_FUTURE = dt.date(2100, 1, 1)


def open_desk(ws: Workspace, user: str = "root", today=lambda: THE_FUTURE) -> RetentionDesk:
    """The workspace's retention desk for ``user``, on a clock at :data:`THE_FUTURE`."""
    return RetentionDesk(OfficeSession(ws, Actor(user)), today=today)


@pytest.fixture
def desk(ws) -> Iterator[RetentionDesk]:
    """The workspace opened for its owner (with no users listed, the owner holds every role)."""
    with open_desk(ws) as d:
        yield d


def sealer_for(ws: Workspace):
    return make_sealer(ws, ws.load_config())


def record_of(desk: RetentionDesk, template: str) -> dict[str, Any]:
    rows = [r for r in desk.catalog.all_records() if r["template"] == template]
    assert len(rows) == 1, rows
    return rows[0]


def proposed_records(desk: RetentionDesk, proposal_id: int) -> list[str]:
    return [i["record_id"] for i in disposition.proposal(desk.catalog, proposal_id)[1]]


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def catalog_bytes(ws: Workspace) -> bytes:
    """The catalog file's raw bytes, its write-ahead log included when there is one."""
    data = ws.catalog.read_bytes()
    wal = Path(f"{ws.catalog}-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


def leaked(raw: bytes, words: list[str]) -> list[str]:
    """The words found in ``raw`` as UTF-8 or as JSON's \\u escapes."""
    return [w for w in words if w.encode("utf-8") in raw
            or json.dumps(w).strip('"').encode("ascii") in raw]


def set_schedule(ws: Workspace, record_class: str, **changes: Any) -> None:
    """Rewrite the workspace's schedules.yaml with one schedule changed."""
    path = ws.policies / "schedules.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["schedules"][record_class].update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


# === 1. pure functions ========================================================================


class TestAddPeriod:
    @pytest.mark.parametrize("start, years, months, days, expected", [
        (D(2026, 12, 15), 7, 0, 0, D(2033, 12, 15)),
        (D(2028, 2, 29), 1, 0, 0, D(2029, 2, 28)),      # leap day + a year: 28 February
        (D(2028, 2, 29), 4, 0, 0, D(2032, 2, 29)),      # ... + four years: a leap day again
        (D(2027, 1, 31), 0, 1, 0, D(2027, 2, 28)),      # month end into a short month
        (D(2028, 1, 31), 0, 1, 0, D(2028, 2, 29)),      # ... of a leap year
        (D(2026, 8, 31), 0, 1, 0, D(2026, 9, 30)),
        (D(2026, 12, 31), 0, 2, 0, D(2027, 2, 28)),     # across a year end
        (D(2026, 11, 30), 0, 13, 0, D(2027, 12, 30)),
        (D(2026, 12, 31), 0, 0, 1, D(2027, 1, 1)),
        (D(2026, 11, 20), 1, 2, 10, D(2028, 1, 30)),    # years, months and days together
        (D(2027, 1, 31), 0, 1, 1, D(2027, 3, 1)),       # the month is clamped first, then days added
        (D(2026, 11, 20), 0, 0, 0, D(2026, 11, 20)),
    ])
    def test_calendar_arithmetic(self, start, years, months, days, expected):
        """A calendar period is added year and month first (clamped to the month's end), then days."""
        assert add_period(start, years, months, days) == expected


class TestTriggerDates:
    CREATED = D(2026, 11, 25)

    @pytest.mark.parametrize("events, expected", [
        ([], {}),
        ([("case-closed", D(2026, 12, 15))], {"case-closed": D(2026, 12, 15)}),
        ([("case-closed", D(2027, 3, 1)), ("case-closed", D(2026, 12, 15))], {"case-closed": D(2027, 3, 1)}),
        ([("case-closed", D(2026, 12, 15)), ("case-reopened", D(2027, 2, 1))],
         {"case-reopened": D(2027, 2, 1)}),
        ([("case-closed", D(2026, 12, 15)), ("case-reopened", D(2027, 2, 1)), ("case-closed", D(2027, 6, 1))],
         {"case-closed": D(2027, 6, 1), "case-reopened": D(2027, 2, 1)}),
        ([("case-closed", D(2027, 6, 1)), ("case-reopened", D(2027, 2, 1)), ("case-closed", D(2026, 12, 15))],
         {"case-closed": D(2027, 6, 1), "case-reopened": D(2027, 2, 1)}),
        ([("case-reopened", D(2026, 10, 1)), ("case-closed", D(2026, 12, 15))],
         {"case-closed": D(2026, 12, 15), "case-reopened": D(2026, 10, 1)}),
        ([("agreement-expired", D(2028, 11, 30)), ("case-reopened", D(2029, 1, 1))],
         {"agreement-expired": D(2028, 11, 30), "case-reopened": D(2029, 1, 1)}),
    ], ids=["no-events", "closed", "latest-closure", "reopened-cancels-closure", "closed-again-counts",
            "order-does-not-matter", "reopening-before-closure", "reopening-cancels-only-closure"])
    def test_trigger_table(self, events, expected):
        """Each trigger's latest date; a reopening after the last closure cancels it, a later closure counts."""
        assert trigger_dates(events, self.CREATED) == {"created": self.CREATED, **expected}


class TestDueFor:
    ONE = Schedule(RA, ("case-closed",), years=7)
    TWO = Schedule("employee-file", ("case-closed", "case-withdrawn"), years=6, action="transfer")

    def test_one_trigger(self):
        """One trigger: the period runs from it, and the reason names the event, its date and the period."""
        due = due_for(self.ONE, {"created": D(2026, 11, 25), "case-closed": CLOSED})
        assert due.date == DUE and due.action == "destroy"
        assert due.reason == "destroy on 2033-11-25: case-closed on 2026-11-25 + 7 years"
        assert due.rule == "resolution-agreement: destroy 7 years after case-closed"

    @pytest.mark.parametrize("closed, withdrawn, expected, named", [
        (D(2027, 1, 10), D(2027, 5, 1), D(2033, 5, 1), "case-withdrawn on 2027-05-01"),
        (D(2027, 5, 1), D(2027, 1, 10), D(2033, 5, 1), "case-closed on 2027-05-01"),
    ])
    def test_two_triggers_later_wins(self, closed, withdrawn, expected, named):
        """Two triggers: the clock starts at the later of them, whichever it is."""
        due = due_for(self.TWO, {"case-closed": closed, "case-withdrawn": withdrawn})
        assert due.date == expected and due.action == "transfer"
        assert named in due.reason and due.reason.startswith(f"transfer on {expected.isoformat()}")

    @pytest.mark.parametrize("schedule, happened, reason", [
        (ONE, {"created": D(2026, 11, 25)}, "kept: waiting for case-closed"),
        (TWO, {"case-closed": D(2027, 1, 10)}, "kept: waiting for case-withdrawn"),
        (TWO, {}, "kept: waiting for case-closed, case-withdrawn"),
    ])
    def test_missing_trigger_keeps(self, schedule, happened, reason):
        """A record whose trigger has not happened is kept, and the reason names the missing event."""
        due = due_for(schedule, happened)
        assert due.date is None and due.reason == reason and due.action == schedule.action

    def test_permanent(self):
        """A permanent schedule has no due date whatever happened."""
        due = due_for(Schedule(CERTIFICATE, (), action="permanent"), {"created": D(2026, 1, 1)})
        assert (due.date, due.reason, due.action) == (None, "kept permanently", "permanent")
        assert due.rule == "disposition-certificate: keep permanently"

    def test_no_schedule(self):
        """A record class no schedule covers is kept, for review, and says so."""
        due = due_for(None, {"created": D(2026, 1, 1), "case-closed": D(2026, 2, 1)})
        assert due.date is None and due.action == "review"
        assert due.reason == "no retention schedule covers this record class: kept"


# === 2. policy validation ====================================================================


def _valid_policy() -> dict[str, Any]:
    return {
        "schedules": {
            RA: {"trigger": ["case-closed"], "period": {"years": 7}, "action": "destroy"},
            MOU: {"trigger": "agreement-expired", "period": {"years": 7}},
            "failure-report": {"trigger": ["created"], "period": {"years": 1}, "approval": False},
            CERTIFICATE: {"action": "permanent"},
        },
        "transfer_folder": "transfers",
        "fixity_days": 90,
        "sweep_time": "02:00",
    }


def _with(change):
    raw = _valid_policy()
    change(raw)
    return raw


def _set(path: str, value: Any):
    """A change setting ``schedules.<class>.<key>`` (or a top-level key) to ``value``."""
    def change(raw):
        *parents, key = path.split(".")
        target = raw
        for p in parents:
            target = target[p]
        target[key] = value
    return change


def _drop(path: str):
    def change(raw):
        *parents, key = path.split(".")
        target = raw
        for p in parents:
            target = target[p]
        del target[key]
    return change


class TestPolicyValidation:
    def test_valid_policy(self):
        """The valid base policy loads, with every class covered and the settings read; a policy that
        names no schedule for program reports gets the default one (10 years, then reviewed)."""
        policy = parse_retention(_valid_policy(), [RA, MOU])
        assert set(policy.schedules) == {RA, MOU, "failure-report", CERTIFICATE, "program-report"}
        report = policy.schedule_for("program-report")
        assert (report.triggers, report.years, report.action) == (("created",), 10, "review")
        assert policy.schedule_for(MOU).triggers == ("agreement-expired",)
        assert not policy.schedule_for("failure-report").approval
        assert (policy.transfer_folder, policy.fixity_days, policy.sweep_time) == ("transfers", 90, "02:00")

    @pytest.mark.parametrize("change, classes, match", [
        (_set("retain_forever", True), [], r"Unexpected key in schedules\.yaml: retain_forever"),
        (_set(f"schedules.{RA}.keep", 1), [], r"schedule resolution-agreement: unexpected key\(s\) keep"),
        (_set(f"schedules.{RA}.action", "shred"), [], r"action must be one of destroy, transfer, review, permanent"),
        (_set(f"schedules.{RA}.trigger", ["case-opened"]), [], r"unknown trigger 'case-opened'"),
        (_set(f"schedules.{MOU}.trigger", "closed"), [], r"unknown trigger 'closed'"),
        (_drop(f"schedules.{RA}.trigger"), [], r"name the trigger event\(s\)"),
        (_set(f"schedules.{RA}.period", {"years": -7}), [], r"whole numbers, not negative"),
        (_set(f"schedules.{RA}.period", {"years": 6.5}), [], r"whole numbers, not negative"),
        (_drop(f"schedules.{RA}.period"), [], r"the period must be longer than nothing"),
        (_set(f"schedules.{RA}.period", {"years": 0}), [], r"the period must be longer than nothing"),
        (_set(f"schedules.{RA}.period", {"weeks": 2}), [], r"period takes years, months and days"),
        (_set(f"schedules.{RA}.approval", "yes"), [], r"approval must be true or false"),
        (_set(f"schedules.{RA}", "7 years"), [], r"schedule resolution-agreement must be a mapping"),
        (lambda raw: None, [RA, MOU, "notice-and-consent"],
         r"covers no schedule for the record class\(es\): notice-and-consent"),
        (_drop(f"schedules.{MOU}"), [RA, MOU], r"covers no schedule for the record class\(es\): mou"),
        (_drop(f"schedules.{CERTIFICATE}"), [], r"record class\(es\): disposition-certificate"),
        (_drop("schedules.failure-report"), [], r"record class\(es\): failure-report"),
        (_set("sweep_time", "25:00"), [], r"sweep_time must be a time of day"),
        (_set("sweep_time", "two in the morning"), [], r"sweep_time must be a time of day"),
        (_set("transfer_folder", "../outside"), [], r"transfer_folder must be a folder inside the workspace"),
        (_set("transfer_folder", "transfers/../../etc"), [], r"transfer_folder must be a folder inside the workspace"),
        (_set("fixity_days", 0), [], r"fixity_days must be a whole number"),
    ], ids=["unknown-key", "unknown-schedule-key", "unknown-action", "unknown-trigger", "short-event-name",
            "no-trigger", "negative-period", "fractional-period", "missing-period", "empty-period",
            "period-unit", "approval-not-bool", "schedule-not-mapping", "template-class-uncovered",
            "mou-uncovered", "certificate-uncovered", "failure-report-uncovered", "bad-sweep-time",
            "sweep-time-words", "transfer-dotdot", "transfer-dotdot-inside", "fixity-days-zero"])
    def test_bad_policy(self, change, classes, match):
        """A bad schedules.yaml is refused with a message naming what is wrong."""
        with pytest.raises(ConfigurationError, match=match):
            parse_retention(_with(change), classes)

    def test_absolute_transfer_folder_is_refused(self):
        """An absolute transfer_folder is refused: bags are written inside the workspace."""
        with pytest.raises(ConfigurationError, match="transfer_folder"):
            parse_retention(_with(_set("transfer_folder", "/srv/transfers")), [])

    def test_file_problems(self, tmp_path):
        """A missing schedules.yaml and one that is not YAML are refused."""
        with pytest.raises(ConfigurationError, match="schedules.yaml is missing"):
            load_retention(tmp_path, [RA])
        (tmp_path / "schedules.yaml").write_text("schedules: [unclosed\n", encoding="utf-8")
        with pytest.raises(ConfigurationError, match="not valid YAML"):
            load_retention(tmp_path, [RA])

    def test_shipped_defaults(self):
        """The shipped schedules: agreements 7 years after closure, MOUs 7 years after expiry (both
        approved), failure reports 1 year after creation without approval, certificates permanent."""
        policy = load_retention(CHECKOUT / "retention_policies", [RA, MOU])
        ra, mou = policy.schedule_for(RA), policy.schedule_for(MOU)
        fail, cert = policy.schedule_for("failure-report"), policy.schedule_for(CERTIFICATE)
        assert (ra.triggers, ra.years, ra.months, ra.days, ra.action, ra.approval) == \
            (("case-closed",), 7, 0, 0, "destroy", True)
        assert (mou.triggers, mou.years, mou.action, mou.approval) == (("agreement-expired",), 7, "destroy", True)
        assert (fail.triggers, fail.years, fail.action, fail.approval) == (("created",), 1, "destroy", False)
        assert cert.action == "permanent"
        assert "106.45" in ra.authority


# === 3. due dates on real records =============================================================


class TestDueDates:
    def test_closure_sets_due_date(self, desk):
        """Once the case's closure is recorded, the agreement is due 7 years later, and says why."""
        before = record_of(desk, RA)
        assert before["due_date"] is None and before["due_reason"] == "kept: waiting for case-closed"
        assert desk.add_event(CASE, "closed", CLOSED) == 1
        after = record_of(desk, RA)
        assert after["due_date"] == DUE.isoformat()
        assert after["due_reason"] == "destroy on 2033-11-25: case-closed on 2026-11-25 + 7 years"
        assert after["retention_rule"] == "resolution-agreement: destroy 7 years after case-closed"

    def test_later_closure_moves_due_date(self, desk):
        """A later closure moves the due date, with a retention-due audit entry saying from what to what and why."""
        desk.add_event(CASE, "closed", CLOSED)
        desk.add_event(CASE, "case-closed", D(2027, 3, 1))
        record = record_of(desk, RA)
        assert record["due_date"] == "2034-03-01"
        moves = list(audit.entries(desk.catalog.db.conn, action="retention-due", record_id=record["record_id"],
                                   newest_first=False))
        assert [(m["details"]["old"], m["details"]["new"]) for m in moves] == \
            [(None, DUE.isoformat()), (DUE.isoformat(), "2034-03-01")]
        last = moves[-1]
        assert last["actor"] == "root" and last["case_id"] == CASE
        assert last["details"]["why"] == "event case-closed added by root"
        assert last["details"]["reason"] == "destroy on 2034-03-01: case-closed on 2027-03-01 + 7 years"
        assert audit.verify_chain(desk.catalog.db.conn).ok

    def test_earlier_closure_and_repeats_do_not_move(self, desk):
        """An earlier closure does not move the due date, and the same event twice is recorded once."""
        desk.add_event(CASE, "closed", CLOSED)
        assert desk.add_event(CASE, "closed", CLOSED) == 0
        desk.add_event(CASE, "closed", D(2026, 11, 21))
        assert record_of(desk, RA)["due_date"] == DUE.isoformat()

    def test_reopening_cancels_due_date(self, desk):
        """A reopening after the closure puts the record back to waiting; closing again restarts the clock."""
        desk.add_event(CASE, "closed", CLOSED)
        desk.add_event(CASE, "reopened", D(2027, 2, 1))
        record = record_of(desk, RA)
        assert record["due_date"] is None and record["due_reason"] == "kept: waiting for case-closed"
        desk.add_event(CASE, "closed", D(2027, 6, 1))
        assert record_of(desk, RA)["due_date"] == "2034-06-01"

    def test_event_file_in_the_inbox(self, ws, stored_converter):
        """A closure arriving as an event file in the inbox sets the due date just as add_event does."""
        office = make_office(ws, stored_converter)
        try:
            office.drop("closures.csv", f"case_id,event,date,note\n{CASE},closed,{CLOSED.isoformat()},Terms done\n")
            assert [o.status for o in office.process().outcomes] == ["events"]
        finally:
            office.ingestor.close()
        with open_desk(ws) as desk:
            assert record_of(desk, RA)["due_date"] == DUE.isoformat()

    def test_mou_due_from_its_own_expiry(self, desk):
        """The MOU is due 7 years after its own expires date, with no event recorded by anyone."""
        mou = record_of(desk, MOU)
        assert mou["due_date"] == MOU_DUE.isoformat()
        assert mou["due_reason"] == "destroy on 2035-11-30: agreement-expired on 2028-11-30 + 7 years"
        recorded = events.of_case(desk.catalog, MOU_CASE)
        assert [(e["event"], e["date"], e["note"]) for e in recorded] == \
            [("agreement-expired", "2028-11-30", "from the record's data")]
        assert not list(audit.entries(desk.catalog.db.conn, action="event", actor="root"))

    def test_unclosed_record_is_kept_30_years_later(self, desk):
        """With no closure recorded, a sweep 30 years ahead proposes the MOU but keeps the agreement."""
        report = desk.sweep(add_period(dt.date.today(), 30))
        assert report.due == 1 and report.proposal_id is not None
        assert proposed_records(desk, report.proposal_id) == [record_of(desk, MOU)["record_id"]]
        agreement = record_of(desk, RA)
        assert agreement["due_date"] is None and agreement["due_reason"] == "kept: waiting for case-closed"


# === 4. legal holds ==========================================================================


class TestLegalHolds:
    def test_case_hold_blocks_until_every_hold_is_released(self, desk):
        """A hold on the case keeps the agreement out of every proposal until it is released from every hold."""
        desk.add_event(CASE, "closed", CLOSED)
        agreement = record_of(desk, RA)["record_id"]
        first = desk.place_hold(name="Doe v. Institute", reason="Litigation notice", case_id=CASE)
        second = desk.place_hold(name="FERPA inspection", reason="Request to inspect, 99.10(e)", case_id=CASE)
        assert first.records == second.records == 1

        report = desk.sweep(LATER)
        assert (report.due, report.held, report.proposal_id) == (0, 1, None)

        desk.release_hold(first.id, "Case settled")
        report = desk.sweep(LATER)
        assert (report.due, report.held, report.proposal_id) == (0, 1, None)

        desk.release_hold(second.id, "Inspection done")
        report = desk.sweep(LATER)
        assert (report.due, report.held) == (1, 0)
        assert proposed_records(desk, report.proposal_id) == [agreement]
        assert [h.id for h in desk.holds()] == []
        assert [h.id for h in desk.holds(include_released=True)] == [first.id, second.id]

    def test_release_needs_a_reason_and_happens_once(self, desk):
        """A release says why, and a released hold cannot be released again."""
        hold = desk.place_hold(name="Doe v. Institute", reason="Litigation notice", case_id=CASE)
        with pytest.raises(AccordError, match="Say why"):
            desk.release_hold(hold.id, " ")
        desk.release_hold(hold.id, "Case settled")
        with pytest.raises(AccordError, match="already released"):
            desk.release_hold(hold.id, "again")

    def test_hold_after_proposal_skips_execution(self, ws, desk, stored_converter):
        """A hold placed after the proposal but before approval makes the execution skip the record; its files stay."""
        desk.add_event(CASE, "closed", CLOSED)
        agreement = record_of(desk, RA)
        report = desk.sweep(LATER)
        assert proposed_records(desk, report.proposal_id) == [agreement["record_id"]]
        hold = desk.place_hold(name="Doe v. Institute", reason="Litigation notice", record_id=agreement["record_id"])

        executed = desk.approve(report.proposal_id, stored_converter, sealer_for(ws))
        assert executed.results == {agreement["record_id"]: "skipped: under a legal hold"}
        assert (ws.root / agreement["pdf_path"]).is_file() and (ws.root / agreement["source_path"]).is_file()
        assert desk.catalog.find(agreement["record_id"]) is not None
        assert not desk.catalog.db.execute("SELECT * FROM tombstones").fetchall()
        skipped = list(audit.entries(desk.catalog.db.conn, action="disposition-skipped"))
        assert skipped and skipped[0]["details"]["why"] == "under a legal hold"
        row, items = disposition.proposal(desk.catalog, report.proposal_id)
        assert row["status"] == "executed" and items[0]["result"] == "skipped: under a legal hold"

        desk.release_hold(hold.id, "Case settled")
        again = desk.sweep(LATER)
        assert proposed_records(desk, again.proposal_id) == [agreement["record_id"]]

    def test_holds_are_shown_and_searched(self, desk):
        """A record's holds appear in show(), and search results say which records are held."""
        agreement, mou = record_of(desk, RA)["record_id"], record_of(desk, MOU)["record_id"]
        hold = desk.place_hold(name="Doe v. Institute", reason="Litigation notice", record_id=agreement)
        shown = desk.session.show(agreement)["holds"]
        assert len(shown) == 1
        assert {k: shown[0][k] for k in ("id", "name", "reason", "author")} == \
            {"id": hold.id, "name": "Doe v. Institute", "reason": "Litigation notice", "author": "root"}
        assert desk.session.show(mou)["holds"] == []
        found = {r["record_id"]: r["held"] for r in desk.session.search(SearchQuery()).records}
        assert found == {agreement: True, mou: False}

    def test_case_hold_covers_future_records(self, desk):
        """A hold on a case that has no record yet is allowed, and covers what arrives later."""
        hold = desk.place_hold(name="Pre-litigation", reason="Notice of claim", case_id="ADR-2027-0001")
        assert hold.records == 0 and hold.scope_kind == "case"

    def test_hold_needs_exactly_one_scope(self, desk):
        """A hold covers exactly one of a case, a record or a search, and needs a name and a reason."""
        with pytest.raises(AccordError, match="exactly one"):
            desk.place_hold(name="x", reason="y")
        with pytest.raises(AccordError, match="exactly one"):
            desk.place_hold(name="x", reason="y", case_id=CASE, search="Núñez")
        with pytest.raises(AccordError, match="name and a reason"):
            desk.place_hold(name=" ", reason="y", case_id=CASE)


# === 5. approval =============================================================================


class TestApproval:
    def test_sweep_alone_destroys_nothing(self, ws, desk, stored_converter):
        """A full sweep only proposes the agreement's destruction: nothing is destroyed without approval."""
        desk.add_event(CASE, "closed", CLOSED)
        agreement = record_of(desk, RA)
        report = desk.sweep(LATER, converter=stored_converter, sealer=sealer_for(ws))
        assert report.proposal_id is not None and report.executed_proposal_id is None
        assert report.by_action == {"destroy": 1} and report.anchored
        assert disposition.proposal(desk.catalog, report.proposal_id)[0]["status"] == "proposed"
        assert desk.catalog.find(agreement["record_id"]) is not None
        assert (ws.root / agreement["pdf_path"]).is_file()
        assert not desk.catalog.db.execute("SELECT * FROM tombstones").fetchall()
        # a second sweep does not propose it twice while the first proposal waits
        assert desk.sweep(LATER).due == 0

    def test_counsel_may_not_approve_or_sweep(self, ws):
        """A counsel user (no approve-disposition right) is refused the sweep and the approval, and both are audited."""
        list_users(ws, {"clerk": {"roles": ["counsel"]}, "ro": {"roles": ["records-officer"]}})
        with open_desk(ws, "ro") as officer:
            officer.add_event(CASE, "closed", CLOSED)
            proposal_id = officer.sweep(LATER).proposal_id
            assert proposal_id is not None
        with open_desk(ws, "clerk") as clerk:
            with pytest.raises(AccessDenied):
                clerk.approve(proposal_id, None, None)
            with pytest.raises(AccessDenied):
                clerk.sweep(LATER)
            with pytest.raises(AccessDenied):
                clerk.reject(proposal_id, "no")
            denied = list(audit.entries(clerk.catalog.db.conn, actor="clerk"))
            assert {(e["action"], e["outcome"]) for e in denied} == {("approve-disposition", "denied")}
            assert len(denied) == 3
            assert disposition.proposal(clerk.catalog, proposal_id)[0]["status"] == "proposed"
            assert clerk.catalog.count() == 2

    def test_rejected_proposal_cannot_be_approved(self, ws, desk, stored_converter):
        """A rejected proposal cannot be approved afterwards, and the record stays."""
        desk.add_event(CASE, "closed", CLOSED)
        proposal_id = desk.sweep(LATER).proposal_id
        desk.reject(proposal_id, "Pending review of the 2026 cases")
        with pytest.raises(SweepError, match="rejected"):
            desk.approve(proposal_id, stored_converter, sealer_for(ws))
        with pytest.raises(SweepError, match="not awaiting a decision"):
            desk.reject(proposal_id, "twice")
        assert disposition.proposal(desk.catalog, proposal_id)[0]["status"] == "rejected"
        assert desk.catalog.count() == 2
        rejected = next(audit.entries(desk.catalog.db.conn, action="disposition-rejected"))
        assert rejected["details"] == {"proposal": proposal_id, "reason": "Pending review of the 2026 cases"}

    def test_reopened_after_proposal_is_skipped(self, ws, desk, stored_converter):
        """A case reopened between the proposal and its approval is skipped as no longer due; its files stay."""
        desk.add_event(CASE, "closed", CLOSED)
        agreement = record_of(desk, RA)
        proposal_id = desk.sweep(LATER).proposal_id
        desk.add_event(CASE, "reopened", D(2027, 1, 10))
        executed = desk.approve(proposal_id, stored_converter, sealer_for(ws))
        assert executed.results == {agreement["record_id"]: "skipped: no longer due"}
        assert desk.catalog.find(agreement["record_id"]) is not None
        assert (ws.root / agreement["pdf_path"]).is_file()

    def test_unknown_proposal(self, desk, ws, stored_converter):
        """Approving a proposal that does not exist is an error."""
        with pytest.raises(SweepError, match="No disposition proposal 99"):
            desk.approve(99, stored_converter, sealer_for(ws))


# === 6. destruction ==========================================================================


@dataclass
class Disposal:
    ws: Workspace
    agreement: dict[str, Any]
    copies: list[Path]
    swept: SweepReport
    executed: ExecutionReport
    certificate: dict[str, Any]
    raw_before: bytes
    raw_open: bytes
    raw_closed: bytes


@pytest.fixture(scope="module")
def disposal(processed, tmp_path_factory, stored_converter) -> Disposal:
    """The agreement's life to its end: searched, viewed, retrieved, closed, swept, approved and destroyed."""
    ws = copy_workspace(processed, tmp_path_factory.mktemp("disposal") / "ws")
    raw_before = catalog_bytes(ws)
    with open_desk(ws) as desk:
        agreement = record_of(desk, RA)
        copies = [p for p in ws.processed.glob("*/*") if p.is_file() and sha256_file(p) == agreement["source_sha256"]]
        assert copies, "the processed copy of the input was expected in inbox/processed/"
        found = desk.session.search(SearchQuery(text="Zoë Núñez bias-awareness"))
        assert [r["record_id"] for r in found.records] == [agreement["record_id"]]
        desk.session.search(SearchQuery(party="Daniel O'Brien"))
        desk.session.show(agreement["record_id"])
        desk.session.retrieve(agreement["record_id"], "Compliance follow-up of the agreement's terms")
        desk.add_event(CASE, "closed", CLOSED, note="All terms completed")
        swept = desk.sweep(LATER, converter=stored_converter, sealer=sealer_for(ws))
        executed = desk.approve(swept.proposal_id, stored_converter, sealer_for(ws))
        certificate = desk.catalog.find(executed.certificate_record_id)
        raw_open = catalog_bytes(ws)
    return Disposal(ws, agreement, copies, swept, executed, certificate, raw_before, raw_open, catalog_bytes(ws))


class TestDestruction:
    def test_files_row_and_index_entry_are_gone(self, disposal):
        """After approval the archive folder, the processed copy, the catalog row and the index entry are gone."""
        ws, agreement = disposal.ws, disposal.agreement
        assert disposal.executed.results == {agreement["record_id"]: "destroyed"}
        assert not (ws.root / agreement["pdf_path"]).parent.exists()
        assert not any(p.exists() for p in disposal.copies)
        assert not [p for p in ws.processed.rglob("*") if p.is_file() and sha256_file(p) == agreement["source_sha256"]]
        with open_desk(ws) as desk:
            assert desk.catalog.find(agreement["record_id"]) is None
            conn = desk.catalog.db.conn
            assert conn.execute("SELECT count(*) FROM records_fts").fetchone()[0] == desk.catalog.count() == 2
            for word in ("awareness", "Núñez", "Chemistry", "Grounds"):
                assert conn.execute("SELECT count(*) FROM records_fts WHERE records_fts MATCH ?",
                                    [f'"{word}"']).fetchone()[0] == 0, word
            assert desk.session.search(SearchQuery(text="Núñez")).total == 0
            assert not events.of_case(desk.catalog, CASE)   # no record left in the case: its events go too

    def test_no_text_remains_in_the_database_file(self, disposal):
        """No text of the destroyed record remains in the catalog's bytes (main file and WAL), open or closed."""
        assert leaked(disposal.raw_before, AGREEMENT_WORDS) == AGREEMENT_WORDS   # each word was there to find
        assert not leaked(disposal.raw_open, AGREEMENT_WORDS)
        assert not leaked(disposal.raw_closed, AGREEMENT_WORDS)
        # the MOU, which was kept, is still found in the same bytes
        assert leaked(disposal.raw_closed, ["Tomás Álvarez", "restorative justice"]) == \
            ["Tomás Álvarez", "restorative justice"]

    def test_no_text_remains_anywhere_in_the_workspace(self, disposal):
        """No file left in the workspace holds the destroyed record's text."""
        holders = [str(p.relative_to(disposal.ws.root)) for p in disposal.ws.root.rglob("*") if p.is_file()
                   and leaked(p.read_bytes(), ["bias-awareness", "Zoë Núñez", "Facilities & Grounds"])]
        assert holders == []

    def test_tombstone(self, disposal):
        """A tombstone keeps the record's id, class, case, checksums, dates, rule, approver and when."""
        agreement = disposal.agreement
        with open_desk(disposal.ws) as desk:
            stone = dict(desk.catalog.db.execute("SELECT * FROM tombstones WHERE record_id = ?",
                                                 [agreement["record_id"]]).fetchone())
            timeline = CaseDesk(desk.session).case(CASE)
        assert {k: stone[k] for k in ("record_class", "case_id", "sha256", "source_sha256", "created", "due_date",
                                      "rule", "action", "approver", "proposal_id", "bag")} == {
            "record_class": RA, "case_id": CASE, "sha256": agreement["sha256"],
            "source_sha256": agreement["source_sha256"], "created": agreement["created"],
            "due_date": DUE.isoformat(), "rule": "resolution-agreement: destroy 7 years after case-closed",
            "action": "destroy", "approver": "root", "proposal_id": disposal.swept.proposal_id, "bag": None}
        assert stone["disposed_at"][:10] == dt.datetime.now(dt.UTC).date().isoformat()
        assert timeline["records"] == [] and [t["record_id"] for t in timeline["tombstones"]] == \
            [agreement["record_id"]]

    def test_certificate_is_a_sealed_record(self, disposal, nss_db):
        """The certificate of disposition is a record of its own, sealed, valid, and lists the destroyed record."""
        cert, ws = disposal.certificate, disposal.ws
        assert cert["record_class"] == CERTIFICATE and cert["template"] == CERTIFICATE
        pdf = ws.root / cert["pdf_path"]
        assert sha256_file(pdf) == cert["sha256"]
        reports, problems = check_signatures(pdf.read_bytes(), TrustRoots.of(ws, ws.load_config()))
        assert not problems and reports and all(r.ok for r in reports), (problems, reports)
        assert "Signature is Valid" in pdfsig(pdf, nss_db)
        # what the certificate says on its pages (the destroyed record's id and hash, "destroyed") is read
        # from a certificate made by the real LibreOffice, in test_text_extraction.py
        with open_desk(ws) as desk:
            row, items = disposition.proposal(desk.catalog, disposal.swept.proposal_id)
        assert row["status"] == "executed" and row["certificate_record_id"] == cert["record_id"]
        assert [(i["record_id"], i["result"]) for i in items] == [(disposal.agreement["record_id"], "destroyed")]

    def test_certificate_retention_is_recorded(self, disposal):
        """The certificate's own retention is recorded like every record's: kept permanently."""
        cert = disposal.certificate
        assert cert["due_date"] is None
        assert cert["retention_rule"] == "disposition-certificate: keep permanently", \
            "the certificate was added without its due date being computed"
        assert cert["due_reason"] == "kept permanently"

    def test_audit_chain_still_verifies(self, disposal):
        """The audit log still verifies and records the approval, the destruction and the certificate."""
        with open_desk(disposal.ws) as desk:
            conn = desk.catalog.db.conn
            assert audit.verify_chain(conn).ok
            done = [e for e in audit.entries(conn, record_id=disposal.agreement["record_id"], limit=1000)
                    if e["action"] == "disposition"]
            assert [(e["outcome"], e["actor"]) for e in done] == [("destroyed", "root")]
            assert next(audit.entries(conn, action="disposition-approved"))["details"]["proposal"] == \
                disposal.swept.proposal_id
            assert next(audit.entries(conn, record_id=disposal.certificate["record_id"]))["action"] == "ingest"

    def test_executed_proposal_cannot_run_again(self, disposal, stored_converter):
        """An executed proposal cannot be approved a second time."""
        with open_desk(disposal.ws) as desk, pytest.raises(SweepError, match="executed"):
            desk.approve(disposal.swept.proposal_id, stored_converter, sealer_for(disposal.ws))

    def test_released_search_hold_keeps_no_text(self, ws, desk, stored_converter):
        """A released hold placed by a search for a party's name keeps no text of the destroyed record."""
        hold = desk.place_hold(name="FERPA inspection", reason="Request to inspect", search="Zoë Núñez")
        assert hold.records == 1
        desk.release_hold(hold.id, "Inspection done")
        desk.add_event(CASE, "closed", CLOSED)
        executed = desk.approve(desk.sweep(LATER).proposal_id, stored_converter, sealer_for(ws))
        assert list(executed.results.values()) == ["destroyed"]
        assert audit.verify_chain(desk.catalog.db.conn).ok
        left = leaked(catalog_bytes(ws), ["Zoë Núñez", "Núñez"])
        where = [dict(r) for r in desk.catalog.db.execute("SELECT id, scope_kind, scope_value FROM holds")]
        assert not left, f"{left} still in catalog.db after the record was destroyed; holds table: {where}"


# === 7. transfer and review ==================================================================


class TestTransferAndReview:
    def test_transfer_writes_a_bag_then_destroys(self, ws, stored_converter):
        """With action transfer, approval writes a valid BagIt bag of the record, then destroys the record."""
        set_schedule(ws, RA, action="transfer")
        with open_desk(ws) as desk:
            agreement = record_of(desk, RA)
            rid = agreement["record_id"]
            desk.add_event(CASE, "closed", CLOSED)
            report = desk.sweep(LATER)
            assert report.by_action == {"transfer": 1}
            executed = desk.approve(report.proposal_id, stored_converter, sealer_for(ws))
            assert executed.results == {rid: "transferred"}
            stone = dict(desk.catalog.db.execute("SELECT * FROM tombstones WHERE record_id = ?", [rid]).fetchone())
            assert desk.catalog.find(rid) is None

        bag_dir = ws.root / "transfers" / rid
        bag = bagit.Bag(str(bag_dir))
        assert bag.validate()
        data = bag_dir / "data"
        assert {p.name for p in data.iterdir()} == \
            {f"{rid}.pdf", Path(agreement["source_path"]).name, "metadata.json", "audit-history.json"}
        assert sha256_file(data / f"{rid}.pdf") == agreement["sha256"]
        assert sha256_file(data / Path(agreement["source_path"]).name) == agreement["source_sha256"]
        metadata = json.loads((data / "metadata.json").read_text(encoding="utf-8"))
        assert metadata["record_id"] == rid and metadata["parties"][0] == "Zoë Núñez"
        history = json.loads((data / "audit-history.json").read_text(encoding="utf-8"))
        assert history[0]["action"] == "ingest" and all(e["record_id"] == rid for e in history)
        assert bag.info["External-Identifier"] == rid

        assert (stone["action"], stone["bag"]) == ("transfer", f"transfers/{rid}")
        assert stone["rule"] == "resolution-agreement: transfer 7 years after case-closed"
        assert not (ws.root / agreement["pdf_path"]).parent.exists()

    def test_review_marks_and_keeps(self, ws, stored_converter):
        """With action review, approval marks the record for review and keeps it; it is not proposed again."""
        set_schedule(ws, RA, action="review")
        with open_desk(ws) as desk:
            agreement = record_of(desk, RA)
            desk.add_event(CASE, "closed", CLOSED)
            report = desk.sweep(LATER)
            executed = desk.approve(report.proposal_id, stored_converter, sealer_for(ws))
            assert executed.results == {agreement["record_id"]: "marked for review"}
            kept = desk.catalog.find(agreement["record_id"])
            assert kept is not None and kept["status"] == "review"
            assert (ws.root / agreement["pdf_path"]).is_file()
            assert not desk.catalog.db.execute("SELECT * FROM tombstones").fetchall()
            assert desk.sweep(D(2040, 1, 1)).due == 1   # only the MOU now
            assert not (ws.root / "transfers").exists()

    def test_absolute_transfer_folder_never_half_disposes(self, ws, stored_converter, tmp_path):
        """An absolute transfer folder is refused before any sweep can start, so nothing is half disposed of."""
        set_schedule(ws, RA, action="transfer")
        path = ws.policies / "schedules.yaml"
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        data["transfer_folder"] = str(tmp_path / "outside")
        path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
        with pytest.raises(ConfigurationError, match="inside the workspace"):
            with open_desk(ws):
                pass

    def test_changed_schedule_moves_due_dates(self, ws):
        """A changed period is applied to every record at the next sweep, with the reason for the move."""
        with open_desk(ws) as desk:
            desk.add_event(CASE, "closed", CLOSED)
        set_schedule(ws, RA, period={"years": 10})
        with open_desk(ws) as desk:
            report = desk.sweep(LATER)
            assert report.recomputed >= 1 and report.due == 0
            assert record_of(desk, RA)["due_date"] == "2036-11-25"
            moved = next(audit.entries(desk.catalog.db.conn, action="retention-due"))
            assert moved["details"]["why"] == "the retention schedules changed"


# === 8. fixity ===============================================================================


class TestFixity:
    def test_reports_changed_missing_untracked(self, ws, desk):
        """A full check reports a changed PDF, a missing PDF and an archive folder no record owns."""
        agreement, mou = record_of(desk, RA), record_of(desk, MOU)
        changed = ws.root / agreement["pdf_path"]
        changed.chmod(0o640)
        data = bytearray(changed.read_bytes())
        data[len(data) // 2] ^= 0x01
        changed.write_bytes(bytes(data))
        (ws.root / mou["pdf_path"]).unlink()
        stray = ws.archive / "2026" / "STRAY-1"
        stray.mkdir(parents=True)
        (stray / "note.txt").write_text("not a record")

        report = fixity.check(ws, desk.catalog, D(2027, 1, 1), 90, actor="root", everything=True)
        assert report.checked == 2 and not report.ok
        assert report.changed == [agreement["record_id"]]
        assert report.missing == [mou["record_id"]]
        assert report.untracked == ["archive/2026/STRAY-1"]
        entry = next(audit.entries(desk.catalog.db.conn, action="fixity-check"))
        assert entry["outcome"] == "problems" and entry["details"]["changed"] == [agreement["record_id"]]
        outcomes = dict(desk.catalog.db.execute("SELECT record_id, outcome FROM fixity").fetchall())
        assert outcomes == {agreement["record_id"]: "changed", mou["record_id"]: "missing"}

    def test_intact_archive_is_ok(self, ws, desk):
        """An untouched archive passes a full check."""
        report = fixity.check(ws, desk.catalog, D(2027, 1, 1), 90, actor="root", everything=True)
        assert report.ok and report.checked == 2

    def test_rotating_share(self, ws, desk):
        """After a check, the same day checks nothing, nor does fixity_days - 1 later; fixity_days later checks all."""
        day = D(2027, 1, 1)
        check = lambda when: fixity.check(ws, desk.catalog, when, 90, actor="root").checked
        assert check(day) == 2
        assert check(day) == 0
        assert check(day + dt.timedelta(days=89)) == 0
        assert check(day + dt.timedelta(days=90)) == 2

    def test_changed_source_file_is_reported(self, ws, desk):
        """A changed archived source file (part of the record, its SHA-256 kept at ingest) is reported."""
        agreement = record_of(desk, RA)
        source = ws.root / agreement["source_path"]
        assert sha256_file(source) == agreement["source_sha256"]
        source.chmod(0o640)
        source.write_bytes(source.read_bytes().replace(b"60 days", b"90 days"))
        report = fixity.check(ws, desk.catalog, D(2027, 1, 1), 90, actor="root", everything=True)
        assert report.changed == [agreement["record_id"]], \
            f"fixity_check hashes only the PDF; the changed source file went unreported: {report}"


# === 9. failure reports ======================================================================


class TestFailureReports:
    def test_failed_input_destroyed_after_a_year(self, ws, stored_converter):
        """A failed input and its reason files are destroyed by the sweep a year later, without approval."""
        office = make_office(ws, stored_converter)
        try:
            office.drop("broken.yaml", "template: resolution-agreement\ncase: {id: ADR-2026-0999\nparties: [\n")
            summary = office.process()
        finally:
            office.ingestor.close()
        assert [o.status for o in summary.outcomes] == ["failed"]
        failed = summary.outcomes[0].moved_to
        reasons = [failed.with_name(failed.name + s) for s in (".reason.txt", ".reason.json")]
        assert failed.is_file() and all(r.is_file() for r in reasons)

        with open_desk(ws) as desk:
            row = dict(desk.catalog.db.execute("SELECT * FROM failures").fetchone())
            failed_on = D.fromisoformat(row["failed_at"][:10])
            early = desk.sweep(add_period(failed_on, 1) - dt.timedelta(days=1))
            assert early.failures_purged == 0 and failed.is_file() and all(r.is_file() for r in reasons)
            late = desk.sweep(add_period(failed_on, 1, 0, 1))
            assert late.failures_purged == 1
            assert not failed.exists() and not any(r.exists() for r in reasons)
            row = dict(desk.catalog.db.execute("SELECT * FROM failures").fetchone())
            assert row["purged_at"] and row["reason"] == ""
            assert late.proposal_id is None and late.executed_proposal_id is None
            assert not disposition.proposals(desk.catalog)
            entry = next(audit.entries(desk.catalog.db.conn, action="disposition"))
            assert entry["outcome"] == "destroyed" and entry["details"]["failure"] == row["id"]
            assert desk.sweep(add_period(failed_on, 2)).failures_purged == 0

    def test_purge_destroys_only_the_file_that_failed(self, ws, stored_converter):
        """A year-old failure's purge removes its own reason files (its input taken away by the
        coordinator) and leaves alone the newer failure of a file dropped again under the same name,
        which got a name of its own in failed/ (the first one's reason files were still there)."""
        office = make_office(ws, stored_converter)
        try:
            office.drop("broken.yaml", "template: resolution-agreement\ncase: [first attempt\n")
            first = office.process().outcomes[0]
            # as the reason file asks, the coordinator takes the file out of failed/, corrects it and drops it
            # again; the correction fails too
            first.moved_to.unlink()
            office.drop("broken.yaml", "template: resolution-agreement\ncase: [second attempt\n")
            second = office.process().outcomes[0]
        finally:
            office.ingestor.close()
        assert first.status == second.status == "failed"
        assert first.moved_to.name == "broken.yaml" and second.moved_to.name == "broken-1.yaml"
        newer = second.moved_to.read_bytes()
        with open_desk(ws) as desk:
            rows = desk.catalog.db.execute("SELECT id, sha256 FROM failures ORDER BY id").fetchall()
            assert len(rows) == 2 and rows[0]["sha256"] != hashlib.sha256(newer).hexdigest()
            # the first failure happened a year and two days ago; the second one today
            old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=367)).isoformat(timespec="seconds")
            with desk.catalog.transaction():
                desk.catalog.db.execute("UPDATE failures SET failed_at = ? WHERE id = ?", [old, rows[0]["id"]])
            assert desk.sweep(dt.datetime.now(dt.UTC).date()).failures_purged == 1
        assert not any(first.moved_to.with_name(first.moved_to.name + s).exists()
                       for s in (".reason.txt", ".reason.json"))
        assert second.moved_to.is_file() and second.moved_to.read_bytes() == newer
        assert second.moved_to.with_name("broken-1.yaml.reason.txt").is_file()

    def test_purge_leaves_a_file_it_does_not_know(self, ws, stored_converter):
        """A file put by hand where a year-old failure was (other bytes) is left; the failure's reason files go."""
        office = make_office(ws, stored_converter)
        try:
            office.drop("broken.yaml", "template: resolution-agreement\ncase: [first attempt\n")
            first = office.process().outcomes[0]
        finally:
            office.ingestor.close()
        first.moved_to.unlink()
        first.moved_to.write_bytes(b"something else the coordinator keeps here")
        with open_desk(ws) as desk:
            old = (dt.datetime.now(dt.UTC) - dt.timedelta(days=367)).isoformat(timespec="seconds")
            with desk.catalog.transaction():
                desk.catalog.db.execute("UPDATE failures SET failed_at = ?", [old])
            assert desk.sweep(dt.datetime.now(dt.UTC).date()).failures_purged == 1
        assert first.moved_to.read_bytes() == b"something else the coordinator keeps here"
        assert not first.moved_to.with_name("broken.yaml.reason.txt").exists()


# === 10. the command line ====================================================================


class TestFutureSweeps:
    def test_desk_refuses_a_sweep_as_of_a_day_to_come(self, ws):
        """On the real calendar, a sweep as of a later day is refused by the library itself (a proposal
        judged then could dispose of records early), and a dry run as of that day is allowed."""
        with open_desk(ws, today=dt.date.today) as desk:
            desk.add_event(CASE, "closed", CLOSED)
            with pytest.raises(SweepError, match="a day still to come, only looks ahead"):
                desk.sweep(LATER)
            assert desk.sweep(LATER, dry_run=True).due == 1
            assert not disposition.proposals(desk.catalog)


class TestCommandLine:
    def test_dry_run_writes_no_proposal(self, ws):
        """sweep --as-of --dry-run --json says what is due and writes no proposal."""
        assert run_cli("event", "add", CASE, "closed", "--date", CLOSED.isoformat(), "-w", str(ws.root)).output \
            .strip() == "Recorded."
        result = run_cli("sweep", "-w", str(ws.root), "--as-of", "2034-01-01", "--dry-run", "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        assert report["as_of"] == "2034-01-01" and report["due"] == 1 and report["proposal"] is None
        assert report["by_action"] == {"destroy": 1}
        assert [(i["case_id"], i["due_date"], i["action"]) for i in report["sample"]] == \
            [(CASE, DUE.isoformat(), "destroy")]
        listed = run_cli("sweep", "list", "-w", str(ws.root), "--json")
        assert listed.exit_code == 0 and json.loads(listed.stdout) == []

    def test_future_sweep_must_be_a_dry_run(self, ws):
        """A proposal judged on a day still to come could dispose of records early: refused, nothing written."""
        run_cli("event", "add", CASE, "closed", "--date", CLOSED.isoformat(), "-w", str(ws.root))
        result = run_cli("sweep", "-w", str(ws.root), "--as-of", "2034-01-01")
        assert result.exit_code == 2 and "Add --dry-run" in result.output
        listed = run_cli("sweep", "list", "-w", str(ws.root), "--json")
        assert listed.exit_code == 0 and json.loads(listed.stdout) == []

    def test_event_add_errors(self, ws):
        """event add refuses an unknown event and an unknown case, and records nothing."""
        bad_event = run_cli("event", "add", CASE, "dissolved", "--date", "2026-11-25", "-w", str(ws.root))
        assert bad_event.exit_code != 0 and "Unknown event 'dissolved'" in bad_event.output
        bad_case = run_cli("event", "add", "ADR-1999-0001", "closed", "--date", "2026-11-25", "-w", str(ws.root))
        assert bad_case.exit_code != 0 and "No record belongs to case 'ADR-1999-0001'" in bad_case.output
        again = run_cli("event", "add", CASE, "closed", "--date", "15/12/2026", "-w", str(ws.root))
        assert again.exit_code != 0
        with open_desk(ws) as desk:
            assert events.of_case(desk.catalog, CASE) == []

    def test_case_show_and_hold_list(self, ws, stored_converter, examples):
        """case show --json gives the events, the records with due reasons and holds, and the tombstones;
        hold list --json gives the holds."""
        w = ("-w", str(ws.root))
        assert run_cli("event", "add", *w, CASE, "closed", "--date", CLOSED.isoformat()).exit_code == 0
        office = make_office(ws, stored_converter)
        try:  # a corrected agreement arrives after the closure: it is due at once
            text = (examples / "resolution-agreement.yaml").read_text(encoding="utf-8")
            office.drop("resolution-agreement-v2.yaml", text.replace("after 60 days", "after 30 days"))
            assert [o.status for o in office.process().outcomes] == ["recorded"]
        finally:
            office.ingestor.close()
        with open_desk(ws) as desk:
            versions = sorted((r for r in desk.catalog.all_records() if r["template"] == RA),
                              key=lambda r: r["status"])
            first, second = versions[1], versions[0]
            assert (first["status"], second["status"], second["supersedes"]) == \
                ("superseded", "sealed", first["record_id"])
            assert first["due_date"] == second["due_date"] == DUE.isoformat()

        placed = run_cli("hold", "place", *w, "--record", second["record_id"], "--name", "Doe v. Institute",
                     "--reason", "Litigation notice")
        assert placed.exit_code == 0 and "Hold #1 placed on record" in placed.output, placed.output

        with open_desk(ws) as desk:
            report = desk.sweep(LATER)
            assert report.held == 1 and proposed_records(desk, report.proposal_id) == [first["record_id"]]
            desk.approve(report.proposal_id, stored_converter, sealer_for(ws))

        shown = run_cli("case", "show", *w, CASE, "--json")
        assert shown.exit_code == 0, shown.output
        timeline = json.loads(shown.stdout)
        assert [(e["event"], e["date"]) for e in timeline["events"]] == [("case-closed", CLOSED.isoformat())]
        assert [r["record_id"] for r in timeline["records"]] == [second["record_id"]]
        kept = timeline["records"][0]
        assert kept["due_date"] == DUE.isoformat()
        assert kept["due_reason"] == "destroy on 2033-11-25: case-closed on 2026-11-25 + 7 years"
        assert [(h["name"], h["reason"], h["scope_kind"]) for h in kept["holds"]] == \
            [("Doe v. Institute", "Litigation notice", "record")]
        assert [(t["record_id"], t["action"]) for t in timeline["tombstones"]] == [(first["record_id"], "destroy")]

        text_view = run_cli("case", "show", *w, CASE)
        assert "HELD by #1 Doe v. Institute" in text_view.output and first["record_id"] in text_view.output

        listed = run_cli("hold", "list", *w, "--json")
        assert listed.exit_code == 0, listed.output
        holds = json.loads(listed.stdout)
        assert [(h["id"], h["name"], h["scope_kind"], h["scope_value"], h["records"], h["released_at"])
                for h in holds] == [(1, "Doe v. Institute", "record", second["record_id"], 1, None)]

        assert run_cli("hold", "release", *w, "1", "--reason", "Settled").exit_code == 0
        assert json.loads(run_cli("hold", "list", *w, "--json").stdout) == []
        assert len(json.loads(run_cli("hold", "list", *w, "--all", "--json").stdout)) == 1

    def test_unknown_case(self, ws):
        """case show for a case with no record nor tombstone is an error."""
        result = run_cli("case", "show", "-w", str(ws.root), "ADR-1999-0001", "--json")
        assert result.exit_code != 0 and "No case 'ADR-1999-0001'" in result.output
