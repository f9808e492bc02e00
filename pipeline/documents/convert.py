"""DOCX -> PDF/A-2b conversion with LibreOffice.

:class:`Converter` keeps one LibreOffice instance warm and drives it over UNO:
``soffice --accept=pipe,...`` runs in its own process group with a private
profile, and a small helper, ``_uno_bridge.py``, runs under the system Python
(the only interpreter that can ``import uno``) and talks JSON lines with us
over its stdin/stdout.  A warm conversion of a few pages takes a few hundred
milliseconds instead of the 1-2 s a cold ``soffice --convert-to`` costs;
:func:`cold_convert` is that cold path, kept as the benchmark baseline.

Failures are contained: a conversion that times out, or an instance whose
soffice or bridge died, is killed (SIGKILL to the process groups we started),
restarted on a fresh profile and retried; a document LibreOffice refuses
fails at once with :class:`ConversionError` and leaves the instance usable.

The PDF export options (PDF/A-2b, tagged, Word bookmarks exported as named
destinations, no form fields) are defined twice, here for the command line
and in ``_uno_bridge.py`` for UNO, because the bridge cannot import this
package; keep the two in step.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterator

from pipeline.config import ConverterSettings
from pipeline.errors import ConversionError, ConverterUnavailable

BRIDGE_SCRIPT = Path(__file__).with_name("_uno_bridge.py")

# writer_pdf_Export options, in the JSON syntax `soffice --convert-to` takes.
PDF_EXPORT_OPTIONS: dict[str, dict[str, str]] = {
    "SelectPdfVersion": {"type": "long", "value": "2"},  # PDF/A-2b
    "UseTaggedPDF": {"type": "boolean", "value": "true"},
    "ExportBookmarksToPDFDestination": {"type": "boolean", "value": "true"},
    "ExportFormFields": {"type": "boolean", "value": "false"},
}

# Import filter forced on input, so that a non-docx file is refused instead of
# being imported as plain text.
DOCX_IMPORT_FILTER = "MS Word 2007 XML"

SOFFICE_FLAGS = (
    "--headless",
    "--invisible",
    "--nologo",
    "--norestore",
    "--nodefault",
    "--nolockcheck",
    "--nofirststartwizard",
)

_POLL_INTERVAL = 0.05  # how often a waiting call checks that soffice is still alive
_SHUTDOWN_GRACE = 5.0  # seconds soffice gets to exit after desktop.terminate()
_REAP_TIMEOUT = 10.0  # seconds to wait for a SIGKILLed process to be reaped
# Where LibreOffice creates the sockets of its named pipes (sal/osl/unx/pipe.cxx);
# a killed soffice leaves them behind.
_OSL_PIPE_DIRS = (Path("/tmp"), Path("/var/tmp"))
# Each Converter's private folder (profiles, documents in hand) is named after its process.
_WORK_PREFIX = "accord-lo-"
_WORK_OWNER = re.compile(re.escape(_WORK_PREFIX) + r"(\d+)-")


class _InstanceLost(Exception):
    """The instance stopped answering (timeout) or one of its processes exited."""


# --------------------------------------------------------------------------- processes


def _has_exited(proc: subprocess.Popen) -> bool:
    """True if ``proc`` exited, *without reaping it*.

    An unreaped leader keeps its pid, and with it the process-group id, from
    being reused, so a later ``killpg`` can only ever reach our own processes.
    """
    if proc.returncode is not None:
        return True
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None


def _kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the process group ``proc`` leads (started with start_new_session) and reap it."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=_REAP_TIMEOUT)


def _remove_pipe_sockets(profile: Path, accept_pipe: str | None = None) -> None:
    """Delete the pipe sockets an instance on ``profile`` created (soffice removes them only on a clean exit).

    Besides the ``--accept`` pipe there is the single-instance pipe, named
    after the MD5 of the profile URL in UTF-16, hex digits not zero-padded
    (desktop/source/app/officeipcthread.cxx).
    """
    digest = hashlib.md5(profile.as_uri().encode("utf-16-le"), usedforsecurity=False).digest()
    names = ["SingleOfficeIPC_" + "".join(f"{byte:x}" for byte in digest)]
    if accept_pipe is not None:
        names.append(accept_pipe)
    for directory in _OSL_PIPE_DIRS:
        for name in names:
            with contextlib.suppress(OSError):
                (directory / f"OSL_PIPE_{os.getuid()}_{name}").unlink(missing_ok=True)


def _child_env() -> dict[str, str]:
    """The environment for soffice and the bridge, without our interpreter's Python settings."""
    env = dict(os.environ)
    for name in ("PYTHONHOME", "PYTHONPATH", "VIRTUAL_ENV", "PYTHONSTARTUP"):
        env.pop(name, None)
    return env


