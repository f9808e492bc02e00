"""Countersigning: a party-signed copy of a sealed record, brought back into the record.

The office seals an agreement with empty signature fields (``sig1``, ``sig2``, ...,
``sigcoordinator``) and certifies it with DocMDP "form filling and signing". Parties sign
those fields with their own tools and hand the copy back: it is dropped into the inbox
as a PDF whose metadata names the record (Subject ``Accord record <id>``).

pyHanko's modification analysis alone does not prove that a copy is the record, signed:
a new *invisible* signature field passes as form filling, and a copy rebuilt without the
seal has no seal to protect. So, in order, each failure a plain reason:

1. the file parses as a PDF and its metadata names a record in the catalog;
2. the record's current version (the sealed original, or the newest executed copy once
   parties have signed) is a byte prefix of the copy: nothing sealed or signed before
   was changed, only appended to (checked against the SHA-256 in the catalog);
3. the office seal is intact and valid, certifies with a DocMDP level that allows form
   filling, and pyHanko finds nothing after it but form filling and signing (or LTA
   updates);
4. the copy adds no signature field the record did not offer; every new signature is in
   an offered field that was empty, is an approval (not a certification), intact and
   cryptographically valid;
5. each signer is checked against ``seal.party_trust_roots``: one that chains to none
   of them is recorded as untrusted (the copy is still taken in: the signature is sound,
   only its signer is unknown to the office).

The copy is then kept read-only beside the sealed original as ``RECORD.executed-N.pdf``
(the original stays the archived record that ``accord verify`` and ``accord get`` serve),
its signatures go to the ``signatures`` table, the record points at it and becomes
``partially-signed`` or, once every offered field is signed, ``executed``; an audit
entry ``countersign`` is written in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import sqlite_utils
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.settings import KeyUsageConstraints
from pyhanko.sign.validation.status import SignatureCoverageLevel
from sqlite_utils.migrations import Migrations

from pipeline.documents.casefile import SAFE_ID
from pipeline.documents.seal import SEAL_FIELD
from pipeline.documents.trust import TrustRoots
from pipeline.errors import ArchiveError, CatalogError, CountersignError
from pipeline.records import audit
from pipeline.records.archive import replace_in_archive
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import SIGNABLE, Catalog, RecordStatus
from pipeline.records.verify import _quiet_pyhanko
from pipeline.workspace import Workspace

#: Largest signed copy taken in (a signed agreement is a few hundred KB; scans of pages are not expected).
MAX_PDF_BYTES = 20 * 1024 * 1024
_SUBJECT = re.compile(r"\s*Accord record (\S+)\s*")
#: Party certificates may sign with either key usage (national eID and PIV cards differ).
_PARTY_KEY_USAGE = KeyUsageConstraints(key_usage={"digital_signature", "non_repudiation"})
_ALLOWED_AFTER_SEAL = ModificationLevel.FORM_FILLING
_SOUND_COVERAGE = (SignatureCoverageLevel.ENTIRE_REVISION, SignatureCoverageLevel.ENTIRE_FILE)


@dataclass(frozen=True)
class PartySignature:
    """One new party signature found valid in a signed copy."""

    field: str
    signer: str
    signer_cert_sha256: str
    signing_time: str | None
    trusted: bool
    summary: str


@dataclass(frozen=True)
class CheckedCopy:
    """A signed copy that passed every check."""

    record_id: str
    new: tuple[PartySignature, ...]
    signed_fields: tuple[str, ...]
    """Every offered field signed in the copy (earlier signatures included), in the record's order."""
    status: str
    """``executed`` when every offered field is signed, else ``partially-signed``."""
    seal_modifications: str


# --- reading ---------------------------------------------------------------------------------------

def open_pdf(data: bytes) -> PdfFileReader:
    if b"%PDF-" not in data[:1024]:
        raise CountersignError("The file is not a PDF (it does not start with a PDF header).")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        if reader.encrypted:
            raise CountersignError("The PDF is encrypted; Accord takes in signed copies without a password only.")
        reader.embedded_signatures  # noqa: B018  (parses the signature fields: a broken file fails here)
    except CountersignError:
        raise
    except Exception as exc:  # a damaged file is the file's fault
        raise CountersignError(f"The file cannot be read as a PDF ({type(exc).__name__}).") from None
    return reader


