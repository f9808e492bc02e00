"""Build Accord's Word templates with python-docx, so that they are reproducible and reviewable.

Usage (from the project root):

    .venv/bin/python tools/make_templates.py            # writes pipeline/defaults/templates/*.docx
    .venv/bin/python tools/make_templates.py --out DIR  # writes them somewhere else

The templates are docxtpl (Jinja) templates: ``{{ ... }}`` fills a value, ``{%p ... %}`` and
``{%tr ... %}`` stand alone in a paragraph or table row that docxtpl removes when it renders.
The context is the case file as declared in ``templates/<name>.yaml`` (optional fields that are
missing are present as None), plus ``record`` (id, title, created) and ``office`` (name); the
filters ``longdate`` and ``humanize`` are Accord's own. The case documents also see their role's
context (``documents.templates.ROLE_CONTEXT``): the intake record the rubric's verdict under
``rubric``, the notice, the consent form, the withdrawal notice and the completion letter the case
Accord holds under ``held`` (its dates are dates).

Besides the resolution agreement and the MOU, the case documents: the intake and assessment
record, the notice of informal resolution (34 CFR 106.45(b)(9)(i)), one party's consent form, the
withdrawal notice and the completion letter. They share the family's look and add two styles
(``case_styles``); the agreement and the MOU are built exactly as before.

Signature fields: the sealing step puts an empty PDF signature field where the template has a
Word bookmark (LibreOffice exports bookmarks as named destinations). Every signatory's block
starts its signature space, an empty paragraph of exactly 42 pt above a signature line, with a
bookmark: ``sig1``, ``sig2``, ... for the parties (in list order), ``sigcoordinator`` for the
facilitator of a resolution agreement, ``sigparty`` for the one party of a consent form, and
``seal`` for the 60 pt space where the office seal is drawn (every template has one). The field is 200 pt wide, the seal 220 pt; both fit in their half of the page.

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


def fill(cell, content) -> None:
    """Fill a table cell: `content` is its text, or a function that writes the cell's paragraphs."""
    if callable(content):
        content(cell)
    else:
        text(cell, content, "Table Text")


def details_table(doc, rows: list[tuple]):
    """A two-column label/value table (shaded labels).

    A row is (label, value) or (label, value, condition): a condition wraps the row in
    {%tr if condition %} ... {%tr endif %}. A value is text or a function that fills the cell.
    """
    lines: list[tuple] = []
    for label, value, *condition in rows:
        if condition:
            lines += [("{%tr if " + condition[0] + " %}",), (label, value), ("{%tr endif %}",)]
        else:
            lines.append((label, value))
    table = doc.add_table(rows=len(lines), cols=2)
    table.style = doc.styles["Accord Details"]
    set_look(table, first_row=False, first_column=True)
    set_widths(table, [2300, TEXT_WIDTH.twips - 2300], indent=CELL_PADDING)
    for row, line in zip(table.rows, lines):
        if len(line) == 1:  # a row that holds only a docxtpl row tag
            text(row.cells[0].merge(row.cells[1]), line[0], "Table Text")
            continue
        text(row.cells[0], line[0], "Table Text")
        fill(row.cells[1], line[1])
    return table


def looped_table(doc, headings: list[str], widths: list[int], loop: str, cells: list,
                 whole_rows: bool = False):
    """A table with a header row and one row per item: {%tr for ... %} / row / {%tr endfor %}.

    A cell is text or a function that fills it (see `fill`); `whole_rows` keeps each item's row
    on one page.
    """
    table = doc.add_table(rows=4, cols=len(headings))
    table.style = doc.styles["Accord Table"]
    set_look(table, first_row=True, first_column=False)
    set_widths(table, widths, indent=CELL_PADDING)
    header, start, body, end = table.rows
    row_properties(header, cant_split=True, header=True)
    if whole_rows:
        row_properties(body, cant_split=True)
    for cell, label in zip(header.cells, headings):
        text(cell, label, "Table Text")
    for cell, content in zip(body.cells, cells):
        fill(cell, content)
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
# Building blocks of the case documents (intake record, notice, consent, withdrawal, completion)
# --------------------------------------------------------------------------------------------

