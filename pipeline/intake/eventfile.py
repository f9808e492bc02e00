"""Case events (a consent, a session, a case's closure, an agreement's expiry...) from event files.

A CSV file whose header starts ``case_id,event,date`` and may go on with ``party``, ``term`` and
``note`` (in any order), or a YAML/JSON file with an ``events:`` list of the same fields. The file
is checked whole: every problem is reported by row, and nothing is recorded unless every row is
valid (an unknown case id is a problem, not a silent drop). Whether each event fits its case is
the case register's to say (``cases/admission``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any, Callable, Iterable

from pipeline.documents.casefile import SAFE_ID, _load_json, _load_yaml, decode_text
from pipeline.errors import IntakeError, Waiting
from pipeline.records.events import EVENT_NAMES, NEEDS_PARTY, NEEDS_TERM, CaseEvent
from pipeline.text import character_problem

CSV_FIELDS = ("case_id", "event", "date", "party", "term", "note")
MAX_ROWS = 10_000
MAX_NOTE = 1000
MAX_PARTY = 200
MAX_TERM = 50
#: Events that may name a party (the others concern the whole case).
TAKES_PARTY = NEEDS_PARTY | {"session", "supportive-measure", "case-withdrawn"}


def is_event_file(name: str, raw: bytes) -> bool:
    """CSV files are event files; a YAML or JSON file is one when it starts with ``events:``."""
    lower = name.lower()
    if lower.endswith(".csv"):
        return True
    head = raw.lstrip(b"\xef\xbb\xbf").lstrip()
    if lower.endswith((".yaml", ".yml")):
        lines = [ln for ln in head.splitlines() if ln.strip() and not ln.lstrip().startswith(b"#")]
        return bool(lines) and lines[0].startswith(b"events:")
    if lower.endswith(".json"):
        return head.startswith(b"{") and b'"events"' in head[:200] and b'"template"' not in head
    return False


def parse_events(raw: bytes, name: str, known_case: Callable[[str], bool]) -> list[CaseEvent]:
    """Every event of the file (see :func:`parse_event_rows`)."""
    return [event for _, event in parse_event_rows(raw, name, known_case)]


def parse_event_rows(raw: bytes, name: str, known_case: Callable[[str], bool]) -> list[tuple[str, CaseEvent]]:
    """Every event of the file with its place (``line 3``), or :class:`IntakeError` naming each bad row.

    When the only problem is that some rows name cases with no record yet, the file raises
    :class:`Waiting` instead: the case's first file may be in the same batch, still on its way."""
    text = decode_text(raw, "event file")
    rows = _csv_rows(text) if name.lower().endswith(".csv") else _mapping_rows(text, name)
    events, problems, unknown = [], [], {}
    for label, row in rows:
        event, row_problems = check_row(label, row)
        problems.extend(row_problems)
        if event:
            events.append((label, event))
            if not known_case(event.case_id):
                unknown.setdefault(event.case_id, label)
    if problems:
        raise IntakeError(f"The event file was not recorded: {_listing(problems)}.", problems)
    if not events:
        raise IntakeError("The event file holds no events.")
    if unknown:
        missing = [f"{label}: no record belongs to case {case_id}" for case_id, label in unknown.items()]
        raise Waiting(f"The event file was not recorded: {_listing(missing)}.", tuple(unknown), missing)
    return events


def _listing(problems: list[str]) -> str:
    return "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")


