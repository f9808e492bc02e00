"""Case files: read a case file safely and check it against its template's schema.

The file is size-limited, must be UTF-8 text, is parsed without YAML tags,
aliases or duplicate keys, and every problem is reported in plain words with
the field's place (``parties[1].name is missing``).
"""

from __future__ import annotations

import datetime as dt
import errno
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.documents.templates import TemplateSpec, values_at
from pipeline.errors import IntakeError, SystemFault
from pipeline.text import character_problem, name_key

YAML_SUFFIXES = (".yaml", ".yml")
JSON_SUFFIXES = (".json",)
CASE_SUFFIXES = YAML_SUFFIXES + JSON_SUFFIXES
#: Party-signed copies of sealed records (routed to :mod:`pipeline.countersign`; never parsed as case files).
SIGNED_COPY_SUFFIXES = (".pdf",)
INPUT_SUFFIXES = CASE_SUFFIXES + SIGNED_COPY_SUFFIXES
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_MAX_PROBLEMS = 20


@dataclass(frozen=True)
class CaseFile:
    """A validated case file, ready to assemble."""

    source_name: str
    raw: bytes
    sha256: str
    suffix: str
    template: TemplateSpec
    data: dict[str, Any]
    subject_id: str
    title: str
    record_date: dt.date | None
    party_names: tuple[str, ...]
    party: str | None = None
    """The party of the case the document is for (the template's ``party`` field), if one."""

    @property
    def variant(self) -> str:
        """Which version line of the case's documents of this template the file belongs to: one per
        party for a document meant for one party, else one."""
        return name_key(self.party) if self.party else ""

    @property
    def record_id(self) -> str:
        """Deterministic: the same bytes always give the same record id."""
        return f"{self.subject_id}-{self.sha256[:8]}"


def is_signed_copy(name: str) -> bool:
    """Whether an inbox file is a party-signed copy of a record (a PDF), not a case file."""
    return Path(name).suffix.lower() in SIGNED_COPY_SUFFIXES


#: Read errors that are the system's (a full or read-only disk, permissions of the service), not the file's.
_SYSTEM_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO}


def read_limited(path: Path, max_bytes: int) -> bytes:
    """Read at most ``max_bytes``; a larger file is refused without reading it whole. A file that
    cannot be read is an :class:`IntakeError`, unless the reason is the system's (:class:`SystemFault`)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        if exc.errno in _SYSTEM_ERRNOS:
            raise SystemFault(f"The inbox cannot be read: {exc.strerror}.") from exc
        raise IntakeError(f"The file could not be read: {exc.strerror}.") from None
    if len(data) > max_bytes:
        raise IntakeError(f"The file is larger than the limit of {_size(max_bytes)}.")
    return data


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n} bytes"


def parse_case(raw: bytes, source_name: str, templates: dict[str, TemplateSpec], max_bytes: int) -> CaseFile:
    """Turn a case file's bytes into a validated :class:`CaseFile` or raise :class:`IntakeError`."""
    suffix = Path(source_name).suffix.lower()
    if suffix not in CASE_SUFFIXES:
        raise IntakeError(f"Accord reads .yaml, .yml and .json case files; this file ends in {suffix or 'nothing'}.")
    if len(raw) > max_bytes:
        raise IntakeError(f"The file is larger than the limit of {_size(max_bytes)}.")
    text = decode_text(raw)
    data = _load_json(text) if suffix in JSON_SUFFIXES else _load_yaml(text)
    if not isinstance(data, dict):
        raise IntakeError("The file must hold a mapping of fields (like 'template: ...'), not a list or a single value.")
    spec = _template_for(data, templates)
    data = _plain(data)
    problems = _problems(spec, data)
    if problems:
        shown = problems[:_MAX_PROBLEMS]
        more = len(problems) - len(shown)
        summary = "; ".join(shown) + (f"; and {more} more" if more else "")
        raise IntakeError(f"The case file does not match the {spec.name} template: {summary}.", problems)
    normal = _with_dates(_fill_optional(data, spec.schema), spec.schema)
    subject = values_at(normal, spec.subject)
    if not subject or not isinstance(subject[0], str):
        raise IntakeError(f"{spec.subject} is missing.")
    subject_id = subject[0]
    _check_id(spec.subject, subject_id)
    dates = values_at(normal, spec.record_date) if spec.record_date else []
    names = tuple(str(v) for path in spec.party_names for v in values_at(normal, path))
    party = values_at(normal, spec.party) if spec.party else []
    return CaseFile(
        source_name=source_name,
        raw=raw,
        sha256=hashlib.sha256(raw).hexdigest(),
        suffix=".json" if suffix in JSON_SUFFIXES else ".yaml",
        template=spec,
        data=normal,
        subject_id=subject_id,
        title=spec.format_title(normal),
        record_date=dates[0] if dates and isinstance(dates[0], dt.date) else None,
        party_names=names,
        party=str(party[0]) if party else None,
    )


