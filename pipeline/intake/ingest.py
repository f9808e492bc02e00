"""Ingest: one staged file to its outcome, by the first handler that takes it.

The handlers are an ordered list, each asked "can you take this file?" (as paperless-ngx's
consumer plugins are): a party-signed copy (a PDF), an event file (CSV, or YAML/JSON with an
``events:`` list), and last a case file, which also takes everything else so that a file of
an unknown kind fails with a reason. Signed copies and event files are done in one step; a case
file goes through three stages (:meth:`Ingestor.prepare`, :meth:`~Ingestor.convert`,
:meth:`~Ingestor.finish`) so a worker can overlap one document's conversion with the Python work
of the others.

Steps do not decide what becomes of a file that goes wrong: they raise
:class:`~pipeline.errors.FileFault` (the file's own fault), :class:`~pipeline.errors.SystemFault`
(not its fault) or :class:`~pipeline.errors.Waiting`, or return an :class:`Outcome`. The worker's
stage loop is the one place that turns these into outcomes. The input leaves staging only after
its record is committed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

from pipeline.cases import admission, agenda
from pipeline.cases import context as case_context
from pipeline.cases import rubric as case_rubric
from pipeline.cases.rubric import Rubric, load_rubric
from pipeline.config import Config
from pipeline.documents.assemble import Assembler, RecordInfo
from pipeline.documents.casefile import CaseFile, is_signed_copy, parse_case, read_limited
from pipeline.documents.seal import SealedPdf, Sealer, make_sealer
from pipeline.documents.templates import ROLE_CONTEXT, TemplateSpec, load_templates, values_at
from pipeline.documents.trust import TrustRoots
from pipeline.errors import CatalogError, FileFault, IntakeError, SystemFault, Waiting
from pipeline.governance.duedates import recompute_in
from pipeline.governance.retention import RetentionPolicy, load_retention
from pipeline.intake import inbox
from pipeline.intake.eventfile import is_event_file, parse_event_rows
from pipeline.intake.outcomes import Outcome, Status, duplicate, fail_staged
from pipeline.records import archive, audit, countersign, events
from pipeline.records.catalog import Catalog, RecordRow, RecordStatus
from pipeline.records.events import CaseEvent
from pipeline.store import open_catalog
from pipeline.workspace import Workspace


class PdfConverter(Protocol):
    def convert(self, docx: bytes) -> bytes: ...


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
    role_context: dict[str, Any] | None = None
    """What the template's case role saw besides the file (the rubric's verdict on an intake)."""


@dataclass(frozen=True)
class Converted:
    """A rendered case file with its archival PDF: ready to seal."""

    prepared: Prepared
    pdf: bytes


class Handler(Protocol):
    """One kind of inbox file."""

    def takes(self, staged: Path) -> bool:
        """Whether this handler is for the file (by its name and its first bytes)."""

    def prepare(self, staged: Path, catalog: Catalog) -> Prepared | Outcome:
        """The first (for most kinds the only) step."""


class Ingestor:
    """What is loaded once per worker (templates, the seal key, the trust roots, the catalog, a
    converter) and the handlers that use it."""

    def __init__(self, ws: Workspace, config: Config, converter: PdfConverter, *,
                 templates: dict[str, TemplateSpec] | None = None, sealer: Sealer | None = None,
                 catalog: Catalog | None = None, today: Callable[[], dt.date] = dt.date.today):
        """``today``: the office's clock (events dated after it are refused)."""
        self.ws = ws
        self.today = today
        self.config = config
        self.converter = converter
        self.templates = templates or load_templates(ws.templates)
        self.sealer = sealer or make_sealer(ws, config)
        self.trust = TrustRoots.of(ws, config)  # after the sealer: it makes the local PKI on first use
        self.catalog = catalog or open_catalog(ws.catalog)
        self.retention = load_retention(ws.policies, {t.record_class for t in self.templates.values()})
        self.rubric = load_rubric(ws.policies)
        self.case_files = CaseFileHandler(self)
        self.handlers: tuple[Handler, ...] = (SignedCopyHandler(self), EventFileHandler(self), self.case_files)

    def prepare(self, staged: Path, catalog: Catalog | None = None) -> Prepared | Outcome:
        """The first step of the handler that takes the file; ``catalog``: the calling thread's own."""
        reason = inbox.refusal(staged)
        if reason:
            raise IntakeError(reason)
        handler = next(h for h in self.handlers if h.takes(staged))
        return handler.prepare(staged, catalog or self.catalog)

    def convert(self, prepared: Prepared) -> Converted:
        return self.case_files.convert(prepared)

    def finish(self, converted: Converted) -> Outcome:
        return self.case_files.finish(converted)

    def system_fault(self, staged: Path, fault: str) -> Outcome | None:
        """A system fault met while processing ``staged``. The first time, it is noted beside the
        file (which stays staged, tried after the others) and ``None`` says intake stops. If the
        file meets a fault again after other files got through since, the fault is the file's
        own: it is failed with the reason and intake goes on."""
        try:
            with open_catalog(self.ws.catalog) as catalog:  # this thread's own connection
                mark = audit.intake_mark(catalog.conn)
                before = inbox.fault_record(staged)
                if before is not None and mark > before.mark:
                    return fail_staged(self.ws, catalog, staged, "system", (
                        f"Accord stopped on this file {before.count + 1} times while other files went through, "
                        f"so the file is set aside: {fault}"))
                inbox.note_fault(staged, fault, mark)
        except (SystemFault, OSError):
            pass  # the catalog or the staging folder cannot be written either: a fault of the system
        return None

    def give_up(self, staged: Path, reason: str, catalog: Catalog | None = None) -> Outcome:
        """Fail a file that waited for something that did not arrive."""
        return fail_staged(self.ws, catalog or self.catalog, staged, "intake", reason)

    def close(self) -> None:
        self.catalog.close()

    def __enter__(self) -> "Ingestor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SignedCopyHandler:
    """A party-signed copy of a sealed record (a PDF), brought into its record (``records/countersign``)."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    def takes(self, staged: Path) -> bool:
        return is_signed_copy(staged.name)

    def prepare(self, staged: Path, catalog: Catalog) -> Outcome:
        clock = time.perf_counter()
        ws = self.ingestor.ws
        data = read_limited(staged, countersign.MAX_PDF_BYTES)
        taken = countersign.take_in(ws, catalog, self.ingestor.trust, data, inbox.printable_name(staged.name))
        if taken.duplicate_of is not None:
            return duplicate(ws, catalog, staged, {"record_id": taken.record_id, "case_id": taken.case_id,
                                                   "created": taken.duplicate_of})
        note = taken.note
        signed = self._case_event(catalog, taken)
        if signed:
            note += f" {signed}"
        moved = inbox.finish_processed(ws, staged, staged.name, dt.date.today(), note=note)
        return Outcome(inbox.printable_name(staged.name), Status.SIGNED, moved, record_id=taken.record_id,
                       reason=note, timings={"countersign": time.perf_counter() - clock},
                       case_ids=(taken.case_id,))

    def _case_event(self, catalog: Catalog, taken: countersign.TakenIn) -> str:
        """A consent form or an agreement signed by every party records the consent or the signing."""
        if taken.status != RecordStatus.EXECUTED:
            return ""
        record = catalog.find(taken.record_id)
        spec = self.ingestor.templates.get(record["template"]) if record else None
        if spec is None or spec.case_role not in admission.SIGNED_EVENTS:
            return ""
        ing = self.ingestor
        try:
            with catalog.transaction():
                said = admission.take_signing(catalog, taken.record_id, taken.case_id, spec.case_role,
                                              taken.signed_on, ing.today())
                recompute_in(catalog, ing.retention, actor="accord", why=f"record {taken.record_id} was signed",
                             case_ids=[taken.case_id])
        except (FileFault, Waiting) as exc:
            return f"The case was not updated: {exc}"
        return said


class EventFileHandler:
    """Case events (CSV, or YAML/JSON with an ``events:`` list): every event and the due dates they move,
    in one transaction. Raises :class:`~pipeline.errors.Waiting` while a case it names has no record."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor

    def takes(self, staged: Path) -> bool:
        return is_event_file(staged.name, inbox.head(staged))

    def prepare(self, staged: Path, catalog: Catalog) -> Outcome:
        ing = self.ingestor
        raw = read_limited(staged, ing.config.intake.max_bytes)
        rows = parse_event_rows(raw, staged.name, catalog.has_case)
        found, labels = [e for _, e in rows], [label for label, _ in rows]
        cases = sorted({e.case_id for e in found})
        name = inbox.printable_name(staged.name)
        with catalog.transaction():
            new = admission.take_events(catalog, found, labels, ing.today(), name, hashlib.sha256(raw).hexdigest(),
                                        "accord")
            recompute_in(catalog, ing.retention, actor="accord", why=f"events from {name}", case_ids=cases)
        note = f"{len(found)} event(s) recorded, {new} of them new."
        moved = inbox.finish_processed(self.ingestor.ws, staged, staged.name, dt.date.today(), note=note)
        return Outcome(name, Status.EVENTS, moved, reason=note, case_ids=tuple(cases))


