"""Cases at scale: 100,000 cases with 1,000,000 events, and the coordinator's desk on them.

Builds a workspace (init_workspace) whose case register holds 100,000 cases opened 2020-2026
(most closed, a few thousand open, in every phase) with about ten events each (consents, sessions,
supportive measures, term completions, waivers and breaches, withdrawals, referrals, closures, each
with its audit entry, all dated before today), one or two records per case in the record store
(bench_search's generator, the catalog's batch insert), and each case's register row as the library
writes it: the documents' entries made by cases/admission from case files, the phase, outcome, gaps
and report summary, the agreement's terms (about 400,000, five to eleven dated terms an agreement)
and the open case's agenda dates stored by casebook.store_state from a replay. A few cases are
checked against the library itself (their intake file parsed and judged as intake does, every
event admitted as new, casebook.refresh changing neither the row, nor its terms, nor its agenda).

A coordinator's own cases are a pattern in access.yaml (about 300 open cases); a director sees
every case. Times, each over --repeat calls through OfficeSession and CaseDesk in one process:
cases() (open cases, and one phase) for both, case() for open and closed cases, agenda() for both,
add_event() recording a session for an open case; beside each, the bare SQL it rests on, measured
in the same run. calendar() once for each. Then `accord cases --json`, `accord case show ID --json`
and `accord agenda --json` once each in a subprocess (wall time, with the interpreter's start-up).
--profile prints where the time of a missed goal goes.

Run: .venv/bin/python bench/bench_cases.py [--cases 100000] [--events 1000000] [--repeat 200]
     [--own "ADR-2026-0*"] [--profile] [--keep PATH]
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import functools
import gc
import hashlib
import io
import json
import multiprocessing
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_search import FIRST, LAST, make_batch, p  # noqa: E402
from pipeline.casedesk import CaseDesk  # noqa: E402
from pipeline.cases import admission, agenda, casebook  # noqa: E402
from pipeline.cases import rubric as case_rubric  # noqa: E402
from pipeline.cases.phases import CaseFacts, replay, with_new  # noqa: E402
from pipeline.documents.casefile import CaseFile, parse_case  # noqa: E402
from pipeline.documents.templates import load_templates  # noqa: E402
from pipeline.governance.access import ACCESS_FILE, Actor, folder_owner, grant  # noqa: E402
from pipeline.governance.duedates import recompute_due  # noqa: E402
from pipeline.governance.retention import load_retention  # noqa: E402
from pipeline.office import OfficeSession  # noqa: E402
from pipeline.records import audit  # noqa: E402
from pipeline.records.audit import AuditEntry  # noqa: E402
from pipeline.records.catalog import RecordRow  # noqa: E402
from pipeline.records.events import CaseEvent  # noqa: E402
from pipeline.store import open_catalog  # noqa: E402
from pipeline.workspace import Workspace, init_workspace  # noqa: E402

TODAY = dt.date.today()
FIRST_DAY = dt.date(2020, 1, 1)
COORDINATOR, DIRECTOR = "mlee", "pramam"
FACILITATORS = ["Morgan Lee", "Ana Ruiz", "Sam Okafor", "Jo Tanaka"]
#: How cases end, and how often.
ENDINGS = (("resolved", 55), ("withdrawn", 15), ("referred", 10), ("not-suitable", 12), ("closed", 8))
STATUSES = (("undergraduate", 40), ("graduate-student", 25), ("postdoc", 8), ("staff", 15), ("faculty", 10),
            ("other", 2))
ALLEGATIONS = ("race-or-national-origin", "sex-discrimination", "sexual-harassment", "disability", "religion",
               "age", "retaliation", "sexual-orientation-or-gender-identity", "stalking", "other")
JURISDICTIONS = ("title-ix", "title-vi", "title-vii", "institute-policy")
#: Supportive measures: (kind, as the intake template names kinds for the reports; what was arranged).
MEASURES = (("schedule-change", "Laboratory shifts arranged so that the parties are not scheduled together"),
            ("no-contact", "A mutual no-contact directive"), ("academic", "A change of section in a shared course"),
            ("counseling", "Counseling services offered to both parties"),
            ("housing", "Housing reassignment within the residence hall"))
SESSION_NOTES = ("Preparation meeting", "Joint session", "Separate meetings with each party", "Follow-up call",
                 "Conference with support people", "Check-in")


def weighted(rng: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in choices], [w for _, w in choices])[0]


def later(day: dt.date, rng: random.Random, low: int, high: int) -> dt.date:
    return day + dt.timedelta(days=rng.randint(low, high))


def iso_noon(day: dt.date) -> str:
    return f"{day.isoformat()}T15:00:00+00:00"


# --- a case's story --------------------------------------------------------------------------------


@dataclass
class Story:
    """One case as its files and events tell it: documents (each made a CaseFile for
    cases/admission), events (each with where it came from), and which documents are records."""

    case_id: str
    opened: dt.date
    parties: list[dict[str, Any]]
    documents: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(template, data of its case file), in the order they were sealed."""
    events: list[tuple[CaseEvent, str, str, str, str | None]] = field(default_factory=list)
    """(event, source name, source SHA-256, actor, how the person recorded it)."""
    used: set[tuple[str, dt.date, str, int | None]] = field(default_factory=set)

    def add_event(self, name: str, day: dt.date, note: str, source: str, actor: str, party: str = "",
                  term: int | None = None, via: str | None = None) -> bool:
        """Record the event unless it would happen from today on (or is on file already)."""
        if day >= TODAY or (name, day, party, term) in self.used:
            return False
        self.used.add((name, day, party, term))
        self.events.append((CaseEvent(self.case_id, name, day, note, party, term), source, "", actor, via))
        return True

    def desk(self, rng: random.Random, name: str, day: dt.date, note: str, party: str = "",
             term: int | None = None) -> bool:
        """An event the coordinator recorded at their desk, in the portal or with accord event add."""
        portal = rng.random() < 0.5
        return self.add_event(name, day, note, "the portal" if portal else "accord event add", COORDINATOR, party,
                              term, "portal" if portal else "os-user")

    def add_document(self, template: str, day: dt.date, data: dict[str, Any]) -> str | None:
        """The record id the document gets (as a CaseFile's: case id and its SHA-256's first 8 digits)."""
        if day >= TODAY:
            return None
        self.documents.append((template, data))
        return record_id_of(self.case_id, template, data)


