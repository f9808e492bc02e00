"""Handing records over: verify the checksum and the seal first, never release a file silently broken."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from pipeline.config import Config
from pipeline.documents.pki import ROOT_CERT
from pipeline.errors import VerificationFailed
from pipeline.records.catalog import Catalog
from pipeline.records.verify import VerifyReport, untrusted_problem, verify_bytes, verify_file
from pipeline.workspace import Workspace


def trust_roots(ws: Workspace, config: Config) -> tuple[Path, ...]:
    """The roots a seal must chain to: the local office root (if any) and the configured ones."""
    roots = [ws.pki / ROOT_CERT] if (ws.pki / ROOT_CERT).exists() else []
    roots += [Path(r).expanduser() for r in config.seal.extra_trust_roots]
    return tuple(roots)


def verify_record(ws: Workspace, record: dict, roots: tuple[Path, ...]) -> VerifyReport:
    """Checksum and seal of a record's archived PDF, the long-term verdict judged at its retention end."""
    return verify_file(record["record_id"], ws.root / record["pdf_path"], record["sha256"],
                       record["signature_level"], roots, retention_end=retention_end(record))


def verify_record_bytes(ws: Workspace, record: dict, data: bytes, roots: tuple[Path, ...]) -> VerifyReport:
    """:func:`verify_record` of bytes already read from the record's archived PDF."""
    return verify_bytes(record["record_id"], ws.root / record["pdf_path"], data, record["sha256"],
                        record["signature_level"], roots, retention_end=retention_end(record))


def retention_end(record: dict) -> dt.date | None:
    return dt.date.fromisoformat(record["due_date"]) if record.get("due_date") else None


def verified_copy(ws: Workspace, record: dict, roots: tuple[Path, ...]) -> tuple[bytes, VerifyReport]:
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


def executed_roots(ws: Workspace, config: Config) -> tuple[Path, ...]:
    """The office's roots and those vouching for the parties (``seal.party_trust_roots``)."""
    return trust_roots(ws, config) + tuple(Path(r).expanduser() for r in config.seal.party_trust_roots)


def verified_executed_copy(ws: Workspace, record: dict, signatures: list[dict],
                           roots: tuple[Path, ...]) -> tuple[bytes, VerifyReport]:
    """The newest party-signed copy's bytes and report; :class:`VerificationFailed` unless its checksum
    matches, the office seal holds and every party signature is intact and valid.

    A party whose certificate no configured root vouches for was recorded as untrusted when the copy
    came in; that alone does not stop the release (the report says so), anything else does.
    """
    if not record.get("executed_path"):
        _refuse(record, ["no party has signed it yet, so there is no party-signed copy."])
    path = ws.root / record["executed_path"]
    data = _read_or_refuse(record, path, "its party-signed copy is missing.")
    report = verify_bytes(record["record_id"], path, data, record["executed_sha256"], record["signature_level"], roots)
    recorded_untrusted = {s["field"] for s in signatures if not s["trusted"]}
    accepted = {s.field for s in report.signatures
                if s.field in recorded_untrusted and s.intact and s.valid and s.modifications_allowed}
    problems = [p for p in report.problems if p not in {untrusted_problem(f) for f in accepted}]
    sound = bool(report.signatures) and all(s.intact and s.valid and s.modifications_allowed
                                            for s in report.signatures)
    if not report.checksum_ok or problems or not sound:
        _refuse(record, problems or ["a signature in it does not validate."])
    return data, report


def verify_records(ws: Workspace, record_id: str | None = None) -> list[VerifyReport]:
    """Verify one record, or all of them when ``record_id`` is ``None``."""
    roots = trust_roots(ws, ws.load_config())
    with Catalog(ws.catalog) as catalog:
        records = [catalog.get(record_id)] if record_id else list(catalog.all_records())
        return [verify_record(ws, r, roots) for r in records]


def retrieve(ws: Workspace, record_id: str) -> bytes:
    """The sealed PDF's bytes, only if checksum and seal verify."""
    with Catalog(ws.catalog) as catalog:
        record = catalog.get(record_id)
    return verified_copy(ws, record, trust_roots(ws, ws.load_config()))[0]