class CaseFileHandler:
    """A case file (YAML or JSON) to a sealed, archived, catalogued record: read, checked and rendered;
    converted to PDF/A; sealed, archived and catalogued. Takes every file the others do not (and
    refuses a name it cannot read with a reason)."""

    def __init__(self, ingestor: Ingestor):
        self.ingestor = ingestor
        self.assembler = Assembler()

    def takes(self, staged: Path) -> bool:
        return True

    def prepare(self, staged: Path, catalog: Catalog) -> Prepared | Outcome:
        ing = self.ingestor
        clock = time.perf_counter()
        raw = read_limited(staged, ing.config.intake.max_bytes)
        existing = catalog.by_source_sha(hashlib.sha256(raw).hexdigest())
        if existing:
            return duplicate(ing.ws, catalog, staged, existing)
        case = parse_case(raw, staged.name, ing.templates, ing.config.intake.max_bytes)
        role_context = role_context_of(catalog, case, ing.rubric, ing.today())
        timings = {"intake": time.perf_counter() - clock}

        clock = time.perf_counter()
        created_at = dt.datetime.now(dt.timezone.utc)
        record_id = catalog.assign_record_id(case.subject_id, case.sha256, created_at.isoformat(timespec="seconds"))
        assembled = self.assembler.assemble(case, RecordInfo(record_id, case.title, created_at.date(),
                                                             ing.config.office.name), role_context)
        timings["assemble"] = time.perf_counter() - clock
        return Prepared(staged, case, record_id, created_at, assembled.docx, assembled.text, timings, role_context)

    def convert(self, prepared: Prepared) -> Converted:
        clock = time.perf_counter()
        pdf = self.ingestor.converter.convert(prepared.docx)
        prepared.timings["convert"] = time.perf_counter() - clock
        return Converted(prepared, pdf)

    def finish(self, converted: Converted) -> Outcome:
        """Seal, archive, catalog, then move the input out of staging."""
        ing = self.ingestor
        prepared = converted.prepared
        case, timings, record_id = prepared.case, prepared.timings, prepared.record_id
        existing = ing.catalog.by_source_sha(case.sha256)
        if existing:  # the same bytes twice in one batch: the first one won
            return duplicate(ing.ws, ing.catalog, prepared.staged, existing)
        self._drop_orphan(record_id)

        clock = time.perf_counter()
        sealed = ing.sealer.seal(converted.pdf, record_id)
        timings["seal"] = time.perf_counter() - clock

        clock = time.perf_counter()
        stored = archive.write_record(ing.ws.archive, record_id, prepared.created_at.year, sealed.pdf, case.raw,
                                      case.suffix)
        timings["archive"] = time.perf_counter() - clock

        clock = time.perf_counter()
        previous = ing.catalog.latest_for(case.template.name, case.subject_id, case.variant)
        row = record_row(ing.ws, case, record_id, prepared.created_at, stored, sealed,
                         supersedes=previous["record_id"] if previous else None,
                         also_naming=held_party_names(prepared.role_context, case))
        try:
            add_to_catalog(ing.catalog, ing.retention, case, row, prepared.text, today=ing.today(),
                           verdict=prepared.role_context if case.template.case_role == "intake" else None)
        except (FileFault, Waiting):
            archive.remove_tree(stored.folder)  # the case could not take it after all: not a record
            raise
        timings["catalog"] = time.perf_counter() - clock

        moved = inbox.finish_processed(ing.ws, prepared.staged, case.source_name, prepared.created_at.date())
        return Outcome(inbox.printable_name(case.source_name), Status.RECORDED, moved, record_id=record_id,
                       timings=timings, case_ids=(case.subject_id,))

    def _drop_orphan(self, record_id: str) -> None:
        """An archive folder without a catalog row is what a crash left: it is not a record yet."""
        if self.ingestor.catalog.find(record_id):
            raise CatalogError(f"Record {record_id} is already in the catalog.")
        for folder in self.ingestor.ws.archive.glob(f"[0-9][0-9][0-9][0-9]/{record_id}"):
            archive.remove_tree(folder)


