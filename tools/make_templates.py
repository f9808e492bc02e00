"""Build Accord's Word templates with python-docx, so that they are reproducible and reviewable.

Usage (from the project root):

    .venv/bin/python tools/make_templates.py            # writes pipeline/defaults/templates/*.docx
    .venv/bin/python tools/make_templates.py --out DIR  # writes them somewhere else

The two templates are docxtpl (Jinja) templates: ``{{ ... }}`` fills a value, ``{%p ... %}`` and
``{%tr ... %}`` stand alone in a paragraph or table row that docxtpl removes when it renders.
The context is the case file as declared in ``templates/<name>.yaml`` (optional fields that are
missing are present as None), plus ``record`` (id, title, created) and ``office`` (name); the
filters ``longdate`` and ``humanize`` are Accord's own.

Signature fields: the sealing step puts an empty PDF signature field where the template has a
Word bookmark (LibreOffice exports bookmarks as named destinations). Every signatory's block
starts its signature space, an empty paragraph of exactly 42 pt above a signature line, with a
bookmark: ``sig1``, ``sig2``, ... for the parties (in list order), ``sigcoordinator`` for the
facilitator of a resolution agreement, and ``seal`` for the 60 pt space where the office seal
is drawn. The field is 200 pt wide, the seal 220 pt; both fit in their half of the page.

The output is byte-for-byte reproducible: fixed core properties and fixed ZIP timestamps.
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from datetime import datetime, timezone
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_LINE_SPACING, WD_TAB_ALIGNMENT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement, parse_xml
from docx.oxml.ns import nsdecls, qn
from docx.shared import Cm, Inches, Pt, RGBColor, Twips

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "pipeline" / "defaults" / "templates"  # the package's defaults; templates/ links here

FONT = "Calibri"  # LibreOffice substitutes the metric-compatible Carlito
NAVY = "1F3864"
GREY = "595959"
RULE = "BFBFBF"
HEADER_FILL = "DCE3EE"
LABEL_FILL = "F2F4F8"
CONFIDENTIAL_RED = "9C1C1C"

PAGE_WIDTH = Inches(8.5)  # US Letter
PAGE_HEIGHT = Inches(11)
MARGIN = Cm(2.5)
TEXT_WIDTH = Twips(PAGE_WIDTH.twips - 2 * MARGIN.twips)  # 9406 twips, about 470 pt
HALF = TEXT_WIDTH.twips // 2  # each signature column: 4703 twips, about 235 pt
SIGNATURE_GAP = 360  # twips (18 pt) between the two signature columns
CELL_PADDING = 100  # twips, left and right, in the bordered tables

SIGNATURE_SPACE = Pt(42)  # the field is 40 pt tall, drawn from the bookmark's top-left corner
SEAL_SPACE = Pt(60)  # the seal stamp is 56 pt tall

# Fixed so that two builds of the same script give the same bytes.
BUILD_TIME = datetime(2026, 1, 1, tzinfo=timezone.utc)
ZIP_TIME = (2026, 1, 1, 0, 0, 0)


# --------------------------------------------------------------------------------------------
# Low-level helpers (python-docx has no API for these)
# --------------------------------------------------------------------------------------------


def _el(tag: str, **attrs: str) -> OxmlElement:
    element = OxmlElement(tag)
    for key, value in attrs.items():
        element.set(qn(f"w:{key}"), value)
    return element


# The order in which WordprocessingML (ECMA-376) wants the children of the property elements
# this script writes; Word calls a file with misordered children corrupt.
SEQUENCES = {
    "w:pPr": ("w:pStyle", "w:keepNext", "w:keepLines", "w:pageBreakBefore", "w:framePr",
              "w:widowControl", "w:numPr", "w:suppressLineNumbers", "w:pBdr", "w:shd", "w:tabs",
              "w:suppressAutoHyphens", "w:kinsoku", "w:wordWrap", "w:overflowPunct",
              "w:topLinePunct", "w:autoSpaceDE", "w:autoSpaceDN", "w:bidi", "w:adjustRightInd",
              "w:snapToGrid", "w:spacing", "w:ind", "w:contextualSpacing", "w:mirrorIndents",
              "w:suppressOverlap", "w:jc", "w:textDirection", "w:textAlignment",
              "w:textboxTightWrap", "w:outlineLvl", "w:divId", "w:cnfStyle", "w:rPr", "w:sectPr",
              "w:pPrChange"),
    "w:rPr": ("w:rStyle", "w:rFonts", "w:b", "w:bCs", "w:i", "w:iCs", "w:caps", "w:smallCaps",
              "w:strike", "w:dstrike", "w:outline", "w:shadow", "w:emboss", "w:imprint",
              "w:noProof", "w:snapToGrid", "w:vanish", "w:webHidden", "w:color", "w:spacing",
              "w:w", "w:kern", "w:position", "w:sz", "w:szCs", "w:highlight", "w:u", "w:effect",
              "w:bdr", "w:shd", "w:fitText", "w:vertAlign", "w:rtl", "w:cs", "w:em", "w:lang",
              "w:eastAsianLayout", "w:specVanish", "w:oMath"),
    "w:pBdr": ("w:top", "w:left", "w:bottom", "w:right", "w:between", "w:bar"),
    "w:tblPr": ("w:tblStyle", "w:tblpPr", "w:tblOverlap", "w:bidiVisual",
                "w:tblStyleRowBandSize", "w:tblStyleColBandSize", "w:tblW", "w:jc",
                "w:tblCellSpacing", "w:tblInd", "w:tblBorders", "w:shd", "w:tblLayout",
                "w:tblCellMar", "w:tblLook", "w:tblCaption", "w:tblDescription"),
    "w:trPr": ("w:cnfStyle", "w:divId", "w:gridBefore", "w:gridAfter", "w:wBefore", "w:wAfter",
               "w:cantSplit", "w:trHeight", "w:tblHeader", "w:tblCellSpacing", "w:jc", "w:hidden"),
    "w:tcPr": ("w:cnfStyle", "w:tcW", "w:gridSpan", "w:hMerge", "w:vMerge", "w:tcBorders",
               "w:shd", "w:noWrap", "w:tcMar", "w:textDirection", "w:tcFitText", "w:vAlign",
               "w:hideMark"),
    "w:tcMar": ("w:top", "w:start", "w:left", "w:bottom", "w:end", "w:right"),
}
_SEQUENCES = {qn(parent): [qn(tag) for tag in tags] for parent, tags in SEQUENCES.items()}


def _put(parent, child) -> None:
    """Put `child` into `parent` in schema order, replacing any element with the same tag."""
    for old in parent.findall(child.tag):
        parent.remove(old)
    sequence = _SEQUENCES[parent.tag]
    later = set(sequence[sequence.index(child.tag) + 1:])
    for sibling in parent:
        if sibling.tag in later:
            sibling.addprevious(child)
            return
    parent.append(child)


def misordered(root) -> list[str]:
    """Property elements under `root` whose children are out of schema order (should be none)."""
    problems = []
    for element in root.iter(*_SEQUENCES):
        sequence = _SEQUENCES[element.tag]
        positions = [sequence.index(child.tag) for child in element if child.tag in sequence]
        if positions != sorted(positions):
            problems.append(f"{element.tag}: {[child.tag for child in element]}")
    return problems


def add_bookmark(paragraph, name: str, bookmark_id: int) -> None:
    """Put a collapsed bookmark at the start of `paragraph` (after its properties).

    `name` may contain a Jinja expression (docxtpl renders attribute values too); once rendered
    it must be alphanumeric, because LibreOffice hex-escapes `_` and `-` in destination names.
    """
    p = paragraph._p
    position = 1 if p.pPr is not None else 0
    p.insert(position, _el("w:bookmarkStart", id=str(bookmark_id), name=name))
    p.insert(position + 1, _el("w:bookmarkEnd", id=str(bookmark_id)))


def add_field(paragraph, instruction: str, placeholder: str = "1") -> None:
    """Append a complex field (PAGE, NUMPAGES, ...) that Word and LibreOffice update."""

    def run_with(*children):
        run = paragraph.add_run()
        for child in children:
            run._r.append(child)

    instr = OxmlElement("w:instrText")
    instr.set(qn("xml:space"), "preserve")
    instr.text = f" {instruction} "
    text = OxmlElement("w:t")
    text.text = placeholder
    run_with(_el("w:fldChar", fldCharType="begin"))
    run_with(instr)
    run_with(_el("w:fldChar", fldCharType="separate"))
    run_with(text)
    run_with(_el("w:fldChar", fldCharType="end"))


def paragraph_border(ppr, side: str, size: int, color: str, space: int = 1) -> None:
    """Add a single-line border to a w:pPr element (`size` in eighths of a point)."""
    borders = ppr.find(qn("w:pBdr"))
    if borders is None:
        borders = OxmlElement("w:pBdr")
        _put(ppr, borders)
    _put(borders, _el(f"w:{side}", val="single", sz=str(size), space=str(space), color=color))


def set_widths(table, widths: list[int], indent: int = 0) -> None:
    """Give `table` a fixed layout with these column widths (twips).

    `indent` is the cell padding, so that the table's edges (not its text) line up with the
    page margins: Word (in the compatibility mode of this file) and LibreOffice measure the
    indent to the text of the first cell.
    """
    table.autofit = False
    tbl_pr = table._tbl.tblPr
    _put(tbl_pr, _el("w:tblW", w=str(sum(widths)), type="dxa"))
    _put(tbl_pr, _el("w:tblInd", w=str(indent), type="dxa"))
    _put(tbl_pr, _el("w:tblLayout", type="fixed"))
    grid = table._tbl.tblGrid
    for col, width in zip(grid.findall(qn("w:gridCol")), widths):
        col.set(qn("w:w"), str(width))
    for row in table.rows:
        for cell, width in zip(row.cells, widths):
            cell.width = Twips(width)


def set_look(table, first_row: bool, first_column: bool) -> None:
    """Say which conditional parts of the table style apply (header row, label column)."""
    look = table._tbl.tblPr.find(qn("w:tblLook"))
    look.set(qn("w:firstRow"), "1" if first_row else "0")
    look.set(qn("w:firstColumn"), "1" if first_column else "0")
    look.set(qn("w:lastRow"), "0")
    look.set(qn("w:lastColumn"), "0")
    look.set(qn("w:noHBand"), "1")
    look.set(qn("w:noVBand"), "1")
    look.set(qn("w:val"), f"{0x0400 | 0x0200 | (0x0020 if first_row else 0) | (0x0080 if first_column else 0):04X}")


def row_properties(row, *, cant_split: bool = False, header: bool = False) -> None:
    tr_pr = row._tr.get_or_add_trPr()
    if cant_split:
        _put(tr_pr, _el("w:cantSplit"))
    if header:
        _put(tr_pr, _el("w:tblHeader"))


def cell_margins(cell, **margins: int) -> None:
    """Override this cell's margins (twips): cell_margins(cell, right=0)."""
    tc_pr = cell._tc.get_or_add_tcPr()
    mar = tc_pr.find(qn("w:tcMar"))
    if mar is None:
        mar = OxmlElement("w:tcMar")
        _put(tc_pr, mar)
    for side, width in margins.items():
        _put(mar, _el(f"w:{side}", w=str(width), type="dxa"))


