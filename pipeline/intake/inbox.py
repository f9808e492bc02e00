"""The inbox: which files to take, claiming them, and where they end.

A file is claimed by an atomic rename into ``inbox/.staging/`` and leaves staging
only after its outcome is committed: to ``inbox/processed/YYYY-MM-DD/`` or to
``inbox/failed/`` with a reason beside it (plain words, and JSON). Nothing there is
ever overwritten: a name is taken only when it and every file Accord writes beside it
(``.reason.txt``, ``.reason.json``, ``.note.txt``) are free, each is created with a hard
link that fails rather than replace, and a name too long to carry those suffixes within
the file system's 255 bytes is shortened (the original is kept in the reason file and the
catalog).

A staged file that met a system fault carries a small record of it in its claim folder
(``.faults.json``): it is tried after the others, and if it meets a fault again once other
files have got through, the fault is its own and it is failed (see :mod:`pipeline.ingest`).
"""

from __future__ import annotations

import datetime as dt
import errno
import fnmatch
import hashlib
import json
import os
import secrets
import shutil
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline.records.archive import fsync_dir, write_file
from pipeline.workspace import Workspace

#: Files that editors, browsers and sync tools leave while working: never taken.
IGNORED_PATTERNS = ("~$*", ".~lock.*#", "*.tmp", "*.part", "*.crdownload", ".*", "Thumbs.db", "desktop.ini")
REASON_SUFFIX = ".reason.txt"
REASON_JSON_SUFFIX = ".reason.json"
NOTE_SUFFIX = ".note.txt"
_SIDE_SUFFIXES = (REASON_SUFFIX, REASON_JSON_SUFFIX, NOTE_SUFFIX)
#: The longest name a file system takes (ext4, XFS, btrfs, tmpfs: 255 bytes).
NAME_MAX = 255
#: Names kept in processed/ and failed/ leave room for the longest side file and a "-NNNNN".
_KEPT_NAME_MAX = NAME_MAX - max(len(s) for s in _SIDE_SUFFIXES) - 6
FAULTS_FILE = ".faults.json"


@dataclass(frozen=True)
class FailureReason:
    step: str
    reason: str
    source_name: str
    """The name the file was dropped with (bytes that are not UTF-8 shown as ``\\xNN``)."""
    sha256: str
    failed_at: str


@dataclass(frozen=True)
class FaultRecord:
    """A staged file's earlier system faults: how many, the last reason, and the intake
    progress mark (see :func:`pipeline.records.audit.intake_mark`) when the last one happened."""

    count: int
    reason: str
    mark: int


def printable_name(name: str) -> str:
    """A file name as text that can be written anywhere: bytes that were not UTF-8 (kept by
    Python as surrogate escapes) become ``\\xNN``."""
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")


def kept_name(name: str) -> str:
    """The name a file keeps in processed/ or failed/: as dropped when it fits, else shortened to
    its beginning, a tilde, eight hex digits of the full name's SHA-256, and its extension."""
    raw = os.fsencode(name)
    if len(raw) <= _KEPT_NAME_MAX:
        return name
    stem, suffix = _split(name)
    suffix_raw = os.fsencode(suffix)
    if len(suffix_raw) > 16:  # not a real extension: part of the name
        stem, suffix, suffix_raw = name, "", b""
    tag = "~" + hashlib.sha256(raw).hexdigest()[:8]
    room = _KEPT_NAME_MAX - len(tag) - len(suffix_raw)
    head, size = "", 0
    for char in stem:  # whole characters only (a name is at most 255 bytes)
        size += len(os.fsencode(char))
        if size > room:
            break
        head += char
    return head + tag + suffix


def is_ignored(name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in IGNORED_PATTERNS)


def candidates(ws: Workspace) -> list[Path]:
    """Entries directly in the inbox that are not ignored and not Accord's own folders."""
    own = {ws.processed.name, ws.failed.name, ws.staging.name}
    found = []
    try:
        entries = list(os.scandir(ws.inbox))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.name in own or is_ignored(entry.name):
            continue
        if entry.is_dir(follow_symlinks=False):
            continue
        found.append(Path(entry.path))
    return sorted(found, key=lambda p: (_mtime(p), p.name))


def staged(ws: Workspace, tidy: bool = False) -> list[Path]:
    """Files claimed earlier and not finished (after a crash): resumed first, those that met a
    system fault last.

    Each claim has a folder of its own in staging, so the file keeps its name (Accord's own
    notes in the folder start with a dot; a claimed file never does). With ``tidy`` (only when
    nothing else is claiming), a claim folder left without its file by a crash is removed.
    """
    if not ws.staging.is_dir():
        return []
    found = []
    for slot in sorted(ws.staging.iterdir()):
        if not slot.is_dir() or slot.is_symlink():
            continue
        try:
            entries = [p for p in slot.iterdir() if not p.name.startswith(".")]
        except FileNotFoundError:  # a worker finished the claim between the listing and this look
            continue
        if not entries and tidy:
            (slot / FAULTS_FILE).unlink(missing_ok=True)
            slot.rmdir()
        found.extend(entries)
    return sorted(found, key=lambda p: fault_record(p) is not None)


