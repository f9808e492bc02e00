"""The catalog: one SQLite file (sqlite-utils) with a row per record and a full-text index.

WAL mode and a busy timeout let several workers share it; each write is one
transaction. Schema changes go through numbered migrations. The full-text index
(FTS5, ``unicode61 remove_diacritics 2``) holds the document's text as written,
so names are found exactly as typed, and with or without their accents.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import re
import sqlite3
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlite_utils

from pipeline.errors import CatalogError, RecordNotFound
from pipeline.records import audit
from pipeline.records.audit import AuditEntry
from pipeline.text import searchable

BUSY_TIMEOUT_MS = 30_000
#: Page cache per connection (KiB): index inserts and searches on large catalogs stay in memory.
CACHE_KIB = 64 * 1024


@dataclass(frozen=True)
class RecordRow:
    """What the catalog keeps about one record."""

    record_id: str
    template: str
    record_class: str
    case_id: str
    title: str
    parties: list[str]
    record_date: str | None
    created: str
    pdf_path: str
    source_path: str
    source_name: str
    source_sha256: str
    size: int
    pages: int
    sha256: str
    signature_level: str
    signer: str
    signature_fields: list[str]
    status: str = "sealed"
    supersedes: str | None = None


@dataclass(frozen=True)
class SignatureRow:
    """One party signature in an executed copy of a record (countersign)."""

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


@dataclass(frozen=True)
class SearchQuery:
    text: str | None = None
    template: str | None = None
    case_id: str | None = None
    party: str | None = None
    record_class: str | None = None
    status: str | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class FailureRow:
    source_name: str
    sha256: str
    step: str
    reason: str
    failed_at: str
    failed_path: str


def _m0001_records(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE records (
            record_id TEXT PRIMARY KEY,
            template TEXT NOT NULL,
            record_class TEXT NOT NULL,
            case_id TEXT NOT NULL,
            title TEXT NOT NULL,
            parties TEXT NOT NULL,
            record_date TEXT,
            created TEXT NOT NULL,
            pdf_path TEXT NOT NULL,
            source_path TEXT NOT NULL,
            source_name TEXT NOT NULL,
            source_sha256 TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            pages INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            signature_level TEXT NOT NULL,
            signer TEXT NOT NULL,
            signature_fields TEXT NOT NULL,
            status TEXT NOT NULL,
            supersedes TEXT
        )
        """
    )
    db.execute("CREATE INDEX records_case ON records(case_id)")
    db.execute("CREATE INDEX records_created ON records(created)")
    db.execute("CREATE INDEX records_template ON records(template, created)")
    db.execute(
        """
        CREATE VIRTUAL TABLE records_fts USING fts5(
            title, case_id, parties, body,
            tokenize = "unicode61 remove_diacritics 2"
        )
        """
    )
    db.execute(
        """
        CREATE TABLE failures (
            id INTEGER PRIMARY KEY,
            source_name TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            step TEXT NOT NULL,
            reason TEXT NOT NULL,
            failed_at TEXT NOT NULL,
            failed_path TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX failures_at ON failures(failed_at)")


def _m0002_events(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            case_id TEXT NOT NULL,
            event TEXT NOT NULL,
            date TEXT NOT NULL,
            note TEXT NOT NULL,
            source_name TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            UNIQUE (case_id, event, date)
        )
        """
    )
    db.execute("CREATE INDEX events_case ON events(case_id, date)")


def _m0004_retention(db: sqlite_utils.Database) -> None:
    for column in ("due_date", "due_reason", "retention_rule", "fixity_checked_at"):
        db.execute(f"ALTER TABLE records ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX records_due ON records(due_date)")
    db.execute("CREATE INDEX records_fixity ON records(fixity_checked_at)")
    db.execute("ALTER TABLE failures ADD COLUMN purged_at TEXT")
    db.execute(
        """
        CREATE TABLE holds (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            reason TEXT NOT NULL,
            author TEXT NOT NULL,
            placed_at TEXT NOT NULL,
            scope_kind TEXT NOT NULL,
            scope_value TEXT NOT NULL,
            released_at TEXT,
            released_by TEXT,
            release_reason TEXT
        )
        """
    )
    db.execute("CREATE TABLE hold_items (hold_id INTEGER NOT NULL, record_id TEXT NOT NULL, "
               "PRIMARY KEY (hold_id, record_id))")
    db.execute("CREATE INDEX hold_items_record ON hold_items(record_id)")
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
    db.execute(
        """
        CREATE TABLE tombstones (
            record_id TEXT PRIMARY KEY,
            record_class TEXT NOT NULL,
            case_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            source_sha256 TEXT NOT NULL,
            created TEXT NOT NULL,
            due_date TEXT,
            rule TEXT NOT NULL,
            action TEXT NOT NULL,
            approver TEXT NOT NULL,
            disposed_at TEXT NOT NULL,
            proposal_id INTEGER,
            bag TEXT
        )
        """
    )
    db.execute(
        """
        CREATE TABLE fixity (
            id INTEGER PRIMARY KEY,
            checked_at TEXT NOT NULL,
            record_id TEXT NOT NULL,
            outcome TEXT NOT NULL,
            expected TEXT,
            actual TEXT
        )
        """
    )


