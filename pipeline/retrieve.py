"""Handing records over: verify the checksum and the seal first, never release a file silently broken."""

from __future__ import annotations

import datetime as dt

from pathlib import Path

from .catalog import Catalog
from .config import Config
from .errors import AccordError
from .pki import ROOT_CERT
from .verify import VerifyReport, verify_bytes, verify_file
from .workspace import Workspace


class VerificationFailed(AccordError):
    """The record's file no longer matches its checksum or its seal does not validate."""

    step = "verify"

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


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
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        problems = ["its archived PDF is missing."]
        raise VerificationFailed(f"Record {record['record_id']} was not handed over: {problems[0]}", problems) from None
    report = verify_bytes(record["record_id"], path, data, record["sha256"], record["signature_level"], roots)
    if not report.ok:
        problems = report.problems or ["its seal did not validate."]
        raise VerificationFailed(f"Record {record['record_id']} was not handed over: " + " ".join(problems), problems)
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
