"""The archive: sealed records written atomically and read-only.

A record is a folder ``archive/YYYY/RECORD_ID/`` holding the sealed PDF and the
source case file (it is part of the record). Both are written into a temporary
folder, flushed to disk, and the folder is renamed into place in one step, so a
crash leaves either the whole record or nothing under its name.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from pipeline.errors import ArchiveError

FILE_MODE = 0o440
DIR_MODE = 0o750
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class ArchivedRecord:
    folder: Path
    pdf: Path
    source: Path
    sha256: str
    size: int


def record_folder(archive: Path, record_id: str, year: int) -> Path:
    return archive / f"{year:04d}" / record_id


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in chunks (never the whole file in memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Write ``data`` to a new file, flushed to disk, then make it ``mode``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, mode)


def write_record(archive: Path, record_id: str, year: int, pdf: bytes, source: bytes, source_suffix: str) -> ArchivedRecord:
    """Put a record in the archive atomically; the folder must not exist yet."""
    final = record_folder(archive, record_id, year)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            raise ArchiveError(f"The archive already holds a folder for record {record_id}.")
        tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{record_id}-", dir=final.parent))
        try:
            write_file(tmp / f"{record_id}.pdf", pdf)
            write_file(tmp / f"{record_id}.source{source_suffix}", source)
            os.chmod(tmp, DIR_MODE)
            fsync_dir(tmp)
            os.rename(tmp, final)
        except BaseException:
            remove_tree(tmp)
            raise
        fsync_dir(final.parent)
    except OSError as exc:
        raise ArchiveError(f"The record could not be written to the archive: {exc.strerror or exc}.") from None
    return ArchivedRecord(
        folder=final,
        pdf=final / f"{record_id}.pdf",
        source=final / f"{record_id}.source{source_suffix}",
        sha256=hashlib.sha256(pdf).hexdigest(),
        size=len(pdf),
    )


def replace_in_archive(target: Path, data: bytes, commit: Callable[[Callable[[], None]], None]) -> None:
    """Put ``data`` at ``target`` read-only and atomically: a temporary file in the same folder,
    flushed and made read-only, renamed into place by the callable ``commit`` receives, so the
    caller runs the rename inside its catalog transaction (last). A crash leaves the old file or
    the new one, never half of either."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}-", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)

        def rename() -> None:
            os.replace(tmp, target)
            fsync_dir(target.parent)

        commit(rename)
    finally:
        tmp.unlink(missing_ok=True)


def remove_tree(path: Path) -> None:
    """Remove a record folder, read-only files included."""
    if not path.exists():
        return
    for root, dirs, files in os.walk(path):
        os.chmod(root, stat.S_IRWXU)
        for name in dirs:
            os.chmod(os.path.join(root, name), stat.S_IRWXU)
    shutil.rmtree(path)


def record_folders(archive: Path) -> list[Path]:
    """Every record folder (``archive/YYYY/RECORD_ID``), anchors and temporaries left out."""
    return sorted(p for p in archive.glob("[0-9][0-9][0-9][0-9]/*") if p.is_dir() and not p.name.startswith("."))


def clean_temporaries(archive: Path) -> list[Path]:
    """Remove half-written record folders left by a crash (``YYYY/.tmp-*``)."""
    removed = []
    for tmp in archive.glob("*/.tmp-*"):
        remove_tree(tmp)
        removed.append(tmp)
    return removed