# --- countersign: party signatures (pipeline/countersign.py) --------------------------------

def _m0005_signatures(db: sqlite_utils.Database) -> None:
    """One row per party signature brought into a record; the record points at its newest executed copy.
    Rows go with their record (``ON DELETE CASCADE``): a disposed record keeps no signer names."""
    db.execute("ALTER TABLE records ADD COLUMN executed_path TEXT")
    db.execute("ALTER TABLE records ADD COLUMN executed_sha256 TEXT")
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


def _m0006_versions(db: sqlite_utils.Database) -> None:
    """The versions of one document of one case, found by both keys (the template index alone made
    the planner walk every record of the template: 70 ms on 100,000 records)."""
    db.execute("CREATE INDEX records_case_template ON records(case_id, template, created)")


def _m0007_protection(db: sqlite_utils.Database) -> None:
    """What ``accord preserve`` last found about a record's seal: protected until when, judged on which
    bytes (SHA-256, and the file's size, time and inode) and with which settings; so a record far
    from expiry is not read again on every run."""
    for column in ("protection_until", "protection_key", "protection_sha256", "protection_stat"):
        db.execute(f"ALTER TABLE records ADD COLUMN {column} TEXT")


def _m0008_record_ids(db: sqlite_utils.Database) -> None:
    """Record ids handed out, by the SHA-256 of the source file they were given to: an id is the
    case id and the shortest prefix (8 hex digits or more) of that hash that no other source,
    recorded, in progress or disposed of, has; so two versions of a case whose hashes share
    their first digits never clash. An id is given when its file is first read and released if
    the file fails."""
    db.execute("CREATE TABLE record_ids (record_id TEXT PRIMARY KEY, source_sha256 TEXT NOT NULL UNIQUE, "
               "assigned TEXT NOT NULL)")
    db.execute("INSERT INTO record_ids (record_id, source_sha256, assigned) "
               "SELECT record_id, source_sha256, created FROM records")


def _m0009_searchable_text(db: sqlite_utils.Database) -> None:
    """Index text without default-ignorable characters (zero-width spaces, joiners, soft hyphens),
    as everything indexed from now on; rows indexed before are rewritten."""
    rows = db.execute("SELECT rowid, title, case_id, parties, body FROM records_fts").fetchall()
    for row in rows:
        values = [searchable(v or "") for v in row[1:]]
        if values != [v or "" for v in row[1:]]:
            db.execute("UPDATE records_fts SET title = ?, case_id = ?, parties = ?, body = ? WHERE rowid = ?",
                       [*values, row[0]])


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_records", _m0001_records),
    ("0002_events", _m0002_events),
    ("0003_audit", audit.migrate),
    ("0004_retention", _m0004_retention),
    ("0005_signatures", _m0005_signatures),  # countersign
    ("0006_versions", _m0006_versions),
    ("0007_protection", _m0007_protection),
    ("0008_record_ids", _m0008_record_ids),
    ("0009_searchable_text", _m0009_searchable_text),
]

#: Audit actions that mean an input got through intake (for :meth:`Catalog.intake_mark`).
INTAKE_ACTIONS = ("ingest", "failure", "event", "countersign", "duplicate")


