"""The watched inbox (``accord watch``): real file-system events, real LibreOffice, real processes.

Each test gets a fresh workspace in tmp_path with short waits (``watch.stable_seconds``
0.5 s unless a test needs otherwise), drops case files made from the shared example
(each with a case id of its own, so each is a distinct record) and waits, with a
deadline, for what the watcher must do.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import psutil
import pytest

from pipeline.documents.convert import _remove_pipe_sockets
from pipeline.intake import inbox
from pipeline.intake.watcher import Watcher, read_status
from pipeline.records import events
from pipeline.records.catalog import Catalog
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

from .helpers import ROOT, stored_converter_factory

pytestmark = pytest.mark.slow

EXAMPLE_CASE_ID = "ADR-2026-0142"
UNKNOWN_CASE_ID = "ADR-2026-9999"
START_TIMEOUT = 90.0  # a watcher with a cold LibreOffice, on a busy machine
POLL = 0.2


# --------------------------------------------------------------------------- helpers


def configure(ws: Workspace, *, stable: float = 0.5, rescan: float = 5, retry: float = 1) -> None:
    ws.config_file.write_text(
        f"watch:\n  stable_seconds: {stable}\n  rescan_seconds: {rescan}\n  retry_after_fault_seconds: {retry}\n",
        encoding="utf-8",
    )


def case_id(n: int) -> str:
    return f"ADR-2026-{1000 + n}"


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               describe: Callable[[], str] | None = None, interval: float = POLL) -> Any:
    """Poll ``condition`` until it is truthy (and return it); fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() >= deadline:
            detail = f"\n{describe()}" if describe else ""
            pytest.fail(f"timed out after {timeout:g} s waiting until {what}{detail}", pytrace=False)
        time.sleep(interval)


def accounted_for(ws: Workspace, catalog: Catalog) -> int:
    """Inputs with an outcome in the catalog: records and failures."""
    inv = inventory(ws, catalog)
    return len(inv.records) + len(inv.failures)


def _files_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_symlink() or not p.is_dir())


@dataclass
class Inventory:
    """Where everything is: catalog rows, archive folders, and the inbox's folders."""

    records: list[dict]
    failures: list[dict]
    events: list[dict]
    archive_folders: list[str]
    archive_temporaries: list[str]
    waiting: list[str]  # entries directly in inbox/
    staged: list[str]  # files in inbox/.staging/claim-*/
    staging_entries: list[str]  # everything in inbox/.staging/ (claim folders)
    processed: list[str]  # inputs in inbox/processed/*/ (notes left out)
    notes: list[str]
    failed: list[str]  # inputs in inbox/failed/ (reasons left out)

    @property
    def case_ids(self) -> list[str]:
        return sorted(r["case_id"] for r in self.records)

    @property
    def record_ids(self) -> list[str]:
        return sorted(r["record_id"] for r in self.records)

    def __str__(self) -> str:
        def short(items: list[str]) -> str:
            return f"{len(items)} {items[:15]}{' ...' if len(items) > 15 else ''}"

        return (
            f"records: {short(self.case_ids)}\nfailures: {short([f['source_name'] for f in self.failures])}\n"
            f"archive folders: {short(self.archive_folders)}\narchive temporaries: {short(self.archive_temporaries)}\n"
            f"inbox: {short(self.waiting)}\nstaged: {short(self.staged)}\n"
            f"staging entries: {short(self.staging_entries)}\nprocessed: {short(self.processed)}\n"
            f"notes: {short(self.notes)}\nfailed: {short(self.failed)}"
        )


def inventory(ws: Workspace, catalog: Catalog) -> Inventory:
    failures = [dict(r) for r in catalog.db.execute("SELECT * FROM failures ORDER BY id")]
    events = [dict(r) for r in catalog.db.execute("SELECT * FROM events ORDER BY id")]
    processed = sorted(p.name for p in ws.processed.glob("*/*"))
    failed = [p.name for p in _files_in(ws.failed)]
    return Inventory(
        records=list(catalog.all_records()),
        failures=failures,
        events=events,
        archive_folders=sorted(p.name for p in ws.archive.glob("*/*") if not p.name.startswith(".")),
        archive_temporaries=sorted(str(p.relative_to(ws.archive)) for p in ws.archive.glob("*/.tmp-*")),
        waiting=[p.name for p in _files_in(ws.inbox)],
        staged=sorted(p.name for p in inbox.staged(ws)),
        staging_entries=sorted(p.name for p in ws.staging.iterdir()) if ws.staging.is_dir() else [],
        processed=[n for n in processed if not n.endswith(inbox.NOTE_SUFFIX)],
        notes=[n for n in processed if n.endswith(inbox.NOTE_SUFFIX)],
        failed=[n for n in failed if not n.endswith((inbox.REASON_SUFFIX, inbox.REASON_JSON_SUFFIX))],
    )


