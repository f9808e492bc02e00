"""``accord search``, ``show``, ``get`` and ``verify``: finding records and handing them over, audited."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import click

from pipeline.cli.options import DATE, AccordCommand, json_option, session_for, workspace_option
from pipeline.cli.output import FileDelivery, echo, print_json, print_table, public, shown, terminal, to_stdout
from pipeline.records.search import SearchQuery
from pipeline.workspace import Workspace


@click.command(cls=AccordCommand)
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
    with session_for(ws) as session:
        found = session.search(q)
    results = found.records
    if as_json:
        print_json([public(r) for r in results])
        return
    if not results:
        echo("No records found.")
        return
    print_table(["Record", "Case", "Template", "Title", "Parties", "Status", "Created"],
                 [[r["record_id"], r["case_id"], r["template"], r["title"], ", ".join(r["parties"]), r["status"],
                   r["created"][:10]] for r in results])
    shown_to = found.offset + len(results)
    echo(f"Records {found.offset + 1}-{shown_to} of {found.total}"
          + (f"; next page: --page {page + 1}" if shown_to < found.total else "") + ".")


@click.command(cls=AccordCommand)
@workspace_option
@click.argument("record_id")
@json_option
def show(ws: Workspace, record_id: str, as_json: bool) -> None:
    """Show one record's catalog entry.

    \b
    Example:
        accord show ADR-2026-0142-1a2b3c4d
    """
    with session_for(ws) as session:
        record = session.show(record_id)
    data = public(record)
    if as_json:
        print_json(data)
        return
    width = max(map(len, data))
    for key, value in data.items():
        if key == "holds":
            value = [f"#{h['id']} {h['name']} ({h['reason']}, by {h['author']})" for h in value] or "none"
        text = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else str(value))
        echo(f"{key:<{width}}  {text}")  # one line each: an id is never cut or wrapped


@click.command(cls=AccordCommand)
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
    piped = str(output) == "-"
    delivery = to_stdout if piped else FileDelivery(output, force)  # checked before anything is read
    try:
        with session_for(ws) as session:
            data = session.retrieve(record_id, purpose, executed=executed, deliver=delivery).data
    finally:
        if not piped:
            delivery.discard()
    echo(f"Wrote {'standard output' if piped else output} ({len(data)} bytes); checksum and seal verified.",
          err=piped)


@click.command(cls=AccordCommand)
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
    with session_for(ws) as session:
        reports = session.verify(None if all_records else record_id)
    if as_json:
        print_json([r.as_dict() for r in reports])
    else:
        for report in reports:
            _print_report(report)
        good = sum(1 for r in reports if r.ok)
        echo(f"{good} of {len(reports)} record(s) verified.")
    if not all(r.ok for r in reports):
        sys.exit(1)


def _print_report(report: Any) -> None:
    console = terminal()
    say = console.print
    mark = "[green]OK[/green]" if report.ok else "[red]FAILED[/red]"
    say(f"{mark}  {shown(report.record_id)}")
    say(f"    checksum: {'matches' if report.checksum_ok else 'DOES NOT MATCH'} ({shown(report.actual_sha256)})")
    if report.level:
        say(f"    level: {shown(report.level_meaning or report.level)}")
    for sig in report.signatures:
        kind = f"certification ({sig.docmdp})" if sig.certification else "approval"
        say(
            f"    signature {shown(sig.field)}: {kind} by {shown(sig.signer)} at {sig.signing_time}; "
            f"intact={sig.intact} valid={sig.valid} trusted={sig.trusted} "
            f"changes after it: {sig.modifications or 'none'} ({'allowed' if sig.modifications_allowed else 'NOT allowed'})"
        )
    for ts in getattr(report, "timestamps", []):
        say(f"    document time-stamp {shown(ts.field)}: {ts.time} by {shown(ts.tsa)} "
            f"({'OK' if ts.ok else 'NOT OK'}; TSA certificate expires {ts.tsa_certificate_expires})")
    if getattr(report, "ltv_now", None) is not None:
        say(f"    long-term (AdES-LTA) now: {report.ltv_now} - {shown(report.ltv_now_explanation)}")
    if getattr(report, "ltv_at_retention_end", None) is not None:
        say(f"    long-term at the end of retention ({report.retention_end}): {report.ltv_at_retention_end}"
            f" - {shown(report.ltv_at_retention_end_explanation)}")
    for note in getattr(report, "notes", []):
        say(f"    note: {shown(note)}")
    for problem in report.problems:
        say(f"    [red]problem:[/red] {shown(problem)}")
