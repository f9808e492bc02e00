"""Retention sweeps: what is due, proposals, approved disposition, fixity, certificates.

A sweep computes which records are due (as of now or a given date), leaves out every
record under a hold, and writes a disposition proposal; nothing is disposed of
without the approval of a user whose role allows it, unless the schedule says no
approval is needed. Executing a proposal destroys (the PDF, the source file, every
copy Accord made, the record's text in the full-text index, with SQLite's secure
delete), transfers (a BagIt bag, then destroys) or marks for review, keeps a
tombstone for each record, and ends with a certificate of disposition: a PDF listing
every record and what was done, sealed by the office and archived as a record of its
own. Each sweep also checks fixity (a rotating share, so every record is checked at
least every ``fixity_days``) and anchors the audit log.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from pipeline.documents.generated import add_footer, add_seal_place, details_table, docx_bytes, new_document
from pipeline.errors import SweepError
from pipeline.governance.duedates import recompute_due, recompute_in
from pipeline.governance.holds import active_holds_sql
from pipeline.governance.retention import RetentionPolicy, due_for
from pipeline.records import archive, audit
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog, RecordRow, utc_now
from pipeline.workspace import Workspace

CERTIFICATE_CLASS = "disposition-certificate"


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
class FixityReport:
    checked: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.changed or self.missing or self.untracked)


@dataclass
class SweepReport:
    as_of: dt.date
    due: int = 0
    held: int = 0
    by_action: dict[str, int] = field(default_factory=dict)
    proposal_id: int | None = None
    executed_proposal_id: int | None = None
    sample: list[DueItem] = field(default_factory=list)
    fixity: FixityReport | None = None
    failures_purged: int = 0
    recomputed: int = 0
    anchored: int | None = None
    preserved: Any = None


@dataclass
class ExecutionReport:
    proposal_id: int
    results: dict[str, str] = field(default_factory=dict)
    certificate_record_id: str | None = None


# --- proposals ---------------------------------------------------------------------------


def due_items(catalog: Catalog, as_of: dt.date, policy: RetentionPolicy, *, held: bool = False) -> Iterator[DueItem]:
    """Records due by ``as_of`` (streamed): not held, or only the held ones with ``held``."""
    hold = f"{'' if held else 'NOT '}EXISTS ({active_holds_sql('r.case_id', 'r.record_id')})"
    cursor = catalog.db.conn.execute(
        "SELECT r.record_id, r.record_class, r.case_id, r.sha256, r.due_date, r.retention_rule FROM records r "
        "WHERE r.due_date IS NOT NULL AND r.due_date <= ? AND r.status NOT IN ('review') "
        f"AND {hold} AND NOT EXISTS (SELECT 1 FROM proposal_items i JOIN proposals p ON p.id = i.proposal_id "
        "WHERE i.record_id = r.record_id AND p.status = 'proposed') ORDER BY r.due_date, r.record_id",
        [as_of.isoformat()],
    )
    for row in cursor:
        schedule = policy.schedule_for(row["record_class"])
        action = schedule.action if schedule else "review"
        yield DueItem(row["record_id"], row["record_class"], row["case_id"], row["sha256"], row["due_date"],
                      row["retention_rule"] or "", action)


def propose(catalog: Catalog, policy: RetentionPolicy, as_of: dt.date, *, actor: str,
            dry_run: bool = False, sample: int = 20) -> SweepReport:
    """What is due; unless ``dry_run``, a proposal awaiting approval and one for the schedules
    that need none (returned as ``executed_proposal_id`` for the caller to execute)."""
    report = SweepReport(as_of)
    report.held = catalog.db.execute(
        "SELECT count(*) FROM records r WHERE r.due_date IS NOT NULL AND r.due_date <= ? "
        f"AND EXISTS ({active_holds_sql('r.case_id', 'r.record_id')})", [as_of.isoformat()]).fetchone()[0]
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
    conn = catalog.db.conn
    with catalog.transaction():
        proposal_id = conn.execute(
            "INSERT INTO proposals (created_at, as_of, proposed_by, status) VALUES (?, ?, ?, ?)",
            [utc_now(), as_of.isoformat(), actor, "proposed" if needs_approval else "approved"],
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
    row = catalog.db.execute("SELECT * FROM proposals WHERE id = ?", [proposal_id]).fetchone()
    if row is None:
        raise SweepError(f"No disposition proposal {proposal_id}.")
    items = [dict(r) for r in catalog.db.execute(
        "SELECT * FROM proposal_items WHERE proposal_id = ? ORDER BY due_date, record_id", [proposal_id])]
    return dict(row), items


def proposals(catalog: Catalog) -> list[dict[str, Any]]:
    return [dict(r) for r in catalog.db.execute(
        "SELECT p.*, (SELECT count(*) FROM proposal_items i WHERE i.proposal_id = p.id) AS records "
        "FROM proposals p ORDER BY id DESC")]


def reject(catalog: Catalog, proposal_id: int, *, actor: str, reason: str) -> None:
    row, _ = proposal(catalog, proposal_id)
    if row["status"] != "proposed":
        raise SweepError(f"Proposal {proposal_id} is {row['status']}, not awaiting a decision.")
    with catalog.transaction():
        catalog.db.execute("UPDATE proposals SET status = 'rejected', decided_by = ?, decided_at = ? WHERE id = ?",
                           [actor, utc_now(), proposal_id])
        audit.append(catalog.db.conn, AuditEntry(actor, "disposition-rejected", "ok",
                                                 details={"proposal": proposal_id, "reason": reason}))


# --- execution ---------------------------------------------------------------------------


def execute(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, proposal_id: int, *, approver: str,
            make_certificate: Callable[[bytes, str], bytes], today: dt.date | None = None) -> ExecutionReport:
    """Carry out an approved proposal; ``make_certificate(docx, record_id)`` returns the sealed PDF."""
    row, items = proposal(catalog, proposal_id)
    if row["status"] not in ("proposed", "approved"):
        raise SweepError(f"Proposal {proposal_id} is {row['status']}; it cannot be executed.")
    as_of = dt.date.fromisoformat(row["as_of"])
    with catalog.transaction():
        catalog.db.execute("UPDATE proposals SET status = 'executing', decided_by = coalesce(decided_by, ?), "
                           "decided_at = coalesce(decided_at, ?) WHERE id = ?", [approver, utc_now(), proposal_id])
        audit.append(catalog.db.conn, AuditEntry(approver, "disposition-approved", "ok",
                                                 details={"proposal": proposal_id, "records": len(items)}))
    report = ExecutionReport(proposal_id)
    copies = _processed_copies(ws)
    for item in items:
        report.results[item["record_id"]] = _dispose(ws, catalog, policy, item, as_of, approver, proposal_id, copies)
    if any(r in ("destroyed", "transferred") for r in report.results.values()):
        _purge_free_text(catalog)
    report.certificate_record_id = _certificate(ws, catalog, policy, row, items, report, approver, make_certificate,
                                                today or dt.date.today())
    with catalog.transaction():
        catalog.db.execute("UPDATE proposals SET status = 'executed', executed_at = ?, certificate_record_id = ? "
                           "WHERE id = ?", [utc_now(), report.certificate_record_id, proposal_id])
    return report


def _dispose(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, item: dict[str, Any], as_of: dt.date,
             approver: str, proposal_id: int, copies: dict[str, list[Path]]) -> str:
    conn = catalog.db.conn
    record = catalog.find(item["record_id"])
    if record is None:
        return "already gone"
    held = conn.execute(active_holds_sql(":case", ":record"),
                        {"case": record["case_id"], "record": record["record_id"]}).fetchone()
    if held:
        _note(catalog, approver, "disposition-skipped", record, proposal_id, "under a legal hold")
        return "skipped: under a legal hold"
    if not record["due_date"] or record["due_date"] > as_of.isoformat():
        _note(catalog, approver, "disposition-skipped", record, proposal_id, "no longer due")
        return "skipped: no longer due"
    action = item["action"]
    if action == "review":
        with catalog.transaction():
            conn.execute("UPDATE records SET status = 'review' WHERE record_id = ?", [record["record_id"]])
            _disposition_audit(conn, approver, record, proposal_id, "review")
        _set_result(catalog, proposal_id, record["record_id"], "marked for review")
        return "marked for review"
    if action not in ("destroy", "transfer"):
        return f"skipped: action {action}"
    bag = _transfer_bag(ws, catalog, policy, record) if action == "transfer" else None
    bag_name = str(bag.relative_to(ws.root)) if bag else None  # before anything is removed
    folder = (ws.root / record["pdf_path"]).parent
    archive.remove_tree(folder)
    signed = [r[0] for r in conn.execute("SELECT DISTINCT executed_sha256 FROM signatures WHERE record_id = ?",
                                         [record["record_id"]])]
    for sha in [record["source_sha256"], *signed]:  # the inputs kept in processed/, signed copies too
        for copy in copies.get(sha, []):
            copy.unlink(missing_ok=True)
            copy.with_name(copy.name + ".note.txt").unlink(missing_ok=True)
    result = "transferred" if bag else "destroyed"
    with catalog.transaction():
        rowid = conn.execute("SELECT rowid FROM records WHERE record_id = ?", [record["record_id"]]).fetchone()[0]
        conn.execute("DELETE FROM records_fts WHERE rowid = ?", [rowid])
        conn.execute("DELETE FROM records WHERE record_id = ?", [record["record_id"]])
        conn.execute("DELETE FROM record_ids WHERE record_id = ?", [record["record_id"]])
        conn.execute(
            "INSERT OR REPLACE INTO tombstones (record_id, record_class, case_id, sha256, source_sha256, created, "
            "due_date, rule, action, approver, disposed_at, proposal_id, bag) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [record["record_id"], record["record_class"], record["case_id"], record["sha256"],
             record["source_sha256"], record["created"], record["due_date"], item["rule"], action, approver,
             utc_now(), proposal_id, bag_name],
        )
        if not conn.execute("SELECT 1 FROM records WHERE case_id = ? LIMIT 1", [record["case_id"]]).fetchone():
            conn.execute("DELETE FROM events WHERE case_id = ?", [record["case_id"]])
        conn.execute("UPDATE proposal_items SET result = ? WHERE proposal_id = ? AND record_id = ?",
                     [result, proposal_id, record["record_id"]])
        _disposition_audit(conn, approver, record, proposal_id, result, bag=bag.name if bag else None)
    return result


def _set_result(catalog: Catalog, proposal_id: int, record_id: str, result: str) -> None:
    with catalog.transaction():
        catalog.db.execute("UPDATE proposal_items SET result = ? WHERE proposal_id = ? AND record_id = ?",
                           [result, proposal_id, record_id])


def _disposition_audit(conn: Any, actor: str, record: dict[str, Any], proposal_id: int, result: str,
                       **details: Any) -> None:
    audit.append(conn, AuditEntry(actor, "disposition", result, record["record_id"], record["case_id"], details={
        "proposal": proposal_id, "sha256": record["sha256"], "record_class": record["record_class"], **details}))


def _note(catalog: Catalog, actor: str, action: str, record: dict[str, Any], proposal_id: int, why: str) -> None:
    with catalog.transaction():
        audit.append(catalog.db.conn, AuditEntry(actor, action, "ok", record["record_id"], record["case_id"],
                                                 details={"proposal": proposal_id, "why": why}))
        catalog.db.execute("UPDATE proposal_items SET result = ? WHERE proposal_id = ? AND record_id = ?",
                           [f"skipped: {why}", proposal_id, record["record_id"]])


def _processed_copies(ws: Workspace) -> dict[str, list[Path]]:
    """The inputs Accord kept in ``inbox/processed/``, by SHA-256 (copies to destroy with their record)."""
    copies: dict[str, list[Path]] = {}
    for path in ws.processed.glob("*/*"):
        if path.is_file() and not path.name.endswith(".note.txt"):
            copies.setdefault(archive.sha256_file(path), []).append(path)
    return copies


def _purge_free_text(catalog: Catalog) -> None:
    """Merge the full-text index so deleted text leaves its segments, and flush the WAL:
    with ``secure_delete`` on, freed pages are overwritten, so no text stays in the file."""
    conn = catalog.db.conn
    conn.execute("INSERT INTO records_fts(records_fts) VALUES ('optimize')")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


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
    history = list(audit.entries(catalog.db.conn, record_id=record["record_id"], limit=1_000_000, newest_first=False))
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


# --- the certificate of disposition -------------------------------------------------------


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
    stored = archive.write_record(ws.archive, record_id, now.year, pdf, listing, ".json")
    from pipeline.documents.seal import describe_sealed

    sealed = describe_sealed(pdf)
    row = RecordRow(
        record_id=record_id, template=CERTIFICATE_CLASS, record_class=CERTIFICATE_CLASS,
        case_id=f"DISPOSITION-{proposal_row['id']}", title=f"Certificate of disposition {proposal_row['id']}",
        parties=[], record_date=today.isoformat(), created=now.isoformat(timespec="seconds"),
        pdf_path=str(stored.pdf.relative_to(ws.root)), source_path=str(stored.source.relative_to(ws.root)),
        source_name=f"proposal-{proposal_row['id']}.json", source_sha256=source_sha, size=stored.size,
        pages=sealed.pages, sha256=stored.sha256, signature_level=sealed.level, signer=sealed.signer,
        signature_fields=[],
    )
    text = "\n".join(f"{i['record_id']} {i['record_class']} {i['case_id']} {report.results.get(i['record_id'], '')}"
                     for i in items)
    catalog.add_record(row, body=text, actor=approver, after=lambda conn: recompute_in(
        conn, policy, actor=approver, why="certificate of disposition added", case_ids=[row.case_id]))
    return record_id


# --- fixity and failure reports ------------------------------------------------------------


def fixity_check(ws: Workspace, catalog: Catalog, as_of: dt.date, fixity_days: int, *, actor: str,
                 everything: bool = False) -> FixityReport:
    """Check the records not checked for ``fixity_days - 1`` days (or all): changed, missing, untracked.

    A record's files are its sealed PDF, its source file and every copy the parties signed."""
    report = FixityReport()
    cutoff = (as_of - dt.timedelta(days=max(fixity_days - 1, 0))).isoformat()
    where = "" if everything else "WHERE fixity_checked_at IS NULL OR fixity_checked_at < ?"
    rows = catalog.db.execute(f"SELECT record_id, pdf_path, sha256, source_path, source_sha256 FROM records {where}",
                              [] if everything else [cutoff]).fetchall()
    now = utc_now()
    results = []
    executed: dict[str, list[tuple[str, str]]] = {}
    for record_id, rel, expected in catalog.db.execute(
            "SELECT DISTINCT record_id, executed_path, executed_sha256 FROM signatures ORDER BY record_id, version"):
        executed.setdefault(record_id, []).append((rel, expected))
    for row in rows:
        outcome, actual = "ok", None
        for label, rel, expected in (("pdf", row["pdf_path"], row["sha256"]),
                                     ("source", row["source_path"], row["source_sha256"]),
                                     *(("executed", r, e) for r, e in executed.get(row["record_id"], ()))):
            path = ws.root / rel
            if not path.is_file():
                outcome = "missing"
                continue
            digest = archive.sha256_file(path)
            actual = digest if label == "pdf" else actual
            if digest != expected and outcome != "missing":
                outcome = "changed"
        if outcome == "missing":
            report.missing.append(row["record_id"])
        elif outcome == "changed":
            report.changed.append(row["record_id"])
        results.append((now, row["record_id"], outcome, row["sha256"], actual))
        report.checked += 1
    known = {r[0] for r in catalog.db.execute("SELECT record_id FROM records")}
    for folder in archive.record_folders(ws.archive):
        if folder.name not in known and not catalog.db.execute(
                "SELECT 1 FROM tombstones WHERE record_id = ?", [folder.name]).fetchone():
            report.untracked.append(str(folder.relative_to(ws.root)))
    with catalog.transaction():
        catalog.db.conn.executemany("INSERT INTO fixity (checked_at, record_id, outcome, expected, actual) "
                                    "VALUES (?, ?, ?, ?, ?)", results)
        catalog.db.conn.executemany("UPDATE records SET fixity_checked_at = ? WHERE record_id = ?",
                                    [(as_of.isoformat(), r[1]) for r in results])
        audit.append(catalog.db.conn, AuditEntry(actor, "fixity-check", "ok" if report.ok else "problems", details={
            "checked": report.checked, "changed": report.changed, "missing": report.missing,
            "untracked": report.untracked}))
    return report


