"""The coordinator's desk in the portal: the cases a person may see, a case's page (timeline, parties,
consent, gaps) with the forms that record its events, and the upload of a case file into the inbox.

Everything goes through :class:`~pipeline.casedesk.CaseDesk`: a case the person may not see answers
exactly as an unknown one and is not counted, and every look and change is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from pipeline.cases.phases import Phase
from pipeline.cases.rubric import load_rubric
from pipeline.errors import AccessDenied, AccordError, RecordNotFound
from pipeline.governance.access import case_filter
from pipeline.portal.requests import MAX_BODY, Ctx, form_date, redirect

#: The names :meth:`CaseDesk.upload` gives a file (nothing else from the query string is shown).
UPLOADED = re.compile(r"portal-[0-9]{8}T[0-9]{6}-[0-9a-f]{12}(-[0-9]{1,4})?\.(csv|yaml|yml|json)")


@dataclass(frozen=True)
class EventForm:
    """One of the case page's forms: the library's event it records and what it needs."""

    event: str
    done: str
    """The notice shown after it (a key of ``NOTICES``)."""
    party: bool = False
    note: str | None = None
    """Said when the note is required and missing."""
    confirm: str | None = None
    """Said when the form's confirmation box is not ticked."""


#: The forms by their hidden ``event`` field; anything else is refused (never passed on as an event name).
EVENT_FORMS = {
    "consent": EventForm("consent", "consent-recorded", party=True),
    "session": EventForm("session", "session-recorded"),
    "measure": EventForm("supportive-measure", "measure-recorded", note="Describe the supportive measure."),
    "withdrawal": EventForm("case-withdrawn", "withdrawal-recorded", party=True,
                            confirm="Tick the box to confirm that the party has withdrawn: this closes the case."),
    "referral": EventForm("case-referred", "referral-recorded",
                          confirm="Tick the box to confirm the referral to the formal process: this closes the case."),
}


# --- the list ----------------------------------------------------------------------------------


def cases_page(ctx: Ctx) -> Response:
    phases = [p.value for p in Phase]
    labels = _process_labels(ctx)
    phase, process = ctx.param("phase", 40), ctx.param("process", 80)
    filters = {"phase": phase if phase in phases else "", "process": process if process in labels else "",
               "closed": ctx.param("closed", 5) == "1"}
    desk = ctx.cases
    rows = desk.cases(phase=filters["phase"] or None, process=filters["process"] or None,
                      include_closed=filters["closed"] or filters["phase"] == Phase.CLOSED.value)
    return ctx.render("cases.html", rows=rows, filters=filters, phases=phases, labels=labels,
                      everyone=_sees_every_case(ctx), today=desk.today().isoformat(),
                      may_upload=ctx.may("manage-case"))


def _sees_every_case(ctx: Ctx) -> bool:
    """Whether no rule narrows this person's cases to their own (``case_filter`` keeps every row: "1")."""
    return case_filter(ctx.portal.policy(), ctx.caller.actor, "view-case")[0] == "1"


def _process_labels(ctx: Ctx) -> dict[str, str]:
    """Each process of the office's rubric and its label ("restorative-justice": "Restorative justice")."""
    return {p.name: p.label for p in load_rubric(ctx.portal.ws.policies).processes}


# --- one case ----------------------------------------------------------------------------------


def case_page(ctx: Ctx) -> Response:
    return _case_view(ctx, ctx.path_id("case_id"))


def _case_view(ctx: Ctx, case_id: str, status: int = 200, error: dict[str, str] | None = None,
               values: dict[str, Any] | None = None) -> Response:
    """The case's page; after a refused form, with the refusal next to that form and its values kept."""
    desk = ctx.cases
    timeline = desk.case(case_id)
    may_manage = timeline["phase"] is not None and ctx.may_case("manage-case", case_id)
    return ctx.render("case.html", status, case=timeline, labels=_process_labels(ctx),
                      today=desk.today().isoformat(), record_ids={r["record_id"] for r in timeline["records"]},
                      may_manage=may_manage, manage=may_manage and timeline["phase"] != Phase.CLOSED.value,
                      error=error, values=values or {"event": ""})


def record_event(ctx: Ctx) -> Response:
    case_id = ctx.path_id("case_id")
    _require_manage(ctx, case_id)
    key = ctx.field("event", 40)
    form = EVENT_FORMS.get(key)
    if form is None:
        raise AccordError("Use one of the forms on the case's page to record what happened.")
    values = {"event": key, "date": ctx.field("date", 40), "note": ctx.field("note"),
              "party": ctx.field("party", 200) if form.party else "", "confirm": ctx.field("confirm", 10) == "yes"}
    try:
        new = ctx.cases.add_event(case_id, form.event, _checked_date(form, values), values["note"], values["party"])
    except (AccessDenied, RecordNotFound):
        raise
    except AccordError as exc:
        return _case_view(ctx, case_id, 400, error={"event": key, "message": str(exc)}, values=values)
    return redirect(f"/cases/{case_id}", form.done if new else "on-file")


def _checked_date(form: EventForm, values: dict[str, Any]) -> dt.date:
    """The form's date once what the form itself needs is there (the library judges the rest)."""
    if form.party and not values["party"]:
        raise AccordError("Choose the party.")
    if form.note and not values["note"]:
        raise AccordError(form.note)
    if form.confirm and not values["confirm"]:
        raise AccordError(form.confirm)
    date = form_date(values["date"])
    if date is None:
        raise AccordError("Give the date (year-month-day, such as 2026-03-24).")
    return date


def _require_manage(ctx: Ctx, case_id: str) -> None:
    """Someone who may not record a case's events: not found, exactly as the page answers, when they
    may not see the case either; refused (and audited) when they may."""
    if ctx.may_case("manage-case", case_id):
        return
    ctx.cases.case(case_id)
    ctx.office.record_audit("manage-case", "denied", details={"case": case_id})
    raise AccessDenied(f"You may see case {case_id}, but your role may not record its events.")


# --- upload ------------------------------------------------------------------------------------


def upload_form(ctx: Ctx) -> Response:
    if not ctx.may("manage-case"):
        raise AccessDenied("Your role may not upload case files.")
    placed = ctx.param("file", 80)
    return ctx.render("upload.html", error=None, limit=MAX_BODY // 1024,
                      placed=placed if ctx.param("done", 20) == "uploaded" and UPLOADED.fullmatch(placed) else None)


def upload(ctx: Ctx) -> Response:
    name, data = ctx.upload("file") or ("", b"")
    try:
        placed = ctx.cases.upload(name, data)  # checks the right (audited) before anything else
    except (AccessDenied, RecordNotFound):
        raise
    except AccordError as exc:
        return ctx.render("upload.html", 400, error=str(exc), limit=MAX_BODY // 1024, placed=None)
    return redirect(f"/cases/upload?file={placed}", "uploaded")