# --------------------------------------------------------------------------------------------
# Document set-up: page, styles, header and footer
# --------------------------------------------------------------------------------------------


def _set_fonts(rpr) -> None:
    """Make a w:rPr use Calibri for every script, dropping theme-font references."""
    fonts = rpr.find(qn("w:rFonts"))
    if fonts is None:
        fonts = OxmlElement("w:rFonts")
        rpr.insert(0, fonts)
    for attr in list(fonts.attrib):
        del fonts.attrib[attr]
    for attr in ("ascii", "hAnsi", "eastAsia", "cs"):
        fonts.set(qn(f"w:{attr}"), FONT)


def _paragraph_style(doc, name: str, *, size: float | None = None, bold: bool = False,
                     color: str | None = None, before: float = 0, after: float = 0,
                     line: float | None = None, exact: float | None = None,
                     keep_next: bool = False, caps: bool = False, tracking: float | None = None):
    """Create, or reconfigure, a paragraph style based on Normal.

    `line` is a line-spacing multiple, `exact` a fixed line height in points, `tracking` extra
    space between letters in points.
    """
    try:
        style = doc.styles[name]
    except KeyError:
        style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
        style.base_style = doc.styles["Normal"]
    style.quick_style = True
    font = style.font
    if size is not None:
        font.size = Pt(size)
    if bold:
        font.bold = True
    if color is not None:
        font.color.rgb = RGBColor.from_string(color)
    if caps:
        font.all_caps = True
    if tracking is not None:
        _put(style.element.get_or_add_rPr(), _el("w:spacing", val=str(int(tracking * 20))))
    fmt = style.paragraph_format
    fmt.space_before = Pt(before)
    fmt.space_after = Pt(after)
    if line is not None:
        fmt.line_spacing = line
    if exact is not None:
        fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        fmt.line_spacing = Pt(exact)
    fmt.keep_with_next = keep_next
    return style


