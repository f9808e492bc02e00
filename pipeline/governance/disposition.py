"""Disposition: proposals of what is due, their approval, and carrying them out with a certificate.

This module owns the ``proposals`` and ``proposal_items`` tables and their SQL. A proposal lists the
records due by a date and not under a hold; nothing is disposed of without the approval of a person
whose role allows it, unless the schedule says no approval is needed. Carrying one out re-checks
each record (a hold placed since, a date that moved), then destroys (the PDF, the source file,
every copy Accord made, its text in the full-text index, with SQLite's secure delete, keeping a
tombstone), transfers (a BagIt bag first) or marks for review; it ends with a certificate of
disposition: a PDF listing every record and what was done, sealed by the office and archived as a
record of its own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.cases import casebook
from pipeline.documents.generated import add_footer, add_seal_place, details_table, docx_bytes, new_document
from pipeline.errors import SweepError
from pipeline.governance import holds
from pipeline.governance.filing import Generated, file_generated
from pipeline.governance.retention import RetentionPolicy
from pipeline.records import archive, audit, countersign
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog, RecordStatus, Tombstone
from pipeline.workspace import Workspace

CERTIFICATE_CLASS = "disposition-certificate"

MIGRATIONS = Migrations("disposition")


@MIGRATIONS(name="0001_proposals")
def _proposals(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE proposals (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            as_of TEXT NOT NULL,
            proposed_by TEXT NOT NULL,
            status TEXT NOT NULL,
            decided_by TEXT,
            decided_at TEXT,
            executed_at TEXT,
            certificate_record_id TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE proposal_items (
            proposal_id INTEGER NOT NULL,
            record_id TEXT NOT NULL,
            record_class TEXT NOT NULL,
            case_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            rule TEXT NOT NULL,
            due_date TEXT NOT NULL,
            action TEXT NOT NULL,
            result TEXT,
            PRIMARY KEY (proposal_id, record_id)
        )
        """
    )


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DueItem:
    record_id: str
    record_class: str
    case_id: str
    sha256: str
    due_date: str
    rule: str
    action: str


@dataclass
class DueReport:
    """What is due by a date, and the proposals written for it."""

    as_of: dt.date
    due: int = 0
    held: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    proposal_id: int | None = None
    executed_proposal_id: int | None = None
    sample: list[DueItem] = field(default_factory=list)


@dataclass
class ExecutionReport:
    proposal_id: int
    results: dict[str, str] = field(default_factory=dict)
    certificate_record_id: str | None = None


def due_items(catalog: Catalog, as_of: dt.date, policy: RetentionPolicy, *, held: bool = False) -> Iterator[DueItem]:
    """Records due by ``as_of`` (streamed): not held, or only the held ones with ``held``."""
    hold = f"{'' if held else 'NOT '}EXISTS ({holds.active_holds_sql('r.case_id', 'r.record_id')})"
    pending = ("NOT EXISTS (SELECT 1 FROM proposal_items i JOIN proposals p ON p.id = i.proposal_id "
               "WHERE i.record_id = r.record_id AND p.status = 'proposed')")
    for row in catalog.due_records(as_of.isoformat(), f"{hold} AND {pending}"):
        schedule = policy.schedule_for(row["record_class"])
        action = schedule.action if schedule else "review"
        yield DueItem(row["record_id"], row["record_class"], row["case_id"], row["sha256"], row["due_date"],
                      row["retention_rule"] or "", action)


def propose(catalog: Catalog, policy: RetentionPolicy, as_of: dt.date, *, actor: str,
            dry_run: bool = False, sample: int = 20) -> DueReport:
    """What is due; unless ``dry_run``, a proposal awaiting approval and one for the schedules
    that need none (returned as ``executed_proposal_id`` for the caller to execute)."""
    report = DueReport(as_of)
    report.held = catalog.count_due(as_of.isoformat(), f"EXISTS ({holds.active_holds_sql('r.case_id', 'r.record_id')})")
    buckets: dict[bool, list[DueItem]] = {True: [], False: []}
    for item in due_items(catalog, as_of, policy):
        report.due += 1
        report.by_action[item.action] = report.by_action.get(item.action, 0) + 1
        if len(report.sample) < sample:
            report.sample.append(item)
        if not dry_run:
            schedule = policy.schedule_for(item.record_class)
            buckets[schedule.approval if schedule else True].append(item)
    if dry_run:
        return report
    for needs_approval, items in buckets.items():
        if not items:
            continue
        proposal_id = _write_proposal(catalog, items, as_of, actor, needs_approval)
        if needs_approval:
            report.proposal_id = proposal_id
        else:
            report.executed_proposal_id = proposal_id
    return report


