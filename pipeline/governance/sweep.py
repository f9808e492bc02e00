"""Retention sweeps: everything the office's records need each day, in one run.

A sweep recomputes due dates when the schedules changed, proposes what is due (leaving out every
record under a hold), carries out at once what its schedule lets go without approval, destroys
failure reports past their schedule, checks fixity (a rotating share, so every record is checked
at least every ``fixity_days``), renews long-term seals and anchors the audit log. Nothing is
disposed of otherwise without an approval (``governance/disposition``).

A sweep judged on a day still to come may only look ahead (``dry_run``): a proposal written as of
a future date could dispose of records before their time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from pipeline.config import Config
from pipeline.errors import FutureSweep
from pipeline.governance.disposition import DueReport, execute, propose
from pipeline.governance.duedates import recompute_due
from pipeline.governance.retention import SCHEDULES_FILE, RetentionPolicy, due_for
from pipeline.records import archive, audit, failures, fixity
from pipeline.records.anchor import anchor_head
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog
from pipeline.records.fixity import FixityReport
from pipeline.records.preserve import preserve
from pipeline.records.schema import utc_now
from pipeline.workspace import Workspace


@dataclass(frozen=True)
class Sealing:
    """What a sweep needs to make sealed documents (certificates of disposition, audit anchors):
    a converter and the office's sealer."""

    converter: Any
    sealer: Any

    def seal(self, docx: bytes, record_id: str) -> bytes:
        return self.sealer.seal(self.converter.convert(docx), record_id).pdf


@dataclass
class SweepReport(DueReport):
    fixity: FixityReport | None = None
    failures_purged: int = 0
    recomputed: int = 0
    anchored: int | None = None
    preserved: Any = None


def run_sweep(ws: Workspace, catalog: Catalog, config: Config, policy: RetentionPolicy, as_of: dt.date, *,
              actor: str, today: dt.date, dry_run: bool = False, sealing: Sealing | None = None) -> SweepReport:
    """One sweep as of ``as_of``: due dates, a proposal, dispositions that need no approval, failure
    reports, fixity, and, with ``sealing``, preservation of long-term seals and an anchor of the
    audit log. With ``dry_run``, only what is due (a date after ``today`` allows nothing else)."""
    if as_of > today and not dry_run:
        raise FutureSweep(f"A sweep as of {as_of.isoformat()}, a day still to come, only looks ahead: "
                          "run it as a dry run.")
    if dry_run:
        return SweepReport(**vars(propose(catalog, policy, as_of, actor=actor, dry_run=True)))
    recomputed = recompute_if_policy_changed(ws, catalog, policy, actor)
    report = SweepReport(**vars(propose(catalog, policy, as_of, actor=actor)), recomputed=recomputed)
    if report.executed_proposal_id and sealing:
        execute(ws, catalog, policy, report.executed_proposal_id, approver=f"{actor} (no approval required)",
                make_certificate=sealing.seal, today=as_of)
    report.failures_purged = purge_failures(ws, catalog, policy, as_of, actor=actor)
    report.fixity = fixity.check(ws, catalog, as_of, policy.fixity_days, actor=actor)
    report.preserved = preserve(ws, catalog, config, as_of=as_of, actor=actor)
    if sealing:
        report.anchored = anchor_head(ws, catalog, sealing.converter, sealing.sealer, config.office.name,
                                      actor).head_seq
    return report


def purge_failures(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, as_of: dt.date, *, actor: str) -> int:
    """Failed inputs past their schedule (``failure-report``): the file and its reason files are destroyed."""
    schedule = policy.schedule_for("failure-report")
    if schedule is None or schedule.action != "destroy" or schedule.approval:
        return 0
    purged = 0
    for row in failures.unpurged(catalog):
        due = due_for(schedule, {"created": dt.date.fromisoformat(row["failed_at"][:10])})
        if due.date is None or due.date > as_of:
            continue
        path = ws.root / row["failed_path"]
        # Names in failed/ are never reused, so the reason files beside failed_path are this failure's
        # report and go with it. The input goes too when it is the file that failed (by its SHA-256); a
        # file of other bytes put there by hand is left alone.
        same = path.is_file() and not path.is_symlink() and archive.sha256_file(path) == row["sha256"]
        victims = [path.with_name(path.name + ".reason.txt"), path.with_name(path.name + ".reason.json")]
        if same or (path.is_symlink() and not row["sha256"]):
            victims.append(path)
        for victim in victims:
            if victim.is_file() or victim.is_symlink():
                victim.unlink()
        with catalog.transaction() as conn:
            failures.mark_purged(catalog, row["id"], utc_now())
            audit.append(conn, AuditEntry(actor, "disposition", "destroyed", details={
                "failure": row["id"], "sha256": row["sha256"], "rule": schedule.rule}))
        purged += 1
    return purged


def policy_fingerprint(ws: Workspace) -> str:
    path = ws.policies / SCHEDULES_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def recompute_if_policy_changed(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, actor: str) -> int:
    """Recompute every due date when the schedules differ from those last applied."""
    fingerprint = policy_fingerprint(ws)
    last = next(audit.entries(catalog.conn, action="retention-policy", limit=1), None)
    if last and last["details"].get("sha256") == fingerprint:
        return 0
    changed = recompute_due(catalog, policy, actor=actor, why="the retention schedules changed")
    catalog.audit(AuditEntry(actor, "retention-policy", "ok", details={"sha256": fingerprint, "moved": changed}))
    return changed