RECORDS_KEPT = (
    "kept for 7 years after the case closes (34 CFR 106.45(b)(10)) and then destroyed, unless a "
    "legal hold requires them to be kept longer"
)
RETALIATION = (
    "Retaliation against anyone for taking part in the process, declining it or withdrawing "
    "from it is prohibited (34 CFR 106.71)."
)


def case_styles(doc) -> None:
    """The styles only the case documents use (the agreement and the MOU keep theirs unchanged)."""
    quoted = _paragraph_style(doc, "Quoted Text", before=2, after=8)
    quoted.paragraph_format.left_indent = Pt(12)
    paragraph_border(quoted.element.get_or_add_pPr(), "left", 18, NAVY, space=8)
    _paragraph_style(doc, "Table Note", size=9.5, color=GREY, before=2, line=1.0)


def new_case_document(title: str, subtitle: str):
    """A new document of the family with the case documents' styles and its title block."""
    doc = new_document()
    case_styles(doc)
    title_block(doc, title, subtitle)
    return doc


def para(container, content: str = "", *, style: str = "Normal", keep_next: bool = False,
         before: float | None = None):
    """A paragraph of body text; `keep_next` keeps it on the page of what follows."""
    paragraph = text(container, content, style)
    if keep_next:
        paragraph.paragraph_format.keep_with_next = True
    if before is not None:
        paragraph.paragraph_format.space_before = Pt(before)
    return paragraph


def lead_in(container, lead: str, rest: str, style: str = "List Bullet"):
    """A paragraph that starts with a few words in bold: 'Lead. The rest of the sentence.'"""
    paragraph = text(container, "", style)
    paragraph.add_run(lead).bold = True
    paragraph.add_run(rest)
    return paragraph


def bullets(doc, items: list[str], style: str = "List Bullet") -> None:
    for item in items:
        doc.add_paragraph(item, style=style)


def each(container, loop: str, content: str, style: str, empty: str | None = None) -> None:
    """One paragraph per item: {%p for ... %} / content / {%p endfor %}, and one paragraph for
    an empty list ({%p else %}) if `empty` is given."""
    tag(container, loop, style)
    text(container, content, style)
    if empty is not None:
        tag(container, "else", style)
        text(container, empty, style)
    tag(container, "endfor", style)


def lines_of(loop: str, content: str, empty: str = "\u2014"):
    """A cell filler: one line per item of a list (a dash when the list is empty)."""
    return lambda cell: each(cell, loop, content, "Table Text", empty)


def when(doc, condition: str, build, otherwise=None, style: str = "Normal") -> None:
    """What `build(doc)` writes, only if `condition` holds; else what `otherwise(doc)` writes."""
    tag(doc, f"if {condition}", style)
    build(doc)
    if otherwise is not None:
        tag(doc, "else", style)
        otherwise(doc)
    tag(doc, "endif", style)


#: A details-table cell naming every party of the case the office holds, one a line, with their role.
PARTIES_LINES = lines_of("for p in held.parties", "{{ p.name }} ({{ p.role }})")


def or_dash(expression: str) -> str:
    return f"{{% if {expression} %}}{{{{ {expression} }}}}{{% else %}}\u2014{{% endif %}}"


def named_party(party: str = "held.party") -> str:
    """'Name, affiliation' (the affiliation only if there is one)."""
    return (f"{{{{ {party}.name }}}}{{% if {party}.affiliation %}}, "
            f"{{{{ {party}.affiliation }}}}{{% endif %}}")


def closing_seal(doc, intro: str | None = None) -> None:
    """The office's seal at the end of a document that no one else signs, after an optional line
    ('Issued by ...'). The paragraph before should keep with it (keep_next), so that the seal never
    stands alone on a page."""
    if intro:
        paragraph = para(doc, intro, keep_next=True, before=6)
        paragraph.paragraph_format.space_after = Pt(10)
    else:
        doc.paragraphs[-1].paragraph_format.space_after = Pt(16)
    table = signature_table(doc)
    row = signature_row(table)
    seal_block(row.cells[0], bookmark_id=104)
    text(row.cells[1], "", "Table Text")


#: ", opened 2 March 2026" (nothing for a case Accord holds no intake for).
HELD_OPENED = "{% if held.case.opened %}, opened {{ held.case.opened|longdate }}{% endif %}"
HELD_CASE = "{{ case.id }}" + HELD_OPENED


