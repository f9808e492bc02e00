"""The report as CSV: one line per count (table, row, column, value, suppressed), totals included,
for a spreadsheet. The JSON form is ``Report.as_dict``."""

from __future__ import annotations

import csv
import io

from pipeline.reports.tables import Cell, Report, empty_message

HEADER = ("table", "title", "row", "column", "value", "suppressed")


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    if report.empty:
        writer.writerow(("", empty_message(report.period), "", "", "", ""))
    for table in report.tables:
        def line(row: str, column: str, cell: Cell) -> None:
            writer.writerow((table.id, table.title, row, column, "" if cell.value is None else cell.value,
                             "yes" if cell.suppressed else ""))

        for label, cells, total in zip(table.rows, table.cells, table.row_totals or [None] * len(table.rows)):
            for column, cell in zip(table.columns, cells):
                line(label, column, cell)
            if total is not None:
                line(label, "Total", total)
        for column, cell in zip(table.columns, table.column_totals or ()):
            line(table.total_label, column, cell)
        if table.total is not None:
            line(table.total_label, "Total", table.total)
    return out.getvalue()
