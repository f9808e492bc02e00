"""What a case's documents and events must satisfy, and recording them in the case register.

A document of a case role (``documents/templates.CASE_ROLES``) or a list of events is checked by
replaying the case with it added as new (``cases/phases``): a refusal whose missing piece can
still arrive (the case's intake, a consent in an event file of the same batch) is
:class:`~pipeline.errors.Waiting`; any other is a :class:`~pipeline.errors.IntakeError` naming
the field or the line. The checks run once early (before a document is converted) and again
inside the transaction that records it, where they decide.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

from pipeline.cases import casebook
from pipeline.cases.phases import CaseFacts, CaseState, Happening, replay, with_new
from pipeline.cases.rubric import Rubric, Verdict, evaluate, facts_from_intake
from pipeline.documents.casefile import CaseFile
from pipeline.documents.templates import values_at
from pipeline.errors import IntakeError, Waiting
from pipeline.records import events
from pipeline.records.events import CaseEvent
from pipeline.records.schema import Database
from pipeline.text import name_key

#: Roles of documents meant for a case that already has its intake record.
_AFTER_INTAKE = ("notice", "consent", "withdrawal", "completion")
#: The event a document's roles records when every party has signed it (its signed copy came back).
SIGNED_EVENTS = {"consent": "consent", "agreement": "agreement-signed"}
_ROLE_WORDS = {"intake": "intake record", "notice": "notice", "consent": "consent form", "agreement": "agreement",
               "withdrawal": "withdrawal notice", "completion": "completion letter"}


def judge_intake(case: CaseFile, rubric: Rubric) -> Verdict:
    """The rubric's verdict on an intake file; its refusal (a decision the rubric excludes, an answer
    it does not know) is an :class:`IntakeError`."""
    verdict = evaluate(rubric, facts_from_intake(case.data))
    refusal = verdict.refusal((case.data.get("assessment") or {}).get("decision"))
    if refusal:
        raise IntakeError(f"The intake record was not accepted. {refusal}", list(verdict.problems) or [refusal])
    return verdict


def check_document(catalog: Database, case: CaseFile, today: dt.date, record_id: str = "") -> None:
    """Refuse (or make wait) a document its case cannot take now; a document without a case role,
    or an agreement for a case Accord has no register entry for (an older case), passes."""
    role = case.template.case_role
    if role is None:
        return
    row = casebook.get(catalog, case.subject_id)
    _state_with(catalog, row, case, record_id or "(new)", today)


def take_document(catalog: Database, case: CaseFile, record_id: str, today: dt.date,
                  verdict: dict[str, Any] | None = None, *, check: bool = True) -> CaseState | None:
    """Record what a document does for its case, inside the caller's transaction (the record's own):
    checked again here, where no other writer can come between. ``check=False`` registers a record
    that is in the catalog already (one recorded before cases were kept)."""
    role = case.template.case_role
    if role is None:
        return None
    row = casebook.get(catalog, case.subject_id)
    state, row = _state_with(catalog, row, case, record_id, today, verdict, check=check)
    if role == "withdrawal":
        _record_withdrawal(catalog, case, record_id)
        state = replay(casebook.facts(catalog, row), today)
    casebook.store_state(catalog, row, state)
    return state


def _state_with(catalog: Database, row: dict[str, Any] | None, case: CaseFile, record_id: str, today: dt.date,
                verdict: dict[str, Any] | None = None, *, check: bool = True) -> tuple[CaseState, dict[str, Any]]:
    role = case.template.case_role
    what = _ROLE_WORDS[role]
    if check and role in _AFTER_INTAKE and (row is None or not row["has_intake"]):
        raise Waiting(f"The {what} was not recorded: case {case.subject_id} has no intake record yet.",
                      (case.subject_id,))
    if row is None:
        row = casebook.new_row(case.subject_id, has_intake=role == "intake")
    row = _with_document(row, case, record_id, verdict)
    entry = row["register"]["documents"][-1]
    facts = casebook.facts(catalog, row)
    new = casebook.document_happenings(entry)
    others = tuple(h for h in facts.happenings if h.ref != record_id)
    facts = CaseFacts(facts.case_id, facts.has_intake, facts.parties, others, facts.agreement_parties)
    state = replay(with_new(facts, *new) if check else replace(facts, happenings=others + tuple(new)), today)
    if state.refusals:
        reasons = [r.reason for r in state.refusals]
        message = f"The {what} was not recorded: {'; '.join(reasons)}."
        if all(r.waits for r in state.refusals):
            raise Waiting(message, (case.subject_id,), reasons)
        raise IntakeError(message, reasons)
    return state, row


def _with_document(row: dict[str, Any], case: CaseFile, record_id: str,
                   verdict: dict[str, Any] | None) -> dict[str, Any]:
    """The row with the document's entry (replacing the version it supersedes) and, for an intake
    record, the case's data, parties and verdict; for an agreement of an older case, its parties."""
    role = case.template.case_role
    data = case.data
    entry: dict[str, Any] = {"record_id": record_id, "role": role, "template": case.template.name,
                             "date": (case.record_date or dt.date.today()).isoformat()}
    if case.party:
        entry["party"] = case.party
    register = dict(row["register"])
    row = {**row, "register": register}
    if role == "intake":
        assessment = data.get("assessment") or {}
        entry["date"] = data["case"]["opened"].isoformat()
        if assessment:
            entry.update(assessed=assessment["date"].isoformat(), decision=assessment["decision"])
        register["intake"] = {"case": {k: v for k, v in data["case"].items() if k != "id"},
                              "measures": data.get("supportive_measures") or [], "assessment": assessment or None,
                              "verdict": verdict}
        row.update(has_intake=1, opened=data["case"]["opened"].isoformat(),
                   parties=[{k: p.get(k) for k in ("name", "role", "status", "affiliation", "email")}
                            for p in data["parties"]])
    elif role == "notice":
        if data.get("respond_by"):
            entry["due"] = data["respond_by"].isoformat()
    elif role == "agreement":
        entry["process"] = (data.get("case") or {}).get("process")
        entry["parties"] = [str(n) for n in values_at(data, "parties[].name")]
        if data.get("follow_up_date"):
            entry["follow_up"] = data["follow_up_date"].isoformat()
        entry["terms"] = [{"number": n, "text": t.get("text"), "owner": t.get("owner") or "",
                           "due": t["due"].isoformat() if t.get("due") else None}
                          for n, t in enumerate(data.get("terms") or [], start=1)]
        if not row["has_intake"]:
            opened = (data.get("case") or {}).get("opened")
            row.update(opened=opened.isoformat() if opened else row["opened"],
                       parties=[{k: p.get(k) for k in ("name", "role", "affiliation", "email")}
                                for p in data.get("parties") or []])
    key = name_key(case.party) if case.party else ""
    register["documents"] = [d for d in register.get("documents", [])
                             if d["record_id"] != record_id
                             and not (d["role"] == role and name_key(d.get("party") or "") == key)] + [entry]
    return row


