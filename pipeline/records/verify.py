"""Verification: a record's checksum and every signature in its PDF, checked by pyHanko.

Trust comes only from the workspace's roots (the local office root or the
configured ones); nothing is fetched from the network.

Long-term seals (PAdES B-LT, B-LTA) are also judged as ETSI EN 319 102-1 asks
(pyHanko's AdES-LTA validation), from what the file holds alone: the chain of
document time-stamps proves when everything existed, and the certificates and
revocation data embedded then vouch for the seal. One thing cannot be known
offline: whether the newest time-stamp's certificate has been revoked since; it is
assumed not to be (as pyHanko's own simulation of a future validation does).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import hashlib
import io
import logging
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.errors import SignatureValidationError

from pipeline.documents.seal import SEAL_FIELD, signature_level
from pipeline.documents.trust import TrustRoots

LEVEL_MEANING = {
    "B-B": "PAdES B-B: the seal proves who sealed the document and that it is unchanged, "
           "for as long as the seal certificate can be validated (no trusted time, no embedded revocation data).",
    "B-T": "PAdES B-T: as B-B, with a trusted time-stamp proving when the document was sealed.",
    "B-LT": "PAdES B-LT: as B-T, with the certificates and revocation data (OCSP, CRLs) that vouched for the "
            "seal when it was made kept inside the file, so it can be checked without asking anyone, "
            "even after the certificates expire.",
    "B-LTA": "PAdES B-LTA: as B-LT, with a document time-stamp over all of it; renewed before it expires "
             "(accord preserve), it keeps the seal verifiable for the whole retention period.",
}

#: AdES verdict of a long-term validation that succeeded.
LTV_OK = "OK"


@dataclass(frozen=True)
class SignatureReport:
    field: str
    signer: str
    signing_time: str | None
    certification: bool
    docmdp: str | None
    intact: bool
    valid: bool
    trusted: bool
    coverage: str
    modifications: str | None
    modifications_allowed: bool
    timestamp: str | None
    ok: bool
    summary: str
    level: str | None = None
    """PAdES level of this signature as the file holds it (B-B, B-T, B-LT, B-LTA)."""


@dataclass(frozen=True)
class TimestampReport:
    """A document time-stamp (the archival time-stamps of B-LTA), oldest first."""

    field: str
    time: str | None
    tsa: str
    tsa_certificate_expires: str | None
    digest: str | None
    intact: bool
    valid: bool
    trusted: bool
    ok: bool
    summary: str


@dataclass(frozen=True)
class LongTermVerdict:
    verdict: str | None
    """``OK``, an AdES sub-indication (``NO_POE``, ``REVOKED``...), or ``None`` when not applicable."""
    explanation: str


@dataclass(frozen=True)
class VerifyReport:
    record_id: str
    path: str
    expected_sha256: str | None
    actual_sha256: str | None
    checksum_ok: bool
    level: str | None
    level_meaning: str | None
    signatures: list[SignatureReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    timestamps: list[TimestampReport] = field(default_factory=list)
    ltv_now: str | None = None
    """AdES-LTA verdict of the office seal today, from the file alone (``OK`` or why not)."""
    ltv_now_explanation: str | None = None
    ltv_at_retention_end: str | None = None
    """The same verdict simulated at the end of the record's retention, with the file as it is now."""
    ltv_at_retention_end_explanation: str | None = None
    retention_end: str | None = None
    notes: list[str] = field(default_factory=list)
    """Warnings that do not make the record fail (a renewal due before the end of retention)."""

    @property
    def ok(self) -> bool:
        return self.checksum_ok and bool(self.signatures) and not self.problems and all(s.ok for s in self.signatures)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def check_signatures(pdf: bytes, trust_roots: TrustRoots) -> tuple[list[SignatureReport], list[str]]:
    """Validate every signature of a PDF; problems are plain sentences."""
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = reader.embedded_regular_signatures
    except Exception as exc:  # a damaged file is a finding, not a crash
        return [], [f"The PDF cannot be read: {type(exc).__name__}."]
    return _check_signatures(reader, embedded, trust_roots)


