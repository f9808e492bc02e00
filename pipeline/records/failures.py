"""Failed inputs: each file intake could not take, where it lies in ``inbox/failed/`` and why.

This module owns the ``failures`` table and its SQL. A failure report is kept for its retention
period (``failure-report`` in the schedules, a year by default); then the sweep destroys the file
and its reason files, and the row keeps only that it was purged (the reason text goes).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.records import audit
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog


@dataclass(frozen=True)
class FailureRow:
    source_name: str
    sha256: str
    step: str
    reason: str
    failed_at: str
    failed_path: str


MIGRATIONS = Migrations("failures")


@MIGRATIONS(name="0001_failures")
def _failures(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE failures (
            id INTEGER PRIMARY KEY,
            source_name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            step TEXT NOT NULL,
            reason TEXT NOT NULL,
            failed_at TEXT NOT NULL,
            failed_path TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX failures_at ON failures(failed_at)")


@MIGRATIONS(name="0002_purged_at")
def _purged_at(db: sqlite_utils.Database) -> None:
    db.execute("ALTER TABLE failures ADD COLUMN purged_at TEXT")


def add(catalog: Catalog, failure: FailureRow, actor: str = "accord") -> None:
    """Record a failed input, its audit entry, and give back the record id its bytes were given."""
    with catalog.transaction() as conn:
        if failure.sha256:
            catalog.release_record_id(failure.sha256)
        conn.execute(
            "INSERT INTO failures (source_name, sha256, step, reason, failed_at, failed_path) VALUES (?, ?, ?, ?, ?, ?)",
            [failure.source_name, failure.sha256, failure.step, failure.reason, failure.failed_at, failure.failed_path])
        audit.append(conn, AuditEntry(actor, "failure", "failed", details={
            "file": failure.source_name, "sha256": failure.sha256, "step": failure.step, "reason": failure.reason}))


def count_on(catalog: Catalog, day: dt.date) -> int:
    """How many inputs failed on ``day`` (UTC)."""
    return catalog.conn.execute("SELECT count(*) FROM failures WHERE substr(failed_at, 1, 10) = ?",
                                [day.isoformat()]).fetchone()[0]


def latest(catalog: Catalog, limit: int) -> list[dict[str, Any]]:
    """The newest failures: file, step, reason, when."""
    return [dict(r) for r in catalog.conn.execute(
        "SELECT source_name, step, reason, failed_at FROM failures ORDER BY id DESC LIMIT ?", [limit])]


def unpurged(catalog: Catalog) -> list[dict[str, Any]]:
    """Every failure whose file and reasons are still kept."""
    return [dict(r) for r in catalog.conn.execute("SELECT * FROM failures WHERE purged_at IS NULL")]


def mark_purged(catalog: Catalog, failure_id: int, at: str) -> None:
    """The failure's file and reasons were destroyed: keep that it happened, drop the reason's text.
    Inside the caller's transaction."""
    catalog.conn.execute("UPDATE failures SET purged_at = ?, reason = '' WHERE id = ?", [at, failure_id])
