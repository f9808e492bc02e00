"""The catalog file: one SQLite database, opened the same way by every process and thread.

WAL mode and a busy timeout let the watcher's workers, the portal and the command line share it;
``secure_delete`` overwrites what a disposition deletes; each write is one ``BEGIN IMMEDIATE``
transaction. Every area owns its tables and declares their migrations as a sqlite-utils
``Migrations`` set of its own (``Migrations("audit")`` in ``records/audit.py``...);
:func:`migrate` brings a file up to date with the sets it is given, all in one transaction, so two
processes starting at once cannot both create a table. ``pipeline/store.py`` names the sets.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path
from typing import Iterable, Mapping

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.errors import CatalogError

BUSY_TIMEOUT_MS = 30_000
#: Page cache per connection (KiB): index inserts and searches on large catalogs stay in memory.
CACHE_KIB = 64 * 1024
#: Where migrations were listed before each area had its own set (one list of numbered steps).
LEGACY_TABLE = "schema_migrations"


def utc_now() -> str:
    """The current time as the catalog writes it (ISO 8601, UTC, to the second)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class Database:
    """The catalog file opened: one connection, for one thread (``check_same_thread`` is off only so a
    connection can be closed from the thread that made it after another used it)."""

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
        try:
            path.chmod(0o600)
        except OSError:
            pass

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def transaction(self) -> "Transaction":
        return Transaction(self.db.conn)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transaction:
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


def migrate(database: Database, sets: Iterable[Migrations],
            legacy: Mapping[str, tuple[tuple[str, str], ...]] = {}) -> None:
    """Apply every pending migration of ``sets``, in order, in one transaction. A file migrated
    before the areas had sets of their own has its old steps marked applied first (``legacy`` maps
    each old step's name to the (set, migration) pairs that now do what it did)."""
    db = database.db
    sets = list(sets)
    try:
        with database.transaction():
            _convert_legacy(db, sets, legacy)
            for migrations in sets:
                migrations.apply(db)
    except sqlite3.Error as exc:
        raise CatalogError(f"The catalog {database.path.name} could not be brought up to date: {exc}.") from None


def _convert_legacy(db: sqlite_utils.Database, sets: list[Migrations],
                    legacy: Mapping[str, tuple[tuple[str, str], ...]]) -> None:
    if LEGACY_TABLE not in db.table_names():
        return
    done = [row[0] for row in db.execute(f"SELECT name FROM {LEGACY_TABLE} ORDER BY rowid")]
    unknown = [name for name in done if name not in legacy]
    if unknown:
        raise CatalogError(f"The catalog was migrated by a newer Accord ({', '.join(unknown)}); "
                           "use that version.")
    if sets:
        sets[0].ensure_migrations_table(db)
    now = str(dt.datetime.now(dt.timezone.utc))
    for name in done:
        for area, step in legacy[name]:
            db.execute("INSERT OR IGNORE INTO _sqlite_migrations (migration_set, name, applied_at) VALUES (?, ?, ?)",
                       [area, step, now])
    db.execute(f"DROP TABLE {LEGACY_TABLE}")
