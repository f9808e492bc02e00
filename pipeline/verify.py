"""Verification: a record's checksum and every signature in its PDF, checked by pyHanko.

Trust comes only from the workspace's roots (the local office root or the
configured ones); nothing is fetched from the network.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko_certvalidator import ValidationContext

from .pki import load_certificates

LEVEL_MEANING = {
    "B-B": "PAdES B-B: the seal proves who sealed the document and that it is unchanged, "
           "for as long as the seal certificate can be validated (no trusted time, no embedded revocation data).",
    "B-T": "PAdES B-T: as B-B, with a trusted time-stamp proving when the document was sealed.",
}


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

    @property
    def ok(self) -> bool:
        return self.checksum_ok and bool(self.signatures) and not self.problems and all(s.ok for s in self.signatures)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def validation_context(trust_roots: tuple[Path, ...] | list[Path]) -> ValidationContext:
    roots = [cert for path in trust_roots for cert in load_certificates(path)]
    return ValidationContext(trust_roots=roots, allow_fetching=False)


def check_signatures(pdf: bytes, trust_roots: tuple[Path, ...] | list[Path]) -> tuple[list[SignatureReport], list[str]]:
    """Validate every signature of a PDF; problems are plain sentences."""
    problems: list[str] = []
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        embedded = reader.embedded_regular_signatures
    except Exception as exc:  # a damaged file is a finding, not a crash
        return [], [f"The PDF cannot be read: {type(exc).__name__}."]
    if not embedded:
        return [], ["The PDF carries no signature: it is not sealed."]
    reports = []
    for sig in embedded:
        try:
            status = validate_pdf_signature(sig, signer_validation_context=validation_context(trust_roots))
        except (SignatureValidationError, ValueError) as exc:
            reports.append(_broken(sig, str(exc)))
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
        )
        reports.append(report)
        if not status.intact:
            problems.append(f"The signature in field {sig.field_name} is broken: the signed bytes were changed.")
        elif not status.valid:
            problems.append(f"The signature in field {sig.field_name} is not cryptographically valid.")
        elif not status.trusted:
            problems.append(f"The signer of field {sig.field_name} is not trusted by this workspace.")
        elif not allowed:
            problems.append(f"The document was changed after the signature in field {sig.field_name} in a way it does not allow.")
    return reports, problems


def _broken(sig: Any, message: str) -> SignatureReport:
    return SignatureReport(
        field=sig.field_name, signer="(unknown)", signing_time=None, certification=False, docmdp=None,
        intact=False, valid=False, trusted=False, coverage="UNKNOWN", modifications=None,
        modifications_allowed=False, timestamp=None, ok=False, summary=f"INVALID: {message}",
    )


def verify_file(record_id: str, path: Path, expected_sha256: str | None, level: str | None,
                trust_roots: tuple[Path, ...] | list[Path]) -> VerifyReport:
    """Checksum first, then signatures, of one archived PDF."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return VerifyReport(record_id, str(path), expected_sha256, None, False, level, LEVEL_MEANING.get(level or ""),
                            problems=["The archived PDF is missing."])
    return verify_bytes(record_id, path, data, expected_sha256, level, trust_roots)


def verify_bytes(record_id: str, path: Path, data: bytes, expected_sha256: str | None, level: str | None,
                 trust_roots: tuple[Path, ...] | list[Path]) -> VerifyReport:
    """Checksum and signatures of a PDF already read (what is checked is what is handed over)."""
    actual = hashlib.sha256(data).hexdigest()
    problems = []
    checksum_ok = expected_sha256 is None or actual == expected_sha256
    if not checksum_ok:
        problems.append("The archived PDF's SHA-256 differs from the one recorded at ingest: the file was changed.")
    signatures, sig_problems = check_signatures(data, trust_roots)
    return VerifyReport(
        record_id=record_id, path=str(path), expected_sha256=expected_sha256, actual_sha256=actual,
        checksum_ok=checksum_ok, level=level, level_meaning=LEVEL_MEANING.get(level or ""),
        signatures=signatures, problems=problems + sig_problems,
    )
