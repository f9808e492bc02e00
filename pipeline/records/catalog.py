"""The record store: a row per record, its full-text entry, its id, and its tombstone once disposed of.

This module owns four tables of the catalog file and all their SQL:

- ``records``: what the catalog keeps about each record (its files, seal, parties, status, due date
  and the reason, when fixity was last checked, what preservation last found);
- ``records_fts``: the record's text for full-text search (FTS5, ``unicode61 remove_diacritics 2``,
  so names are found as typed, with or without accents; default-ignorable characters left out);
- ``record_ids``: the id each source file was given (the case id and the shortest prefix of the
  file's SHA-256, 8 hex digits or more, that no other source and no disposed record has);
- ``tombstones``: what is kept of a disposed record (id, class, case, hashes, dates, rule, approver).

Other areas call its methods; several take part in a transaction the caller opened (they say so).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Callable, Iterator

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.errors import CatalogError, RecordNotFound
from pipeline.records import audit
from pipeline.records.audit import AuditEntry
from pipeline.records.schema import Database
from pipeline.text import searchable


class RecordStatus(StrEnum):
    SEALED = "sealed"
    """Sealed by the office, no party signature yet."""
    PARTIALLY_SIGNED = "partially-signed"
    EXECUTED = "executed"
    """Every offered signature field signed."""
    SUPERSEDED = "superseded"
    """A corrected version replaced it."""
    REVIEW = "review"
    """Its retention ran out under a schedule whose action is review: a person decides."""


#: Statuses a party-signed copy may be brought into.
SIGNABLE = (RecordStatus.SEALED, RecordStatus.PARTIALLY_SIGNED, RecordStatus.EXECUTED)


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
    status: str = RecordStatus.SEALED
    supersedes: str | None = None
    variant: str = ""
    """Which of a case's documents of one template this is a version of (a notice's recipient): a
    new record supersedes the latest one of the same template, case and variant."""


@dataclass(frozen=True)
class Tombstone:
    """What is kept of a record after its disposition."""

    rule: str
    action: str
    approver: str
    disposed_at: str
    proposal_id: int | None
    bag: str | None


# --- migrations ----------------------------------------------------------------------------------

MIGRATIONS = Migrations("catalog")


@MIGRATIONS(name="0001_records")
def _records(db: sqlite_utils.Database) -> None:
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


@MIGRATIONS(name="0002_retention")
def _retention(db: sqlite_utils.Database) -> None:
    """Due dates and their reasons, the last fixity check, and what is kept of a disposed record."""
    for column in ("due_date", "due_reason", "retention_rule", "fixity_checked_at"):
        db.execute(f"ALTER TABLE records ADD COLUMN {column} TEXT")
    db.execute("CREATE INDEX records_due ON records(due_date)")
    db.execute("CREATE INDEX records_fixity ON records(fixity_checked_at)")
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


@MIGRATIONS(name="0003_executed")
def _executed(db: sqlite_utils.Database) -> None:
    """The newest copy the parties signed (their signatures are in ``signatures``, records/countersign)."""
    db.execute("ALTER TABLE records ADD COLUMN executed_path TEXT")
    db.execute("ALTER TABLE records ADD COLUMN executed_sha256 TEXT")


@MIGRATIONS(name="0004_versions")
def _versions(db: sqlite_utils.Database) -> None:
    """The versions of one document of one case, found by both keys (the template index alone made
    the planner walk every record of the template: 70 ms on 100,000 records)."""
    db.execute("CREATE INDEX records_case_template ON records(case_id, template, created)")


@MIGRATIONS(name="0005_protection")
def _protection(db: sqlite_utils.Database) -> None:
    """What ``accord preserve`` last found about a record's seal: protected until when, judged on which
    bytes (SHA-256, and the file's size, time and inode) and with which settings; so a record far
    from expiry is not read again on every run."""
    for column in ("protection_until", "protection_key", "protection_sha256", "protection_stat"):
        db.execute(f"ALTER TABLE records ADD COLUMN {column} TEXT")


@MIGRATIONS(name="0006_record_ids")
def _record_ids(db: sqlite_utils.Database) -> None:
    """Record ids handed out, by the SHA-256 of the source file they were given to. An id is given
    when its file is first read and released if the file fails."""
    db.execute("CREATE TABLE record_ids (record_id TEXT PRIMARY KEY, source_sha256 TEXT NOT NULL UNIQUE, "
               "assigned TEXT NOT NULL)")
    db.execute("INSERT INTO record_ids (record_id, source_sha256, assigned) "
               "SELECT record_id, source_sha256, created FROM records")


@MIGRATIONS(name="0007_searchable_text")
def _searchable_text(db: sqlite_utils.Database) -> None:
    """Index text without default-ignorable characters (zero-width spaces, joiners, soft hyphens),
    as everything indexed from now on; rows indexed before are rewritten."""
    rows = db.execute("SELECT rowid, title, case_id, parties, body FROM records_fts").fetchall()
    for row in rows:
        values = [searchable(v or "") for v in row[1:]]
        if values != [v or "" for v in row[1:]]:
            db.execute("UPDATE records_fts SET title = ?, case_id = ?, parties = ?, body = ? WHERE rowid = ?",
                       [*values, row[0]])


@MIGRATIONS(name="0008_variant")
def _variant(db: sqlite_utils.Database) -> None:
    """One case may hold several documents of one template, one per party (each party's notice):
    a version supersedes only the latest of its own variant."""
    db.execute("ALTER TABLE records ADD COLUMN variant TEXT NOT NULL DEFAULT ''")


#: What ``records/search.py`` may ask for: the columns of a record a page of results shows.
_COLUMNS = [f.name for f in dataclasses.fields(RecordRow)]


class Catalog(Database):
    """The catalog file opened (``pipeline.store.open_catalog``), with the record store's methods."""

    def audit(self, entry: AuditEntry) -> int:
        """Append one audit entry in its own transaction."""
        with self.transaction():
            return audit.append(self.conn, entry)

    # --- adding records ----------------------------------------------------------------------

    def add_record(self, row: RecordRow, body: str, actor: str = "accord", *,
                   then: Callable[["Catalog"], Any] | None = None) -> None:
        """Insert a record, its full-text entry and its audit entry in one transaction; the record it
        supersedes (if any) becomes ``superseded``. ``then(catalog)`` runs last inside the same
        transaction (the events of the record's data, the due dates): a crash leaves all or none."""
        self.add_records([(row, body)], actor, then=then)

    def add_records(self, batch: list[tuple[RecordRow, str]], actor: str = "accord", *,
                    then: Callable[["Catalog"], Any] | None = None) -> None:
        """Insert several records (each with its full-text and audit entries) in one transaction."""
        insert = f"INSERT INTO records (rowid, {', '.join(_COLUMNS)}) VALUES (?, {', '.join('?' * len(_COLUMNS))})"
        try:
            with self.transaction() as conn:
                next_rowid = (conn.execute("SELECT max(rowid) FROM records").fetchone()[0] or 0) + 1
                rows, texts, entries = [], [], []
                for offset, (row, body) in enumerate(batch):
                    values = [getattr(row, c) for c in _COLUMNS]
                    values[_COLUMNS.index("parties")] = json.dumps(row.parties, ensure_ascii=False)
                    values[_COLUMNS.index("signature_fields")] = json.dumps(row.signature_fields)
                    rows.append([next_rowid + offset, *values])
                    texts.append([next_rowid + offset, *map(searchable, (row.title, row.case_id,
                                                                           " ; ".join(row.parties), body))])
                    entries.append(AuditEntry(
                        actor, "ingest", "ok", row.record_id, row.case_id,
                        details={"template": row.template, "sha256": row.sha256,
                                 "source_sha256": row.source_sha256, "signature_level": row.signature_level,
                                 "supersedes": row.supersedes},
                    ))
                conn.executemany(insert, rows)
                conn.executemany("INSERT INTO records_fts (rowid, title, case_id, parties, body) VALUES (?, ?, ?, ?, ?)",
                                 texts)
                superseded = [[RecordStatus.SUPERSEDED, row.supersedes] for row, _ in batch if row.supersedes]
                if superseded:
                    conn.executemany("UPDATE records SET status = ? WHERE record_id = ?", superseded)
                audit.append_many(conn, entries)
                conn.executemany("INSERT OR IGNORE INTO record_ids (record_id, source_sha256, assigned) VALUES (?, ?, ?)",
                                 [[row.record_id, row.source_sha256, row.created] for row, _ in batch])
                if then is not None:
                    then(self)
        except sqlite3.IntegrityError as exc:
            raise CatalogError(f"Record {batch[0][0].record_id if len(batch) == 1 else 'batch'} "
                               f"could not be added: {exc}.") from None

    # --- record ids ------------------------------------------------------------------------------

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
        """Give back the id a source file was given if it was not recorded (it failed). Inside the
        caller's transaction."""
        self.conn.execute("DELETE FROM record_ids WHERE source_sha256 = ? AND record_id NOT IN "
                          "(SELECT record_id FROM records)", [source_sha256])

    # --- reading records -------------------------------------------------------------------------

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
        row = self.conn.execute("SELECT * FROM records WHERE source_sha256 = ?", [sha256]).fetchone()
        return _decode(row) if row else None

    def latest_for(self, template: str, case_id: str, variant: str = "") -> dict[str, Any] | None:
        row = self.conn.execute(
            "SELECT * FROM records WHERE template = ? AND case_id = ? AND variant = ? "
            "ORDER BY created DESC, rowid DESC LIMIT 1",
            [template, case_id, variant],
        ).fetchone()
        return _decode(row) if row else None

    def versions(self, template: str, case_id: str) -> list[dict[str, Any]]:
        """Every record of this document of this case, oldest first (the ids, classes, statuses and times)."""
        rows = self.conn.execute(
            "SELECT record_id, record_class, status, case_id, created FROM records WHERE case_id = ? AND template = ? "
            "ORDER BY created, rowid", [case_id, template])
        return [dict(r) for r in rows]

    def superseded_by(self, record_id: str) -> str | None:
        row = self.conn.execute("SELECT record_id FROM records WHERE supersedes = ?", [record_id]).fetchone()
        return row[0] if row else None

    def all_records(self, visible: tuple[str, list[Any]] = ("1", [])) -> Iterator[dict[str, Any]]:
        """Every record (or those matching the SQL condition ``visible`` on ``r``), oldest first."""
        sql = f"SELECT r.* FROM records r WHERE {visible[0]} ORDER BY r.created, r.rowid"
        for row in self.conn.execute(sql, list(visible[1])):
            yield _decode(row)

    def count(self, case_id: str | None = None) -> int:
        """How many records there are (of one case)."""
        if case_id is None:
            return self.conn.execute("SELECT count(*) FROM records").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM records WHERE case_id = ?", [case_id]).fetchone()[0]

    def records_of_case(self, case_id: str, visible: tuple[str, list[Any]] = ("1", [])) -> list[dict[str, Any]]:
        """A case's records (those ``visible``, SQL on ``r``, lets one see), oldest first."""
        rows = self.conn.execute(f"SELECT r.* FROM records r WHERE r.case_id = ? AND ({visible[0]}) "
                                 "ORDER BY r.created, r.rowid", [case_id, *visible[1]])
        return [_decode(r) for r in rows]

    def subjects_of_templates(self, templates: list[str], visible: tuple[str, list[Any]]) -> list[str]:
        """The case (or MOU) ids of the records of ``templates`` in force (not superseded), that
        ``visible`` (SQL on ``r``) lets one see."""
        rows = self.conn.execute(
            f"SELECT DISTINCT r.case_id FROM records r WHERE r.template IN (SELECT value FROM json_each(?)) "
            f"AND r.status != 'superseded' AND ({visible[0]})", [json.dumps(templates), *visible[1]])
        return [r[0] for r in rows]

    def records_of_templates(self, templates: list[str]) -> list[dict[str, Any]]:
        """Every record made from ``templates``, oldest first."""
        rows = self.conn.execute("SELECT * FROM records WHERE template IN (SELECT value FROM json_each(?)) "
                                 "ORDER BY created, rowid", [json.dumps(templates)])
        return [_decode(r) for r in rows]

    def has_case(self, case_id: str) -> bool:
        return self.conn.execute("SELECT 1 FROM records WHERE case_id = ? LIMIT 1", [case_id]).fetchone() is not None

    def record_ids(self) -> set[str]:
        return {r[0] for r in self.conn.execute("SELECT record_id FROM records")}

    def cases_without_due(self) -> list[str]:
        """Cases with a record whose due date was never computed (a crash, or an older catalog)."""
        return [r[0] for r in self.conn.execute("SELECT DISTINCT case_id FROM records WHERE due_reason IS NULL")]

    # --- changing records (inside the caller's transaction) --------------------------------------

    def set_status(self, record_id: str, status: str) -> None:
        self.conn.execute("UPDATE records SET status = ? WHERE record_id = ?", [status, record_id])

    def signing_state(self, record_id: str) -> sqlite3.Row | None:
        """The record's case, status and newest executed copy's SHA-256 (for a signed copy coming in)."""
        return self.conn.execute("SELECT case_id, status, executed_sha256 FROM records WHERE record_id = ?",
                                 [record_id]).fetchone()

    def set_executed(self, record_id: str, status: str, path: str, sha256: str) -> None:
        """Point the record at its newest party-signed copy."""
        self.conn.execute("UPDATE records SET status = ?, executed_path = ?, executed_sha256 = ? WHERE record_id = ?",
                          [status, path, sha256, record_id])

    def replace_pdf(self, record_id: str, old_sha256: str, new_sha256: str, size: int, level: str) -> int:
        """The sealed PDF was renewed by appending (preservation): its new hash, size and level, if the
        row still has the old hash. Returns how many rows changed (0 or 1)."""
        return self.conn.execute(
            "UPDATE records SET sha256 = ?, size = ?, signature_level = ? WHERE record_id = ? AND sha256 = ?",
            [new_sha256, size, level, record_id, old_sha256]).rowcount

    # --- due dates (records/.., governance/duedates) ---------------------------------------------

    def due_chunk(self, after_rowid: int, case_ids: list[str] | None, limit: int) -> list[sqlite3.Row]:
        """The next ``limit`` records after ``after_rowid`` (of ``case_ids``, or all): what a due date
        is computed from, and the date and reason stored now."""
        scope, params = ("AND case_id IN (SELECT value FROM json_each(?))", [json.dumps(case_ids)]) \
            if case_ids is not None else ("", [])
        return self.conn.execute(
            f"SELECT rowid, record_id, record_class, case_id, created, due_date, due_reason FROM records "
            f"WHERE rowid > ? {scope} ORDER BY rowid LIMIT {int(limit)}", [after_rowid, *params]).fetchall()

    def set_due_dates(self, updates: list[tuple[str | None, str, str, str]]) -> None:
        """(due date, reason, rule, record id) for each record whose due date moved."""
        self.conn.executemany("UPDATE records SET due_date = ?, due_reason = ?, retention_rule = ? "
                              "WHERE record_id = ?", updates)

    def due_records(self, as_of: str, condition: str = "1", params: list[Any] | None = None,
                    ) -> Iterator[sqlite3.Row]:
        """Records due by ``as_of`` and not under review, that also meet ``condition`` (SQL on ``r``,
        made by the areas that own the other tables: holds, proposals), soonest first."""
        yield from self.conn.execute(
            "SELECT r.record_id, r.record_class, r.case_id, r.sha256, r.due_date, r.retention_rule FROM records r "
            f"WHERE r.due_date IS NOT NULL AND r.due_date <= ? AND r.status NOT IN (?) AND {condition} "
            "ORDER BY r.due_date, r.record_id", [as_of, RecordStatus.REVIEW, *(params or [])])

    def count_due(self, as_of: str, condition: str = "1", params: list[Any] | None = None) -> int:
        """How many records are due by ``as_of`` and meet ``condition`` (SQL on ``r``)."""
        return self.conn.execute(
            f"SELECT count(*) FROM records r WHERE r.due_date IS NOT NULL AND r.due_date <= ? AND {condition}",
            [as_of, *(params or [])]).fetchone()[0]

    # --- fixity (records/fixity) -----------------------------------------------------------------

    def fixity_due(self, checked_before: str | None) -> list[sqlite3.Row]:
        """Every record's files and hashes, or only those not checked since ``checked_before``."""
        where = "" if checked_before is None else "WHERE fixity_checked_at IS NULL OR fixity_checked_at < ?"
        return self.conn.execute(f"SELECT record_id, pdf_path, sha256, source_path, source_sha256 FROM records "
                                 f"{where}", [] if checked_before is None else [checked_before]).fetchall()

    def mark_fixity_checked(self, record_ids: list[str], day: str) -> None:
        self.conn.executemany("UPDATE records SET fixity_checked_at = ? WHERE record_id = ?",
                              [(day, r) for r in record_ids])

    # --- preservation (records/preserve) ---------------------------------------------------------

    def protection_chunk(self, after_rowid: int, key: str, horizon: str, limit: int) -> list[sqlite3.Row]:
        """The next ``limit`` records after ``after_rowid``: rowid, record id, PDF path, the file's size,
        time and inode when last judged, and whether that judgement (on these very bytes, with these
        settings, ``key``) found it protected past ``horizon``."""
        return self.conn.execute(
            "SELECT rowid, record_id, pdf_path, protection_stat, coalesce(protection_sha256 = sha256, 0) "
            "AND coalesce(protection_key = ?, 0) AND coalesce(protection_until > ?, 0) FROM records "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?", [key, horizon, after_rowid, int(limit)]).fetchall()

    def set_protection(self, record_id: str, sha256: str, until: str, key: str, stat: str | None) -> None:
        """What preservation found about the record's seal, if its PDF still has ``sha256``."""
        self.conn.execute("UPDATE records SET protection_until = ?, protection_key = ?, protection_sha256 = ?, "
                          "protection_stat = ? WHERE record_id = ? AND sha256 = ?",
                          [until, key, sha256, stat, record_id, sha256])

    # --- disposition (governance/disposition) ----------------------------------------------------

    def destroy(self, record: dict[str, Any], tombstone: Tombstone) -> None:
        """Delete a record's row, its text and its id, keeping its tombstone. Inside the caller's
        transaction; with ``secure_delete`` on and :meth:`purge_deleted_text` after, no text of it stays
        in the file."""
        conn = self.conn
        rowid = conn.execute("SELECT rowid FROM records WHERE record_id = ?", [record["record_id"]]).fetchone()[0]
        conn.execute("DELETE FROM records_fts WHERE rowid = ?", [rowid])
        conn.execute("DELETE FROM records WHERE record_id = ?", [record["record_id"]])
        conn.execute("DELETE FROM record_ids WHERE record_id = ?", [record["record_id"]])
        conn.execute(
            "INSERT OR REPLACE INTO tombstones (record_id, record_class, case_id, sha256, source_sha256, created, "
            "due_date, rule, action, approver, disposed_at, proposal_id, bag) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [record["record_id"], record["record_class"], record["case_id"], record["sha256"],
             record["source_sha256"], record["created"], record["due_date"], tombstone.rule, tombstone.action,
             tombstone.approver, tombstone.disposed_at, tombstone.proposal_id, tombstone.bag])

    def purge_deleted_text(self) -> None:
        """Merge the full-text index so deleted text leaves its segments, and flush the WAL: with
        ``secure_delete`` on, freed pages are overwritten, so no text stays in the file."""
        self.conn.execute("INSERT INTO records_fts(records_fts) VALUES ('optimize')")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def tombstone(self, record_id: str) -> dict[str, Any] | None:
        row = self.conn.execute("SELECT * FROM tombstones WHERE record_id = ?", [record_id]).fetchone()
        return dict(row) if row else None

    def tombstones_of_case(self, case_id: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.conn.execute("SELECT * FROM tombstones WHERE case_id = ?", [case_id])]

    # --- full-text search (records/search decides how to use these) ------------------------------

    def rowids_where(self, condition: str, params: list[Any], limit: int) -> list[int]:
        """Up to ``limit`` rowids of records meeting ``condition`` (SQL on ``r``)."""
        return [r[0] for r in self.conn.execute(f"SELECT r.rowid FROM records r WHERE {condition} LIMIT {int(limit)}",
                                                params)]

    def page_where(self, condition: str, params: list[Any], limit: int, offset: int,
                   count_cap: int | None) -> tuple[list[dict[str, Any]], int | None]:
        """Records meeting ``condition``, newest first, and how many there are (up to ``count_cap + 1``)."""
        rows = self.conn.execute(
            f"SELECT r.*, NULL AS snippet FROM records r WHERE {condition} "
            "ORDER BY r.created DESC, r.rowid DESC LIMIT ? OFFSET ?", params + [limit, offset]).fetchall()
        total = self.conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM records r WHERE {condition} LIMIT {int(count_cap) + 1})", params,
        ).fetchone()[0] if count_cap is not None else None
        return [_decode(row) for row in rows], total

    def newest_matches(self, match: str, condition: str, params: list[Any], limit: int) -> list[int]:
        """The rowids of the newest ``limit`` records whose text matches ``match`` and that meet ``condition``."""
        return [r[0] for r in self.conn.execute(
            "SELECT f.rowid FROM records_fts f JOIN records r ON r.rowid = f.rowid "
            f"WHERE records_fts MATCH ? AND {condition} ORDER BY f.rowid DESC LIMIT {int(limit)}", [match, *params])]

    def bm25_between(self, match: str, low: int, high: int) -> list[tuple[int, float]]:
        """(rowid, bm25) of the matches with rowids in [low, high]: a rowid range, not ``rowid IN
        (...)``, because FTS5 evaluates an IN list one rowid at a time (113 ms for 322 candidates,
        against 2 ms for the range)."""
        return [(r[0], r[1]) for r in self.conn.execute(
            "SELECT f.rowid, bm25(records_fts) FROM records_fts f WHERE records_fts MATCH ? "
            "AND f.rowid >= ? AND f.rowid <= ?", [match, low, high])]

    def text_matches(self, match: str, rowid: int) -> bool:
        """Whether one record's text matches (about 0.05 ms)."""
        return self.conn.execute("SELECT 1 FROM records_fts WHERE records_fts MATCH ? AND rowid = ?",
                                 [match, rowid]).fetchone() is not None

    def indexed_text(self, rowid: int) -> sqlite3.Row:
        """The indexed columns of one record: title, case_id, parties, body."""
        return self.conn.execute("SELECT title, case_id, parties, body FROM records_fts WHERE rowid = ?",
                                 [rowid]).fetchone()

    def rows_with_text(self, rowids: list[int]) -> dict[int, tuple[dict[str, Any], str]]:
        """Each record of ``rowids`` with its indexed body (for snippets), by rowid."""
        if not rowids:
            return {}
        marks = ", ".join("?" * len(rowids))
        found = {}
        for row in self.conn.execute(
                f"SELECT r.rowid AS rowid_, r.*, f.body AS body_ FROM records r JOIN records_fts f "
                f"ON f.rowid = r.rowid WHERE r.rowid IN ({marks})", rowids):
            record = dict(row)
            body = record.pop("body_")
            found[record.pop("rowid_")] = (_decode(record), body)
        return found


def _decode(row: Any) -> dict[str, Any]:
    """A catalog row as a plain dict, JSON columns decoded."""
    record = dict(row)
    record["parties"] = json.loads(record["parties"])
    record["signature_fields"] = json.loads(record["signature_fields"])
    return record
