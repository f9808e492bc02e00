"""The agenda as an iCalendar file (RFC 5545), for Outlook, phones and calendar feeds.

Each item is an all-day event: its summary is the case id and the kind ("ADR-2026-0150: term 2
due"), its UID stays the same from one export to the next (so a calendar that imports or
subscribes again updates the event rather than adding a copy), and nothing else is written: no
party, no allegation, no term's text, no note. Calendars are synced to phones and shared.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Iterable

import icalendar

from pipeline.cases.agenda import Item

PRODID = "-//Accord//ADR case agenda//EN"


def agenda_calendar(items: Iterable[Item], *, as_of: dt.date, name: str, scope: str) -> bytes:
    """The items as a calendar named ``name``; ``scope`` (the workspace and the person, hashed into each
    UID) keeps two people's feeds of the same case apart."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    stamp = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    for item in items:
        event = icalendar.Event()
        event.add("uid", _uid(scope, item))
        event.add("dtstamp", stamp)
        event.add("dtstart", item.date)
        event.add("dtend", item.date + dt.timedelta(days=1))
        overdue = " (overdue)" if item.overdue(as_of) else ""
        event.add("summary", f"{item.case_id}: {item.what}{overdue}")
        event.add("categories", [item.kind])
        event.add("transp", "TRANSPARENT")
        event.add("class", "CONFIDENTIAL")
        cal.add_component(event)
    return cal.to_ical()


def _uid(scope: str, item: Item) -> str:
    digest = hashlib.sha256(f"{scope}|{item.case_id}|{item.kind}|{item.ref}".encode()).hexdigest()[:32]
    return f"{digest}@accord"
