"""Anchors: the audit log's head (sequence number and hash), sealed by the office and archived.

An anchor is a one-page PDF/A document stating the head entry's number, its hash
and the time, certified with the office seal (and time-stamped when a time-stamp
service is configured), written read-only under ``archive/anchors/YYYY/``. Because
it lives outside the log, cutting off the newest entries is caught: the log must
still hold entry N with the anchored hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pypdf import PdfReader

from pipeline.documents.generated import add_seal_place, details_table, docx_bytes, new_document
from pipeline.documents.trust import TrustRoots
from pipeline.errors import AccordError, ArchiveError
from pipeline.records import archive, audit
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog
from pipeline.records.verify import check_signatures
from pipeline.workspace import Workspace

ANCHOR_DIR = "anchors"
_KEYWORDS = re.compile(r"audit-head-seq=(\d+), audit-head-sha256=([0-9a-f]{64})")


@dataclass(frozen=True)
class AnchorFile:
    path: Path
    head_seq: int
    head_hash: str
    sha256: str


def anchor_docx(head_seq: int, head_hash: str, entries: int, at: dt.datetime, office: str) -> bytes:
    """The anchor document: what is anchored, in words and in its metadata (the hash on one line of its own)."""
    doc = new_document()
    doc.add_heading("Audit log anchor", level=1)
    doc.add_paragraph(
        f"{office} certifies that, at the time below, its Accord audit log held {entries} entries "
        "and that its newest entry had the number and SHA-256 hash shown. Any later change to an entry "
        "up to this one, or the removal of entries up to this one, can be detected against this document."
    )
    details_table(doc, [
        ("Newest entry", str(head_seq)),
        ("Its SHA-256 hash", head_hash),
        ("Entries in the log", str(entries)),
        ("Anchored at (UTC)", at.isoformat(timespec="seconds")),
    ])
    add_seal_place(doc)
    props = doc.core_properties
    props.title = f"Accord audit log anchor {head_seq}"
    props.subject = "Accord audit log anchor"
    props.keywords = f"audit-head-seq={head_seq}, audit-head-sha256={head_hash}"
    props.author = office
    return docx_bytes(doc)


def write_anchor(archive_root: Path, pdf: bytes, head_seq: int, head_hash: str, at: dt.datetime) -> AnchorFile:
    """Write a sealed anchor read-only into the archive (atomically)."""
    folder = archive_root / ANCHOR_DIR / f"{at.year:04d}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"anchor-{head_seq:010d}-{head_hash[:12]}.pdf"
    if path.exists():
        raise ArchiveError(f"An anchor for entry {head_seq} already exists.")
    tmp = folder / f".{path.name}.tmp"
    tmp.unlink(missing_ok=True)
    try:
        archive.write_file(tmp, pdf)
        tmp.rename(path)
        archive.fsync_dir(folder)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ArchiveError(f"The anchor could not be written: {exc.strerror or exc}.") from None
    return AnchorFile(path, head_seq, head_hash, hashlib.sha256(pdf).hexdigest())


def anchored_head(pdf: bytes) -> tuple[int, str] | None:
    """(sequence number, hash) stated in the signed revision of an anchor PDF, or ``None``."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        (seal,) = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_regular_signatures
        start, length = seal.byte_range[2], seal.byte_range[3]
        signed = pdf[: start + length]
        keywords = str((PdfReader(io.BytesIO(signed)).metadata or {}).get("/Keywords", ""))
    except Exception:  # a damaged anchor is reported by the caller
        return None
    found = _KEYWORDS.search(keywords.replace("\n", " "))
    return (int(found.group(1)), found.group(2)) if found else None


def anchor_files(archive_root: Path) -> list[Path]:
    return sorted((archive_root / ANCHOR_DIR).glob("[0-9][0-9][0-9][0-9]/anchor-*.pdf"))


def check_anchor(path: Path, trust_roots: TrustRoots, hash_at: Callable[[int], str | None]) -> list[str]:
    """Problems with one anchor: its seal, what it states, and the log's entry at that number.

    ``hash_at(seq)`` gives the log's hash of entry ``seq`` (``None`` if there is no such entry).
    """
    pdf = path.read_bytes()
    reports, problems = check_signatures(pdf, trust_roots)
    found = anchored_head(pdf)
    if found is None:
        return problems + [f"anchor {path.name} does not state an audit head"]
    seq, head_hash = found
    actual = hash_at(seq)
    if actual is None:
        problems.append(f"the log no longer holds entry {seq}, anchored in {path.name}: entries were cut off")
    elif actual != head_hash:
        problems.append(f"entry {seq} differs from the one anchored in {path.name}")
    return problems


def anchor_head(ws: Workspace, catalog: Catalog, converter: Any, sealer: Any, office: str,
                actor: str) -> AnchorFile:
    """Anchor the current head of the audit log (``accord audit anchor`` and every sweep): the head's
    number and hash in a document converted and sealed like a record, written under
    ``archive/anchors/``, and listed with an audit entry."""
    conn = catalog.conn
    chain = audit.verify_chain(conn)
    if not chain.ok:
        raise AccordError(f"The audit log is broken ({chain.problem}); it was not anchored.")
    if not chain.protected:
        raise AccordError(f"The audit log is not protected ({'; '.join(chain.trigger_problems)}); it was not anchored.")
    at = dt.datetime.now(dt.timezone.utc)
    docx = anchor_docx(chain.head_seq, chain.head_hash, chain.entries, at, office)
    pdf = sealer.seal(converter.convert(docx), f"audit-anchor-{chain.head_seq}").pdf
    written = write_anchor(ws.archive, pdf, chain.head_seq, chain.head_hash, at)
    with catalog.transaction():
        audit.add_anchor(conn, chain.head_seq, chain.head_hash, at.isoformat(timespec="seconds"),
                         str(written.path.relative_to(ws.root)), written.sha256)
        audit.append(conn, AuditEntry(actor, "anchor", "ok", details={
            "head_seq": chain.head_seq, "head_hash": chain.head_hash, "sha256": written.sha256,
            "file": written.path.name,
        }))
    return written
