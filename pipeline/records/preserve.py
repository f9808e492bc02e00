"""Preservation: keep long-term seals verifiable until the end of retention.

A PAdES B-LTA seal stays verifiable only while its newest document time-stamp can be
validated; before that time-stamp's certificate (or a certificate the seal rests on)
expires, or once its digest is no longer trusted, fresh validation data and a new
document time-stamp are appended to the PDF (ETSI EN 319 142, pyHanko's
``PdfTimeStamper.update_archival_timestamp_chain``).

The PDF only grows by appending: the sealed bytes stay a prefix of the new file, so
the seal and every earlier time-stamp are untouched. The archived file is replaced
atomically; its catalog row (SHA-256, size, level) and a ``preservation`` audit entry
are written in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import os
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.general import extract_certificate_info
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter

from pipeline.config import Config
from pipeline.documents.seal import SEAL_FIELD, make_timestamper, signature_level
from pipeline.documents.trust import TrustRoots
from pipeline.errors import CatalogError, PreservationError
from pipeline.records import audit
from pipeline.records.archive import replace_in_archive
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog
from pipeline.workspace import Workspace

NO_TIMESTAMP_SERVICE = "cannot be preserved without a time-stamp service"


@dataclass(frozen=True)
class PreserveItem:
    """What became of one record that was due (or could not be looked at)."""

    record_id: str
    outcome: str
    """``preserved``, ``cannot`` (it needs something Accord lacks) or ``failed`` (an error)."""
    reasons: list[str]
    message: str
    level_before: str | None = None
    level_after: str | None = None
    old_sha256: str | None = None
    new_sha256: str | None = None
    old_size: int | None = None
    new_size: int | None = None
    timestamp: str | None = None
    """Time of the new document time-stamp."""
    renew_before: str | None = None
    """When the record next needs renewing (the earliest expiry of what now protects it)."""
    seconds: float | None = None


@dataclass(frozen=True)
class PreserveReport:
    as_of: str
    window_days: int
    checked: int
    not_due: int
    items: list[PreserveItem] = field(default_factory=list)
    examined: int = 0
    """Records whose PDF was read this run; the others were known to be protected past the window."""

    @property
    def preserved(self) -> list[PreserveItem]:
        return [i for i in self.items if i.outcome == "preserved"]

    @property
    def cannot(self) -> list[PreserveItem]:
        return [i for i in self.items if i.outcome == "cannot"]

    @property
    def failed(self) -> list[PreserveItem]:
        return [i for i in self.items if i.outcome == "failed"]

    @property
    def ok(self) -> bool:
        """Nothing due was left unprotected."""
        return not self.cannot and not self.failed

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(ok=self.ok, preserved=len(self.preserved), cannot=len(self.cannot), failed=len(self.failed))
        return data


@dataclass(frozen=True)
class Protection:
    """What currently protects a record's seal, and why it is due (no reasons: not due)."""

    level: str
    reasons: list[str]
    renew_before: dt.datetime | None
    only_timestamp_expiry: bool


# --- what is due -----------------------------------------------------------------------------------