def fault_record(staged_path: Path) -> FaultRecord | None:
    """The system faults a staged file met before, if any."""
    try:
        data = json.loads((staged_path.parent / FAULTS_FILE).read_text(encoding="utf-8"))
        return FaultRecord(int(data["count"]), str(data["reason"]), int(data["mark"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def note_fault(staged_path: Path, reason: str, mark: int) -> FaultRecord:
    """Record one more system fault for a staged file (written atomically in its claim folder)."""
    previous = fault_record(staged_path)
    record = FaultRecord((previous.count if previous else 0) + 1, reason, mark)
    target = staged_path.parent / FAULTS_FILE
    tmp = target.with_name(FAULTS_FILE + ".tmp")
    tmp.unlink(missing_ok=True)
    write_file(tmp, json.dumps(asdict(record)).encode(), mode=0o600)
    os.replace(tmp, target)
    return record


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def head(path: Path, size: int = 4096) -> bytes:
    """The first bytes of a regular file (never following a link, never opening a pipe)."""
    try:
        if not stat.S_ISREG(path.lstat().st_mode):
            return b""
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def refusal(path: Path) -> str | None:
    """Why a path must not be read as a case file (a link or a special file), or ``None``."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "The entry is a symbolic link; Accord never follows links. Copy the file itself into the inbox."
    if not stat.S_ISREG(mode):
        return "The entry is not a regular file (a device, pipe or socket)."
    return None


def unique_target(folder: Path, name: str) -> Path:
    """``folder/NAME`` (the name shortened if needed), or ``NAME-1``, ``NAME-2``... before the
    suffix, the first whose name and side files (reasons, note) are all free."""
    name = kept_name(name)
    stem, suffix = _split(name)
    target, n = folder / name, 1
    while any(os.path.lexists(p) for p in (target, *(target.with_name(target.name + s) for s in _SIDE_SUFFIXES))):
        target = folder / f"{stem}-{n}{suffix}"
        n += 1
    return target


def _split(name: str) -> tuple[str, str]:
    path = Path(name)
    suffix = "".join(path.suffixes[-1:]) if not name.startswith(".") else ""
    return (name[: -len(suffix)] if suffix else name), suffix


def claim(ws: Workspace, path: Path) -> Path | None:
    """Move an inbox entry into a staging folder of its own, atomically.

    ``None`` if the entry is gone (another taker was first).
    """
    ws.staging.mkdir(parents=True, exist_ok=True, mode=0o700)
    slot = Path(tempfile.mkdtemp(prefix="claim-", dir=ws.staging))
    target = slot / path.name
    try:
        os.rename(path, target)
    except FileNotFoundError:
        shutil.rmtree(slot, ignore_errors=True)
        return None
    return target


def release_slot(staged_path: Path) -> None:
    """Remove the (now empty) staging folder of a finished claim, with Accord's notes in it."""
    (staged_path.parent / FAULTS_FILE).unlink(missing_ok=True)
    try:
        staged_path.parent.rmdir()
    except OSError:
        pass


def finish_processed(ws: Workspace, staged_path: Path, name: str, day: dt.date, note: str | None = None) -> Path:
    """Move a finished input into ``processed/DAY/`` (its note first, if any)."""
    folder = ws.processed / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    sides = {NOTE_SUFFIX: note.encode() + b"\n"} if note else {}
    return _finish(folder, staged_path, name, sides)


def finish_failed(ws: Workspace, staged_path: Path, reason: FailureReason) -> Path:
    """Reason files first, then the input beside them: a crash in between loses nothing."""
    ws.failed.mkdir(parents=True, exist_ok=True)
    kept = kept_name(reason.source_name)
    text = (
        f"Accord could not process {reason.source_name}.\n\n"
        + (f"It is kept here as {kept} (the name was too long to keep whole).\n\n" if kept != reason.source_name
           else "")
        + f"Step: {reason.step}\nReason: {reason.reason}\n\n"
        f"When: {reason.failed_at}\nSHA-256 of the file: {reason.sha256}\n\n"
        "The file beside this note is exactly as it was received. Correct it and save it into the "
        "inbox again.\n"
    )
    sides = {REASON_SUFFIX: text.encode(),
             REASON_JSON_SUFFIX: json.dumps(asdict(reason), ensure_ascii=False, indent=2).encode() + b"\n"}
    return _finish(ws.failed, staged_path, staged_path.name, sides)


def _finish(folder: Path, staged_path: Path, name: str, sides: dict[str, bytes]) -> Path:
    """Write the side files, then move the input beside them, under the first free name. Each
    file gets its name by a hard link that fails if the name exists, so a name another worker
    took a moment ago is never overwritten: the next free name is tried instead."""
    while True:
        target = unique_target(folder, name)
        written = []
        try:
            for suffix, data in sides.items():
                side = target.with_name(target.name + suffix)
                _create(side, data)
                written.append(side)
            _place(staged_path, target)
        except FileExistsError:
            for path in written:
                path.unlink(missing_ok=True)
            continue
        fsync_dir(folder)
        release_slot(staged_path)
        return target


#: Errors of file systems without hard links (some network shares): a plain no-replace move instead.
_NO_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


def _place(source: Path, target: Path) -> None:
    """Move ``source`` to ``target``; ``FileExistsError`` rather than replace what is there."""
    try:
        os.link(source, target, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        if os.path.lexists(target):
            raise FileExistsError(target) from None
        os.rename(source, target)
        return
    os.unlink(source)


def _create(path: Path, data: bytes) -> None:
    """Create ``path`` with ``data``, whole or not at all; ``FileExistsError`` if it exists."""
    tmp = path.with_name(f".accord-{secrets.token_hex(8)}.tmp")
    write_file(tmp, data, mode=0o640)
    try:
        _place(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def deliver(ws: Workspace, name: str, data: bytes) -> Path:
    """Put a file into the inbox whole (written under a hidden name the inbox ignores, then placed
    without replacing anything): how the portal drops an uploaded case file. Returns its path."""
    ws.inbox.mkdir(parents=True, exist_ok=True)
    while True:
        target = unique_target(ws.inbox, name)
        try:
            _create(target, data)
            return target
        except FileExistsError:
            continue