def _record_withdrawal(catalog: Database, case: CaseFile, record_id: str) -> None:
    """A withdrawal notice records the party's withdrawal, unless it is on file already."""
    on_file = [e for e in events.of_case(catalog, case.subject_id)
               if e["event"] == "case-withdrawn" and name_key(e["party"]) == name_key(case.party or "")]
    if not on_file:
        events.insert(catalog, [CaseEvent(case.subject_id, "case-withdrawn", case.record_date, "withdrawal notice",
                                          case.party or "")], f"record {record_id}", "", "accord")


def take_signing(catalog: Database, record_id: str, case_id: str, role: str, signed_on: dt.date | None,
                 today: dt.date) -> str:
    """A consent form or an agreement signed by every party (its signed copy taken in): the party's
    consent, or the agreement's signing, recorded for the case on the day it was signed (inside the
    caller's transaction). Returns what it did, in a sentence without names ("" when nothing)."""
    row = casebook.get(catalog, case_id)
    entry = next((d for d in row["register"]["documents"] if d["record_id"] == record_id), None) if row else None
    if entry is None:  # a version superseded since, or no case
        return ""
    name = SIGNED_EVENTS[role]
    party = entry.get("party") or ""
    on_file = [e for e in events.of_case(catalog, case_id)
               if e["event"] == name and name_key(e["party"]) == name_key(party)]
    if on_file:
        return ""
    day = min(signed_on or today, today)
    take_events(catalog, [CaseEvent(case_id, name, day, f"signed copy of record {record_id}", party)],
                [f"the signed copy of record {record_id}"], today, f"record {record_id}", "", "accord")
    return ("The party's consent is recorded for the case." if role == "consent"
            else "The agreement is signed: the case is now monitored.")