def purge_failures(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, as_of: dt.date, *, actor: str) -> int:
    """Failed inputs past their schedule (``failure-report``): the file and its reason files are destroyed."""
    schedule = policy.schedule_for("failure-report")
    if schedule is None or schedule.action != "destroy" or schedule.approval:
        return 0
    purged = 0
    for row in catalog.db.execute("SELECT * FROM failures WHERE purged_at IS NULL").fetchall():
        due = due_for(schedule, {"created": dt.date.fromisoformat(row["failed_at"][:10])})
        if due.date is None or due.date > as_of:
            continue
        path = ws.root / row["failed_path"]
        # Names in failed/ are never reused, so the reason files beside failed_path are this failure's
        # report and go with it. The input goes too when it is the file that failed (by its SHA-256); a
        # file of other bytes put there by hand is left alone.
        same = path.is_file() and not path.is_symlink() and archive.sha256_file(path) == row["sha256"]
        victims = [path.with_name(path.name + ".reason.txt"), path.with_name(path.name + ".reason.json")]
        if same or (path.is_symlink() and not row["sha256"]):
            victims.append(path)
        for victim in victims:
            if victim.is_file() or victim.is_symlink():
                victim.unlink()
        with catalog.transaction():
            catalog.db.execute("UPDATE failures SET purged_at = ?, reason = '' WHERE id = ?", [utc_now(), row["id"]])
            audit.append(catalog.db.conn, AuditEntry(actor, "disposition", "destroyed", details={
                "failure": row["id"], "sha256": row["sha256"], "rule": schedule.rule}))
        purged += 1
    return purged


