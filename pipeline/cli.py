"""The ``accord`` command: parses options, calls the library, prints. Nothing else lives here."""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import __version__, logformat
from .catalog import SearchQuery
from .errors import AccordError, RecordNotFound
from .workspace import Workspace, init_workspace, resolve_workspace

console = Console()
err_console = Console(stderr=True)


def workspace_option(func: Callable) -> Callable:
    """``--workspace PATH`` on every command (else ACCORD_HOME, else this checkout)."""

    @click.option("--workspace", "-w", "workspace", type=click.Path(file_okay=False, path_type=Path),
                  default=None, envvar="ACCORD_HOME", help="Workspace folder (default: $ACCORD_HOME or this checkout).")
    @functools.wraps(func)
    def wrapper(*args: Any, workspace: Path | None, **kwargs: Any) -> Any:
        try:
            ws = resolve_workspace(workspace)
            return func(*args, ws=ws, **kwargs)
        except AccordError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def json_option(func: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def _print_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="accord")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Log lines for people (text) or for log collectors (json).")
@click.option("--verbose", "-v", is_flag=True, help="Log every document, not only problems.")
def cli(log_format: str, verbose: bool) -> None:
    """Accord: sealed, archived and searchable agreements for an ADR office.

    \b
    Example:
        accord process            # everything in inbox/, once
        accord search "Núñez"     # find a record
        accord watch              # the coordinator's everyday entry point
    """
    logformat.configure(logging.INFO if verbose else logging.WARNING, log_format)


@cli.command()
@click.argument("path", type=click.Path(file_okay=False, path_type=Path), default=".")
def init(path: Path) -> None:
    """Create a new workspace at PATH with the default templates and policies.

    \b
    Example:
        accord init /srv/accord
    """
    from .access import current_actor

    try:
        ws = init_workspace(path, owner=current_actor().name)
    except AccordError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created workspace {ws.root}")
    click.echo(f"Drop case files into {ws.inbox}, then run: accord process --workspace {ws.root}")


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
    from .ingest import Ingestor
    from .runner import process_inbox

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
                line = _outcome_line(outcome)
                (progress.console.print if not quiet else click.echo)(line)

            summary = process_inbox(ws, ingestor, on_start=started, on_outcome=finished)
    finally:
        ingestor.close()
        converter.close()
    for line in summary.reconciled:
        click.echo(f"reconcile: {line}")
    click.echo(
        f"{summary.count('recorded')} recorded, {summary.count('duplicate')} already recorded, "
        f"{summary.count('events')} event file(s), {summary.count('signed')} signed copie(s), "
        f"{summary.count('failed')} failed."
    )
    if summary.stopped:
        raise click.ClickException(f"Stopped: {summary.stopped} The remaining files are untouched; run again when fixed.")
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
    console = console

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
                     console=err_console, transient=True)