def _check_signatures(reader: PdfFileReader, embedded: list,
                      trust_roots: TrustRoots) -> tuple[list[SignatureReport], list[str]]:
    problems: list[str] = []
    if not embedded:
        return [], ["The PDF carries no signature: it is not sealed."]
    reports = []
    for sig in embedded:
        try:
            status = validate_pdf_signature(sig, signer_validation_context=trust_roots.context())
        except (SignatureValidationError, ValueError) as exc:
            reports.append(_broken(sig, str(exc)))
            continue
        except Exception as exc:  # a damaged file (PdfReadError, a dangling reference) is a finding
            reports.append(_broken(sig, f"the file is damaged ({type(exc).__name__})"))
            problems.append(f"The signature in field {sig.field_name} cannot be checked: the PDF is damaged.")
            continue
        docmdp = sig.docmdp_level
        level = status.modification_level
        allowed = bool(status.docmdp_ok) or level is None
        report = SignatureReport(
            field=sig.field_name,
            signer=status.signing_cert.subject.human_friendly,
            signing_time=status.signer_reported_dt.isoformat() if status.signer_reported_dt else None,
            certification=docmdp is not None,
            docmdp=docmdp.name if docmdp is not None else None,
            intact=status.intact,
            valid=status.valid,
            trusted=status.trusted,
            coverage=status.coverage.name if status.coverage else "UNKNOWN",
            modifications=level.name if level is not None else None,
            modifications_allowed=allowed,
            timestamp=(status.timestamp_validity.timestamp.isoformat() if status.timestamp_validity else None),
            ok=status.bottom_line,
            summary=status.summary(),
            level=_level_or_none(reader, sig),
        )
        reports.append(report)
        if not status.intact:
            problems.append(f"The signature in field {sig.field_name} is broken: the signed bytes were changed.")
        elif not status.valid:
            problems.append(f"The signature in field {sig.field_name} is not cryptographically valid.")
        elif not status.trusted:
            problems.append(untrusted_problem(sig.field_name))
        elif not allowed:
            problems.append(f"The document was changed after the signature in field {sig.field_name} in a way it does not allow.")
    return reports, problems


def untrusted_problem(field: str) -> str:
    return f"The signer of field {field} is not trusted by this workspace."


def _level_or_none(reader: PdfFileReader, sig: Any) -> str | None:
    try:
        return signature_level(reader, sig)
    except Exception:  # the level is a description; a strange file must not stop the check
        return None


def _broken(sig: Any, message: str) -> SignatureReport:
    return SignatureReport(
        field=sig.field_name, signer="(unknown)", signing_time=None, certification=False, docmdp=None,
        intact=False, valid=False, trusted=False, coverage="UNKNOWN", modifications=None,
        modifications_allowed=False, timestamp=None, ok=False, summary=f"INVALID: {message}",
    )


def check_timestamps(reader: PdfFileReader, trust_roots: TrustRoots) -> tuple[list[TimestampReport], list[str]]:
    """Every document time-stamp: sound, unchanged since, and from a service the workspace trusts."""
    reports, problems = [], []
    for ts in reader.embedded_timestamp_signatures:
        tsa_cert = ts.signer_cert
        tsa = tsa_cert.subject.human_friendly if tsa_cert is not None else "(unknown)"
        expires = tsa_cert["tbs_certificate"]["validity"]["not_after"].native.isoformat() if tsa_cert else None
        try:
            status = validate_pdf_timestamp(ts, validation_context=trust_roots.context())
        except (SignatureValidationError, ValueError) as exc:
            reports.append(TimestampReport(ts.field_name, None, tsa, expires, None, False, False, False, False,
                                           f"INVALID: {exc}"))
            problems.append(f"The document time-stamp {ts.field_name} cannot be validated: {exc}")
            continue
        ok = status.intact and status.valid and status.trusted
        reports.append(TimestampReport(
            field=ts.field_name, time=status.timestamp.isoformat() if status.timestamp else None, tsa=tsa,
            tsa_certificate_expires=expires, digest=status.md_algorithm, intact=status.intact, valid=status.valid,
            trusted=status.trusted, ok=ok, summary=status.summary(),
        ))
        if not (status.intact and status.valid):
            problems.append(f"The document time-stamp {ts.field_name} is broken: the bytes it covers were changed.")
        elif not status.trusted:
            problems.append(f"The document time-stamp {ts.field_name} comes from a time-stamp service this "
                            f"workspace does not trust ({tsa}).")
    return reports, problems


# --- long-term (AdES-LTA) validation -------------------------------------------------------------