def record_named(reader: PdfFileReader) -> str:
    """The record id the PDF's metadata names (Subject ``Accord record <id>``)."""
    try:
        info = reader.trailer_view.get("/Info")
        subject = str(info.get_object().get("/Subject", "")) if info is not None else ""
    except Exception:  # unreadable metadata names nothing
        subject = ""
    found = _SUBJECT.fullmatch(subject)
    if not found:
        raise CountersignError("The PDF names no Accord record: its metadata (Subject) should read "
                               "'Accord record <record id>', as in the sealed agreement sent to the parties.")
    record_id = found.group(1)
    if not SAFE_ID.match(record_id) or ".." in record_id:
        raise CountersignError("The PDF's metadata names a record id that is not valid.")
    return record_id


def _end(signature: Any) -> int:
    """Where the bytes a signature covers end (its revision's end)."""
    byte_range = signature.byte_range
    return int(byte_range[-2]) + int(byte_range[-1])


def _is_document_timestamp(value: Any) -> bool:
    try:
        return value is not None and value.get_object().get("/Type") == "/DocTimeStamp"
    except Exception:  # an unreadable value is not a document time-stamp
        return False


def _signature_fields(reader: PdfFileReader) -> list[tuple[str, bool, bool]]:
    """(name, filled, is a document time-stamp) for every signature field."""
    try:
        return [(name, value is not None, _is_document_timestamp(value))
                for name, value, _ in fields.enumerate_sig_fields(reader, filled_status=None)]
    except Exception as exc:
        raise CountersignError(f"The PDF's signature fields cannot be read ({type(exc).__name__}).") from None


def _signer_name(cert: Any) -> str:
    subject = cert.subject
    name = subject.native.get("common_name")
    if isinstance(name, list):
        name = ", ".join(name)
    return name or subject.human_friendly


# --- the checks ------------------------------------------------------------------------------------

def check_copy(reader: PdfFileReader, data: bytes, base_size: int, record: dict[str, Any],
               trust: TrustRoots) -> CheckedCopy:
    """Every check after the prefix one: ``data[:base_size]`` is the record's current version
    (the caller made sure of that); what follows it must be party signatures, nothing else."""
    record_id = record["record_id"]
    offered = list(record["signature_fields"])
    base = open_pdf(data[:base_size])
    base_fields = _signature_fields(base)
    copy_fields = _signature_fields(reader)
    names = [name for name, _, _ in copy_fields]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise CountersignError(f"The copy of record {record_id} has more than one signature field named "
                               f"{', '.join(repeated)}; it was not made by signing the sealed agreement.")
    known = {name for name, _, _ in base_fields}
    added = [name for name, _, is_ts in copy_fields if name not in known and not is_ts]
    if added:
        raise CountersignError(
            f"The copy of record {record_id} adds a signature field the record does not offer "
            f"({', '.join(added)}); the parties may sign only the fields offered: {', '.join(offered)}."
        )
    signed_before = {name for name, filled, is_ts in base_fields if filled and not is_ts and name != SEAL_FIELD}

    with _quiet_pyhanko():
        embedded = reader.embedded_regular_signatures
        seal = next((s for s in embedded if s.field_name == SEAL_FIELD), None)
        if seal is None or _end(seal) > base_size:
            raise CountersignError(f"The copy of record {record_id} carries no office seal.")
        seal_level = _check_seal(seal, record_id, trust)
        new = [s for s in embedded if _end(s) > base_size]
        if not new:
            raise CountersignError(f"The copy of record {record_id} carries no new signature: "
                                   "nothing was signed since the version Accord already holds.")
        found = []
        for signature in new:
            found.append(_check_party(signature, record_id, offered, signed_before, [p.field for p in found],
                                      trust))
    signed = signed_before | {p.field for p in found}
    status = RecordStatus.EXECUTED if all(name in signed for name in offered) else RecordStatus.PARTIALLY_SIGNED
    return CheckedCopy(record_id, tuple(found), tuple(n for n in offered if n in signed), status, seal_level)


def _check_seal(seal: Any, record_id: str, trust: TrustRoots) -> str:
    docmdp = seal.docmdp_level
    if docmdp is None or docmdp == fields.MDPPerm.NO_CHANGES:
        raise CountersignError(f"The office seal of record {record_id} does not allow form filling and signing.")
    try:
        status = validate_pdf_signature(seal, signer_validation_context=trust.context())
    except (SignatureValidationError, ValueError) as exc:
        raise CountersignError(f"The office seal of the copy of record {record_id} cannot be validated: {exc}") from None
    if not status.intact:
        raise CountersignError(f"The office seal of the copy of record {record_id} is broken: the sealed bytes were changed.")
    if not status.valid:
        raise CountersignError(f"The office seal of the copy of record {record_id} is not cryptographically valid.")
    level = status.modification_level
    if level is None or level > _ALLOWED_AFTER_SEAL or not status.docmdp_ok:
        what = level.name if level is not None else "unknown"
        raise CountersignError(
            f"The copy of record {record_id} was changed after the office seal in a way the seal does not allow "
            f"(pyHanko's modification analysis: {what}): only signing the offered fields is allowed, "
            "not editing text, pages or anything else."
        )
    return level.name


