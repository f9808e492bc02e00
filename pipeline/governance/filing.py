"""Filing a document Accord writes itself (a certificate of disposition, a program report): the
sealed PDF and its source into the archive, read-only, then its catalog row and its due date in one
transaction, as intake files a case's records."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pipeline.documents.seal import describe_sealed
from pipeline.governance.duedates import recompute_in
from pipeline.governance.retention import RetentionPolicy
from pipeline.records import archive
from pipeline.records.catalog import Catalog, RecordRow
from pipeline.workspace import Workspace


@dataclass(frozen=True)
class Generated:
    """A sealed document of Accord's own, and what the catalog says of it."""

    record_id: str
    record_class: str
    case_id: str
    """What it is filed under (``DISPOSITION-12``, ``REPORT-2026-07-01-2027-06-30``): never a case's id."""
    title: str
    pdf: bytes
    source: bytes
    source_name: str
    source_sha256: str
    body: str
    """The text the catalog indexes."""


def file_generated(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, document: Generated, *, actor: str,
                   today: dt.date, why: str) -> RecordRow:
    now = dt.datetime.now(dt.timezone.utc)
    stored = archive.write_record(ws.archive, document.record_id, now.year, document.pdf, document.source, ".json")
    sealed = describe_sealed(document.pdf)
    row = RecordRow(
        record_id=document.record_id, template=document.record_class, record_class=document.record_class,
        case_id=document.case_id, title=document.title, parties=[], record_date=today.isoformat(),
        created=now.isoformat(timespec="seconds"), pdf_path=str(stored.pdf.relative_to(ws.root)),
        source_path=str(stored.source.relative_to(ws.root)), source_name=document.source_name,
        source_sha256=document.source_sha256, size=stored.size, pages=sealed.pages, sha256=stored.sha256,
        signature_level=sealed.level, signer=sealed.signer, signature_fields=[],
    )
    catalog.add_record(row, body=document.body, actor=actor, then=lambda c: recompute_in(
        c, policy, actor=actor, why=why, case_ids=[row.case_id]))
    return row