def assess(reader: PdfFileReader, seal: Any, *, as_of: dt.datetime, window_days: int,
           weak_digests: Iterable[str], trust: TrustRoots) -> Protection:
    """Why (if at all) a record needs renewing by ``as_of``.

    What protects a seal is its newest document time-stamp when it has one (it proves that
    the seal and the validation data beneath it existed while they were valid); without one,
    the seal's own certificate chain and its signature time-stamp. Due: a certificate of that
    protection expires within ``window_days`` of ``as_of``, or its digest is weak.
    """
    level = signature_level(reader, seal)
    weak = {d.lower() for d in weak_digests}
    pool = _certificate_pool(reader, seal, trust)
    doc_timestamps = [ts for ts in reader.embedded_timestamp_signatures if ts.signed_revision > seal.signed_revision]
    layers: list[tuple[str, asn1_x509.Certificate, set[str]]] = []
    if doc_timestamps:
        newest = doc_timestamps[-1]
        layers.append(("the newest document time-stamp", newest.signer_cert,
                       {newest.md_algorithm, newest.external_md_algorithm}))
    else:
        layers.append(("the seal", seal.signer_cert, {seal.md_algorithm}))
        for token in extract_tst_data_iter(seal.signer_info, signed=False):
            info = extract_certificate_info(token)
            imprint = token["encap_content_info"]["content"].parsed["message_imprint"]["hash_algorithm"]
            layers.append(("the seal's time-stamp", info.signer_cert,
                           {token["signer_infos"][0]["digest_algorithm"]["algorithm"].native,
                            imprint["algorithm"].native}))
    reasons: list[str] = []
    horizon = as_of + dt.timedelta(days=window_days)
    earliest: dt.datetime | None = None
    expiry_reasons = 0
    for what, leaf, digests in layers:
        for algorithm in sorted(d.lower() for d in digests if d and d.lower() in weak):
            reasons.append(f"{what} uses the weak digest {algorithm}")
        for position, cert in enumerate(_chain(leaf, pool)):
            expires = cert.not_valid_after
            earliest = expires if earliest is None else min(earliest, expires)
            if expires <= horizon:
                role = "certificate" if position == 0 else "issuing certificate"
                reasons.append(f"the {role} of {what} ({_name(cert)}) expires on {expires.date().isoformat()}")
                expiry_reasons += 1
    only_ts = bool(doc_timestamps) and expiry_reasons == len(reasons) and expiry_reasons > 0
    return Protection(level, reasons, earliest, only_ts)


def _certificate_pool(reader: PdfFileReader, seal: Any, trust: TrustRoots) -> list[asn1_x509.Certificate]:
    pool = list(trust.office) + list(seal.other_embedded_certs)
    for ts in reader.embedded_timestamp_signatures:
        pool.extend(ts.other_embedded_certs)
    for token in extract_tst_data_iter(seal.signer_info, signed=False):
        pool.extend(extract_certificate_info(token).other_certs)
    dss = reader.root.get("/DSS")
    if dss is not None:
        for ref in dss.get_object().get("/Certs", []):
            try:
                pool.append(asn1_x509.Certificate.load(ref.get_object().data))
            except (ValueError, TypeError):
                continue
    return pool


def _chain(leaf: asn1_x509.Certificate, pool: list[asn1_x509.Certificate]) -> list[asn1_x509.Certificate]:
    """The leaf and its issuers as far as ``pool`` knows them (by name and key identifier)."""
    chain = [leaf]
    current = leaf
    for _ in range(8):
        if current.self_signed != "no":
            break
        issuer = next((c for c in pool if c.subject == current.issuer and
                       (current.authority_key_identifier is None or c.key_identifier is None
                        or current.authority_key_identifier == c.key_identifier)
                       and c.sha256 != current.sha256), None)
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return chain


def _name(cert: asn1_x509.Certificate) -> str:
    return cert.subject.native.get("common_name") or cert.subject.human_friendly


# --- renewing --------------------------------------------------------------------------------------

def renew(pdf: bytes, timestamper: Any, trust: TrustRoots, *, digest: str = "sha256",
          weak_digests: Iterable[str] = ()) -> bytes:
    """Append fresh validation data and a new document time-stamp; return the new PDF.

    Revocation data is fetched online; a service that cannot be reached fails the renewal
    (``hard-fail``) rather than leaving a time-stamp without the data it should protect.
    """
    from pyhanko.sign.validation import add_validation_info

    weak = {d.lower() for d in weak_digests}
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    seal = _office_seal(reader)
    data = pdf
    if signature_level(reader, seal) == "B-T":
        # No validation data yet for the seal itself: fetch and embed it first (its certificate
        # is still valid, or the time-stamp below could not be made useful).
        out = add_validation_info(seal, trust.online_context(revocation_mode="hard-fail"),
                                  in_place=False, output=io.BytesIO())
        data = out.getvalue()
        reader = PdfFileReader(io.BytesIO(data), strict=False)
    stamper = signers.PdfTimeStamper(timestamper)
    context = trust.online_context(revocation_mode="hard-fail")
    doc_timestamps = reader.embedded_timestamp_signatures
    newest = doc_timestamps[-1] if doc_timestamps else None
    if newest is not None and {newest.md_algorithm.lower(), newest.external_md_algorithm.lower()} & weak:
        # pyHanko would reuse the newest time-stamp's (weak) digest: do its two steps with ours.
        out = _renew_with_digest(reader, data, stamper, context, digest)
    else:
        out = stamper.update_archival_timestamp_chain(reader, context, in_place=False, output=io.BytesIO(),
                                                      default_md_algorithm=digest)
    new = out.getvalue()
    if not new.startswith(pdf):
        raise PreservationError("The renewed PDF does not begin with the archived bytes; nothing was written.")
    return new


