"""Templates and their declarations.

Each Word template ``templates/NAME.docx`` has a declaration ``templates/NAME.yaml``
beside it: the JSON Schema of its case files, its record class, and how a record
made from it is titled and catalogued. :func:`make_environment` is the sandboxed Jinja
environment every render (and ``templates check``) uses; :func:`check_template` compares
the variables the Word file uses with the fields the schema declares.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Iterator

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from pipeline.errors import ConfigurationError

_DECLARATION_KEYS = {
    "name", "description", "record_class", "subject", "title", "record_date",
    "party_names", "events", "signatures", "fields", "case_role", "party", "agenda",
}
#: What a document without a case may put on the agenda (``agenda: {expiry: mou.expires}``).
AGENDA_KEYS = ("expiry", "review")
_REQUIRED_KEYS = {"name", "record_class", "subject", "title", "fields"}
#: Names the assembly step adds to every template's context.
CONTEXT_EXTRAS = {"record": ("id", "title", "created"), "office": ("name",)}
SEAL_BOOKMARK = "seal"

#: What a record does for its case (``case_role`` in a declaration): the intake opens the case, a
#: notice and a consent form go to one party, an agreement resolves it, a withdrawal notice records a
#: party's withdrawal, a completion letter closes it. Records without a role (an MOU) have no case.
CASE_ROLES = ("intake", "notice", "consent", "agreement", "withdrawal", "completion")
#: The case as Accord holds it, as the documents of the notice, consent, withdrawal and completion
#: roles see it under ``held`` (``name[]`` is a list; a list of plain values, such as the
#: allegations' labels, ends in ``[]``).
HELD_CONTEXT: dict[str, tuple[str, ...]] = {
    "case": ("id", "opened", "referred_by", "summary", "jurisdictions[]", "allegations[]"),
    "process": ("name", "label", "description"),
    "parties[]": ("name", "role", "status", "affiliation"),
    "party": ("name", "role", "status", "affiliation"),
    "measures[]": ("measure", "start", "end", "arranged_by"),
    "agreement": ("record_id", "date", "follow_up_date"),
    "terms[]": ("number", "text", "owner", "due", "status", "closed_on", "note"),
}
#: The rubric's verdict on an intake, as the intake record sees it under ``rubric``: each answer with
#: its factor's question, the rules that applied, the processes allowed and suggested (labels).
RUBRIC_CONTEXT: dict[str, tuple[str, ...]] = {
    "answers[]": ("factor", "question", "answer"),
    "findings[]": ("rule", "kind", "reason", "authority"),
    "allowed[]": (),
    "suggested[]": (),
    "allegations[]": (),
    "jurisdictions[]": (),
    "decision": ("name", "label"),
}
#: The fields of a role's documents that reach the page through its context (the intake's
#: allegations are printed by their rubric labels): templates check counts them as used.
ROLE_SOURCES: dict[str, tuple[str, ...]] = {
    "intake": ("case.jurisdiction", "case.allegations", "assessment.answers", "assessment.decision",
               "supportive_measures[].kind"),
}
#: What the documents of each role see besides their own data: (name in the context, its paths).
ROLE_CONTEXT: dict[str, tuple[str, dict[str, tuple[str, ...]]]] = {
    "intake": ("rubric", RUBRIC_CONTEXT),
    "notice": ("held", HELD_CONTEXT),
    "consent": ("held", HELD_CONTEXT),
    "withdrawal": ("held", HELD_CONTEXT),
    "completion": ("held", HELD_CONTEXT),
}
_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_.\[\]]+)\}")


@dataclass(frozen=True)
class SignatureSlot:
    """One or more signature fields the template offers (``sig{n}`` for each item of a list)."""

    field: str
    signer: str
    each: str | None = None


@dataclass(frozen=True)
class TemplateSpec:
    name: str
    description: str
    record_class: str
    subject: str
    title: str
    record_date: str | None
    party_names: tuple[str, ...]
    events: dict[str, str]
    signatures: tuple[SignatureSlot, ...]
    schema: dict[str, Any]
    docx_path: Path
    validator: Draft202012Validator = field(compare=False, repr=False)
    case_role: str | None = None
    """What the record does for its case (one of :data:`CASE_ROLES`), or ``None``."""
    party: str | None = None
    """The path of the party of the case the document is for (a notice's recipient...), if one."""
    agenda: dict[str, str] = field(default_factory=dict)
    """Dates the record puts on the agenda: ``expiry`` or ``review`` -> the path of a date, or of
    words such as "Annually, each December."."""

    @cached_property
    def docx_bytes(self) -> bytes:
        return self.docx_path.read_bytes()

    def signature_fields(self, data: dict[str, Any]) -> list[tuple[str, str]]:
        """(field name, signer name) for every signature field this case's document offers."""
        fields: list[tuple[str, str]] = []
        for slot in self.signatures:
            if slot.each:
                for n, item in enumerate(values_at(data, slot.each + "[]"), start=1):
                    signer = values_at(item, slot.signer) if isinstance(item, dict) else []
                    fields.append((slot.field.replace("{n}", str(n)), str(signer[0]) if signer else ""))
            else:
                signer = values_at(data, slot.signer)
                fields.append((slot.field, str(signer[0]) if signer else ""))
        return fields

    def format_title(self, data: dict[str, Any]) -> str:
        def fill(match: re.Match[str]) -> str:
            found = values_at(data, match.group(1))
            return str(found[0]) if found else ""

        return _PLACEHOLDER.sub(fill, self.title)


def values_at(data: Any, path: str) -> list[Any]:
    """Values at a dotted path; ``a[]`` steps into every item of list ``a``.

    ``values_at(d, "parties[].name")`` gives every party's name; missing or
    ``None`` values are left out.
    """
    current = [data]
    for part in path.split("."):
        each = part.endswith("[]")
        key = part[:-2] if each else part
        following: list[Any] = []
        for node in current:
            if not isinstance(node, dict) or node.get(key) is None:
                continue
            value = node[key]
            if each:
                if isinstance(value, list):
                    following.extend(v for v in value if v is not None)
            else:
                following.append(value)
        current = following
    return current


def load_templates(folder: Path) -> dict[str, TemplateSpec]:
    """Every template in ``folder`` that has both a ``.docx`` and a ``.yaml`` declaration."""
    specs: dict[str, TemplateSpec] = {}
    for decl in sorted(folder.glob("*.yaml")):
        spec = load_template(decl)
        specs[spec.name] = spec
    if not specs:
        raise ConfigurationError(f"No template declarations (*.yaml) found in {folder}.")
    return specs


def load_template(decl: Path) -> TemplateSpec:
    where = f"templates/{decl.name}"
    try:
        raw = yaml.safe_load(decl.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{where} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{where} must be a mapping.")
    unknown = set(raw) - _DECLARATION_KEYS
    if unknown:
        raise ConfigurationError(f"Unexpected key in {where}: {', '.join(sorted(unknown))}.")
    missing = _REQUIRED_KEYS - set(raw)
    if missing:
        raise ConfigurationError(f"{where} lacks required key(s): {', '.join(sorted(missing))}.")
    if raw["name"] != decl.stem:
        raise ConfigurationError(f"{where} declares name {raw['name']!r}; it must match the file name {decl.stem!r}.")
    docx = decl.with_suffix(".docx")
    if not docx.is_file():
        raise ConfigurationError(f"{where} has no Word template beside it ({docx.name}).")
    try:
        Draft202012Validator.check_schema(raw["fields"])
    except SchemaError as exc:
        raise ConfigurationError(f"The fields schema in {where} is not valid JSON Schema: {exc.message}") from None
    slots = []
    for entry in raw.get("signatures") or []:
        if not isinstance(entry, dict) or set(entry) - {"field", "signer", "each"} or "field" not in entry:
            raise ConfigurationError(f"Each signature in {where} needs 'field', 'signer' and optionally 'each'.")
        if not re.fullmatch(r"[A-Za-z0-9{}]+", entry["field"]):
            raise ConfigurationError(f"Signature field names in {where} must be letters and digits: {entry['field']!r}.")
        slots.append(SignatureSlot(entry["field"], entry.get("signer", ""), entry.get("each")))
    role = raw.get("case_role")
    if role is not None and role not in CASE_ROLES:
        raise ConfigurationError(f"case_role in {where} must be one of {', '.join(CASE_ROLES)}.")
    party = raw.get("party")
    if party is not None and (not isinstance(party, str) or party not in set(schema_paths(raw["fields"]))):
        raise ConfigurationError(f"party in {where} must be the path of a field its schema declares.")
    agenda = raw.get("agenda") or {}
    declared = set(schema_paths(raw["fields"]))
    if not isinstance(agenda, dict) or set(agenda) - set(AGENDA_KEYS) or not set(agenda.values()) <= declared:
        raise ConfigurationError(f"agenda in {where} maps {' or '.join(AGENDA_KEYS)} to fields its schema declares.")
    if role in ("notice", "consent", "withdrawal") and party is None:
        raise ConfigurationError(f"A {role} template ({where}) must say which field names its party (party: ...).")
    return TemplateSpec(
        name=raw["name"],
        description=raw.get("description", ""),
        record_class=raw["record_class"],
        subject=raw["subject"],
        title=raw["title"],
        record_date=raw.get("record_date"),
        party_names=tuple(raw.get("party_names") or ()),
        events=dict(raw.get("events") or {}),
        signatures=tuple(slots),
        schema=raw["fields"],
        docx_path=docx,
        validator=Draft202012Validator(raw["fields"], format_checker=Draft202012Validator.FORMAT_CHECKER),
        case_role=role,
        party=party,
        agenda=dict(agenda),
    )


# --- the Jinja environment every render uses ------------------------------------------------


_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


def longdate(value: Any) -> str:
    """``2026-11-20`` -> ``20 November 2026``."""
    if isinstance(value, dt.date):
        return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"
    return "" if value is None else str(value)


def humanize(value: Any) -> str:
    """``restorative-justice`` -> ``restorative justice``."""
    return "" if value is None else str(value).replace("-", " ").replace("_", " ")


class _CompiledCache(SandboxedEnvironment):
    """The sandbox, remembering compiled templates.

    docxtpl hands the whole document XML to ``from_string`` on every render;
    compiling it is about half the cost of a render, and the XML of a template
    is the same every time.
    """

    _CACHE_SIZE = 32

    def __init__(self, **options: Any):
        super().__init__(**options)
        self._compiled: dict[str, Any] = {}

    def from_string(self, source, globals=None, template_class=None):  # type: ignore[override]
        if globals or template_class or not isinstance(source, str):
            return super().from_string(source, globals, template_class)
        compiled = self._compiled.get(source)
        if compiled is None:
            compiled = super().from_string(source)
            if len(self._compiled) >= self._CACHE_SIZE:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[source] = compiled
        return compiled


def make_environment() -> SandboxedEnvironment:
    """The Jinja environment of every render: sandboxed, autoescaping, strict about undefined names."""
    env = _CompiledCache(autoescape=True, undefined=StrictUndefined)
    env.filters["longdate"] = longdate
    env.filters["humanize"] = humanize
    return env


# --- templates check -------------------------------------------------------------------------


def schema_paths(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    """Every field path the schema declares, lists written ``name[]``."""
    for name, sub in (schema.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else name
        yield path
        if sub.get("type") == "object":
            yield from schema_paths(sub, path)
        elif sub.get("type") == "array" and isinstance(sub.get("items"), dict):
            items = sub["items"]
            yield path + "[]"
            if items.get("type") == "object":
                yield from schema_paths(items, path + "[]")


def template_paths(docx_path: Path) -> set[str]:
    """Field paths the Word template reads, found by walking its Jinja syntax tree."""
    from docxtpl import DocxTemplate
    from jinja2 import nodes

    tpl = DocxTemplate(str(docx_path))
    env = make_environment()
    tpl.init_docx()
    sources = [tpl.patch_xml(tpl.get_xml())]
    for part in [*tpl.get_headers_footers(tpl.HEADER_URI), *tpl.get_headers_footers(tpl.FOOTER_URI)]:
        sources.append(tpl.patch_xml(tpl.get_part_xml(part[1])))
    found: set[str] = set()
    for source in sources:
        _collect(env.parse(source), {}, found, nodes)
    return found


def _collect(node: Any, scope: dict[str, str], found: set[str], nodes: Any) -> None:
    if isinstance(node, nodes.For):
        _collect(node.iter, scope, found, nodes)
        source = node.iter
        while isinstance(source, nodes.Filter):  # parties|batch(2), terms|sort(...)
            source = source.node
        base = _path_of(source, scope, nodes)
        inner = dict(scope)
        if base is not None:
            for target in _names(node.target, nodes):
                inner[target] = base + "[]"
        inner["loop"] = ""
        for child in node.body + node.else_:
            _collect(child, inner, found, nodes)
        return
    if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Name)):
        path = _path_of(node, scope, nodes)
        if path:
            found.add(path)
            if isinstance(node, nodes.Getitem):
                _collect(node.arg, scope, found, nodes)
            return
    for child in node.iter_child_nodes():
        _collect(child, scope, found, nodes)


def _names(target: Any, nodes: Any) -> list[str]:
    if isinstance(target, nodes.Name):
        return [target.name]
    if isinstance(target, nodes.Tuple):
        return [n.name for n in target.items if isinstance(n, nodes.Name)]
    return []


def _path_of(node: Any, scope: dict[str, str], nodes: Any) -> str | None:
    if isinstance(node, nodes.Name):
        if node.ctx != "load":
            return None
        return scope.get(node.name, node.name)
    if isinstance(node, nodes.Getattr):
        base = _path_of(node.node, scope, nodes)
        if base is None or base == "":
            return None if base is None else ""
        return f"{base}.{node.attr}"
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        base = _path_of(node.node, scope, nodes)
        if not base:
            return None
        # item["name"] is a field; pair[0] is an item of a batch, which stays at the list's path
        return f"{base}.{node.arg.value}" if isinstance(node.arg.value, str) else base
    return None


def context_paths(name: str, spec: dict[str, tuple[str, ...]]) -> set[str]:
    """Every path of a role's context under ``name`` (with the lists' own paths)."""
    paths = {name}
    for key, attrs in spec.items():
        base = f"{name}.{key}"
        paths |= {base, base.removesuffix("[]")}
        for attr in attrs:
            paths |= {f"{base}.{attr}", f"{base}.{attr}".removesuffix("[]")}
    return paths


@dataclass(frozen=True)
class TemplateCheck:
    name: str
    undeclared: tuple[str, ...]
    unused: tuple[str, ...]
    missing_bookmarks: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not (self.undeclared or self.missing_bookmarks)


def check_template(spec: TemplateSpec) -> TemplateCheck:
    """Variables the template uses but the schema lacks, and declared fields it never uses."""
    declared = set(schema_paths(spec.schema))
    used = {p for p in template_paths(spec.docx_path) if p}
    extras = {f"{k}.{a}" for k, attrs in CONTEXT_EXTRAS.items() for a in attrs} | set(CONTEXT_EXTRAS)
    if spec.case_role in ROLE_CONTEXT:
        extras |= context_paths(*ROLE_CONTEXT[spec.case_role])
    # A use of "parties[].name" implies "parties[]" and "parties"; a use of "case" alone is fine.
    implied = set()
    for path in used:
        parts = path.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            implied.add(prefix)
            if prefix.endswith("[]"):
                implied.add(prefix[:-2])
    undeclared = sorted(p for p in used if p not in declared and p not in extras and p.rstrip("[]") not in declared)
    cataloged = set(spec.party_names) | {spec.subject, spec.record_date or "", spec.party or ""}
    cataloged |= set(spec.events.values()) | set(ROLE_SOURCES.get(spec.case_role or "", ())) | set(spec.agenda.values())
    cataloged |= {s.each for s in spec.signatures if s.each}
    unused = sorted(
        p for p in declared
        if p not in used and p not in implied and p != "template" and p not in cataloged
        and not p.endswith("[]") and not any(u.startswith(p + ".") or u.startswith(p + "[]") for u in used)
    )
    xml = _document_xml(spec.docx_path)
    wanted = [SEAL_BOOKMARK] + [s.field.replace("{n}", "") for s in spec.signatures]
    missing = tuple(b for b in wanted if f'w:name="{b}' not in xml)
    return TemplateCheck(spec.name, tuple(undeclared), tuple(unused), missing)


def _document_xml(docx: Path) -> str:
    import zipfile

    with zipfile.ZipFile(docx) as zf:
        return zf.read("word/document.xml").decode("utf-8")
