"""Each record's due date and the reason for it, stored in the catalog and kept current.

A due date follows from the record's class, its schedule and its case's events
(:func:`pipeline.retention.due_for`); it is recomputed whenever a record or an event is
added, and for every record when the schedules change. Every date that moves gets an
audit entry saying why. :func:`recompute_in` works inside the caller's transaction, so a
record, the events from its data and its due date are written together or not at all.
"""

from __future__ import annotations

import datetime as dt

from pipeline.governance.retention import RetentionPolicy, due_for, trigger_dates
from pipeline.records import audit, events
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog

_CHUNK = 2000


def recompute_due(catalog: Catalog, policy: RetentionPolicy, *, actor: str, why: str,
                  case_ids: list[str] | None = None) -> int:
    """Recompute the due dates of the records of ``case_ids`` (every record when ``None``), in
    chunks of records each in its own transaction (memory stays flat). Returns how many changed."""
    changed, last = 0, 0
    while last is not None:
        with catalog.transaction():
            count, last = _recompute_chunk(catalog, policy, actor, why, case_ids, last)
        changed += count
    return changed


def recompute_in(catalog: Catalog, policy: RetentionPolicy, *, actor: str, why: str, case_ids: list[str]) -> int:
    """Recompute the due dates of a few cases' records inside the caller's open transaction."""
    changed, last = 0, 0
    while last is not None:
        count, last = _recompute_chunk(catalog, policy, actor, why, case_ids, last)
        changed += count
    return changed


def _recompute_chunk(catalog: Catalog, policy: RetentionPolicy, actor: str, why: str,
                     case_ids: list[str] | None, after_rowid: int) -> tuple[int, int | None]:
    """One chunk of records after ``after_rowid``: (how many changed, the last rowid, or ``None``
    when there are no more)."""
    rows = catalog.due_chunk(after_rowid, case_ids, _CHUNK)
    if not rows:
        return 0, None
    happened = events.of_cases(catalog, sorted({r["case_id"] for r in rows}))
    updates, entries = [], []
    for row in rows:
        due = due_for(policy.schedule_for(row["record_class"]),
                      trigger_dates(happened[row["case_id"]], dt.date.fromisoformat(row["created"][:10])))
        new_date = due.date.isoformat() if due.date else None
        if new_date == row["due_date"] and due.reason == row["due_reason"]:
            continue
        updates.append((new_date, due.reason, due.rule, row["record_id"]))
        if row["due_reason"] is not None and new_date != row["due_date"]:  # not a first computation
            entries.append(AuditEntry(actor, "retention-due", "ok", row["record_id"], row["case_id"], details={
                "old": row["due_date"], "new": new_date, "reason": due.reason, "why": why}))
    if updates:
        catalog.set_due_dates(updates)
        if entries:
            audit.append_many(catalog.conn, entries)
    return len(updates), rows[-1]["rowid"]
