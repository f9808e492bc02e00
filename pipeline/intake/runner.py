"""One pass over the inbox (``accord process``): resume what was staged, then take every file once.

The whole batch is claimed first and taken in a fixed order: case files, then signed copies,
then event files (a case's first record before the events about it), files that met a system
fault last. A file that waits for its case (an event file dropped with the case file) is tried
again as soon as something is recorded for that case, and fails with its reason if nothing is
by the end of the pass. A system fault stops the pass; one more round then tries the other
files, so a file that keeps meeting faults while the others go through is set aside as failed
(see :meth:`pipeline.ingest.Ingestor.system_fault`) instead of holding intake hostage.
"""

from __future__ import annotations

import os
import stat
import threading
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from pipeline.documents.casefile import is_signed_copy
from pipeline.governance.duedates import recompute_due
from pipeline.governance.retention import RetentionPolicy
from pipeline.intake import inbox
from pipeline.intake.eventfile import is_event_file
from pipeline.intake.ingest import Ingestor, Outcome, SystemFault
from pipeline.intake.reconcile import reconcile
from pipeline.intake.worker import Worker
from pipeline.records import archive
from pipeline.records.catalog import Catalog
from pipeline.workspace import Workspace

#: Statuses that mean something was recorded for the outcome's cases (files waiting for them go again).
RECORDING = ("recorded", "events", "signed")


@dataclass
class RunSummary:
    outcomes: list[Outcome] = field(default_factory=list)
    stopped: str | None = None
    """Why the run stopped early (a system fault), or ``None``."""
    reconciled: list[str] = field(default_factory=list)
    """What reconciling the archive with the catalog found at the start."""

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status == "failed"]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def prepare(ws: Workspace) -> None:
    """Create missing folders and clear what a crash left half-written in the archive."""
    ws.ensure_dirs()
    archive.clean_temporaries(ws.archive)


def recover(ws: Workspace, catalog: Catalog, ingestor_templates: dict, office_name: str,
            retention: RetentionPolicy) -> list[str]:
    """What every start does after a crash: reconcile the archive with the catalog, and compute
    the due dates a crash left uncomputed. Returns what reconciling found, in words."""
    lines = reconcile(ws, catalog, ingestor_templates, office_name, retention).lines()
    missing = catalog.cases_without_due()
    if missing:
        recompute_due(catalog, retention, actor="accord", why="due date missing after an interruption",
                      case_ids=missing)
    return lines


def pending(ws: Workspace) -> tuple[list[Path], list[Path]]:
    """(files already staged, files waiting in the inbox)."""
    return inbox.staged(ws, tidy=True), inbox.candidates(ws)


def batch_order(paths: list[Path]) -> list[Path]:
    """Case files first, then signed copies, then event files; files that met a fault last."""
    return sorted(paths, key=lambda p: (inbox.fault_record(p) is not None, _kind_rank(p)))


def _kind_rank(path: Path) -> int:
    if is_signed_copy(path.name):
        return 1
    return 2 if is_event_file(path.name, _head(path)) else 0


def _head(path: Path, size: int = 4096) -> bytes:
    """The first bytes of a regular file (never following a link, never opening a pipe)."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return b""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def process_inbox(ws: Workspace, ingestor: Ingestor, *,
                  on_start: Callable[[int], None] | None = None,
                  on_outcome: Callable[[Outcome], None] | None = None) -> RunSummary:
    """Process everything in the inbox once with one worker (see the module's docstring)."""
    prepare(ws)
    summary = RunSummary()
    summary.reconciled = recover(ws, ingestor.catalog, ingestor.templates, ingestor.config.office.name,
                                 ingestor.retention)
    resumed, arrived = pending(ws)
    claimed = [p for p in (inbox.claim(ws, path) for path in arrived) if p is not None]
    queue = deque(batch_order(resumed + claimed))
    if on_start:
        on_start(len(queue))
    lock = threading.Lock()
    waiting: dict[Path, Outcome] = {}

    def collect(outcome: Outcome) -> None:
        with lock:
            if outcome.status == "waiting":
                waiting[outcome.moved_to] = outcome
                return
            summary.outcomes.append(outcome)
            if outcome.status in RECORDING:
                released = [p for p, w in waiting.items() if set(w.case_ids) & set(outcome.case_ids)]
                for path in released:
                    del waiting[path]
                queue.extend(released)
        if on_outcome:
            on_outcome(outcome)

    worker = Worker(ingestor, collect)
    try:
        rounds_without_progress = 0
        while True:
            before = len(summary.outcomes)
            _run_queue(worker, queue, lock)
            if not worker.fault:
                break
            # Intake stopped on a system fault; the files in hand stay staged. Another round tries
            # what is left (files that met a fault last); two rounds in a row in which nothing went
            # through mean the fault is the system's, and the run stops.
            rounds_without_progress = 0 if len(summary.outcomes) > before else rounds_without_progress + 1
            left = [p for p in inbox.staged(ws) if p not in waiting]
            if rounds_without_progress >= 2 or not left:
                summary.stopped = worker.fault
                return summary
            worker.clear_fault()
            queue.extend(batch_order(left))
        for path, outcome in sorted(waiting.items()):
            try:
                collect(ingestor.give_up(path, outcome.reason or "The file waited for a case that has no record."))
            except SystemFault as fault:
                summary.stopped = str(fault)
                break
    finally:
        worker.close()
    return summary


def _run_queue(worker: Worker, queue: deque, lock: threading.Lock) -> None:
    """Submit the queue until it is empty and the worker idle (files released meanwhile included)."""
    while True:
        while not worker.fault:
            with lock:
                if not queue:
                    break
                path = queue.popleft()
            worker.submit(path)
        worker.wait_idle()
        with lock:
            if worker.fault or not queue:
                return