def _renew_with_digest(reader: PdfFileReader, data: bytes, stamper: signers.PdfTimeStamper, context: Any,
                       digest: str) -> io.BytesIO:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign.validation import DocumentSecurityStore, validate_pdf_timestamp

    last = reader.embedded_timestamp_signatures[-1]
    status = validate_pdf_timestamp(last, validation_context=context)
    buffer = io.BytesIO(data)
    writer = IncrementalPdfFileWriter(buffer, strict=False)
    DocumentSecurityStore.supply_dss_in_writer(writer, last.pkcs7_content, paths=(status.validation_path,),
                                               validation_context=context)
    return stamper.timestamp_pdf(writer, digest, context, in_place=True)


def _office_seal(reader: PdfFileReader) -> Any:
    signatures = reader.embedded_regular_signatures
    seal = next((s for s in signatures if s.field_name == SEAL_FIELD), signatures[0] if signatures else None)
    if seal is None:
        raise PreservationError("The archived PDF carries no seal.")
    return seal


# --- the archive and the catalog ---------------------------------------------------------------------

def write_preserved(path: Path, new: bytes, commit) -> None:
    """Replace the read-only archived PDF atomically, the rename run by ``commit`` inside the
    catalog transaction."""
    replace_in_archive(path, new, commit)


def record_preservation(catalog: Catalog, record: dict[str, Any], *, new_sha256: str, new_size: int, level: str,
                        reasons: list[str], actor: str, replace=None, details: dict[str, Any] | None = None) -> None:
    """Update the record's SHA-256, size and level and append its ``preservation`` audit entry,
    in one transaction; ``replace`` (the file's rename) runs inside it, last, so a failed
    rename leaves the catalog as it was. Refuses if the row changed meanwhile."""
    with catalog.transaction() as conn:
        if catalog.replace_pdf(record["record_id"], record["sha256"], new_sha256, new_size, level) != 1:
            raise CatalogError(f"Record {record['record_id']} changed while it was being preserved; nothing was written.")
        audit.append(conn, AuditEntry(
            actor, "preservation", "ok", record["record_id"], record.get("case_id"),
            details={"old_sha256": record["sha256"], "new_sha256": new_sha256, "reason": "; ".join(reasons),
                     "signature_level": level, "old_size": record.get("size"), "new_size": new_size,
                     **(details or {})},
        ))
        if replace is not None:
            replace()


def _finish_interrupted(catalog: Catalog, record: dict[str, Any], data: bytes, actor: str) -> bool:
    """A preservation that renamed the file but did not commit leaves a file that begins with
    the catalogued bytes; complete its catalog row rather than calling the file changed."""
    size = record.get("size") or 0
    if len(data) <= size or hashlib.sha256(data[:size]).hexdigest() != record["sha256"]:
        return False
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        level = signature_level(reader, _office_seal(reader))
    except Exception:  # not a readable, sealed PDF: it is a changed file, not an interrupted renewal
        return False
    record_preservation(catalog, record, new_sha256=hashlib.sha256(data).hexdigest(), new_size=len(data),
                        level=level, reasons=["completing a preservation interrupted before the catalog was updated"],
                        actor=actor)
    return True


# --- the command -------------------------------------------------------------------------------------