def record_id_of(case_id: str, template: str, data: dict[str, Any]) -> str:
    return f"{case_id}-{source_sha(case_id, template, data)[:8]}"


def source_sha(case_id: str, template: str, data: dict[str, Any]) -> str:
    """The case file's SHA-256 stands in for: one per case, template and party."""
    party = data.get("party") or data.get("recipient") or ""
    return hashlib.sha256(f"{case_id}|{template}|{party}".encode()).hexdigest()


def make_parties(rng: random.Random, case_id: str) -> list[dict[str, Any]]:
    count = 3 if rng.random() < 0.15 else 2
    names: list[str] = []
    while len(names) < count:
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        if name not in names:
            names.append(name)
    parties = []
    for i, name in enumerate(names):
        status = weighted(rng, STATUSES)
        parties.append({"name": name, "role": "reporting party" if i == 0 else "responding party", "status": status,
                        "affiliation": f"{status.replace('-', ' ').capitalize()}, Department {rng.randint(1, 40)}",
                        "email": f"p{i}.{case_id.lower()}@example.edu"})
    return parties


def intake_data(rng: random.Random, case_id: str, opened: dt.date, parties: list[dict[str, Any]],
                assessed: dt.date | None, decision: str | None, profile: tuple) -> dict[str, Any]:
    jurisdiction, allegations, answers = profile
    data: dict[str, Any] = {
        "template": "case-intake",
        "case": {"id": case_id, "opened": opened, "referred_by": rng.choice(("Title IX Office", "Dean of Students",
                                                                            "Human Resources", "Self-referral")),
                 "jurisdiction": list(jurisdiction), "allegations": list(allegations),
                 "summary": "During meetings in a shared space, the responding party made remarks the reporting "
                            f"party found demeaning (case {case_id})."},
        "parties": parties,
    }
    if rng.random() < 0.6:
        kind, measure = rng.choice(MEASURES)
        data["supportive_measures"] = [{"kind": kind, "measure": measure, "start": later(opened, rng, 0, 3),
                                        "arranged_by": "Office of Equity", "end": None}]
    if assessed is not None:
        data["assessment"] = {"date": assessed, "by": rng.choice(FACILITATORS), "answers": dict(answers),
                              "decision": decision, "rationale": "Both parties asked for an informal process."}
    return data


def intake_profiles(count: int = 80) -> list[tuple]:
    """What intakes report and assessments answer, in a few dozen kinds (the rubric's verdict on each
    kind and each mix of the parties' statuses is then worked out once)."""
    rng = random.Random(0)
    found = []
    for _ in range(count):
        jurisdiction = sorted(rng.sample(JURISDICTIONS, rng.choice((1, 1, 2))), key=JURISDICTIONS.index)
        answers = {"safety_risk": rng.choices(("none", "some", "serious"), (80, 17, 3))[0],
                   "power_imbalance": rng.choices(("low", "moderate", "high"), (50, 38, 12))[0],
                   "responsibility_acknowledged": rng.choices(("yes", "partly", "no"), (30, 50, 20))[0],
                   "prior_reports": rng.choices((0, 1, 2, 3), (80, 12, 6, 2))[0],
                   "parties_want_informal": rng.random() < 0.95}
        found.append((tuple(jurisdiction), tuple(rng.sample(ALLEGATIONS, rng.choice((1, 1, 2)))), answers))
    return found


PROFILES = intake_profiles()


class Judge:
    """The rubric's verdict on an intake, as intake judges it (cached: few distinct intakes)."""

    def __init__(self, rubric: case_rubric.Rubric):
        self.rubric = rubric
        self.cache: dict[str, tuple[case_rubric.Verdict, dict[str, Any]]] = {}

    def __call__(self, data: dict[str, Any]) -> tuple[case_rubric.Verdict, dict[str, Any]]:
        facts = case_rubric.facts_from_intake(data)
        key = repr(facts)
        if key not in self.cache:
            verdict = case_rubric.evaluate(self.rubric, facts)
            self.cache[key] = (verdict, case_rubric.context(self.rubric, facts, verdict))
        return self.cache[key]