class RunningWatcher:
    """An in-process :class:`Watcher` running in a thread, with every outcome it reported."""

    def __init__(self, ws: Workspace, **kwargs: Any):
        self.ws = ws
        self.outcomes: list = []
        self.watcher = Watcher(ws, ws.load_config(), on_outcome=self.outcomes.append, **kwargs)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="watcher-under-test", daemon=True)

    def _run(self) -> None:
        try:
            self.watcher.run()
        except BaseException as exc:  # noqa: BLE001  (re-raised in the test's thread)
            self.error = exc

    def start(self) -> RunningWatcher:
        self.thread.start()
        wait_until(lambda: self.error is not None or not self.thread.is_alive() or self._status_is_ours(),
                   START_TIMEOUT, "the watcher has started and written its status")
        self._raise()
        return self

    def _status_is_ours(self) -> bool:
        status = read_status(self.ws)
        return bool(status and status.get("running") and status.get("started") == self.watcher.stats.started)

    def stop(self, timeout: float = 60) -> None:
        self.watcher.stop()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"the watcher did not stop within {timeout:g} s"
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            raise AssertionError(f"Watcher.run() raised {self.error!r}") from self.error


@pytest.fixture
def ws(workspace) -> Workspace:
    configure(workspace)
    return workspace


@pytest.fixture
def catalog(ws):
    cat = open_catalog(ws.catalog)
    yield cat
    cat.close()


@pytest.fixture
def case_yaml(examples) -> Callable[[int], bytes]:
    """The example resolution agreement with case id ``ADR-2026-1000+n``: a distinct record for each n."""
    text = (examples / "resolution-agreement.yaml").read_text(encoding="utf-8")
    assert text.count(EXAMPLE_CASE_ID) == 1, "the example's case id is expected exactly once"
    return lambda n: text.replace(EXAMPLE_CASE_ID, case_id(n)).encode("utf-8")


@pytest.fixture
def start_watcher():
    """Start an in-process watcher (1 worker unless told) converting with the stored PDFs (``real=True``:
    with LibreOffice, for the tests of the watcher's LibreOffice); every one is stopped at teardown."""
    started: list[RunningWatcher] = []

    def start(ws: Workspace, real: bool = False, **kwargs: Any) -> RunningWatcher:
        kwargs.setdefault("workers", 1)
        if not real:
            kwargs.setdefault("converter_factory", stored_converter_factory)
        running = RunningWatcher(ws, **kwargs)
        started.append(running)
        return running.start()

    yield start
    for running in started:
        if running.thread.is_alive():
            running.stop()


def _alive(processes: list[psutil.Process]) -> list[str]:
    """The processes that still run (a zombie does not run; a reused pid is not the same process)."""
    found = []
    for proc in processes:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{proc.pid} {proc.name()} (process group {os.getpgid(proc.pid)})")
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    return found


