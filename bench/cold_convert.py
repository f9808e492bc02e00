"""The slow baseline the warm converter is measured against: a fresh ``soffice --convert-to``
process and profile for every document, with the same PDF/A-2b options (for the benchmarks)."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

from pipeline.documents.convert import (
    DOCX_IMPORT_FILTER,
    PDF_EXPORT_OPTIONS,
    SOFFICE_FLAGS,
    _child_env,
    _kill_group,
    _read_pdf,
    _remove_pipe_sockets,
)
from pipeline.errors import ConversionError, ConverterUnavailable


def cold_convert(
    docx_bytes: bytes,
    soffice: str = "soffice",
    *,
    timeout: float = 120.0,
    work_dir: Path | None = None,
) -> bytes:
    """Convert one document with a fresh ``soffice --convert-to`` process and profile.

    The slow baseline the warm :class:`Converter` is measured against; same
    PDF/A-2b options.
    """
    if len(docx_bytes) == 0:
        raise ConversionError("the document is empty")
    export = "pdf:writer_pdf_Export:" + json.dumps(PDF_EXPORT_OPTIONS, separators=(",", ":"))
    with tempfile.TemporaryDirectory(prefix="accord-lo-cold-", dir=work_dir) as tmp:
        root = Path(tmp)
        src = root / "document.docx"
        src.write_bytes(docx_bytes)
        command = [
            soffice,
            *SOFFICE_FLAGS,
            f"-env:UserInstallation={(root / 'profile').as_uri()}",
            f"--infilter={DOCX_IMPORT_FILTER}",
            "--convert-to",
            export,
            "--outdir",
            str(root / "out"),
            str(src),
        ]
        try:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=_child_env(),
            )
        except OSError as exc:
            raise ConverterUnavailable(f"cannot run {soffice!r}: {exc.strerror}") from exc
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ConversionError(f"LibreOffice conversion timed out after {timeout:g} s") from None
        finally:
            _kill_group(proc)  # soffice exits 0 even on failure, and may leave children behind
            _remove_pipe_sockets(root / "profile")
        return _read_pdf(root / "out" / "document.pdf")