def tell(rng: random.Random, case_id: str, opened: dt.date, judge: Judge, sessions_wanted: int) -> tuple[Story, dict]:
    """A case's story from its opening: assessed, notices and consent forms, the parties' consents,
    sessions, then an agreement signed and its terms completed, a withdrawal, a referral, a
    not-suitable decision or a closure; whatever would happen from today on has not happened."""
    story = Story(case_id, opened, make_parties(rng, case_id))
    ending = weighted(rng, ENDINGS)
    assessed = later(opened, rng, 3, 14)
    profile = rng.choice(PROFILES)
    data = intake_data(rng, case_id, opened, story.parties, assessed if assessed < TODAY else None, None, profile)
    verdict, _ = judge({**data, "assessment": {"answers": profile[2]}})
    if ending == "not-suitable" or not verdict.allowed:
        ending, decision = "not-suitable", "not-suitable"
    else:
        decision = rng.choice(verdict.suggested or verdict.allowed)
    if data.get("assessment"):
        data["assessment"]["decision"] = decision
    _, context = judge(data)
    intake_id = story.add_document("case-intake", opened, data)
    records = [intake_id]
    measure_day = later(opened, rng, 1, 25) if rng.random() < 0.35 else None

    def measure_before(end: dt.date | None) -> None:
        if measure_day and (end is None or measure_day < end):
            story.desk(rng, "supportive-measure", measure_day, rng.choice(MEASURES)[1])

    if ending == "not-suitable":
        story.add_event("case-closed", assessed, "closed: not-suitable", "accord", "accord")
        measure_before(assessed)
        return story, {"records": records, "context": context}
    if assessed >= TODAY:
        measure_before(None)
        return story, {"records": records, "context": context}
    # Notices and consent forms, one of each per party, a few days after the assessment.
    consents: dict[str, dt.date] = {}
    notices = []
    noticed = [later(assessed, rng, 1, 5) for _ in story.parties]
    # A referral comes once the notices are out, and may come before every party has answered.
    referred = later(max(noticed), rng, 3, 45) if ending == "referred" else None
    for party, day in zip(story.parties, noticed):
        notice = story.add_document("notice-of-informal-resolution", day, {
            "template": "notice-of-informal-resolution", "case": {"id": case_id}, "recipient": party["name"],
            "date": day, "respond_by": day + dt.timedelta(days=14)})
        form = story.add_document("consent-to-informal-resolution", day, {
            "template": "consent-to-informal-resolution", "case": {"id": case_id}, "party": party["name"],
            "date": day})
        if notice:
            notices.append(notice)
        if form and (ending != "closed" or party["role"] == "reporting party"):
            signed = later(day, rng, 2, 14)
            if (referred is None or signed < referred) and story.add_event(
                    "consent", signed, f"signed copy of record {form}", f"record {form}", "accord", party=party["name"]):
                consents[party["name"]] = signed
    if notices:
        records.append(notices[0])
    start = max(consents.values(), default=assessed) + dt.timedelta(days=1)
    end = agreed = None
    if ending == "withdrawn":
        end = later(start, rng, 3, 40)
    elif ending == "referred":
        end = referred
    elif ending == "closed":
        end = later(start, rng, 21, 60)
    elif len(consents) == len(story.parties):
        agreed = later(start, rng, 7, 40)
    else:
        agreed = TODAY  # still waiting for a consent
    session_end = min(end or agreed, TODAY)
    # Sessions, on distinct days, while the case is in its process.
    days = (session_end - start).days
    for offset in sorted(rng.sample(range(days), min(max(days, 0), sessions_wanted))) if days > 0 else []:
        story.desk(rng, "session", start + dt.timedelta(days=offset), rng.choice(SESSION_NOTES))
    if ending == "withdrawn":
        who = rng.choice(story.parties)["name"]
        if rng.random() < 0.5:
            withdrawal = story.add_document("withdrawal-notice", end, {
                "template": "withdrawal-notice", "case": {"id": case_id}, "party": who, "date": end})
            if withdrawal:
                story.add_event("case-withdrawn", end, "withdrawal notice", f"record {withdrawal}", "accord", party=who)
        else:
            story.desk(rng, "case-withdrawn", end, "Withdrew by email to the coordinator", party=who)
        story.add_event("case-closed", end, "closed: withdrawn", "accord", "accord")
    elif ending == "referred":
        story.desk(rng, "case-referred", end, "Referred to the formal resolution process")
        story.add_event("case-closed", end, "closed: referred", "accord", "accord")
    elif ending == "closed":
        story.desk(rng, "case-closed", end, "No response from the responding party")
    elif agreed < TODAY:
        end = agree(rng, story, decision, agreed, records)
    measure_before(end)
    return story, {"records": records, "context": context}


#: Who an agreement's terms name as responsible, and how often.
OWNERS = (("responding party", 60), ("both parties", 15), ("reporting party", 10), ("coordinator", 15))
#: How many dated terms an agreement has (eight on average), and how often a case's last term is breached.
DATED_TERMS, BREACHES = (5, 11), 0.03


def agree(rng: random.Random, story: Story, decision: str, agreed: dt.date, records: list[str]) -> dt.date:
    """An agreement with five to eleven dated terms (most monitored for a few months, some for a year or
    more, one in three with a term that holds while the agreement lasts), signed, its dated terms
    completed (a few waived), then the completion letter; in a few cases the last term is breached
    instead, and the case referred a few weeks later (or, breached lately, still monitored). Returns
    the day the case closes (or would)."""
    months = 3 if rng.random() < 0.92 else rng.randint(12, 20)
    signed = later(agreed, rng, 1, 10)
    dues = sorted(later(signed, rng, 20, 30 * months) for _ in range(rng.randint(*DATED_TERMS)))
    terms = [{"text": f"The {owner} will complete step {n} of the plan.", "owner": owner, "due": due}
             for n, (owner, due) in enumerate(((weighted(rng, OWNERS), d) for d in dues), start=1)]
    if rng.random() < 0.33:
        terms.append({"text": "Both parties will keep to the communication plan.", "owner": "both parties"})
    agreement = story.add_document("resolution-agreement", agreed, {
        "template": "resolution-agreement", "case": {"id": story.case_id, "process": decision, "opened": story.opened},
        "parties": [{k: p[k] for k in ("name", "role", "affiliation", "email")} for p in story.parties],
        "facilitator": {"name": rng.choice(FACILITATORS), "title": "ADR Coordinator"}, "agreement_date": agreed,
        "terms": terms, "follow_up_date": agreed + dt.timedelta(days=60),
        "confidentiality": "What was said during the process is confidential."})
    records[1:] = [agreement]
    story.add_event("agreement-signed", signed, f"signed copy of record {agreement}", f"record {agreement}", "accord")
    days = sorted((later(signed, rng, 5, max(5, (due - signed).days)), n) for n, due in enumerate(dues, start=1))
    breached = days.pop() if rng.random() < BREACHES else None
    last = signed
    for day, n in days:
        story.desk(rng, "term-waived" if rng.random() < 0.05 else "term-completed", day, "Done", term=n)
        last = max(last, day)
    if breached:
        day, n = breached
        if story.desk(rng, "term-breached", day, "The term was not kept", term=n):
            end = later(day, rng, 5, 40)
            if story.desk(rng, "case-referred", end, "Referred to the formal resolution process after a breach"):
                story.add_event("case-closed", end, "closed: referred", "accord", "accord")
            return end
        last = max(last, day)
    end = later(last, rng, 1, 30)
    if story.add_document("completion-letter", end, {"template": "completion-letter", "case": {"id": story.case_id},
                                                      "date": end}):
        story.add_event("case-closed", end, "closed: resolved", "accord", "accord")
    return end


# --- what the library makes of it --------------------------------------------------------------------


def case_file(templates: dict, template: str, data: dict[str, Any]) -> CaseFile:
    """The CaseFile parse_case would make of the data (its fields as admission reads them)."""
    spec = templates[template]
    case_id = data["case"]["id"]
    record_day = data["case"]["opened"] if template == "case-intake" else (
        data.get("agreement_date") or data.get("date"))
    party = data.get(spec.party) if spec.party else None
    return CaseFile(f"{template}.yaml", b"", source_sha(case_id, template, data), ".yaml", spec, data, case_id,
                    spec.title, record_day, (), party)


