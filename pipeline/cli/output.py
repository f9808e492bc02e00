"""What the command line prints: lines with case values escaped, JSON, tables that keep ids whole, progress."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.box import HEAVY_HEAD
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape as markup_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from pipeline.display import escape, escape_json


def terminal(stderr: bool = False) -> Console:
    """A console for this invocation (made now, so it measures the terminal, or $COLUMNS, of this run)."""
    return Console(stderr=stderr)


def echo(line: str, err: bool = False) -> None:
    """Print one line; what it carries from cases and file names is shown escaped (it stays one line)."""
    click.echo(escape(line), err=err)


def print_json(data: Any) -> None:
    click.echo(escape_json(json.dumps(data, ensure_ascii=False, indent=2, default=str)))


#: Columns holding ids people copy: never cut, never wrapped, whatever the terminal's width.
_ID_COLUMNS = frozenset({"Record", "Case"})


def print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A table of escaped values. Record and case ids stay whole; when the table is wider than the
    terminal it loses its borders and the other columns share what is left, folding their text."""
    cells = [[escape(v) for v in row] for row in rows]
    widths = [max([cell_len(h)] + [cell_len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    console = terminal()
    n = len(headers)
    boxed = sum(widths) + 3 * n + 1 <= console.width  # borders and a space either side of each cell
    caps: dict[int, int] = {}
    if not boxed:  # one space after each cell
        ids_width = sum(w for h, w in zip(headers, widths) if h in _ID_COLUMNS)
        caps = _share(console.width - n - ids_width,
                      {i: w for i, (h, w) in enumerate(zip(headers, widths)) if h not in _ID_COLUMNS})
    columns = [Column(h, no_wrap=True, min_width=widths[i]) if h in _ID_COLUMNS
               else Column(h, overflow="fold", max_width=caps.get(i)) for i, h in enumerate(headers)]
    table = Table(*columns, box=HEAVY_HEAD if boxed else None, padding=(0, 1) if boxed else (0, 1, 0, 0))
    for row in cells:
        table.add_row(*(Text(v) for v in row))
    console.print(table)


def _share(budget: int, widths: dict[int, int]) -> dict[int, int]:
    """Widths for the columns ``widths`` within ``budget``: the narrow ones whole, the wide ones an equal share."""
    caps, left = {}, len(widths)
    for index, width in sorted(widths.items(), key=lambda item: item[1]):
        caps[index] = max(1, min(width, budget // left))
        budget -= caps[index]
        left -= 1
    return caps


_PUBLIC_FIELDS = (
    "record_id", "template", "record_class", "case_id", "title", "parties", "record_date", "created", "status",
    "pages", "size", "sha256", "signature_level", "signer", "signature_fields", "supersedes", "source_name",
    "pdf_path", "due_date", "due_reason", "retention_rule", "holds", "held", "snippet",
)


def public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in _PUBLIC_FIELDS if k in record}


def shown(value: Any) -> str:
    """A value for rich's markup: escaped, and its brackets taken literally."""
    return markup_escape(escape(value))


class _QuietProgress:
    def __enter__(self) -> "_QuietProgress":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def update(self, *args: Any, **kwargs: Any) -> None:
        return None

    def advance(self, *args: Any, **kwargs: Any) -> None:
        return None


def progress_bar(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return _QuietProgress()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=terminal(stderr=True), transient=True)


def say_line(progress: Any, line: str) -> None:
    """One line about a file: above the progress bar when there is one, else on standard output."""
    if isinstance(progress, Progress):
        progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        echo(line)


class FileDelivery:
    """Writes the PDF to ``target`` whole or not at all: a temporary file (mode 0600) in the same
    folder, flushed, then renamed. Made before the record is read, so a folder that is missing or
    cannot be written to is an error before anything is retrieved."""

    def __init__(self, target: Path, force: bool):
        if target.exists() and not force:
            raise click.ClickException(f"{target} exists; use --force to overwrite it.")
        folder = target.parent
        if not folder.is_dir():
            raise click.ClickException(f"The folder {folder} does not exist; nothing was retrieved.")
        try:
            fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=folder)
        except OSError as exc:
            raise click.ClickException(f"Cannot write in {folder} ({exc.strerror}); nothing was retrieved.") from None
        self.target, self.tmp, self.fd = target, Path(name), fd

    def __call__(self, data: bytes) -> None:
        fd, self.fd = self.fd, None
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(self.tmp, 0o600)
        os.replace(self.tmp, self.target)

    def discard(self) -> None:
        """Remove the temporary file if the PDF never replaced it (refused, failed, interrupted)."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        self.tmp.unlink(missing_ok=True)


def to_stdout(data: bytes) -> None:
    sys.stdout.flush()
    stream = sys.stdout.buffer
    try:
        stream.write(data)
        stream.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # nothing more goes to the closed pipe, even at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise


def write_private(target: Path, data: bytes, force: bool = True) -> None:
    """Write ``data`` to ``target`` whole or not at all, readable by its owner only (``-``: standard output)."""
    if str(target) == "-":
        to_stdout(data)
        return
    delivery = FileDelivery(target, force)
    try:
        delivery(data)
    finally:
        delivery.discard()
