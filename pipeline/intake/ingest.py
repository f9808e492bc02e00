"""Ingest: one claimed case file, from bytes to a sealed, archived, catalogued record.

The steps run in order (intake, assemble, convert, seal, archive, catalog) and the
input leaves staging only after the record is committed. A problem with the file
sends it to the failed folder with the reason; a problem with the system (a full
disk, an unwritable archive, no converter) leaves it staged and is raised as
:class:`SystemFault`, so nothing that is not at fault is failed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Protocol

from pyhanko.sign.timestamps import TimestampRequestError

from pipeline.config import Config
from pipeline.documents.assemble import Assembler, RecordInfo
from pipeline.documents.casefile import CaseFile, is_signed_copy, parse_case, read_limited
from pipeline.documents.pki import office_signer
from pipeline.documents.seal import SealedPdf, Sealer, make_timestamper
from pipeline.documents.templates import TemplateSpec, load_templates, values_at
from pipeline.documents.trust import TrustRoots
from pipeline.errors import (
    AccordError,
    ArchiveError,
    AssemblyError,
    CatalogError,
    ConversionError,
    ConverterUnavailable,
    IntakeError,
    PkiError,
    SealError,
    SystemFault,
)
from pipeline.governance.duedates import recompute_in
from pipeline.governance.retention import RetentionPolicy, load_retention
from pipeline.intake import inbox
from pipeline.intake.eventfile import CaseEvent, is_event_file, parse_events
from pipeline.records import archive
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog, FailureRow, RecordRow, utc_now
from pipeline.workspace import Workspace


class PdfConverter(Protocol):
    def convert(self, docx: bytes) -> bytes: ...


@dataclass(frozen=True)
class Outcome:
    """What became of one input file."""

    source_name: str
    status: str  # "recorded" | "duplicate" | "events" | "signed" (countersign) | "failed" | "waiting"
    moved_to: Path
    record_id: str | None = None
    step: str | None = None
    reason: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    case_ids: tuple[str, ...] = ()
    """The cases the file recorded something for (or, while it waits, the cases it waits for)."""

    @property
    def ok(self) -> bool:
        return self.status != "failed"


_SYSTEM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


@dataclass(frozen=True)
class Prepared:
    """A case file read, validated and rendered: ready for LibreOffice."""

    staged: Path
    case: CaseFile
    record_id: str
    created_at: dt.datetime
    docx: bytes
    text: str
    timings: dict[str, float]


@dataclass(frozen=True)
class Converted:
    """A rendered case file with its archival PDF: ready to seal."""

    prepared: Prepared
    pdf: bytes


@dataclass
class _Failure:
    outcome: Outcome | None = None


class Ingestor:
    """Holds what is loaded once per worker: templates, the seal key, the catalog, a converter.

    Ingesting is three stages (:meth:`prepare`, :meth:`convert`, :meth:`finish`) so that
    a worker can overlap one document's conversion with the Python work of the others;
    :meth:`ingest` runs them in a row. Each stage returns an :class:`Outcome` when the
    file is done early (failed, or already recorded).
    """

    def __init__(self, ws: Workspace, config: Config, converter: PdfConverter, *,
                 templates: dict[str, TemplateSpec] | None = None, sealer: Sealer | None = None,
                 catalog: Catalog | None = None):
        self.ws = ws
        self.config = config
        self.converter = converter
        self.templates = templates or load_templates(ws.templates)
        self.sealer = sealer or make_sealer(ws, config)
        self.trust = TrustRoots.of(ws, config)  # after the sealer: it makes the local PKI on first use
        self.catalog = catalog or Catalog(ws.catalog)
        self.assembler = Assembler()
        self.retention = load_retention(ws.policies, {t.record_class for t in self.templates.values()})

    def ingest(self, staged: Path) -> Outcome:
        """Process one staged file to its outcome; raise :class:`SystemFault` to stop intake."""
        prepared = self.prepare(staged)
        if isinstance(prepared, Outcome):
            return prepared
        converted = self.convert(prepared)
        if isinstance(converted, Outcome):
            return converted
        return self.finish(converted)

    def prepare(self, staged: Path, catalog: Catalog | None = None) -> Prepared | Outcome:
        """Read, check and render; ``catalog`` lets another thread use its own connection."""
        with self._guard(staged, "intake", catalog=catalog) as failure:
            clock = time.perf_counter()
            reason = inbox.refusal(staged)
            if reason:
                raise IntakeError(reason)
            if is_signed_copy(staged.name):  # countersign: a party-signed copy of a sealed record
                from pipeline.records.countersign import take_in

                return take_in(self, staged, catalog or self.catalog)
            raw = read_limited(staged, self.config.intake.max_bytes)
            if is_event_file(staged.name, raw):
                return self._record_events(staged, raw, catalog or self.catalog)
            existing = (catalog or self.catalog).by_source_sha(hashlib.sha256(raw).hexdigest())
            if existing:
                return self._duplicate(staged, existing, catalog)
            case = parse_case(raw, staged.name, self.templates, self.config.intake.max_bytes)
            timings = {"intake": time.perf_counter() - clock}

            clock = time.perf_counter()
            created_at = dt.datetime.now(dt.timezone.utc)
            record_id = (catalog or self.catalog).assign_record_id(case.subject_id, case.sha256,
                                                                   created_at.isoformat(timespec="seconds"))
            info = RecordInfo(record_id, case.title, created_at.date(), self.config.office.name)
            assembled = self.assembler.assemble(case, info)
            timings["assemble"] = time.perf_counter() - clock
            return Prepared(staged, case, record_id, created_at, assembled.docx, assembled.text, timings)
        return failure.outcome

    def convert(self, prepared: Prepared) -> Converted | Outcome:
        with self._guard(prepared.staged, "convert", prepared.case.raw) as failure:
            clock = time.perf_counter()
            pdf = self.converter.convert(prepared.docx)
            prepared.timings["convert"] = time.perf_counter() - clock
            return Converted(prepared, pdf)
        return failure.outcome

    def finish(self, converted: Converted) -> Outcome:
        """Seal, archive, catalog, then move the input out of staging."""
        prepared = converted.prepared
        case, timings = prepared.case, prepared.timings
        with self._guard(prepared.staged, "seal", case.raw) as failure:
            existing = self.catalog.by_source_sha(case.sha256)
            if existing:  # the same bytes twice in one batch: the first one won
                return self._duplicate(prepared.staged, existing)
            record_id = prepared.record_id
            self._drop_orphan(record_id)

            clock = time.perf_counter()
            sealed = self.sealer.seal(converted.pdf, record_id)
            timings["seal"] = time.perf_counter() - clock

            clock = time.perf_counter()
            stored = archive.write_record(
                self.ws.archive, record_id, prepared.created_at.year, sealed.pdf, case.raw, case.suffix
            )
            timings["archive"] = time.perf_counter() - clock

            clock = time.perf_counter()
            previous = self.catalog.latest_for(case.template.name, case.subject_id)
            row = record_row(self.ws, case, record_id, prepared.created_at, stored, sealed,
                             supersedes=previous["record_id"] if previous else None)
            add_to_catalog(self.catalog, self.retention, case, row, prepared.text)
            timings["catalog"] = time.perf_counter() - clock

            moved = inbox.finish_processed(self.ws, prepared.staged, case.source_name, prepared.created_at.date())
            return Outcome(inbox.printable_name(case.source_name), "recorded", moved, record_id=record_id,
                           timings=timings, case_ids=(case.subject_id,))
        return failure.outcome

    @contextlib.contextmanager
    def _guard(self, staged: Path, step: str, raw: bytes = b"", catalog: Catalog | None = None) -> Iterator["_Failure"]:
        """Turn the file's own faults into a failure outcome; raise system faults as :class:`SystemFault`."""
        failure = _Failure()
        try:
            yield failure
        except (IntakeError, AssemblyError, SealError) as exc:
            failure.outcome = self._fail(staged, raw, exc.step, str(exc), catalog)
        except ConverterUnavailable as exc:
            raise SystemFault(f"LibreOffice is not available: {exc}") from exc
        except ConversionError as exc:
            failure.outcome = self._fail(staged, raw, exc.step, str(exc), catalog)
        except (ArchiveError, CatalogError, PkiError) as exc:
            raise SystemFault(str(exc)) from exc
        except TimestampRequestError as exc:
            raise SystemFault(f"The time-stamp service could not be reached ({type(exc).__name__}); "
                              "the file stays staged.") from exc
        except OSError as exc:
            if exc.errno in _SYSTEM_ERRNOS or step != "intake":
                raise SystemFault(f"The workspace cannot be written: {exc.strerror}.") from exc
            failure.outcome = self._fail(staged, raw, step, f"The file could not be read: {exc.strerror}.", catalog)

    def _record_events(self, staged: Path, raw: bytes, catalog: Catalog) -> Outcome:
        """An event file: every event and the due dates they move, in one transaction. Raises
        :class:`~pipeline.errors.Waiting` while a case it names has no record yet."""
        events = parse_events(raw, staged.name, catalog.has_case)
        cases = sorted({e.case_id for e in events})
        name = inbox.printable_name(staged.name)
        new = catalog.add_events(events, name, hashlib.sha256(raw).hexdigest(), after=lambda conn: recompute_in(
            conn, self.retention, actor="accord", why=f"events from {name}", case_ids=cases))
        note = f"{len(events)} event(s) recorded, {new} of them new."
        moved = inbox.finish_processed(self.ws, staged, staged.name, dt.date.today(), note=note)
        return Outcome(name, "events", moved, reason=note, case_ids=tuple(cases))

    def system_fault(self, staged: Path, fault: str) -> Outcome | None:
        """A system fault met while processing ``staged``. The first time, it is noted beside the
        file (which stays staged, tried after the others) and ``None`` says intake stops. If the
        file meets a fault again after other files got through since, the fault is the file's
        own: it is failed with the reason and intake goes on."""
        try:
            with Catalog(self.ws.catalog) as catalog:  # this thread's own connection
                mark = catalog.intake_mark()
                before = inbox.fault_record(staged)
                if before is not None and mark > before.mark:
                    return fail_staged(self.ws, catalog, staged, "system", (
                        f"Accord stopped on this file {before.count + 1} times while other files went through, "
                        f"so the file is set aside: {fault}"))
                inbox.note_fault(staged, fault, mark)
        except (AccordError, OSError):
            pass  # the catalog or the staging folder cannot be written either: a fault of the system
        return None

    def give_up(self, staged: Path, reason: str, catalog: Catalog | None = None) -> Outcome:
        """Fail a file that waited for something that did not arrive."""
        return fail_staged(self.ws, catalog or self.catalog, staged, "intake", reason)

    def _drop_orphan(self, record_id: str) -> None:
        """An archive folder without a catalog row is what a crash left: it is not a record yet."""
        if self.catalog.find(record_id):
            raise CatalogError(f"Record {record_id} is already in the catalog.")
        for folder in self.ws.archive.glob(f"[0-9][0-9][0-9][0-9]/{record_id}"):
            archive.remove_tree(folder)

    def _duplicate(self, staged: Path, existing: dict, catalog: Catalog | None = None) -> Outcome:
        name = inbox.printable_name(staged.name)
        note = (
            f"{name} was not recorded again: the same file was recorded as {existing['record_id']} "
            f"on {existing['created'][:10]}."
        )
        moved = inbox.finish_processed(self.ws, staged, staged.name, dt.date.today(), note=note)
        (catalog or self.catalog).audit(AuditEntry("accord", "duplicate", "ok", existing["record_id"],
                                                   existing.get("case_id"), details={"file": name}))
        return Outcome(name, "duplicate", moved, record_id=existing["record_id"], reason=note)

    def _fail(self, staged: Path, raw: bytes, step: str, message: str, catalog: Catalog | None = None) -> Outcome:
        return fail_staged(self.ws, catalog or self.catalog, staged, step, message,
                           hashlib.sha256(raw).hexdigest() if raw else None)

    def close(self) -> None:
        self.catalog.close()


