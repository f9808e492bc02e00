"""The ``accord`` command: parses options, calls the library, prints. Nothing else lives here."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import os
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable

import click
from click.core import ParameterSource
from rich.box import HEAVY_HEAD
from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape as markup_escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table
from rich.text import Text

from pipeline import __version__, logformat
from pipeline.display import escape, escape_json, read_date
from pipeline.errors import AccordError, DateError, RecordNotFound
from pipeline.records.search import SearchQuery
from pipeline.workspace import Workspace, init_workspace, resolve_workspace


def _console(stderr: bool = False) -> Console:
    """A console for this invocation (made now, so it measures the terminal, or $COLUMNS, of this run)."""
    return Console(stderr=stderr)


# --- options taken before or after the subcommand ------------------------------------------------
#
# --workspace, --json and --log-format belong to every group (accord, accord hold, ...) and to each
# command that uses them. Each place they are given records its value in the context's meta (shared by
# the whole invocation), innermost last, so a value given after the subcommand wins over one before it.

_GIVEN = "accord.given"
_VERBOSE = "accord.verbose"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
        ctx.meta.setdefault(_GIVEN, {})[param.name] = value
    return value


def _global_option(name: str) -> click.Option:
    """A fresh ``click.Option`` for one of the options every level takes."""
    if name == "workspace":
        return click.Option(["--workspace", "-w", "workspace"], type=click.Path(file_okay=False, path_type=Path),
                            default=None, expose_value=False, callback=_remember,
                            help="Workspace folder (default: $ACCORD_HOME or this checkout).")
    if name == "as_json":
        return click.Option(["--json", "as_json"], is_flag=True, expose_value=False, callback=_remember,
                            help="Print JSON instead of a table.")
    return click.Option(["--log-format", "log_format"], type=click.Choice(["text", "json"]), default=None,
                        expose_value=False, callback=_remember,
                        help="Log lines for people (text, the default) or for log collectors (json).")


_GLOBAL_FLAGS = {"workspace": "--workspace", "as_json": "--json", "log_format": "--log-format"}


def _given(name: str, default: Any = None) -> Any:
    """The value of a global option as given last (after the subcommand rather than before it)."""
    return click.get_current_context().meta.get(_GIVEN, {}).get(name, default)


def _takes(callback: Callable | None) -> frozenset[str]:
    return frozenset(getattr(callback, "_accord_globals", ())) | {"log_format"}


def _mark(wrapper: Callable, name: str) -> Callable:
    wrapper._accord_globals = frozenset(getattr(wrapper, "_accord_globals", ())) | {name}  # type: ignore[attr-defined]
    return wrapper


def _add_globals(params: list[click.Parameter], names: frozenset[str]) -> None:
    have = {p.name for p in params}
    params.extend(_global_option(n) for n in _GLOBAL_FLAGS if n in names and n not in have)


def _configure_logging(ctx: click.Context) -> None:
    level = logging.INFO if ctx.meta.get(_VERBOSE) else logging.WARNING
    logformat.configure(level, _given("log_format", "text"))


class AccordCommand(click.Command):
    """A command taking --log-format, and --workspace / --json when its callback uses them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_globals(self.params, _takes(self.callback))

    def invoke(self, ctx: click.Context) -> Any:
        taken = _takes(self.callback)
        for name in ctx.meta.get(_GIVEN, {}):
            if name not in taken:
                raise click.UsageError(f"{ctx.command_path} does not take {_GLOBAL_FLAGS[name]}.", ctx)
        _configure_logging(ctx)
        return super().invoke(ctx)


class AccordGroup(click.Group):
    """A group taking every global option; its commands are :class:`AccordCommand`, its groups its kind."""

    command_class = AccordCommand
    group_class = type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_globals(self.params, frozenset(_GLOBAL_FLAGS))

    def invoke(self, ctx: click.Context) -> Any:
        _configure_logging(ctx)
        return super().invoke(ctx)


def workspace_option(func: Callable) -> Callable:
    """``--workspace PATH`` (before or after the subcommand; else ACCORD_HOME, else this checkout)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        if isinstance(ctx.command, click.Group) and ctx.invoked_subcommand:
            return func(*args, ws=None, **kwargs)  # the subcommand opens it (its own --workspace is still to come)
        try:
            ws = resolve_workspace(_given("workspace"))
            return func(*args, ws=ws, **kwargs)
        except AccordError as exc:
            raise click.ClickException(escape(exc)) from None

    return _mark(wrapper, "workspace")


def json_option(func: Callable) -> Callable:
    """``--json`` (before or after the subcommand)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, as_json=bool(_given("as_json", False)), **kwargs)

    return _mark(wrapper, "as_json")


