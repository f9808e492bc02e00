"""The catalog: one SQLite file (sqlite-utils) with a row per record and a full-text index.

WAL mode and a busy timeout let several workers share it; each write is one
transaction. Schema changes go through numbered migrations. The full-text index
(FTS5, ``unicode61 remove_diacritics 2``) holds the document's text as written,
so names are found exactly as typed, and with or without their accents.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sqlite3
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import sqlite_utils

from .errors import CatalogError, RecordNotFound

BUSY_TIMEOUT_MS = 30_000


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
class SearchQuery:
    text: str | None = None
    template: str | None = None
    case_id: str | None = None
    party: str | None = None
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


MIGRATIONS: list[tuple[str, Callable[[sqlite_utils.Database], None]]] = [
    ("0001_records", _m0001_records),
    ("0002_events", _m0002_events),
]


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

    def add_record(self, row: RecordRow, body: str) -> None:
        """Insert a record and its full-text entry in one transaction."""
        values = asdict(row)
        values["parties"] = json.dumps(row.parties, ensure_ascii=False)
        values["signature_fields"] = json.dumps(row.signature_fields)
        try:
            with self.transaction():
                rowid = self.db["records"].insert(values).last_rowid
                self.db["records_fts"].insert(
                    {"rowid": rowid, "title": row.title, "case_id": row.case_id,
                     "parties": " ; ".join(row.parties), "body": body}
                )
        except sqlite3.IntegrityError as exc:
            raise CatalogError(f"Record {row.record_id} could not be added: {exc}.") from None

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

    def latest_for(self, template: str, case_id: str) -> dict[str, Any] | None:
        row = self.db.execute(
            "SELECT * FROM records WHERE template = ? AND case_id = ? ORDER BY created DESC, rowid DESC LIMIT 1",
            [template, case_id],
        ).fetchone()
        return _decode(row) if row else None

    def all_records(self) -> Iterator[dict[str, Any]]:
        for row in self.db.execute("SELECT * FROM records ORDER BY created, rowid"):
            yield _decode(row)

    def count(self) -> int:
        return self.db.execute("SELECT count(*) FROM records").fetchone()[0]

    def has_case(self, case_id: str) -> bool:
        return self.db.execute("SELECT 1 FROM records WHERE case_id = ? LIMIT 1", [case_id]).fetchone() is not None

    # --- events ---------------------------------------------------------------------------

    def add_events(self, events: list, source_name: str, source_sha256: str) -> int:
        """Record case events in one transaction; returns how many were new (repeats are kept once)."""
        now = _now()
        with self.transaction():
            before = self.db.execute("SELECT count(*) FROM events").fetchone()[0]
            for e in events:
                self.db.execute(
                    "INSERT OR IGNORE INTO events (case_id, event, date, note, source_name, source_sha256, recorded_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [e.case_id, e.event, e.date.isoformat(), e.note, source_name, source_sha256, now],
                )
            return self.db.execute("SELECT count(*) FROM events").fetchone()[0] - before

    def events_for(self, case_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute("SELECT * FROM events WHERE case_id = ? ORDER BY date, id", [case_id])
        return [dict(r) for r in rows]

    # --- failures -------------------------------------------------------------------------

    def add_failure(self, failure: FailureRow) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO failures (source_name, sha256, step, reason, failed_at, failed_path) VALUES (?, ?, ?, ?, ?, ?)",
                [failure.source_name, failure.sha256, failure.step, failure.reason, failure.failed_at, failure.failed_path],
            )

    # --- search ---------------------------------------------------------------------------

    def search(self, query: SearchQuery) -> list[dict[str, Any]]:
        """Records matching the query: by relevance when there is text, else newest first."""
        where: list[str] = []
        params: list[Any] = []
        match = _fts_expression(query.text, query.party)
        if query.template:
            where.append("r.template = ?")
            params.append(query.template)
        if query.case_id:
            where.append("r.case_id = ?")
            params.append(query.case_id)
        if query.date_from:
            where.append("coalesce(r.record_date, substr(r.created, 1, 10)) >= ?")
            params.append(query.date_from.isoformat())
        if query.date_to:
            where.append("coalesce(r.record_date, substr(r.created, 1, 10)) <= ?")
            params.append(query.date_to.isoformat())
        if match:
            sql = (
                "SELECT r.*, snippet(records_fts, 3, '[', ']', '…', 12) AS snippet "
                "FROM records_fts JOIN records r ON r.rowid = records_fts.rowid "
                "WHERE records_fts MATCH ?"
            )
            params.insert(0, match)
            order = "ORDER BY bm25(records_fts), r.created DESC"
        else:
            sql = "SELECT r.*, NULL AS snippet FROM records r WHERE 1"
            order = "ORDER BY r.created DESC, r.rowid DESC"
        for clause in where:
            sql += f" AND {clause}"
        sql += f" {order} LIMIT ? OFFSET ?"
        params += [max(1, query.limit), max(0, query.offset)]
        try:
            cursor = self.db.execute(sql, params)
        except sqlite3.OperationalError as exc:
            raise CatalogError(f"The search could not be run: {exc}.") from None
        return [_decode(row) for row in cursor.fetchall()]


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
    """User words and "quoted phrases" as FTS5 strings: no FTS syntax passes through."""
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


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def utc_now() -> str:
    """The current time as the catalog writes it (ISO 8601, UTC)."""
    return _now()