def fail_staged(ws: Workspace, catalog: Catalog, staged: Path, step: str, message: str,
                sha256: str | None = None) -> Outcome:
    """Send a staged file to ``failed/`` with its reason, and record the failure."""
    name = inbox.printable_name(staged.name)
    reason = inbox.FailureReason(step=step, reason=message, source_name=name,
                                 sha256=sha256 or _file_sha(staged), failed_at=utc_now())
    try:
        moved = inbox.finish_failed(ws, staged, reason)
        catalog.add_failure(FailureRow(name, reason.sha256, step, message, reason.failed_at,
                                       inbox.printable_name(str(moved.relative_to(ws.root)))))
    except OSError as exc:
        raise SystemFault(f"The failed folder cannot be written: {exc.strerror}.") from exc
    return Outcome(name, "failed", moved, step=step, reason=message)


def add_to_catalog(catalog: Catalog, retention: RetentionPolicy, case: CaseFile, row: RecordRow, text: str,
                   actor: str = "accord") -> None:
    """A record, the events its own data states (an MOU's expiry is its ``agreement-expired``) and
    the due dates of its case, in one transaction."""
    events = [CaseEvent(case.subject_id, name, date, "from the record's data")
              for name, path in case.template.events.items()
              for date in values_at(case.data, path) if isinstance(date, dt.date)]
    catalog.add_record(row, body=index_text(case, text), actor=actor, events=events, after=lambda conn: recompute_in(
        conn, retention, actor=actor, why=f"record {row.record_id} was added", case_ids=[case.subject_id]))