class DateParam(click.ParamType):
    """A date option (YYYY-MM-DD) read by :func:`pipeline.display.read_date`: an impossible date says why."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return read_date(value)
        except DateError as exc:
            self.fail(str(exc), param, ctx)


DATE = DateParam()


def _echo(line: str, err: bool = False) -> None:
    """Print one line; what it carries from cases and file names is shown escaped (it stays one line)."""
    click.echo(escape(line), err=err)


def _print_json(data: Any) -> None:
    click.echo(escape_json(json.dumps(data, ensure_ascii=False, indent=2, default=str)))


@click.group(cls=AccordGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="accord")
@click.option("--verbose", "-v", is_flag=True, help="Log every document, not only problems.")
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Accord: sealed, archived and searchable agreements for an ADR office.

    --workspace, --json and --log-format may be given before or after the command.

    \b
    Example:
        accord process            # everything in inbox/, once
        accord search "Núñez"     # find a record
        accord -w /srv/accord status
        accord watch              # the coordinator's everyday entry point
    """
    ctx.meta[_VERBOSE] = verbose


@cli.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(path: Path) -> None:
    """Create a new workspace at PATH with the default templates and policies.

    \b
    Example:
        accord init /srv/accord
    """
    from pipeline.governance.access import current_actor

    try:
        ws = init_workspace(path, owner=current_actor().name)
    except AccordError as exc:
        raise click.ClickException(escape(exc)) from None
    _echo(f"Created workspace {ws.root}")
    _echo(f"Drop case files into {ws.inbox}, then run: accord process --workspace {ws.root}")


@cli.command()
@workspace_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; one line per file only.")
def process(ws: Workspace, quiet: bool) -> None:
    """Process every file in the inbox once, then exit.

    Exits with 0 only if nothing failed. Failed files are in inbox/failed/ with a
    .reason.txt beside each.

    \b
    Example:
        cp case.yaml inbox/ && accord process
    """
    from pipeline.intake.ingest import Ingestor
    from pipeline.intake.watcher import run_once

    config = ws.load_config()
    converter = _make_converter(config)
    ingestor = Ingestor(ws, config, converter)
    try:
        with _progress(quiet) as progress:
            task = progress.add_task("Processing", total=None)

            def started(total: int) -> None:
                progress.update(task, total=total)

            def finished(outcome: Any) -> None:
                progress.advance(task)
                _say(progress, escape(_outcome_line(outcome)))

            summary = run_once(ws, ingestor, on_start=started, on_outcome=finished)
    finally:
        ingestor.close()
        converter.close()
    for line in summary.reconciled:
        _echo(f"reconcile: {line}")
    _echo(
        f"{summary.count('recorded')} recorded, {summary.count('duplicate')} already recorded, "
        f"{summary.count('events')} event file(s), {summary.count('signed')} signed copie(s), "
        f"{summary.count('failed')} failed."
    )
    if summary.stopped:
        raise click.ClickException(f"Stopped: {escape(summary.stopped)} The remaining files are untouched; run again when fixed.")
    if summary.failed:
        sys.exit(1)


def _outcome_line(outcome: Any) -> str:
    if outcome.status == "recorded":
        total = sum(outcome.timings.values())
        return f"recorded  {outcome.source_name} -> {outcome.record_id} ({total:.2f} s)"
    if outcome.status == "duplicate":
        return f"duplicate {outcome.source_name} (already {outcome.record_id})"
    if outcome.status == "events":
        return f"events    {outcome.source_name}: {outcome.reason}"
    if outcome.status == "signed":
        return f"signed    {outcome.source_name} -> {outcome.record_id}: {outcome.reason or ''}"
    return f"FAILED    {outcome.source_name}: {outcome.reason}"


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


def _progress(quiet: bool) -> Any:
    if quiet or not sys.stderr.isatty():
        return _QuietProgress()
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                     console=_console(stderr=True), transient=True)


def _say(progress: Any, line: str) -> None:
    """One line about a file: above the progress bar when there is one, else on standard output."""
    if isinstance(progress, Progress):
        progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
    else:
        _echo(line)


def _make_converter(config: Any) -> Any:
    from pipeline.documents.convert import Converter

    return Converter(config.converter)


@cli.command()
@workspace_option
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="LibreOffice instances working at once (default: watch.workers, else one per core).")
@click.option("--poll", "poll", type=click.FloatRange(min=0.1), default=None,
              help="Poll the inbox every SECONDS instead of using file events (network shares).")