def case_table(doc, headings: list[str], widths: list[int], loop: str, cells: list):
    """A looped table whose rows never break across pages."""
    return looped_table(doc, headings, widths, loop, cells, whole_rows=True)


def subheading(doc, number: str, title: str):
    return doc.add_paragraph(f"{number}\u2002{title}", style="Heading 2")


# --------------------------------------------------------------------------------------------
# The intake and assessment record
# --------------------------------------------------------------------------------------------

KIND_OF_FINDING = (
    "{% if finding.kind == 'exclude' %}Rules out{% elif finding.kind == 'suggest' %}Suggests"
    "{% else %}Caution{% endif %}"
)


def build_case_intake():
    doc = new_case_document("Intake and Assessment Record", "Case {{ case.id }}, opened {{ case.opened|longdate }}")

    details_table(doc, [
        ("Case", "{{ case.id }}"),
        ("Opened", "{{ case.opened|longdate }}"),
        ("Referred by", "{% if case.referred_by %}{{ case.referred_by }}{% else %}Not recorded{% endif %}"),
        ("Jurisdiction", lines_of("for label in rubric.jurisdictions", "{{ label }}")),
        ("Allegations", lines_of("for label in rubric.allegations", "{{ label }}")),
        ("Assessment", ("{% if assessment %}{{ assessment.date|longdate }}: {{ rubric.decision.label }}"
                        "{% else %}Not yet made{% endif %}")),
    ])
    para(doc, "This record is the office\u2019s account of the report as received at intake, of "
              "the people involved, of the supportive measures in place and of the assessment of "
              "whether the case may be resolved informally. It is confidential and is "
              + RECORDS_KEPT + ".", before=12)

    heading(doc, 1, "The report")
    para(doc, "As recorded at intake:", keep_next=True)
    para(doc, "{{ case.summary }}", style="Quoted Text")

    heading(doc, 2, "The parties")
    case_table(
        doc, ["Name", "Role", "Status", "Affiliation"], [2600, 1900, 1800, TEXT_WIDTH.twips - 6300],
        "for party in parties",
        ["{{ party.name }}", capitalised("party.role"), capitalised("(party.status|humanize)"),
         or_dash("party.affiliation")],
    )
    para(doc, "The parties\u2019 contact details are held by the office and are not printed in "
              "this record.", style="Table Note", before=4)

    heading(doc, 3, "Supportive measures")
    when(doc, "supportive_measures", lambda doc: case_table(
        doc, ["Measure", "Start", "End", "Arranged by"], [4306, 1600, 1600, TEXT_WIDTH.twips - 7506],
        "for measure in supportive_measures",
        ["{{ measure.measure }}", "{{ measure.start|longdate }}",
         "{% if measure.end %}{{ measure.end|longdate }}{% else %}Ongoing{% endif %}",
         or_dash("measure.arranged_by")],
    ), lambda doc: para(doc, "None recorded."))

    heading(doc, 4, "Assessment")
    when(doc, "assessment", assessment_section, lambda doc: para(
        doc, "No assessment has been made yet. The case will be assessed against the office\u2019s "
             "rubric before any informal process is offered to the parties; the assessment will be "
             "recorded in a new version of this record, which supersedes this one.", keep_next=True))

    closing_seal(doc, "Recorded by {{ office.name }}.")
    return doc


