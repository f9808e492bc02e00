"""The case register: one row per case, what its documents say about it, and its phase.

This module owns the ``cases`` and ``case_tombstones`` tables and their SQL. A case's row holds
its parties, what its intake record says (the case, the supportive measures, the assessment and
the rubric's verdict) and a short entry for each of its documents (role, date, party, the date a
notice asks an answer by); with the case's events (``records/events``) these are its facts, and
its phase, outcome, next date due and gaps are kept current from them (``cases/phases``) in the
transaction that changes them. When the case's last record is destroyed its row and events go
(``secure_delete`` overwrites them) and a tombstone keeps the case id, its dates, its process,
its outcome and counts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.cases import agenda
from pipeline.cases.phases import CaseFacts, CaseState, Happening, Party, Phase, Term, TermStatus, replay
from pipeline.records import events
from pipeline.records.schema import Database, utc_now

MIGRATIONS = Migrations("cases")


@MIGRATIONS(name="0001_cases")
def _cases(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE cases (
            case_id TEXT PRIMARY KEY,
            has_intake INTEGER NOT NULL,
            opened TEXT,
            process TEXT,
            phase TEXT NOT NULL,
            phase_since TEXT,
            outcome TEXT,
            closed_on TEXT,
            next_due TEXT,
            gaps TEXT NOT NULL DEFAULT '[]',
            parties TEXT NOT NULL DEFAULT '[]',
            register TEXT NOT NULL DEFAULT '{}',
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX cases_open ON cases(phase, closed_on)")
    db.execute(
        """
        CREATE TABLE case_backfill (pending INTEGER NOT NULL)
        """
    )
    # Records made before cases were kept get their case's entry once, at the next start
    # (intake/reconcile.register_cases), from their archived sources.
    db.execute("INSERT INTO case_backfill (pending) VALUES (1)")
    db.execute(
        """
        CREATE TABLE case_tombstones (
            case_id TEXT PRIMARY KEY,
            opened TEXT,
            process TEXT,
            outcome TEXT,
            closed_on TEXT,
            destroyed_at TEXT NOT NULL,
            counts TEXT NOT NULL
        )
        """
    )


@MIGRATIONS(name="0002_terms")
def _terms(db: sqlite_utils.Database) -> None:
    """Each term of each agreement of a case, with its status as the case's replay finds it (the text
    stays in the case's register entry): what reports and the agenda count."""
    db.execute(
        """
        CREATE TABLE terms (
            case_id TEXT NOT NULL,
            record_id TEXT NOT NULL,
            number INTEGER NOT NULL,
            owner TEXT NOT NULL,
            due TEXT,
            status TEXT NOT NULL,
            closed_on TEXT,
            PRIMARY KEY (record_id, number)
        )
        """
    )
    db.execute("CREATE INDEX terms_case ON terms(case_id)")
    db.execute("CREATE INDEX terms_open ON terms(status, due)")


@MIGRATIONS(name="0003_open_cases")
def _open_cases(db: sqlite_utils.Database) -> None:
    """Open cases by phase and since when (the list of open cases and the idle ones on the agenda)."""
    db.execute("CREATE INDEX cases_phase_since ON cases(phase, phase_since)")


@MIGRATIONS(name="0004_summary")
def _summary_column(db: sqlite_utils.Database) -> None:
    """What the office's reports count about a case, without a name, an email, a summary or a note."""
    db.execute("ALTER TABLE cases ADD COLUMN summary TEXT NOT NULL DEFAULT '{}'")


@MIGRATIONS(name="0005_unsummarised")
def _unsummarised(db: sqlite_utils.Database) -> None:
    """Every start asks which cases were never summarised: an index of those alone (empty once they
    are) answers without reading every case's row."""
    db.execute("CREATE INDEX cases_unsummarised ON cases(case_id) WHERE summary = '{}'")


#: The phases of an open case (the index on phase finds them without reading the closed ones).
OPEN_PHASES = tuple(p.value for p in Phase if p != Phase.CLOSED)
_OPEN = "c.phase IN (" + ", ".join(f"'{p}'" for p in OPEN_PHASES) + ")"


def backfill_pending(catalog: Database) -> bool:
    """Whether the records made before cases were kept still wait for their cases' entries."""
    return catalog.conn.execute("SELECT 1 FROM case_backfill").fetchone() is not None


def backfill_done(catalog: Database) -> None:
    catalog.conn.execute("DELETE FROM case_backfill")


def get(catalog: Database, case_id: str) -> dict[str, Any] | None:
    """A case's row, its JSON decoded (``parties``, ``gaps``, ``register``), or ``None``."""
    row = catalog.conn.execute("SELECT * FROM cases WHERE case_id = ?", [case_id]).fetchone()
    return _decoded(row) if row else None