def _write_proposal(catalog: Catalog, items: list[DueItem], as_of: dt.date, actor: str, needs_approval: bool) -> int:
    with catalog.transaction() as conn:
        proposal_id = conn.execute(
            "INSERT INTO proposals (created_at, as_of, proposed_by, status) VALUES (?, ?, ?, ?)",
            [_now(), as_of.isoformat(), actor, "proposed" if needs_approval else "approved"],
        ).lastrowid
        conn.executemany(
            "INSERT INTO proposal_items (proposal_id, record_id, record_class, case_id, sha256, rule, due_date, action) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(proposal_id, i.record_id, i.record_class, i.case_id, i.sha256, i.rule, i.due_date, i.action)
             for i in items],
        )
        audit.append(conn, AuditEntry(actor, "disposition-proposed", "ok", details={
            "proposal": proposal_id, "records": len(items), "as_of": as_of.isoformat(),
            "approval": "required" if needs_approval else "not required by the schedule"}))
    return proposal_id


def proposal(catalog: Catalog, proposal_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    row = catalog.conn.execute("SELECT * FROM proposals WHERE id = ?", [proposal_id]).fetchone()
    if row is None:
        raise SweepError(f"No disposition proposal {proposal_id}.")
    items = [dict(r) for r in catalog.conn.execute(
        "SELECT * FROM proposal_items WHERE proposal_id = ? ORDER BY due_date, record_id", [proposal_id])]
    return dict(row), items


def proposals(catalog: Catalog) -> list[dict[str, Any]]:
    return [dict(r) for r in catalog.conn.execute(
        "SELECT p.*, (SELECT count(*) FROM proposal_items i WHERE i.proposal_id = p.id) AS records "
        "FROM proposals p ORDER BY id DESC")]


def reject(catalog: Catalog, proposal_id: int, *, actor: str, reason: str) -> None:
    row, _ = proposal(catalog, proposal_id)
    if row["status"] != "proposed":
        raise SweepError(f"Proposal {proposal_id} is {row['status']}, not awaiting a decision.")
    with catalog.transaction():
        catalog.conn.execute("UPDATE proposals SET status = 'rejected', decided_by = ?, decided_at = ? WHERE id = ?",
                           [actor, _now(), proposal_id])
        audit.append(catalog.conn, AuditEntry(actor, "disposition-rejected", "ok",
                                                 details={"proposal": proposal_id, "reason": reason}))


def execute(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, proposal_id: int, *, approver: str,
            make_certificate: Callable[[bytes, str], bytes], today: dt.date | None = None) -> ExecutionReport:
    """Carry out an approved proposal; ``make_certificate(docx, record_id)`` returns the sealed PDF."""
    row, items = proposal(catalog, proposal_id)
    if row["status"] not in ("proposed", "approved"):
        raise SweepError(f"Proposal {proposal_id} is {row['status']}; it cannot be executed.")
    as_of = dt.date.fromisoformat(row["as_of"])
    with catalog.transaction():
        catalog.conn.execute("UPDATE proposals SET status = 'executing', decided_by = coalesce(decided_by, ?), "
                           "decided_at = coalesce(decided_at, ?) WHERE id = ?", [approver, _now(), proposal_id])
        audit.append(catalog.conn, AuditEntry(approver, "disposition-approved", "ok",
                                                 details={"proposal": proposal_id, "records": len(items)}))
    report = ExecutionReport(proposal_id)
    copies = _processed_copies(ws)
    for item in items:
        report.results[item["record_id"]] = _dispose(ws, catalog, policy, item, as_of, approver, proposal_id, copies)
    if any(r in ("destroyed", "transferred") for r in report.results.values()):
        catalog.purge_deleted_text()
    report.certificate_record_id = _certificate(ws, catalog, policy, row, items, report, approver, make_certificate,
                                                today or dt.date.today())
    with catalog.transaction():
        catalog.conn.execute("UPDATE proposals SET status = 'executed', executed_at = ?, certificate_record_id = ? "
                           "WHERE id = ?", [_now(), report.certificate_record_id, proposal_id])
    return report


def _dispose(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, item: dict[str, Any], as_of: dt.date,
             approver: str, proposal_id: int, copies: dict[str, list[Path]]) -> str:
    conn = catalog.conn
    record = catalog.find(item["record_id"])
    if record is None:
        return "already gone"
    if holds.is_held(catalog, record):
        _note(catalog, approver, "disposition-skipped", record, proposal_id, "under a legal hold")
        return "skipped: under a legal hold"
    if not record["due_date"] or record["due_date"] > as_of.isoformat():
        _note(catalog, approver, "disposition-skipped", record, proposal_id, "no longer due")
        return "skipped: no longer due"
    action = item["action"]
    if action == "review":
        with catalog.transaction():
            catalog.set_status(record["record_id"], RecordStatus.REVIEW)
            _disposition_audit(conn, approver, record, proposal_id, "review")
        _set_result(catalog, proposal_id, record["record_id"], "marked for review")
        return "marked for review"
    if action not in ("destroy", "transfer"):
        return f"skipped: action {action}"
    bag = _transfer_bag(ws, catalog, policy, record) if action == "transfer" else None
    bag_name = str(bag.relative_to(ws.root)) if bag else None  # before anything is removed
    folder = (ws.root / record["pdf_path"]).parent
    archive.remove_tree(folder)
    signed = {sha for _, sha in countersign.executed_copies(catalog).get(record["record_id"], [])}
    for sha in [record["source_sha256"], *signed]:  # the inputs kept in processed/, signed copies too
        for copy in copies.get(sha, []):
            copy.unlink(missing_ok=True)
            copy.with_name(copy.name + ".note.txt").unlink(missing_ok=True)
    result = "transferred" if bag else "destroyed"
    with catalog.transaction():
        catalog.destroy(record, Tombstone(item["rule"], action, approver, _now(), proposal_id, bag_name))
        if not catalog.has_case(record["case_id"]):  # its last record: the case's data goes too
            casebook.forget(catalog, record["case_id"], records=len(catalog.tombstones_of_case(record["case_id"])))
        conn.execute("UPDATE proposal_items SET result = ? WHERE proposal_id = ? AND record_id = ?",
                     [result, proposal_id, record["record_id"]])
        _disposition_audit(conn, approver, record, proposal_id, result, bag=bag.name if bag else None)
    return result


def _set_result(catalog: Catalog, proposal_id: int, record_id: str, result: str) -> None:
    with catalog.transaction():
        catalog.conn.execute("UPDATE proposal_items SET result = ? WHERE proposal_id = ? AND record_id = ?",
                           [result, proposal_id, record_id])


def _disposition_audit(conn: Any, actor: str, record: dict[str, Any], proposal_id: int, result: str,
                       **details: Any) -> None:
    audit.append(conn, AuditEntry(actor, "disposition", result, record["record_id"], record["case_id"], details={
        "proposal": proposal_id, "sha256": record["sha256"], "record_class": record["record_class"], **details}))


def _note(catalog: Catalog, actor: str, action: str, record: dict[str, Any], proposal_id: int, why: str) -> None:
    with catalog.transaction():
        audit.append(catalog.conn, AuditEntry(actor, action, "ok", record["record_id"], record["case_id"],
                                                 details={"proposal": proposal_id, "why": why}))
        catalog.conn.execute("UPDATE proposal_items SET result = ? WHERE proposal_id = ? AND record_id = ?",
                           [f"skipped: {why}", proposal_id, record["record_id"]])


def _processed_copies(ws: Workspace) -> dict[str, list[Path]]:
    """The inputs Accord kept in ``inbox/processed/``, by SHA-256 (copies to destroy with their record)."""
    copies: dict[str, list[Path]] = {}
    for path in ws.processed.glob("*/*"):
        if path.is_file() and not path.name.endswith(".note.txt"):
            copies.setdefault(archive.sha256_file(path), []).append(path)
    return copies


def _transfer_bag(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, record: dict[str, Any]) -> Path:
    """A BagIt bag with the record's files, its metadata and its audit history."""
    import bagit

    target_root = ws.root / policy.transfer_folder
    target_root.mkdir(parents=True, exist_ok=True, mode=0o750)
    bag_dir = target_root / record["record_id"]
    if bag_dir.exists():
        shutil.rmtree(bag_dir)
    bag_dir.mkdir(mode=0o750)
    folder = (ws.root / record["pdf_path"]).parent
    for path in folder.iterdir():
        shutil.copy2(path, bag_dir / path.name)
    history = list(audit.entries(catalog.conn, record_id=record["record_id"], limit=1_000_000, newest_first=False))
    (bag_dir / "metadata.json").write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")
    (bag_dir / "audit-history.json").write_text(json.dumps(history, ensure_ascii=False, indent=2), encoding="utf-8")
    bag = bagit.make_bag(str(bag_dir), {
        "Source-Organization": "Accord",
        "External-Identifier": record["record_id"],
        "External-Description": f"{record['record_class']} record of case {record['case_id']}",
    }, checksums=["sha256"])
    if not bag.is_valid():
        raise SweepError(f"The transfer bag for {record['record_id']} did not validate; nothing was destroyed.")
    return bag_dir


def certificate_docx(proposal_row: dict[str, Any], items: list[dict[str, Any]], results: dict[str, str],
                     approver: str, office: str, when: dt.datetime) -> bytes:
    """The certificate of disposition: title, statement, the proposal's facts, then one block per record.

    Each record is a full-width label/value table, so that its id, class, case, SHA-256 and rule
    each have a line of their own and come out of the sealed PDF's text exactly as they are."""
    doc = new_document(size=10)
    doc.add_heading("Certificate of disposition", level=1)
    doc.add_paragraph(
        f"{office} certifies that the records listed below were disposed of under its retention schedules, "
        "on the proposal and approval stated here. Each record's outcome is stated with it."
    )
    details_table(doc, [
        ("Proposal", f"No. {proposal_row['id']}"),
        ("Proposed", f"{proposal_row['created_at'][:10]} by {proposal_row['proposed_by']}"),
        ("Records due by", str(proposal_row["as_of"])),
        ("Approved by", approver),
        ("Completed", when.isoformat(timespec="seconds")),
        ("Records listed", str(len(items))),
    ])
    doc.add_heading("Records", level=2)
    for number, item in enumerate(items, 1):
        _certificate_record(doc, f"Record {number} of {len(items)}", item, results.get(item["record_id"], ""))
    add_seal_place(doc)
    add_footer(doc, f"{office} \u2014 certificate of disposition, proposal {proposal_row['id']}")
    doc.core_properties.title = f"Certificate of disposition {proposal_row['id']}"
    doc.core_properties.subject = "Accord certificate of disposition"
    doc.core_properties.author = office
    return docx_bytes(doc)


def _certificate_record(doc, caption: str, item: dict[str, Any], outcome: str) -> None:
    """One record of the certificate, kept on one page with its caption."""
    details_table(doc, [
        ("Record", item["record_id"]),
        ("Class", item["record_class"]),
        ("Case", item["case_id"]),
        ("SHA-256", item["sha256"]),
        ("Retention rule", item["rule"]),
        ("Due", item["due_date"]),
        ("Outcome", outcome or "\u2014"),
    ], caption=caption, keep_together=True)


def _certificate(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, proposal_row: dict[str, Any],
                 items: list[dict[str, Any]],
                 report: ExecutionReport, approver: str, make_certificate: Callable[[bytes, str], bytes],
                 today: dt.date) -> str:
    now = dt.datetime.now(dt.timezone.utc)
    office = ws.load_config().office.name
    listing = json.dumps({"proposal": proposal_row["id"], "approver": approver, "items": items,
                          "results": report.results}, ensure_ascii=False, indent=2).encode("utf-8")
    source_sha = hashlib.sha256(listing).hexdigest()
    record_id = f"DISPOSITION-{today.isoformat()}-{proposal_row['id']}-{source_sha[:8]}"
    pdf = make_certificate(certificate_docx(proposal_row, items, report.results, approver, office, now), record_id)
    text = "\n".join(f"{i['record_id']} {i['record_class']} {i['case_id']} {report.results.get(i['record_id'], '')}"
                     for i in items)
    file_generated(ws, catalog, policy, Generated(
        record_id=record_id, record_class=CERTIFICATE_CLASS, case_id=f"DISPOSITION-{proposal_row['id']}",
        title=f"Certificate of disposition {proposal_row['id']}", pdf=pdf, source=listing,
        source_name=f"proposal-{proposal_row['id']}.json", source_sha256=source_sha, body=text),
        actor=approver, today=today, why="certificate of disposition added")
    return record_id