def assessment_section(doc) -> None:
    para(doc, "The case was assessed against the office\u2019s suitability rubric.", keep_next=True)
    details_table(doc, [
        ("Date", "{{ assessment.date|longdate }}"),
        ("Assessed by", "{{ assessment.by }}"),
        ("Decision", "{{ rubric.decision.label }}"),
        ("Rubric allows", "{% if rubric.allowed %}{{ rubric.allowed|join(', ') }}{% else %}None{% endif %}"),
        ("Rubric suggests", "{{ rubric.suggested|join(', ') }}", "rubric.suggested"),
    ])

    subheading(doc, "4.1", "Factors weighed").paragraph_format.space_before = Pt(12)
    case_table(
        doc, ["Question", "Answer"], [7206, TEXT_WIDTH.twips - 7206],
        "for answer in rubric.answers",
        ["{{ answer.question }}", capitalised("answer.answer")],
    )

    subheading(doc, "4.2", "Findings of the rubric")
    when(doc, "rubric.findings", lambda doc: case_table(
        doc, ["Finding", "Reason", "Authority"], [1300, 5006, TEXT_WIDTH.twips - 6306],
        "for finding in rubric.findings",
        [KIND_OF_FINDING, "{{ finding.reason }}", or_dash("finding.authority")],
    ), lambda doc: para(doc, "None of the rubric\u2019s rules applied to this case."))

    subheading(doc, "4.3", "Rationale")
    para(doc, "{{ assessment.rationale }}", style="Quoted Text", keep_next=True)
    when(doc, "assessment.decision == 'not-suitable'", lambda doc: para(
        doc, "The case is not suitable for informal resolution. With this decision it is closed in "
             "the office, and the report returns to the formal grievance process or to the office "
             "that referred it.", keep_next=True),
         lambda doc: para(
        doc, "Next, as 34 CFR 106.45(b)(9) requires, each party receives written notice of the "
             "allegations and of the process decided, and is asked for voluntary, written consent; "
             "the process begins only once every party has consented.", keep_next=True))


# --------------------------------------------------------------------------------------------
# The notice of informal resolution
# --------------------------------------------------------------------------------------------