# --- the whole sweep -----------------------------------------------------------------------


def policy_fingerprint(ws: Workspace) -> str:
    from pipeline.governance.retention import SCHEDULES_FILE

    path = ws.policies / SCHEDULES_FILE
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def recompute_if_policy_changed(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, actor: str) -> int:
    """Recompute every due date when the schedules differ from those last applied."""
    fingerprint = policy_fingerprint(ws)
    last = next(audit.entries(catalog.db.conn, action="retention-policy", limit=1), None)
    if last and last["details"].get("sha256") == fingerprint:
        return 0
    changed = recompute_due(catalog, policy, actor=actor, why="the retention schedules changed")
    catalog.audit(AuditEntry(actor, "retention-policy", "ok", details={"sha256": fingerprint, "moved": changed}))
    return changed


def run_sweep(ws: Workspace, catalog: Catalog, policy: RetentionPolicy, as_of: dt.date, *, actor: str,
              dry_run: bool = False, make_certificate: Callable[[bytes, str], bytes] | None = None,
              anchor: Callable[[], Any] | None = None, preserve: Callable[[], Any] | None = None) -> SweepReport:
    """One sweep: due dates, a proposal, dispositions that need no approval, failure reports,
    fixity, preservation of long-term seals, and an anchor of the audit log."""
    if dry_run:
        return propose(catalog, policy, as_of, actor=actor, dry_run=True)
    recomputed = recompute_if_policy_changed(ws, catalog, policy, actor)
    report = propose(catalog, policy, as_of, actor=actor)
    report.recomputed = recomputed
    if report.executed_proposal_id and make_certificate:
        execute(ws, catalog, policy, report.executed_proposal_id, approver=f"{actor} (no approval required)",
                make_certificate=make_certificate, today=as_of)
    report.failures_purged = purge_failures(ws, catalog, policy, as_of, actor=actor)
    report.fixity = fixity_check(ws, catalog, as_of, policy.fixity_days, actor=actor)
    if preserve:
        report.preserved = preserve()
    if anchor:
        report.anchored = anchor().head_seq
    return report