def preserve(ws: Workspace, catalog: Catalog, config: Config, *, as_of: dt.date | dt.datetime | None = None,
             actor: str = "accord") -> PreserveReport:
    """Renew every record whose protection expires within ``seal.preserve_window_days`` of
    ``as_of`` (default: now) or rests on a weak digest."""

    moment = _moment(as_of)
    settings = config.seal
    trust = TrustRoots.of(ws, config)
    timestamper = _timestamper(config)
    service_expires: dt.datetime | None | bool = False  # False: not asked yet
    items: list[PreserveItem] = []
    key = _settings_key(settings.weak_digests, trust)
    horizon = _stamp(moment + dt.timedelta(days=settings.preserve_window_days))
    checked = not_due = examined = 0
    for record_id in _to_examine(ws, catalog, key, horizon):
        if record_id is None:  # known to be protected past the window: not read
            checked += 1
            not_due += 1
            continue
        record = catalog.find(record_id)
        if record is None:
            continue
        checked += 1
        examined += 1
        path = ws.root / record["pdf_path"]
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            items.append(PreserveItem(record_id, "failed", [], "The archived PDF is missing; nothing to preserve."))
            continue
        if hashlib.sha256(data).hexdigest() != record["sha256"]:
            if _finish_interrupted(catalog, record, data, actor):
                record = catalog.get(record_id)
            else:
                items.append(PreserveItem(record_id, "failed", [], "The archived PDF's SHA-256 differs from the "
                                          "catalog's: it was not preserved (run accord verify).",
                                          old_sha256=record["sha256"]))
                continue
        try:
            reader = PdfFileReader(io.BytesIO(data), strict=False)
            seal = _office_seal(reader)
            protection = assess(reader, seal, as_of=moment, window_days=settings.preserve_window_days,
                                weak_digests=settings.weak_digests, trust=trust)
        except Exception as exc:  # one unreadable record must not stop the others
            items.append(PreserveItem(record_id, "failed", [], f"The archived PDF could not be examined: {exc}"))
            continue
        if not protection.reasons:
            not_due += 1
            if protection.renew_before is not None:
                with catalog.transaction():
                    catalog.set_protection(record_id, record["sha256"], _stamp(protection.renew_before), key,
                                           _stat_key(path))
            continue
        base = dict(record_id=record_id, reasons=protection.reasons, level_before=protection.level,
                    old_sha256=record["sha256"], old_size=len(data))
        if protection.level == "B-B":
            items.append(PreserveItem(outcome="cannot", message=f"{NO_TIMESTAMP_SERVICE}: the seal is PAdES B-B, "
                                      "with no trusted time of sealing to build on.", **base))
            continue
        if timestamper is None:
            items.append(PreserveItem(outcome="cannot", message=f"{NO_TIMESTAMP_SERVICE} "
                                      "(set seal.timestamp_url in accord.yaml).", **base))
            continue
        if protection.only_timestamp_expiry:
            if service_expires is False:
                service_expires = _service_certificate_expiry(timestamper, settings.digest)
            horizon = moment + dt.timedelta(days=settings.preserve_window_days)
            if isinstance(service_expires, dt.datetime) and service_expires <= horizon:
                items.append(PreserveItem(outcome="cannot", message=(
                    "The time-stamp service's own certificate expires on "
                    f"{service_expires.date().isoformat()}, within the window too: a new time-stamp from it would "
                    "not last. Renew with a service whose certificate runs longer."), **base))
                continue
        items.append(_preserve_one(catalog, record, path, data, protection, timestamper, trust, config, actor,
                                   moment))
    return PreserveReport(moment.isoformat(timespec="seconds"), settings.preserve_window_days, checked, not_due, items,
                          examined=examined)


def _to_examine(ws: Workspace, catalog: Catalog, key: str, horizon: str, batch: int = 10_000):
    """Every record id in turn, or ``None`` for a record judged (on these very bytes, unchanged on
    disk, and these settings) to be protected past the window. Read in batches: a million records
    are looked up without holding them all."""
    last = 0
    while True:
        rows = catalog.protection_chunk(last, key, horizon, batch)
        if not rows:
            return
        for rowid, record_id, pdf_path, stat_key, protected in rows:
            last = rowid
            yield None if protected and stat_key == _stat_key(ws.root / pdf_path) else record_id


