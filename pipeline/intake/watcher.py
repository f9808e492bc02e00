"""The watched inbox (``accord watch``, and ``accord process`` as its one-shot mode): every file
taken exactly once, none ever lost.

Files are noticed through watchdog's native observer (or by polling, for network
shares, and whenever native events cannot be had), plus a periodic full rescan as
a safety net. A file is taken only once its size and modification time have not
changed for ``watch.stable_seconds``; it is claimed by an atomic rename into
staging and handed to one of the workers, each with its own warm LibreOffice.

A system fault (full disk, unwritable archive or catalog, no LibreOffice) stops
intake with one clear log line; the files in hand stay staged and are tried again
after a back-off, so nothing that is not at fault is failed. The file that met the
fault is tried again only after other files went through (or alone, when there are
none): if it meets a fault again then, the fault is its own and it is failed, so no
single file can hold intake hostage. A file that waits for its case (an event file
whose case file is still on its way) is tried again when something is recorded for
that case, and fails with its reason after ``watch.wait_minutes``. On start, staged
files are resumed and the archive is reconciled with the catalog.

:func:`run_once` (``accord process``) takes the inbox once: the whole batch is claimed first and
taken in a fixed order (case files, then signed copies, then event files; files that met a system
fault last); a file still waiting for its case at the end fails with its reason, and after a system
fault one more round tries the other files, so a file that keeps meeting faults while the others go
through is set aside instead of stopping every run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from pipeline.cases import casebook
from pipeline.cases.rubric import Rubric, load_rubric
from pipeline.config import Config, ConverterSettings
from pipeline.documents.convert import Converter
from pipeline.documents.seal import make_sealer
from pipeline.documents.templates import TemplateSpec, load_templates
from pipeline.errors import SystemFault
from pipeline.governance import sweep
from pipeline.governance.duedates import recompute_due
from pipeline.governance.retention import RetentionPolicy, load_retention
from pipeline.intake import inbox
from pipeline.intake.batch import WaitingRoom, batch_order
from pipeline.intake.ingest import Ingestor
from pipeline.intake.outcomes import Outcome, Status, fail_staged
from pipeline.intake.reconcile import reconcile, register_cases
from pipeline.intake.worker import Worker
from pipeline.records import archive
from pipeline.records.catalog import Catalog
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

log = logging.getLogger("accord.watch")
STATUS_FILE = "watcher.json"
_TICK = 0.2
_PER_WORKER = 4
_MAX_BACKOFF = 300.0


@dataclass
class _Seen:
    size: int
    mtime_ns: int
    since: float


@dataclass
class WatchStats:
    started: float = field(default_factory=time.time)
    outcomes: dict[str, int] = field(default_factory=dict)
    fault: str | None = None


# --- what both modes share ---------------------------------------------------------------------


def prepare(ws: Workspace) -> None:
    """Create missing folders and clear what a crash left half-written in the archive."""
    ws.ensure_dirs()
    archive.clean_temporaries(ws.archive)


def recover(ws: Workspace, catalog: Catalog, templates: dict[str, TemplateSpec], office_name: str,
            retention: RetentionPolicy, rubric: Rubric) -> list[str]:
    """What every start does after a crash: reconcile the archive with the catalog, register the
    cases of records made before cases were kept, summarise the cases never summarised for the
    reports, and compute the due dates a crash left
    uncomputed. Returns what reconciling found, in words."""
    lines = reconcile(ws, catalog, templates, office_name, retention, rubric).lines()
    registered = register_cases(ws, catalog, templates)
    if registered:
        lines.append(f"{len(registered)} case(s) registered from records made before cases were kept")
    for case_id in casebook.without_summary(catalog):
        with catalog.transaction():
            casebook.refresh(catalog, case_id, dt.date.today())
    missing = catalog.cases_without_due()
    if missing:
        recompute_due(catalog, retention, actor="accord", why="due date missing after an interruption",
                      case_ids=missing)
    return lines


# --- accord process: one pass ---------------------------------------------------------------------

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


def run_once(ws: Workspace, ingestor: Ingestor, *,
                  on_start: Callable[[int], None] | None = None,
                  on_outcome: Callable[[Outcome], None] | None = None) -> RunSummary:
    """Process everything in the inbox once with one worker (``accord process``; see the module's docstring)."""
    prepare(ws)
    summary = RunSummary()
    summary.reconciled = recover(ws, ingestor.catalog, ingestor.templates, ingestor.config.office.name,
                                 ingestor.retention, ingestor.rubric)
    resumed, arrived = inbox.staged(ws, tidy=True), inbox.candidates(ws)
    claimed = [p for p in (inbox.claim(ws, path) for path in arrived) if p is not None]
    queue = deque(batch_order(resumed + claimed))
    if on_start:
        on_start(len(queue))
    lock = threading.Lock()
    waiting = WaitingRoom()

    def collect(outcome: Outcome) -> None:
        with lock:
            if outcome.status == Status.WAITING:
                waiting.wait(outcome, 0.0)
                return
            summary.outcomes.append(outcome)
            queue.extend(waiting.released_by(outcome))
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
        for path, outcome in waiting.empty():
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


# --- accord watch ---------------------------------------------------------------------------------


class _Events(FileSystemEventHandler):
    """Turns file-system events on the inbox into names to look at."""

    def __init__(self, folder: Path, notice: Callable[[Path], None]):
        self._folder = str(folder)
        self._notice = notice

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for raw in (getattr(event, "dest_path", ""), event.src_path):
            path = os.fsdecode(raw) if raw else ""
            if path and os.path.dirname(path) == self._folder:
                self._notice(Path(path))


class Watcher:
    """Watches one workspace's inbox until :meth:`stop`; run it with :meth:`run`."""

    def __init__(self, ws: Workspace, config: Config, *, workers: int | None = None,
                 poll_seconds: float | None = None, on_outcome: Callable[[Outcome], None] | None = None,
                 converter_factory: Callable[[ConverterSettings], Any] = Converter):
        """``converter_factory`` makes each worker's converter (a warm LibreOffice; the tests may give
        one that hands out stored PDFs)."""
        self.ws = ws
        self._converter_factory = converter_factory
        self.config = config
        self.worker_count = workers or config.watch.workers or os.cpu_count() or 1
        poll = config.watch.poll_seconds if poll_seconds is None else poll_seconds
        self.poll_seconds = poll
        self._on_outcome = on_outcome
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._seen: dict[Path, _Seen] = {}
        self._noticed: set[Path] = set()
        self.stats = WatchStats()
        self._workers: list[Worker] = []
        self._converters: list[Converter] = []
        self._retry_at: float | None = None
        self._backoff = config.watch.retry_after_fault_seconds
        self.observer_kind = ""
        self._sealer = None
        self._sweep_thread: threading.Thread | None = None
        self._waiting = WaitingRoom()
        """Staged files waiting for their case (since when: monotonic seconds)."""
        self._suspects: list[Path] = []
        """Staged files that met a system fault, held back until other files go through."""
        self._released: list[Path] = []
        """Staged files to dispatch again (set by outcome callbacks, dispatched by the main loop)."""

    # --- life cycle -----------------------------------------------------------------------

    def stop(self) -> None:
        """Take no new files; :meth:`run` returns once the documents in hand are finished."""
        self._stop.set()

    def run(self) -> WatchStats:
        prepare(self.ws)
        templates = load_templates(self.ws.templates)
        retention = load_retention(self.ws.policies, {t.record_class for t in templates.values()})
        self._catalog = open_catalog(self.ws.catalog)  # the main loop's own connection
        for line in recover(self.ws, self._catalog, templates, self.config.office.name, retention,
                            load_rubric(self.ws.policies)):
            log.warning("reconcile: %s", line)
        self._start_workers()
        observer = self._start_observer()
        try:
            for staged in batch_order(inbox.staged(self.ws, tidy=True)):
                log.info("resuming %s (claimed before the last stop)", inbox.printable_name(staged.name))
                self._dispatch(staged)
            self._rescan()
            next_rescan = time.monotonic() + self.config.watch.rescan_seconds
            next_status = 0.0
            next_sweep = self._next_sweep_time()
            while not self._stop.is_set():
                now = time.monotonic()
                if time.time() >= next_sweep:
                    self._start_sweep()
                    next_sweep = self._next_sweep_time()
                if now >= next_rescan:
                    self._rescan()
                    next_rescan = now + self.config.watch.rescan_seconds
                self._handle_faults(now)
                if self._retry_at is None:
                    self._dispatch_released()
                    self._expire_waiting(now)
                    self._take_stable(now)
                if now >= next_status:
                    self.write_status()
                    next_status = now + self.config.watch.status_seconds
                self._stop.wait(_TICK)
            log.info("stopping: finishing the documents in hand, taking no new ones")
        finally:
            observer.stop()
            if self._sweep_thread is not None:
                self._sweep_thread.join()
            for worker in self._workers:
                worker.wait_idle()
            for worker in self._workers:
                worker.close()
                worker.ingestor.close()
            for converter in self._converters:
                converter.close()
            observer.join(timeout=5)
            self.write_status(running=False)
            self._catalog.close()
        return self.stats

    def _start_workers(self) -> None:
        templates = load_templates(self.ws.templates)
        sealer = self._sealer = make_sealer(self.ws, self.config)
        for n in range(self.worker_count):
            converter = self._converter_factory(self.config.converter)
            self._converters.append(converter)
            ingestor = Ingestor(self.ws, self.config, converter, templates=templates, sealer=sealer)
            self._workers.append(Worker(ingestor, self._outcome, name=f"worker{n + 1}"))
        starters = [threading.Thread(target=c.start, daemon=True) for c in self._converters]
        for t in starters:
            t.start()
        for t in starters:
            t.join()
        for worker in self._workers:
            worker.start()
        log.info("watching %s with %d worker(s) (%s)", self.ws.inbox, len(self._workers),
                 f"polling every {self.poll_seconds:g} s" if self.poll_seconds else "file events")

    def _start_observer(self):
        handler = _Events(self.ws.inbox, self._notice)
        if self.poll_seconds:
            observer = PollingObserver(timeout=self.poll_seconds)
            self.observer_kind = "polling"
        else:
            observer = Observer()
            self.observer_kind = "native"
        observer.schedule(handler, str(self.ws.inbox), recursive=False)
        try:
            observer.start()
        except OSError as exc:
            log.warning("native file events are unavailable (%s); polling every 2 s instead", exc.strerror or exc)
            observer = PollingObserver(timeout=2.0)
            observer.schedule(handler, str(self.ws.inbox), recursive=False)
            observer.start()
            self.observer_kind = "polling"
        return observer

    # --- noticing and taking files ----------------------------------------------------------

    def _notice(self, path: Path) -> None:
        if inbox.is_ignored(path.name):
            return
        with self._lock:
            self._noticed.add(path)

    def _rescan(self) -> None:
        for path in inbox.candidates(self.ws):
            self._notice(path)

    def _take_stable(self, now: float, limit: int | None = None) -> int:
        """Claim the files that stopped changing (at most ``limit``) and hand them to the workers;
        returns how many."""
        taken = 0
        with self._lock:
            noticed, self._noticed = self._noticed, set()
        for path in noticed:
            self._seen.setdefault(path, _Seen(-1, -1, now))
        for path in sorted(self._seen, key=lambda p: self._seen[p].since):
            if self._stop.is_set() or self._retry_at is not None or (limit is not None and taken >= limit):
                return taken
            state = self._file_state(path)
            if state is None:
                del self._seen[path]
                continue
            size, mtime_ns, special = state
            seen = self._seen[path]
            if (size, mtime_ns) != (seen.size, seen.mtime_ns):
                self._seen[path] = _Seen(size, mtime_ns, now)
                if not special:
                    continue
            elif now - seen.since < self.config.watch.stable_seconds and not special:
                continue
            worker = self._least_busy()
            if worker is None:
                return taken  # every worker is full; the file waits, unclaimed, in the inbox
            del self._seen[path]
            staged = inbox.claim(self.ws, path)
            if staged is not None:
                worker.submit(staged)
                taken += 1
        return taken

    @staticmethod
    def _file_state(path: Path) -> tuple[int, int, bool] | None:
        """(size, mtime in ns, whether it is a link or special file), or ``None`` when it is gone."""
        try:
            st = path.lstat()
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(st.st_mode):
            return None
        return st.st_size, st.st_mtime_ns, not stat.S_ISREG(st.st_mode)

    def _least_busy(self) -> Worker | None:
        worker = min(self._workers, key=lambda w: w.in_flight)
        return worker if worker.in_flight < _PER_WORKER else None

    def _dispatch(self, staged: Path) -> None:
        while not self._stop.is_set():
            worker = self._least_busy()
            if worker is not None:
                worker.submit(staged)
                return
            time.sleep(_TICK)
        # stopping: the file stays staged and is resumed on the next start

    # --- outcomes and faults --------------------------------------------------------------

    def _outcome(self, outcome: Outcome) -> None:
        with self._lock:
            if outcome.status == Status.WAITING:
                self._waiting.wait(outcome, time.monotonic())
                log.info("waiting %s: %s", outcome.source_name, outcome.reason,
                         extra={"accord": {"file": outcome.source_name, "outcome": "waiting",
                                           "cases": list(outcome.case_ids)}})
                return
            # Something went through: files that met a fault may go again, and files waiting
            # for a case that just got a record are tried again.
            self._released.extend(self._suspects)
            self._suspects.clear()
            self._released.extend(self._waiting.released_by(outcome))
            self.stats.outcomes[outcome.status] = self.stats.outcomes.get(outcome.status, 0) + 1
        timings = " ".join(f"{k}={v * 1000:.0f}ms" for k, v in outcome.timings.items())
        fields = {"file": outcome.source_name, "outcome": outcome.status, "record_id": outcome.record_id,
                  "step": outcome.step, "timings_ms": {k: round(v * 1000, 1) for k, v in outcome.timings.items()}}
        if outcome.status == Status.FAILED:
            log.warning("failed %s at %s: %s", outcome.source_name, outcome.step, outcome.reason,
                        extra={"accord": {**fields, "reason": outcome.reason}})
        else:
            detail = timings if outcome.status == Status.RECORDED else (outcome.reason or "")
            log.info("%s %s%s %s", outcome.status, outcome.source_name,
                     f" -> {outcome.record_id}" if outcome.record_id else "", detail, extra={"accord": fields})
        if self._on_outcome:
            self._on_outcome(outcome)

    def _dispatch_released(self) -> None:
        with self._lock:
            released, self._released = self._released, []
        for staged in batch_order([p for p in released if p.exists()]):
            self._dispatch(staged)

    def _expire_waiting(self, now: float) -> None:
        """Fail the files that waited ``watch.wait_minutes`` for a case that got no record."""
        with self._lock:
            expired = self._waiting.expired(now, self.config.watch.wait_minutes * 60)
        for path, waiting in expired:
            try:
                outcome = fail_staged(self.ws, self._catalog, path, "intake",
                                      waiting.reason or "The file waited for a case that has no record.")
            except (SystemFault, OSError) as exc:
                log.error("a file that waited could not be failed: %s", exc)
                continue
            self._outcome(outcome)

    def _handle_faults(self, now: float) -> None:
        fault = next((w.fault for w in self._workers if w.fault), None)
        if fault and self._retry_at is None:
            self.stats.fault = fault
            self._retry_at = now + self._backoff
            log.error("intake stopped: %s Files in hand stay staged; trying again in %.0f s.", fault, self._backoff)
            return
        if self._retry_at is None or now < self._retry_at:
            return
        if any(w.in_flight for w in self._workers):
            return
        with self._lock:
            self._released.clear()  # every staged file is looked at now
            leftovers = [p for p in inbox.staged(self.ws) if p not in self._waiting and p not in self._suspects]
            held = list(self._suspects)
            self._suspects.clear()
        for worker in self._workers:
            worker.clear_fault()
        self._retry_at = None
        fresh = [p for p in leftovers if inbox.fault_record(p) is None]
        suspects = sorted((p for p in [*leftovers, *held] if p not in fresh),
                          key=lambda p: inbox.fault_record(p).count if inbox.fault_record(p) else 0)
        log.info("trying again: %d staged file(s)", len(leftovers) + len(held))
        # Files in hand when the fault struck go first. Else, while only one file has met the fault,
        # one new file from the inbox tells a fault of the system from a fault of that file; once two
        # files have met it, only one of them is tried, and the inbox waits for the fix.
        if fresh:
            for staged in batch_order(fresh):
                self._dispatch(staged)
        elif not (len(suspects) < 2 and self._take_stable(now, limit=1)) and suspects:
            self._dispatch(suspects.pop(0))
        with self._lock:
            self._suspects.extend(suspects)  # tried again once something goes through
        self._await_retry_result()

    def _await_retry_result(self) -> None:
        """Wait for the retried files; double the back-off if the fault is still there."""
        for worker in self._workers:
            worker.wait_idle()
        fault = next((w.fault for w in self._workers if w.fault), None)
        if fault:
            self._backoff = min(self._backoff * 2, _MAX_BACKOFF)
            self._retry_at = time.monotonic() + self._backoff  # intake stays stopped until then
            self.stats.fault = fault
            log.error("still failing: %s Trying again in %.0f s.", fault, self._backoff)
            return
        if self.stats.fault:
            log.info("intake resumed after: %s", self.stats.fault)
        self.stats.fault = None
        self._backoff = self.config.watch.retry_after_fault_seconds

    # --- the daily sweep ---------------------------------------------------------------------

    def _next_sweep_time(self) -> float:
        """The next moment (epoch seconds) at the retention policy's sweep time of day (local time)."""
        policy = load_retention(self.ws.policies, {t.record_class for t in load_templates(self.ws.templates).values()})
        hour, minute = (int(x) for x in policy.sweep_time.split(":")[:2])
        now = dt.datetime.now()
        at = now.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= now:
            at += dt.timedelta(days=1)
        return at.timestamp()

    def _start_sweep(self) -> None:
        if self._sweep_thread is not None and self._sweep_thread.is_alive():
            log.warning("the previous retention sweep is still running; today's is skipped")
            return
        self._sweep_thread = threading.Thread(target=self._sweep, name="sweep", daemon=True)
        self._sweep_thread.start()

    def _sweep(self) -> None:
        converter, sealer = self._converters[0], self._sealer
        try:
            policy = load_retention(self.ws.policies,
                                    {t.record_class for t in load_templates(self.ws.templates).values()})
            with open_catalog(self.ws.catalog) as catalog:
                report = sweep.run_sweep(self.ws, catalog, self.config, policy, dt.date.today(), actor="accord",
                                         today=dt.date.today(), sealing=sweep.Sealing(converter, sealer))
            fixity = report.fixity
            log.info("retention sweep: %d due, %d held, proposal %s, fixity %d checked (%d changed, %d missing, "
                     "%d untracked), audit anchored at %s", report.due, report.held, report.proposal_id or "none",
                     fixity.checked, len(fixity.changed), len(fixity.missing), len(fixity.untracked), report.anchored,
                     extra={"accord": {"sweep": {"due": report.due, "held": report.held,
                                                 "proposal": report.proposal_id}}})
        except Exception as exc:  # the watcher goes on; the sweep is tried again tomorrow
            log.error("retention sweep failed: %s", type(exc).__name__)

    # --- status ---------------------------------------------------------------------------

    def write_status(self, running: bool = True) -> None:
        """A small JSON file for ``accord status`` (written atomically)."""
        state = self.ws.state
        state.mkdir(mode=0o700, exist_ok=True)
        data = {
            "pid": os.getpid(),
            "running": running,
            "started": self.stats.started,
            "heartbeat": time.time(),
            "observer": self.observer_kind,
            "waiting_for_stable": len(self._seen),
            "waiting_for_case": len(self._waiting),
            "fault": self.stats.fault,
            "outcomes": dict(self.stats.outcomes),
            "converters": [
                {"pid": c.pid, "alive": c.alive(), "conversions": c.conversions, "restarts": c.restarts}
                for c in self._converters
            ],
        }
        tmp = state / f".{STATUS_FILE}.tmp"
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, state / STATUS_FILE)


def read_status(ws: Workspace) -> dict | None:
    path = ws.state / STATUS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None