def _check_party(signature: Any, record_id: str, offered: list[str], signed_before: set[str],
                 signed_now: list[str], trust: TrustRoots) -> PartySignature:
    name = signature.field_name
    if name == SEAL_FIELD or name not in offered:
        raise CountersignError(f"The copy of record {record_id} has a signature in field {name}, which the record "
                               f"does not offer; the parties may sign only: {', '.join(offered)}.")
    if name in signed_before or name in signed_now:
        raise CountersignError(f"Field {name} of record {record_id} is signed twice; each offered field is signed once.")
    if signature.docmdp_level is not None:
        raise CountersignError(f"The signature in field {name} of record {record_id} is a certification; "
                               "a party's signature may only approve the sealed agreement.")
    try:
        status = validate_pdf_signature(
            signature, signer_validation_context=trust.party_context(),
            key_usage_settings=_PARTY_KEY_USAGE,
        )
    except (SignatureValidationError, ValueError) as exc:
        raise CountersignError(f"The signature in field {name} of record {record_id} cannot be validated: {exc}") from None
    if not status.intact:
        raise CountersignError(f"The signature in field {name} of record {record_id} is broken: "
                               "the bytes it signed were changed.")
    if not status.valid:
        raise CountersignError(f"The signature in field {name} of record {record_id} is not cryptographically valid.")
    if status.coverage not in _SOUND_COVERAGE:
        raise CountersignError(f"The signature in field {name} of record {record_id} does not cover its whole revision.")
    level = status.modification_level
    if level is not None and (level > _ALLOWED_AFTER_SEAL or not status.docmdp_ok):
        raise CountersignError(f"The copy of record {record_id} was changed after the signature in field {name} "
                               f"in a way it does not allow ({level.name}).")
    cert = status.signing_cert
    when = status.timestamp_validity.timestamp if status.timestamp_validity else status.signer_reported_dt
    return PartySignature(
        field=name,
        signer=_signer_name(cert),
        signer_cert_sha256=cert.sha256.hex(),
        signing_time=when.isoformat() if when else None,
        trusted=bool(status.trusted),
        summary=status.summary(),
    )


# --- against the catalog ---------------------------------------------------------------------------

@dataclass(frozen=True)
class _Version:
    name: str
    size: int
    sha256: str


def _extends(data: bytes, version: _Version) -> bool:
    return len(data) > version.size and hashlib.sha256(data[:version.size]).hexdigest() == version.sha256


def find_base(data: bytes, record: dict[str, Any], catalog: Catalog) -> tuple[_Version, list[dict[str, Any]]]:
    """The record's version the copy extends: the newest executed copy, else the sealed original
    (or a state of it before ``accord preserve`` appended to it). A copy of an older version, or
    one whose sealed bytes differ, is refused."""
    record_id = record["record_id"]
    original = _Version(Path(record["pdf_path"]).name, int(record["size"]), record["sha256"])
    executed = executed_versions(catalog, record_id)
    versions = [_Version(Path(v["executed_path"]).name, int(v["executed_size"]), v["executed_sha256"])
                for v in executed]
    if versions:
        current, earlier = [versions[-1]], [original, *versions[:-1]]
    else:
        before_preservation = [_Version(original.name, size, sha) for size, sha in audit.preserved_versions(catalog.conn, record_id)]
        current, earlier = [original, *before_preservation], []
    for version in current:
        if _extends(data, version):
            return version, executed
    for version in reversed(earlier):
        if _extends(data, version):
            raise CountersignError(
                f"The file is a signed copy of an earlier version of record {record_id} ({version.name}); "
                f"signatures were added since, so sign the latest version ({current[0].name}) instead."
            )
    raise CountersignError(f"The file is not a signed copy of record {record_id}: its sealed bytes were changed "
                           "or rebuilt (the agreement Accord sealed must stay byte for byte at the start of the "
                           "signed copy; sign it with a tool that appends signatures, such as Adobe Reader).")


# --- taking a copy in ------------------------------------------------------------------------------

@dataclass(frozen=True)
class TakenIn:
    """What became of a signed copy: brought into its record, or a copy already brought in."""

    record_id: str
    case_id: str
    note: str
    duplicate_of: str | None = None
    """When the same copy was received before (it is then not stored again)."""
    status: str = ""
    """The record's status now (``executed`` once every field is signed)."""
    signed_on: dt.date | None = None
    """The day of the copy's latest signature (its signing time, else the day it arrived)."""