@contextlib.contextmanager
def _log_target(log_file: Path | None) -> Iterator[int | IO[bytes]]:
    if log_file is None:
        yield subprocess.DEVNULL
    else:
        with open(log_file, "ab") as handle:
            yield handle


@dataclass
class _Session:
    """One running soffice plus the bridge talking to it."""

    soffice: subprocess.Popen
    bridge: subprocess.Popen
    profile: Path
    pipe_name: str
    replies: queue.Queue = field(default_factory=queue.Queue)
    next_id: int = 0

    def start_reader(self) -> None:
        thread = threading.Thread(
            target=_pump_lines,
            args=(self.bridge.stdout, self.replies),
            name=f"uno-bridge-reader-{self.bridge.pid}",
            daemon=True,
        )
        thread.start()

    def alive(self) -> bool:
        return not (_has_exited(self.soffice) or _has_exited(self.bridge))

    def wait_ready(self, timeout: float) -> None:
        message = self._next_message(
            time.monotonic() + timeout, f"LibreOffice did not start within {timeout:g} s"
        )
        if not message.get("ready"):
            raise _InstanceLost(f"UNO bridge could not connect: {message.get('error', 'unknown error')}")

    def request(self, payload: dict, timeout: float) -> dict:
        self.next_id += 1
        request_id = self.next_id
        self._send({**payload, "id": request_id})
        deadline = time.monotonic() + timeout
        while True:
            message = self._next_message(deadline, f"conversion timed out after {timeout:g} s")
            if message.get("id") == request_id:
                return message
            # a stale reply to an earlier request: skip it

    def _send(self, payload: dict) -> None:
        try:
            self.bridge.stdin.write((json.dumps(payload) + "\n").encode("utf-8"))
            self.bridge.stdin.flush()
        except (BrokenPipeError, ValueError, OSError) as exc:
            raise _InstanceLost("UNO bridge exited") from exc

    def _next_message(self, deadline: float, timeout_reason: str) -> dict:
        """The bridge's next message, or _InstanceLost(timeout_reason) once ``deadline`` passed."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _InstanceLost(timeout_reason)
            try:
                line = self.replies.get(timeout=min(remaining, _POLL_INTERVAL))
            except queue.Empty:
                if _has_exited(self.soffice):
                    raise _InstanceLost("LibreOffice exited") from None
                continue
            if line is None:
                raise _InstanceLost("UNO bridge exited")
            try:
                return json.loads(line)
            except ValueError:
                raise _InstanceLost("UNO bridge sent an unreadable reply") from None

    def shutdown(self, grace: float = _SHUTDOWN_GRACE) -> None:
        """Ask LibreOffice to quit, give it ``grace`` seconds, then kill whatever is left."""
        with contextlib.suppress(_InstanceLost):
            self._send({"cmd": "quit"})
        deadline = time.monotonic() + grace
        while not _has_exited(self.soffice) and time.monotonic() < deadline:
            time.sleep(_POLL_INTERVAL)
        self.kill()

    def kill(self) -> None:
        for proc in (self.soffice, self.bridge):
            _kill_group(proc)
        for stream in (self.bridge.stdin, self.bridge.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        shutil.rmtree(self.profile, ignore_errors=True)
        _remove_pipe_sockets(self.profile, self.pipe_name)


def _pump_lines(stream: IO[bytes], sink: queue.Queue) -> None:
    """Reader thread: forward the bridge's reply lines; ``None`` marks its end."""
    try:
        for raw in stream:
            sink.put(raw.decode("utf-8", "replace"))
    except (OSError, ValueError):
        pass
    finally:
        sink.put(None)


# --------------------------------------------------------------------------- converter


@dataclass
class _Resources:
    """What must be cleaned up even if the Converter is never closed (see weakref.finalize)."""

    root: Path
    lock: int  # a descriptor of ``root``, flock-ed while the Converter lives
    session: _Session | None = None


