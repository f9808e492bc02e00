"""The agenda's dates: what falls due for each case and each agreement, kept ready to be listed.

This module owns the ``agenda`` table and its SQL. A case's dates (the answers its notices await,
its open terms' due dates, its breaches, its follow-up) are replaced whenever its state is stored
(``cases/casebook``); an MOU's (its expiry, its yearly review) when a version of it is recorded.
Listing is one indexed query by date. Items carry the case id and the kind only, never a name, an
allegation or a term's text: calendars get synced to phones and shared.
"""

from __future__ import annotations

import calendar
import datetime as dt
import functools
import re
from dataclasses import dataclass
from typing import Any, Iterable

import sqlite_utils
from sqlite_utils.migrations import Migrations

from pipeline.documents.casefile import CaseFile
from pipeline.documents.templates import values_at
from pipeline.records.schema import Database

MIGRATIONS = Migrations("agenda")
#: The kinds of items, in the order the agenda explains them.
KINDS = ("term-due", "breach", "follow-up", "notice-answer", "idle", "mou-review", "mou-expiry")
_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_name) if name}


@MIGRATIONS(name="0001_agenda")
def _agenda(db: sqlite_utils.Database) -> None:
    db.execute(
        """
        CREATE TABLE agenda (
            subject_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT NOT NULL,
            date TEXT NOT NULL,
            what TEXT NOT NULL,
            yearly INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (subject_id, kind, ref)
        )
        """
    )
    db.execute("CREATE INDEX agenda_date ON agenda(date)")


@dataclass(frozen=True)
class Item:
    """One thing due: its date, its kind, the case (or MOU) it is for, and what it is, in words that
    name no one ("term 2 due")."""

    date: dt.date
    kind: str
    case_id: str
    ref: str
    what: str
    yearly: bool = False

    def overdue(self, as_of: dt.date) -> bool:
        return self.date < as_of

    def as_dict(self, as_of: dt.date) -> dict[str, Any]:
        return {"date": self.date.isoformat(), "kind": self.kind, "case_id": self.case_id, "what": self.what,
                "overdue": self.overdue(as_of)}


def replace_for_case(catalog: Database, subject_id: str, items: Iterable[Item]) -> None:
    """A subject's dates are now ``items`` (inside the caller's transaction)."""
    conn = catalog.conn
    conn.execute("DELETE FROM agenda WHERE subject_id = ?", [subject_id])
    conn.executemany("INSERT OR REPLACE INTO agenda (subject_id, kind, ref, date, what, yearly) VALUES (?, ?, ?, ?, ?, ?)",
                     [[i.case_id, i.kind, i.ref, i.date.isoformat(), i.what, int(i.yearly)] for i in items])


def due_by(catalog: Database, horizon: dt.date, visible: tuple[str, list[Any]],
           subjects: tuple[str, list[Any]] = ("0", [])) -> list[Item]:
    """Every item dated ``horizon`` or before whose case ``visible`` (SQL on ``a.subject_id``) lets one
    see, or whose subject ``subjects`` names (an MOU one may view); yearly items at their next date."""
    where = f"(({visible[0]}) OR ({subjects[0]}))"
    params = [*visible[1], *subjects[1]]
    rows = catalog.conn.execute(
        f"SELECT subject_id, kind, ref, date, what, yearly FROM agenda a WHERE {where} AND "
        f"(a.date <= ? OR a.yearly = 1) ORDER BY a.date", [*params, horizon.isoformat()])
    return [Item(day_of(date), kind, subject, ref, what, bool(yearly))
            for subject, kind, ref, date, what, yearly in rows]


@functools.lru_cache(maxsize=4096)
def day_of(text: str) -> dt.date:
    """An ISO date (agenda dates repeat: a few thousand distinct days cover years of items)."""
    return dt.date.fromisoformat(text)


#: Where each kind comes among the items of one day and case.
RANK = {kind: number for number, kind in enumerate(KINDS)}


def next_yearly(first: dt.date, as_of: dt.date) -> dt.date:
    """The first occurrence of a yearly date on or after ``as_of`` (never before ``first``)."""
    if as_of <= first:
        return first
    day = _same_day(first, as_of.year)
    return day if day >= as_of else _same_day(first, as_of.year + 1)


def _same_day(first: dt.date, year: int) -> dt.date:
    return first.replace(year=year, day=min(first.day, calendar.monthrange(year, first.month)[1]))


_YEARLY = re.compile(r"\b(?:annual(?:ly)?|yearly|every year|each year)\b", re.IGNORECASE)


def yearly_review(text: str, start: dt.date) -> dt.date | None:
    """The first day of a review written in words ("Annually, each December.") on or after ``start``:
    the first of the month it names, when the words say it comes every year; ``None`` otherwise."""
    if not _YEARLY.search(text):
        return None
    month = next((n for word, n in _MONTHS.items() if re.search(rf"\b{word}\b", text, re.IGNORECASE)), None)
    if month is None:
        return None
    day = dt.date(start.year, month, 1)
    return day if day >= start else dt.date(start.year + 1, month, 1)


def document_items(case: CaseFile) -> list[Item]:
    """The dates a document without a case puts on the agenda (an MOU's expiry and its review), as its
    template's ``agenda`` declaration names them: a date field, or words such as "Annually, each
    December." for a review that comes every year."""
    items = []
    start = case.record_date or dt.date.today()
    for key, path in case.template.agenda.items():
        kind = f"{case.template.record_class}-{key}"
        for value in values_at(case.data, path):
            if isinstance(value, dt.date):
                items.append(Item(value, kind, case.subject_id, key, _WHAT[key]))
            elif isinstance(value, str) and (first := yearly_review(value, start)) is not None:
                items.append(Item(first, kind, case.subject_id, key, _WHAT[key], yearly=True))
    return items


_WHAT = {"expiry": "expires", "review": "review due"}
