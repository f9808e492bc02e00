"""What becomes of each file dropped into the inbox: its outcome, and the ends that are recorded.

Every file ends exactly once: recorded, a duplicate of a record, events recorded, a signed copy
brought into its record, or failed with a reason. While a file waits for its case it has the
transient status ``waiting``. Failing a file and noting a duplicate write both the file's move
(``intake/inbox``) and the catalog (the failure, the audit entry).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from pipeline.errors import SystemFault
from pipeline.intake import inbox
from pipeline.records import archive, failures
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog
from pipeline.records.failures import FailureRow
from pipeline.records.schema import utc_now
from pipeline.workspace import Workspace


class Status(StrEnum):
    RECORDED = "recorded"
    DUPLICATE = "duplicate"
    EVENTS = "events"
    SIGNED = "signed"
    """A party-signed copy brought into its record."""
    FAILED = "failed"
    WAITING = "waiting"
    """Not an end: the file waits in staging for its case's first record."""


#: Outcomes that recorded something for their cases (files waiting for those cases go again).
RECORDING = (Status.RECORDED, Status.EVENTS, Status.SIGNED)


@dataclass(frozen=True)
class Outcome:
    """What became of one input file."""

    source_name: str
    status: Status
    moved_to: Path
    record_id: str | None = None
    step: str | None = None
    reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    case_ids: tuple[str, ...] = ()
    """The cases the file recorded something for (or, while it waits, the cases it waits for)."""

    @property
    def ok(self) -> bool:
        return self.status != Status.FAILED


def fail_staged(ws: Workspace, catalog: Catalog, staged: Path, step: str, message: str,
                sha256: str | None = None) -> Outcome:
    """Send a staged file to ``failed/`` with its reason, and record the failure."""
    name = inbox.printable_name(staged.name)
    reason = inbox.FailureReason(step=step, reason=message, source_name=name,
                                 sha256=sha256 or _file_sha(staged), failed_at=utc_now())
    try:
        moved = inbox.finish_failed(ws, staged, reason)
        failures.add(catalog, FailureRow(name, reason.sha256, step, message, reason.failed_at,
                                         inbox.printable_name(str(moved.relative_to(ws.root)))))
    except OSError as exc:
        raise SystemFault(f"The failed folder cannot be written: {exc.strerror}.") from exc
    return Outcome(name, Status.FAILED, moved, step=step, reason=message)


def duplicate(ws: Workspace, catalog: Catalog, staged: Path, record: dict[str, Any]) -> Outcome:
    """A file already recorded (or a signed copy already brought in): kept in ``processed/`` with a
    note naming the record, and audited as received again."""
    name = inbox.printable_name(staged.name)
    note = (f"{name} was not recorded again: the same file was recorded as {record['record_id']} "
            f"on {record['created'][:10]}.")
    moved = inbox.finish_processed(ws, staged, staged.name, dt.date.today(), note=note)
    catalog.audit(AuditEntry("accord", "duplicate", "ok", record["record_id"], record.get("case_id"),
                             details={"file": name}))
    return Outcome(name, Status.DUPLICATE, moved, record_id=record["record_id"], reason=note)


def _file_sha(path: Path) -> str:
    try:
        if path.is_symlink() or not path.is_file():
            return ""
        return archive.sha256_file(path)
    except OSError:
        return ""
