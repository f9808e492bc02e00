"""The audit log: one append-only, hash-chained table in the catalog for every event.

Each entry holds the SHA-256 of the entry before it, computed over a canonical JSON
encoding, so editing or deleting an entry breaks the chain at that position.
Cutting off the newest entries is caught by anchors: the head's sequence number and
hash, written into a document sealed by the office and archived (see ``anchor.py``).
Triggers refuse UPDATE and DELETE; whoever drops them is still caught by the chain, and
:func:`verify_chain` reports a trigger that is missing, altered or added.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Iterator

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.display import read_moment

GENESIS = "0" * 64


@dataclass(frozen=True)
class AuditEntry:
    actor: str
    action: str
    outcome: str = "ok"
    record_id: str | None = None
    case_id: str | None = None
    purpose: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChainReport:
    entries: int
    head_seq: int
    head_hash: str
    first_broken: int | None = None
    problem: str | None = None
    anchors_checked: int = 0
    anchor_problems: list[str] = field(default_factory=list)
    trigger_problems: list[str] = field(default_factory=list)
    """The append-only triggers that are missing, altered or not Accord's (the entries may still link up)."""

    @property
    def ok(self) -> bool:
        """The entries link up (``trigger_problems`` are judged apart: see :attr:`protected`)."""
        return self.first_broken is None and not self.anchor_problems

    @property
    def protected(self) -> bool:
        return not self.trigger_problems


#: What each append-only trigger refuses to let happen to an entry.
_REFUSED = {"UPDATE": "changed", "DELETE": "deleted"}

#: The triggers that make the table append-only, by name, as :func:`migrate` creates them.
TRIGGERS = {
    f"audit_no_{op.lower()}": f"CREATE TRIGGER audit_no_{op.lower()} BEFORE {op} ON audit "
                              "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    for op in _REFUSED
}


MIGRATIONS = Migrations("audit")


