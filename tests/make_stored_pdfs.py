"""Make the stored PDFs of ``tests/data/`` again with the real LibreOffice (see tests/data/README.md).

    .venv/bin/python -m tests.make_stored_pdfs

Run it after a template's layout or its bookmarks change, or LibreOffice is upgraded:
``tests/test_convert.py::test_stored_pdfs_match_what_libreoffice_makes_today`` says when.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline.config import ConverterSettings
from pipeline.documents.convert import Converter
from tests.helpers import STORED_KINDS, stored_kind_docx, stored_pdf_path


def make_stored_pdfs() -> list[Path]:
    """Convert each kind's document with LibreOffice and write its PDF into tests/data/."""
    written = []
    with tempfile.TemporaryDirectory() as work, Converter(ConverterSettings(work_dir=Path(work))) as converter:
        for kind in STORED_KINDS:
            path = stored_pdf_path(kind)
            path.write_bytes(converter.convert(stored_kind_docx(kind)))
            written.append(path)
    return written


if __name__ == "__main__":
    for made in make_stored_pdfs():
        print(f"wrote {made}")