def build_notice():
    doc = new_case_document("Notice of Informal Resolution",
                            "Case {{ case.id }}: written notice to a party (34 CFR 106.45(b)(9)(i))")

    details_table(doc, [
        ("To", named_party()),
        ("Role in the case", capitalised("held.party.role")),
        ("Case", HELD_CASE),
        ("Allegations", lines_of("for label in held.case.allegations", "{{ label }}")),
        ("Rules that apply", lines_of("for label in held.case.jurisdictions", "{{ label }}")),
        ("Process offered", "{{ held.process.label }}"),
        ("Date of notice", "{{ date|longdate }}"),
        ("Please answer by", "{{ respond_by|longdate }}", "respond_by"),
    ])
    para(doc, "Dear {{ held.party.name }},", before=12)
    para(doc, "The office has assessed the report in this case and considers that it may be "
              "resolved through an informal process instead of a formal investigation. Before you "
              "decide whether to take part, you are entitled to written notice of the allegations, "
              "of how the process works and of what taking part would mean for you. Please read "
              "this notice in full. You do not have to take part, and you need not decide today.")

    heading(doc, 1, "The allegations")

    def report(doc) -> None:
        para(doc, "The report was recorded{% if held.case.opened %} on {{ held.case.opened|longdate }}"
                  "{% endif %}{% if held.case.referred_by %}, on referral from {{ held.case.referred_by }}"
                  "{% endif %}. As recorded, it says:", keep_next=True)
        para(doc, "{{ held.case.summary }}", style="Quoted Text")

    when(doc, "held.case.summary", report)
    para(doc, "The parties of the case are:", keep_next=True)
    case_table(
        doc, ["Name", "Role", "Affiliation"], [2900, 2100, TEXT_WIDTH.twips - 5000],
        "for party in held.parties",
        ["{{ party.name }}", capitalised("party.role"), or_dash("party.affiliation")],
    )
    para(doc, "These are allegations only: no one has been found responsible for the conduct "
              "reported. The responding party is presumed not responsible, and an informal process "
              "makes no finding of responsibility.", before=6)

    heading(doc, 2, "How the process works")
    lead_in(doc, "{{ held.process.label }}. ", "{{ held.process.description }}", style="Quoted Text")
    para(doc, "A trained, impartial facilitator of the office, with no conflict of interest in the "
              "case, runs the process. There is no investigation and no hearing. The process begins "
              "only once every party has given voluntary, written consent, and ends with a written "
              "resolution agreement signed by every party, or without one; if no agreement is "
              "reached, the formal grievance process may resume.")

    heading(doc, 3, "Taking part is voluntary")
    para(doc, "Whether you take part is your choice. Taking part, or declining, is never a condition "
              "of your enrollment or employment, or of any other right, and no one may pressure you "
              "either way. You need not give a reason for declining, and declining is not held "
              "against you. " + RETALIATION)

    heading(doc, 4, "Your right to withdraw")
    para(doc, "You may withdraw from the informal process at any time before a resolution "
              "agreement is signed, without giving a reason, and resume the formal grievance "
              "process. To withdraw, tell the coordinator.")

    heading(doc, 5, "What a signed agreement means")
    para(doc, "Once every party has signed a resolution agreement, the informal process is "
              "complete, and the agreement ends the formal grievance process for the same "
              "allegations: the formal process cannot then be resumed for them. The agreement binds "
              "only the parties who sign it and places no obligation on anyone else. The coordinator "
              "follows up on its terms; if a party does not keep a term, the office may treat the "
              "breach as a new report.")

    heading(doc, 6, "Terms that may be offered")
    para(doc, "What an agreement says is for the parties to decide, with the facilitator. Terms "
              "that may be offered or requested include, for example:", keep_next=True)
    bullets(doc, [
        "an acknowledgement of the harm, or an apology, where it is freely given;",
        "a written reflection, or an educational workshop or course;",
        "no-contact or limited-contact arrangements, including in shared spaces;",
        ("changes to class, work, laboratory or housing arrangements, or limits on taking part in "
         "particular programs or activities;"),
        "meetings with the coordinator to review how the agreement is working.",
    ])
    para(doc, "No term is imposed on you: you may decline any term that is proposed.", before=3)

    heading(doc, 7, "Records kept and when they could be shared")
    para(doc, "The office keeps the records of the informal process: the intake and assessment "
              "record, this notice, each party\u2019s consent or withdrawal, any resolution agreement "
              "and the record of how its terms were carried out, including any supportive measures. "
              "They are " + RECORDS_KEPT + ".")
    para(doc, "The records are confidential. They are seen by the staff who need them to run the "
              "process or follow up on an agreement, and disclosed only as the law and institutional "
              "policy allow: for example, to a party who asks to inspect their own education "
              "records, in answer to a subpoena or court order, or to an agency that enforces civil "
              "rights law. If the formal grievance process resumes for these allegations, the people "
              "who handle it may learn that an informal process took place and how it ended, and "
              "the records could be shared with them as the institution\u2019s procedures allow; the "
              "coordinator can tell you which before you decide.")

    heading(doc, 8, "Support and reporting options")
    para(doc, "Whatever you decide, these remain open to you:", keep_next=True)
    lead_in(doc, "Confidential resources. ",
            "The counselling service and the ombuds office are confidential: they do not share "
            "what you tell them without your consent, except where the law requires it.")
    lead_in(doc, "The Title IX Coordinator, ",
            "whom you may contact at any time about the report, supportive measures or the formal "
            "grievance process.")
    lead_in(doc, "The police. ",
            "You may report to campus police or to local law enforcement at any time; taking part "
            "in informal resolution does not prevent or delay that.")
    lead_in(doc, "Supportive measures, ",
            "such as changes to schedules, work or housing or a no-contact directive, remain "
            "available whether or not you take part and whether or not an agreement is reached.")

    heading(doc, 9, "How to answer")
    para(doc, "If you wish to take part, sign the consent form that comes with this notice and "
              "return it to the coordinator{% if respond_by %} by {{ respond_by|longdate }}"
              "{% endif %}. If you do not wish to take part, tell the coordinator; you need not give "
              "a reason. The informal process goes ahead only with your written consent: not "
              "answering is not consent. If you have a question about this notice, or would like to "
              "talk it through before you decide, contact the coordinator.", keep_next=True)

    closing_seal(doc, "Issued by {{ office.name }} on {{ date|longdate }}.")
    return doc


# --------------------------------------------------------------------------------------------
# The consent to informal resolution
# --------------------------------------------------------------------------------------------


