"""Case events: what happened to a case and when (its closure, an agreement's expiry...).

This module owns the ``events`` table and its SQL. An event is kept once (the same case, event and
date twice is one event); each new one gets an audit entry. Events start retention clocks
(``governance/duedates``) and, with the case's records, go when its last record is destroyed.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Callable

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.records import audit
from pipeline.records.audit import AuditEntry
from pipeline.records.schema import Database


@dataclass(frozen=True)
class CaseEvent:
    case_id: str
    event: str
    date: dt.date
    note: str
    party: str = ""
    """The party of the case the event is about, by name ("" for none)."""
    term: int | None = None
    """The number of the agreement's term the event is about, if any."""


#: Event names Accord knows, with the short forms coordinators write.
EVENT_NAMES = {
    "closed": "case-closed", "case-closed": "case-closed",
    "reopened": "case-reopened", "case-reopened": "case-reopened",
    "withdrawn": "case-withdrawn", "case-withdrawn": "case-withdrawn",
    "referred": "case-referred", "case-referred": "case-referred",
    "consent": "consent", "consented": "consent",
    "session": "session",
    "supportive-measure": "supportive-measure", "measure": "supportive-measure",
    "signed": "agreement-signed", "agreement-signed": "agreement-signed",
    "term-completed": "term-completed", "term-waived": "term-waived", "term-breached": "term-breached",
    "expired": "agreement-expired", "agreement-expired": "agreement-expired",
    "terminated": "agreement-terminated", "agreement-terminated": "agreement-terminated",
}
#: Events that must name a party, and events that must name a term.
NEEDS_PARTY = frozenset({"consent"})
NEEDS_TERM = frozenset({"term-completed", "term-waived", "term-breached"})


MIGRATIONS = Migrations("events")


@MIGRATIONS(name="0001_events")
def _events(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL,
            event TEXT NOT NULL,
            date TEXT NOT NULL,
            note TEXT NOT NULL,
            source_name TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            UNIQUE (case_id, event, date)
        )
        """
    )
    db.execute("CREATE INDEX events_case ON events(case_id, date)")


@MIGRATIONS(name="0002_events_party_and_term")
def _party_and_term(db: sqlite_utils.Database) -> None:
    """Events may name a party of the case and a term of its agreement; one event is the same case,
    event, date, party and term (two parties' consents on one day are two events)."""
    db.execute(
        """
        CREATE TABLE events_new (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL,
            event TEXT NOT NULL,
            date TEXT NOT NULL,
            note TEXT NOT NULL,
            source_name TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            party TEXT NOT NULL DEFAULT '',
            term INTEGER NOT NULL DEFAULT 0,
            UNIQUE (case_id, event, date, party, term)
        )
        """
    )
    db.execute("INSERT INTO events_new (id, case_id, event, date, note, source_name, source_sha256, recorded_at) "
               "SELECT id, case_id, event, date, note, source_name, source_sha256, recorded_at FROM events")
    db.execute("DROP TABLE events")
    db.execute("ALTER TABLE events_new RENAME TO events")
    db.execute("CREATE INDEX events_case ON events(case_id, date)")


def add(catalog: Database, events: list[CaseEvent], source_name: str, source_sha256: str, actor: str = "accord", *,
        then: Callable[[Any], Any] | None = None) -> int:
    """Record events in one transaction; returns how many were new. ``then(catalog)`` runs last inside
    the transaction (the due dates the events move)."""
    with catalog.transaction():
        new = insert(catalog, events, source_name, source_sha256, actor)
        if then is not None:
            then(catalog)
        return new


def insert(catalog: Database, events: list[CaseEvent], source_name: str, source_sha256: str, actor: str,
           via: str | None = None) -> int:
    """Insert events inside the caller's transaction, an audit entry for each new one (``via``: how
    the person recorded them, the portal or the command line; none for a file dropped into the inbox)."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    new = 0
    for e in events:
        cursor = catalog.conn.execute(
            "INSERT OR IGNORE INTO events (case_id, event, date, note, source_name, source_sha256, recorded_at, "
            "party, term) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [e.case_id, e.event, e.date.isoformat(), e.note, source_name, source_sha256, now, e.party, e.term or 0])
        if cursor.rowcount:
            new += 1
            # The audit log outlives the case: it never holds a party's name or a note.
            details = {"event": e.event, "date": e.date.isoformat(), "source_sha256": source_sha256}
            if e.term:
                details["term"] = e.term
            if e.party:
                details["party"] = True
            if via:
                details["via"] = via
            audit.append(catalog.conn, AuditEntry(actor, "event", "ok", case_id=e.case_id, details=details))
    return new


def of_case(catalog: Database, case_id: str) -> list[dict[str, Any]]:
    """A case's events, oldest first (``party`` "" and ``term`` ``None`` when the event names none)."""
    return [{**dict(r), "term": r["term"] or None}
            for r in catalog.conn.execute("SELECT * FROM events WHERE case_id = ? ORDER BY date, id", [case_id])]


def as_case_events(rows: list[dict[str, Any]]) -> list[CaseEvent]:
    """Rows of :func:`of_case` as events."""
    return [CaseEvent(r["case_id"], r["event"], dt.date.fromisoformat(r["date"]), r["note"], r["party"], r["term"])
            for r in rows]


def count_of_case(catalog: Database, case_id: str) -> int:
    return catalog.conn.execute("SELECT count(*) FROM events WHERE case_id = ?", [case_id]).fetchone()[0]


def of_cases(catalog: Database, case_ids: list[str]) -> dict[str, list[tuple[str, dt.date]]]:
    """(event, date) of each case of ``case_ids`` (what due dates are computed from)."""
    found: dict[str, list[tuple[str, dt.date]]] = {c: [] for c in case_ids}
    for row in catalog.conn.execute("SELECT case_id, event, date FROM events WHERE case_id IN "
                                    "(SELECT value FROM json_each(?))", [json.dumps(case_ids)]):
        found[row["case_id"]].append((row["event"], dt.date.fromisoformat(row["date"])))
    return found


def forget_case(catalog: Database, case_id: str) -> None:
    """Delete a case's events (its last record was destroyed). Inside the caller's transaction."""
    catalog.conn.execute("DELETE FROM events WHERE case_id = ?", [case_id])