def exists(catalog: Database, case_id: str) -> bool:
    return catalog.conn.execute("SELECT 1 FROM cases WHERE case_id = ?", [case_id]).fetchone() is not None


def _decoded(row: Any) -> dict[str, Any]:
    found = dict(row)
    for key in ("parties", "gaps", "register", "summary"):
        if key in found:
            found[key] = json.loads(found[key])
    return found


def new_row(case_id: str, *, has_intake: bool) -> dict[str, Any]:
    """The row of a case not registered yet (saved by :func:`save`)."""
    return {"case_id": case_id, "has_intake": int(has_intake), "opened": None, "process": None, "phase": "intake",
            "phase_since": None, "outcome": None, "closed_on": None, "next_due": None, "gaps": [], "parties": [],
            "register": {"documents": []}, "summary": {}}


def save(catalog: Database, row: dict[str, Any]) -> None:
    """Write a case's row (inside the caller's transaction)."""
    values = {**row, "parties": json.dumps(row["parties"], ensure_ascii=False),
              "gaps": json.dumps(row["gaps"], ensure_ascii=False),
              "register": json.dumps(row["register"], ensure_ascii=False, default=_iso),
              "summary": json.dumps(row.get("summary") or {}, ensure_ascii=False), "updated_at": utc_now()}
    columns = ("case_id", "has_intake", "opened", "process", "phase", "phase_since", "outcome", "closed_on",
               "next_due", "gaps", "parties", "register", "summary", "updated_at")
    catalog.conn.execute(f"INSERT OR REPLACE INTO cases ({', '.join(columns)}) VALUES "
                         f"({', '.join('?' for _ in columns)})", [values[c] for c in columns])


def _iso(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


# --- facts and state ---------------------------------------------------------------------------------


def facts(catalog: Database, row: dict[str, Any]) -> CaseFacts:
    """What is on file about a registered case: its documents' happenings and its events."""
    happenings = [h for doc in row["register"]["documents"] for h in document_happenings(doc)]
    for e in events.of_case(catalog, row["case_id"]):
        happenings.append(Happening(dt.date.fromisoformat(e["date"]), e["event"], party=e["party"], term=e["term"],
                                    ref=f"event {e['id']}", note=e["note"]))
    parties = tuple(Party(p["name"], p.get("role") or "", p.get("status") or "", p.get("affiliation") or "",
                          p.get("email") or "") for p in row["parties"])
    agreement = next((d for d in reversed(row["register"]["documents"]) if d["role"] == "agreement"), None)
    return CaseFacts(row["case_id"], bool(row["has_intake"]), parties, tuple(happenings),
                     tuple(agreement["parties"]) if agreement else ())


def document_happenings(doc: dict[str, Any]) -> list[Happening]:
    """The happenings one document's entry stands for."""
    day = dt.date.fromisoformat(doc["date"])
    ref, party = doc["record_id"], doc.get("party") or ""
    role = doc["role"]
    if role == "intake":
        found = [Happening(day, "opened", ref=ref)]
        if doc.get("assessed"):
            found.append(Happening(dt.date.fromisoformat(doc["assessed"]), "assessed", ref=ref,
                                   process=doc.get("decision")))
        return found
    due = doc.get("due") or doc.get("follow_up")
    kind = {"notice": "notice", "consent": "consent-form", "agreement": "agreement",
            "withdrawal": "withdrawal-notice", "completion": "completion"}[role]
    terms = tuple(Term(t["number"], dt.date.fromisoformat(t["due"]) if t.get("due") else None, t.get("owner") or "")
                  for t in doc.get("terms") or [])
    return [Happening(day, kind, party=party, ref=ref, due=dt.date.fromisoformat(due) if due else None,
                      process=doc.get("process"), terms=terms)]


def store_state(catalog: Database, row: dict[str, Any], state: CaseState) -> None:
    """Keep the row's phase, outcome, dates and gaps as ``state`` says, and record the closures it
    implies (a withdrawal, a referral, a not-suitable decision close the case: ``case-closed``)."""
    if state.closing:
        closures = [events.CaseEvent(row["case_id"], "case-closed", day, f"closed: {outcome.value}")
                    for day, outcome in state.closing]
        events.insert(catalog, closures, "accord", "", "accord")
    row.update(phase=state.phase.value, phase_since=state.since.isoformat() if state.since else None,
               outcome=state.outcome.value if state.outcome else None,
               closed_on=state.closed_on.isoformat() if state.closed_on else None, process=state.process,
               next_due=state.next_due.isoformat() if state.next_due else None, gaps=list(state.gaps),
               summary=summary(row, state))
    save(catalog, row)
    _store_terms(catalog, row["case_id"], state)
    agenda.replace_for_case(catalog, row["case_id"], agenda_items(state))


def summary(row: dict[str, Any], state: CaseState) -> dict[str, Any]:
    """What the reports count about a case (``reports/``): dates, process, outcome, categories, the
    parties' statuses and units, consent and withdrawal, terms and measures. No name, email, summary,
    rationale or note: the reports are de-identified by construction."""
    intake = row["register"].get("intake") or {}
    reported = intake.get("case") or {}

    def first(phase: Phase) -> str | None:
        return next((s.since.isoformat() for s in state.history if s.phase == phase), None)

    withdrawn = None
    for before, step in zip(state.history, state.history[1:]):
        if step.phase == Phase.CLOSED and step.evidence.startswith("a party withdrew"):
            withdrawn = before.phase.value
    decision = (intake.get("assessment") or {}).get("decision")
    decided = first(Phase.ASSESSED) or (state.closed_on.isoformat() if decision == "not-suitable" and state.closed_on
                                        else None)
    parties = row["parties"]
    return {
        "opened": row["opened"], "decided_on": decided, "decision": decision, "process": state.process,
        "agreement_on": first(Phase.AGREEMENT), "signed_on": first(Phase.MONITORING),
        "closed_on": state.closed_on.isoformat() if state.closed_on else None,
        "outcome": state.outcome.value if state.outcome else ("closed" if state.phase == Phase.CLOSED else None),
        "phase": state.phase.value, "has_intake": bool(row["has_intake"]),
        "jurisdiction": list(reported.get("jurisdiction") or []), "allegations": list(reported.get("allegations") or []),
        "referred_by": reported.get("referred_by"),
        "reporting": [p.get("status") or "" for p in parties if p.get("role") == "reporting party"],
        "responding": [p.get("status") or "" for p in parties if p.get("role") == "responding party"],
        "units": [unit_of(p.get("affiliation")) for p in parties
                  if p.get("role") == "responding party" and p.get("affiliation")],
        "parties": len(state.parties), "noticed": sum(1 for p in state.parties if p.notice),
        "consented": sum(1 for p in state.parties if p.consent_on),
        "withdrawn_phase": withdrawn,
        "terms": [[t.due.isoformat() if t.due else None, t.status.value, t.on.isoformat() if t.on else None]
                  for t in state.terms if t.agreement == state.agreement],
        "measures": [m.get("kind") or "unspecified" for m in intake.get("measures") or []],
    }


def unit_of(affiliation: str | None) -> str | None:
    """The unit in an affiliation ("Postdoctoral associate, Department of Physics" -> "Department of
    Physics"): what follows its last comma, else the whole of it."""
    if not affiliation:
        return None
    return affiliation.rsplit(",", 1)[-1].strip() or None


def _store_terms(catalog: Database, case_id: str, state: CaseState) -> None:
    catalog.conn.execute("DELETE FROM terms WHERE case_id = ?", [case_id])
    catalog.conn.executemany(
        "INSERT INTO terms (case_id, record_id, number, owner, due, status, closed_on) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [[case_id, t.agreement, t.number, t.owner, t.due.isoformat() if t.due else None, t.status.value,
          t.on.isoformat() if t.on else None] for t in state.terms])


