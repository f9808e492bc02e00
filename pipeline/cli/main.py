"""The ``accord`` command: the group, ``accord init``, and every command group of the package."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline import __version__
from pipeline.cli import audit, cases, intake, portal, records, reports, retention, templates, users
from pipeline.cli.options import _VERBOSE, AccordGroup
from pipeline.cli.output import echo
from pipeline.display import escape
from pipeline.errors import AccordError, RecordNotFound


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
    from pipeline.office import found_office

    try:
        ws = found_office(path, owner=current_actor().name)
    except AccordError as exc:
        raise click.ClickException(escape(exc)) from None
    echo(f"Created workspace {ws.root}")
    echo(f"Drop case files into {ws.inbox}, then run: accord process --workspace {ws.root}")


for _command in (intake.process, intake.watch, intake.status, records.search, records.show, records.get,
                 records.verify, audit.audit, cases.cases, cases.case, cases.event, cases.rubric, cases.agenda, reports.report,
                 retention.preserve,
                 retention.hold, retention.sweep, templates.templates, users.user, portal.serve):
    cli.add_command(_command)


def main() -> None:
    try:
        cli(prog_name="accord")
    except RecordNotFound as exc:
        echo(f"Error: {exc}", err=True)
        sys.exit(1)