def take_in(ws: Workspace, catalog: Catalog, trust: TrustRoots, data: bytes, name: str) -> TakenIn:
    """Check a signed copy's bytes and bring them into their record (the copy kept read-only beside
    the sealed original, its signatures, the record's new status and an audit entry, in one
    transaction). A copy that cannot be brought in raises :class:`CountersignError` saying why."""
    sha256 = hashlib.sha256(data).hexdigest()
    reader = open_pdf(data)
    record_id = record_named(reader)
    record = catalog.find(record_id)
    if record is None:
        gone = catalog.tombstone(record_id)
        why = f" (it was disposed of on {gone['disposed_at'][:10]})" if gone else ""
        raise CountersignError(f"The PDF names record {record_id}, which matches no record in the catalog{why}.")
    seen = executed_version(catalog, sha256)
    if seen is not None and seen["record_id"] == record_id:
        return TakenIn(record_id, record["case_id"], "", duplicate_of=seen["received_at"])
    if sha256 == record["sha256"]:
        raise CountersignError(f"The file is the sealed agreement of record {record_id} itself: "
                               "it carries no party signature.")
    if record["status"] == RecordStatus.SUPERSEDED:
        newer = catalog.superseded_by(record_id)
        raise CountersignError(f"Record {record_id} was superseded{' by ' + newer if newer else ''}; "
                               "the parties should sign the newer version.")
    if record["status"] not in SIGNABLE:
        raise CountersignError(f"Record {record_id} has the status '{record['status']}' and takes no signatures.")
    if not record["signature_fields"]:
        raise CountersignError(f"Record {record_id} offers no signature fields for parties to sign.")

    base, executed = find_base(data, record, catalog)
    checked = check_copy(reader, data, base.size, record, trust)

    version = (executed[-1]["version"] + 1) if executed else 1
    folder = (ws.root / record["pdf_path"]).parent
    target = folder / f"{record_id}.executed-{version}.pdf"
    rel = str(target.relative_to(ws.root))
    received_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    rows = [SignatureRow(record_id, p.field, p.signer, p.signer_cert_sha256, p.signing_time, p.trusted, version,
                         rel, sha256, len(data), name, received_at) for p in checked.new]
    details = {
        "fields": [p.field for p in checked.new], "signers": [p.signer for p in checked.new],
        "trusted": [p.trusted for p in checked.new], "sha256": sha256, "version": version, "path": rel,
        "status": checked.status, "source_name": name,
    }
    write_executed(target, data, lambda replace: add_signatures(
        catalog, record_id, executed[-1]["executed_sha256"] if executed else None, rows, checked.status, details,
        replace=replace))

    untrusted = [p for p in checked.new if not p.trusted]
    signed = "; ".join(f"{p.field} signed by {p.signer}{'' if p.trusted else ' (signer NOT trusted)'}"
                       for p in checked.new)
    note = (f"{name}: signed copy of record {record_id} ({signed}). The record is now {checked.status}; "
            f"the copy is kept as {rel}.")
    if untrusted:
        note += (" The signer of " + ", ".join(p.field for p in untrusted) + " does not chain to a root in "
                 "seal.party_trust_roots: the signature is sound but its signer is not vouched for.")
    times = [p.signing_time for p in checked.new if p.signing_time]
    signed_on = dt.date.fromisoformat(max(times)[:10]) if times else dt.date.fromisoformat(received_at[:10])
    return TakenIn(record_id, record["case_id"], note, status=checked.status, signed_on=signed_on)


# --- the signatures table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SignatureRow:
    """One party signature in an executed copy of a record."""

    record_id: str
    field: str
    signer: str
    signer_cert_sha256: str
    signing_time: str | None
    trusted: bool
    version: int
    executed_path: str
    executed_sha256: str
    executed_size: int
    source_name: str
    received_at: str


MIGRATIONS = Migrations("signatures")