def role_context_of(catalog: Catalog, case: CaseFile, rubric: Rubric, today: dt.date) -> dict[str, Any] | None:
    """What a case document's template sees besides the file (``documents.templates.ROLE_CONTEXT``),
    once its case has been asked whether it can take the document (which may refuse or wait)."""
    role = case.template.case_role
    if role is None:
        return None
    found = None
    if role == "intake":
        verdict = admission.judge_intake(case, rubric)
        found = case_rubric.context(rubric, case_rubric.facts_from_intake(case.data), verdict)
    admission.check_document(catalog, case, today)
    if role in ROLE_CONTEXT and ROLE_CONTEXT[role][0] == "held":
        found = case_context.held(catalog, case, rubric)
    return found


def add_to_catalog(catalog: Catalog, retention: RetentionPolicy, case: CaseFile, row: RecordRow, text: str,
                   actor: str = "accord", *, today: dt.date | None = None,
                   verdict: dict[str, Any] | None = None) -> None:
    """A record, what it does for its case (``cases/admission``, which may still refuse it), the events
    its own data states (an MOU's expiry is its ``agreement-expired``) and the due dates of its case,
    in one transaction."""
    stated = [CaseEvent(case.subject_id, name, date, "from the record's data")
              for name, path in case.template.events.items()
              for date in values_at(case.data, path) if isinstance(date, dt.date)]

    def then(c: Catalog) -> None:
        admission.take_document(c, case, row.record_id, today or dt.date.today(), verdict)
        if case.template.agenda and not case.template.case_role:
            agenda.replace_for_case(c, case.subject_id, agenda.document_items(case))
        if stated:
            events.insert(c, stated, row.source_name, row.source_sha256, actor)
        recompute_in(c, retention, actor=actor, why=f"record {row.record_id} was added", case_ids=[case.subject_id])

    catalog.add_record(row, body=index_text(case, text), actor=actor, then=then)