def _file_sha(path: Path) -> str:
    try:
        if path.is_symlink() or not path.is_file():
            return ""
        return archive.sha256_file(path)
    except OSError:
        return ""


def record_row(ws: Workspace, case: CaseFile, record_id: str, created_at: dt.datetime,
               stored: archive.ArchivedRecord, sealed: SealedPdf, supersedes: str | None = None) -> RecordRow:
    """The catalog row of a record: the case's data, the archived files and the seal."""
    return RecordRow(
        record_id=record_id,
        template=case.template.name,
        record_class=case.template.record_class,
        case_id=case.subject_id,
        title=case.title,
        parties=list(case.party_names),
        record_date=case.record_date.isoformat() if case.record_date else None,
        created=created_at.isoformat(timespec="seconds"),
        pdf_path=str(stored.pdf.relative_to(ws.root)),
        source_path=str(stored.source.relative_to(ws.root)),
        source_name=inbox.printable_name(case.source_name),
        source_sha256=case.sha256,
        size=stored.size,
        pages=sealed.pages,
        sha256=stored.sha256,
        signature_level=sealed.level,
        signer=sealed.signer,
        signature_fields=list(sealed.signature_fields),
        supersedes=supersedes,
    )


def index_text(case: CaseFile, document_text: str) -> str:
    """What the full-text index holds: the document's own text and the record's metadata."""
    return "\n".join([case.title, case.subject_id, case.template.name, *case.party_names, document_text])


def make_sealer(ws: Workspace, config: Config) -> Sealer:
    signer = office_signer(ws.pki, config)
    password = None
    if config.seal.timestamp_password_env:
        password = os.environ.get(config.seal.timestamp_password_env)
    timestamper = make_timestamper(config.seal.timestamp_url, config.seal.timestamp_username, password)
    long_term = bool(config.seal.revocation and timestamper)
    # B-LT/B-LTA: the seal is validated online against the workspace's roots
    trust = TrustRoots.of(ws, config) if long_term else None
    return Sealer(signer, office_name=config.office.name, digest=config.seal.digest, timestamper=timestamper,
                  long_term=long_term, trust=trust)
