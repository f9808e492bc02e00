"""Assembly: fill a Word template with the case data (docxtpl in a Jinja sandbox).

Autoescape is on, so ``Smith & Sons`` and ``<North Campus>`` come out exactly as
typed; undefined names are errors; the sandbox stops a template that reaches for
Python internals. Values are inserted as text and never evaluated, so a value
``{{ 7*7 }}`` stays literal.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

from docx import Document
from docxtpl import DocxTemplate
from jinja2 import TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from pipeline.documents.casefile import CaseFile
from pipeline.documents.templates import ROLE_CONTEXT, make_environment
from pipeline.errors import AssemblyError

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


@dataclass(frozen=True)
class RecordInfo:
    """What the document says about its own record."""

    record_id: str
    title: str
    created: dt.date
    office_name: str


@dataclass(frozen=True)
class Assembled:
    docx: bytes
    text: str
    """The document's text as written (body, tables, headers and footers): what the catalog indexes."""


class _Template(DocxTemplate):
    """docxtpl's template, remembering its XML clean-up (the same for every render of a template)."""

    _patched: dict[str, str] = {}

    def patch_xml(self, src_xml: str) -> str:
        patched = self._patched.get(src_xml)
        if patched is None:
            patched = super().patch_xml(src_xml)
            if len(self._patched) >= 32:
                self._patched.pop(next(iter(self._patched)))
            self._patched[src_xml] = patched
        return patched


class Assembler:
    """Renders case files; keeps one sandbox (and its compiled templates) for its lifetime."""

    def __init__(self) -> None:
        self._env = make_environment()

    def assemble(self, case: CaseFile, record: RecordInfo, role_context: dict[str, Any] | None = None) -> Assembled:
        return assemble(case, record, self._env, role_context)


def assemble(case: CaseFile, record: RecordInfo, env: SandboxedEnvironment | None = None,
             role_context: dict[str, Any] | None = None) -> Assembled:
    """Render the case's template; raise :class:`AssemblyError` with a plain reason. ``role_context`` is
    what the template's case role sees besides the file's data (``documents.templates.ROLE_CONTEXT``:
    the case Accord holds, or the rubric's verdict)."""
    context = dict(case.data)
    context["record"] = {"id": record.record_id, "title": record.title, "created": record.created}
    context["office"] = {"name": record.office_name}
    if role_context is not None and case.template.case_role in ROLE_CONTEXT:
        context[ROLE_CONTEXT[case.template.case_role][0]] = role_context
    tpl = _Template(io.BytesIO(case.template.docx_bytes))
    try:
        tpl.render(context, jinja_env=env or make_environment(), autoescape=True)
    except SecurityError:
        raise AssemblyError(
            f"The {case.template.name} template tried an operation the sandbox does not allow; "
            "the template must be corrected."
        ) from None
    except UndefinedError as exc:
        raise AssemblyError(
            f"The {case.template.name} template uses a value the case file does not provide ({_undefined_name(exc)}); "
            "run 'accord templates check'."
        ) from None
    except TemplateError as exc:
        raise AssemblyError(f"The {case.template.name} template could not be filled: {type(exc).__name__}.") from None
    props = tpl.docx.core_properties
    props.title = record.title
    props.subject = f"Accord record {record.record_id}"
    props.keywords = f"Accord, {record.record_id}, {case.subject_id}, {case.template.name}"
    props.author = record.office_name
    props.comments = ""
    props.identifier = record.record_id
    _renumber_bookmarks(tpl.docx.element.body)
    text = _text_of(tpl.docx.element.body)
    out = io.BytesIO()
    tpl.save(out)
    return Assembled(docx=out.getvalue(), text=text)


def _undefined_name(exc: UndefinedError) -> str:
    # Jinja's message names the template's variable, never a case value.
    message = str(exc.message or "")
    return message.split(" is undefined")[0].strip("'") if "is undefined" in message else "a missing value"


def _renumber_bookmarks(body: Any) -> None:
    """Give every bookmark a unique id: a template loop copies the same ids into each repetition,
    which LibreOffice tolerates but Word reports as damage."""
    attr = _W + "id"
    open_by_old: dict[str, list[str]] = {}
    counter = 0
    for node in body.iter(_W + "bookmarkStart", _W + "bookmarkEnd"):
        old = node.get(attr)
        if node.tag == _W + "bookmarkStart":
            counter += 1
            new = str(counter)
            open_by_old.setdefault(old, []).append(new)
            node.set(attr, new)
        elif open_by_old.get(old):
            node.set(attr, open_by_old[old].pop(0))


def document_text(docx: bytes) -> str:
    """The text of a Word document's body: paragraphs and table cells, in order."""
    return _text_of(Document(io.BytesIO(docx)).element.body)


def _text_of(body: Any) -> str:
    parts = []
    for node in body.iter(_W + "p"):
        text = "".join(t.text or "" for t in node.iter(_W + "t"))
        if text.strip():
            parts.append(text)
    return "\n".join(parts)
