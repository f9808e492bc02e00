"""``accord audit``: the tamper-evident audit log and the record of disclosures."""

from __future__ import annotations

import sys

import click

from pipeline.cli.options import AccordGroup, json_option, session_for, workspace_option
from pipeline.cli.output import echo, print_json
from pipeline.workspace import Workspace


@click.group(cls=AccordGroup)
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
    with session_for(ws) as session:
        report = session.verify_audit()
    chain = report.chain
    if as_json:
        print_json({"ok": report.ok, "entries": chain.entries, "head_seq": chain.head_seq,
                     "head_hash": chain.head_hash, "first_broken": chain.first_broken, "problem": chain.problem,
                     "trigger_problems": report.trigger_problems,
                     "anchors": report.anchors, "anchor_problems": report.anchor_problems})
    else:
        if chain.ok:
            echo(f"Chain intact: {chain.entries} entries, head {chain.head_seq} {chain.head_hash}.")
        else:
            echo(f"CHAIN BROKEN at entry {chain.first_broken}: {chain.problem}.")
        for problem in report.trigger_problems:
            echo(f"NOT PROTECTED: {problem}.")
        echo(f"Anchors checked: {len(report.anchors)}.")
        for problem in report.anchor_problems:
            echo(f"  anchor problem: {problem}")
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
    from pipeline.documents.convert import Converter
    from pipeline.documents.seal import make_sealer

    config = ws.load_config()
    with session_for(ws) as session, Converter(config.converter) as converter:
        written = session.write_anchor(converter, make_sealer(ws, config))
    echo(f"Anchored entry {written.head_seq} ({written.head_hash}) in {written.path}.")


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
    with session_for(ws) as session:
        rows = session.disclosures(record_id)
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("No requests or disclosures recorded.")
    for r in rows:
        what = r["details"].get("released") or r["details"].get("reason") or ""
        echo(f"{r['at'][:19]}  {r['actor']:<12} {r['action']:<8} {r['outcome']:<8} "
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
    with session_for(ws) as session:
        rows = session.audit_log(actor=actor, action=action, record_id=record_id, since=since, until=until,
                                 limit=limit)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        echo(f"{r['seq']:>7}  {r['at'][:19]}  {r['actor']:<12} {r['action']:<14} {r['outcome']:<8} "
              f"{r['record_id'] or r['case_id'] or ''}")