TABLE_STYLES = f"""
<w:styles {nsdecls('w')}>
  <w:style w:type="table" w:customStyle="1" w:styleId="AccordTable">
    <w:name w:val="Accord Table"/>
    <w:basedOn w:val="TableNormal"/>
    <w:uiPriority w:val="59"/>
    <w:qFormat/>
    <w:tblPr>
      <w:tblBorders>
        <w:top w:val="single" w:sz="8" w:space="0" w:color="{NAVY}"/>
        <w:bottom w:val="single" w:sz="8" w:space="0" w:color="{NAVY}"/>
        <w:insideH w:val="single" w:sz="4" w:space="0" w:color="{RULE}"/>
      </w:tblBorders>
      <w:tblCellMar>
        <w:top w:w="60" w:type="dxa"/>
        <w:left w:w="{CELL_PADDING}" w:type="dxa"/>
        <w:bottom w:w="60" w:type="dxa"/>
        <w:right w:w="{CELL_PADDING}" w:type="dxa"/>
      </w:tblCellMar>
    </w:tblPr>
    <w:tblStylePr w:type="firstRow">
      <w:rPr><w:b/><w:color w:val="{NAVY}"/></w:rPr>
      <w:tcPr>
        <w:tcBorders><w:bottom w:val="single" w:sz="8" w:space="0" w:color="{NAVY}"/></w:tcBorders>
        <w:shd w:val="clear" w:color="auto" w:fill="{HEADER_FILL}"/>
      </w:tcPr>
    </w:tblStylePr>
  </w:style>
  <w:style w:type="table" w:customStyle="1" w:styleId="AccordDetails">
    <w:name w:val="Accord Details"/>
    <w:basedOn w:val="AccordTable"/>
    <w:uiPriority w:val="59"/>
    <w:qFormat/>
    <w:tblStylePr w:type="firstCol">
      <w:rPr><w:b/><w:color w:val="{NAVY}"/></w:rPr>
      <w:tcPr><w:shd w:val="clear" w:color="auto" w:fill="{LABEL_FILL}"/></w:tcPr>
    </w:tblStylePr>
  </w:style>
  <w:style w:type="table" w:customStyle="1" w:styleId="AccordSignatures">
    <w:name w:val="Accord Signatures"/>
    <w:basedOn w:val="TableNormal"/>
    <w:uiPriority w:val="59"/>
    <w:qFormat/>
    <w:tblPr>
      <w:tblCellMar>
        <w:top w:w="0" w:type="dxa"/>
        <w:left w:w="0" w:type="dxa"/>
        <w:bottom w:w="240" w:type="dxa"/>
        <w:right w:w="0" w:type="dxa"/>
      </w:tblCellMar>
    </w:tblPr>
  </w:style>
</w:styles>
"""


