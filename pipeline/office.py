"""A workspace opened for one person: every search, view and retrieval decided and audited.

The command line passes the operating-system user; the portal passes its signed-in
user. Records the person may not see are neither listed nor counted, and asking for
one answers exactly as for a record that does not exist. Every request for a record,
allowed or denied, is written to the audit log (FERPA's record of disclosures).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pipeline.cases import admission, casebook
from pipeline.config import Config
from pipeline.documents.templates import load_templates
from pipeline.documents.trust import TrustRoots
from pipeline.errors import AccessDenied, AccordError, IntakeError, RecordNotFound, VerificationFailed, Waiting
from pipeline.governance import disposition, holds, sweep
from pipeline.governance.access import (
    ACCESS_FILE,
    AccessPolicy,
    Actor,
    RecordFacts,
    decide,
    decide_case,
    folder_owner,
    grant,
    load_policy,
    policy_for,
    search_filter,
)
from pipeline.governance.accounts import Accounts, check_password
from pipeline.governance.duedates import recompute_in
from pipeline.governance.retention import RetentionPolicy, load_retention
from pipeline.intake.eventfile import check_row
from pipeline.records import anchor, audit, countersign
from pipeline.records.anchor import anchor_head
from pipeline.records.audit import AuditEntry, ChainReport
from pipeline.records.catalog import Catalog
from pipeline.records.events import EVENT_NAMES
from pipeline.records.preserve import PreserveReport, preserve
from pipeline.records.retrieve import verified_copy, verified_executed_copy, verify_record
from pipeline.records.search import SearchQuery, search_page
from pipeline.records.verify import VerifyReport
from pipeline.store import open_catalog
from pipeline.workspace import Workspace, init_workspace

MAX_PURPOSE = 500


@dataclass(frozen=True)
class SearchResult:
    records: list[dict[str, Any]]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class Retrieval:
    record: dict[str, Any]
    data: bytes
    report: VerifyReport


@dataclass(frozen=True)
class AuditStatus:
    head: dict[str, Any] | None
    """The newest entry: seq, hash, at."""
    last_anchor: dict[str, Any] | None
    """The newest anchor: head_seq, at."""
    tail: ChainReport
    """Whether the newest entries hold together."""


@dataclass
class AuditReport:
    chain: ChainReport
    anchors: list[str] = field(default_factory=list)
    anchor_problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.chain.ok and self.chain.protected and not self.anchor_problems

    @property
    def trigger_problems(self) -> list[str]:
        return self.chain.trigger_problems


def _delivery_failure(exc: BaseException) -> str:
    """Why a delivery failed, without the place it was going to (a path may say more than the log should)."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, AccordError):
        return str(exc)
    return f"interrupted ({type(exc).__name__})"


def _digest(text: str | None) -> str | None:
    return hashlib.sha256(text.encode("utf-8")).hexdigest() if text else None


