"""Log formats for the command line: plain lines for people, JSON lines for log collectors.

Messages carry file names, record ids, steps and timings, never case content or secrets. One
record is always one line: the text format shows control characters as escapes (a file name
with a newline cannot forge a line), the JSON format escapes them as JSON does.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from pipeline.display import escape, escape_json

#: Libraries whose failures Accord reports itself (a damaged PDF is a verification finding): their
#: records become one plain line naming the logger and the kind of error, without their message
#: (it may carry a certificate's subject, a person's name) or their traceback.
TERSE_LOGGERS = ("pyhanko", "pyhanko_certvalidator", "asn1crypto", "oscrypto", "fontTools")

class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and Accord's structured fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "accord", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return escape_json(json.dumps(entry, ensure_ascii=False, default=str))


class TextFormatter(logging.Formatter):
    """``time LEVEL message`` on one line: newlines and other control characters are shown escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        return escape(super().format(record))


def is_library(record: logging.LogRecord) -> bool:
    """Whether the record comes from one of :data:`TERSE_LOGGERS`."""
    return record.name.split(".", 1)[0] in TERSE_LOGGERS


def library_summary(record: logging.LogRecord) -> str:
    """What a library's record may say in Accord's log: the kind of error and where, never the message
    or the traceback (``ValueError in pyhanko.sign.validation.generic_cms``)."""
    error = record.exc_info[0].__name__ if isinstance(record.exc_info, tuple) and record.exc_info[0] else None
    return f"{error or 'a ' + record.levelname.lower()} in {record.name}"


class TerseFilter(logging.Filter):
    """Turns a record from :data:`TERSE_LOGGERS` into one line: ``The PDF libraries reported
    ValueError in pyhanko.sign.validation.generic_cms.``"""

    def filter(self, record: logging.LogRecord) -> bool:
        if is_library(record):
            record.msg, record.args = "The PDF libraries reported %s.", (library_summary(record),)
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True

def configure(level: int = logging.INFO, fmt: str = "text") -> None:
    """Send Accord's log to standard error in the chosen format."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(TerseFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    logging.getLogger("accord").setLevel(level)
    # fontTools complains about harmless font header dates while subsetting the seal's font.
    logging.getLogger("fontTools").setLevel(logging.ERROR)