def _configure_styles(doc) -> None:
    styles_el = doc.styles.element

    # Every theme-font reference becomes Calibri, in the defaults and in every style.
    defaults = styles_el.find(qn("w:docDefaults"))
    _set_fonts(defaults.find(qn("w:rPrDefault")).find(qn("w:rPr")))
    for fonts in styles_el.iter(qn("w:rFonts")):
        if any(attr.endswith("Theme") or attr.endswith("theme") for attr in fonts.attrib):
            _set_fonts(fonts.getparent())

    normal = doc.styles["Normal"]
    normal.font.name = FONT
    normal.font.size = Pt(11)
    normal.paragraph_format.space_before = Pt(0)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.line_spacing = 1.1
    normal.paragraph_format.widow_control = True

    title = _paragraph_style(doc, "Title", size=24, bold=True, color=NAVY, after=2)
    title_ppr = title.element.get_or_add_pPr()
    for bdr in title_ppr.findall(qn("w:pBdr")):
        title_ppr.remove(bdr)
    title_rpr = title.element.get_or_add_rPr()
    for tag in ("w:kern", "w:spacing"):
        for el in title_rpr.findall(qn(tag)):
            title_rpr.remove(el)
    subtitle = _paragraph_style(doc, "Subtitle", size=12, color=GREY, after=12)
    subtitle.font.italic = False
    sub_rpr = subtitle.element.get_or_add_rPr()
    for el in sub_rpr.findall(qn("w:spacing")):
        sub_rpr.remove(el)
    paragraph_border(subtitle.element.get_or_add_pPr(), "bottom", 6, NAVY, space=6)

    _paragraph_style(doc, "Heading 1", size=13, bold=True, color=NAVY, before=14, after=4, keep_next=True)
    _paragraph_style(doc, "Heading 2", size=11, bold=True, color=NAVY, before=8, after=2, keep_next=True)
    _paragraph_style(doc, "List Bullet", after=3)  # indents come from the numbering

    _paragraph_style(doc, "Table Text", line=1.0)
    # Signature blocks sit in rows that cannot split; keep-with-next inside them would chain
    # the rows together and push the whole table (with its heading) onto a later page.
    _paragraph_style(doc, "Signature Label", size=8.5, bold=True, color=GREY, after=2,
                     caps=True, tracking=0.5)
    space = _paragraph_style(doc, "Signature Space", after=0, exact=SIGNATURE_SPACE.pt)
    paragraph_border(space.element.get_or_add_pPr(), "bottom", 6, "404040", space=1)
    _paragraph_style(doc, "Seal Space", after=0, exact=SEAL_SPACE.pt)
    _paragraph_style(doc, "Signature Name", bold=True, before=3, after=0)
    _paragraph_style(doc, "Signature Detail", size=9.5, color=GREY, after=0)
    _paragraph_style(doc, "Signature Date", size=9.5, before=6, after=0)

    for name in ("Header", "Footer"):
        style = _paragraph_style(doc, name, size=9, color=GREY)
        ppr = style.element.get_or_add_pPr()
        for tabs in ppr.findall(qn("w:tabs")):
            ppr.remove(tabs)
        style.paragraph_format.tab_stops.add_tab_stop(TEXT_WIDTH, WD_TAB_ALIGNMENT.RIGHT)
    paragraph_border(doc.styles["Header"].element.get_or_add_pPr(), "bottom", 4, RULE, space=4)
    paragraph_border(doc.styles["Footer"].element.get_or_add_pPr(), "top", 4, RULE, space=4)

    for style in parse_xml(TABLE_STYLES).findall(qn("w:style")):
        styles_el.append(style)


