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


#: Event names Accord knows, with the short forms coordinators write.
EVENT_NAMES = {
    "closed": "case-closed", "case-closed": "case-closed",
    "reopened": "case-reopened", "case-reopened": "case-reopened",
    "withdrawn": "case-withdrawn", "case-withdrawn": "case-withdrawn",
    "expired": "agreement-expired", "agreement-expired": "agreement-expired",
    "terminated": "agreement-terminated", "agreement-terminated": "agreement-terminated",
}


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


def add(catalog: Database, events: list[CaseEvent], source_name: str, source_sha256: str, actor: str = "accord", *,
        then: Callable[[Any], Any] | None = None) -> int:
    """Record events in one transaction; returns how many were new. ``then(catalog)`` runs last inside
    the transaction (the due dates the events move)."""
    with catalog.transaction():
        new = insert(catalog, events, source_name, source_sha256, actor)
        if then is not None:
            then(catalog)
        return new


def insert(catalog: Database, events: list[CaseEvent], source_name: str, source_sha256: str, actor: str) -> int:
    """Insert events inside the caller's transaction, an audit entry for each new one."""
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    new = 0
    for e in events:
        cursor = catalog.conn.execute(
            "INSERT OR IGNORE INTO events (case_id, event, date, note, source_name, source_sha256, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [e.case_id, e.event, e.date.isoformat(), e.note, source_name,
                                             source_sha256, now])
        if cursor.rowcount:
            new += 1
            audit.append(catalog.conn, AuditEntry(actor, "event", "ok", case_id=e.case_id, details={
                "event": e.event, "date": e.date.isoformat(), "source_sha256": source_sha256}))
    return new


def of_case(catalog: Database, case_id: str) -> list[dict[str, Any]]:
    """A case's events, oldest first."""
    return [dict(r) for r in catalog.conn.execute("SELECT * FROM events WHERE case_id = ? ORDER BY date, id",
                                                  [case_id])]


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