# --- events ----------------------------------------------------------------------------------------


def check_events(catalog: Database, found: list[CaseEvent], labels: list[str], today: dt.date,
                 what: str = "event file") -> None:
    """Refuse (or make wait) events their cases cannot take; every problem named by its line."""
    _judge(catalog, found, labels, today, what)


def take_events(catalog: Database, found: list[CaseEvent], labels: list[str], today: dt.date, source_name: str,
                source_sha256: str, actor: str, *, what: str = "event file", via: str | None = None) -> int:
    """Check and record events, inside the caller's transaction; each case's state kept current.
    Returns how many events were new."""
    cases, kept = _judge(catalog, found, labels, today, what)
    new = events.insert(catalog, kept, source_name, source_sha256, actor, via)
    for case_id in cases:
        casebook.refresh(catalog, case_id, today)
    return new


def _judge(catalog: Database, found: list[CaseEvent], labels: list[str], today: dt.date, what: str
           ) -> tuple[list[str], list[CaseEvent]]:
    """The registered cases the events are about, and the events to record (those not on file yet,
    each party named as the case names them); raises when any event does not fit."""
    problems, waiting, cases, kept = [], [], [], []
    by_case: dict[str, list[int]] = {}
    for i, e in enumerate(found):
        by_case.setdefault(e.case_id, []).append(i)
    for case_id, indexes in by_case.items():
        row = casebook.get(catalog, case_id)
        if row is None:
            problems += _unregistered(found, labels, indexes, today)
            kept += [found[i] for i in indexes]
            continue
        cases.append(case_id)
        facts = casebook.facts(catalog, row)
        on_file = {(h.kind, h.date, name_key(h.party), h.term) for h in facts.happenings if h.ref.startswith("event")}
        indexes = [i for i in indexes  # an event on file already is not recorded twice, nor judged again
                   if (found[i].event, found[i].date, name_key(found[i].party), found[i].term) not in on_file]
        new = [Happening(found[i].date, found[i].event, party=found[i].party, term=found[i].term) for i in indexes]
        state = replay(with_new(facts, *new), today)
        spelled = {p.key: p.name for p in facts.parties} or {name_key(n): n for n in facts.agreement_parties}
        kept += [replace(found[i], party=spelled.get(name_key(found[i].party), found[i].party)) for i in indexes]
        for refusal in state.refusals:
            label = labels[indexes[refusal.index - len(facts.happenings)]]
            (waiting if refusal.waits else problems).append(f"{label}: {refusal.reason}" if label else refusal.reason)
    if problems:
        raise IntakeError(f"The {what} was not recorded: {_listing(problems + waiting)}.", problems + waiting)
    if waiting:
        raise Waiting(f"The {what} was not recorded: {_listing(waiting)}.", tuple(by_case), waiting)
    return cases, kept


def _unregistered(found: list[CaseEvent], labels: list[str], indexes: list[int], today: dt.date) -> list[str]:
    """Events about a subject with records but no case (an MOU): only its agreement's events, none
    dated after today."""
    problems = []
    for i in indexes:
        e = found[i]
        if e.date > today:
            problems.append(f"{labels[i]}: the event is dated {e.date.isoformat()}, after today; events are "
                            "recorded once they happen")
        elif e.event not in ("agreement-expired", "agreement-terminated", "case-closed", "case-reopened"):
            problems.append(f"{labels[i]}: {e.case_id} has no case register entry (it has no intake record or "
                            f"agreement), so {e.event} cannot be recorded for it")
    return problems


def _listing(problems: list[str]) -> str:
    return "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")