def _bullets_in_calibri(doc) -> None:
    """The default 'List Bullet' uses a Symbol-font glyph; use a Calibri bullet instead."""
    numbering = doc.part.numbering_part.element
    for lvl in numbering.iter(qn("w:lvl")):
        fmt = lvl.find(qn("w:numFmt"))
        if fmt is not None and fmt.get(qn("w:val")) == "bullet":
            lvl.find(qn("w:lvlText")).set(qn("w:val"), "\u2022")
            rpr = lvl.find(qn("w:rPr"))
            if rpr is not None:
                _set_fonts(rpr)


def _theme_in_calibri(doc) -> None:
    """Make the theme's heading font Calibri too (Word offers it as '+Headings')."""
    for part in doc.part.package.iter_parts():
        if str(part.partname) == "/word/theme/theme1.xml":
            part._blob = part.blob.replace(b'typeface="Cambria"', f'typeface="{FONT}"'.encode())


def _drop_unused_parts(doc) -> None:
    """Drop the default template's thumbnail, Word-2010 style copy and custom XML."""
    unused = {RT.THUMBNAIL, RT.CUSTOM_XML,
              "http://schemas.microsoft.com/office/2007/relationships/stylesWithEffects"}
    for owner in (doc.part.package, doc.part):
        for rid, rel in list(owner.rels.items()):
            if rel.reltype in unused:
                del owner.rels[rid]
                owner.rels.related_parts.pop(rid, None)


def new_document():
    doc = Document()
    _drop_unused_parts(doc)
    _configure_styles(doc)
    _bullets_in_calibri(doc)
    _theme_in_calibri(doc)

    section = doc.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    section.page_width, section.page_height = PAGE_WIDTH, PAGE_HEIGHT
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, MARGIN)
    section.header_distance = Cm(1.2)
    section.footer_distance = Cm(1.2)

    header = section.header.paragraphs[0]
    header.style = doc.styles["Header"]
    header.add_run("{{ office.name }}")
    header.add_run("\t")
    confidential = header.add_run("CONFIDENTIAL")
    confidential.bold = True
    confidential.font.color.rgb = RGBColor.from_string(CONFIDENTIAL_RED)
    _put(confidential._r.get_or_add_rPr(), _el("w:spacing", val="20"))

    footer = section.footer.paragraphs[0]
    footer.style = doc.styles["Footer"]
    footer.add_run("Record {{ record.id }}\tPage ")
    add_field(footer, "PAGE")
    footer.add_run(" of ")
    add_field(footer, "NUMPAGES")

    props = doc.core_properties
    props.author = "Accord"
    props.last_modified_by = "Accord"
    props.title = ""
    props.subject = ""
    props.keywords = ""
    props.category = ""
    props.comments = "Accord template, generated by tools/make_templates.py"
    props.revision = 1
    props.created = BUILD_TIME
    props.modified = BUILD_TIME
    props.last_printed = BUILD_TIME
    return doc


# --------------------------------------------------------------------------------------------
# Building blocks of the documents
# --------------------------------------------------------------------------------------------


def text(container, content: str, style: str):
    """Add a paragraph to the body or a cell (a new cell's bare <w:p/> is used first)."""
    paragraphs = container.paragraphs
    if hasattr(container, "_tc") and len(paragraphs) == 1 and len(paragraphs[0]._p) == 0:
        paragraph = paragraphs[0]
        paragraph.style = style
        if content:
            paragraph.add_run(content)
        return paragraph
    return container.add_paragraph(content, style=style)


def tag(container, statement: str, style: str = "Table Text"):
    """A paragraph holding only a docxtpl paragraph tag, e.g. tag(doc, 'for x in xs')."""
    return text(container, "{%p " + statement + " %}", style)