class Catalog:
    """The catalog file; one instance per thread or process."""

    def __init__(self, path: Path):
        self.path = path
        try:
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        except sqlite3.Error as exc:
            raise CatalogError(f"The catalog {path.name} could not be opened: {exc}.") from None
        self.db = sqlite_utils.Database(conn)
        self._migrate()
        try:
            path.chmod(0o600)
        except OSError:
            pass

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- schema ---------------------------------------------------------------------------

    def _migrate(self) -> None:
        with self.transaction():
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied TEXT NOT NULL)"
            )
            done = {row[0] for row in self.db.execute("SELECT name FROM schema_migrations").fetchall()}
            for name, migrate in MIGRATIONS:
                if name not in done:
                    migrate(self.db)
                    self.db.execute("INSERT INTO schema_migrations VALUES (?, ?)", [name, _now()])

    def transaction(self):
        return _Transaction(self.db.conn)

    # --- records --------------------------------------------------------------------------

    def add_record(self, row: RecordRow, body: str, actor: str = "accord", *, events: list | None = None,
                   after: Callable[[sqlite3.Connection], Any] | None = None) -> None:
        """Insert a record, its full-text entry and its audit entry in one transaction; the record
        it supersedes (if any) gets the status ``superseded``. ``events`` (what the record's own data
        states, an MOU's expiry) are recorded in the same transaction, and ``after(conn)`` runs last
        inside it (the due dates): a crash leaves all of it or none."""
        self.add_records([(row, body)], actor, events=events, after=after)

    def add_records(self, batch: list[tuple[RecordRow, str]], actor: str = "accord", *, events: list | None = None,
                    after: Callable[[sqlite3.Connection], Any] | None = None) -> None:
        """Insert several records (each with its full-text and audit entries) in one transaction."""
        columns = [f.name for f in dataclasses.fields(RecordRow)]
        insert = f"INSERT INTO records (rowid, {', '.join(columns)}) VALUES (?, {', '.join('?' * len(columns))})"
        try:
            with self.transaction():
                next_rowid = (self.db.execute("SELECT max(rowid) FROM records").fetchone()[0] or 0) + 1
                rows, texts, entries = [], [], []
                for offset, (row, body) in enumerate(batch):
                    values = [getattr(row, c) for c in columns]
                    values[columns.index("parties")] = json.dumps(row.parties, ensure_ascii=False)
                    values[columns.index("signature_fields")] = json.dumps(row.signature_fields)
                    rows.append([next_rowid + offset, *values])
                    texts.append([next_rowid + offset, *map(searchable, (row.title, row.case_id,
                                                                           " ; ".join(row.parties), body))])
                    entries.append(AuditEntry(
                        actor, "ingest", "ok", row.record_id, row.case_id,
                        details={"template": row.template, "sha256": row.sha256,
                                 "source_sha256": row.source_sha256, "signature_level": row.signature_level,
                                 "supersedes": row.supersedes},
                    ))
                self.db.conn.executemany(insert, rows)
                self.db.conn.executemany(
                    "INSERT INTO records_fts (rowid, title, case_id, parties, body) VALUES (?, ?, ?, ?, ?)", texts
                )
                superseded = [[row.supersedes] for row, _ in batch if row.supersedes]
                if superseded:
                    self.db.conn.executemany("UPDATE records SET status = 'superseded' WHERE record_id = ?",
                                             superseded)
                audit.append_many(self.db.conn, entries)
                for row, _ in batch:
                    self.db.conn.execute("INSERT OR IGNORE INTO record_ids (record_id, source_sha256, assigned) "
                                         "VALUES (?, ?, ?)", [row.record_id, row.source_sha256, row.created])
                if events:
                    first = batch[0][0]
                    self._insert_events(events, first.source_name, first.source_sha256, actor)
                if after is not None:
                    after(self.db.conn)
        except sqlite3.IntegrityError as exc:
            raise CatalogError(f"Record {batch[0][0].record_id if len(batch) == 1 else 'batch'} "
                               f"could not be added: {exc}.") from None

    def get(self, record_id: str) -> dict[str, Any]:
        try:
            return _decode(self.db["records"].get(record_id))
        except sqlite_utils.db.NotFoundError:
            raise RecordNotFound(f"No record {record_id!r}.") from None

    def find(self, record_id: str) -> dict[str, Any] | None:
        try:
            return self.get(record_id)
        except RecordNotFound:
            return None

    def by_source_sha(self, sha256: str) -> dict[str, Any] | None:
        row = self.db.execute("SELECT * FROM records WHERE source_sha256 = ?", [sha256]).fetchone()
        return _decode(row) if row else None

    def assign_record_id(self, subject_id: str, source_sha256: str, assigned: str) -> str:
        """The record id of this source file: the one it was given before, else ``SUBJECT-`` and the
        shortest prefix of its SHA-256 (8 hex digits, then 12, 16...) that no other source and no
        disposed record has."""
        with self.transaction() as conn:
            row = conn.execute("SELECT record_id FROM record_ids WHERE source_sha256 = ?", [source_sha256]).fetchone()
            if row:
                return row[0]
            for length in range(8, 65, 4):
                candidate = f"{subject_id}-{source_sha256[:length]}"
                taken = conn.execute(
                    "SELECT 1 FROM record_ids WHERE record_id = ? UNION ALL "
                    "SELECT 1 FROM tombstones WHERE record_id = ?", [candidate, candidate]).fetchone()
                if not taken:
                    conn.execute("INSERT INTO record_ids (record_id, source_sha256, assigned) VALUES (?, ?, ?)",
                                 [candidate, source_sha256, assigned])
                    return candidate
        raise CatalogError(f"No record id is free for a file of case {subject_id}.")

    def release_record_id(self, source_sha256: str) -> None:
        """Give back the id of a source file that was not recorded (it failed)."""
        with self.transaction() as conn:
            _release_record_id(conn, source_sha256)

    def assigned_record_id(self, source_sha256: str) -> str | None:
        row = self.db.execute("SELECT record_id FROM record_ids WHERE source_sha256 = ?", [source_sha256]).fetchone()
        return row[0] if row else None

    def intake_mark(self) -> int:
        """How far intake has got: the newest audit entry that says an input got through
        (recorded, failed, events, a signed copy, a duplicate). Each action's maximum is read
        from its index."""
        parts = " UNION ALL ".join(["SELECT max(seq) AS m FROM audit WHERE action = ?"] * len(INTAKE_ACTIONS))
        return self.db.execute(f"SELECT coalesce(max(m), 0) FROM ({parts})", list(INTAKE_ACTIONS)).fetchone()[0]

    def cases_without_due(self) -> list[str]:
        """Cases with a record whose due date was never computed (a crash, or an older catalog)."""
        return [r[0] for r in self.db.execute("SELECT DISTINCT case_id FROM records WHERE due_reason IS NULL")]

    def latest_for(self, template: str, case_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT * FROM records WHERE template = ? AND case_id = ? ORDER BY created DESC, rowid DESC LIMIT 1",
            [template, case_id],
        ).fetchone()
        return _decode(row) if row else None

    def versions(self, template: str, case_id: str) -> list[dict[str, Any]]:
        """Every record of this document of this case, oldest first (the ids, classes, statuses and times)."""
        rows = self.db.execute(
            "SELECT record_id, record_class, status, case_id, created FROM records WHERE case_id = ? AND template = ? "
            "ORDER BY created, rowid", [case_id, template])
        return [dict(r) for r in rows]

    def all_records(self, visible: tuple[str, list[Any]] = ("1", [])) -> Iterator[dict[str, Any]]:
        """Every record (or those matching the SQL condition ``visible`` on ``r``), oldest first."""
        sql = f"SELECT r.* FROM records r WHERE {visible[0]} ORDER BY r.created, r.rowid"
        for row in self.db.execute(sql, list(visible[1])):
            yield _decode(row)

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM records").fetchone()[0]

    def has_case(self, case_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM records WHERE case_id = ? LIMIT 1", [case_id]).fetchone() is not None

    # --- party signatures (countersign) -----------------------------------------------------

    def signatures_for(self, record_id: str) -> list[dict[str, Any]]:
        """The party signatures of a record, oldest first."""
        rows = self.db.execute("SELECT * FROM signatures WHERE record_id = ? ORDER BY version, id", [record_id])
        return [dict(r) for r in rows]

    def executed_version(self, sha256: str) -> dict[str, Any] | None:
        """The executed copy with this SHA-256 (record, version, path, when it was received), if any."""
        row = self.db.execute(
            "SELECT record_id, version, executed_path, executed_sha256, received_at FROM signatures "
            "WHERE executed_sha256 = ? ORDER BY id LIMIT 1", [sha256],
        ).fetchone()
        return dict(row) if row else None

    def executed_versions(self, record_id: str) -> list[dict[str, Any]]:
        """Every executed copy of a record, oldest first: version, path, SHA-256, size, received_at."""
        rows = self.db.execute(
            "SELECT version, executed_path, executed_sha256, executed_size, min(received_at) AS received_at "
            "FROM signatures WHERE record_id = ? GROUP BY version, executed_path, executed_sha256, executed_size "
            "ORDER BY version", [record_id],
        )
        return [dict(r) for r in rows]

    def preserved_versions(self, record_id: str) -> list[tuple[int, str]]:
        """(size, SHA-256) of each earlier state of a record's sealed PDF that ``accord preserve`` replaced
        by appending to it (from the ``preservation`` audit entries)."""
        found = []
        for (details,) in self.db.execute(
                "SELECT details FROM audit WHERE record_id = ? AND action = 'preservation' ORDER BY seq", [record_id]):
            value = json.loads(details)
            if isinstance(value.get("old_size"), int) and isinstance(value.get("old_sha256"), str):
                found.append((value["old_size"], value["old_sha256"]))
        return found

    def add_signatures(self, record_id: str, based_on: str | None, rows: list[SignatureRow], status: str,
                       details: dict[str, Any], actor: str = "accord",
                       replace: Callable[[], None] | None = None) -> None:
        """Record a new executed copy in one transaction: its signature rows, the record's status and
        ``executed_path``/``executed_sha256``, and a ``countersign`` audit entry. ``based_on`` is the
        executed SHA-256 the copy was checked against (``None``: the sealed original); if the record
        moved on meanwhile nothing is written. ``replace`` (the file's rename) runs inside, last."""
        newest = rows[-1]
        with self.transaction() as conn:
            current = conn.execute("SELECT case_id, status, executed_sha256 FROM records WHERE record_id = ?",
                                   [record_id]).fetchone()
            if current is None:
                raise CatalogError(f"Record {record_id} left the catalog while a signed copy was checked.")
            if current["executed_sha256"] != based_on:
                raise CatalogError(f"Record {record_id} received another signed copy meanwhile; nothing was written.")
            try:
                self._insert_signatures(conn, rows)
            except sqlite3.IntegrityError as exc:
                raise CatalogError(f"The signatures of record {record_id} could not be added: {exc}.") from None
            # A record under retention review (or superseded meanwhile) keeps that status.
            new_status = status if current["status"] in ("sealed", "partially-signed", "executed") else current["status"]
            conn.execute("UPDATE records SET status = ?, executed_path = ?, executed_sha256 = ? WHERE record_id = ?",
                         [new_status, newest.executed_path, newest.executed_sha256, record_id])
            audit.append(conn, AuditEntry(actor, "countersign", "ok", record_id, current["case_id"], details=details))
            if replace is not None:
                replace()

    @staticmethod
    def _insert_signatures(conn: sqlite3.Connection, rows: list[SignatureRow]) -> None:
        conn.executemany(
            "INSERT INTO signatures (record_id, field, signer, signer_cert_sha256, signing_time, trusted, version, "
            "executed_path, executed_sha256, executed_size, source_name, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[r.record_id, r.field, r.signer, r.signer_cert_sha256, r.signing_time, int(r.trusted), r.version,
              r.executed_path, r.executed_sha256, r.executed_size, r.source_name, r.received_at] for r in rows],
        )

    # --- events ---------------------------------------------------------------------------

    def add_events(self, events: list, source_name: str, source_sha256: str, actor: str = "accord", *,
                   after: Callable[[sqlite3.Connection], Any] | None = None) -> int:
        """Record case events in one transaction; returns how many were new (repeats are kept once).
        ``after(conn)`` runs last inside the transaction (the due dates)."""
        with self.transaction():
            new = self._insert_events(events, source_name, source_sha256, actor)
            if after is not None:
                after(self.db.conn)
            return new

    def _insert_events(self, events: list, source_name: str, source_sha256: str, actor: str) -> int:
        """Insert events inside the caller's transaction, an audit entry for each new one."""
        now, new = _now(), 0
        for e in events:
            cursor = self.db.execute(
                "INSERT OR IGNORE INTO events (case_id, event, date, note, source_name, source_sha256, recorded_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [e.case_id, e.event, e.date.isoformat(), e.note, source_name, source_sha256, now],
            )
            if cursor.rowcount:
                new += 1
                audit.append(self.db.conn, AuditEntry(
                    actor, "event", "ok", case_id=e.case_id,
                    details={"event": e.event, "date": e.date.isoformat(), "source_sha256": source_sha256},
                ))
        return new

    def events_for(self, case_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM events WHERE case_id = ? ORDER BY date, id", [case_id])
        return [dict(r) for r in rows]

    # --- failures -------------------------------------------------------------------------

    def add_failure(self, failure: FailureRow, actor: str = "accord") -> None:
        """Record a failed input (and give back the record id its bytes were given, if any)."""
        with self.transaction():
            if failure.sha256:
                _release_record_id(self.db.conn, failure.sha256)
            self.db.execute(
                "INSERT INTO failures (source_name, sha256, step, reason, failed_at, failed_path) VALUES (?, ?, ?, ?, ?, ?)",
                [failure.source_name, failure.sha256, failure.step, failure.reason, failure.failed_at, failure.failed_path],
            )
            audit.append(self.db.conn, AuditEntry(
                actor, "failure", "failed",
                details={"file": failure.source_name, "sha256": failure.sha256, "step": failure.step,
                         "reason": failure.reason},
            ))

    def audit(self, entry: AuditEntry) -> int:
        """Append one audit entry in its own transaction."""
        with self.transaction():
            return audit.append(self.db.conn, entry)

    # --- search ---------------------------------------------------------------------------

    def search(self, query: SearchQuery, visible: tuple[str, list[Any]] = ("1", [])) -> list[dict[str, Any]]:
        """Records matching the query: by relevance when there is text, else newest first."""
        return self.search_page(query, visible, count=False)[0]

    def search_page(self, query: SearchQuery, visible: tuple[str, list[Any]] = ("1", []),
                    count: bool = True) -> tuple[list[dict[str, Any]], int | None]:
        """One page of results and the number of matches (text queries count up to
        :data:`COUNT_CAP`), among the records in ``visible``.

        ``visible`` is an SQL condition on ``r`` (from :func:`pipeline.access.search_filter`):
        what the user may not see is neither listed nor counted. A text query that is an id
        finds that case or record by its index; other text looks at no more than the newest
        :data:`CANDIDATES` matches (ranked by bm25 when there are fewer), so a name found in a
        fifth of a million records costs no more than a rare one.
        """
        where, params = [visible[0]], list(visible[1])
        for column, value in (("template", query.template), ("case_id", query.case_id),
                              ("record_class", query.record_class), ("status", query.status)):
            if value:
                where.append(f"r.{column} = ?")
                params.append(value)
        if query.date_from:
            where.append("coalesce(r.record_date, substr(r.created, 1, 10)) >= ?")
            params.append(query.date_from.isoformat())
        if query.date_to:
            where.append("coalesce(r.record_date, substr(r.created, 1, 10)) <= ?")
            params.append(query.date_to.isoformat())
        limit, offset = max(1, query.limit), max(0, query.offset)
        text = (query.text or "").strip()
        try:
            if text and _ID_QUERY.fullmatch(text):
                by_id = self._page("r.case_id = ? OR r.record_id = ?", [text, text], where, params,
                                   limit, offset, count)
                if by_id[1] or by_id[0]:
                    return by_id
            match = _fts_expression(text, query.party)
            if not match:
                return self._page("1", [], where, params, limit, offset, count)
            return self._ranked(match, where, params, limit, offset, count)
        except sqlite3.OperationalError as exc:
            raise CatalogError(f"The search could not be run: {exc}.") from None

    def _page(self, extra: str, extra_params: list[Any], where: list[str], params: list[Any], limit: int,
              offset: int, count: bool) -> tuple[list[dict[str, Any]], int | None]:
        condition = " AND ".join([f"({extra})", *where])
        args = extra_params + params
        rows = self.db.execute(
            f"SELECT r.*, NULL AS snippet FROM records r WHERE {condition} "
            "ORDER BY r.created DESC, r.rowid DESC LIMIT ? OFFSET ?", args + [limit, offset],
        ).fetchall()
        total = self.db.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM records r WHERE {condition} LIMIT {COUNT_CAP + 1})", args,
        ).fetchone()[0] if count else None
        return [_decode(row) for row in rows], total

    def _ranked(self, match: str, where: list[str], params: list[Any], limit: int, offset: int,
                count: bool) -> tuple[list[dict[str, Any]], int | None]:
        """Text results: ranked by bm25 when the query matches fewer than :data:`CANDIDATES` visible
        records; when it matches more, the newest come first.

        bm25 needs each word's document frequency, which FTS5 computes by reading the word's whole
        doclist: 30-50 ms for a name found in a fifth of a million records, against 5-10 ms for
        taking the newest matches. A query that broad is narrowed by its filters or more words anyway.

        When the person (with the query's filters) may see no more than :data:`FEW_VISIBLE` records,
        those records are tested one by one instead (see :meth:`_among`).
        """
        condition = " AND ".join(where)
        if condition != "1":
            few = self.db.execute(f"SELECT r.rowid FROM records r WHERE {condition} LIMIT {FEW_VISIBLE + 1}",
                                  params).fetchall()
            if len(few) <= FEW_VISIBLE:
                return self._among(match, sorted((r[0] for r in few), reverse=True), limit, offset, count)
        newest = self.db.execute(
            f"SELECT f.rowid FROM records_fts f JOIN records r ON r.rowid = f.rowid "
            f"WHERE records_fts MATCH ? AND {condition} ORDER BY f.rowid DESC LIMIT {CANDIDATES}",
            [match, *params],
        ).fetchall()
        if len(newest) < CANDIDATES and newest:
            # A rowid range, not "rowid IN (...)": FTS5 evaluates an IN list one rowid at a time
            # (113 ms for 322 candidates, against 2 ms for the range).
            wanted = {r[0] for r in newest}
            scored = self.db.execute(
                "SELECT f.rowid, bm25(records_fts) FROM records_fts f WHERE records_fts MATCH ? "
                "AND f.rowid >= ? AND f.rowid <= ?", [match, min(wanted), max(wanted)],
            ).fetchall()
            order = [r[0] for r in sorted((c for c in scored if c[0] in wanted), key=lambda c: (c[1], -c[0]))]
        else:
            order = [r[0] for r in newest]
        return self._with_snippets(order[offset:offset + limit], match), (len(newest) if count else None)

    def _among(self, match: str, rowids: list[int], limit: int, offset: int,
               count: bool) -> tuple[list[dict[str, Any]], int | None]:
        """The few records a person may see that match, newest first.

        Walking the matches of a frequent word to find a coordinator's dozen visible records took
        0.5 s on a million records; asking FTS5 about each visible record takes about 0.05 ms. A
        multi-word phrase is asked as its words joined by AND (FTS5 answers a phrase, or a NEAR group
        of distance 0, about one row as slowly as about all of them: 0.5 s), then its word order is
        checked on the record's indexed text.
        """
        loose, phrases = _loose_expression(match)
        probe = "SELECT 1 FROM records_fts WHERE records_fts MATCH ? AND rowid = ?"
        hits = [rowid for rowid in rowids if self.db.execute(probe, [loose, rowid]).fetchone()]
        if phrases:
            hits = [rowid for rowid in hits if self._phrases_hold(rowid, phrases)]
        return self._with_snippets(hits[offset:offset + limit], match), (len(hits) if count else None)

    def _phrases_hold(self, rowid: int, phrases: list[tuple[str | None, list[str], bool]]) -> bool:
        row = self.db.execute("SELECT title, case_id, parties, body FROM records_fts WHERE rowid = ?",
                              [rowid]).fetchone()
        columns = {name: _tokens(row[name] or "") for name in ("title", "case_id", "parties", "body")}
        return all(any(_contains_phrase(columns[c], words, prefix) for c in ([column] if column else columns))
                   for column, words, prefix in phrases)

    def _with_snippets(self, rowids: list[int], match: str) -> list[dict[str, Any]]:
        records = []
        if rowids:
            marks = ", ".join("?" * len(rowids))
            found = {row["rowid_"]: row for row in self.db.execute(
                f"SELECT r.rowid AS rowid_, r.*, f.body AS body_ FROM records r JOIN records_fts f "
                f"ON f.rowid = r.rowid WHERE r.rowid IN ({marks})", rowids)}
            terms = _snippet_terms(match)
            for rowid in rowids:
                record = dict(found[rowid])
                body = record.pop("body_")
                record.pop("rowid_")
                record["snippet"] = snippet(body, terms)
                records.append(_decode(record))
        return records