def watch(ws: Workspace, workers: int | None, poll: float | None) -> None:
    """Watch the inbox and process every file saved into it, until stopped.

    Files already in the inbox are taken at start; a file is taken once it has stopped
    changing. SIGTERM or Ctrl-C finishes the documents in hand and takes no new ones.
    Each document is logged with its outcome and timings (add --log-format json).

    \b
    Example:
        accord --log-format json watch --workers 2
        accord watch --poll 5        # an inbox on a network share
    """
    from pipeline.intake.watcher import Watcher

    logging.getLogger("accord").setLevel(min(logging.getLogger("accord").level, logging.INFO))
    watcher = Watcher(ws, ws.load_config(), workers=workers, poll_seconds=poll)
    previous = {sig: signal.signal(sig, lambda *_: watcher.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stats = watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(stats.outcomes.items())) or "no files"
    _echo(f"Stopped. {counts}.", err=True)


@cli.command()
@workspace_option
@json_option
def status(ws: Workspace, as_json: bool) -> None:
    """What is queued, in progress, processed and failed today; the last errors; the converters.

    \b
    Example:
        accord status
        accord status --json
    """
    from pipeline.intake.status import workspace_status

    data = workspace_status(ws)
    if as_json:
        _print_json(data)
        return
    watcher = data["watcher"]
    _echo(f"Inbox: {data['queued']} waiting, {data['in_progress']} in progress")
    _echo(f"Today: {data['processed_today']} processed, {data['failed_today']} failed")
    if watcher["running"]:
        conv = ", ".join(f"pid {c['pid']} {'up' if c['alive'] else 'DOWN'} ({c['conversions']} documents)"
                         for c in watcher["converters"])
        _echo(f"Watcher: running (pid {watcher['pid']}); converters: {conv or 'none'}")
        if watcher.get("fault"):
            _echo(f"Intake stopped: {watcher['fault']}")
    else:
        _echo("Watcher: not running")
    for err in data["last_errors"]:
        _echo(f"  {err['failed_at']}  {err['source_name']}  [{err['step']}] {err['reason']}")


@cli.command()
@workspace_option
@click.argument("query", required=False)
@click.option("--template", help="Only records made from this template.")
@click.option("--case", "case_id", help="Only records of this case (or MOU) id.")
@click.option("--party", help="Only records naming this party.")
@click.option("--from", "date_from", type=DATE, help="Record date on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", type=DATE, help="Record date on or before (YYYY-MM-DD).")
@click.option("--class", "record_class", help="Only records of this record class.")
@click.option("--status", help="Only records with this status (sealed, executed, superseded...).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, None), help="Page of results.")
@json_option
def search(ws: Workspace, query: str | None, template: str | None, case_id: str | None, party: str | None,
           date_from: dt.date | None, date_to: dt.date | None, record_class: str | None,
           status: str | None, limit: int, page: int, as_json: bool) -> None:
    """Search the catalog; without QUERY, list every record, newest first.

    Accents are optional: "Nunez" finds "Núñez". Put phrases in double quotes.

    \b
    Example:
        accord search Nunez
        accord search "bias-awareness workshop" --template resolution-agreement
        accord search --case ADR-2026-0142 --json
    """
    q = SearchQuery(
        text=query, template=template, case_id=case_id, party=party, record_class=record_class, status=status,
        date_from=date_from, date_to=date_to,
        limit=limit, offset=(page - 1) * limit,
    )
    with _session(ws) as session:
        found = session.search(q)
    results = found.records
    if as_json:
        _print_json([_public(r) for r in results])
        return
    if not results:
        _echo("No records found.")
        return
    _print_table(["Record", "Case", "Template", "Title", "Parties", "Status", "Created"],
                 [[r["record_id"], r["case_id"], r["template"], r["title"], ", ".join(r["parties"]), r["status"],
                   r["created"][:10]] for r in results])
    shown_to = found.offset + len(results)
    _echo(f"Records {found.offset + 1}-{shown_to} of {found.total}"
          + (f"; next page: --page {page + 1}" if shown_to < found.total else "") + ".")


#: Columns holding ids people copy: never cut, never wrapped, whatever the terminal's width.
_ID_COLUMNS = frozenset({"Record", "Case"})


def _print_table(headers: list[str], rows: list[list[Any]]) -> None:
    """A table of escaped values. Record and case ids stay whole; when the table is wider than the
    terminal it loses its borders and the other columns share what is left, folding their text."""
    cells = [[escape(v) for v in row] for row in rows]
    widths = [max([cell_len(h)] + [cell_len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    console = _console()
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


def _session(ws: Workspace) -> Any:
    """The workspace opened for the operating-system user running this command."""
    from pipeline.governance.access import current_actor
    from pipeline.office import OfficeSession

    return OfficeSession(ws, current_actor())


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in _PUBLIC_FIELDS if k in record}


@cli.command()
@workspace_option
@click.argument("record_id")
@json_option
def show(ws: Workspace, record_id: str, as_json: bool) -> None:
    """Show one record's catalog entry.

    \b
    Example:
        accord show ADR-2026-0142-1a2b3c4d
    """
    with _session(ws) as session:
        record = session.show(record_id)
    data = _public(record)
    if as_json:
        _print_json(data)
        return
    width = max(map(len, data))
    for key, value in data.items():
        if key == "holds":
            value = [f"#{h['id']} {h['name']} ({h['reason']}, by {h['author']})" for h in value] or "none"
        text = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
        _echo(f"{key:<{width}}  {text}")  # one line each: an id is never cut or wrapped


@cli.command()
@workspace_option
@click.argument("record_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True), required=True,
              help="Where to write the sealed PDF; - for standard output.")
@click.option("--purpose", required=True, help="The legitimate interest in this record (recorded as a disclosure).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--executed", is_flag=True, help="The newest copy the parties signed, instead of the sealed original.")
def get(ws: Workspace, record_id: str, output: Path, purpose: str, force: bool, executed: bool) -> None:
    """Write a record's sealed PDF to a file, after checking its checksum and seal.

    The request is recorded with its purpose in the record of disclosures, once the
    PDF is written (a write that fails is recorded as failed). The file is readable
    by its owner only and appears whole or not at all.

    \b
    Example:
        accord get ADR-2026-0142-1a2b3c4d -o agreement.pdf --purpose "Appeal review, case 2027-11"
        accord get ADR-2026-0142-1a2b3c4d -o signed.pdf --executed --purpose "Enforcement"
        accord get ADR-2026-0142-1a2b3c4d -o - --purpose "Print for the hearing" | lp
    """
    to_stdout = str(output) == "-"
    delivery = _to_stdout if to_stdout else _FileDelivery(output, force)  # checked before anything is read
    try:
        with _session(ws) as session:
            data = session.retrieve(record_id, purpose, executed=executed, deliver=delivery).data
    finally:
        if not to_stdout:
            delivery.discard()
    _echo(f"Wrote {'standard output' if to_stdout else output} ({len(data)} bytes); checksum and seal verified.",
          err=to_stdout)


class _FileDelivery:
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


def _to_stdout(data: bytes) -> None:
    sys.stdout.flush()
    stream = sys.stdout.buffer
    try:
        stream.write(data)
        stream.flush()
    except BrokenPipeError:
        with contextlib.suppress(OSError, ValueError):  # nothing more goes to the closed pipe, even at exit
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise


@cli.command()
@workspace_option
@click.argument("record_id", required=False)
@click.option("--all", "all_records", is_flag=True, help="Verify every record.")
@json_option
def verify(ws: Workspace, record_id: str | None, all_records: bool, as_json: bool) -> None:
    """Check records' checksums and seals; exit 1 if any fails.

    \b
    Example:
        accord verify ADR-2026-0142-1a2b3c4d
        accord verify --all --json
    """
    if not record_id and not all_records:
        raise click.UsageError("Name a RECORD_ID or use --all.")
    with _session(ws) as session:
        reports = session.verify(None if all_records else record_id)
    if as_json:
        _print_json([r.as_dict() for r in reports])
    else:
        for report in reports:
            _print_report(report)
        good = sum(1 for r in reports if r.ok)
        _echo(f"{good} of {len(reports)} record(s) verified.")
    if not all(r.ok for r in reports):
        sys.exit(1)


def _print_report(report: Any) -> None:
    console = _console()
    say = console.print
    mark = "[green]OK[/green]" if report.ok else "[red]FAILED[/red]"
    say(f"{mark}  {_shown(report.record_id)}")
    say(f"    checksum: {'matches' if report.checksum_ok else 'DOES NOT MATCH'} ({_shown(report.actual_sha256)})")
    if report.level:
        say(f"    level: {_shown(report.level_meaning or report.level)}")
    for sig in report.signatures:
        kind = f"certification ({sig.docmdp})" if sig.certification else "approval"
        say(
            f"    signature {_shown(sig.field)}: {kind} by {_shown(sig.signer)} at {sig.signing_time}; "
            f"intact={sig.intact} valid={sig.valid} trusted={sig.trusted} "
            f"changes after it: {sig.modifications or 'none'} ({'allowed' if sig.modifications_allowed else 'NOT allowed'})"
        )
    for ts in getattr(report, "timestamps", []):
        say(f"    document time-stamp {_shown(ts.field)}: {ts.time} by {_shown(ts.tsa)} "
            f"({'OK' if ts.ok else 'NOT OK'}; TSA certificate expires {ts.tsa_certificate_expires})")
    if getattr(report, "ltv_now", None) is not None:
        say(f"    long-term (AdES-LTA) now: {report.ltv_now} - {_shown(report.ltv_now_explanation)}")
    if getattr(report, "ltv_at_retention_end", None) is not None:
        say(f"    long-term at the end of retention ({report.retention_end}): {report.ltv_at_retention_end}"
            f" - {_shown(report.ltv_at_retention_end_explanation)}")
    for note in getattr(report, "notes", []):
        say(f"    note: {_shown(note)}")
    for problem in report.problems:
        say(f"    [red]problem:[/red] {_shown(problem)}")


def _shown(value: Any) -> str:
    """A value for rich's markup: escaped, and its brackets taken literally."""
    return markup_escape(escape(value))


@cli.group()
def audit() -> None:
    """The tamper-evident audit log and the record of disclosures."""


@audit.command("verify")
@workspace_option
@json_option
def audit_verify(ws: Workspace, as_json: bool) -> None:
    """Check the whole hash chain, the triggers that keep it append-only and every anchor; name the first broken entry.

    \b
    Example:
        accord audit verify
    """
    with _session(ws) as session:
        report = session.verify_audit()
    chain = report.chain
    if as_json:
        _print_json({"ok": report.ok, "entries": chain.entries, "head_seq": chain.head_seq,
                     "head_hash": chain.head_hash, "first_broken": chain.first_broken, "problem": chain.problem,
                     "trigger_problems": report.trigger_problems,
                     "anchors": report.anchors, "anchor_problems": report.anchor_problems})
    else:
        if chain.ok:
            _echo(f"Chain intact: {chain.entries} entries, head {chain.head_seq} {chain.head_hash}.")
        else:
            _echo(f"CHAIN BROKEN at entry {chain.first_broken}: {chain.problem}.")
        for problem in report.trigger_problems:
            _echo(f"NOT PROTECTED: {problem}.")
        _echo(f"Anchors checked: {len(report.anchors)}.")
        for problem in report.anchor_problems:
            _echo(f"  anchor problem: {problem}")
    if not report.ok:
        sys.exit(1)


@audit.command("anchor")
@workspace_option
def audit_anchor(ws: Workspace) -> None:
    """Seal the log's head (number, hash, time) into a document under archive/anchors/.

    \b
    Example:
        accord audit anchor
    """
    from pipeline.documents.seal import make_sealer

    config = ws.load_config()
    converter = _make_converter(config)
    try:
        with _session(ws) as session:
            written = session.write_anchor(converter, make_sealer(ws, config))
    finally:
        converter.close()
    _echo(f"Anchored entry {written.head_seq} ({written.head_hash}) in {written.path}.")


@audit.command("disclosures")
@workspace_option
@click.argument("record_id")
@json_option
def audit_disclosures(ws: Workspace, record_id: str, as_json: bool) -> None:
    """The record of requests for and disclosures of one record (FERPA 34 CFR 99.32).

    \b
    Example:
        accord audit disclosures ADR-2026-0142-1a2b3c4d
    """
    with _session(ws) as session:
        rows = session.disclosures(record_id)
    if as_json:
        _print_json(rows)
        return
    if not rows:
        _echo("No requests or disclosures recorded.")
    for r in rows:
        what = r["details"].get("released") or r["details"].get("reason") or ""
        _echo(f"{r['at'][:19]}  {r['actor']:<12} {r['action']:<8} {r['outcome']:<8} "
              f"purpose: {r['purpose'] or '-'}  {what}")


@audit.command("log")
@workspace_option
@click.option("--actor", help="Only entries by this user.")
@click.option("--action", help="Only this action (ingest, failure, search, view, retrieve, event, anchor...).")
@click.option("--record", "record_id", help="Only entries about this record.")
@click.option("--since", help="From this date or UTC time (2026-11-01, 2026-11-01T14:30).")
@click.option("--until", help="Up to this date (the whole day) or UTC time.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@json_option
def audit_log(ws: Workspace, actor: str | None, action: str | None, record_id: str | None, since: str | None,
              until: str | None, limit: int, as_json: bool) -> None:
    """Read the audit log, newest first, with filters.

    \b
    Example:
        accord audit log --action retrieve --since 2026-11-01
    """
    with _session(ws) as session:
        rows = session.audit_log(actor=actor, action=action, record_id=record_id, since=since, until=until,
                                 limit=limit)
    if as_json:
        _print_json(rows)
        return
    for r in rows:
        _echo(f"{r['seq']:>7}  {r['at'][:19]}  {r['actor']:<12} {r['action']:<14} {r['outcome']:<8} "
              f"{r['record_id'] or r['case_id'] or ''}")


def _desk(ws: Workspace) -> Any:
    from pipeline.office import RetentionDesk

    return RetentionDesk(_session(ws))


@cli.command()
@workspace_option
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Judge expiries as of this date (look ahead); default today.")
@json_option
def preserve(ws: Workspace, as_of: dt.date | None, as_json: bool) -> None:
    """Renew long-term seals: fresh validation data and a new archival time-stamp where needed.

    A record is renewed when its newest archival time-stamp, or a certificate its seal rests on,
    expires within seal.preserve_window_days, or its digest is marked weak. The PDF changes by
    appending only; each renewal is a preservation event with the old and new SHA-256.

    \b
    Example:
        accord preserve --as-of 2029-06-01
    """
    desk = _desk(ws)
    try:
        report = desk.preserve(as_of)
    finally:
        desk.session.close()
    if as_json:
        _print_json(report.as_dict())
    else:
        _echo(f"As of {report.as_of}: {report.checked} record(s), {report.examined} read, {report.not_due} not due, "
              f"{len(report.preserved)} renewed, {len(report.cannot)} cannot be, {len(report.failed)} failed.")
        for item in report.items:
            _echo(f"  {item.record_id}: {item.outcome} ({'; '.join(item.reasons)}) {item.message}")
    if not report.ok:
        sys.exit(1)


@cli.group()
def event() -> None:
    """Case events (a closure, an expiry) that start retention clocks."""


@event.command("add")
@workspace_option
@click.argument("case_id")
@click.argument("name")
@click.option("--date", "date", type=DATE, required=True, help="When it happened (YYYY-MM-DD).")
@click.option("--note", default="", help="A short note (no case content).")
def event_add(ws: Workspace, case_id: str, name: str, date: dt.date, note: str) -> None:
    """Record an event against a case; the case's due dates are recomputed.

    \b
    Example:
        accord event add ADR-2026-0142 closed --date 2026-12-15
    """
    desk = _desk(ws)
    try:
        new = desk.add_event(case_id, name, date, note)
    finally:
        desk.session.close()
    _echo("Recorded." if new else "Already recorded.")


@cli.group()
def case() -> None:
    """Cases: everything Accord holds about one case."""


@case.command("show")
@workspace_option
@click.argument("case_id")
@json_option
def case_show(ws: Workspace, case_id: str, as_json: bool) -> None:
    """A case's timeline: events, records with status, versions and due dates, holds, disclosures.

    \b
    Example:
        accord case show ADR-2026-0142
    """
    desk = _desk(ws)
    try:
        timeline = desk.case(case_id)
    finally:
        desk.session.close()
    if as_json:
        _print_json(timeline)
        return
    _echo(f"Case {case_id}")
    for e in timeline["events"]:
        _echo(f"  {e['date']}  event   {e['event']}  {e['note']}")
    for r in timeline["records"]:
        _echo(f"  {r['created'][:10]}  record  {r['record_id']}  {r['template']}  [{r['status']}]"
              + (f"  supersedes {r['supersedes']}" if r["supersedes"] else ""))
        _echo(f"              retention: {r.get('due_reason') or 'not computed yet'}")
        for h in r["holds"]:
            _echo(f"              HELD by #{h['id']} {h['name']}: {h['reason']}")
    for t in timeline["tombstones"]:
        _echo(f"  {t['disposed_at'][:10]}  {t['action']:<7} {t['record_id']}  ({t['rule']}, approved by {t['approver']})")
    for d in timeline.get("disclosures", []):
        _echo(f"  {d['at'][:10]}  {d['action']:<7} {d['record_id']} by {d['actor']} ({d['outcome']}): "
              f"{d['purpose'] or '-'}")


@cli.group()
def hold() -> None:
    """Legal holds: nothing under a hold is disposed of."""


@hold.command("place")
@workspace_option
@click.option("--case", "case_id", help="Hold every record of this case (future ones too).")
@click.option("--record", "record_id", help="Hold one record.")
@click.option("--search", "search_text", help="Hold the records this search finds now.")
@click.option("--name", required=True, help="A short name for the hold.")
@click.option("--reason", required=True, help="Why (litigation, a FERPA inspection request...).")
def hold_place(ws: Workspace, case_id: str | None, record_id: str | None, search_text: str | None, name: str,
               reason: str) -> None:
    """Place a legal hold on a case, a record or a search.

    \b
    Example:
        accord hold place --case ADR-2026-0142 --name "Doe v. Institute" --reason "Litigation notice"
    """
    desk = _desk(ws)
    try:
        placed = desk.place_hold(name=name, reason=reason, case_id=case_id, record_id=record_id, search=search_text)
    finally:
        desk.session.close()
    _echo(f"Hold #{placed.id} placed on {placed.scope_kind} {placed.scope_value} ({placed.records} record(s) now).")


@hold.command("release")
@workspace_option
@click.argument("hold_id", type=int)
@click.option("--reason", required=True, help="Why the hold ends.")
def hold_release(ws: Workspace, hold_id: int, reason: str) -> None:
    """Release a hold (records stay frozen while any other hold covers them).

    \b
    Example:
        accord hold release 3 --reason "Case settled"
    """
    desk = _desk(ws)
    try:
        desk.release_hold(hold_id, reason)
    finally:
        desk.session.close()
    _echo(f"Hold #{hold_id} released.")


@hold.command("list")
@workspace_option
@click.option("--all", "include_released", is_flag=True, help="Released holds too.")
@json_option
def hold_list(ws: Workspace, include_released: bool, as_json: bool) -> None:
    """List the holds.

    \b
    Example:
        accord hold list --all
    """
    desk = _desk(ws)
    try:
        rows = desk.holds(include_released)
    finally:
        desk.session.close()
    if as_json:
        _print_json([h.__dict__ for h in rows])
        return
    if not rows:
        _echo("No holds.")
    for h in rows:
        state = f"released {h.released_at[:10]}" if h.released_at else "active"
        _echo(f"#{h.id:<4} {h.name:<30} {h.scope_kind} {h.scope_value}  {h.records} record(s)  "
              f"by {h.author} {h.placed_at[:10]}  [{state}]")


@cli.group(invoke_without_command=True)
@workspace_option
@click.option("--as-of", "as_of", type=DATE, default=None,
              help="Compute what is due on this date (look ahead); default today.")
@click.option("--dry-run", is_flag=True, help="Only say what is due; write no proposal.")
@json_option
@click.pass_context
def sweep(ctx: click.Context, ws: Workspace, as_of: dt.date | None, dry_run: bool, as_json: bool) -> None:
    """Retention sweep: propose what is due, check fixity, anchor the audit log.

    Nothing is disposed of without `accord sweep approve`, unless the schedule needs no approval.

    \b
    Example:
        accord sweep --as-of 2034-01-01 --dry-run
        accord sweep && accord sweep approve 4
    """
    if ctx.invoked_subcommand:
        return
    from pipeline.documents.seal import make_sealer

    day = as_of or dt.date.today()
    if day > dt.date.today() and not dry_run:
        # A proposal judged on a day still to come could dispose of records before their time.
        raise click.UsageError("A sweep as of a future date only looks ahead: add --dry-run.")
    config = ws.load_config()
    converter = None if dry_run else _make_converter(config)
    desk = _desk(ws)
    try:
        report = desk.sweep(day, dry_run=dry_run, converter=converter,
                            sealer=None if dry_run else make_sealer(ws, config))
    finally:
        desk.session.close()
        if converter:
            converter.close()
    if as_json:
        _print_json({"as_of": day.isoformat(), "due": report.due, "held": report.held, "by_action": report.by_action,
                     "proposal": report.proposal_id, "executed_without_approval": report.executed_proposal_id,
                     "failures_purged": report.failures_purged,
                     "fixity": report.fixity.__dict__ if report.fixity else None,
                     "anchored_entry": report.anchored, "sample": [i.__dict__ for i in report.sample]})
        return
    _echo(f"As of {day}: {report.due} record(s) due ({', '.join(f'{n} {a}' for a, n in report.by_action.items()) or 'none'}), "
          f"{report.held} held back by legal holds.")
    for item in report.sample:
        _echo(f"  {item.due_date}  {item.action:<8} {item.record_id}  ({item.rule})")
    if report.proposal_id:
        _echo(f"Proposal {report.proposal_id} awaits approval: accord sweep approve {report.proposal_id}")
    if report.executed_proposal_id:
        _echo(f"Proposal {report.executed_proposal_id} needed no approval and was carried out.")
    if report.fixity:
        f = report.fixity
        _echo(f"Fixity: {f.checked} checked, {len(f.changed)} changed, {len(f.missing)} missing, "
              f"{len(f.untracked)} untracked.")
        for label, items in (("CHANGED", f.changed), ("MISSING", f.missing), ("UNTRACKED", f.untracked)):
            for item in items:
                _echo(f"  {label}: {item}")
    if report.failures_purged:
        _echo(f"Failure reports past their schedule destroyed: {report.failures_purged}.")
    if report.anchored:
        _echo(f"Audit log anchored at entry {report.anchored}.")


@sweep.command("list")
@workspace_option
@json_option
def sweep_list(ws: Workspace, as_json: bool) -> None:
    """List disposition proposals.

    \b
    Example:
        accord sweep list
    """
    desk = _desk(ws)
    try:
        rows = desk.proposals()
    finally:
        desk.session.close()
    if as_json:
        _print_json(rows)
        return
    for p in rows:
        _echo(f"#{p['id']:<4} {p['status']:<10} as of {p['as_of']}  {p['records']} record(s)  "
              f"proposed by {p['proposed_by']}" + (f", certificate {p['certificate_record_id']}"
                                                    if p["certificate_record_id"] else ""))


@sweep.command("approve")
@workspace_option
@click.argument("proposal_id", type=int)
def sweep_approve(ws: Workspace, proposal_id: int) -> None:
    """Approve a disposition proposal and carry it out; a sealed certificate is archived.

    \b
    Example:
        accord sweep approve 4
    """
    from pipeline.documents.seal import make_sealer

    config = ws.load_config()
    converter = _make_converter(config)
    desk = _desk(ws)
    try:
        report = desk.approve(proposal_id, converter, make_sealer(ws, config))
    finally:
        desk.session.close()
        converter.close()
    for record_id, result in report.results.items():
        _echo(f"  {record_id}: {result}")
    _echo(f"Proposal {proposal_id} carried out; certificate of disposition: {report.certificate_record_id}")


@sweep.command("reject")
@workspace_option
@click.argument("proposal_id", type=int)
@click.option("--reason", required=True)
def sweep_reject(ws: Workspace, proposal_id: int, reason: str) -> None:
    """Reject a disposition proposal.

    \b
    Example:
        accord sweep reject 4 --reason "Pending review of the 2019 cases"
    """
    desk = _desk(ws)
    try:
        desk.reject(proposal_id, reason)
    finally:
        desk.session.close()
    _echo(f"Proposal {proposal_id} rejected.")


@cli.group()
def templates() -> None:
    """Work with the Word templates and their declarations."""


@templates.command("check")
@workspace_option
@json_option
def templates_check(ws: Workspace, as_json: bool) -> None:
    """Compare each template's variables with the fields its declaration names.

    \b
    Example:
        accord templates check
    """
    from pipeline.documents.templates import check_template, load_templates

    results = [check_template(spec) for spec in load_templates(ws.templates).values()]
    if as_json:
        _print_json([{"template": r.name, "ok": r.ok, "undeclared": r.undeclared, "unused": r.unused,
                      "missing_bookmarks": r.missing_bookmarks} for r in results])
    else:
        for r in results:
            _echo(f"{'ok    ' if r.ok else 'FAILED'} {r.name}")
            for path in r.undeclared:
                _echo(f"    used by the template but not declared: {path}")
            for path in r.unused:
                _echo(f"    declared but not used by the template: {path}")
            for name in r.missing_bookmarks:
                _echo(f"    signature bookmark missing: {name}")
    if not all(r.ok for r in results):
        sys.exit(1)


@cli.group()
def user() -> None:
    """Portal accounts: a name and an Argon2id-hashed password; roles come from access.yaml."""


def _account_store(ws: Workspace) -> Any:
    from pipeline.governance.accounts import Accounts

    return Accounts(ws.accounts, ws.load_config().portal)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _audit_account(ws: Workspace, action: str, name: str, details: dict[str, Any]) -> None:
    from pipeline.governance.access import current_actor
    from pipeline.records.audit import AuditEntry
    from pipeline.store import open_catalog

    with open_catalog(ws.catalog) as catalog:
        catalog.audit(AuditEntry(current_actor().name, action, "ok", details={"account": name, **details}))


@user.command("add")
@workspace_option
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="Role from access.yaml (repeat for several).")
@click.option("--case", "cases", multiple=True, help="A case id or pattern (ADR-2026-*) that is this user's own.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def user_add(ws: Workspace, name: str, roles: tuple[str, ...], cases: tuple[str, ...], password_stdin: bool) -> None:
    """Create a portal account and list NAME in access.yaml with its roles.

    \b
    Example:
        accord user add jchen --role counsel
        accord user add mlee --role coordinator --case "ADR-2026-*"
    """
    from pipeline.governance.access import ACCESS_FILE, folder_owner, grant
    from pipeline.governance.accounts import check_name, check_password

    check_name(name)
    with _account_store(ws) as store:
        if any(a.name == name for a in store.listing()):
            raise click.ClickException(f"There is already an account {name}; nothing was changed.")
        password = _read_password(password_stdin)
        check_password(password, name)
        listed = grant(ws.policies / ACCESS_FILE, name, roles, cases, folder_owner(ws.root))
        store.add(name, password)
    _audit_account(ws, "account-add", name, {"roles": list(roles), "cases": list(cases)})
    _echo(f"Account {name} created" + (f"; listed in {ACCESS_FILE} as {', '.join(roles)}." if listed
                                        else f"; already listed in {ACCESS_FILE}."))


@user.command("passwd")
@workspace_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def user_passwd(ws: Workspace, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; the account's sessions end.

    \b
    Example:
        accord user passwd jchen
    """
    with _account_store(ws) as store:
        store.get(name)
        store.set_password(name, _read_password(password_stdin))
    _audit_account(ws, "account-password", name, {})
    _echo(f"Password of {name} changed; their sessions have ended.")


@user.command("disable")
@workspace_option
@click.argument("name")
def user_disable(ws: Workspace, name: str) -> None:
    """Stop NAME from signing in; their sessions end at once.

    \b
    Example:
        accord user disable jchen
    """
    with _account_store(ws) as store:
        store.disable(name)
    _audit_account(ws, "account-disable", name, {})
    _echo(f"Account {name} disabled.")


@user.command("enable")
@workspace_option
@click.argument("name")
def user_enable(ws: Workspace, name: str) -> None:
    """Let a disabled account sign in again.

    \b
    Example:
        accord user enable jchen
    """
    with _account_store(ws) as store:
        store.enable(name)
    _audit_account(ws, "account-enable", name, {})
    _echo(f"Account {name} enabled.")


@user.command("list")
@workspace_option
@json_option
def user_list(ws: Workspace, as_json: bool) -> None:
    """Every portal account, with its roles from access.yaml.

    \b
    Example:
        accord user list
    """
    from pipeline.governance.access import policy_for

    policy = policy_for(ws.root, ws.policies)
    with _account_store(ws) as store:
        accounts = store.listing()
    rows = [{"name": a.name, "roles": list(policy.user(a.name).roles) if policy.user(a.name) else [],
             "disabled": a.disabled is not None,
             "created": dt.datetime.fromtimestamp(a.created, dt.timezone.utc).isoformat(timespec="seconds")}
            for a in accounts]
    if as_json:
        _print_json(rows)
        return
    if not rows:
        _echo("No portal accounts; add one with: accord user add NAME --role ROLE")
    for r in rows:
        _echo(f"{r['name']:<20} {', '.join(r['roles']) or '(no role in access.yaml)':<40} "
              f"{'disabled' if r['disabled'] else 'active'}")


@cli.command()
@workspace_option
@click.option("--host", default=None, help="Address to listen on (default: portal.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: portal.port, 8080).")
@click.option("--workers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Server processes (sessions and throttling are shared through the workspace).")
def serve(ws: Workspace, host: str | None, port: int | None, workers: int) -> None:
    """Run the web portal for counsel, the records officer and the auditor.

    It listens on loopback by default: put a TLS reverse proxy in front of it (see README).

    \b
    Example:
        accord serve --port 8080
    """
    import uvicorn

    config = ws.load_config()
    host = host or config.portal.host
    port = port or config.portal.port
    options = dict(host=host, port=port, proxy_headers=False, server_header=False, access_log=False,
                   log_level="warning", timeout_graceful_shutdown=10)
    logging.getLogger("accord").setLevel(min(logging.getLogger("accord").level, logging.INFO))
    _echo(f"Accord portal on http://{host}:{port}/ (workspace {ws.root}); Ctrl-C stops it.", err=True)
    if workers > 1:
        os.environ["ACCORD_HOME"] = str(ws.root)
        uvicorn.run("pipeline.portal.app:app_from_environment", factory=True, workers=workers, **options)
    else:
        from pipeline.portal.app import create_app

        uvicorn.run(create_app(ws, config), **options)


def main() -> None:
    try:
        cli(prog_name="accord")
    except RecordNotFound as exc:
        _echo(f"Error: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