class WatchProcess:
    """``accord --log-format json watch --workers 1`` as a process of its own (for kill -9 and SIGTERM)."""

    def __init__(self, ws: Workspace, log: Path):
        self.ws = ws
        self.log = log
        self.proc: subprocess.Popen | None = None
        self.converter_pids: list[int] = []
        self.converter_args: list[list[str]] = []  # each LibreOffice's command line (its profile and pipe)
        self.family: list[psutil.Process] = []  # LibreOffice and its UNO bridge, started by this watcher

    def start(self) -> WatchProcess:
        command = [sys.executable, "-m", "pipeline.cli", "--log-format", "json", "watch",
                   "--workspace", str(self.ws.root), "--workers", "1"]
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        status = wait_until(self._ready, START_TIMEOUT, "the watcher process has started its LibreOffice",
                            self.log_tail)
        self.converter_pids = [c["pid"] for c in status["converters"]]
        self.converter_args = [psutil.Process(pid).cmdline() for pid in self.converter_pids]
        self.family = [psutil.Process(pid) for pid in self.converter_pids]
        self.family += [p for p in psutil.Process(self.proc.pid).children(recursive=True) if p not in self.family]
        return self

    def _ready(self) -> dict | None:
        if self.proc.poll() is not None:
            pytest.fail(f"the watcher exited early with {self.proc.returncode}\n{self.log_tail()}", pytrace=False)
        status = read_status(self.ws)
        if (status and status.get("pid") == self.proc.pid and status.get("running") and status["converters"]
                and all(c["pid"] and c["alive"] for c in status["converters"])):
            return status
        return None

    @staticmethod
    def _profile(cmdline: list[str]) -> Path:
        uri = next(a.split("=", 1)[1] for a in cmdline if a.startswith("-env:UserInstallation="))
        return Path(unquote(urlparse(uri).path))

    @staticmethod
    def _accept_pipe(cmdline: list[str]) -> str:
        accept = next(a for a in cmdline if a.startswith("--accept=pipe,name="))
        return accept.split("name=", 1)[1].split(";", 1)[0]

    def converter_io_dir(self) -> Path:
        """Where the converter puts the document it is converting (beside its LibreOffice profile)."""
        return self._profile(self.converter_args[0]).parent / "io"

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self, timeout: float = 30) -> int:
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the watcher did not exit within {timeout:g} s of SIGTERM\n{self.log_tail()}", pytrace=False)

    def log_lines(self) -> list[str]:
        return self.log.read_text(encoding="utf-8", errors="replace").splitlines() if self.log.exists() else []

    def log_tail(self, lines: int = 30) -> str:
        return "watcher log:\n" + "\n".join(self.log_lines()[-lines:])

    def cleanup(self) -> None:
        """Kill what is left of this watcher: its own process group, then its LibreOffice and bridge."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        for proc in self.family:
            try:
                if proc.is_running():
                    proc.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(self.family, timeout=10)
        # A killed watcher cannot remove its LibreOffice's private folder and pipe sockets: do it for it.
        for cmdline in self.converter_args:
            profile = self._profile(cmdline)
            _remove_pipe_sockets(profile, self._accept_pipe(cmdline))
            shutil.rmtree(profile.parent, ignore_errors=True)


@pytest.fixture
def watch_process(tmp_path):
    """Start ``accord watch`` processes; anything of theirs still alive is killed at teardown."""
    started: list[WatchProcess] = []

    def start(ws: Workspace) -> WatchProcess:
        proc = WatchProcess(ws, tmp_path / f"watch-{len(started) + 1}.log")
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.cleanup()


def drop(ws: Workspace, name: str, data: bytes) -> Path:
    path = ws.inbox / name
    path.write_bytes(data)
    return path


def accord_status(ws: Workspace) -> dict:
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "status", "--json", "--workspace", str(ws.root)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


# --------------------------------------------------------------------------- tests


class TestIntake:
    def test_files_in_inbox_at_start_are_processed(self, ws, catalog, case_yaml, start_watcher):
        """Files already waiting in the inbox when the watcher starts are each recorded and moved to processed/."""
        names = [f"waiting-{n}.yaml" for n in range(1, 4)]
        for n, name in enumerate(names, start=1):
            drop(ws, name, case_yaml(n))
        running = start_watcher(ws)
        wait_until(lambda: len(inventory(ws, catalog).records) == 3, 60, "the 3 waiting files are recorded",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(n) for n in range(1, 4)]
        assert sorted(inv.processed) == names and inv.waiting == [] and inv.staged == []
        assert inv.failures == [] and inv.failed == []
        assert sorted(o.status for o in running.outcomes) == ["recorded"] * 3

    def test_slow_writer_is_not_taken_before_complete(self, ws, catalog, case_yaml, start_watcher):
        """A file written in chunks for ~3 s stays in the inbox while written and ends as one whole record."""
        configure(ws, stable=1.0)
        running = start_watcher(ws)
        data = case_yaml(1)
        size = -(-len(data) // 7)
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        path = ws.inbox / "slow.yaml"
        claimed_early: list[str] = []
        errors: list[BaseException] = []

        def write_slowly() -> None:
            try:
                with open(path, "wb") as fh:
                    for number, chunk in enumerate(chunks, start=1):
                        fh.write(chunk)
                        fh.flush()
                        time.sleep(0.5)
                        if not path.exists():
                            claimed_early.append(f"taken from the inbox after chunk {number} of {len(chunks)}")
            except BaseException as exc:  # noqa: BLE001  (reported by the test)
                errors.append(exc)

        writer = threading.Thread(target=write_slowly, name="slow-writer")
        writer.start()
        writer.join(30)
        assert not writer.is_alive() and not errors, errors
        assert claimed_early == [], claimed_early
        wait_until(lambda: inventory(ws, catalog).records, 30, "the slowly written file is recorded",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.failures == [] and inv.failed == []
        (record,) = inv.records
        assert record["case_id"] == case_id(1)
        assert record["source_sha256"] == hashlib.sha256(data).hexdigest(), "the record was made from a partial file"
        assert inv.processed == ["slow.yaml"]

    def test_burst_of_100_is_processed_exactly_once(self, ws, catalog, case_yaml, start_watcher):
        """100 files dropped at once (half renamed in from temporary names, a few touched again) make 100 records, once each."""
        running = start_watcher(ws, workers=2)
        names = [f"burst-{n:03d}.yaml" for n in range(1, 101)]
        for n, name in enumerate(names, start=1):
            if n % 2:
                drop(ws, name, case_yaml(n))
            else:  # how editors and copy tools save: a temporary name, then a rename
                tmp = drop(ws, f".{name}.tmp", case_yaml(n))
                os.rename(tmp, ws.inbox / name)
        touched = 0
        for _ in range(3):  # more events for files already noticed, some already claimed
            for name in names[::10]:
                try:
                    os.utime(ws.inbox / name)
                    touched += 1
                except FileNotFoundError:
                    pass
            time.sleep(0.3)
        assert touched, "no file was still in the inbox to be touched during the burst"
        wait_until(lambda: accounted_for(ws, catalog) >= 100,
                   180, "the 100 files are processed", lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.failures == [] and inv.failed == [], [(f["source_name"], f["reason"]) for f in inv.failures]
        assert inv.case_ids == [case_id(n) for n in range(1, 101)], f"each file recorded once, all distinct:\n{inv}"
        assert sorted(inv.processed) == names, "each input moved to processed/ exactly once"
        assert inv.notes == [], f"files were processed again as duplicates: {inv.notes}"
        assert inv.staged == [] and inv.staging_entries == [] and inv.waiting == [], str(inv)
        assert inv.archive_folders == inv.record_ids, str(inv)
        assert sorted(o.status for o in running.outcomes) == ["recorded"] * 100, running.outcomes
        assert len({o.source_name for o in running.outcomes}) == 100


class TestInboxHygiene:
    LEFT_ALONE = ("~$draft.docx", ".~lock.case.yaml#", "x.tmp", "y.part", "z.crdownload", ".hidden.yaml",
                  "Thumbs.db", "desktop.ini")

    def test_temporary_lock_and_hidden_files_are_left_alone(self, ws, catalog, case_yaml, start_watcher):
        """Editor, download and system files beside a real case file are neither taken nor changed."""
        before_start, after_start = self.LEFT_ALONE[::2], self.LEFT_ALONE[1::2]
        for name in before_start:  # seen by the first look at the inbox
            drop(ws, name, case_yaml(1))
        running = start_watcher(ws)
        for name in after_start:  # seen through file events
            drop(ws, name, case_yaml(2))
        expected = {name: (ws.inbox / name).read_bytes() for name in self.LEFT_ALONE}
        mtimes = {name: (ws.inbox / name).stat().st_mtime_ns for name in self.LEFT_ALONE}
        drop(ws, "case.yaml", case_yaml(3))
        wait_until(lambda: inventory(ws, catalog).records, 30, "the real case file is recorded",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(3)]
        assert sorted(inv.waiting) == sorted(self.LEFT_ALONE)
        for name in self.LEFT_ALONE:
            path = ws.inbox / name
            assert path.read_bytes() == expected[name] and path.stat().st_mtime_ns == mtimes[name], f"{name} was touched"
        assert inv.failures == [] and inv.failed == [] and inv.staged == [] and inv.processed == ["case.yaml"]

    def test_symlink_is_refused_and_its_target_untouched(self, ws, catalog, case_yaml, start_watcher, tmp_path):
        """A symbolic link in the inbox ends in failed/ with a reason about links; the file it points to is untouched."""
        outside = tmp_path / "outside"
        outside.mkdir()
        target = outside / "case.yaml"
        target.write_bytes(case_yaml(1))
        target_stat = target.stat()
        running = start_watcher(ws)
        (ws.inbox / "linked.yaml").symlink_to(target)
        wait_until(lambda: "linked.yaml" in inventory(ws, catalog).failed, 30, "the link is refused",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.records == [] and inv.archive_folders == []
        assert [f["source_name"] for f in inv.failures] == ["linked.yaml"]
        reason = (ws.failed / ("linked.yaml" + inbox.REASON_SUFFIX)).read_text(encoding="utf-8")
        assert "link" in reason.lower()
        assert "link" in json.loads((ws.failed / ("linked.yaml" + inbox.REASON_JSON_SUFFIX)).read_text())["reason"]
        assert (ws.failed / "linked.yaml").is_symlink(), "the link itself is kept as received"
        assert target.read_bytes() == case_yaml(1)
        assert target.stat().st_mtime_ns == target_stat.st_mtime_ns
        assert not target.is_symlink() and target.stat().st_ino == target_stat.st_ino

    def test_fifo_is_refused_without_hanging(self, ws, catalog, case_yaml, start_watcher):
        """A named pipe in the inbox ends in failed/ unopened, and the watcher goes on to record the next file."""
        running = start_watcher(ws)
        os.mkfifo(ws.inbox / "pipe.yaml")
        wait_until(lambda: "pipe.yaml" in inventory(ws, catalog).failed, 30, "the pipe is refused",
                   lambda: str(inventory(ws, catalog)))
        drop(ws, "after.yaml", case_yaml(1))
        wait_until(lambda: inventory(ws, catalog).records, 30, "the file after the pipe is recorded",
                   lambda: str(inventory(ws, catalog)))
        running.stop(timeout=30)
        inv = inventory(ws, catalog)
        assert stat.S_ISFIFO((ws.failed / "pipe.yaml").lstat().st_mode)
        reason = (ws.failed / ("pipe.yaml" + inbox.REASON_SUFFIX)).read_text(encoding="utf-8")
        assert "not a regular file" in reason
        assert [f["source_name"] for f in inv.failures] == ["pipe.yaml"]
        assert inv.case_ids == [case_id(1)] and inv.staged == [] and inv.waiting == []


KILL_MOMENTS = ("mid-conversion", "first-recorded", "half-recorded")


class TestCrashRecovery:
    BURST = 12

    def _drop_burst(self, ws: Workspace, case_yaml) -> list[str]:
        names = [f"case-{n:02d}.yaml" for n in range(1, self.BURST + 1)]
        for n, name in enumerate(names, start=1):
            drop(ws, name, case_yaml(n))
        return names

    def _kill_at(self, moment: str, proc: WatchProcess, ws: Workspace, catalog: Catalog) -> None:
        if moment == "mid-conversion":
            io_dir = proc.converter_io_dir()

            def converting() -> bool:
                documents = list(io_dir.glob("*.docx"))
                if not documents:
                    return False
                time.sleep(0.1)  # the request has reached LibreOffice; the document is still there
                return any(d.exists() for d in documents)

            wait_until(converting, 60, "a document is being converted", proc.log_tail, interval=0.01)
        else:
            wanted = 1 if moment == "first-recorded" else self.BURST // 2
            wait_until(lambda: catalog.count() >= wanted, 60, f"{wanted} record(s) exist", proc.log_tail,
                       interval=0.02)
        proc.kill()

    @pytest.mark.parametrize("moment", KILL_MOMENTS)
    def test_kill_9_then_restart_accounts_for_every_file_once(self, moment, ws, catalog, case_yaml, watch_process,
                                                             start_watcher):
        """After kill -9 mid-burst and a restart, each input is recorded once, nothing is orphaned, and no LibreOffice survives."""
        first = watch_process(ws)
        names = self._drop_burst(ws, case_yaml)
        self._kill_at(moment, first, ws, catalog)
        killed_at = time.monotonic()
        after_kill = inventory(ws, catalog)
        assert len(after_kill.records) < self.BURST, f"the kill came too late to prove anything:\n{after_kill}"

        restarted = start_watcher(ws)
        wait_until(lambda: accounted_for(ws, catalog) >= self.BURST and not inventory(ws, catalog).staged
                   and not inventory(ws, catalog).waiting,
                   120, "every input is accounted for after the restart", lambda: str(inventory(ws, catalog)))
        restarted.stop()
        inv = inventory(ws, catalog)
        assert len(inv.records) + len(inv.failures) == self.BURST, str(inv)
        assert inv.case_ids == [case_id(n) for n in range(1, self.BURST + 1)], "each case recorded exactly once"
        assert inv.failures == [] and inv.failed == [], "a valid file was failed because of the crash"
        assert sorted(inv.processed) == names, "each input ends in processed/ exactly once"
        assert inv.archive_folders == inv.record_ids, "archive folders and catalog rows differ (an orphan)"
        assert inv.archive_temporaries == []
        assert inv.waiting == [] and inv.staged == []
        assert inv.staging_entries == [], f"claim folders left in staging: {inv.staging_entries}"

        wait_until(lambda: not _alive(first.family), max(0.0, killed_at + 10 - time.monotonic()),
                   "the killed watcher's LibreOffice has gone (within 10 s of the kill)",
                   lambda: f"still running: {_alive(first.family)} (converter pids {first.converter_pids})")

    def test_staged_file_from_a_previous_run_is_resumed(self, ws, catalog, case_yaml, start_watcher):
        """A file left claimed in staging by a crashed run is processed on start, and its claim folder removed."""
        slot = ws.staging / "claim-leftover"
        slot.mkdir(parents=True)
        (slot / "left.yaml").write_bytes(case_yaml(1))
        running = start_watcher(ws)
        wait_until(lambda: inventory(ws, catalog).records, 30, "the staged file is recorded",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(1)] and inv.processed == ["left.yaml"]
        assert inv.staging_entries == [] and inv.archive_folders == inv.record_ids

    def test_empty_claim_folder_from_a_crash_is_tidied_on_start(self, ws, catalog, case_yaml, start_watcher):
        """An empty claim folder (a crash between moving a file out of staging and removing its folder) is removed on start."""
        (ws.staging / "claim-crashed").mkdir(parents=True)
        running = start_watcher(ws)
        drop(ws, "case.yaml", case_yaml(1))
        wait_until(lambda: inventory(ws, catalog).records, 30, "the case file is recorded",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(1)]
        assert inv.staging_entries == [], f"claim folders left in staging after a restart: {inv.staging_entries}"

    def test_killed_libreoffice_is_restarted_and_its_documents_retried(self, ws, catalog, case_yaml, start_watcher):
        """SIGKILL to the converter's LibreOffice in mid-conversion: it is restarted and every document is recorded."""
        running = start_watcher(ws, real=True)
        converter = running.watcher._converters[0]
        soffice = converter.pid
        assert soffice, "the converter's LibreOffice is not running"
        for n in range(1, 5):
            drop(ws, f"case-{n}.yaml", case_yaml(n))

        def converting() -> bool:
            documents = list(converter._io_dir.glob("*.docx"))
            if not documents:
                return False
            time.sleep(0.05)  # the request has reached LibreOffice; the document is still there
            return any(d.exists() for d in documents)

        wait_until(converting, 30, "a document is being converted", interval=0.01)
        os.killpg(soffice, signal.SIGKILL)
        wait_until(lambda: accounted_for(ws, catalog) >= 4, 90,
                   "the 4 documents are processed", lambda: str(inventory(ws, catalog)))
        assert converter.last_failure, "the kill did not land during a conversion"
        assert converter.restarts >= 1 and converter.alive() and converter.pid != soffice
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(n) for n in range(1, 5)]
        assert inv.failures == [] and inv.failed == [] and inv.staged == []
        assert sorted(o.status for o in running.outcomes) == ["recorded"] * 4

    def test_sigterm_stops_cleanly_and_a_restart_finishes(self, ws, catalog, case_yaml, watch_process):
        """SIGTERM mid-burst: exit 0 within 30 s, every input in exactly one place, and a restart records the rest."""
        first = watch_process(ws)
        names = self._drop_burst(ws, case_yaml)
        wait_until(lambda: catalog.count() >= 1, 60, "the first record exists", first.log_tail, interval=0.05)
        assert first.terminate(timeout=30) == 0, first.log_tail()

        inv = inventory(ws, catalog)
        assert len(inv.records) < self.BURST, f"SIGTERM came too late to prove anything:\n{inv}"
        places = {
            name: [where for where, found in (("inbox", inv.waiting), ("staging", inv.staged),
                                              ("processed", inv.processed), ("failed", inv.failed)) if name in found]
            for name in names
        }
        assert all(len(found) == 1 for found in places.values()), f"inputs not in exactly one place: {places}"
        recorded_sources = {r["source_name"] for r in inv.records}
        assert set(inv.processed) <= recorded_sources, "a file reached processed/ without its record"
        assert inv.archive_folders == inv.record_ids and inv.archive_temporaries == []
        wait_until(lambda: not _alive(first.family), 10, "the stopped watcher's LibreOffice has gone",
                   lambda: f"still running: {_alive(first.family)}")

        logged = [json.loads(line) for line in first.log_lines() if line.startswith("{")]
        recorded_lines = {e["file"]: e["record_id"] for e in logged if e.get("outcome") == "recorded"}
        assert recorded_lines == {r["source_name"]: r["record_id"] for r in inv.records}, "one JSON log line per record"
        assert any(line.startswith("Stopped.") for line in first.log_lines()), first.log_tail()

        second = watch_process(ws)
        wait_until(lambda: len(inventory(ws, catalog).records) >= self.BURST, 120, "every input is recorded",
                   lambda: str(inventory(ws, catalog)))
        assert second.terminate() == 0, second.log_tail()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(n) for n in range(1, self.BURST + 1)]
        assert sorted(inv.processed) == names and inv.failed == [] and inv.failures == []
        assert inv.waiting == [] and inv.staged == [] and inv.archive_folders == inv.record_ids