def decode_text(raw: bytes, what: str = "file") -> str:
    """The bytes of a text input as text: not empty, not binary, UTF-8 (a BOM is allowed)."""
    if not raw.strip():
        raise IntakeError(f"The {what} is empty.")
    if _looks_utf16(raw):
        raise IntakeError(f"The {what} is UTF-16 text; save it as UTF-8 (in most editors: Save As, "
                          "Encoding: UTF-8) and drop it again.")
    if b"\x00" in raw:
        raise IntakeError(f"The {what} is not a text file (it contains binary data).")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IntakeError(
            f"The {what} is not UTF-8 text (an invalid byte at position {exc.start}); save it as UTF-8."
        ) from None


def _looks_utf16(raw: bytes) -> bool:
    """Whether the bytes read as UTF-16 (with or without a byte-order mark): case files are
    mostly ASCII (their keys are), so UTF-16 text decodes to mostly plain ASCII characters."""
    head = raw[:1024]
    for encoding, mark in (("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")):
        body = head[len(mark):] if head.startswith(mark) else head
        text = body[: len(body) // 2 * 2].decode(encoding, "replace")
        plain = sum(1 for c in text if c.isascii() and (c.isprintable() or c in "\t\r\n"))
        if len(text) >= 4 and plain >= 0.9 * len(text):
            return True
    return False


def _check_id(where: str, value: str) -> None:
    if not SAFE_ID.match(value) or ".." in value:
        raise IntakeError(
            f"{where} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit, "
            "without '..' or slashes."
        )


def _template_for(data: dict[str, Any], templates: dict[str, TemplateSpec]) -> TemplateSpec:
    name = data.get("template")
    known = ", ".join(sorted(templates))
    if name is None:
        raise IntakeError(f"template is missing: say which template this file is for ({known}).")
    if not isinstance(name, str) or name not in templates:
        shown = name if isinstance(name, str) and SAFE_ID.match(name) else "(a name that is not shown)"
        raise IntakeError(f"Unknown template {shown!r}; the templates are: {known}.")
    return templates[name]


# --- parsing --------------------------------------------------------------------------------


class _SafeLoader(yaml.SafeLoader):
    """YAML's safe loader, further refusing aliases (no alias bombs) and duplicate keys.

    Dates stay text here: the schema checks them and names the field (PyYAML itself
    would raise a bare error on an impossible date such as 2026-02-30).
    """

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise IntakeError(
                f"The file uses a YAML alias (*{event.anchor}) on line {event.start_mark.line + 1}; "
                "aliases are not allowed in case files, write the value out."
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        seen: set[Any] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int)):
                continue
            if key in seen:
                raise IntakeError(f"The field {key!r} appears twice (line {key_node.start_mark.line + 1}).")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _load_yaml(text: str) -> Any:
    try:
        docs = list(yaml.load_all(text, Loader=_SafeLoader))
    except IntakeError:
        raise
    except yaml.constructor.ConstructorError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise IntakeError(
            f"The file uses a YAML tag that is not allowed (line {line}); case files hold plain values only."
        ) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        raise IntakeError(f"The file contains a character that cannot appear in a case file (line {line}).") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" on line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "it could not be read"
        raise IntakeError(f"The file is not valid YAML{where}: {problem}.") from None
    except RecursionError:
        raise IntakeError("The file is nested too deeply to be a case file.") from None
    except (ValueError, TypeError) as exc:
        raise IntakeError(f"The file holds a value that cannot be read ({type(exc).__name__}).") from None
    if len(docs) != 1:
        raise IntakeError("The file must hold exactly one YAML document.")
    return docs[0]