def heading(doc, number: int, title: str):
    return doc.add_paragraph(f"{number}.\u2002{title}", style="Heading 1")


def title_block(doc, title: str, subtitle: str) -> None:
    doc.add_paragraph(title, style="Title")
    doc.add_paragraph(subtitle, style="Subtitle")


def details_table(doc, rows: list[tuple[str, str]]):
    """A two-column label/value table (shaded labels)."""
    table = doc.add_table(rows=len(rows), cols=2)
    table.style = doc.styles["Accord Details"]
    set_look(table, first_row=False, first_column=True)
    set_widths(table, [2300, TEXT_WIDTH.twips - 2300], indent=CELL_PADDING)
    for row, (label, value) in zip(table.rows, rows):
        text(row.cells[0], label, "Table Text")
        text(row.cells[1], value, "Table Text")
    return table


def looped_table(doc, headings: list[str], widths: list[int], loop: str, cells: list[str]):
    """A table with a header row and one row per item: {%tr for ... %} / row / {%tr endfor %}."""
    table = doc.add_table(rows=4, cols=len(headings))
    table.style = doc.styles["Accord Table"]
    set_look(table, first_row=True, first_column=False)
    set_widths(table, widths, indent=CELL_PADDING)
    header, start, body, end = table.rows
    row_properties(header, cant_split=True, header=True)
    for cell, label in zip(header.cells, headings):
        text(cell, label, "Table Text")
    for cell, content in zip(body.cells, cells):
        text(cell, content, "Table Text")
    for row, statement in ((start, loop), (end, "endfor")):
        text(row.cells[0].merge(row.cells[-1]), "{%tr " + statement + " %}", "Table Text")
    return table


def signature_table(doc):
    table = doc.add_table(rows=0, cols=2)
    table.style = doc.styles["Accord Signatures"]
    table.alignment = WD_TABLE_ALIGNMENT.LEFT
    set_look(table, first_row=False, first_column=False)
    set_widths(table, [HALF, TEXT_WIDTH.twips - HALF])
    return table