def config_fingerprint(ws: Workspace) -> dict[str, str]:
    """SHA-256 of every file that configures the workspace."""
    files = [ws.config_file, *sorted(ws.policies.glob("*.yaml")), *sorted(ws.templates.glob("*.yaml")),
             *sorted(ws.templates.glob("*.docx"))]
    return {str(p.relative_to(ws.root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files if p.is_file()}


def note_config_change(ws: Workspace, catalog: Catalog, actor: str) -> bool:
    """Append a ``config-change`` audit entry when the configuration differs from the last one seen."""
    files = config_fingerprint(ws)
    last = next(audit.entries(catalog.conn, action="config-change", limit=1), None)
    if last and last["details"].get("files") == files:
        return False
    changed = sorted(k for k in files.keys() | (last["details"].get("files", {}).keys() if last else set())
                     if not last or last["details"]["files"].get(k) != files.get(k))
    catalog.audit(AuditEntry(actor, "config-change", details={"files": files, "changed": changed}))
    return True


class OfficeSession:
    """What one person may do with a workspace's records."""

    def __init__(self, ws: Workspace, actor: Actor, *, config: Config | None = None,
                 policy: AccessPolicy | None = None, catalog: Catalog | None = None):
        """``catalog``: an open catalog to borrow (the portal's, per thread); the caller then notes
        configuration changes itself, once at its start, and closes it."""
        self.ws = ws
        self.actor = actor
        self.config = config or ws.load_config()
        self.policy = policy or policy_for(ws.root, ws.policies)
        self._owns_catalog = catalog is None
        self.catalog = catalog or open_catalog(ws.catalog)
        if self._owns_catalog:
            note_config_change(ws, self.catalog, actor.name)

    @functools.cached_property
    def trust(self) -> TrustRoots:
        """The roots seals and signatures must chain to, read once per session."""
        return TrustRoots.of(self.ws, self.config)

    def close(self) -> None:
        if self._owns_catalog:
            self.catalog.close()

    def __enter__(self) -> "OfficeSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- records ----------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        allowed = decide(self.policy, self.actor, "search")
        if not allowed:
            self.record_audit("search", "denied", details={"reason": allowed.reason})
            raise AccessDenied(f"You may not search this catalog: {allowed.reason}.")
        visible = search_filter(self.policy, self.actor, "search")
        records, total = search_page(self.catalog, query, visible)
        for record in records:
            record["held"] = bool(holds.holds_on(self.catalog, record))
        # Query words may be names: the log keeps their hash, so text disposed of never lingers here.
        self.record_audit("search", "ok", details={
            "query_sha256": _digest(query.text), "party_sha256": _digest(query.party),
            "template": query.template, "case_id": query.case_id,
            "record_class": query.record_class, "status": query.status,
            "from": query.date_from.isoformat() if query.date_from else None,
            "to": query.date_to.isoformat() if query.date_to else None, "results": total,
        })
        return SearchResult(records, total or 0, query.limit, query.offset)

    def show(self, record_id: str) -> dict[str, Any]:
        """A record's metadata and holds; a record the person may not view answers as one that does not exist."""
        record = self.visible(record_id, "view")
        record["holds"] = [{"id": h.id, "name": h.name, "reason": h.reason, "author": h.author,
                            "placed_at": h.placed_at} for h in holds.holds_on(self.catalog, record)]
        return record

    def retrieve(self, record_id: str, purpose: str, executed: bool = False,
                 deliver: Callable[[bytes], None] | None = None) -> Retrieval:
        """The sealed PDF (or, with ``executed``, the newest copy the parties signed), for a stated
        purpose, after its checksum and signatures verify.

        ``deliver`` receives the verified bytes (writes them to a file, a stream...); the disclosure is
        audited as ``ok`` only once it returns, and as ``failed``, with the reason, if it raises (an
        ``OSError`` becomes an :class:`AccordError` saying the record was not delivered). Without it the
        bytes are delivered into memory, in the returned :class:`Retrieval`.
        """
        purpose = " ".join((purpose or "").split())
        if not purpose:
            raise AccordError("State the purpose of the request (the legitimate interest): --purpose \"...\".")
        if len(purpose) > MAX_PURPOSE:
            raise AccordError(f"The purpose may be at most {MAX_PURPOSE} characters.")
        record = self.visible(record_id, "retrieve", purpose=purpose, audit_allowed=False)
        copy = "executed" if executed else "sealed"
        try:
            if executed:
                data, report = verified_executed_copy(self.ws, record, countersign.signatures_for(self.catalog, record_id),
                                                      self.trust)
            else:
                data, report = verified_copy(self.ws, record, self.trust)
        except VerificationFailed as exc:
            self.record_audit("retrieve", "refused", record, purpose, {"problems": exc.problems, "copy": copy})
            raise
        released = {"sha256": report.actual_sha256, "size": len(data), "copy": copy}
        try:
            if deliver is not None:
                deliver(data)
        except BaseException as exc:  # even an interruption: what was asked for and not handed over is on record
            reason = _delivery_failure(exc)
            self.record_audit("retrieve", "failed", record, purpose, {**released, "reason": reason})
            if isinstance(exc, OSError):
                raise AccordError(f"Record {record['record_id']} was verified but not delivered: {reason}.") from None
            raise
        path = record["executed_path"] if executed else record["pdf_path"]
        self.record_audit("retrieve", "ok", record, purpose, {"released": path.rsplit("/", 1)[-1], **released})
        return Retrieval(record, data, report)

    def verify(self, record_id: str | None = None) -> list[VerifyReport]:
        roots = self.trust
        if record_id:
            records = [self.visible(record_id, "view")]
        else:
            records = list(self.catalog.all_records(search_filter(self.policy, self.actor, "view")))
        return [verify_record(self.ws, r, roots) for r in records]

    def visible(self, record_id: str, action: str, purpose: str | None = None,
                 audit_allowed: bool = True) -> dict[str, Any]:
        record = self.catalog.find(record_id)
        decision = decide(self.policy, self.actor, action, RecordFacts.of(record)) if record else None
        if record is None or not decision:
            reason = decision.reason if decision is not None else "no such record"
            self.record_audit(action, "denied", record, purpose, {"requested": record_id, "reason": reason})
            raise RecordNotFound(f"No record {record_id!r}.")
        if audit_allowed:
            self.record_audit(action, "ok", record, purpose)
        return record

    # --- audit ------------------------------------------------------------------------------

    def require(self, action: str) -> None:
        decision = decide(self.policy, self.actor, action)
        if not decision:
            self.record_audit(action, "denied", details={"reason": decision.reason})
            raise AccessDenied(f"You may not do this: {decision.reason}.")

    def audit_log(self, **filters: Any) -> list[dict[str, Any]]:
        """Entries matching ``filters`` (see :func:`audit.entries`); a ``since`` or ``until`` that is not a date
        or time is refused before anything is read or audited."""
        self.require("read-audit")
        audit.time_bounds(filters.get("since"), filters.get("until"))
        self.record_audit("read-audit", "ok", details={k: v for k, v in filters.items() if v})
        return list(audit.entries(self.catalog.conn, **filters))

    def disclosures(self, record_id: str) -> list[dict[str, Any]]:
        """FERPA's record of requests for and disclosures of one record."""
        self.require("read-audit")
        self.record_audit("read-audit", "ok", details={"disclosures": record_id})
        return audit.disclosures(self.catalog.conn, record_id)

    def audit_status(self, entries: int = 500) -> AuditStatus:
        """A quick look at the log: its head, its last anchor, and whether the newest ``entries``
        entries hold together (the whole check is :meth:`verify_audit`)."""
        self.require("read-audit")
        conn = self.catalog.conn
        head = audit.head(conn)
        tail = audit.verify_chain(conn, start_seq=max(1, (head["seq"] if head else 0) - entries + 1))
        return AuditStatus(head, audit.last_anchor(conn), tail)

    def verify_audit(self) -> AuditReport:
        self.require("read-audit")
        conn = self.catalog.conn
        chain = audit.verify_chain(conn)
        report = AuditReport(chain)
        roots = self.trust
        for path in anchor.anchor_files(self.ws.archive):
            report.anchors.append(path.name)
            report.anchor_problems.extend(anchor.check_anchor(path, roots, lambda seq: audit.hash_at(conn, seq)))
        return report

    def write_anchor(self, converter: Any, sealer: Any) -> anchor.AnchorFile:
        """Seal the log's head into an anchor document under ``archive/anchors/``."""
        self.require("read-audit")
        return anchor_head(self.ws, self.catalog, converter, sealer, self.config.office.name, self.actor.name)

    def record_audit(self, action: str, outcome: str, record: dict[str, Any] | None = None, purpose: str | None = None,
                     details: dict[str, Any] | None = None, case_id: str | None = None) -> None:
        self.catalog.audit(AuditEntry(
            self.actor.name, action, outcome,
            record["record_id"] if record else None, record["case_id"] if record else case_id,
            purpose, {**(details or {}), "via": self.actor.via},
        ))


def found_office(path: Path, owner: str) -> Workspace:
    """A new workspace (``accord init``) with ``owner``, the user who made it, written into
    ``access.yaml`` holding every role, so a one-person office works at once."""
    ws = init_workspace(path)
    access = ws.policies / ACCESS_FILE
    grant(access, owner, load_policy(access).roles, cases=("*",),
          comment="The owner, written by accord init: holds every role, on every case, until the roles are split.")
    return ws


def enrol(ws: Workspace, accounts: Accounts, name: str, roles: tuple[str, ...], cases: tuple[str, ...],
          password: str, actor: str) -> bool:
    """A new portal account: the name free and well formed, the password long enough, the roles known;
    the name listed in ``access.yaml`` with its roles (unless it is already), then the account made
    and audited. A refusal changes nothing. Returns whether ``access.yaml`` was changed."""
    accounts.check_new(name)
    check_password(password, name)
    listed = grant(ws.policies / ACCESS_FILE, name, roles, cases, folder_owner(ws.root))
    accounts.add(name, password)
    with open_catalog(ws.catalog) as catalog:
        catalog.audit(AuditEntry(actor, "account-add", "ok", details={"account": name, "roles": list(roles),
                                                                       "cases": list(cases)}))
    return listed


#: Events the records officer's hold right may record on any case: the ones retention looks at.
RETENTION_EVENTS = frozenset({"case-closed", "case-reopened", "agreement-expired", "agreement-terminated"})


def record_event(session: OfficeSession, policy: RetentionPolicy, today: dt.date, case_id: str, event: str,
                 date: dt.date, note: str = "", party: str = "", term: int | None = None) -> int:
    """Record one event against a case: checked as an event file's row is, admitted by the case's phase
    (``cases/admission``), with the due dates it moves, in one transaction; returns 1 if it was new.

    A case's events need the manage-case right on it; the events retention looks at (a closure, an
    expiry) may also be recorded with the hold right, on any subject with records (an MOU)."""
    catalog, actor = session.catalog, session.actor
    name = EVENT_NAMES.get(event.strip().lower())
    if name is None:
        raise AccordError(f"Unknown event {event!r}; events: {', '.join(sorted(set(EVENT_NAMES.values())))}.")
    registered = casebook.exists(catalog, case_id)
    managing = registered and decide_case(session.policy, actor, "manage-case", case_id)
    keeping = name in RETENTION_EVENTS and decide(session.policy, actor, "hold")
    if not (registered or catalog.has_case(case_id)) or not (managing or keeping):
        seen = registered and decide_case(session.policy, actor, "view-case", case_id)
        session.record_audit("manage-case", "denied", details={"event": name}, case_id=case_id)
        if seen or (not registered and catalog.has_case(case_id) and decide(session.policy, actor, "view")):
            raise AccessDenied(f"You may not record {name} for case {case_id}.")
        raise RecordNotFound(f"No record belongs to case {case_id!r}.")
    found, problems = check_row("", {"case_id": case_id, "event": name, "date": date, "note": note,
                                     "party": party, "term": term})
    if problems:
        raise AccordError(f"The event was not recorded: {'; '.join(p.lstrip(': ') for p in problems)}.")
    why = f"event {name} added by {actor.name}"
    source = {"portal": "the portal"}.get(actor.via, "accord event add")
    try:
        with catalog.transaction():
            new = admission.take_events(catalog, [found], [""], today, source, "", actor.name, what="event",
                                        via=actor.via)
            recompute_in(catalog, policy, actor=actor.name, why=why, case_ids=[case_id])
    except (IntakeError, Waiting) as refused:  # nothing more can arrive while one waits at the desk
        session.record_audit("event", "refused", details={"event": name, "reason": str(refused)}, case_id=case_id)
        raise AccordError(str(refused)) from None
    return new


class RetentionDesk:
    """Holds, events, sweeps and dispositions for one person (rights checked, everything audited).

    ``today`` is the office's clock: a sweep as of a later day may only look ahead (a dry run)."""

    def __init__(self, session: OfficeSession, record_classes: set[str] | None = None, *,
                 today: Callable[[], dt.date] = dt.date.today):
        """``record_classes``: the templates' record classes, when the caller has them already
        (reading the templates takes about 75 ms)."""
        self.session = session
        self.today = today
        if record_classes is None:
            record_classes = {t.record_class for t in load_templates(session.ws.templates).values()}
        self.policy = load_retention(session.ws.policies, record_classes)

    def __enter__(self) -> "RetentionDesk":
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    @property
    def catalog(self) -> Catalog:
        return self.session.catalog

    @property
    def actor(self) -> str:
        return self.session.actor.name

    def place_hold(self, *, name: str, reason: str, case_id: str | None = None, record_id: str | None = None,
                   search: str | None = None) -> holds.Hold:
        self.session.require("hold")
        if record_id:
            self.session.visible(record_id, "view")
        visible = search_filter(self.session.policy, self.session.actor, "view")
        return holds.place(self.catalog, name=name, reason=reason, author=self.actor, case_id=case_id,
                           record_id=record_id, search=search, visible=visible)

    def release_hold(self, hold_id: int, reason: str) -> holds.Hold:
        self.session.require("hold")
        return holds.release(self.catalog, hold_id, by=self.actor, reason=reason)

    def holds(self, include_released: bool = False) -> list[holds.Hold]:
        self.session.require("hold")
        return holds.listing(self.catalog, include_released)

    def add_event(self, case_id: str, event: str, date: dt.date, note: str = "", party: str = "",
                  term: int | None = None) -> int:
        """Record one event against a case (see :func:`record_event`)."""
        return record_event(self.session, self.policy, self.today(), case_id, event, date, note, party, term)

    def sweep(self, as_of: dt.date | None = None, *, dry_run: bool = False, converter: Any = None,
              sealer: Any = None) -> sweep.SweepReport:
        """A sweep as of ``as_of`` (default today); with a converter and the sealer it also writes the
        certificates of dispositions that need no approval and anchors the audit log."""
        self.session.require("approve-disposition")
        sealing = sweep.Sealing(converter, sealer) if converter is not None else None
        return sweep.run_sweep(self.session.ws, self.catalog, self.session.config, self.policy, as_of or self.today(),
                               actor=self.actor, today=self.today(), dry_run=dry_run, sealing=sealing)

    def preserve(self, as_of: dt.date | None = None) -> PreserveReport:
        """Renew the archival time-stamps of records whose protection expires within the window."""
        self.session.require("approve-disposition")
        return preserve(self.session.ws, self.catalog, self.session.config, as_of=as_of, actor=self.actor)

    def proposals(self) -> list[dict[str, Any]]:
        self.session.require("approve-disposition")
        return disposition.proposals(self.catalog)

    def proposal(self, proposal_id: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        self.session.require("approve-disposition")
        return disposition.proposal(self.catalog, proposal_id)

    def approve(self, proposal_id: int, converter: Any, sealer: Any) -> disposition.ExecutionReport:
        self.session.require("approve-disposition")
        return disposition.execute(self.session.ws, self.catalog, self.policy, proposal_id, approver=self.actor,
                                   make_certificate=sweep.Sealing(converter, sealer).seal, today=self.today())

    def reject(self, proposal_id: int, reason: str) -> None:
        self.session.require("approve-disposition")
        disposition.reject(self.catalog, proposal_id, actor=self.actor, reason=reason)
