"""A worker: one warm LibreOffice and three stages in threads, and the one loop that decides.

While LibreOffice converts one document (in its own process), the worker's other
threads render the next one and seal, archive and catalog the previous one, so
the Python steps cost almost nothing in throughput. Every file stays in staging
until its last stage has committed it, so a crash at any point loses nothing.

:meth:`Worker._stage` is the one place that turns what a step signals into an outcome
(as structlog's processor loop handles ``DropEvent`` in one place): a returned
:class:`~pipeline.intake.outcomes.Outcome` ends the file, a :class:`~pipeline.errors.FileFault`
fails it with its reason, :class:`~pipeline.errors.Waiting` leaves it waiting for its case, and a
:class:`~pipeline.errors.SystemFault` (or a bug) stops intake with the file staged.
"""

from __future__ import annotations

import logging
import queue
import threading
import traceback
from pathlib import Path
from typing import Callable

from pipeline.errors import FileFault, SystemFault, Waiting
from pipeline.intake.ingest import Converted, Ingestor, Prepared
from pipeline.intake.outcomes import Outcome, Status, fail_staged
from pipeline.records.catalog import Catalog
from pipeline.store import open_catalog

_STOP = object()
log = logging.getLogger(__name__)


class Worker:
    """Feed staged files with :meth:`submit`; outcomes arrive through ``on_outcome`` (from a worker thread)."""

    def __init__(self, ingestor: Ingestor, on_outcome: Callable[[Outcome], None], *, depth: int = 2,
                 name: str = "worker"):
        self.ingestor = ingestor
        self._on_outcome = on_outcome
        self._inbox: queue.Queue = queue.Queue(maxsize=depth)
        self._to_convert: queue.Queue = queue.Queue(maxsize=depth)
        self._to_finish: queue.Queue = queue.Queue(maxsize=depth)
        self._fault: str | None = None
        self._fault_lock = threading.Lock()
        self._in_flight = 0
        self._idle = threading.Condition()
        self._threads = [
            threading.Thread(target=self._prepare_loop, name=f"{name}-prepare", daemon=True),
            threading.Thread(target=self._convert_loop, name=f"{name}-convert", daemon=True),
            threading.Thread(target=self._finish_loop, name=f"{name}-finish", daemon=True),
        ]
        self._started = False

    @property
    def fault(self) -> str | None:
        """Why the worker stopped taking work (a system fault), or ``None``."""
        return self._fault

    def clear_fault(self) -> None:
        """Take work again after a system fault was dealt with."""
        with self._fault_lock:
            self._fault = None

    def start(self) -> None:
        if not self._started:
            self._started = True
            for thread in self._threads:
                thread.start()

    def submit(self, staged: Path) -> None:
        """Queue a staged file (blocks while the worker is full)."""
        self.start()
        with self._idle:
            self._in_flight += 1
        self._inbox.put(staged)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every submitted file has its outcome (or was left staged by a fault)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def close(self) -> None:
        """Finish what is in hand, then stop the threads."""
        if self._started:
            self._inbox.put(_STOP)
            for thread in self._threads:
                thread.join()

    # --- stages ---------------------------------------------------------------------------

    def _prepare_loop(self) -> None:
        catalog = open_catalog(self.ingestor.ws.catalog)  # each stage thread has its own connection
        try:
            while (item := self._inbox.get()) is not _STOP:
                self._stage(item, lambda staged: self.ingestor.prepare(staged, catalog=catalog), self._to_convert,
                            catalog)
        finally:
            catalog.close()
            self._to_convert.put(_STOP)

    def _convert_loop(self) -> None:
        catalog = open_catalog(self.ingestor.ws.catalog)
        try:
            while (item := self._to_convert.get()) is not _STOP:
                self._stage(item, self.ingestor.convert, self._to_finish, catalog)
        finally:
            catalog.close()
            self._to_finish.put(_STOP)

    def _finish_loop(self) -> None:
        while (item := self._to_finish.get()) is not _STOP:
            self._stage(item, self.ingestor.finish, None, self.ingestor.catalog)

    def _stage(self, item: Path | Prepared | Converted, step: Callable, following: queue.Queue | None,
               catalog: Catalog) -> None:
        """Run one stage for one file and decide what the step's result or signal means (see the
        module's docstring). A file that keeps meeting system faults while others get through is
        failed (:meth:`Ingestor.system_fault`)."""
        if self._fault is not None:
            self._done()  # after a system fault, files stay staged for the next start
            return
        staged = _staged_path(item)
        try:
            try:
                result = step(item)
            except FileFault as fault:
                result = fail_staged(self.ingestor.ws, catalog, staged, fault.step, str(fault))
        except Waiting as waiting:
            result = Outcome(staged.name, Status.WAITING, staged, reason=waiting.reason, case_ids=waiting.case_ids)
        except Exception as exc:
            if isinstance(exc, SystemFault):
                fault = str(exc)
            else:  # a bug must not strand the pipeline; the file stays staged
                # Where it happened, never the message (it may quote case content).
                frame = traceback.extract_tb(exc.__traceback__)[-1]
                log.error("Unexpected %s at %s:%d (%s) while processing a file; it stays staged",
                          type(exc).__name__, Path(frame.filename).name, frame.lineno, frame.name)
                fault = f"Unexpected error ({type(exc).__name__})."
            result = self.ingestor.system_fault(staged, fault)
            if result is None:
                with self._fault_lock:
                    self._fault = self._fault or fault
                self._done()
                return
        if isinstance(result, Outcome):
            try:
                self._on_outcome(result)
            finally:
                self._done()
        elif following is not None:
            following.put(result)

    def _done(self) -> None:
        with self._idle:
            self._in_flight -= 1
            self._idle.notify_all()


def _staged_path(item: Path | Prepared | Converted) -> Path:
    if isinstance(item, Converted):
        return item.prepared.staged
    if isinstance(item, Prepared):
        return item.staged
    return item