def _make_converter(config: Any) -> Any:
    from .convert import Converter

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
    from .watcher import Watcher

    logging.getLogger("accord").setLevel(min(logging.getLogger("accord").level, logging.INFO))
    watcher = Watcher(ws, ws.load_config(), workers=workers, poll_seconds=poll)
    previous = {sig: signal.signal(sig, lambda *_: watcher.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stats = watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(stats.outcomes.items())) or "no files"
    click.echo(f"Stopped. {counts}.", err=True)


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
    from .status import workspace_status

    data = workspace_status(ws)
    if as_json:
        _print_json(data)
        return
    watcher = data["watcher"]
    click.echo(f"Inbox: {data['queued']} waiting, {data['in_progress']} in progress")
    click.echo(f"Today: {data['processed_today']} processed, {data['failed_today']} failed")
    if watcher["running"]:
        conv = ", ".join(f"pid {c['pid']} {'up' if c['alive'] else 'DOWN'} ({c['conversions']} documents)"
                         for c in watcher["converters"])
        click.echo(f"Watcher: running (pid {watcher['pid']}); converters: {conv or 'none'}")
        if watcher.get("fault"):
            click.echo(f"Intake stopped: {watcher['fault']}")
    else:
        click.echo("Watcher: not running")
    for err in data["last_errors"]:
        click.echo(f"  {err['failed_at']}  {err['source_name']}  [{err['step']}] {err['reason']}")


@cli.command()
@workspace_option
@click.argument("query", required=False)
@click.option("--template", help="Only records made from this template.")
@click.option("--case", "case_id", help="Only records of this case (or MOU) id.")
@click.option("--party", help="Only records naming this party.")
@click.option("--from", "date_from", type=click.DateTime(["%Y-%m-%d"]), help="Record date on or after (YYYY-MM-DD).")
@click.option("--to", "date_to", type=click.DateTime(["%Y-%m-%d"]), help="Record date on or before (YYYY-MM-DD).")
@click.option("--class", "record_class", help="Only records of this record class.")
@click.option("--status", help="Only records with this status (sealed, executed, superseded...).")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, None), help="Page of results.")
@json_option
def search(ws: Workspace, query: str | None, template: str | None, case_id: str | None, party: str | None,
           date_from: dt.datetime | None, date_to: dt.datetime | None, record_class: str | None,
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
        date_from=date_from.date() if date_from else None, date_to=date_to.date() if date_to else None,
        limit=limit, offset=(page - 1) * limit,
    )
    with _session(ws) as session:
        found = session.search(q)
    results = found.records
    if as_json:
        _print_json([_public(r) for r in results])
        return
    if not results:
        click.echo("No records found.")
        return
    table = Table("Record", "Template", "Case", "Title", "Parties", "Status", "Created")
    for r in results:
        table.add_row(r["record_id"], r["template"], r["case_id"], r["title"], ", ".join(r["parties"]),
                      r["status"], r["created"][:10])
    console.print(table)
    shown_to = found.offset + len(results)
    click.echo(f"Records {found.offset + 1}-{shown_to} of {found.total}"
               + (f"; next page: --page {page + 1}" if shown_to < found.total else "") + ".")


_PUBLIC_FIELDS = (
    "record_id", "template", "record_class", "case_id", "title", "parties", "record_date", "created", "status",
    "pages", "size", "sha256", "signature_level", "signer", "signature_fields", "supersedes", "source_name",
    "pdf_path", "due_date", "due_reason", "retention_rule", "holds", "held", "snippet",
)


def _session(ws: Workspace) -> Any:
    """The workspace opened for the operating-system user running this command."""
    from .access import current_actor
    from .office import OfficeSession

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
    table = Table(show_header=False, box=None)
    for key, value in data.items():
        if key == "holds":
            value = [f"#{h['id']} {h['name']} ({h['reason']}, by {h['author']})" for h in value] or "none"
        table.add_row(key, ", ".join(value) if isinstance(value, list) else ("" if value is None else str(value)))
    console.print(table)


@cli.command()
@workspace_option
@click.argument("record_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the sealed PDF.")
@click.option("--purpose", required=True, help="The legitimate interest in this record (recorded as a disclosure).")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
@click.option("--executed", is_flag=True, help="The newest copy the parties signed, instead of the sealed original.")
def get(ws: Workspace, record_id: str, output: Path, purpose: str, force: bool, executed: bool) -> None:
    """Write a record's sealed PDF to a file, after checking its checksum and seal.

    The request is recorded with its purpose in the record of disclosures.

    \b
    Example:
        accord get ADR-2026-0142-1a2b3c4d -o agreement.pdf --purpose "Appeal review, case 2027-11"
        accord get ADR-2026-0142-1a2b3c4d -o signed.pdf --executed --purpose "Enforcement"
    """
    if output.exists() and not force:
        raise click.ClickException(f"{output} exists; use --force to overwrite it.")
    with _session(ws) as session:
        data = session.retrieve(record_id, purpose, executed=executed).data
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    click.echo(f"Wrote {output} ({len(data)} bytes); checksum and seal verified.")


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
        click.echo(f"{good} of {len(reports)} record(s) verified.")
    if not all(r.ok for r in reports):
        sys.exit(1)