def register_row(templates: dict, story: Story, context: dict[str, Any]) -> dict[str, Any]:
    """The case's register row as cases/admission builds it, document by document."""
    row = casebook.new_row(story.case_id, has_intake=True)
    for template, data in story.documents:
        case = case_file(templates, template, data)
        row = admission._with_document(row, case, case.record_id, context if template == "case-intake" else None)
    return row


TITLES = {"case-intake": "Intake and assessment record, case {id}", "resolution-agreement":
          "Resolution agreement, case {id}", "notice-of-informal-resolution":
          "Notice of informal resolution, case {id}, to {party}"}


def record_rows(templates: dict, story: Story, wanted: list[str], base: list[tuple[RecordRow, str]]
                ) -> list[tuple[RecordRow, str]]:
    """The case's records: bench_search's synthetic rows made into this case's documents."""
    rows = []
    by_id = {record_id_of(story.case_id, t, d): (t, d) for t, d in story.documents}
    for record_id, (generated, body) in zip(wanted, base):
        template, data = by_id[record_id]
        spec = templates[template]
        case = case_file(templates, template, data)
        day = case.record_date
        if template == "case-intake" and data.get("assessment"):
            day = data["assessment"]["date"]
        names = [p["name"] for p in story.parties] if template != "notice-of-informal-resolution" else [case.party]
        signed = any(e.event == "agreement-signed" for e, *_ in story.events)
        year = day.year
        rows.append((dataclasses.replace(
            generated, record_id=record_id, template=template, record_class=spec.record_class, case_id=story.case_id,
            title=TITLES[template].format(id=story.case_id, party=case.party), parties=names,
            record_date=case.record_date.isoformat(), created=iso_noon(day),
            pdf_path=f"archive/{year}/{record_id}/{record_id}.pdf",
            source_path=f"archive/{year}/{record_id}/{record_id}.source.yaml", source_name=f"{template}.yaml",
            source_sha256=case.sha256,
            signature_fields=[f"sig{n}" for n in range(1, len(names) + 1)] + ["sigcoordinator"]
            if template == "resolution-agreement" else [],
            status="executed" if template == "resolution-agreement" and signed else "sealed",
            variant=case.variant), body))
    return rows


def event_audit(event: CaseEvent, sha: str, actor: str, via: str | None) -> AuditEntry:
    """The audit entry records/events.insert writes for a new event."""
    details: dict[str, Any] = {"event": event.event, "date": event.date.isoformat(), "source_sha256": sha}
    if event.term:
        details["term"] = event.term
    if event.party:
        details["party"] = True
    if via:
        details["via"] = via
    return AuditEntry(actor, "event", "ok", case_id=event.case_id, details=details)


@dataclass
class Built:
    root: Path
    cases: int
    events: int
    records: int
    seconds: dict[str, float]
    sample: list[tuple[Story, dict[str, Any]]]


def case_ids(count: int) -> list[tuple[str, dt.date]]:
    """Case ids numbered per year in the order the cases were opened, spread over 2020 to yesterday."""
    span = (TODAY - FIRST_DAY).days - 1
    found, seq, year = [], 0, None
    for n in range(count):
        opened = FIRST_DAY + dt.timedelta(days=n * span // count)
        if opened.year != year:
            year, seq = opened.year, 0
        seq += 1
        found.append((f"ADR-{year}-{seq:05d}", opened))
    return found


@dataclass
class Chunk:
    """A few thousand cases made ready to insert: their stories, register rows and records."""

    stories: list[tuple[Story, dict[str, Any]]]
    rows: list[dict[str, Any]]
    records: list[tuple[RecordRow, str]]
    seconds: float


_MADE: dict[str, Any] = {}


def _start_maker(templates: Path, policies: Path) -> None:
    _MADE["templates"] = load_templates(templates)
    _MADE["judge"] = Judge(case_rubric.load_rubric(policies))


def make_chunk(job: tuple[int, list[tuple[str, dt.date]], float]) -> Chunk:
    """The stories of a chunk's cases (sessions make up what the rest of each story leaves to reach
    the events wanted), each case's register row as admission makes it, and its records."""
    number, ids, per_case = job
    started = time.perf_counter()
    templates, judge = _MADE["templates"], _MADE["judge"]
    rng = random.Random(2026_000 + number)
    stories, told = [], 0
    for n, (case_id, opened) in enumerate(ids):
        behind = round(per_case * (n + 1)) - told
        story, extra = tell(rng, case_id, opened, judge, max(0, behind - 5 + rng.randint(-2, 2)))
        stories.append((story, extra))
        told += len(story.events)
    rows = [register_row(templates, story, extra["context"]) for story, extra in stories]
    base = make_batch(rng, number * len(ids) * 2, sum(len(x["records"]) for _, x in stories), FIRST_DAY)
    records, at = [], 0
    for story, extra in stories:
        wanted = extra["records"]
        records += record_rows(templates, story, wanted, base[at:at + len(wanted)])
        at += len(wanted)
    return Chunk(stories, rows, records, time.perf_counter() - started)


def insert_chunk(catalog, chunk: Chunk, sample: list, counts: dict[str, int]) -> None:
    """One transaction: the records (with their full-text and audit entries), the events (each with its
    audit entry), and each case's register row with the state its replay finds (casebook.store_state)."""

    def register(c) -> None:
        c.conn.executemany(
            "INSERT INTO events (case_id, event, date, note, source_name, source_sha256, recorded_at, party, term) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.case_id, e.event, e.date.isoformat(), e.note, source, sha, iso_noon(e.date), e.party, e.term or 0)
             for story, _ in chunk.stories for e, source, sha, _, _ in story.events])
        audit.append_many(c.conn, [event_audit(e, sha, actor, via) for story, _ in chunk.stories
                                   for e, _, sha, actor, via in story.events])
        for (story, extra), row in zip(chunk.stories, chunk.rows):
            state = replay(casebook.facts(c, row), TODAY)
            if state.closing or state.refusals:
                raise SystemExit(f"{story.case_id}: the story is not one Accord would have recorded "
                                 f"({state.closing or state.refusals})")
            casebook.store_state(c, row, state)
            # Checked later against the library: every 2,000th case, and a few of each open phase.
            counts["cases"] = counts.get("cases", 0) + 1
            if counts["cases"] % 2000 == 1 or (state.is_open and counts.get(state.phase, 0) < 6):
                if state.is_open:
                    counts[state.phase] = counts.get(state.phase, 0) + 1
                sample.append((story, extra))

    catalog.add_records(chunk.records, then=register)