def agenda_items(state: CaseState) -> list[agenda.Item]:
    """What an open case puts on the agenda: each awaited answer to a notice, each open dated term, the
    agreement's follow-up, each open breach (a closed case puts nothing)."""
    if state.phase == Phase.CLOSED:
        return []
    case_id = state.case_id
    items = [agenda.Item(day, "notice-answer", case_id, f"p{n}", "answer to a notice due")
             for n, (_, day) in enumerate(state.notices_due, start=1)]
    for t in state.open_terms:
        if t.due:
            items.append(agenda.Item(t.due, "term-due", case_id, f"t{t.number}", f"term {t.number} due"))
    for t in state.terms:
        if t.agreement == state.agreement and t.status == TermStatus.BREACHED:
            items.append(agenda.Item(t.on, "breach", case_id, f"t{t.number}", f"term {t.number} breached"))
    if state.follow_up and state.phase in (Phase.AGREEMENT, Phase.MONITORING):
        items.append(agenda.Item(state.follow_up, "follow-up", case_id, "follow-up", "follow-up with the parties"))
    return items


def refresh(catalog: Database, case_id: str, today: dt.date) -> CaseState | None:
    """Recompute a case's state from what is on file (inside the caller's transaction)."""
    row = get(catalog, case_id)
    if row is None:
        return None
    state = replay(facts(catalog, row), today)
    store_state(catalog, row, state)
    return state


# --- lists ----------------------------------------------------------------------------------------


