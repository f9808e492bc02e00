"""One pass over the inbox (``accord process``): resume what was staged, then take every file once."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from . import archive, inbox
from .ingest import Ingestor, Outcome
from .reconcile import reconcile
from .worker import Worker
from .workspace import Workspace


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


def pending(ws: Workspace) -> tuple[list[Path], list[Path]]:
    """(files already staged, files waiting in the inbox)."""
    return inbox.staged(ws, tidy=True), inbox.candidates(ws)


def process_inbox(ws: Workspace, ingestor: Ingestor, *,
                  on_start: Callable[[int], None] | None = None,
                  on_outcome: Callable[[Outcome], None] | None = None) -> RunSummary:
    """Process everything in the inbox once with one worker; stop taking files at a system fault."""
    prepare(ws)
    summary = RunSummary()
    summary.reconciled = reconcile(ws, ingestor.catalog, ingestor.templates, ingestor.config.office.name).lines()
    resumed, waiting = pending(ws)
    if on_start:
        on_start(len(resumed) + len(waiting))
    lock = threading.Lock()

    def collect(outcome: Outcome) -> None:
        with lock:
            summary.outcomes.append(outcome)
        if on_outcome:
            on_outcome(outcome)

    worker = Worker(ingestor, collect)
    try:
        for path in resumed:
            if worker.fault:
                break
            worker.submit(path)
        for path in waiting:
            if worker.fault:
                break
            staged = inbox.claim(ws, path)
            if staged is not None:
                worker.submit(staged)
        worker.wait_idle()
    finally:
        worker.close()
    summary.stopped = worker.fault
    return summary