def build_consent():
    doc = new_case_document("Consent to Informal Resolution",
                            "Case {{ case.id }}: voluntary written consent of one party (34 CFR 106.45(b)(9)(ii))")

    details_table(doc, [
        ("Party", "{{ held.party.name }}"),
        ("Role in the case", capitalised("held.party.role")),
        ("Case", HELD_CASE),
        ("Allegations", lines_of("for label in held.case.allegations", "{{ label }}")),
        ("Process", "{{ held.process.label }}"),
        ("Form issued", "{{ date|longdate }}"),
    ])
    para(doc, "The informal resolution of this case goes ahead only if every party gives voluntary, "
              "written consent. This form is for {{ held.party.name }} alone: sign it only if you "
              "agree with every statement below. If you do not wish to take part, do not sign it, "
              "and tell the coordinator; you need not give a reason.", before=12)

    doc.add_paragraph("What I affirm", style="Heading 1")
    para(doc, "By signing this form, I, {{ held.party.name }}, affirm that:", keep_next=True)
    bullets(doc, [
        ("I have received the written notice of informal resolution for this case, and have had "
         "the chance to ask the coordinator about it."),
        ("I understand the allegations and how the process ({{ held.process.label }}) works, as "
         "the notice describes them."),
        ("I consent voluntarily to take part. No one has pressured me, and I know that taking "
         "part is not a condition of my enrollment or employment."),
        ("I know that I may withdraw at any time before a resolution agreement is signed, without "
         "giving a reason, and that the formal grievance process may then resume."),
        ("I understand that an agreement signed by every party ends the formal grievance process "
         "for the same allegations, which cannot then be resumed, and that it binds only the "
         "parties who sign it."),
        ("I understand which records the office keeps (this form among them, for 7 years after "
         "the case closes) and when they could be shared or disclosed, including if the formal "
         "grievance process resumes."),
        ("I know that supportive measures, confidential resources and the right to report to the "
         "police remain available to me whether or not I take part."),
    ], style="List Number")
    last = doc.paragraphs[-1].paragraph_format  # the statements end on the page of the signature
    last.keep_with_next = True
    last.space_after = Pt(18)
    table = signature_table(doc)
    row = signature_row(table)
    signature_block(
        row.cells[0], label="{{ held.party.role }}, giving consent", bookmark="sigparty",
        bookmark_id=101, name="{{ held.party.name }}",
        details=[("held.party.affiliation", "{{ held.party.affiliation }}")],
    )
    seal_block(row.cells[1], bookmark_id=104)
    return doc


# --------------------------------------------------------------------------------------------
# The withdrawal notice
# --------------------------------------------------------------------------------------------


def build_withdrawal_notice():
    doc = new_case_document("Notice of Withdrawal",
                            "Case {{ case.id }}: a party has withdrawn from informal resolution")

    details_table(doc, [
        ("Case", "{{ case.id }}{% if held.process %} ({{ held.process.label }}){% endif %}" + HELD_OPENED),
        ("Withdrawn by", "{{ held.party.name }} ({{ held.party.role }})"),
        ("Date of withdrawal", "{{ date|longdate }}"),
        ("To", PARTIES_LINES),
    ])
    para(doc, "On {{ date|longdate }}, {{ held.party.name }} withdrew from the informal resolution "
              "of case {{ case.id }}: the informal process has ended, and the case is closed in the "
              "office as of that date. Any party may withdraw before a resolution agreement is "
              "signed, without giving a reason, and withdrawing is not held against them. "
              + RETALIATION, before=12)

    heading(doc, 1, "What happens next")
    tag(doc, "if next_step == 'formal-process'")
    para(doc, "The report returns to the formal grievance process: {% if held.case.referred_by %}the "
              "office that referred it ({{ held.case.referred_by }}){% else %}the office responsible "
              "for the formal process{% endif %} will contact each party about the next steps. "
              "Nothing said in the informal process is a finding of responsibility.")
    tag(doc, "elif next_step == 'no-further-action'")
    para(doc, "No further action will be taken on the report. This does not limit any party\u2019s "
              "right to make a new report, or to ask the Title IX Coordinator about the options "
              "that remain.")
    tag(doc, "else")
    para(doc, "The coordinator will contact each party to explain the options that remain, "
              "including the formal grievance process.")
    tag(doc, "endif")
    when(doc, "note", lambda doc: para(doc, "{{ note }}", style="Quoted Text"))

    heading(doc, 2, "Support")
    para(doc, "Supportive measures remain available to every party; those in place continue unless "
              "the coordinator tells you otherwise. Confidential resources, such as the counselling "
              "service and the ombuds office, remain open to you, and you may report to campus or "
              "local police at any time.")

    heading(doc, 3, "Records kept")
    para(doc, "This notice joins the other records of the informal process, which are "
              + RECORDS_KEPT + ". They remain confidential, disclosed only as the law and "
              "institutional policy allow or, if the formal grievance process resumes, to the people "
              "who handle it. Questions go to the coordinator.", keep_next=True)

    closing_seal(doc)
    return doc