def listing(catalog: Database, visible: tuple[str, list[Any]], *, phase: str | None = None,
            process: str | None = None, include_closed: bool = False, limit: int | None = None,
            offset: int = 0) -> list[dict[str, Any]]:
    """The cases ``visible`` (SQL on ``c``) lets one see, open ones unless ``include_closed``, oldest
    phase first; each row without its register."""
    where, params = [visible[0]], list(visible[1])
    if not include_closed:
        where.append(_OPEN)
    if phase:
        where.append("c.phase = ?")
        params.append(phase)
    if process:
        where.append("c.process = ?")
        params.append(process)
    sql = (f"SELECT c.case_id, c.has_intake, c.opened, c.process, c.phase, c.phase_since, c.outcome, c.closed_on, "
           f"c.next_due, c.gaps FROM cases c WHERE {' AND '.join(f'({w})' for w in where)} "
           f"ORDER BY c.phase_since, c.case_id")
    if limit is not None:
        sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
    rows = []
    for r in catalog.conn.execute(sql, params):
        found = dict(r)
        found["gaps"] = [] if found["gaps"] == "[]" else json.loads(found["gaps"])  # most cases have none
        rows.append(found)
    return rows


def count(catalog: Database, visible: tuple[str, list[Any]], *, include_closed: bool = False) -> int:
    where = f"({visible[0]})" + ("" if include_closed else f" AND {_OPEN}")
    return catalog.conn.execute(f"SELECT count(*) FROM cases c WHERE {where}", visible[1]).fetchone()[0]


def idle(catalog: Database, visible: tuple[str, list[Any]], since_before: dt.date) -> list[tuple[str, str, dt.date]]:
    """(case id, phase, since) of the open cases ``visible`` lets one see that entered their phase on
    or before ``since_before``."""
    rows = catalog.conn.execute(f"SELECT c.case_id, c.phase, c.phase_since FROM cases c WHERE ({visible[0]}) AND "
                                f"{_OPEN} AND c.phase_since <= ?", [*visible[1], since_before.isoformat()])
    return [(r[0], r[1], dt.date.fromisoformat(r[2])) for r in rows]


# --- destruction -------------------------------------------------------------------------------------


def forget(catalog: Database, case_id: str, *, records: int) -> None:
    """Delete a case's row and events, keeping its tombstone (inside the caller's transaction; the
    record store's ``purge_deleted_text`` after the disposition leaves no text of it in the file)."""
    row = get(catalog, case_id)
    if row is None:  # a subject with records but no case (an MOU)
        agenda.replace_for_case(catalog, case_id, [])
        events.forget_case(catalog, case_id)
        return
    kinds: dict[str, int] = {}
    for e in events.of_case(catalog, case_id):
        kinds[e["event"]] = kinds.get(e["event"], 0) + 1
    terms = {r[0]: r[1] for r in catalog.conn.execute(
        "SELECT status, count(*) FROM terms WHERE case_id = ? GROUP BY status", [case_id])}
    counts = {"records": records, "documents": len(row["register"]["documents"]), "parties": len(row["parties"]),
              "measures": len(((row["register"].get("intake") or {}).get("measures")) or []), "events": kinds,
              "terms": terms}
    catalog.conn.execute(
        "INSERT OR REPLACE INTO case_tombstones (case_id, opened, process, outcome, closed_on, destroyed_at, counts) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [case_id, row["opened"], row["process"], row["outcome"], row["closed_on"], utc_now(), json.dumps(counts)])
    catalog.conn.execute("DELETE FROM cases WHERE case_id = ?", [case_id])
    catalog.conn.execute("DELETE FROM terms WHERE case_id = ?", [case_id])
    agenda.replace_for_case(catalog, case_id, [])
    events.forget_case(catalog, case_id)


def without_summary(catalog: Database) -> list[str]:
    """The cases whose report summary was never computed (cases kept before reports were)."""
    return [r[0] for r in catalog.conn.execute("SELECT case_id FROM cases WHERE summary = '{}'")]


def summaries(catalog: Database, visible: tuple[str, list[Any]], start: str | None = None,
              end: str | None = None) -> Iterator[dict[str, Any]]:
    """The report summaries of the cases ``visible`` (SQL on ``c``) lets one see, one at a time; with
    ``start`` and ``end`` (ISO dates), only the cases open for some of that time."""
    where, params = [visible[0]], list(visible[1])
    if end is not None:
        where.append("c.opened <= ?")
        params.append(end)
    if start is not None:
        where.append("(c.closed_on IS NULL OR c.closed_on >= ?)")
        params.append(start)
    for (text,) in catalog.conn.execute(f"SELECT c.summary FROM cases c WHERE {' AND '.join(where)}", params):
        yield json.loads(text)


def tombstone(catalog: Database, case_id: str) -> dict[str, Any] | None:
    row = catalog.conn.execute("SELECT * FROM case_tombstones WHERE case_id = ?", [case_id]).fetchone()
    if row is None:
        return None
    found = dict(row)
    found["counts"] = json.loads(found["counts"])
    return found