def _print_report(report: Any) -> None:
    mark = "[green]OK[/green]" if report.ok else "[red]FAILED[/red]"
    console.print(f"{mark}  {report.record_id}")
    console.print(f"    checksum: {'matches' if report.checksum_ok else 'DOES NOT MATCH'} ({report.actual_sha256})")
    if report.level:
        console.print(f"    level: {report.level_meaning or report.level}")
    for sig in report.signatures:
        kind = f"certification ({sig.docmdp})" if sig.certification else "approval"
        console.print(
            f"    signature {sig.field}: {kind} by {sig.signer} at {sig.signing_time}; "
            f"intact={sig.intact} valid={sig.valid} trusted={sig.trusted} "
            f"changes after it: {sig.modifications or 'none'} ({'allowed' if sig.modifications_allowed else 'NOT allowed'})"
        )
    for ts in getattr(report, "timestamps", []):
        console.print(f"    document time-stamp {ts.field}: {ts.time} by {ts.tsa} "
                      f"({'OK' if ts.ok else 'NOT OK'}; TSA certificate expires {ts.tsa_certificate_expires})")
    if getattr(report, "ltv_now", None) is not None:
        console.print(f"    long-term (AdES-LTA) now: {report.ltv_now} - {report.ltv_now_explanation}")
    if getattr(report, "ltv_at_retention_end", None) is not None:
        console.print(f"    long-term at the end of retention ({report.retention_end}): {report.ltv_at_retention_end}"
                      f" - {report.ltv_at_retention_end_explanation}")
    for note in getattr(report, "notes", []):
        console.print(f"    note: {note}")
    for problem in report.problems:
        console.print(f"    [red]problem:[/red] {problem}")


@cli.group()
def audit() -> None:
    """The tamper-evident audit log and the record of disclosures."""


