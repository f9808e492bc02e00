"""``accord preserve``, ``hold`` and ``sweep``: retention, holds and disposition."""

from __future__ import annotations

import contextlib
import datetime as dt
import sys

import click

from pipeline.cli.options import (
    DATE,
    AccordCommand,
    AccordGroup,
    desk_for,
    json_option,
    workspace_option,
)
from pipeline.cli.output import echo, print_json
from pipeline.errors import FutureSweep
from pipeline.workspace import Workspace


@click.command(cls=AccordCommand)
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
    with desk_for(ws) as desk:
        report = desk.preserve(as_of)
    if as_json:
        print_json(report.as_dict())
    else:
        echo(f"As of {report.as_of}: {report.checked} record(s), {report.examined} read, {report.not_due} not due, "
              f"{len(report.preserved)} renewed, {len(report.cannot)} cannot be, {len(report.failed)} failed.")
        for item in report.items:
            echo(f"  {item.record_id}: {item.outcome} ({'; '.join(item.reasons)}) {item.message}")
    if not report.ok:
        sys.exit(1)


@click.group(cls=AccordGroup)
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
    with desk_for(ws) as desk:
        placed = desk.place_hold(name=name, reason=reason, case_id=case_id, record_id=record_id, search=search_text)
    echo(f"Hold #{placed.id} placed on {placed.scope_kind} {placed.scope_value} ({placed.records} record(s) now).")


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
    with desk_for(ws) as desk:
        desk.release_hold(hold_id, reason)
    echo(f"Hold #{hold_id} released.")


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
    with desk_for(ws) as desk:
        rows = desk.holds(include_released)
    if as_json:
        print_json([h.__dict__ for h in rows])
        return
    if not rows:
        echo("No holds.")
    for h in rows:
        state = f"released {h.released_at[:10]}" if h.released_at else "active"
        echo(f"#{h.id:<4} {h.name:<30} {h.scope_kind} {h.scope_value}  {h.records} record(s)  "
              f"by {h.author} {h.placed_at[:10]}  [{state}]")


@click.group(cls=AccordGroup, invoke_without_command=True)
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
    from pipeline.documents.convert import Converter
    from pipeline.documents.seal import make_sealer

    day = as_of or dt.date.today()
    config = ws.load_config()
    with contextlib.ExitStack() as stack:
        desk = stack.enter_context(desk_for(ws))
        converter = None if dry_run else stack.enter_context(Converter(config.converter))
        try:
            report = desk.sweep(day, dry_run=dry_run, converter=converter,
                                sealer=None if dry_run else make_sealer(ws, config))
        except FutureSweep as exc:
            raise click.UsageError(f"{exc} Add --dry-run.") from None
    if as_json:
        print_json({"as_of": day.isoformat(), "due": report.due, "held": report.held, "by_action": report.by_action,
                     "proposal": report.proposal_id, "executed_without_approval": report.executed_proposal_id,
                     "failures_purged": report.failures_purged,
                     "fixity": report.fixity.__dict__ if report.fixity else None,
                     "anchored_entry": report.anchored, "sample": [i.__dict__ for i in report.sample]})
        return
    echo(f"As of {day}: {report.due} record(s) due ({', '.join(f'{n} {a}' for a, n in report.by_action.items()) or 'none'}), "
          f"{report.held} held back by legal holds.")
    for item in report.sample:
        echo(f"  {item.due_date}  {item.action:<8} {item.record_id}  ({item.rule})")
    if report.proposal_id:
        echo(f"Proposal {report.proposal_id} awaits approval: accord sweep approve {report.proposal_id}")
    if report.executed_proposal_id:
        echo(f"Proposal {report.executed_proposal_id} needed no approval and was carried out.")
    if report.fixity:
        f = report.fixity
        echo(f"Fixity: {f.checked} checked, {len(f.changed)} changed, {len(f.missing)} missing, "
              f"{len(f.untracked)} untracked.")
        for label, items in (("CHANGED", f.changed), ("MISSING", f.missing), ("UNTRACKED", f.untracked)):
            for item in items:
                echo(f"  {label}: {item}")
    if report.failures_purged:
        echo(f"Failure reports past their schedule destroyed: {report.failures_purged}.")
    if report.anchored:
        echo(f"Audit log anchored at entry {report.anchored}.")


@sweep.command("list")
@workspace_option
@json_option
def sweep_list(ws: Workspace, as_json: bool) -> None:
    """List disposition proposals.

    \b
    Example:
        accord sweep list
    """
    with desk_for(ws) as desk:
        rows = desk.proposals()
    if as_json:
        print_json(rows)
        return
    for p in rows:
        echo(f"#{p['id']:<4} {p['status']:<10} as of {p['as_of']}  {p['records']} record(s)  "
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
    from pipeline.documents.convert import Converter
    from pipeline.documents.seal import make_sealer

    config = ws.load_config()
    with desk_for(ws) as desk, Converter(config.converter) as converter:
        report = desk.approve(proposal_id, converter, make_sealer(ws, config))
    for record_id, result in report.results.items():
        echo(f"  {record_id}: {result}")
    echo(f"Proposal {proposal_id} carried out; certificate of disposition: {report.certificate_record_id}")


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
    with desk_for(ws) as desk:
        desk.reject(proposal_id, reason)
    echo(f"Proposal {proposal_id} rejected.")
