"""The report as a Word document, through docxtpl like every record: its template, each chart an
``InlineImage`` with its one-line alternative text, each table beside it (a screen reader reads
the same numbers), a place for the office seal. LibreOffice then makes it PDF/A and the office
seals it (``reportdesk``).

The template is written here with python-docx (headings, the loop over the tables, the seal's
bookmark) and filled by docxtpl in its sandbox, autoescaped: the labels (a unit's name, a referral
source) are text and never evaluated. Each table is then built with python-docx where the template
left its marker paragraph (docxtpl's sub-documents need docxcompose, which rewrites python-docx's
namespace map for the whole process and so breaks every later document's properties).
"""

from __future__ import annotations

import functools
import io
from typing import Any

from docx.shared import Inches
from docxtpl import DocxTemplate, InlineImage

from pipeline.documents.generated import add_footer, add_seal_place, docx_bytes, grid_table, new_document
from pipeline.documents.templates import make_environment
from pipeline.reports.charts import DAGGER, WIDTH_INCHES, chart_png
from pipeline.reports.tables import Cell, Report, Table, empty_message

#: Where a table goes, in the filled template (no label can start with it: invisible separators).
TABLE_MARK = "\u2063\u2063table-"
SUPPRESSED = "s"
"""How a suppressed count is printed (explained in the report's opening note)."""


@functools.cache
def template_docx() -> bytes:
    """The report's Word template (Jinja tags in its paragraphs, for docxtpl)."""
    doc = new_document(size=10)
    doc.add_heading("Program report", level=1)
    doc.add_paragraph("{{ office }}, {{ period }}")
    doc.add_paragraph("{{ opening }}")
    doc.add_paragraph("{%p if empty %}")
    doc.add_paragraph("{{ message }}")
    doc.add_paragraph("{%p endif %}")
    doc.add_paragraph("{%p for t in tables %}")
    doc.add_heading("{{ t.title }}", level=2)
    doc.add_paragraph("{%p if t.chart %}")
    doc.add_paragraph("{{ t.chart }}")
    doc.add_paragraph("{{ t.caption }}")
    doc.add_paragraph("{%p endif %}")
    doc.add_paragraph("{{ t.table }}")
    doc.add_paragraph("{{ t.note }}")
    doc.add_paragraph("{%p endfor %}")
    add_seal_place(doc)
    add_footer(doc, "{{ office }} \u2014 program report, {{ period }}")
    doc.core_properties.subject = "Accord program report"
    return docx_bytes(doc)


def shown(cell: Cell) -> str:
    """A cell as printed: the number, or the suppression mark."""
    if cell.suppressed:
        return SUPPRESSED
    if cell.value is None:
        return "\u2014"
    if isinstance(cell.value, float) and not cell.value.is_integer():
        return f"{cell.value:.1f}"
    return f"{int(cell.value):,}"


def table_rows(table: Table) -> tuple[list[str], list[list[str]]]:
    """The table's header and rows as printed, with its totals (the same in the PDF and the CSV)."""
    header = ["", *table.columns] + (["Total"] if table.row_totals else [])
    rows = []
    for number, (label, cells) in enumerate(zip(table.rows, table.cells)):
        rows.append([label, *map(shown, cells)] + ([shown(table.row_totals[number])] if table.row_totals else []))
    if table.column_totals or table.total:
        totals = [shown(c) for c in table.column_totals] if table.column_totals else [""] * (len(table.columns) - 1)
        if table.column_totals is None:
            totals.append(shown(table.total))
        elif table.row_totals:
            totals.append(shown(table.total))
        rows.append([table.total_label, *totals])
    return header, rows


def opening(report: Report) -> str:
    return (f"Counts of fewer than {report.min_cell} are suppressed ('{SUPPRESSED}'), and enough other counts "
            "that none can be worked out from the totals; a median or percentile over fewer cases is suppressed "
            f"too. A {DAGGER} on a chart marks a bar with a suppressed count. The report names no one: it is "
            "counted from the cases' categories and dates only.")


def _place_tables(doc, tables: tuple[Table, ...]) -> None:
    """Each table where the template left its marker paragraph (the paragraph goes)."""
    for paragraph in list(doc.paragraphs):
        text = paragraph.text
        if not text.startswith(TABLE_MARK) or not text[len(TABLE_MARK):].isdigit():
            continue
        header, rows = table_rows(tables[int(text[len(TABLE_MARK):])])
        table = grid_table(doc, header, rows)  # added at the end of the body, then moved
        paragraph._p.addprevious(table._tbl)
        paragraph._p.getparent().remove(paragraph._p)


def report_docx(report: Report, record_id: str) -> bytes:
    """The filled Word document of ``report`` (``record_id`` in its properties)."""
    tpl = DocxTemplate(io.BytesIO(template_docx()))
    sections, alts = [], []
    for number, table in enumerate(report.tables):
        png = chart_png(table)
        section: dict[str, Any] = {"title": table.title, "note": table.note, "table": f"{TABLE_MARK}{number}",
                                   "chart": ""}
        if png:
            section["chart"] = InlineImage(tpl, io.BytesIO(png), width=Inches(WIDTH_INCHES))
            section["caption"] = f"Chart: {table.alt} The table below gives the same numbers."
            alts.append(table.alt)
        sections.append(section)
    context = {"office": report.office, "period": report.period.label, "opening": opening(report),
               "empty": report.empty, "message": empty_message(report.period), "tables": sections}
    tpl.render(context, jinja_env=make_environment(), autoescape=True)
    for shape, alt in zip(tpl.docx.inline_shapes, alts):
        shape._inline.docPr.set("descr", alt)
    _place_tables(tpl.docx, report.tables)
    props = tpl.docx.core_properties
    props.title = f"Program report, {report.period.label}"
    props.identifier = record_id
    props.author = report.office
    props.keywords = f"Accord, {record_id}, program-report"
    out = io.BytesIO()
    tpl.save(out)
    return out.getvalue()