def held_party_names(role_context: dict[str, Any] | None, case: CaseFile) -> tuple[str, ...]:
    """The names of the case's parties a document filled from the case prints (a completion letter
    names every party): the record is found by each of them."""
    if not role_context or ROLE_CONTEXT.get(case.template.case_role or "", ("",))[0] != "held":
        return ()
    return tuple(str(p["name"]) for p in role_context.get("parties") or [] if p.get("name"))


def record_row(ws: Workspace, case: CaseFile, record_id: str, created_at: dt.datetime,
               stored: archive.ArchivedRecord, sealed: SealedPdf, supersedes: str | None = None,
               also_naming: tuple[str, ...] = ()) -> RecordRow:
    """The catalog row of a record: the case's data, the archived files and the seal; ``also_naming``:
    parties the document names besides those of its own data."""
    return RecordRow(
        record_id=record_id,
        template=case.template.name,
        record_class=case.template.record_class,
        case_id=case.subject_id,
        title=case.title,
        parties=list(dict.fromkeys([*case.party_names, *also_naming])),
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
        variant=case.variant,
    )


def index_text(case: CaseFile, document_text: str) -> str:
    """What the full-text index holds: the document's own text and the record's metadata."""
    return "\n".join([case.title, case.subject_id, case.template.name, *case.party_names, document_text])


