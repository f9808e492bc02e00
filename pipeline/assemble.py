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
from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from .errors import AssemblyError
from .intake import CaseFile

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)


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


def longdate(value: Any) -> str:
    """``2026-11-20`` -> ``20 November 2026``."""
    if isinstance(value, dt.date):
        return f"{value.day} {_MONTHS[value.month - 1]} {value.year}"
    return "" if value is None else str(value)


def humanize(value: Any) -> str:
    """``restorative-justice`` -> ``restorative justice``."""
    return "" if value is None else str(value).replace("-", " ").replace("_", " ")


def make_environment() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
    env.filters["longdate"] = longdate
    env.filters["humanize"] = humanize
    return env


def assemble(case: CaseFile, record: RecordInfo) -> Assembled:
    """Render the case's template; raise :class:`AssemblyError` with a plain reason."""
    context = dict(case.data)
    context["record"] = {"id": record.record_id, "title": record.title, "created": record.created}
    context["office"] = {"name": record.office_name}
    tpl = DocxTemplate(io.BytesIO(case.template.docx_bytes))
    try:
        tpl.render(context, jinja_env=make_environment(), autoescape=True)
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
    out = io.BytesIO()
    tpl.save(out)
    docx = out.getvalue()
    return Assembled(docx=docx, text=document_text(docx))


def _undefined_name(exc: UndefinedError) -> str:
    # Jinja's message names the template's variable, never a case value.
    message = str(exc.message or "")
    return message.split(" is undefined")[0].strip("'") if "is undefined" in message else "a missing value"


def document_text(docx: bytes) -> str:
    """The text of a Word document: paragraphs, table cells, headers and footers, in order."""
    doc = Document(io.BytesIO(docx))
    parts: list[str] = []

    def walk(element: Any) -> None:
        for node in element.iter():
            if node.tag.endswith("}p"):
                text = "".join(t.text or "" for t in node.iter() if t.tag.endswith("}t"))
                if text.strip():
                    parts.append(text)

    walk(doc.element.body)
    for section in doc.sections:
        for part in (section.header, section.footer):
            if part is not None and not part.is_linked_to_previous:
                walk(part._element)
    return "\n".join(parts)
