"""The coordinator's desk in the portal: the cases a person may see with their agenda, a case's page
(timeline, parties, consent, gaps, terms) with the forms that record its events and ask for its
completion letter, the upload of a case file into the inbox, and the private calendar feed.

Everything goes through :class:`~pipeline.casedesk.CaseDesk`: a case the person may not see answers
exactly as an unknown one and is not counted, and every look and change is in the audit log.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from pipeline.casedesk import CaseDesk
from pipeline.cases.phases import Phase
from pipeline.cases.rubric import load_rubric
from pipeline.errors import AccessDenied, AccordError, RecordNotFound
from pipeline.governance.access import Actor, case_filter, decide
from pipeline.portal.requests import MAX_BODY, Ctx, error_page, form_date, redirect
from pipeline.portal.security import FEED_PATH
from pipeline.portal.state import Portal, log

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
    term: bool = False
    """The form names a term of the agreement in force (its ``term`` field)."""


#: The forms by their hidden ``event`` field; anything else is refused (never passed on as an event name).
EVENT_FORMS = {
    "consent": EventForm("consent", "consent-recorded", party=True),
    "session": EventForm("session", "session-recorded"),
    "measure": EventForm("supportive-measure", "measure-recorded", note="Describe the supportive measure."),
    "withdrawal": EventForm("case-withdrawn", "withdrawal-recorded", party=True,
                            confirm="Tick the box to confirm that the party has withdrawn: this closes the case."),
    "referral": EventForm("case-referred", "referral-recorded",
                          confirm="Tick the box to confirm the referral to the formal process: this closes the case."),
    "term-completed": EventForm("term-completed", "term-completed", term=True),
    "term-waived": EventForm("term-waived", "term-waived", term=True),
    "term-breached": EventForm("term-breached", "term-breached", term=True),
}

#: The agenda's kinds in words (``cases/agenda.KINDS``).
KIND_WORDS = {
    "term-due": "Term due", "breach": "Term breached", "follow-up": "Follow-up", "notice-answer": "Answer to a notice",
    "idle": "Case idle", "mou-review": "MOU review", "mou-expiry": "MOU expiry",
}


# --- the list ----------------------------------------------------------------------------------


def cases_page(ctx: Ctx) -> Response:
    phases = [p.value for p in Phase]
    labels = _process_labels(ctx)
    phase, process = ctx.param("phase", 40), ctx.param("process", 80)
    filters = {"phase": phase if phase in phases else "", "process": process if process in labels else "",
               "closed": ctx.param("closed", 5) == "1"}
    page_no = ctx.page_number()
    desk = ctx.cases
    rows = desk.cases(phase=filters["phase"] or None, process=filters["process"] or None,
                      include_closed=filters["closed"] or filters["phase"] == Phase.CLOSED.value,
                      limit=CASES_PAGE + 1, offset=(page_no - 1) * CASES_PAGE)
    more, rows = len(rows) > CASES_PAGE, rows[:CASES_PAGE]
    days = _agenda_days(ctx)
    today = desk.today()
    everything = ctx.param("agenda", 4) == "all"
    agenda_items = desk.agenda(today, days)
    items = [{**item.as_dict(today), "kind_words": KIND_WORDS.get(item.kind, item.kind)}
             for item in (agenda_items if everything else agenda_items[:AGENDA_SHOWN])]
    kept = {k: v for k, v in (("phase", filters["phase"]), ("process", filters["process"]),
                              ("closed", "1" if filters["closed"] else ""), ("days", ctx.param("days", 4))) if v}

    def link(**changes: Any) -> str:
        return "/cases?" + urllib.parse.urlencode({**kept, **changes})

    return ctx.render("cases.html", rows=rows, filters=filters, phases=phases, labels=labels,
                      everyone=_sees_every_case(ctx), today=today.isoformat(),
                      may_upload=ctx.may("manage-case"), agenda=items, days=days,
                      days_given=ctx.param("days", 4) == str(days),
                      first=(page_no - 1) * CASES_PAGE + 1, page=page_no,
                      prev_link=link(page=page_no - 1) if page_no > 1 else None,
                      next_link=link(page=page_no + 1) if more else None,
                      agenda_total=len(agenda_items), agenda_all_link=link(agenda="all") if not everything
                      and len(agenda_items) > AGENDA_SHOWN else None)


#: Cases on one page of My cases, and agenda items shown before "Show all" (a director's office
#: may have thousands of open cases).
CASES_PAGE = 200
AGENDA_SHOWN = 200


def _agenda_days(ctx: Ctx) -> int:
    """The agenda's window: ``?days=`` from 1 to 366, else the office's ``agenda.days`` (at least 1)."""
    given = ctx.param("days", 4)
    if given.isdigit() and 1 <= int(given) <= 366:
        return int(given)
    return max(1, ctx.portal.config.agenda.days)


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
    manage = may_manage and timeline["phase"] != Phase.CLOSED.value
    completion = desk.completion_refusal(case_id, desk.today()) if manage and timeline["agreement"] else None
    return ctx.render("case.html", status, case=timeline, labels=_process_labels(ctx),
                      today=desk.today().isoformat(), record_ids={r["record_id"] for r in timeline["records"]},
                      may_manage=may_manage, manage=manage, error=error, values=values or {"event": ""},
                      form_keys=_forms_shown(timeline, manage), followed=FOLLOWED,
                      completable=manage and bool(timeline["agreement"]) and completion is None,
                      completion_refusal=completion)


#: A term's events the case page offers for it, by its status (a breached term may still be waived).
FOLLOWED = {"open": ("term-completed", "term-waived", "term-breached"), "breached": ("term-waived",)}


def _forms_shown(timeline: dict[str, Any], manage: bool) -> set[str]:
    """The forms on the case's page (a refusal of any other is shown at the top of the page)."""
    if not manage:
        return set()
    shown = {key for key, form in EVENT_FORMS.items() if not form.term}
    shown |= {f"term-{t['number']}" for t in timeline["terms"] if t["status"] in FOLLOWED}
    return shown | ({"completion"} if timeline["agreement"] else set())