def build(root: Path, cases: int, events_wanted: int, chunk: int = 5_000) -> Built:
    """The workspace: stories made in a second process while this one inserts the chunk before."""
    ws = init_workspace(root)
    seconds = {"generate": 0.0, "insert": 0.0}
    sample: list[tuple[Story, dict[str, Any]]] = []
    counts: dict[str, int] = {}
    ids = case_ids(cases)
    jobs = [(n, ids[first:first + chunk], events_wanted / cases) for n, first in enumerate(range(0, cases, chunk))]
    events_total = records_total = 0
    started_all = time.perf_counter()
    with open_catalog(ws.catalog) as catalog, multiprocessing.get_context("fork").Pool(
            1, initializer=_start_maker, initargs=(ws.templates, ws.policies)) as pool:
        pending = [pool.apply_async(make_chunk, (job,)) for job in jobs[:2]]
        for n in range(len(jobs)):
            made = pending.pop(0).get()
            if n + 2 < len(jobs):
                pending.append(pool.apply_async(make_chunk, (jobs[n + 2],)))
            seconds["generate"] += made.seconds
            started = time.perf_counter()
            insert_chunk(catalog, made, sample, counts)
            seconds["insert"] += time.perf_counter() - started
            events_total += sum(len(story.events) for story, _ in made.stories)
            records_total += len(made.records)
        casebook.backfill_done(catalog)
        seconds["cases"] = time.perf_counter() - started_all
        started = time.perf_counter()
        record_classes = {t.record_class for t in load_templates(ws.templates).values()}
        recompute_due(catalog, load_retention(ws.policies, record_classes), actor="bench", why="benchmark")
        seconds["due dates"] = time.perf_counter() - started
        catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return Built(root, cases, events_total, records_total, seconds, sample)