def long_term_verdict(reader: PdfFileReader, signature: Any, trust_roots: TrustRoots,
                      at: dt.datetime | None = None) -> LongTermVerdict:
    """pyHanko's AdES-LTA validation of ``signature`` at ``at`` (default: now), from the file alone.

    No network: revocation data and certificates come only from the file (its document
    security store), trust only from the workspace's roots. The newest document
    time-stamp's certificate is assumed not revoked at ``at`` (it cannot be known offline).
    """
    from pyhanko.sign.validation.ades import ades_lta_validation
    from pyhanko.sign.validation.policy_decl import (
        CertificateFetchingRule,
        LocalKnowledge,
        PdfSignatureValidationSpec,
        RevinfoOnlineFetchingRule,
        RevocationInfoGatheringSpec,
        SignatureValidationSpec,
    )
    from pyhanko_certvalidator.context import CertValidationPolicySpec
    from pyhanko_certvalidator.ltv.types import ValidationTimingInfo
    from pyhanko_certvalidator.policy_decl import (
        REQUIRE_REVINFO,
        CertRevTrustPolicy,
        NonRevokedStatusAssertion,
    )
    from pyhanko_certvalidator.registry import SimpleTrustManager

    when = at or dt.datetime.now(dt.timezone.utc)
    doc_timestamps = reader.embedded_timestamp_signatures
    assumptions = []
    newest_expires = None
    if doc_timestamps:
        newest = doc_timestamps[-1].signer_cert
        assumptions.append(NonRevokedStatusAssertion(newest.sha256, at=when))
        newest_expires = newest["tbs_certificate"]["validity"]["not_after"].native
    spec = PdfSignatureValidationSpec(SignatureValidationSpec(
        cert_validation_policy=CertValidationPolicySpec(
            trust_manager=SimpleTrustManager.build(trust_roots=list(trust_roots.office)),
            revinfo_policy=CertRevTrustPolicy(revocation_checking_policy=REQUIRE_REVINFO),
        ),
        revinfo_gathering_policy=RevocationInfoGatheringSpec(
            online_fetching_rule=RevinfoOnlineFetchingRule.LOCAL_ONLY,
            certificate_fetching_rule=CertificateFetchingRule.NEVER_FETCH,
        ),
        local_knowledge=LocalKnowledge(nonrevoked_assertions=assumptions),
    ))
    timing = ValidationTimingInfo(validation_time=when, best_signature_time=when, point_in_time_validation=at is not None)
    try:
        with _quiet_pyhanko():
            result = asyncio.run(ades_lta_validation(signature, spec, timing_info=timing))
    except Exception as exc:  # pyHanko raised instead of reporting: that is a verdict too
        return LongTermVerdict("ERROR", f"The long-term validation could not be run: {type(exc).__name__}: {exc}")
    verdict = result.ades_subindic.name if hasattr(result.ades_subindic, "name") else str(result.ades_subindic)
    day = when.date().isoformat()
    if verdict == LTV_OK:
        since = (f"; time-stamps prove it existed on {result.oldest_evidence_record_timestamp.date().isoformat()}"
                 if result.oldest_evidence_record_timestamp else "")
        return LongTermVerdict(LTV_OK, f"On {day} the seal validates from the data embedded in the file alone{since}.")
    if newest_expires is not None and newest_expires < when:
        why = (f"the newest document time-stamp's certificate expires on {newest_expires.date().isoformat()}, "
               "before then: renew it in time (accord preserve)")
    elif not doc_timestamps:
        why = "the file has no document time-stamp to prove when its validation data existed"
    else:
        why = (result.failure_msg or verdict).rstrip(".")
    return LongTermVerdict(verdict, f"On {day} the seal would not validate from the file alone ({verdict}): {why}.")


_QUIET_LOCK = threading.Lock()
_quiet_depth = 0
_saved_levels: dict[str, int] = {}


@contextlib.contextmanager
def _quiet_pyhanko():
    """pyHanko logs every step that fails on the way to a verdict (with tracebacks) as a
    warning; the verdict itself is what the report says, so those are held back meanwhile."""
    global _quiet_depth
    names = ("pyhanko", "pyhanko_certvalidator")
    with _QUIET_LOCK:
        if _quiet_depth == 0:
            for name in names:
                _saved_levels[name] = logging.getLogger(name).level
                logging.getLogger(name).setLevel(logging.ERROR)
        _quiet_depth += 1
    try:
        yield
    finally:
        with _QUIET_LOCK:
            _quiet_depth -= 1
            if _quiet_depth == 0:
                for name in names:
                    logging.getLogger(name).setLevel(_saved_levels.pop(name, logging.NOTSET))


def _office_seal(embedded: list) -> Any | None:
    return next((s for s in embedded if s.field_name == SEAL_FIELD), embedded[0] if embedded else None)


# --- one record -----------------------------------------------------------------------------------