@MIGRATIONS(name="0001_signatures")
def _signatures(db: sqlite_utils.Database) -> None:
    """One row per party signature brought into a record (the record points at its newest executed
    copy). Rows go with their record (``ON DELETE CASCADE``): a disposed record keeps no signer names."""
    db.execute(
        """
        CREATE TABLE signatures (
            id INTEGER PRIMARY KEY,
            record_id TEXT NOT NULL REFERENCES records(record_id) ON DELETE CASCADE,
            field TEXT NOT NULL,
            signer TEXT NOT NULL,
            signer_cert_sha256 TEXT NOT NULL,
            signing_time TEXT,
            trusted INTEGER NOT NULL,
            version INTEGER NOT NULL,
            executed_path TEXT NOT NULL,
            executed_sha256 TEXT NOT NULL,
            executed_size INTEGER NOT NULL,
            source_name TEXT NOT NULL,
            received_at TEXT NOT NULL,
            UNIQUE (record_id, field)
        )
        """
    )
    db.execute("CREATE INDEX signatures_executed ON signatures(executed_sha256)")


def signatures_for(catalog: Catalog, record_id: str) -> list[dict[str, Any]]:
    """The party signatures of a record, oldest first."""
    return [dict(r) for r in catalog.conn.execute(
        "SELECT * FROM signatures WHERE record_id = ? ORDER BY version, id", [record_id])]


def executed_version(catalog: Catalog, sha256: str) -> dict[str, Any] | None:
    """The executed copy with this SHA-256 (record, version, path, when it was received), if any."""
    row = catalog.conn.execute(
        "SELECT record_id, version, executed_path, executed_sha256, received_at FROM signatures "
        "WHERE executed_sha256 = ? ORDER BY id LIMIT 1", [sha256]).fetchone()
    return dict(row) if row else None


def executed_versions(catalog: Catalog, record_id: str) -> list[dict[str, Any]]:
    """Every executed copy of a record, oldest first: version, path, SHA-256, size, received_at."""
    return [dict(r) for r in catalog.conn.execute(
        "SELECT version, executed_path, executed_sha256, executed_size, min(received_at) AS received_at "
        "FROM signatures WHERE record_id = ? GROUP BY version, executed_path, executed_sha256, executed_size "
        "ORDER BY version", [record_id])]


def executed_copies(catalog: Catalog) -> dict[str, list[tuple[str, str]]]:
    """(path, SHA-256) of every executed copy, by record id (what fixity checks besides the original)."""
    copies: dict[str, list[tuple[str, str]]] = {}
    for record_id, rel, expected in catalog.conn.execute(
            "SELECT DISTINCT record_id, executed_path, executed_sha256 FROM signatures ORDER BY record_id, version"):
        copies.setdefault(record_id, []).append((rel, expected))
    return copies


def add_signatures(catalog: Catalog, record_id: str, based_on: str | None, rows: list[SignatureRow], status: str,
                   details: dict[str, Any], actor: str = "accord", replace: Callable[[], None] | None = None) -> None:
    """Record a new executed copy in one transaction: its signature rows, the record's status and newest
    executed copy, and a ``countersign`` audit entry. ``based_on`` is the executed SHA-256 the copy was
    checked against (``None``: the sealed original); if the record moved on meanwhile nothing is
    written. ``replace`` (the file's rename) runs inside, last."""
    newest = rows[-1]
    with catalog.transaction() as conn:
        current = catalog.signing_state(record_id)
        if current is None:
            raise CatalogError(f"Record {record_id} left the catalog while a signed copy was checked.")
        if current["executed_sha256"] != based_on:
            raise CatalogError(f"Record {record_id} received another signed copy meanwhile; nothing was written.")
        try:
            conn.executemany(
                "INSERT INTO signatures (record_id, field, signer, signer_cert_sha256, signing_time, trusted, "
                "version, executed_path, executed_sha256, executed_size, source_name, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[r.record_id, r.field, r.signer, r.signer_cert_sha256, r.signing_time, int(r.trusted), r.version,
                  r.executed_path, r.executed_sha256, r.executed_size, r.source_name, r.received_at] for r in rows])
        except sqlite3.IntegrityError as exc:
            raise CatalogError(f"The signatures of record {record_id} could not be added: {exc}.") from None
        # A record under retention review (or superseded meanwhile) keeps that status.
        new_status = status if current["status"] in SIGNABLE else current["status"]
        catalog.set_executed(record_id, new_status, newest.executed_path, newest.executed_sha256)
        audit.append(conn, AuditEntry(actor, "countersign", "ok", record_id, current["case_id"], details=details))
        if replace is not None:
            replace()


def write_executed(target: Path, data: bytes, commit) -> None:
    """Write an executed copy read-only beside the sealed original, atomically, the rename run by
    ``commit`` inside the catalog transaction (last). A file already at ``target`` that the catalog
    does not know (left by a crash between rename and commit) is replaced."""
    try:
        replace_in_archive(target, data, commit)
    except OSError as exc:
        raise ArchiveError(f"The signed copy could not be written to the archive: {exc.strerror or exc}.") from None