# --------------------------------------------------------------------------------------------
# The completion letter
# --------------------------------------------------------------------------------------------

ONGOING = "not term.due and term.status == 'open'"


def term_outcome(cell) -> None:
    """Completed or waived (with the date on a second line), ongoing, or the status as it is."""
    text(cell, "{% if term.status == 'completed' %}Completed{% elif term.status == 'waived' %}Waived"
               "{% elif " + ONGOING + " %}Ongoing{% else %}" + capitalised("(term.status|humanize)")
               + "{% endif %}", "Table Text")
    tag(cell, "if term.closed_on and term.status in ('completed', 'waived')", "Table Text")
    text(cell, "on {{ term.closed_on|longdate }}", "Table Text")
    tag(cell, "endif", "Table Text")


def term_text(cell) -> None:
    text(cell, "{{ term.text }}", "Table Text")
    tag(cell, "if term.note and term.status == 'waived'", "Table Note")
    text(cell, "Waived: {{ term.note }}", "Table Note")
    tag(cell, "endif", "Table Note")


def build_completion_letter():
    doc = new_case_document("Completion of Informal Resolution",
                            "Case {{ case.id }}: the resolution agreement has been carried out and "
                            "the case is closed")

    details_table(doc, [
        ("Case", HELD_CASE),
        ("Process", "{{ held.process.label }}", "held.process"),
        ("Agreement", ("Resolution agreement of {{ held.agreement.date|longdate }}"
                       "{% if held.agreement.record_id %} (record {{ held.agreement.record_id }})"
                       "{% endif %}")),
        ("Case closed", "{{ date|longdate }}"),
        ("To", PARTIES_LINES),
    ])
    para(doc, "The resolution agreement the parties reached on {{ held.agreement.date|longdate }} "
              "has been carried out. The office has reviewed each of its terms, listed below with "
              "how each ended, and closed the case on {{ date|longdate }}.", before=12)

    heading(doc, 1, "The terms of the agreement")
    case_table(
        doc, ["No.", "Term", "Owner", "Outcome"], [650, 5106, 1850, TEXT_WIDTH.twips - 7606],
        "for term in held.terms",
        ["{{ term.number }}", term_text, capitalised("term.owner"), term_outcome],
    )
    when(doc, "held.terms|selectattr('status', 'equalto', 'waived')|list", lambda doc: para(
        doc, "A waived term is one the coordinator released, for the reason noted; nothing more is "
             "asked of anyone under it.", before=6))
    when(doc, "held.terms|rejectattr('due')|selectattr('status', 'equalto', 'open')|list", lambda doc: para(
        doc, "A term marked ongoing has no end date: it remains part of the agreement after the "
             "case closes, and a breach of it may still be treated as a new report.", before=6))

    heading(doc, 2, "The case is closed")
    para(doc, "With its terms carried out as shown above, the agreement has been fulfilled, and "
              "case {{ case.id }} is closed as of {{ date|longdate }}. The formal grievance process "
              "for the same allegations ended when the agreement was signed and cannot be resumed. "
              "Nothing further is asked of the parties, other than keeping any term marked "
              "ongoing.")

    heading(doc, 3, "Records kept")
    para(doc, "The records of this case (the intake and assessment record, the notices and "
              "consents, the resolution agreement, the record of how each term was carried out, "
              "including any supportive measures, and this letter) are " + RECORDS_KEPT + ". They "
              "remain confidential and are disclosed only as the law and institutional policy "
              "allow.")

    heading(doc, 4, "Questions and support")
    para(doc, "If you have a question about this letter or about a term marked ongoing, or if you "
              "believe a term is not being kept, contact the coordinator. Supportive measures, "
              "confidential resources such as the counselling service and the ombuds office, and "
              "the Title IX Coordinator remain available to you. " + RETALIATION)
    para(doc, "Thank you for the care you put into resolving this matter.", keep_next=True)

    closing_seal(doc, "Issued by {{ office.name }} on {{ date|longdate }}.")
    return doc


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


BUILDERS = {
    "resolution-agreement": build_resolution_agreement,
    "mou": build_mou,
    "case-intake": build_case_intake,
    "notice-of-informal-resolution": build_notice,
    "consent-to-informal-resolution": build_consent,
    "withdrawal-notice": build_withdrawal_notice,
    "completion-letter": build_completion_letter,
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