#: A person who may see at most this many records (with the query's filters) has them tested one by one.
FEW_VISIBLE = 1000
#: Text queries are ranked among the newest this many matches (see :meth:`Catalog.search_page`).
CANDIDATES = 500
#: Counts stop here ("500 or more"): text queries never look past the newest CANDIDATES matches.
COUNT_CAP = CANDIDATES
_ID_QUERY = re.compile(r"(?=.*\d)(?=.*[-_.])[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


@functools.lru_cache(maxsize=100_000)
def _fold(word: str) -> str:
    """Lower case without accents, as the index's tokenizer sees a word (cached: words repeat)."""
    if word.isascii():
        return word.lower()
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


def _snippet_terms(match: str) -> list[str]:
    return [_fold(t) for t in re.findall(r"\w+", re.sub(r"\bparties\b\s*:", " ", match))
            if t not in ("AND", "OR", "NOT")]


_NON_WORD = re.compile(r"\W+")


def snippet(body: str, terms: list[str], width: int = 12) -> str:
    """A few words of ``body`` around the first query word, matches in [brackets] (accents ignored)."""
    words = body.split()
    prefixes = tuple(t for t in terms if t)

    def matches(i: int) -> bool:
        return bool(prefixes) and _fold(_NON_WORD.sub("", words[i])).startswith(prefixes)

    hit = next((i for i in range(len(words)) if matches(i)), None)
    if hit is None:
        return " ".join(words[:width]) + (" …" if len(words) > width else "")
    start = max(0, hit - width // 3)
    shown = [f"[{words[i]}]" if matches(i) else words[i] for i in range(start, min(len(words), start + width))]
    return ("… " if start else "") + " ".join(shown) + (" …" if start + width < len(words) else "")


def _release_record_id(conn: sqlite3.Connection, source_sha256: str) -> None:
    conn.execute("DELETE FROM record_ids WHERE source_sha256 = ? AND record_id NOT IN (SELECT record_id FROM records)",
                 [source_sha256])


def _decode(row: Any) -> dict[str, Any]:
    """A catalog row as a plain dict, JSON columns decoded."""
    record = dict(row)
    record["parties"] = json.loads(record["parties"])
    record["signature_fields"] = json.loads(record["signature_fields"])
    return record


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``: one writer at a time, rolled back on any error."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            self.conn.execute("ROLLBACK")


_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


def _fts_terms(text: str) -> list[str]:
    """User words and "quoted phrases" as FTS5 strings: no FTS syntax passes through (and no
    invisible character, as none is indexed)."""
    text = searchable(text)
    terms = []
    for phrase, word in _TOKEN.findall(text):
        value = phrase or word.replace('"', "")
        prefix = not phrase and value.endswith("*") and len(value) > 1
        value = value.rstrip("*") if prefix else value
        if not re.search(r"\w", value):
            continue
        quoted = '"' + value.replace('"', '""') + '"'
        terms.append(quoted + ("*" if prefix else ""))
    return terms


def _fts_expression(text: str | None, party: str | None) -> str | None:
    parts = []
    if text:
        parts.extend(_fts_terms(text))
    if party:
        names = _fts_terms(f'"{party.replace(chr(34), " ")}"')
        parts.extend(f"parties : {n}" for n in names)
    return " AND ".join(parts) if parts else None


_PART = re.compile(r'(?:(parties) : )?"((?:[^"]|"")*)"(\*?)')
_TOKEN_CHARS = re.compile(r"[^\W_]+")


def _tokens(text: str) -> list[str]:
    """Words as the index's tokenizer (unicode61, diacritics removed) sees them."""
    return [_fold(t) for t in _TOKEN_CHARS.findall(text)]


def _loose_expression(match: str) -> tuple[str, list[tuple[str | None, list[str], bool]]]:
    """``match`` (as :func:`_fts_expression` writes it) with every multi-word phrase as its words
    joined by AND, and those phrases (column, folded words, last word a prefix) to check in order
    afterwards."""
    parts, phrases = [], []
    for column, quoted, star in _PART.findall(match):
        words = _TOKEN_CHARS.findall(quoted.replace('""', '"'))
        prefix = f"{column} : " if column else ""
        if len(words) < 2:
            parts.append(f'{prefix}"{quoted}"{star}')
            continue
        parts.extend(f'{prefix}"{w}"' + (star if i == len(words) - 1 else "") for i, w in enumerate(words))
        phrases.append((column or None, [_fold(w) for w in words], bool(star)))
    return " AND ".join(parts), phrases


def _contains_phrase(tokens: list[str], words: list[str], prefix: bool) -> bool:
    n = len(words)
    for i in range(len(tokens) - n + 1):
        if tokens[i:i + n - 1] == words[:-1] and (
                tokens[i + n - 1].startswith(words[-1]) if prefix else tokens[i + n - 1] == words[-1]):
            return True
    return False


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def utc_now() -> str:
    """The current time as the catalog writes it (ISO 8601, UTC)."""
    return _now()