def _stat_key(path: Path) -> str | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def _stamp(moment: dt.datetime) -> str:
    """A time as the catalog compares it: ISO 8601 in UTC, to the second."""
    return moment.astimezone(dt.timezone.utc).isoformat(timespec="seconds")


def _settings_key(weak_digests: Iterable[str], trust: TrustRoots) -> str:
    """What an assessment depends on besides the file: the weak digests and the trust roots."""
    parts = sorted(d.lower() for d in weak_digests) + ["|"] + sorted(c.sha256.hex() for c in trust.office)
    return hashlib.sha256(",".join(parts).encode()).hexdigest()[:32]


def _preserve_one(catalog: Catalog, record: dict[str, Any], path: Path, data: bytes, protection: Protection,
                  timestamper: Any, trust: TrustRoots, config: Config, actor: str, moment: dt.datetime) -> PreserveItem:
    base = dict(record_id=record["record_id"], reasons=protection.reasons, level_before=protection.level,
                old_sha256=record["sha256"], old_size=len(data))
    clock = time.perf_counter()
    try:
        new = renew(data, timestamper, trust, digest=config.seal.digest, weak_digests=config.seal.weak_digests)
        reader = PdfFileReader(io.BytesIO(new), strict=False)
        seal = _office_seal(reader)
        level = signature_level(reader, seal)
        newest = reader.embedded_timestamp_signatures[-1]
        after = assess(reader, seal, as_of=moment, window_days=0, weak_digests=config.seal.weak_digests,
                       trust=trust)
        stamped = _timestamp_time(newest)
        new_sha = hashlib.sha256(new).hexdigest()

        def commit(replace) -> None:
            record_preservation(catalog, record, new_sha256=new_sha, new_size=len(new), level=level,
                                reasons=protection.reasons, actor=actor, replace=replace,
                                details={"timestamp": stamped.isoformat() if stamped else None,
                                         "tsa": _name(newest.signer_cert)})

        write_preserved(path, new, commit)
    except Exception as exc:  # network, TSA, catalog: reported per record, the others carry on
        return PreserveItem(outcome="failed", message=f"Not preserved: {type(exc).__name__}: {exc}",
                            seconds=round(time.perf_counter() - clock, 3), **base)
    return PreserveItem(
        outcome="preserved", message=f"A document time-stamp from {_name(newest.signer_cert)} was added.",
        level_after=level, new_sha256=new_sha, new_size=len(new),
        timestamp=stamped.isoformat() if stamped else None,
        renew_before=after.renew_before.date().isoformat() if after.renew_before else None,
        seconds=round(time.perf_counter() - clock, 3), **base,
    )


def _timestamp_time(timestamp: Any) -> dt.datetime | None:
    try:
        return timestamp.signed_data["encap_content_info"]["content"].parsed["gen_time"].native
    except (KeyError, ValueError, TypeError):
        return None


def _moment(as_of: dt.date | dt.datetime | None) -> dt.datetime:
    if as_of is None:
        return dt.datetime.now(dt.timezone.utc)
    if isinstance(as_of, dt.datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.timezone.utc)
    return dt.datetime.combine(as_of, dt.time(0, 0), tzinfo=dt.timezone.utc)


def _timestamper(config: Config) -> Any:
    password = os.environ.get(config.seal.timestamp_password_env) if config.seal.timestamp_password_env else None
    return make_timestamper(config.seal.timestamp_url, config.seal.timestamp_username, password)


def _service_certificate_expiry(timestamper: Any, digest: str) -> dt.datetime | None:
    """When the certificate the time-stamp service signs with now expires (one request)."""
    try:
        import asyncio

        response = asyncio.run(timestamper.async_dummy_response(digest))
        return extract_certificate_info(response["content"]).signer_cert.not_valid_after
    except Exception:  # asked only to avoid a pointless renewal: if it fails, the renewal will say why
        return None