class TestEvents:
    CLOSED = "case_id,event,date,note\n{case},closed,2026-11-25,All terms completed\n"

    def _record_case(self, ws, catalog, case_yaml) -> None:
        drop(ws, "case.yaml", case_yaml(1))
        wait_until(lambda: catalog.has_case(case_id(1)), 30, "the case is recorded",
                   lambda: str(inventory(ws, catalog)))

    def test_event_for_known_case_is_recorded(self, ws, catalog, case_yaml, start_watcher):
        """A CSV event file for a recorded case records the closure and ends in processed/ with a note."""
        running = start_watcher(ws)
        self._record_case(ws, catalog, case_yaml)
        drop(ws, "closures.csv", self.CLOSED.format(case=case_id(1)).encode())
        wait_until(lambda: "closures.csv" in inventory(ws, catalog).processed, 30, "the event file is processed",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        recorded = events.of_case(catalog, case_id(1))
        assert [(e["event"], e["date"], e["note"]) for e in recorded] == [("case-closed", "2026-11-25", "All terms completed")]
        (note,) = ws.processed.glob("*/closures.csv" + inbox.NOTE_SUFFIX)
        assert "1 event(s) recorded, 1 of them new" in note.read_text(encoding="utf-8")
        assert sorted(o.status for o in running.outcomes) == ["events", "recorded"]

    def test_event_for_unknown_case_fails_and_records_nothing(self, ws, catalog, case_yaml, start_watcher):
        """An event file naming an unknown case waits watch.wait_minutes for that case's first record, then
        ends in failed/ naming that case, and none of its rows is recorded."""
        with ws.config_file.open("a", encoding="utf-8") as config:
            config.write("  wait_minutes: 0.05\n")
        assert ws.load_config().watch.wait_minutes == 0.05
        running = start_watcher(ws)
        self._record_case(ws, catalog, case_yaml)
        text = (f"case_id,event,date,note\n{case_id(1)},reopened,2026-11-27,\n"
                f"{UNKNOWN_CASE_ID},closed,2026-11-25,\n")
        drop(ws, "unknown.csv", text.encode())
        wait_until(lambda: "unknown.csv" in inventory(ws, catalog).failed, 30, "the event file is refused",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        reason = (ws.failed / ("unknown.csv" + inbox.REASON_SUFFIX)).read_text(encoding="utf-8")
        assert UNKNOWN_CASE_ID in reason
        assert inv.events == [], "an event file with a bad row recorded some of its rows"
        assert [f["source_name"] for f in inv.failures] == ["unknown.csv"]

    def test_event_file_dropped_before_its_case_file_waits_for_it(self, ws, catalog, case_yaml, start_watcher):
        """An event file whose case file is dropped a moment later waits in staging, then is recorded
        against the new record (the coordinator saved both at once, in the wrong order)."""
        running = start_watcher(ws)
        drop(ws, "closures.csv", self.CLOSED.format(case=case_id(2)).encode())
        wait_until(lambda: read_status(ws).get("waiting_for_case") == 1, 30, "the event file waits",
                   lambda: str(inventory(ws, catalog)))
        drop(ws, "case.yaml", case_yaml(2))
        wait_until(lambda: "closures.csv" in inventory(ws, catalog).processed, 60, "the event file is processed",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        assert [e["event"] for e in events.of_case(catalog, case_id(2))] == ["case-closed"]
        assert sorted(o.status for o in running.outcomes) == ["events", "recorded"]
        assert inventory(ws, catalog).failed == []

    def test_same_event_file_twice_records_events_once(self, ws, catalog, case_yaml, start_watcher):
        """The same event file dropped a second time is processed again but adds no event."""
        running = start_watcher(ws)
        self._record_case(ws, catalog, case_yaml)
        data = self.CLOSED.format(case=case_id(1)).encode()
        for copy in (1, 2):
            drop(ws, "closures.csv", data)
            wait_until(lambda copy=copy: len({"closures.csv", "closures-1.csv"} & set(inventory(ws, catalog).processed))
                       == copy,
                       30, f"event file copy {copy} is processed", lambda: str(inventory(ws, catalog)))
        running.stop()
        assert [e["event"] for e in events.of_case(catalog, case_id(1))] == ["case-closed"]
        (note,) = ws.processed.glob("*/closures-1.csv" + inbox.NOTE_SUFFIX)
        assert "1 event(s) recorded, 0 of them new" in note.read_text(encoding="utf-8")
        assert inventory(ws, catalog).failed == []


class TestSystemFault:
    @staticmethod
    def _break_archive(ws: Workspace) -> Callable[[], None]:
        """Replace the archive folder by a regular file; returns the repair."""
        away = ws.root / "archive.away"
        ws.archive.rename(away)
        ws.archive.write_text("not a folder\n", encoding="utf-8")

        def repair() -> None:
            ws.archive.unlink()
            away.rename(ws.archive)

        return repair

    @staticmethod
    def _wait_for_fault(running: RunningWatcher, ws: Workspace, catalog: Catalog) -> None:
        wait_until(lambda: running.watcher.stats.fault, 30, "the watcher reports a fault",
                   lambda: str(inventory(ws, catalog)))

    @staticmethod
    def _wait_for_failed_retry(running: RunningWatcher) -> None:
        converter = running.watcher._converters[0]
        conversions = converter.conversions
        wait_until(lambda: converter.conversions > conversions, 30,
                   "the staged file is tried again after the back-off (and the fault is still there)")
        time.sleep(1.0)  # the retry ends; the watcher's loop goes round again

    def test_unwritable_archive_keeps_the_file_staged_until_fixed(self, ws, catalog, case_yaml, start_watcher):
        """With the archive replaced by a file, a case file stays staged (not failed) and the fault is reported; once fixed it is recorded."""
        running = start_watcher(ws)
        repair = self._break_archive(ws)
        drop(ws, "first.yaml", case_yaml(1))
        self._wait_for_fault(running, ws, catalog)
        status = wait_until(lambda: (s := read_status(ws)) and s.get("fault") and s, 10,
                            "the status file reports the fault")
        assert "archive" in status["fault"].lower(), status["fault"]
        self._wait_for_failed_retry(running)
        inv = inventory(ws, catalog)
        assert inv.staged == ["first.yaml"], f"the file in hand must stay staged:\n{inv}"
        assert inv.failed == [] and inv.failures == [] and inv.records == []
        assert running.watcher.stats.fault

        repair()
        wait_until(lambda: inventory(ws, catalog).records, 20, "the file is recorded after the fix",
                   lambda: str(inventory(ws, catalog)))
        wait_until(lambda: running.watcher.stats.fault is None, 10, "the fault is cleared")
        wait_until(lambda: (s := read_status(ws)) and s.get("fault") is None, 10, "the status file clears the fault")
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(1)] and inv.processed == ["first.yaml"]
        assert inv.failed == [] and inv.failures == [] and inv.staged == [] and inv.archive_folders == inv.record_ids

    def test_no_new_file_is_taken_once_the_fault_is_the_systems(self, ws, catalog, case_yaml, start_watcher):
        """While a system fault lasts, one new file is taken to tell a fault of the system from a fault of
        the one file that met it; once a second file has met it too, a file saved into the inbox stays
        there, even across failed retries, and nothing is failed."""
        running = start_watcher(ws)
        repair = self._break_archive(ws)
        drop(ws, "first.yaml", case_yaml(1))
        self._wait_for_fault(running, ws, catalog)
        drop(ws, "second.yaml", case_yaml(2))
        wait_until(lambda: inventory(ws, catalog).staged == ["first.yaml", "second.yaml"], 30,
                   "a second file is tried after the back-off", lambda: str(inventory(ws, catalog)))
        drop(ws, "third.yaml", case_yaml(3))
        time.sleep(1.0)  # longer than stable_seconds: the new file could be taken now
        for _ in range(2):  # after each failed retry the watcher's loop runs once more
            self._wait_for_failed_retry(running)
        inv = inventory(ws, catalog)
        assert running.watcher.stats.fault
        assert inv.waiting == ["third.yaml"], f"intake must stop during a fault:\n{inv}"
        assert inv.staged == ["first.yaml", "second.yaml"] and inv.failed == [] and inv.failures == []

        repair()
        wait_until(lambda: len(inventory(ws, catalog).records) == 3, 60, "every file is recorded after the fix",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(1), case_id(2), case_id(3)] and inv.failed == [] and inv.staged == []


class TestStatus:
    def test_status_reports_running_watcher_and_todays_counts(self, ws, catalog, case_yaml, start_watcher):
        """``accord status --json`` shows the running watcher with its LibreOffice up and today's counts; after stop, not running."""
        running = start_watcher(ws)
        drop(ws, "good.yaml", case_yaml(1))
        drop(ws, "broken.yaml", b"template: resolution-agreement\ncase: [unclosed\n")
        wait_until(lambda: catalog.count() == 1 and accounted_for(ws, catalog) == 2,
                   30, "one record and one failure", lambda: str(inventory(ws, catalog)))
        wait_until(lambda: (read_status(ws) or {}).get("outcomes") == {"recorded": 1, "failed": 1}, 10,
                   "the status file counts both outcomes")
        data = accord_status(ws)
        watcher = data["watcher"]
        assert watcher["running"] is True and watcher["pid"] == os.getpid() and watcher["fault"] is None
        assert [c["pid"] for c in watcher["converters"]] == [running.watcher._converters[0].pid]
        assert all(c["alive"] for c in watcher["converters"])
        assert (data["processed_today"], data["failed_today"], data["records"]) == (1, 1, 1)
        assert (data["queued"], data["in_progress"]) == (0, 0)
        assert data["last_errors"][0]["source_name"] == "broken.yaml"

        running.stop()
        data = accord_status(ws)
        assert data["watcher"]["running"] is False and data["watcher"]["converters"] == []


class TestNoticing:
    @pytest.mark.parametrize("poll_seconds", [None, 0.5], ids=["file-events", "polling"])
    def test_new_file_is_noticed_without_the_rescan(self, poll_seconds, ws, catalog, case_yaml, start_watcher):
        """A file saved after start is taken through file events, or through polling, well before any rescan."""
        configure(ws, rescan=600)
        running = start_watcher(ws, poll_seconds=poll_seconds)
        assert running.watcher.observer_kind == ("polling" if poll_seconds else "native")
        drop(ws, "new.yaml", case_yaml(1))
        wait_until(lambda: inventory(ws, catalog).records, 30, "the new file is recorded",
                   lambda: str(inventory(ws, catalog)))
        running.stop()
        inv = inventory(ws, catalog)
        assert inv.case_ids == [case_id(1)] and inv.processed == ["new.yaml"] and inv.failures == []


class TestHostileBurst:
    def test_hostile_files_in_a_burst_stop_nothing(self, ws, catalog, case_yaml, examples, start_watcher):
        """Ten case files with the twenty hostile ones mixed in (255-byte names, ids that clash, names of
        reason files, UTF-16, hidden characters, a newline in a name, events before their case), all
        dropped at once on a watcher with two workers: every valid file is recorded, every hostile one
        ends as it must (failed with a reason, a duplicate, events), nothing is left staged, intake
        never stops, and nothing in failed/ was overwritten."""
        from .hostile_files import hostile_files, mismatches

        hostile = hostile_files(examples)
        valid = [(f"valid-{n}.yaml", case_yaml(50 + n)) for n in range(10)]
        running = start_watcher(ws, workers=2)
        mixed = [item for pair in zip(valid, [(h.name, h.data) for h in hostile[:10]]) for item in pair]
        for name, data in mixed + [(h.name, h.data) for h in hostile[10:]]:
            drop(ws, name, data)
        wait_until(lambda: len(running.outcomes) == 30 and not inbox.staged(ws), 180,
                   "every file has its outcome", lambda: str(inventory(ws, catalog)))
        running.stop()
        statuses = {o.source_name: o.status for o in running.outcomes}
        assert all(statuses[name] == "recorded" for name, _ in valid), statuses
        assert mismatches(hostile, statuses) == []
        assert running.watcher.stats.fault is None
        inv = inventory(ws, catalog)
        assert len(inv.records) == 10 + sum(h.expect == "recorded" for h in hostile)
        assert len(set(inv.record_ids)) == len(inv.records)
        kept = [p.read_bytes() for p in ws.failed.iterdir()]
        # whichever came first, each dropped file is kept whole beside Accord's own reason files
        assert kept.count(b"the coordinator's own notes\n") == 1 and kept.count(b'{"mine": true}\n') == 1
        for f in (o for o in running.outcomes if o.status == "failed"):
            assert f.moved_to.with_name(f.moved_to.name + inbox.REASON_SUFFIX).is_file()
            assert f.reason