def record_event(ctx: Ctx) -> Response:
    case_id = ctx.path_id("case_id")
    _require_manage(ctx, case_id)
    key = ctx.field("event", 40)
    form = EVENT_FORMS.get(key)
    if form is None:
        raise AccordError("Use one of the forms on the case's page to record what happened.")
    term = _term_number(ctx.field("term", 8)) if form.term else None
    shown = f"term-{term}" if form.term else key  # the form the refusal is shown next to
    values = {"event": shown, "kind": key, "date": ctx.field("date", 40), "note": ctx.field("note"),
              "party": ctx.field("party", 200) if form.party else "", "confirm": ctx.field("confirm", 10) == "yes"}
    try:
        if form.term and term is None:
            raise AccordError("Choose the term, by its number.")
        new = ctx.cases.add_event(case_id, form.event, _checked_date(form, values), values["note"], values["party"],
                                  term)
    except (AccessDenied, RecordNotFound):
        raise
    except AccordError as exc:
        return _case_view(ctx, case_id, 400, error={"event": shown, "message": str(exc)}, values=values)
    return redirect(f"/cases/{case_id}", form.done if new else "on-file")


def _term_number(value: str) -> int | None:
    return int(value) if re.fullmatch(r"[0-9]{1,4}", value) else None


def completion_letter(ctx: Ctx) -> Response:
    case_id = ctx.path_id("case_id")
    _require_manage(ctx, case_id)
    values = {"event": "completion", "date": ctx.field("date", 40)}
    try:
        date = form_date(values["date"])
        if date is None:
            raise AccordError("Give the date of the letter (year-month-day, such as 2026-07-27).")
        ctx.cases.completion_letter(case_id, date)
    except (AccessDenied, RecordNotFound):
        raise
    except AccordError as exc:
        return _case_view(ctx, case_id, 400, error={"event": "completion", "message": str(exc)}, values=values)
    return redirect(f"/cases/{case_id}", "completion-asked")


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


# --- the calendar feed -------------------------------------------------------------------------

#: How the log and the router see a feed's address: the secret is taken out first (``FeedSecret``).


def calendar_page(ctx: Ctx) -> Response:
    return _calendar_view(ctx)


def _calendar_view(ctx: Ctx, address: str | None = None) -> Response:
    _require_agenda(ctx)
    return ctx.render("calendar.html", created=ctx.portal.accounts.has_feed(ctx.caller.actor.name), address=address,
                      days=max(1, ctx.portal.config.agenda.days))


def new_feed(ctx: Ctx) -> Response:
    """A new feed (the one before stops); its address is on this answer only, never in a URL or the log."""
    _require_agenda(ctx)
    name = ctx.caller.actor.name
    replaced = ctx.portal.accounts.has_feed(name) is not None
    secret = ctx.portal.accounts.new_feed(name)
    ctx.office.record_audit("calendar-feed", "created", details={"replaced": replaced})
    origin, url = ctx.caller.origin, ctx.request.base_url
    scheme = "https" if origin.https else url.scheme
    return _calendar_view(ctx, f"{scheme}://{url.netloc}/calendar/{secret}.ics")


def revoke_feed(ctx: Ctx) -> Response:
    _require_agenda(ctx)
    had = ctx.portal.accounts.revoke_feed(ctx.caller.actor.name)
    ctx.office.record_audit("calendar-feed", "revoked" if had else "none")
    return redirect("/calendar", "feed-revoked" if had else "no-feed")


def _require_agenda(ctx: Ctx) -> None:
    if not ctx.may("view-case"):
        raise AccessDenied("Your role has no agenda, so it has no calendar feed.")


def feed_endpoint(portal: Portal):
    """``GET /calendar/{secret}.ics``, for calendar apps (which cannot sign in): the agenda of the feed's
    owner, read as that person, so a feed stops with its secret revoked, its account disabled, or the
    person no longer listed in access.yaml or no longer seeing cases; each of those is not found."""

    async def endpoint(request: Request) -> Response:
        secret = request.scope.get("state", {}).get("feed")
        try:
            body = await run_in_threadpool(_feed_calendar, portal, secret)
        except Exception as exc:  # neither the secret nor a traceback reaches the log
            log.error("portal: %s failed: %s", FEED_PATH, type(exc).__name__)
            return error_page(portal, 500, "The request could not be completed; it has been logged.")
        if body is None:
            return error_page(portal, 404, "There is no such calendar feed; make a new one on the portal's "
                                           "Calendar page.")
        return Response(body, media_type="text/calendar; charset=utf-8")

    return endpoint


def _feed_calendar(portal: Portal, secret: str | None) -> bytes | None:
    owner = portal.accounts.feed_owner(secret)
    if owner is None or not portal.listed(owner):
        return None
    actor = Actor(owner, via="calendar-feed")
    if not decide(portal.policy(), actor, "view-case"):
        return None
    return CaseDesk(portal.office(actor), portal.templates).calendar()
