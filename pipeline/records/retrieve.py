"""Handing records over: verify the checksum and the seal first, never release a file silently broken."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pipeline.documents.trust import TrustRoots
from pipeline.errors import VerificationFailed
from pipeline.records.verify import VerifyReport, untrusted_problem, verify_bytes, verify_file
from pipeline.workspace import Workspace


def verify_record(ws: Workspace, record: dict, roots: TrustRoots) -> VerifyReport:
    """Checksum and seal of a record's archived PDF, the long-term verdict judged at its retention end."""
    return verify_file(record["record_id"], ws.root / record["pdf_path"], record["sha256"],
                       record["signature_level"], roots, retention_end=retention_end(record))


def verify_record_bytes(ws: Workspace, record: dict, data: bytes, roots: TrustRoots) -> VerifyReport:
    """:func:`verify_record` of bytes already read from the record's archived PDF."""
    return verify_bytes(record["record_id"], ws.root / record["pdf_path"], data, record["sha256"],
                        record["signature_level"], roots, retention_end=retention_end(record))


def retention_end(record: dict) -> dt.date | None:
    return dt.date.fromisoformat(record["due_date"]) if record.get("due_date") else None


def verified_copy(ws: Workspace, record: dict, roots: TrustRoots) -> tuple[bytes, VerifyReport]:
    """The archived PDF's bytes and their report; :class:`VerificationFailed` unless both verify.

    What is checked is what is handed over: the bytes are read once.
    """
    path = ws.root / record["pdf_path"]
    data = _read_or_refuse(record, path, "its archived PDF is missing.")
    report = verify_bytes(record["record_id"], path, data, record["sha256"], record["signature_level"], roots)
    if not report.ok:
        _refuse(record, report.problems or ["its seal did not validate."])
    return data, report


def _refuse(record: dict, problems: list[str]) -> None:
    raise VerificationFailed(f"Record {record['record_id']} was not handed over: " + " ".join(problems), problems)


def _read_or_refuse(record: dict, path: Path, missing: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        _refuse(record, [missing])
        raise  # not reached: _refuse raises


def verified_executed_copy(ws: Workspace, record: dict, signatures: list[dict],
                           roots: TrustRoots) -> tuple[bytes, VerifyReport]:
    """The newest party-signed copy's bytes and report; :class:`VerificationFailed` unless its checksum
    matches, the office seal holds and every party signature is intact and valid.

    A party whose certificate no configured root vouches for was recorded as untrusted when the copy
    came in; that alone does not stop the release (the report says so), anything else does.
    """
    if not record.get("executed_path"):
        _refuse(record, ["no party has signed it yet, so there is no party-signed copy."])
    path = ws.root / record["executed_path"]
    data = _read_or_refuse(record, path, "its party-signed copy is missing.")
    report = verify_bytes(record["record_id"], path, data, record["executed_sha256"], record["signature_level"],
                          roots.including_parties())
    recorded_untrusted = {s["field"] for s in signatures if not s["trusted"]}
    accepted = {s.field for s in report.signatures
                if s.field in recorded_untrusted and s.intact and s.valid and s.modifications_allowed}
    problems = [p for p in report.problems if p not in {untrusted_problem(f) for f in accepted}]
    sound = bool(report.signatures) and all(s.intact and s.valid and s.modifications_allowed
                                            for s in report.signatures)
    if not report.checksum_ok or problems or not sound:
        _refuse(record, problems or ["a signature in it does not validate."])
    return data, report