@audit.command("verify")
@workspace_option
@json_option
def audit_verify(ws: Workspace, as_json: bool) -> None:
    """Check the whole hash chain and every anchor; name the first broken entry.

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
                     "anchors": report.anchors, "anchor_problems": report.anchor_problems})
    else:
        if chain.ok:
            click.echo(f"Chain intact: {chain.entries} entries, head {chain.head_seq} {chain.head_hash}.")
        else:
            click.echo(f"CHAIN BROKEN at entry {chain.first_broken}: {chain.problem}.")
        click.echo(f"Anchors checked: {len(report.anchors)}.")
        for problem in report.anchor_problems:
            click.echo(f"  anchor problem: {problem}")
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
    from .ingest import make_sealer

    config = ws.load_config()
    converter = _make_converter(config)
    try:
        with _session(ws) as session:
            written = session.write_anchor(converter, make_sealer(ws, config))
    finally:
        converter.close()
    click.echo(f"Anchored entry {written.head_seq} ({written.head_hash}) in {written.path}.")


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
        click.echo("No requests or disclosures recorded.")
    for r in rows:
        what = r["details"].get("released") or r["details"].get("reason") or ""
        click.echo(f"{r['at'][:19]}  {r['actor']:<12} {r['action']:<8} {r['outcome']:<8} "
                   f"purpose: {r['purpose'] or '-'}  {what}")


@audit.command("log")
@workspace_option
@click.option("--actor", help="Only entries by this user.")
@click.option("--action", help="Only this action (ingest, failure, search, view, retrieve, event, anchor...).")
@click.option("--record", "record_id", help="Only entries about this record.")
@click.option("--since", help="From this time (ISO 8601, e.g. 2026-11-01).")
@click.option("--until", help="Up to this time (ISO 8601).")
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
        click.echo(f"{r['seq']:>7}  {r['at'][:19]}  {r['actor']:<12} {r['action']:<14} {r['outcome']:<8} "
                   f"{r['record_id'] or r['case_id'] or ''}")


def _desk(ws: Workspace) -> Any:
    from .office import RetentionDesk

    return RetentionDesk(_session(ws))


@cli.command()
@workspace_option
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Judge expiries as of this date (look ahead); default today.")
@json_option
def preserve(ws: Workspace, as_of: dt.datetime | None, as_json: bool) -> None:
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
        report = desk.preserve(as_of.date() if as_of else None)
    finally:
        desk.session.close()
    if as_json:
        _print_json(report.as_dict())
    else:
        click.echo(f"As of {report.as_of}: {report.checked} record(s), {report.examined} read, {report.not_due} not due, "
                   f"{len(report.preserved)} renewed, {len(report.cannot)} cannot be, {len(report.failed)} failed.")
        for item in report.items:
            click.echo(f"  {item.record_id}: {item.outcome} ({'; '.join(item.reasons)}) {item.message}")
    if not report.ok:
        sys.exit(1)


@cli.group()
def event() -> None:
    """Case events (a closure, an expiry) that start retention clocks."""


@event.command("add")
@workspace_option
@click.argument("case_id")
@click.argument("name")
@click.option("--date", "date", type=click.DateTime(["%Y-%m-%d"]), required=True, help="When it happened.")
@click.option("--note", default="", help="A short note (no case content).")
def event_add(ws: Workspace, case_id: str, name: str, date: dt.datetime, note: str) -> None:
    """Record an event against a case; the case's due dates are recomputed.

    \b
    Example:
        accord event add ADR-2026-0142 closed --date 2026-12-15
    """
    desk = _desk(ws)
    try:
        new = desk.add_event(case_id, name, date.date(), note)
    finally:
        desk.session.close()
    click.echo("Recorded." if new else "Already recorded.")


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
    click.echo(f"Case {case_id}")
    for e in timeline["events"]:
        click.echo(f"  {e['date']}  event   {e['event']}  {e['note']}")
    for r in timeline["records"]:
        click.echo(f"  {r['created'][:10]}  record  {r['record_id']}  {r['template']}  [{r['status']}]"
                   + (f"  supersedes {r['supersedes']}" if r["supersedes"] else ""))
        click.echo(f"              retention: {r.get('due_reason') or 'not computed yet'}")
        for h in r["holds"]:
            click.echo(f"              HELD by #{h['id']} {h['name']}: {h['reason']}")
    for t in timeline["tombstones"]:
        click.echo(f"  {t['disposed_at'][:10]}  {t['action']:<7} {t['record_id']}  ({t['rule']}, approved by {t['approver']})")
    for d in timeline.get("disclosures", []):
        click.echo(f"  {d['at'][:10]}  {d['action']:<7} {d['record_id']} by {d['actor']} ({d['outcome']}): "
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
    click.echo(f"Hold #{placed.id} placed on {placed.scope_kind} {placed.scope_value} ({placed.records} record(s) now).")


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
    click.echo(f"Hold #{hold_id} released.")


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
        click.echo("No holds.")
    for h in rows:
        state = f"released {h.released_at[:10]}" if h.released_at else "active"
        click.echo(f"#{h.id:<4} {h.name:<30} {h.scope_kind} {h.scope_value}  {h.records} record(s)  "
                   f"by {h.author} {h.placed_at[:10]}  [{state}]")


@cli.group(invoke_without_command=True)
@workspace_option
@click.option("--as-of", "as_of", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Compute what is due on this date (look ahead); default today.")
@click.option("--dry-run", is_flag=True, help="Only say what is due; write no proposal.")
@json_option
@click.pass_context
def sweep(ctx: click.Context, ws: Workspace, as_of: dt.datetime | None, dry_run: bool, as_json: bool) -> None:
    """Retention sweep: propose what is due, check fixity, anchor the audit log.

    Nothing is disposed of without `accord sweep approve`, unless the schedule needs no approval.

    \b
    Example:
        accord sweep --as-of 2034-01-01 --dry-run
        accord sweep && accord sweep approve 4
    """
    if ctx.invoked_subcommand:
        return
    from .ingest import make_sealer

    day = as_of.date() if as_of else dt.date.today()
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
    click.echo(f"As of {day}: {report.due} record(s) due ({', '.join(f'{n} {a}' for a, n in report.by_action.items()) or 'none'}), "
               f"{report.held} held back by legal holds.")
    for item in report.sample:
        click.echo(f"  {item.due_date}  {item.action:<8} {item.record_id}  ({item.rule})")
    if report.proposal_id:
        click.echo(f"Proposal {report.proposal_id} awaits approval: accord sweep approve {report.proposal_id}")
    if report.executed_proposal_id:
        click.echo(f"Proposal {report.executed_proposal_id} needed no approval and was carried out.")
    if report.fixity:
        f = report.fixity
        click.echo(f"Fixity: {f.checked} checked, {len(f.changed)} changed, {len(f.missing)} missing, "
                   f"{len(f.untracked)} untracked.")
        for label, items in (("CHANGED", f.changed), ("MISSING", f.missing), ("UNTRACKED", f.untracked)):
            for item in items:
                click.echo(f"  {label}: {item}")
    if report.failures_purged:
        click.echo(f"Failure reports past their schedule destroyed: {report.failures_purged}.")
    if report.anchored:
        click.echo(f"Audit log anchored at entry {report.anchored}.")


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
        click.echo(f"#{p['id']:<4} {p['status']:<10} as of {p['as_of']}  {p['records']} record(s)  "
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
    from .ingest import make_sealer

    config = ws.load_config()
    converter = _make_converter(config)
    desk = _desk(ws)
    try:
        report = desk.approve(proposal_id, converter, make_sealer(ws, config))
    finally:
        desk.session.close()
        converter.close()
    for record_id, result in report.results.items():
        click.echo(f"  {record_id}: {result}")
    click.echo(f"Proposal {proposal_id} carried out; certificate of disposition: {report.certificate_record_id}")


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
    click.echo(f"Proposal {proposal_id} rejected.")


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
    from .templates import check_template, load_templates

    results = [check_template(spec) for spec in load_templates(ws.templates).values()]
    if as_json:
        _print_json([{"template": r.name, "ok": r.ok, "undeclared": r.undeclared, "unused": r.unused,
                      "missing_bookmarks": r.missing_bookmarks} for r in results])
    else:
        for r in results:
            click.echo(f"{'ok    ' if r.ok else 'FAILED'} {r.name}")
            for path in r.undeclared:
                click.echo(f"    used by the template but not declared: {path}")
            for path in r.unused:
                click.echo(f"    declared but not used by the template: {path}")
            for name in r.missing_bookmarks:
                click.echo(f"    signature bookmark missing: {name}")
    if not all(r.ok for r in results):
        sys.exit(1)


@cli.group()
def user() -> None:
    """Portal accounts: a name and an Argon2id-hashed password; roles come from access.yaml."""


def _account_store(ws: Workspace) -> Any:
    from .accounts import Accounts

    return Accounts(ws.accounts, ws.load_config().portal)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _audit_account(ws: Workspace, action: str, name: str, details: dict[str, Any]) -> None:
    from .access import current_actor
    from .audit import AuditEntry
    from .catalog import Catalog

    with Catalog(ws.catalog) as catalog:
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
    from .access import ACCESS_FILE, folder_owner, grant
    from .accounts import check_name, check_password

    check_name(name)
    with _account_store(ws) as store:
        if any(a.name == name for a in store.listing()):
            raise click.ClickException(f"There is already an account {name}; nothing was changed.")
        password = _read_password(password_stdin)
        check_password(password, name)
        listed = grant(ws.policies / ACCESS_FILE, name, roles, cases, folder_owner(ws.root))
        store.add(name, password)
    _audit_account(ws, "account-add", name, {"roles": list(roles), "cases": list(cases)})
    click.echo(f"Account {name} created" + (f"; listed in {ACCESS_FILE} as {', '.join(roles)}." if listed
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
    click.echo(f"Password of {name} changed; their sessions have ended.")


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
    click.echo(f"Account {name} disabled.")


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
    click.echo(f"Account {name} enabled.")


@user.command("list")
@workspace_option
@json_option
def user_list(ws: Workspace, as_json: bool) -> None:
    """Every portal account, with its roles from access.yaml.

    \b
    Example:
        accord user list
    """
    from .access import policy_for

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
        click.echo("No portal accounts; add one with: accord user add NAME --role ROLE")
    for r in rows:
        click.echo(f"{r['name']:<20} {', '.join(r['roles']) or '(no role in access.yaml)':<40} "
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
    click.echo(f"Accord portal on http://{host}:{port}/ (workspace {ws.root}); Ctrl-C stops it.", err=True)
    if workers > 1:
        os.environ["ACCORD_HOME"] = str(ws.root)
        uvicorn.run("pipeline.portal.app:app_from_environment", factory=True, workers=workers, **options)
    else:
        from .portal.app import create_app

        uvicorn.run(create_app(ws, config), **options)


def main() -> None:
    try:
        cli(prog_name="accord")
    except RecordNotFound as exc:
        err_console.print(f"Error: {exc}")
        sys.exit(1)


if __name__ == "__main__":
    main()
