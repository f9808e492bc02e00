"""What people see and what they type: values made safe to print, dates read strictly.

:func:`escape` is the one place that decides how a value from a case or a file name is shown
on a terminal or in a text log: control and format characters (a newline that would forge a
log line, U+202E that would turn text around) become visible escapes such as ``\\u202e``;
letters of every script, accents and CJK stay as they are.

:func:`read_date` and :func:`read_moment` read the dates and times people type (command-line
options, the audit filter) and say what is wrong with one that cannot be read.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import unicodedata

from pipeline.errors import DateError

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _unsafe(ch: str) -> bool:
    # Cc: C0 and C1 controls; Cf: format characters (bidi controls, U+200B-U+200F, U+2066-U+2069...);
    # Zl/Zp: U+2028 and U+2029, which end a line for many viewers.
    # Cs: lone surrogates (an undecodable byte of a file name), which no terminal can show.
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def _escaped(ch: str) -> str:
    if ch in _SHORT:
        return _SHORT[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(value: object) -> str:
    """``value`` as text with every control or format character shown as an escape (one line, read as written)."""
    text = "" if value is None else str(value)
    if text.isprintable():  # the usual case: nothing to do (printable excludes every character escaped here)
        return text
    return "".join(_escaped(ch) if _unsafe(ch) else ch for ch in text)


def escape_json(text: str) -> str:
    """JSON text (from ``json.dumps``) with the characters :func:`escape` shows written as JSON escapes:
    the data read back is unchanged. ``json.dumps`` escapes C0 controls inside strings itself, so the
    ones left (the indentation's newlines) are the layout and stay."""
    if text.isprintable():
        return text
    return "".join(_json_escaped(ch) if ch >= "\x7f" and _unsafe(ch) else ch for ch in text)


def _json_escaped(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes characters beyond the first plane
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


# --- dates ---------------------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_MOMENT = re.compile(r"(\d{4}-\d{1,2}-\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
                     r"(Z|[+-]\d{2}:?\d{2})?)?", re.ASCII)


def read_date(text: str) -> dt.date:
    """A date written year-month-day (2026-11-20); an impossible one (2026-02-30) is refused saying why."""
    value = (text or "").strip()
    match = _DATE.fullmatch(value)
    if not match:
        raise DateError(f"{escape(value[:40])} is not a date like 2026-11-20 (year-month-day).")
    year, month, day = (int(g) for g in match.groups())
    if year < 1:
        raise DateError(f"{value} is not a date: there is no year 0.")
    if not 1 <= month <= 12:
        raise DateError(f"{value} is not a date: there is no month {month} (months are 1 to 12).")
    days = calendar.monthrange(year, month)[1]
    if not 1 <= day <= days:
        raise DateError(f"{value} is not a date: {calendar.month_name[month]} {year} has {days} days.")
    return dt.date(year, month, day)


def read_moment(text: str, name: str, *, end: bool = False) -> str:
    """The bound ``name`` (``--since``, ``--until``) as a UTC ISO 8601 time the audit log's ``at`` compares with.

    A date means its whole day: from its start, or (``end``) up to and including its last moment.
    A time without an offset is UTC, the time the audit log shows.
    """
    value = (text or "").strip()
    match = _MOMENT.fullmatch(value)
    if not match:
        raise DateError(f"{name} must be a date like 2026-11-20 or a time like 2026-11-20T14:30.")
    try:
        day = read_date(match.group(1))
    except DateError as exc:
        raise DateError(f"{name}: {exc}") from None
    hour, minute, second, fraction, zone = match.groups()[1:]
    if hour is None:
        moment = dt.datetime.combine(day, dt.time.max if end else dt.time(), dt.timezone.utc)
        return moment.isoformat(timespec="microseconds")
    try:
        clock = dt.time(int(hour), int(minute), int(second or 0), int((fraction or "0").ljust(6, "0")))
    except ValueError:
        raise DateError(f"{name}: {value} is not a time: hours run from 00 to 23, minutes and seconds "
                        "from 00 to 59.") from None
    try:
        moment = dt.datetime.combine(day, clock, _zone(zone)).astimezone(dt.timezone.utc)
    except ValueError:
        raise DateError(f"{name}: {value} is not a time: an offset from UTC is less than 24 hours.") from None
    except OverflowError:
        raise DateError(f"{name}: {value} is outside the years 1 to 9999 once turned into UTC.") from None
    return moment.isoformat(timespec="microseconds")


def _zone(zone: str | None) -> dt.timezone:
    if not zone or zone == "Z":
        return dt.timezone.utc
    digits = zone[1:].replace(":", "")
    offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return dt.timezone(-offset if zone[0] == "-" else offset)
