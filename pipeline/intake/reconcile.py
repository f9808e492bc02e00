"""Reconciling the archive with the catalog after a crash or a lost catalog row.

Every record folder must have its catalog row and every row its folder. A folder
whose source file is still staged is left alone (processing it again replaces the
folder). Any other folder without a row is re-indexed from what the archive holds
(the source case file and the sealed PDF: a record can always be rebuilt from it).
A row whose archived PDF is missing is reported; ``accord verify`` flags it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader

from pipeline.cases import admission, casebook
from pipeline.cases.rubric import Rubric
from pipeline.documents.assemble import Assembler, RecordInfo
from pipeline.documents.casefile import parse_case
from pipeline.documents.seal import describe_sealed
from pipeline.documents.templates import TemplateSpec
from pipeline.errors import AccordError, Waiting
from pipeline.governance.retention import RetentionPolicy
from pipeline.intake import inbox
from pipeline.intake.ingest import add_to_catalog, held_party_names, record_row, role_context_of
from pipeline.records import archive
from pipeline.records.catalog import Catalog
from pipeline.workspace import Workspace


@dataclass
class ReconcileReport:
    reindexed: list[str] = field(default_factory=list)
    left_for_staging: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)
    missing_files: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        return (
            [f"record {r} re-indexed from the archive (its catalog row was missing)" for r in self.reindexed]
            + [f"record folder {r} left for its staged input to be processed again" for r in self.left_for_staging]
            + [f"record folder {r} could not be re-indexed: {why}" for r, why in self.unreadable]
            + [f"record {r}: its archived PDF is missing" for r in self.missing_files]
        )


def reconcile(ws: Workspace, catalog: Catalog, templates: dict[str, TemplateSpec], office_name: str,
              retention: RetentionPolicy, rubric: Rubric) -> ReconcileReport:
    report = ReconcileReport()
    staged_shas = {archive.sha256_file(p) for p in inbox.staged(ws) if p.is_file() and not p.is_symlink()}
    for folder in archive.record_folders(ws.archive):
        record_id = folder.name
        if catalog.find(record_id):
            continue
        sources = list(folder.glob(f"{record_id}.source.*"))
        if sources and archive.sha256_file(sources[0]) in staged_shas:
            report.left_for_staging.append(record_id)
            continue
        try:
            _reindex(ws, catalog, templates, folder, office_name, retention, rubric)
            report.reindexed.append(record_id)
        except (AccordError, Waiting, OSError, ValueError) as exc:
            report.unreadable.append((record_id, str(exc)))
    for record in catalog.all_records():
        if not (ws.root / record["pdf_path"]).is_file():
            report.missing_files.append(record["record_id"])
    return report


def _reindex(ws: Workspace, catalog: Catalog, templates: dict[str, TemplateSpec], folder: Path,
             office_name: str, retention: RetentionPolicy, rubric: Rubric) -> None:
    """A record folder back into the catalog: its row, its data's events and its due dates in one
    transaction, as at intake."""
    record_id = folder.name
    pdf_path = folder / f"{record_id}.pdf"
    (source_path,) = folder.glob(f"{record_id}.source.*")
    raw = source_path.read_bytes()
    case = parse_case(raw, source_path.name, templates, max(len(raw), 1))
    if not _id_of(record_id, case.subject_id, case.sha256):
        raise AccordError("the source file does not belong to this record id")
    pdf = pdf_path.read_bytes()
    sealed = describe_sealed(pdf)
    seal = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_regular_signatures[0]
    created_at = seal.self_reported_timestamp or dt.datetime.fromtimestamp(pdf_path.stat().st_mtime, dt.timezone.utc)
    stored = archive.ArchivedRecord(folder, pdf_path, source_path, hashlib.sha256(pdf).hexdigest(), len(pdf))
    today = dt.date.today()
    context = role_context_of(catalog, case, rubric, today)
    text = Assembler().assemble(case, RecordInfo(record_id, case.title, created_at.date(), office_name), context).text
    previous = catalog.latest_for(case.template.name, case.subject_id, case.variant)
    row = record_row(ws, case, record_id, created_at, stored, sealed,
                     supersedes=previous["record_id"] if previous else None,
                     also_naming=held_party_names(context, case))
    add_to_catalog(catalog, retention, case, row, text, today=today,
                   verdict=context if case.template.case_role == "intake" else None)


def register_cases(ws: Workspace, catalog: Catalog, templates: dict[str, TemplateSpec]) -> list[str]:
    """Give a register entry to every case whose records were recorded before cases were kept (an
    agreement of an older release), from each record's archived source, oldest first; returns the
    cases registered. Nothing is checked: the records are on file already."""
    registered: list[str] = []
    if not casebook.backfill_pending(catalog):
        return registered
    for record in catalog.records_of_templates(sorted(n for n, t in templates.items() if t.case_role)):
        source = ws.root / record["source_path"]
        try:
            raw = source.read_bytes()
            case = parse_case(raw, source.name, templates, max(len(raw), 1))
        except (AccordError, OSError):
            continue  # fixity and verify report an unreadable record
        with catalog.transaction():
            admission.take_document(catalog, case, record["record_id"], dt.date.today(), check=False)
        if record["case_id"] not in registered:
            registered.append(record["case_id"])
    with catalog.transaction():
        casebook.backfill_done(catalog)
    return registered


def _id_of(record_id: str, subject_id: str, source_sha256: str) -> bool:
    """Whether ``record_id`` is an id Accord gives a source file with this hash: the case id and
    a prefix of 8 hex digits or more of the hash."""
    prefix = f"{subject_id}-"
    digits = record_id[len(prefix):]
    return record_id.startswith(prefix) and len(digits) >= 8 and source_sha256.startswith(digits)