def written(value: Any) -> Any:
    """The data as a person writes the case file (fields left out rather than null)."""
    if isinstance(value, dict):
        return {k: written(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [written(v) for v in value]
    return value


def stored_dates(catalog, case_id: str) -> tuple[list[tuple], list[tuple]]:
    """A case's rows in the terms table and in the agenda table."""
    return ([tuple(r) for r in catalog.conn.execute("SELECT * FROM terms WHERE case_id = ? ORDER BY record_id, "
                                                    "number", [case_id])],
            [tuple(r) for r in catalog.conn.execute("SELECT * FROM agenda WHERE subject_id = ? ORDER BY kind, ref",
                                                    [case_id])])


def check_sample(root: Path, sample: list[tuple[Story, dict[str, Any]]]) -> int:
    """Prove the built cases are what Accord itself makes: each intake file parsed and judged as intake
    does gives the same register entry; every event of the case admitted as new; casebook.refresh
    leaves the row, its terms and its agenda dates unchanged. Returns how many cases were checked."""
    ws = Workspace(root)
    templates = load_templates(ws.templates)
    rubric = case_rubric.load_rubric(ws.policies)
    config = ws.load_config()
    with open_catalog(ws.catalog) as catalog:
        for story, extra in sample:
            template, data = story.documents[0]
            raw = yaml.safe_dump(written(data), allow_unicode=True, sort_keys=False).encode()
            parsed = parse_case(raw, "case-intake.yaml", templates, config.intake.max_bytes)
            verdict = admission.judge_intake(parsed, rubric)
            context = case_rubric.context(rubric, case_rubric.facts_from_intake(parsed.data), verdict)
            theirs = admission._with_document(casebook.new_row(story.case_id, has_intake=True), parsed, "x", context)
            ours = admission._with_document(casebook.new_row(story.case_id, has_intake=True),
                                            case_file(templates, template, data), "x", extra["context"])
            if json.dumps(theirs, default=str) != json.dumps(ours, default=str):
                raise SystemExit(f"{story.case_id}: the intake entry differs from the one intake makes")
            before = casebook.get(catalog, story.case_id)
            facts = casebook.facts(catalog, before)
            # What Accord records without judging it (the closures store_state adds, the withdrawal a
            # withdrawal notice states) is on file; every other event comes as new.
            own = {f"event {r[0]}" for r in catalog.conn.execute(
                "SELECT id FROM events WHERE case_id = ? AND (source_name = 'accord' OR (event = 'case-withdrawn' "
                "AND source_name LIKE 'record %'))", [story.case_id])}
            asked = [h for h in facts.happenings if h.ref.startswith("event ") and h.ref not in own]
            on_file = tuple(h for h in facts.happenings if h not in asked)
            events_as_new = with_new(CaseFacts(facts.case_id, facts.has_intake, facts.parties, on_file,
                                               facts.agreement_parties), *asked)
            refused = replay(events_as_new, TODAY).refusals
            if refused:
                raise SystemExit(f"{story.case_id}: Accord would refuse its events: {refused}")
            count = catalog.conn.execute("SELECT count(*) FROM events").fetchone()[0]
            kept = stored_dates(catalog, story.case_id)
            with catalog.transaction():
                casebook.refresh(catalog, story.case_id, TODAY)
            after = casebook.get(catalog, story.case_id)
            if {**before, "updated_at": ""} != {**after, "updated_at": ""} or count != catalog.conn.execute(
                    "SELECT count(*) FROM events").fetchone()[0]:
                raise SystemExit(f"{story.case_id}: casebook.refresh changed the row")
            if kept != stored_dates(catalog, story.case_id):
                raise SystemExit(f"{story.case_id}: casebook.refresh changed the case's terms or agenda")
    return len(sample)


# --- measuring -----------------------------------------------------------------------------------------


@dataclass
class Measured:
    name: str
    times: list[float]
    baseline: list[float]
    goal_ms: float
    note: str = ""
    call: Callable[[], Any] | None = None

    @property
    def met(self) -> bool:
        return p(self.times, .95) < self.goal_ms


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def paired(calls: list[tuple[Callable[[], Any], Callable[[], Any]]]) -> tuple[list[float], list[float]]:
    """Each library call, then its baseline right after (so both meet the same load on the machine)."""
    times, base = [], []
    for call, bare in calls:
        times.append(timed(call))
        base.append(timed(bare))
    return times, base


class Recorder:
    """Stands in for the catalog's connection during one call: what the library executes, passed on."""

    def __init__(self, conn):
        self.conn, self.statements = conn, []

    def execute(self, sql: str, params: Any = ()):
        self.statements.append((sql, params))
        return self.conn.execute(sql, params)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def statements_of(desk: CaseDesk, call: Callable[[], Any], tables: tuple[str, ...]) -> list[tuple[str, Any]]:
    """The SELECTs on ``tables`` that ``call`` makes the library run (the SQL it rests on), in order."""
    db = desk.catalog.db
    recorder = Recorder(db.conn)
    db.conn = recorder
    try:
        call()
    finally:
        db.conn = recorder.conn
    return [(sql, params) for sql, params in recorder.statements
            if sql.lstrip().upper().startswith("SELECT") and any(f"FROM {t} " in sql for t in tables)]


def statement_of(desk: CaseDesk, call: Callable[[], Any], table: str) -> tuple[str, Any]:
    """The first SELECT on ``table`` that ``call`` makes the library run."""
    return statements_of(desk, call, (table,))[0]


SHOW_SQL = ("SELECT * FROM cases WHERE case_id = ?", "SELECT * FROM events WHERE case_id = ? ORDER BY date, id")
#: The index this benchmark recommends (see the report): the open cases alone, in the listing's order,
#: with every column the listing shows, so that listing them reads neither the closed cases nor the rows
#: nor sorts them. Its WHERE is the listing's own (``phase IN`` the open phases: SQLite uses a partial
#: index only for a query whose WHERE implies the index's), and the planner picks it once the cases
#: table has statistics (ANALYZE; without them it keeps cases_open and sorts).
OPEN_LISTING_INDEX = ("CREATE INDEX cases_open_listing ON cases(phase_since, case_id, has_intake, opened, process, "
                      "phase, outcome, closed_on, next_due, gaps) WHERE phase IN ("
                      + ", ".join(f"'{phase}'" for phase in casebook.OPEN_PHASES) + ")")


class Desks:
    """The coordinator's and the director's desks, open on the workspace, and what the runs pick from."""

    def __init__(self, root: Path, own: tuple[str, ...]):
        ws = Workspace(root)
        config = ws.load_config()
        templates = list(load_templates(ws.templates).values())
        self.desks = {who: CaseDesk(OfficeSession(ws, Actor(name, via="bench"), config=config), templates,
                                    today=lambda: TODAY)
                      for who, name in (("coordinator", COORDINATOR), ("director", DIRECTOR))}
        self.conn = self.desks["coordinator"].catalog.conn
        self.rng = random.Random(5)
        self.own_rows = self.desks["coordinator"].cases()
        self.phases = dict(self.conn.execute("SELECT phase, count(*) FROM cases GROUP BY phase").fetchall())
        self.busiest = max((ph for ph in self.phases if ph != "closed"), key=lambda ph: self.phases[ph])
        self.own_all = self.conn.execute(
            "SELECT count(*) FROM cases WHERE " + " OR ".join("case_id GLOB ?" for _ in own), own).fetchone()[0]
        self.open_ids = [r[0] for r in self.conn.execute("SELECT case_id FROM cases WHERE phase != 'closed' "
                                                         "ORDER BY case_id")]
        self.closed_ids = [r[0] for r in self.conn.execute("SELECT case_id FROM cases WHERE phase = 'closed' "
                                                           "ORDER BY case_id")]

    def close(self) -> None:
        for desk in self.desks.values():
            desk.session.close()

    def listings(self, repeat: int, suffix: str = "") -> list[Measured]:
        """cases() for both people, open cases and one phase; beside it the SELECT it rests on."""
        found = []
        for who, desk in self.desks.items():
            for phase in (None, self.busiest):
                call = functools.partial(desk.cases, phase=phase)
                sql, params = statement_of(desk, call, "cases")
                bare = functools.partial(lambda sql, params: self.conn.execute(sql, params).fetchall(), sql, params)
                call(), bare()  # the first calls may read pages from disk; the rest are what a person waits for
                found.append(Measured(f"cases(), {who}, " + (f"--phase {phase}" if phase else "open") + suffix,
                                      *paired([(call, bare)] * repeat), 50, f"{len(call())} rows", call))
        return found

    def shows(self, repeat: int) -> list[Measured]:
        """case() on random cases, open and closed; beside it the case's row and its events."""
        found = []
        own = [r["case_id"] for r in self.own_rows]
        for who, label, pool in (("director", "open case", self.open_ids), ("director", "closed case", self.closed_ids),
                                 ("coordinator", "own open case", own)):
            desk = self.desks[who]
            chosen = [self.rng.choice(pool) for _ in range(repeat)]
            times, base = paired([
                (functools.partial(desk.case, c),
                 functools.partial(lambda c: [self.conn.execute(q, [c]).fetchall() for q in SHOW_SQL], c))
                for c in chosen])
            shown = [desk.case(c) for c in chosen[:50]]
            note = (f"{sum(len(t['events']) for t in shown) / len(shown):.1f} events, "
                    f"{sum(len(t['records']) for t in shown) / len(shown):.1f} records a case")
            found.append(Measured(f"case(), {who}, {label}", times, base, 50, note,
                                  functools.partial(lambda desk, chosen: [desk.case(c) for c in chosen[:20]],
                                                    desk, chosen)))
        return found

    def agendas(self, repeat: int, suffix: str = "") -> list[Measured]:
        """agenda() for both people (today, the configured days ahead); beside it the SELECTs it runs
        (the agenda's dates, the MOUs one may view, the idle cases)."""
        found = []
        for who, desk in self.desks.items():
            statements = statements_of(desk, desk.agenda, ("agenda", "cases", "records"))
            bare = functools.partial(lambda s: [self.conn.execute(sql, params).fetchall() for sql, params in s],
                                     statements)
            desk.agenda(), bare()
            items = desk.agenda()
            kinds: dict[str, int] = {}
            for item in items:
                kinds[item.kind] = kinds.get(item.kind, 0) + 1
            scope = f"{len(self.own_rows)} open cases" if who == "coordinator" else "every case"
            found.append(Measured(f"agenda(), {who}{suffix}", *paired([(desk.agenda, bare)] * repeat), 50,
                                  f"{scope}; {len(items)} items: " + ", ".join(
                                      f"{k} {kinds[k]}" for k in agenda.KINDS if k in kinds), desk.agenda))
        return found

    def calendars(self) -> list[tuple[str, float, int, int]]:
        """calendar() once for each person: (who, seconds, events in the file, bytes)."""
        found = []
        for who, desk in self.desks.items():
            started = time.perf_counter()
            ics = desk.calendar()
            found.append((who, time.perf_counter() - started, ics.count(b"BEGIN:VEVENT"), len(ics)))
        return found

    def recording(self, repeat: int, suffix: str = "") -> Measured:
        """add_event() recording a session for one of the coordinator's open cases in a phase that takes
        one, on a day with none; beside it one INSERT into events in its own transaction."""
        takers = [r for r in self.own_rows if r["phase"] != "intake"]
        desk = self.desks["coordinator"]

        def record_session() -> float:
            day = None
            while day is None:
                row = self.rng.choice(takers)
                day = free_session_day(desk.catalog, row["case_id"], row["phase_since"], self.rng)
            started = time.perf_counter()
            if desk.add_event(row["case_id"], "session", day, "Check-in") != 1:
                raise SystemExit(f"add_event did not record the session of {row['case_id']} on {day}")
            return time.perf_counter() - started

        def bare_insert(n: int) -> float:
            started = time.perf_counter()
            with desk.catalog.transaction():
                self.conn.execute(
                    "INSERT INTO events (case_id, event, date, note, source_name, source_sha256, recorded_at, party, "
                    "term) VALUES ('BENCH-BASELINE', 'session', ?, 'Check-in', 'bench', '', ?, '', 0)",
                    [(TODAY - dt.timedelta(days=1 + n)).isoformat(), iso_noon(TODAY)])
            return time.perf_counter() - started

        times, base = [], []
        for n in range(repeat):
            times.append(record_session())
            base.append(bare_insert(n))
        with desk.catalog.transaction():  # the baseline's rows belong to no case: they go
            self.conn.execute("DELETE FROM events WHERE case_id = 'BENCH-BASELINE'")
        return Measured("add_event(), session, coordinator" + suffix, times, base, 20,
                        f"{len(takers)} cases take one", record_session)

    def plans(self) -> dict[str, list[str]]:
        """How SQLite runs the statements the measured calls rest on."""
        found = {}
        for who, desk in self.desks.items():
            sql, params = statement_of(desk, desk.cases, "cases")
            found[f"cases(), {who}, open"] = [r[-1] for r in self.conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            for n, (sql, params) in enumerate(statements_of(desk, desk.agenda, ("agenda", "cases")), start=1):
                found[f"agenda(), {who}, SELECT {n}"] = [r[-1] for r in self.conn.execute(f"EXPLAIN QUERY PLAN {sql}",
                                                                                          params)]
        found["case(), its events"] = [r[-1] for r in self.conn.execute(f"EXPLAIN QUERY PLAN {SHOW_SQL[1]}", ["x"])]
        return found


def free_session_day(catalog, case_id: str, since: str, rng: random.Random) -> dt.date | None:
    """A day, from the case's current phase to yesterday, with no session on file yet."""
    taken = {r[0] for r in catalog.conn.execute("SELECT date FROM events WHERE case_id = ? AND event = 'session'",
                                                [case_id])}
    start = dt.date.fromisoformat(since)
    free = [start + dt.timedelta(days=d) for d in range((TODAY - start).days)
            if (start + dt.timedelta(days=d)).isoformat() not in taken]
    return rng.choice(free) if free else None


def profile(call: Callable[[], Any]) -> str:
    """Where the time of five calls goes (cumulative, the top functions)."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        call()
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(14)
    return out.getvalue()


def with_index(root: Path, own: tuple[str, ...], repeat: int) -> tuple[list[Measured], dict[str, list[str]]]:
    """The listing, the agenda (its idle cases) and recording again, with the recommended index and the cases table's statistics
    made for the run (and dropped after)."""
    with open_catalog(root / "catalog.db") as catalog:
        catalog.conn.execute(OPEN_LISTING_INDEX)
        catalog.conn.execute("ANALYZE cases")
    desks = Desks(root, own)
    try:
        return (desks.listings(repeat, " (+index)") + desks.agendas(repeat, " (+index)")
                + [desks.recording(repeat, " (+index)")], desks.plans())
    finally:
        desks.close()
        with open_catalog(root / "catalog.db") as catalog:
            catalog.conn.execute("DROP INDEX cases_open_listing")
            catalog.conn.execute("DELETE FROM sqlite_stat1 WHERE tbl = 'cases'")


# --- the command line -------------------------------------------------------------------------------


def cli(root: Path, *args: str) -> tuple[float, int]:
    accord = Path(sys.executable).parent / "accord"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([str(accord), *args, "--workspace", str(root)], capture_output=True, env=env,
                          check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"accord {' '.join(args)} failed: {done.stderr.decode(errors='replace')[-500:]}")
    return seconds, len(done.stdout)


def start_up() -> float:
    """The interpreter's start-up and the imports `accord cases` and `case show` need, before any work."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-c", "import pipeline.cli.main, pipeline.casedesk"]
    subprocess.run(command, env=env, check=True)  # bytecode compiled and files read once
    return timed(lambda: subprocess.run(command, env=env, check=True))


def grant_people(root: Path, own: tuple[str, ...]) -> None:
    """The coordinator with their own cases by pattern, and a director (the workspace's owner, the
    user the command line runs as, is written first and keeps every role on every case)."""
    access = Workspace(root).policies / ACCESS_FILE
    grant(access, COORDINATOR, ("coordinator",), own, folder_owner(root))
    grant(access, DIRECTOR, ("director",), (), folder_owner(root))


# --- the report --------------------------------------------------------------------------------------


def table(results: list[Measured]) -> None:
    print(f"{'operation':<50} {'n':>4} {'p50':>8} {'p95':>8} {'p99':>8} {'base p50':>9} {'base p95':>9} "
          f"{'goal p95':>9}  result")
    for r in results:
        print(f"{r.name:<50} {len(r.times):>4} {p(r.times, .5):>6.1f}ms {p(r.times, .95):>6.1f}ms "
              f"{p(r.times, .99):>6.1f}ms {p(r.baseline, .5):>7.1f}ms {p(r.baseline, .95):>7.1f}ms "
              f"{r.goal_ms:>7.0f}ms  "
              f"{'met' if r.met else 'MISSED'}  ({r.note})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=200, help="Calls of each operation measured.")
    parser.add_argument("--own", default="ADR-2025-*3,ADR-2026-*3",
                        help="The coordinator's own cases: case-id patterns, comma-separated.")
    parser.add_argument("--profile", action="store_true", help="Profile each operation that misses its goal.")
    parser.add_argument("--keep", type=Path, help="Build the workspace here and keep it (or reuse it).")
    args = parser.parse_args()
    own = tuple(x.strip() for x in args.own.split(",") if x.strip())
    tmp = None if args.keep else Path(tempfile.mkdtemp(prefix="accord-bench-cases-"))
    try:
        root = args.keep or tmp / "ws"
        built = None
        if not (root / "catalog.db").exists():
            started = time.perf_counter()
            built = build(root, args.cases, args.events)
            checked = check_sample(root, built.sample)
            grant_people(root, own)
            build_seconds = time.perf_counter() - started
        load = os.getloadavg()[0]
        desks = Desks(root, own)
        # The build's objects (and the sample's) would make each full collection of Python's garbage
        # collector walk hundreds of thousands of objects a serving process never holds: freeze them.
        gc.collect()
        gc.freeze()
        try:
            results = (desks.listings(args.repeat) + desks.shows(args.repeat) + desks.agendas(args.repeat)
                       + [desks.recording(args.repeat)])
            calendars = desks.calendars()
            plans = desks.plans()
            profiles = {r.name: profile(r.call) for r in results if args.profile and not r.met}
        finally:
            desks.close()
        fixed, fixed_plans = with_index(root, own, args.repeat) if not all(
            r.met for r in results if r.name.startswith(("cases()", "agenda()"))) else ([], {})
        load_after = os.getloadavg()[0]
        with open_catalog(root / "catalog.db") as catalog:
            counts = {t: catalog.conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("cases", "events", "records", "audit", "terms", "agenda")}
            terms_by = dict(catalog.conn.execute("SELECT status, count(*) FROM terms GROUP BY status").fetchall())
            agreements = catalog.conn.execute("SELECT count(DISTINCT record_id) FROM terms").fetchone()[0]
        size = (root / "catalog.db").stat().st_size
        startup = start_up()
        sample_open, sample_closed = desks.rng.choice(desks.open_ids), desks.rng.choice(desks.closed_ids)
        walls = [("cases --json", "", *cli(root, "cases", "--json")),
                 (f"case show {sample_open} --json", "open case", *cli(root, "case", "show", sample_open, "--json")),
                 (f"case show {sample_closed} --json", "closed case",
                  *cli(root, "case", "show", sample_closed, "--json")),
                 ("agenda --json", "", *cli(root, "agenda", "--json"))]
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    phases = desks.phases
    print(f"Accord cases benchmark: {counts['cases']:,} cases ({counts['cases'] - phases.get('closed', 0):,} open), "
          f"{counts['events']:,} events, {counts['records']:,} records, {counts['audit']:,} audit entries; "
          f"catalog {size / 1024 / 1024:,.0f} MB; {os.cpu_count()} cores, load average {load:.1f} before the "
          f"measurements, {load_after:.1f} after")
    print(f"terms: {counts['terms']:,} of {agreements:,} agreements (" + ", ".join(
        f"{status} {n:,}" for status, n in sorted(terms_by.items())) + f"); agenda: {counts['agenda']:,} dates of open "
        "cases (notices awaiting an answer, open dated terms, breaches, follow-ups)")
    print("open cases by phase: " + ", ".join(f"{ph} {n:,}" for ph, n in sorted(phases.items()) if ph != "closed"))
    print(f"coordinator {COORDINATOR} (cases {', '.join(own)}): {desks.own_all:,} cases, {len(desks.own_rows)} open; "
          f"director {DIRECTOR}: every case")
    if built:
        s = built.seconds
        print(f"build: {build_seconds:.0f} s: cases {s['cases']:.0f} s (inserting records, events, audit entries and "
              f"register rows in transactions of 5,000 cases {s['insert']:.0f} s, while a second process made the "
              f"stories and rows, {s['generate']:.0f} s), every due date {s['due dates']:.0f} s; "
              f"{checked} cases checked against the library")
    print()
    table(results)
    print("baseline, measured right after each call: cases() the one SELECT of the visible rows it runs (the "
          "library's own statement, recorded from it); "
          "case() the case's row and its events; agenda() its SELECTs (the agenda's dates, the MOUs one may view, "
          "the idle cases); add_event() one INSERT into events in a BEGIN IMMEDIATE "
          "transaction (synchronous=FULL)")
    if fixed:
        print(f"\nwith the recommended index and ANALYZE cases, made for this run and dropped after:\n  "
              f"{OPEN_LISTING_INDEX}")
        table(fixed)
    print("\ncalendar(), once each (the agenda as an iCalendar file):")
    for who, seconds, events_in, size_ics in calendars:
        print(f"  calendar(), {who:<12} {seconds * 1000:6.1f} ms  ({events_in:,} events, {size_ics / 1024:,.0f} KB)")
    print(f"\ncommand line, once each, wall time (with the interpreter's start-up and the imports these commands need, "
          f"{startup * 1000:.0f} ms alone; run as the workspace's owner, who sees every case):")
    for command, what, wall, size_out in walls:
        print(f"  accord {command:<38} {wall * 1000:6.0f} ms  ({size_out / 1024:,.0f} KB of JSON"
              + (f", {what})" if what else ")"))
    print("\nquery plans:")
    for label, plan in plans.items():
        print(f"  {label}: " + "; ".join(plan))
    for label, plan in fixed_plans.items():
        if not label.startswith("case(),"):
            print(f"  {label} (+index): " + "; ".join(plan))
    for name, text in profiles.items():
        print(f"\nprofile of {name} (5 calls):\n{text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
