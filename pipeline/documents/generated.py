"""Small documents Accord writes itself (audit anchors, certificates of disposition).

They go through the same LibreOffice conversion and office seal as the agreements, so
they need what the templates have: a ``seal`` bookmark where the visible seal goes.

Their ids and hashes must come out of the sealed PDF's text whole (a records officer copies
and searches them), so they sit in the value column of a :func:`details_table`, which is wide
enough for a SHA-256 (64 hex digits) on one line: a line break inside one, even at a hyphen,
changes the text ``pdftotext`` gives back.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Inches, Length, Pt, RGBColor, Twips

from pipeline.documents.templates import SEAL_BOOKMARK

FONT = "Calibri"  # LibreOffice substitutes the metric-compatible Carlito
MARGIN = Inches(1)  # US Letter: a text width of 6.5 in (9360 twips, 468 pt)
LABEL_WIDTH = Twips(2000)  # 100 pt, for labels such as "Retention rule"
TABLE_TEXT = Pt(10)  # 64 hex digits of Calibri at 10 pt need at most 337 pt; the value column has 357
CELL_PADDING = Twips(108)  # Word's default, left and right
GREY = RGBColor(0x59, 0x59, 0x59)
RULE = "BFBFBF"
LABEL_FILL = "F2F4F8"


def new_document(size: int = 11):
    doc = Document()
    doc.styles["Normal"].font.name = FONT
    doc.styles["Normal"].font.size = Pt(size)
    section = doc.sections[0]
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, MARGIN)
    return doc


def text_width(doc) -> int:
    """The width between the margins, in twips."""
    section = doc.sections[0]
    return Length(section.page_width - section.left_margin - section.right_margin).twips


def _el(tag: str, **attrs: str):
    element = OxmlElement(tag)
    for key, value in attrs.items():
        element.set(qn(f"w:{key}"), value)
    return element


def _fix_widths(table, widths: Sequence[int]) -> None:
    """A fixed layout with these column widths (twips), its edges on the margins."""
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    for tag in ("w:tblW", "w:tblInd", "w:tblBorders", "w:tblLayout"):
        for old in tbl_pr.findall(qn(tag)):
            tbl_pr.remove(old)
    borders = _el("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        borders.append(_el(f"w:{side}", val="single", sz="4", space="0", color=RULE))
    # schema order: tblStyle, tblW, jc, tblInd, tblBorders, tblLayout, (tblCellMar), tblLook
    tbl_pr.insert(1, _el("w:tblW", w=str(sum(widths)), type="dxa"))
    tbl_pr.insert(2, _el("w:tblInd", w=str(CELL_PADDING.twips), type="dxa"))
    tbl_pr.insert(3, borders)
    tbl_pr.insert(4, _el("w:tblLayout", type="fixed"))
    for col, width in zip(table._tbl.tblGrid.findall(qn("w:gridCol")), widths):
        col.set(qn("w:w"), str(width))
    for row in table.rows:
        for cell, width in zip(row.cells, widths):
            cell.width = Twips(width)


def _shade(cell, fill: str) -> None:
    cell._tc.get_or_add_tcPr().append(_el("w:shd", val="clear", color="auto", fill=fill))


def _cell_text(cell, value: str, *, label: bool, keep_with_next: bool) -> None:
    cell._tc.get_or_add_tcPr().append(_el("w:vAlign", val="center"))
    paragraph = cell.paragraphs[0]
    paragraph.paragraph_format.space_before = Pt(2)
    paragraph.paragraph_format.space_after = Pt(2)
    paragraph.paragraph_format.keep_with_next = keep_with_next
    run = paragraph.add_run(value)
    run.font.size = Pt(9) if label else TABLE_TEXT
    if label:
        run.bold = True
        run.font.color.rgb = GREY


def details_table(doc, rows: Sequence[tuple[str, str]], *, caption: str | None = None, keep_together: bool = False):
    """A two-column label/value table across the text width (labels shaded), after an optional bold caption.

    ``keep_together`` keeps the caption and the table on one page (every row but the last keeps with the next).
    """
    if caption:
        heading = doc.add_paragraph()
        heading.paragraph_format.space_before = Pt(8)
        heading.paragraph_format.space_after = Pt(3)
        heading.paragraph_format.keep_with_next = True
        heading.add_run(caption).bold = True
    table = doc.add_table(rows=len(rows), cols=2)
    table.style = "Table Grid"
    _fix_widths(table, [LABEL_WIDTH.twips, text_width(doc) - LABEL_WIDTH.twips])
    for number, (row, (label, value)) in enumerate(zip(table.rows, rows), 1):
        row._tr.get_or_add_trPr().append(_el("w:cantSplit"))
        keep = keep_together and number < len(rows)
        _shade(row.cells[0], LABEL_FILL)
        _cell_text(row.cells[0], label, label=True, keep_with_next=keep)
        _cell_text(row.cells[1], value, label=False, keep_with_next=keep)
    return table


def _field(paragraph, instruction: str) -> None:
    """A complex field (PAGE, NUMPAGES) that LibreOffice fills in."""
    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    shown = OxmlElement("w:t")
    shown.text = "1"
    for child in (_el("w:fldChar", fldCharType="begin"), instr, _el("w:fldChar", fldCharType="separate"), shown,
                  _el("w:fldChar", fldCharType="end")):
        paragraph.add_run()._r.append(child)


def add_footer(doc, text: str) -> None:
    """A footer with ``text`` on the left and "Page N of M" on the right."""
    style = doc.styles["Footer"].element.get_or_add_pPr()
    for tabs in style.findall(qn("w:tabs")):  # the default template's centre stop would catch a short text
        style.remove(tabs)
    footer = doc.sections[0].footer.paragraphs[0]
    footer.style = doc.styles["Footer"]
    footer.paragraph_format.tab_stops.add_tab_stop(Twips(text_width(doc)), WD_TAB_ALIGNMENT.RIGHT)
    footer.add_run(f"{text}\tPage ")
    _field(footer, "PAGE")
    footer.add_run(" of ")
    _field(footer, "NUMPAGES")
    for run in footer.runs:
        run.font.size = Pt(8.5)
        run.font.color.rgb = GREY


def add_seal_place(doc) -> None:
    """A captioned empty paragraph, bookmarked ``seal``, tall enough for the seal stamp."""
    doc.add_paragraph()
    caption = doc.add_paragraph("Sealed by the office")
    caption.runs[0].bold = True
    caption.paragraph_format.keep_with_next = True
    place = doc.add_paragraph()
    # an exact 60 pt line, not space after it: the place moves to the next page rather than run off this one
    place.paragraph_format.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    place.paragraph_format.line_spacing = Pt(60)
    place.paragraph_format.space_after = Pt(0)
    start, end = OxmlElement("w:bookmarkStart"), OxmlElement("w:bookmarkEnd")
    start.set(qn("w:id"), "1")
    start.set(qn("w:name"), SEAL_BOOKMARK)
    end.set(qn("w:id"), "1")
    place._p.extend([start, end])


def docx_bytes(doc) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def grid_table(doc, header: Sequence[str], rows: Sequence[Sequence[str]], *, label_width: int = 2600):
    """A table of figures across the text width: a shaded header row repeated on each page, a label
    column of ``label_width`` twips, then the figures right-aligned in equal columns."""
    table = doc.add_table(rows=len(rows) + 1, cols=len(header))
    table.style = "Table Grid"
    figures = max(1, len(header) - 1)
    width = (text_width(doc) - label_width) // figures
    _fix_widths(table, [label_width] + [width] * figures)
    header_row = table.rows[0]
    header_row._tr.get_or_add_trPr().append(_el("w:tblHeader"))
    for cell, value in zip(header_row.cells, header):
        _shade(cell, LABEL_FILL)
        _cell_text(cell, value, label=True, keep_with_next=True)
    for row, values in zip(table.rows[1:], rows):
        row._tr.get_or_add_trPr().append(_el("w:cantSplit"))
        for number, (cell, value) in enumerate(zip(row.cells, values)):
            _cell_text(cell, value, label=False, keep_with_next=False)
            if number:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    return table