def _load_json(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise IntakeError(f"The field {key!r} appears twice.")
            result[key] = value
        return result

    try:
        return json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        raise IntakeError(f"The file is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}.") from None
    except RecursionError:
        raise IntakeError("The file is nested too deeply to be a case file.") from None


def _plain(value: Any) -> Any:
    """Dates become ISO strings, so YAML and JSON files validate alike."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, str) else k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


# --- validation -----------------------------------------------------------------------------


def _problems(spec: TemplateSpec, data: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    for error in sorted(spec.validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path]):
        problems.extend(_describe(error))
    problems.extend(_control_characters(data, ""))
    return list(dict.fromkeys(problems))


def _path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


_TYPE_WORDS = {
    "string": "text", "object": "a group of fields", "array": "a list", "integer": "a whole number",
    "number": "a number", "boolean": "true or false", "null": "empty",
}


def _describe(error: Any) -> list[str]:
    where = _path(error.absolute_path)
    label = where or "the file"
    kind = error.validator
    if kind == "required":
        missing = [p for p in error.validator_value if isinstance(error.instance, dict) and p not in error.instance]
        return [f"{_path(list(error.absolute_path) + [p])} is missing" for p in missing]
    if kind == "additionalProperties":
        allowed = set((error.schema.get("properties") or {}))
        extra = [k for k in error.instance if k not in allowed] if isinstance(error.instance, dict) else []
        return [f"{_path(list(error.absolute_path) + [k])} is not a field of this template" for k in extra]
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return [f"{label} should be {' or '.join(_TYPE_WORDS.get(w, w) for w in wanted)}"]
    if kind == "format":
        if error.validator_value == "date":
            return [f"{label} should be a date written like 2026-11-20"]
        if error.validator_value == "email":
            return [f"{label} should be an e-mail address"]
        return [f"{label} is not a valid {error.validator_value}"]
    if kind == "enum":
        return [f"{label} must be one of: {', '.join(map(str, error.validator_value))}"]
    if kind == "const":
        return [f"{label} must be {error.validator_value!r}"]
    if kind == "pattern":
        return [f"{label} has characters that are not allowed (use letters, digits, '.', '_' and '-')"]
    if kind == "minItems":
        return [f"{label} needs at least {error.validator_value} entr{'y' if error.validator_value == 1 else 'ies'}"]
    if kind == "maxItems":
        return [f"{label} has more than {error.validator_value} entries"]
    if kind == "minLength":
        return [f"{label} is empty" if error.validator_value == 1 else f"{label} is shorter than {error.validator_value} characters"]
    if kind == "maxLength":
        return [f"{label} is too long (at most {error.validator_value} characters)"]
    return [f"{label} is not valid ({kind})"]


def _control_characters(value: Any, where: str) -> list[str]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _control_characters(v, f"{where}.{k}" if where else str(k))]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _control_characters(v, f"{where}[{i}]")]
    problem = character_problem(value) if isinstance(value, str) else None
    return [f"{where} {problem}"] if problem else []


# --- normalising ----------------------------------------------------------------------------


def _fill_optional(data: Any, schema: dict[str, Any]) -> Any:
    """Every declared but absent optional field becomes ``None``, so templates can test it."""
    kind = schema.get("type")
    if kind == "object" and isinstance(data, dict):
        props = schema.get("properties") or {}
        filled = {k: _fill_optional(v, props.get(k, {})) for k, v in data.items()}
        for name in props:
            filled.setdefault(name, None)
        return filled
    if kind == "array" and isinstance(data, list):
        items = schema.get("items") or {}
        return [_fill_optional(v, items) for v in data]
    return data


def _with_dates(data: Any, schema: dict[str, Any]) -> Any:
    """Fields declared ``format: date`` become :class:`datetime.date` for the templates."""
    if schema.get("format") == "date" and isinstance(data, str):
        return dt.date.fromisoformat(data)
    if isinstance(data, dict):
        props = schema.get("properties") or {}
        return {k: _with_dates(v, props.get(k, {})) for k, v in data.items()}
    if isinstance(data, list):
        items = schema.get("items") or {}
        return [_with_dates(v, items) for v in data]
    return data