def verify_file(record_id: str, path: Path, expected_sha256: str | None, level: str | None,
                trust_roots: TrustRoots, retention_end: dt.date | None = None) -> VerifyReport:
    """Checksum first, then signatures, of one archived PDF; ``retention_end`` adds the
    long-term verdict simulated on that date."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return VerifyReport(record_id, str(path), expected_sha256, None, False, level, LEVEL_MEANING.get(level or ""),
                            problems=["The archived PDF is missing."])
    return verify_bytes(record_id, path, data, expected_sha256, level, trust_roots, retention_end=retention_end)


def verify_bytes(record_id: str, path: Path, data: bytes, expected_sha256: str | None, level: str | None,
                 trust_roots: TrustRoots, retention_end: dt.date | None = None) -> VerifyReport:
    """Checksum and signatures of a PDF already read (what is checked is what is handed over)."""
    actual = hashlib.sha256(data).hexdigest()
    problems = []
    checksum_ok = expected_sha256 is None or actual == expected_sha256
    if not checksum_ok:
        problems.append("The archived PDF's SHA-256 differs from the one recorded at ingest: the file was changed.")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        embedded = reader.embedded_regular_signatures
        return _verify_parsed(record_id, path, reader, embedded, expected_sha256, actual, checksum_ok, level,
                              problems, trust_roots, retention_end)
    except Exception as exc:  # a damaged file is a finding, not a crash
        return VerifyReport(
            record_id=record_id, path=str(path), expected_sha256=expected_sha256, actual_sha256=actual,
            checksum_ok=checksum_ok, level=level, level_meaning=LEVEL_MEANING.get(level or ""),
            problems=problems + [f"The PDF cannot be read: {type(exc).__name__}."],
        )


def _verify_parsed(record_id: str, path: Path, reader: PdfFileReader, embedded: list, expected_sha256: str | None,
                   actual: str, checksum_ok: bool, level: str | None, problems: list[str],
                   trust_roots: TrustRoots, retention_end: dt.date | None) -> VerifyReport:
    signatures, sig_problems = _check_signatures(reader, embedded, trust_roots)
    seal = _office_seal(embedded)
    seal_report = next((s for s in signatures if seal is not None and s.field == seal.field_name), None)
    file_level = seal_report.level if seal_report else None
    extra: dict[str, Any] = {"retention_end": retention_end.isoformat() if retention_end else None}
    notes: list[str] = []
    if file_level in (None, "B-B"):
        # The B-B path as it always was: nothing long-term to judge.
        extra["ltv_now_explanation"] = "Not applicable: the seal carries no trusted time and no embedded validation data (PAdES B-B)."
    else:
        timestamps, ts_problems = check_timestamps(reader, trust_roots)
        sig_problems += ts_problems
        now = long_term_verdict(reader, seal, trust_roots)
        extra.update(timestamps=timestamps, ltv_now=now.verdict, ltv_now_explanation=now.explanation)
        if now.verdict == LTV_OK and seal_report is not None and not seal_report.ok and _trust_only(seal_report):
            # Trusted through the embedded long-term data (e.g. the seal certificate has expired since).
            sig_problems = [p for p in sig_problems if f"field {seal_report.field} is not trusted" not in p]
            signatures = [dataclasses.replace(s, ok=True, summary=s.summary + "; trusted through the embedded "
                                              "long-term validation data") if s is seal_report else s
                          for s in signatures]
        if file_level in ("B-LT", "B-LTA") and now.verdict != LTV_OK:
            sig_problems.append(f"The seal claims {file_level} but does not validate from the file alone: "
                                f"{now.explanation}")
        if retention_end is not None:
            moment = dt.datetime.combine(retention_end, dt.time(12, 0), tzinfo=dt.timezone.utc)
            future = long_term_verdict(reader, seal, trust_roots, at=moment)
            extra.update(ltv_at_retention_end=future.verdict, ltv_at_retention_end_explanation=future.explanation)
            if future.verdict != LTV_OK:
                notes.append(f"At the end of retention ({retention_end.isoformat()}): {future.explanation}")
    if retention_end is not None and "ltv_at_retention_end_explanation" not in extra:
        extra["ltv_at_retention_end_explanation"] = extra["ltv_now_explanation"]
    return VerifyReport(
        record_id=record_id, path=str(path), expected_sha256=expected_sha256, actual_sha256=actual,
        checksum_ok=checksum_ok, level=level, level_meaning=LEVEL_MEANING.get(level or ""),
        signatures=signatures, problems=problems + sig_problems, notes=notes, **extra,
    )


def _trust_only(report: SignatureReport) -> bool:
    """The signature is sound and allowed; only its trust today failed."""
    return report.intact and report.valid and report.modifications_allowed and not report.trusted
