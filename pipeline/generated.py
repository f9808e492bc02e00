"""Small documents Accord writes itself (audit anchors, certificates of disposition).

They go through the same LibreOffice conversion and office seal as the agreements, so
they need what the templates have: a ``seal`` bookmark where the visible seal goes.
"""

from __future__ import annotations

import io

from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt

from .templates import SEAL_BOOKMARK


def new_document(size: int = 11):
    doc = Document()
    doc.styles["Normal"].font.name = "Calibri"
    doc.styles["Normal"].font.size = Pt(size)
    return doc


def add_seal_place(doc) -> None:
    """A captioned empty paragraph, bookmarked ``seal``, tall enough for the seal stamp."""
    doc.add_paragraph()
    doc.add_paragraph("Sealed by the office").runs[0].bold = True
    place = doc.add_paragraph()
    place.paragraph_format.space_after = Pt(60)
    start, end = OxmlElement("w:bookmarkStart"), OxmlElement("w:bookmarkEnd")
    start.set(qn("w:id"), "1")
    start.set(qn("w:name"), SEAL_BOOKMARK)
    end.set(qn("w:id"), "1")
    place._p.extend([start, end])


def docx_bytes(doc) -> bytes:
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