def _csv_rows(text: str) -> Iterable[tuple[str, dict[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = tuple(h.strip() for h in (reader.fieldnames or ()))
    if header[:3] != CSV_FIELDS[:3] or set(header) - set(CSV_FIELDS):
        raise IntakeError("The event file's first line must start case_id,event,date and may go on with "
                          "party, term and note.")
    rows = []
    try:
        for number, row in enumerate(reader, start=2):
            if number > MAX_ROWS + 1:
                raise IntakeError(f"The event file has more than {MAX_ROWS} rows.")
            if None in row:
                rows.append((f"line {number}", {"_extra": True}))
                continue
            rows.append((f"line {number}", {k.strip(): (v or "").strip() for k, v in row.items()}))
    except csv.Error as exc:
        raise IntakeError(f"The event file is not valid CSV: {exc}.") from None
    return rows


def _mapping_rows(text: str, name: str) -> Iterable[tuple[str, dict[str, Any]]]:
    data = _load_json(text) if name.lower().endswith(".json") else _load_yaml(text)
    if not isinstance(data, dict) or set(data) != {"events"} or not isinstance(data["events"], list):
        raise IntakeError("An event file holds one field, events: a list of case_id, event, date, and "
                          "optionally party, term and note.")
    if len(data["events"]) > MAX_ROWS:
        raise IntakeError(f"The event file has more than {MAX_ROWS} events.")
    return [(f"events[{i}]", row if isinstance(row, dict) else {"_not_a_mapping": True})
            for i, row in enumerate(data["events"])]


def check_row(label: str, row: dict[str, Any]) -> tuple[CaseEvent | None, list[str]]:
    """One event's fields (``case_id``, ``event``, ``date``, ``party``, ``term``, ``note``) as an event, or
    what is wrong with them, each problem starting with ``label``."""
    if row.get("_extra"):
        return None, [f"{label} has more values than the header names"]
    if row.get("_not_a_mapping"):
        return None, [f"{label} must be a group of fields (case_id, event, date, party, term, note)"]
    problems = []
    unknown = set(row) - set(CSV_FIELDS)
    problems += [f"{label}.{k} is not a field of an event" for k in sorted(map(str, unknown))]
    case_id = row.get("case_id")
    if not case_id:
        problems.append(f"{label}: case_id is missing")
    elif not isinstance(case_id, str) or not SAFE_ID.match(case_id) or ".." in case_id:
        problems.append(f"{label}: case_id is not a valid id")
    name = row.get("event")
    event = EVENT_NAMES.get(str(name).strip().lower()) if name else None
    if not name:
        problems.append(f"{label}: event is missing")
    elif event is None:
        problems.append(f"{label}: event must be one of {', '.join(sorted(set(EVENT_NAMES.values())))}")
    date = _date(row.get("date"))
    if row.get("date") in (None, ""):
        problems.append(f"{label}: date is missing")
    elif date is None:
        problems.append(f"{label}: date should be written like 2026-11-20")
    note = row.get("note") or ""
    if not isinstance(note, str) or len(note) > MAX_NOTE:
        problems.append(f"{label}: note must be text of at most {MAX_NOTE} characters")
    elif character_problem(note):
        problems.append(f"{label}: note {character_problem(note)}")
    party, party_problems = _party(label, row.get("party"), event)
    term, term_problems = _term(label, row.get("term"), event)
    problems += party_problems + term_problems
    if problems:
        return None, problems
    return CaseEvent(case_id, event, date, note, party, term), []


def _party(label: str, value: Any, event: str | None) -> tuple[str, list[str]]:
    party = value.strip() if isinstance(value, str) else value
    if party in (None, ""):
        return "", [f"{label}: {event} must name the party (the party column)"] if event in NEEDS_PARTY else []
    if not isinstance(party, str) or len(party) > MAX_PARTY:
        return "", [f"{label}: party must be a name of at most {MAX_PARTY} characters"]
    if character_problem(party):
        return "", [f"{label}: party {character_problem(party)}"]
    if event and event not in TAKES_PARTY:
        return "", [f"{label}: {event} concerns the whole case and names no party"]
    return party, []


def _term(label: str, value: Any, event: str | None) -> tuple[int | None, list[str]]:
    if value in (None, ""):
        return None, [f"{label}: {event} must name the term (the term column: its number)"] if event in NEEDS_TERM \
            else []
    number = value if isinstance(value, int) and not isinstance(value, bool) else None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    if number is None or not 1 <= number <= MAX_TERM:
        return None, [f"{label}: term must be the number of a term of the agreement (1 to {MAX_TERM})"]
    if event and event not in NEEDS_TERM:
        return None, [f"{label}: only term events (term-completed, term-waived, term-breached) name a term"]
    return number, []


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None