@MIGRATIONS(name="0001_audit")
def _audit(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE audit (
            seq INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            outcome TEXT NOT NULL,
            record_id TEXT,
            case_id TEXT,
            purpose TEXT,
            details TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX audit_record ON audit(record_id, seq)")
    db.execute("CREATE INDEX audit_actor ON audit(actor, seq)")
    db.execute("CREATE INDEX audit_action ON audit(action, seq)")
    for sql in TRIGGERS.values():
        db.execute(sql)
    db.execute(
        """
        CREATE TABLE anchors (
            id INTEGER PRIMARY KEY,
            head_seq INTEGER NOT NULL,
            head_hash TEXT NOT NULL,
            at TEXT NOT NULL,
            pdf_path TEXT NOT NULL,
            sha256 TEXT NOT NULL
        )
        """
    )


_FIELDS = ("actor", "action", "outcome", "record_id", "case_id", "purpose", "details")


def canonical(seq: int, at: str, entry: AuditEntry, prev_hash: str) -> bytes:
    """The bytes an entry's hash is computed over: sorted-key, compact JSON in UTF-8."""
    body = {"seq": seq, "at": at, "prev_hash": prev_hash, **{f: getattr(entry, f) for f in _FIELDS}}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def entry_hash(seq: int, at: str, entry: AuditEntry, prev_hash: str) -> str:
    return hashlib.sha256(canonical(seq, at, entry, prev_hash)).hexdigest()


def append(conn: sqlite3.Connection, entry: AuditEntry, at: str | None = None) -> int:
    """Append one entry; call inside a write transaction (``BEGIN IMMEDIATE``) so the chain stays linear."""
    return append_many(conn, [entry], at)


def append_many(conn: sqlite3.Connection, entries: list[AuditEntry], at: str | None = None) -> int:
    """Append entries in order, chained; inside a write transaction. Returns the last sequence number."""
    at = at or dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    seq, prev = (last[0], last[1]) if last else (0, GENESIS)
    rows = []
    for entry in entries:
        seq += 1
        digest = entry_hash(seq, at, entry, prev)
        rows.append([seq, at, entry.actor, entry.action, entry.outcome, entry.record_id, entry.case_id,
                     entry.purpose, json.dumps(entry.details, sort_keys=True, ensure_ascii=False), prev, digest])
        prev = digest
    conn.executemany(
        "INSERT INTO audit (seq, at, actor, action, outcome, record_id, case_id, purpose, details, prev_hash, hash) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows,
    )
    return seq


def add_anchor(conn: sqlite3.Connection, head_seq: int, head_hash: str, at: str, pdf_path: str, sha256: str) -> None:
    """List an anchor document written for the log's head (inside the caller's transaction)."""
    conn.execute("INSERT INTO anchors (head_seq, head_hash, at, pdf_path, sha256) VALUES (?, ?, ?, ?, ?)",
                 [head_seq, head_hash, at, pdf_path, sha256])


def last_anchor(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The newest anchor: the entry it sealed and when."""
    row = conn.execute("SELECT head_seq, at FROM anchors ORDER BY id DESC LIMIT 1").fetchone()
    return dict(row) if row else None


def head(conn: sqlite3.Connection) -> dict[str, Any] | None:
    """The newest entry's number, hash and time."""
    row = conn.execute("SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return dict(row) if row else None


def hash_at(conn: sqlite3.Connection, seq: int) -> str | None:
    """The hash of entry ``seq``, if there is one."""
    row = conn.execute("SELECT hash FROM audit WHERE seq = ?", [seq]).fetchone()
    return row[0] if row else None


#: Audit actions that mean an input got through intake (for :func:`intake_mark`).
INTAKE_ACTIONS = ("ingest", "failure", "event", "countersign", "duplicate")


def intake_mark(conn: sqlite3.Connection) -> int:
    """How far intake has got: the newest entry saying an input got through (recorded, failed,
    events, a signed copy, a duplicate). Each action's maximum is read from its index."""
    parts = " UNION ALL ".join(["SELECT max(seq) AS m FROM audit WHERE action = ?"] * len(INTAKE_ACTIONS))
    return conn.execute(f"SELECT coalesce(max(m), 0) FROM ({parts})", list(INTAKE_ACTIONS)).fetchone()[0]


def preserved_versions(conn: sqlite3.Connection, record_id: str) -> list[tuple[int, str]]:
    """(size, SHA-256) of each earlier state of a record's sealed PDF that ``accord preserve`` replaced
    by appending to it (from the ``preservation`` entries)."""
    found = []
    for (details,) in conn.execute(
            "SELECT details FROM audit WHERE record_id = ? AND action = 'preservation' ORDER BY seq", [record_id]):
        value = json.loads(details)
        if isinstance(value.get("old_size"), int) and isinstance(value.get("old_sha256"), str):
            found.append((value["old_size"], value["old_sha256"]))
    return found


def _entry_of(row: Any) -> AuditEntry:
    return AuditEntry(row["actor"], row["action"], row["outcome"], row["record_id"], row["case_id"],
                      row["purpose"], json.loads(row["details"]))


def trigger_problems(conn: sqlite3.Connection) -> list[str]:
    """Each append-only trigger that is missing or differs from what :func:`migrate` creates, and any
    other trigger on the audit table (one could drop new entries silently), in a sentence naming it."""
    marks = ", ".join("?" * len(TRIGGERS))
    found = {row[0]: row[1] for row in conn.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND (tbl_name = 'audit' OR name IN ({marks}))",
        list(TRIGGERS))}
    problems = []
    for (name, sql), verb in zip(TRIGGERS.items(), _REFUSED.values()):
        if name not in found:
            problems.append(f"the trigger {name} is missing, so entries can be {verb} without an error")
        elif _normal(found[name]) != _normal(sql):
            problems.append(f"the trigger {name} was altered (it is not the one Accord created), so entries "
                            f"may be {verb} without an error")
    problems += [f"the audit table has a trigger {name} that Accord did not create"
                 for name in sorted(found) if name not in TRIGGERS]
    return problems


def _normal(sql: str | None) -> str:
    return " ".join((sql or "").split())


def verify_chain(conn: sqlite3.Connection, start_seq: int = 1) -> ChainReport:
    """Walk the whole log (or, from ``start_seq``, its newest part, taking that entry's link as given);
    name the first entry whose hash or link does not hold, and the append-only triggers that are not as created."""
    report = _walk_chain(conn, start_seq)
    problems = trigger_problems(conn)
    return dataclasses.replace(report, trigger_problems=problems) if problems else report


def _walk_chain(conn: sqlite3.Connection, start_seq: int) -> ChainReport:
    expected_seq, prev, count, head = start_seq, GENESIS, 0, (0, GENESIS)
    if start_seq > 1:
        first = conn.execute("SELECT prev_hash FROM audit WHERE seq = ?", [start_seq]).fetchone()
        if first is None:
            return ChainReport(0, *head, first_broken=start_seq, problem=f"entry {start_seq} is missing")
        prev = first[0]
    for row in conn.execute("SELECT * FROM audit WHERE seq >= ? ORDER BY seq", [start_seq]):
        count += 1
        seq = row["seq"]
        if seq != expected_seq:
            return ChainReport(count, *head, first_broken=expected_seq,
                               problem=f"entry {expected_seq} is missing (the log jumps from {expected_seq - 1} to {seq})")
        if row["prev_hash"] != prev:
            return ChainReport(count, *head, first_broken=seq,
                               problem=f"entry {seq} does not link to entry {seq - 1} (an entry was changed or removed)")
        try:
            entry = _entry_of(row)
        except (ValueError, TypeError):
            return ChainReport(count, *head, first_broken=seq, problem=f"entry {seq} cannot be read")
        if entry_hash(seq, row["at"], entry, prev) != row["hash"]:
            return ChainReport(count, *head, first_broken=seq, problem=f"entry {seq} was changed after it was written")
        prev = row["hash"]
        head = (seq, prev)
        expected_seq += 1
    return ChainReport(count, *head)


def time_bounds(since: str | None, until: str | None) -> tuple[str | None, str | None]:
    """``since`` and ``until`` as the UTC times :func:`entries` compares with; :class:`~pipeline.display.DateError`
    for one that cannot be read."""
    return (read_moment(since, "--since") if since else None,
            read_moment(until, "--until", end=True) if until else None)


def entries(conn: sqlite3.Connection, *, actor: str | None = None, action: str | None = None,
            record_id: str | None = None, since: str | None = None, until: str | None = None,
            limit: int = 100, newest_first: bool = True, before: int | None = None) -> Iterator[dict[str, Any]]:
    """Entries matching the filters; ``before`` pages back from an entry's sequence number.

    ``since`` and ``until`` are dates (2026-11-20, the whole day) or times (2026-11-20T14:30, UTC unless
    an offset is given); anything else is refused with :class:`~pipeline.display.DateError`, at the call,
    before any entry is read.
    """
    since, until = time_bounds(since, until)
    where, params = [], []
    if before is not None:
        where.append("seq < ?")
        params.append(before)
    for column, value in (("actor", actor), ("action", action), ("record_id", record_id)):
        if value:
            where.append(f"{column} = ?")
            params.append(value)
    if since:
        where.append("at >= ?")
        params.append(since)
    if until:
        where.append("at <= ?")
        params.append(until)
    sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(where) if where else "")
    sql += f" ORDER BY seq {'DESC' if newest_first else 'ASC'} LIMIT ?"
    return _decoded(conn.execute(sql, params + [limit]))


def _decoded(rows: Iterator[Any]) -> Iterator[dict[str, Any]]:
    for row in rows:
        item = dict(row)
        item["details"] = json.loads(item["details"])
        yield item


#: Audit actions that are requests for or disclosures of a record (FERPA 34 CFR 99.32).
DISCLOSURE_ACTIONS = ("retrieve", "view")


def disclosures(conn: sqlite3.Connection, record_id: str) -> list[dict[str, Any]]:
    """Every request for the record and every disclosure of it: who, when, purpose, outcome, what."""
    marks = ", ".join("?" * len(DISCLOSURE_ACTIONS))
    rows = conn.execute(
        f"SELECT * FROM audit WHERE record_id = ? AND action IN ({marks}) ORDER BY seq",
        [record_id, *DISCLOSURE_ACTIONS],
    )
    return list(_decoded(rows))