def signature_row(table, *, cant_split: bool = True):
    """A row of the signature table; the gap between its two columns is split between them."""
    row = table.add_row()
    row_properties(row, cant_split=cant_split)
    widths = [int(col.get(qn("w:w"))) for col in table._tbl.tblGrid.findall(qn("w:gridCol"))]
    for cell, width in zip(row.cells, widths):
        cell.width = Twips(width)
    cell_margins(row.cells[0], right=SIGNATURE_GAP // 2)
    cell_margins(row.cells[1], left=SIGNATURE_GAP // 2)
    return row


def loop_row(table, statement: str) -> None:
    """A table row that only holds a docxtpl row tag; docxtpl removes the row."""
    row = signature_row(table, cant_split=False)
    text(row.cells[0].merge(row.cells[1]), "{%tr " + statement + " %}", "Table Text")


def signature_block(cell, *, label: str, bookmark: str, bookmark_id: int, name: str,
                    details: list[tuple[str | None, str]]) -> None:
    """One signatory: label, signature space (bookmarked) over a line, name, details, date.

    `details` are (condition, text) pairs; a condition wraps its line in {%p if %}.
    """
    text(cell, label, "Signature Label")
    space = text(cell, "", "Signature Space")
    add_bookmark(space, bookmark, bookmark_id)
    text(cell, name, "Signature Name")
    for condition, line in details:
        if condition:
            tag(cell, f"if {condition}", "Signature Detail")
        text(cell, line, "Signature Detail")
        if condition:
            tag(cell, "endif", "Signature Detail")
    text(cell, "Date:\u2002______________________________", "Signature Date")


def pair_of_signatures(table, first: dict, second: dict) -> None:
    """The row of a {%tr for pair in parties|batch(2) %} loop: two signatories side by side.

    The right-hand block only appears when the pair is complete (an odd number of parties
    leaves the last right-hand cell empty).
    """
    row = signature_row(table)
    signature_block(row.cells[0], **first)
    right = row.cells[1]
    tag(right, "if pair|length == 2")
    signature_block(right, **second)
    tag(right, "else")
    text(right, "", "Table Text")
    tag(right, "endif", "Table Text")


def seal_block(cell, bookmark_id: int) -> None:
    text(cell, "Sealed by the office", "Signature Label")
    space = text(cell, "", "Seal Space")
    add_bookmark(space, "seal", bookmark_id)
    text(cell, "{{ office.name }}", "Signature Detail")
    text(cell, "Certified electronically. Any change after sealing, other than signing in the "
               "signature fields, invalidates the seal.", "Signature Detail")


# Capitalise the first letter only ("OSC liaison" stays "OSC liaison").
def capitalised(expression: str) -> str:
    return "{{ " + expression + "[:1]|upper }}{{ " + expression + "[1:] }}"


# --------------------------------------------------------------------------------------------
# The resolution agreement
# --------------------------------------------------------------------------------------------


def build_resolution_agreement():
    doc = new_document()
    title_block(doc, "Resolution Agreement",
                "Informal resolution of case {{ case.id }} through {{ case.process|humanize }}")

    details_table(doc, [
        ("Case", "{{ case.id }}"),
        ("Process", "{{ case.process|humanize|capitalize }}"),
        ("Case opened", "{{ case.opened|longdate }}"),
        ("Agreement date", "{{ agreement_date|longdate }}"),
        ("Facilitator", "{{ facilitator.name }}, {{ facilitator.title }}"),
    ])
    doc.add_paragraph(
        "This agreement records the terms that the parties named below reached voluntarily "
        "through {{ case.process|humanize }}, an informal resolution process administered by "
        "{{ office.name }}."
    ).paragraph_format.space_before = Pt(12)

    heading(doc, 1, "Parties")
    doc.add_paragraph("This agreement is made between the following parties:")
    looped_table(
        doc, ["Name", "Role", "Affiliation"], [2900, 2100, TEXT_WIDTH.twips - 5000],
        "for party in parties",
        ["{{ party.name }}", capitalised("party.role"),
         "{% if party.affiliation %}{{ party.affiliation }}{% else %}\u2014{% endif %}"],
    )
    doc.add_paragraph(
        "The process was facilitated by {{ facilitator.name }}, {{ facilitator.title }}."
    ).paragraph_format.space_before = Pt(6)

    heading(doc, 2, "Voluntary participation")
    doc.add_paragraph(
        "Each party received written notice of the allegations and of how the informal process "
        "works, and gave voluntary, written consent to take part. Participation was voluntary: "
        "until this agreement was signed, any party could withdraw and return to the formal "
        "process. Once signed by every party, this agreement ends the formal process for the "
        "same allegations."
    )

    heading(doc, 3, "Terms")
    doc.add_paragraph("The parties agree to the following terms.")
    looped_table(
        doc, ["No.", "Term", "Owner", "Due date"], [650, 5106, 1850, 1800],
        "for term in terms",
        ["{{ loop.index }}", "{{ term.text }}", capitalised("term.owner"),
         "{% if term.due %}{{ term.due|longdate }}{% else %}Ongoing{% endif %}"],
    )

    heading(doc, 4, "Follow-up")
    doc.add_paragraph(
        "The coordinator will follow up with the parties{% if follow_up_date %} on or about "
        "{{ follow_up_date|longdate }}{% endif %} to confirm that the terms are being kept, and "
        "may ask each party to show that a term has been completed."
    )

    heading(doc, 5, "If a term is not kept")
    doc.add_paragraph(
        "If a party does not keep a term of this agreement, the coordinator may treat the breach "
        "as a new report, to be handled under the institution\u2019s procedures."
    )

    heading(doc, 6, "Confidentiality")
    doc.add_paragraph("{{ confidentiality }}")
    doc.add_paragraph(
        "{{ office.name }} keeps this agreement as the record of an informal resolution and "
        "discloses it only as the law and institutional policy allow."
    )

    heading(doc, 7, "Scope")
    doc.add_paragraph(
        "This agreement binds only the parties who sign it. It places no obligation on any "
        "other person."
    )

    heading(doc, 8, "Signatures")
    intro = doc.add_paragraph(
        "By signing, each party confirms having read this agreement and accepting its terms "
        "voluntarily. The facilitator\u2019s signature records the coordinator\u2019s approval."
    )
    intro.paragraph_format.keep_with_next = True
    intro.paragraph_format.space_after = Pt(12)

    table = signature_table(doc)
    loop_row(table, "for pair in parties|batch(2)")

    def party(index: int, number: str) -> dict:
        who = f"pair[{index}]"
        return dict(
            label=f"{{{{ {who}.role }}}}",
            bookmark=f"sig{{{{ {number} }}}}",
            bookmark_id=101 + index,
            name=f"{{{{ {who}.name }}}}",
            details=[(f"{who}.affiliation", f"{{{{ {who}.affiliation }}}}")],
        )

    pair_of_signatures(table, party(0, "loop.index * 2 - 1"), party(1, "loop.index * 2"))
    loop_row(table, "endfor")

    row = signature_row(table)
    signature_block(
        row.cells[0], label="Facilitator, approving for the office", bookmark="sigcoordinator",
        bookmark_id=103, name="{{ facilitator.name }}",
        details=[(None, "{{ facilitator.title }}")],
    )
    seal_block(row.cells[1], bookmark_id=104)
    return doc


# --------------------------------------------------------------------------------------------
# The memorandum of understanding
# --------------------------------------------------------------------------------------------


def build_mou():
    doc = new_document()
    title_block(doc, "Memorandum of Understanding", "{{ mou.title }}")

    details_table(doc, [
        ("Reference", "{{ mou.id }}"),
        ("Effective", "{{ mou.effective|longdate }}"),
        ("Expires", "{{ mou.expires|longdate }}"),
        ("Review", "{{ review }}"),
    ])

    heading(doc, 1, "Parties")
    doc.add_paragraph("This memorandum of understanding is made between:")
    tag(doc, "for party in parties", "List Bullet")
    bullet = doc.add_paragraph(style="List Bullet")
    bullet.add_run("{{ party.organization }}").bold = True
    bullet.add_run(" (\u201c{{ party.short_name }}\u201d), represented by "
                   "{{ party.signatory.name }}, {{ party.signatory.title }}")
    tag(doc, "endfor", "List Bullet")

    heading(doc, 2, "Purpose")
    doc.add_paragraph("{{ purpose }}")

    heading(doc, 3, "Responsibilities")
    doc.add_paragraph("Each party agrees to carry out the following responsibilities.")
    tag(doc, "for item in responsibilities", "Heading 2")
    doc.add_paragraph("3.{{ loop.index }}\u2002{{ item.party }} will:", style="Heading 2")
    tag(doc, "for duty in item.duties", "List Bullet")
    doc.add_paragraph("{{ duty }}", style="List Bullet")
    tag(doc, "endfor", "List Bullet")
    tag(doc, "endfor", "List Bullet")

    heading(doc, 4, "Sharing records under FERPA")
    doc.add_paragraph("{{ confidentiality }}")
    doc.add_paragraph(
        "Nothing in this memorandum permits a disclosure that the Family Educational Rights and "
        "Privacy Act (FERPA, 34 CFR Part 99) does not allow."
    )

    heading(doc, 5, "Term")
    doc.add_paragraph(
        "This memorandum takes effect on {{ mou.effective|longdate }} and remains in effect "
        "until {{ mou.expires|longdate }}, unless it is ended earlier under section 7."
    )

    heading(doc, 6, "Review")
    doc.add_paragraph(
        "The parties will review how this memorandum is working, and whether it should be "
        "amended, on this schedule: {{ review }}"
    )

    heading(doc, 7, "Amendment and termination")
    doc.add_paragraph(
        "This memorandum may be amended only in writing, signed by every party. Any party may "
        "end its participation by giving the other parties at least 30 days\u2019 written "
        "notice. Records shared under this memorandum before it ends remain protected as set "
        "out in section 4."
    )

    heading(doc, 8, "Signatures")
    intro = doc.add_paragraph("Signed for each party by its authorized signatory.")
    intro.paragraph_format.keep_with_next = True
    intro.paragraph_format.space_after = Pt(12)

    table = signature_table(doc)
    loop_row(table, "for pair in parties|batch(2)")

    def party(index: int, number: str) -> dict:
        who = f"pair[{index}]"
        return dict(
            label=f"For {{{{ {who}.short_name }}}}",
            bookmark=f"sig{{{{ {number} }}}}",
            bookmark_id=101 + index,
            name=f"{{{{ {who}.signatory.name }}}}",
            details=[(None, f"{{{{ {who}.signatory.title }}}}"),
                     (None, f"{{{{ {who}.organization }}}}")],
        )

    pair_of_signatures(table, party(0, "loop.index * 2 - 1"), party(1, "loop.index * 2"))
    loop_row(table, "endfor")

    row = signature_row(table)
    seal_block(row.cells[0], bookmark_id=104)
    text(row.cells[1], "", "Table Text")
    return doc


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


BUILDERS = {
    "resolution-agreement": build_resolution_agreement,
    "mou": build_mou,
}


def docx_bytes(doc) -> bytes:
    """The .docx as bytes, with fixed ZIP timestamps so that builds are reproducible."""
    raw = io.BytesIO()
    doc.save(raw)
    out = io.BytesIO()
    with zipfile.ZipFile(raw) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def build(name: str) -> bytes:
    return docx_bytes(BUILDERS[name]())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="folder to write the .docx files into (default: pipeline/defaults/templates/, "
                             "which the checkout's templates/ links to)")
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"templates to build (default: all of {', '.join(BUILDERS)})")
    args = parser.parse_args(argv)
    unknown = [name for name in args.names if name not in BUILDERS]
    if unknown:
        parser.error(f"no such template: {', '.join(unknown)} (known: {', '.join(BUILDERS)})")
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.names or BUILDERS:
        path = args.out / f"{name}.docx"
        path.write_bytes(build(name))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
