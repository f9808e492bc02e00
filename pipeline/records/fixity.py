"""Fixity: the archived files still have the SHA-256 they had when they were recorded.

This module owns the ``fixity`` table (one row per record checked, with the outcome) and its SQL.
A record's files are its sealed PDF, its source file and every copy the parties signed; a check
reports files changed or missing, and archive folders no record or tombstone accounts for
(BagIt RFC 8493, Archivematica and Merritt do the same).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.records import archive, audit, countersign
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog
from pipeline.records.schema import utc_now
from pipeline.workspace import Workspace

MIGRATIONS = Migrations("fixity")


@MIGRATIONS(name="0001_fixity")
def _fixity(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE fixity (
            id INTEGER PRIMARY KEY,
            checked_at TEXT NOT NULL,
            record_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            expected TEXT,
            actual TEXT
        )
        """
    )


@dataclass
class FixityReport:
    checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.untracked)


def check(ws: Workspace, catalog: Catalog, as_of: dt.date, fixity_days: int, *, actor: str,
          everything: bool = False) -> FixityReport:
    """Check the records not checked for ``fixity_days - 1`` days (or all): changed, missing, untracked."""
    report = FixityReport()
    cutoff = None if everything else (as_of - dt.timedelta(days=max(fixity_days - 1, 0))).isoformat()
    now = utc_now()
    results = []
    executed = countersign.executed_copies(catalog)
    for row in catalog.fixity_due(cutoff):
        outcome, actual = "ok", None
        for label, rel, expected in (("pdf", row["pdf_path"], row["sha256"]),
                                     ("source", row["source_path"], row["source_sha256"]),
                                     *(("executed", r, e) for r, e in executed.get(row["record_id"], ()))):
            path = ws.root / rel
            if not path.is_file():
                outcome = "missing"
                continue
            digest = archive.sha256_file(path)
            actual = digest if label == "pdf" else actual
            if digest != expected and outcome != "missing":
                outcome = "changed"
        if outcome == "missing":
            report.missing.append(row["record_id"])
        elif outcome == "changed":
            report.changed.append(row["record_id"])
        results.append((now, row["record_id"], outcome, row["sha256"], actual))
        report.checked += 1
    known = catalog.record_ids()
    for folder in archive.record_folders(ws.archive):
        if folder.name not in known and catalog.tombstone(folder.name) is None:
            report.untracked.append(str(folder.relative_to(ws.root)))
    with catalog.transaction() as conn:
        conn.executemany("INSERT INTO fixity (checked_at, record_id, outcome, expected, actual) VALUES (?, ?, ?, ?, ?)",
                         results)
        catalog.mark_fixity_checked([r[1] for r in results], as_of.isoformat())
        audit.append(conn, AuditEntry(actor, "fixity-check", "ok" if report.ok else "problems", details={
            "checked": report.checked, "changed": report.changed, "missing": report.missing,
            "untracked": report.untracked}))
    return report
