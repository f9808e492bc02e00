"""A batch of inbox files: the order they are taken in, and the files that wait for their case.

Case files go first, then signed copies, then event files, so a case's first record is made before
the events about it; files that met a system fault go last. A file that waits (an event file whose
case file is still on its way) is kept in the :class:`WaitingRoom` until something is recorded for
its case.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.documents.casefile import is_signed_copy
from pipeline.intake import inbox
from pipeline.intake.eventfile import is_event_file
from pipeline.intake.outcomes import RECORDING, Outcome


def batch_order(paths: list[Path]) -> list[Path]:
    """Case files first, then signed copies, then event files; files that met a fault last."""
    return sorted(paths, key=lambda p: (inbox.fault_record(p) is not None, _kind_rank(p)))


def _kind_rank(path: Path) -> int:
    if is_signed_copy(path.name):
        return 1
    return 2 if is_event_file(path.name, inbox.head(path)) else 0


class WaitingRoom:
    """Staged files waiting for their case's first record, and since when (not thread-safe: the
    caller holds its lock)."""

    def __init__(self) -> None:
        self._files: dict[Path, tuple[Outcome, float]] = {}

    def wait(self, outcome: Outcome, now: float) -> None:
        since = self._files.get(outcome.moved_to, (outcome, now))[1]
        self._files[outcome.moved_to] = (outcome, since)

    def released_by(self, outcome: Outcome) -> list[Path]:
        """The files waiting for a case this outcome recorded something for (they leave the room)."""
        if outcome.status not in RECORDING:
            return []
        released = [p for p, (w, _) in self._files.items() if set(w.case_ids) & set(outcome.case_ids)]
        for path in released:
            del self._files[path]
        return released

    def expired(self, now: float, limit: float) -> list[tuple[Path, Outcome]]:
        """The files that waited ``limit`` seconds or more (they leave the room)."""
        gone = [(p, o) for p, (o, since) in self._files.items() if now - since >= limit]
        for path, _ in gone:
            del self._files[path]
        return gone

    def empty(self) -> list[tuple[Path, Outcome]]:
        """Every file still waiting (the room is emptied)."""
        gone = sorted((p, o) for p, (o, _) in self._files.items())
        self._files.clear()
        return gone

    def __contains__(self, path: Path) -> bool:
        return path in self._files

    def __len__(self) -> int:
        return len(self._files)
