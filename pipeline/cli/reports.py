"""``accord report``: the Director's de-identified report on the cases, shown, exported or sealed."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from pipeline.cli.options import DATE, AccordCommand, json_option, session_for, workspace_option
from pipeline.cli.output import echo, print_json, print_table, write_private
from pipeline.workspace import Workspace


@click.command(cls=AccordCommand)
@workspace_option
@click.option("--from", "start", type=DATE, default=None, help="The first day counted (default: the academic year's).")
@click.option("--to", "end", type=DATE, default=None, help="The last day counted (default: the academic year's).")
@click.option("--csv", "as_csv", is_flag=True, help="One line per count, for a spreadsheet.")
@click.option("--pdf", "as_pdf", is_flag=True,
              help="Seal the report as a PDF/A record (class program-report) and archive it.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True), default=None,
              help="Write the JSON or CSV to this file (readable by you only) instead of the screen.")
@json_option
def report(ws: Workspace, start: dt.date | None, end: dt.date | None, as_csv: bool, as_pdf: bool, output: Path | None,
           as_json: bool) -> None:
    """Cases opened and closed, by process, outcome, category, referral source, the parties' standing
    and unit; days to the decision, agreement and closure; consent, withdrawals, terms and supportive
    measures; by month. Counts under report.min_cell are suppressed, with complementary suppression.

    \b
    Example:
        accord report
        accord report --from 2025-07-01 --to 2026-06-30 --csv -o report.csv
        accord report --pdf
    """
    from pipeline.reportdesk import ReportDesk
    from pipeline.reports.export import report_csv

    forms = [name for name, wanted in (("json", as_json), ("csv", as_csv), ("pdf", as_pdf)) if wanted]
    if len(forms) > 1:
        raise click.UsageError("Choose one of --json, --csv and --pdf.")
    form = forms[0] if forms else None

    with ReportDesk(session_for(ws)) as desk:
        period = desk.period(start, end)
        if form == "pdf":
            from pipeline.documents.convert import Converter
            from pipeline.documents.seal import make_sealer

            config = desk.session.config
            with Converter(config.converter) as converter:
                row = desk.seal(period, converter, make_sealer(ws, config))
            echo(f"Sealed and archived {row.record_id} ({row.pages} page(s)): {row.pdf_path}")
            return
        found = desk.report(period, form=form or "screen")
    if form in ("json", "csv"):
        if output is not None:
            text = (json.dumps(found.as_dict(), ensure_ascii=False, indent=2) + "\n" if form == "json"
                    else report_csv(found))
            write_private(output, text.encode("utf-8"))
            if str(output) != "-":
                echo(f"Wrote {output}.")
        elif form == "json":
            print_json(found.as_dict())
        else:
            for line in report_csv(found).splitlines():
                echo(line)
        return
    _show(found)


def _show(found) -> None:
    from pipeline.reports.document import opening, table_rows
    from pipeline.reports.tables import empty_message

    echo(f"Program report, {found.office}: {found.period.label}")
    if found.empty:
        echo(empty_message(found.period))
        return
    echo(opening(found))
    for table in found.tables:
        echo("")
        echo(table.title)
        header, rows = table_rows(table)
        print_table(header, rows)