def _release(resources: _Resources) -> None:
    if resources.session is not None:
        resources.session.kill()
        resources.session = None
    shutil.rmtree(resources.root, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.close(resources.lock)


# --------------------------------------------------------------------------- working folders


def _claim_work_dir(parent: Path | None) -> tuple[Path, int]:
    """A new owner-only folder for one Converter, named after this process, and the lock held on it.

    Before making it, the folders in ``parent`` left by Converters whose process is gone (a
    kill -9, a crash, a power cut) are removed: they hold unsealed case text.
    """
    try:
        if parent is not None:
            parent = _private_dir(Path(parent))
            _remove_stale_work_dirs(parent)
        root = Path(tempfile.mkdtemp(prefix=f"{_WORK_PREFIX}{os.getpid()}-", dir=parent))  # mode 0700
        lock = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as exc:
        raise ConverterUnavailable(
            f"cannot make the converter's working folder in {parent or tempfile.gettempdir()}: {exc.strerror}"
        ) from None
    fcntl.flock(lock, fcntl.LOCK_EX)
    return root, lock


def _private_dir(path: Path) -> Path:
    """``path`` as a folder, creating it and each missing parent readable by its owner only."""
    for folder in reversed([path, *path.parents]):
        if not folder.exists():
            folder.mkdir(mode=0o700, exist_ok=True)
    return path


def _remove_stale_work_dirs(parent: Path) -> None:
    """Remove the Converter folders in ``parent`` whose process is not running and whose lock nobody holds.

    Both are asked because several processes share a workspace: the pid answers for a folder
    that is being made (locked a moment later), the lock for a process this one cannot see
    (another pid namespace); the kernel drops the lock however its holder ends.
    """
    for folder in parent.iterdir():
        match = _WORK_OWNER.match(folder.name)
        if match is None or _process_running(int(match.group(1))):
            continue
        try:
            lock = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue  # not a folder, or not ours
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            pass  # held: its Converter is alive
        finally:
            os.close(lock)


def _process_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


class Converter:
    """One warm LibreOffice instance converting DOCX bytes to PDF/A-2b bytes.

    Starts lazily on the first :meth:`convert` (or explicitly with
    :meth:`start`); one conversion at a time (calls are serialised by a lock).
    Use as a context manager, or call :meth:`close`; instances left open are
    killed when they are garbage-collected or the interpreter exits.
    """

    def __init__(self, settings: ConverterSettings | None = None):
        self.settings = settings or ConverterSettings()
        self.conversions = 0  # successful conversions over the converter's lifetime
        self.last_failure: str | None = None  # why the instance was last killed and restarted
        self._since_start = 0
        self._launches = 0
        self._closed = False
        self._lock = threading.Lock()
        root, lock = _claim_work_dir(self.settings.work_dir)
        self._resources = _Resources(root=root, lock=lock)
        self._finalizer = weakref.finalize(self, _release, self._resources)
        self._io_dir = root / "io"
        self._io_dir.mkdir(mode=0o700)

    # ---------------------------------------------------------------- status

    @property
    def pid(self) -> int | None:
        """Pid of the running soffice (also its process-group id), or None."""
        session = self._resources.session
        return session.soffice.pid if session is not None and session.alive() else None

    def alive(self) -> bool:
        session = self._resources.session
        return session is not None and session.alive()

    @property
    def restarts(self) -> int:
        """How many times the instance was started again after its first start."""
        return max(self._launches - 1, 0)

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> None:
        """Start LibreOffice now (no-op if it is running); raises ConverterUnavailable."""
        with self._lock:
            self._check_open()
            self._ensure_running()

    def close(self) -> None:
        """Quit LibreOffice, kill anything left of its process groups, remove the profile."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            session, self._resources.session = self._resources.session, None
            if session is not None:
                session.shutdown()
            self._finalizer()

    def __enter__(self) -> Converter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ---------------------------------------------------------------- conversion

    def convert(self, docx_bytes: bytes) -> bytes:
        """Convert one .docx document to PDF/A-2b.

        Raises ConversionError if LibreOffice refuses the document or every
        attempt failed, ConverterUnavailable if LibreOffice cannot be started.
        """
        if not isinstance(docx_bytes, (bytes, bytearray, memoryview)):
            raise TypeError("convert() takes the document as bytes")
        if len(docx_bytes) == 0:
            raise ConversionError("the document is empty")
        attempts = 1 + self.settings.max_retries
        with self._lock:
            self._check_open()
            failure: ConversionError | None = None
            for attempt in range(attempts):
                if attempt:
                    time.sleep(self.settings.retry_backoff * 2 ** (attempt - 1))
                try:
                    self._ensure_running()
                except ConverterUnavailable as exc:
                    failure = exc
                    continue
                try:
                    pdf = self._convert_once(bytes(docx_bytes))
                except _InstanceLost as exc:
                    self.last_failure = str(exc)
                    self._discard_session()
                    failure = ConversionError(
                        f"LibreOffice conversion failed after {attempt + 1} attempt(s): {exc}"
                    )
                    continue
                self.conversions += 1
                self._since_start += 1
                return pdf
            assert failure is not None
            raise failure

    def _convert_once(self, docx_bytes: bytes) -> bytes:
        session = self._resources.session
        assert session is not None
        token = uuid.uuid4().hex
        src = self._io_dir / f"{token}.docx"
        dst = self._io_dir / f"{token}.pdf"
        try:
            src.write_bytes(docx_bytes)
            reply = session.request({"in": str(src), "out": str(dst)}, self.settings.timeout)
            if not reply.get("ok"):
                if reply.get("fatal"):
                    # The bridge lost LibreOffice; say whether it died (it usually has, a moment ago).
                    deadline = time.monotonic() + 1.0
                    while not _has_exited(session.soffice) and time.monotonic() < deadline:
                        time.sleep(_POLL_INTERVAL)
                    raise _InstanceLost("LibreOffice exited" if _has_exited(session.soffice)
                                        else "LibreOffice lost its connection")
                raise ConversionError(
                    f"LibreOffice could not convert the document: {reply.get('error', 'unknown error')}"
                )
            return _read_pdf(dst)
        finally:
            src.unlink(missing_ok=True)
            dst.unlink(missing_ok=True)

    # ---------------------------------------------------------------- internals

    def _check_open(self) -> None:
        if self._closed:
            raise ConverterUnavailable("the converter has been closed")

    def _ensure_running(self) -> None:
        session = self._resources.session
        if session is not None and self._since_start >= self.settings.recycle_after:
            self._resources.session = None
            session.shutdown()
        elif session is not None and not session.alive():
            self._discard_session()
        if self._resources.session is None:
            self._launch()

    def _discard_session(self) -> None:
        session, self._resources.session = self._resources.session, None
        if session is not None:
            session.kill()
        for leftover in self._io_dir.iterdir():  # files a killed soffice may still have written
            leftover.unlink(missing_ok=True)

    def _launch(self) -> None:
        settings = self.settings
        self._launches += 1
        self._since_start = 0
        profile = self._resources.root / f"profile-{self._launches}"
        pipe_name = f"accord-{os.getpid()}-{uuid.uuid4().hex[:16]}"
        env = _child_env()
        with _log_target(settings.log_file) as log:
            try:
                soffice = subprocess.Popen(
                    [
                        settings.soffice,
                        *SOFFICE_FLAGS,
                        f"-env:UserInstallation={profile.as_uri()}",
                        f"--accept=pipe,name={pipe_name};urp;StarOffice.ComponentContext",
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                    env=env,
                )
            except OSError as exc:
                raise ConverterUnavailable(f"cannot run {settings.soffice!r}: {exc.strerror}") from exc
            try:
                bridge = subprocess.Popen(
                    [settings.uno_python, "-I", str(BRIDGE_SCRIPT), pipe_name, str(settings.start_timeout),
                     str(soffice.pid)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=log,
                    start_new_session=True,
                    env=env,
                )
            except OSError as exc:
                _kill_group(soffice)
                shutil.rmtree(profile, ignore_errors=True)
                raise ConverterUnavailable(f"cannot run {settings.uno_python!r}: {exc.strerror}") from exc
        session = _Session(soffice=soffice, bridge=bridge, profile=profile, pipe_name=pipe_name)
        self._resources.session = session
        session.start_reader()
        try:
            # The bridge gives up after start_timeout itself; allow it a moment to say so.
            session.wait_ready(settings.start_timeout + 5.0)
        except _InstanceLost as exc:
            self._discard_session()
            raise ConverterUnavailable(f"LibreOffice could not be started: {exc}") from None


def _read_pdf(path: Path) -> bytes:
    try:
        pdf = path.read_bytes()
    except FileNotFoundError:
        raise ConversionError("LibreOffice reported success but wrote no PDF") from None
    if not pdf.startswith(b"%PDF"):
        raise ConversionError("LibreOffice output is not a PDF")
    return pdf
