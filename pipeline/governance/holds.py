"""Legal holds: a named freeze, with a reason and an author, on a case, a record or a search.

A record under any active hold is never disposed of, and stays frozen until it is
released from every hold. A hold on a case covers the case's future records too; a
hold on a search covers the records that matched when it was placed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.errors import HoldError
from pipeline.records import audit
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog
from pipeline.records.schema import utc_now
from pipeline.records.search import SearchQuery, search_page

SCOPES = ("case", "record", "search")

MIGRATIONS = Migrations("holds")


@MIGRATIONS(name="0001_holds")
def _holds(db: sqlite_utils.Database) -> None:
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


@dataclass(frozen=True)
class Hold:
    id: int
    name: str
    reason: str
    author: str
    placed_at: str
    scope_kind: str
    scope_value: str
    released_at: str | None
    records: int


def place(catalog: Catalog, *, name: str, reason: str, author: str, case_id: str | None = None,
          record_id: str | None = None, search: str | None = None,
          visible: tuple[str, list[Any]] = ("1", [])) -> Hold:
    """Place a hold on exactly one scope; returns it with the number of records it covers now."""
    scopes = [(k, v) for k, v in (("case", case_id), ("record", record_id), ("search", search)) if v]
    if len(scopes) != 1:
        raise HoldError("A hold covers exactly one of: a case (--case), a record (--record) or a search (--search).")
    if not name.strip() or not reason.strip():
        raise HoldError("A hold needs a name and a reason.")
    kind, value = scopes[0]
    if kind == "record" and not catalog.find(value):
        raise HoldError(f"No record {value!r}.")
    # A search may name people: the hold keeps the records it found and only a hash of the words.
    stored = f"search sha256:{_digest(value)}" if kind == "search" else value
    now = utc_now()
    with catalog.transaction():
        hold_id = catalog.conn.execute(
            "INSERT INTO holds (name, reason, author, placed_at, scope_kind, scope_value) VALUES (?, ?, ?, ?, ?, ?)",
            [name.strip(), reason.strip(), author, now, kind, stored],
        ).lastrowid
        if kind == "search":
            records, _ = search_page(catalog, SearchQuery(text=value, limit=100_000), visible, count=False)
            catalog.conn.executemany("INSERT INTO hold_items (hold_id, record_id) VALUES (?, ?)",
                                        [(hold_id, r["record_id"]) for r in records])
        audit.append(catalog.conn, AuditEntry(
            author, "hold-place", "ok", record_id=value if kind == "record" else None,
            case_id=value if kind == "case" else None,
            details={"hold": hold_id, "name": name.strip(), "scope": kind,
                     "search_sha256": _digest(value) if kind == "search" else None},
        ))
    return get(catalog, hold_id)


def release(catalog: Catalog, hold_id: int, *, by: str, reason: str) -> Hold:
    if not reason.strip():
        raise HoldError("Say why the hold is released (--reason).")
    current = get(catalog, hold_id)
    if current.released_at:
        raise HoldError(f"Hold {hold_id} was already released on {current.released_at[:10]}.")
    with catalog.transaction():
        catalog.conn.execute("UPDATE holds SET released_at = ?, released_by = ?, release_reason = ? WHERE id = ?",
                           [utc_now(), by, reason.strip(), hold_id])
        audit.append(catalog.conn, AuditEntry(by, "hold-release", "ok", details={"hold": hold_id,
                                                                                    "name": current.name}))
    return get(catalog, hold_id)


def get(catalog: Catalog, hold_id: int) -> Hold:
    row = catalog.conn.execute("SELECT * FROM holds WHERE id = ?", [hold_id]).fetchone()
    if row is None:
        raise HoldError(f"No hold {hold_id}.")
    return _hold(catalog, row)


def listing(catalog: Catalog, include_released: bool = False) -> list[Hold]:
    sql = "SELECT * FROM holds" + ("" if include_released else " WHERE released_at IS NULL") + " ORDER BY id"
    return [_hold(catalog, row) for row in catalog.conn.execute(sql)]


def _hold(catalog: Catalog, row: Any) -> Hold:
    return Hold(row["id"], row["name"], row["reason"], row["author"], row["placed_at"], row["scope_kind"],
                row["scope_value"], row["released_at"], _covered(catalog, row))


def _covered(catalog: Catalog, row: Any) -> int:
    if row["scope_kind"] == "case":
        return catalog.count(row["scope_value"])
    if row["scope_kind"] == "record":
        return 1
    return catalog.conn.execute("SELECT count(*) FROM hold_items WHERE hold_id = ?", [row["id"]]).fetchone()[0]


def active_holds_sql(case: str, record: str) -> str:
    """SQL selecting the ids of active holds covering the record whose case id and record id are
    the SQL expressions ``case`` and ``record`` (columns of an outer query, or ``?``)."""
    return (
        "SELECT h.id FROM holds h WHERE h.released_at IS NULL AND ("
        f"(h.scope_kind = 'case' AND h.scope_value = {case}) OR "
        f"(h.scope_kind = 'record' AND h.scope_value = {record}) OR "
        "(h.scope_kind = 'search' AND EXISTS (SELECT 1 FROM hold_items i WHERE i.hold_id = h.id "
        f"AND i.record_id = {record})))"
    )


def is_held(catalog: Catalog, record: dict[str, Any]) -> bool:
    """Whether any active hold covers the record."""
    return catalog.conn.execute(active_holds_sql(":case", ":record"),
                                {"case": record["case_id"], "record": record["record_id"]}).fetchone() is not None


def holds_on(catalog: Catalog, record: dict[str, Any]) -> list[Hold]:
    """The active holds covering a record."""
    ids = [r[0] for r in catalog.conn.execute(active_holds_sql(":case", ":record"),
                                            {"case": record["case_id"], "record": record["record_id"]})]
    return [get(catalog, i) for i in ids]


def _digest(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()
