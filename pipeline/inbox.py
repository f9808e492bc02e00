"""The inbox: which files to take, claiming them, and where they end.

A file is claimed by an atomic rename into ``inbox/.staging/`` and leaves staging
only after its outcome is committed: to ``inbox/processed/YYYY-MM-DD/`` or to
``inbox/failed/`` with a reason beside it (plain words, and JSON). Names that
clash get a numbered suffix; nothing is ever overwritten.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import shutil
import stat
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from .archive import fsync_dir, write_file
from .workspace import Workspace

#: Files that editors, browsers and sync tools leave while working: never taken.
IGNORED_PATTERNS = ("~$*", ".~lock.*#", "*.tmp", "*.part", "*.crdownload", ".*", "Thumbs.db", "desktop.ini")
REASON_SUFFIX = ".reason.txt"
REASON_JSON_SUFFIX = ".reason.json"
NOTE_SUFFIX = ".note.txt"


@dataclass(frozen=True)
class FailureReason:
    step: str
    reason: str
    source_name: str
    sha256: str
    failed_at: str


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
    """Files claimed earlier and not finished (after a crash): resumed first.

    Each claim has a folder of its own in staging, so the file keeps its name.
    With ``tidy`` (only when nothing else is claiming), an empty claim folder
    left by a crash before the rename is removed.
    """
    if not ws.staging.is_dir():
        return []
    found = []
    for slot in sorted(ws.staging.iterdir()):
        if not slot.is_dir() or slot.is_symlink():
            continue
        entries = list(slot.iterdir())
        if not entries and tidy:
            slot.rmdir()
        found.extend(entries)
    return found


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


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
    """``folder/name``, or ``name-1``, ``name-2``... before the suffix if taken."""
    target = folder / name
    stem, suffix = _split(name)
    n = 1
    while os.path.lexists(target):
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
    """Remove the (now empty) staging folder of a finished claim."""
    try:
        staged_path.parent.rmdir()
    except OSError:
        pass


def finish_processed(ws: Workspace, staged_path: Path, name: str, day: dt.date, note: str | None = None) -> Path:
    folder = ws.processed / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    target = unique_target(folder, name)
    if note:
        _write_replacing(target.with_name(target.name + NOTE_SUFFIX), note.encode() + b"\n")
    os.rename(staged_path, target)
    fsync_dir(folder)
    release_slot(staged_path)
    return target


def finish_failed(ws: Workspace, staged_path: Path, reason: FailureReason) -> Path:
    """Reason files first, then the input beside them: a crash in between loses nothing."""
    ws.failed.mkdir(parents=True, exist_ok=True)
    target = unique_target(ws.failed, reason.source_name)
    text = (
        f"Accord could not process {reason.source_name}.\n\n"
        f"Step: {reason.step}\nReason: {reason.reason}\n\n"
        f"When: {reason.failed_at}\nSHA-256 of the file: {reason.sha256}\n\n"
        "The file beside this note is exactly as it was received. Correct it and save it into the "
        "inbox again.\n"
    )
    _write_replacing(target.with_name(target.name + REASON_SUFFIX), text.encode())
    _write_replacing(
        target.with_name(target.name + REASON_JSON_SUFFIX),
        json.dumps(asdict(reason), ensure_ascii=False, indent=2).encode() + b"\n",
    )
    os.rename(staged_path, target)
    fsync_dir(ws.failed)
    release_slot(staged_path)
    return target


def _write_replacing(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    write_file(tmp, data, mode=0o640)
    os.replace(tmp, path)
