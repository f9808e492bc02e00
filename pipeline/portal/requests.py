"""One request as a handler sees it (:class:`Ctx`), and the plumbing every page shares: sign-in required, CSRF tokens on every change, errors as plain pages (404 for what a person may not see, exactly as for what does not exist), never a stack trace."""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from pipeline.casedesk import CaseDesk
from pipeline.display import read_date
from pipeline.errors import AccessDenied, AccordError, RecordNotFound
from pipeline.governance.access import RecordFacts, decide, decide_case
from pipeline.office import OfficeSession, RetentionDesk
from pipeline.portal import auth
from pipeline.portal.auth import SESSION_COOKIE, Caller
from pipeline.portal.state import Portal, log

PAGE_SIZE = 20


AUDIT_PAGE = 100


MAX_FORM_FIELDS = 40


MAX_BODY = 256 * 1024


TOO_LARGE = f"That request is larger than the portal accepts ({MAX_BODY // 1024} KiB at most)."


#: Fixed messages shown after a redirect (never user input).
NOTICES = {
    "signed-out": "You are signed out.",
    "hold-placed": "The hold is placed.",
    "hold-released": "The hold is released.",
    "approved": "The disposition was carried out; its certificate is below.",
    "rejected": "The proposal was rejected.",
    "expired": "Your session ended; sign in again.",
    "consent-recorded": "The consent is recorded.",
    "session-recorded": "The session is recorded.",
    "measure-recorded": "The supportive measure is recorded.",
    "withdrawal-recorded": "The withdrawal is recorded, and the case is closed.",
    "referral-recorded": "The referral to the formal process is recorded, and the case is closed.",
    "on-file": "That was on file already; nothing changed.",
    "uploaded": "The file is in the inbox; intake (accord watch) will take it, and what it records shows on "
                "the case's page. A file intake refuses goes to inbox/failed with its reason.",
    "term-completed": "The term is recorded as completed.",
    "term-waived": "The term is recorded as waived.",
    "term-breached": "The breach of the term is recorded; it stays on the agenda until it is waived or the "
                     "case is referred.",
    "completion-asked": "The completion letter is in the inbox: intake (accord watch) fills it from the case and "
                        "seals it, and the sealed letter closes the case, resolved.",
    "feed-revoked": "Your calendar feed is stopped; calendars subscribed to it get nothing more.",
    "no-feed": "You had no calendar feed; nothing changed.",
}


@dataclass
class Ctx:
    """One request as a handler sees it."""

    portal: Portal
    request: Request
    caller: Caller
    form: FormData | None = None
    _office: OfficeSession | None = field(default=None, repr=False)

    @property
    def office(self) -> OfficeSession:
        if self._office is None:
            self._office = self.portal.office(self.caller.actor)
        return self._office

    @property
    def desk(self) -> RetentionDesk:
        return RetentionDesk(self.office, {t.record_class for t in self.portal.templates})

    @property
    def cases(self) -> CaseDesk:
        return CaseDesk(self.office, self.portal.templates)

    def may(self, action: str, record: Mapping[str, Any] | None = None) -> bool:
        facts = RecordFacts.of(record) if record is not None else None
        return bool(decide(self.portal.policy(), self.caller.actor, action, facts))

    def may_case(self, action: str, case_id: str) -> bool:
        """A case action (view-case, manage-case) decided on the case itself (own cases)."""
        return bool(decide_case(self.portal.policy(), self.caller.actor, action, case_id))

    def path_id(self, name: str) -> str:
        """A record or case id from the path; anything that cannot be an id is simply not found."""
        value = self.request.path_params[name]
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", value):
            raise RecordNotFound("No such case." if name == "case_id" else "No such record.")
        return value

    def param(self, name: str, limit: int = 200) -> str:
        value = self.request.query_params.get(name, "")
        return " ".join(value.split())[:limit]

    def page_number(self) -> int:
        """``?page=``: a page from 1 to 10,000 (anything else is the first page)."""
        given = self.param("page", 6)
        return max(1, min(int(given), 10_000)) if given.isdigit() else 1

    def field(self, name: str, limit: int = 500) -> str:
        value = self.form.get(name, "") if self.form is not None else ""
        return " ".join(str(value).split())[:limit] if isinstance(value, str) else ""

    def upload(self, name: str) -> tuple[str, bytes] | None:
        """The file sent in field ``name`` (its name as the browser gave it, and its bytes), if any."""
        value = self.form.get(name) if self.form is not None else None
        if not isinstance(value, UploadFile):
            return None
        return value.filename or "", value.file.read(MAX_BODY + 1)

    def render(self, template: str, status: int = 200, **values: Any) -> HTMLResponse:
        return render(self.portal, template, status, caller=self.caller, may=self.may,
                      csrf=self.caller.session.csrf, notice=NOTICES.get(self.request.query_params.get("done", "")),
                      **values)


def render(portal: Portal, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("caller", None)
    values.setdefault("may", lambda *a: False)
    values.setdefault("csrf", "")
    values.setdefault("notice", None)
    html = portal.env.get_template(template).render(**values)
    return HTMLResponse(html, status_code=status)


def error_page(portal: Portal, status: int, message: str, caller: Caller | None = None,
               may: Callable[..., bool] | None = None) -> HTMLResponse:
    titles = {400: "That did not work", 403: "Not allowed", 404: "Not found", 405: "Not allowed",
              409: "Not handed over", 413: "Too large", 429: "Too many attempts", 500: "Something went wrong"}
    return render(portal, "error.html", status, title=titles.get(status, "Error"), message=message,
                  caller=caller, may=may or (lambda *a: False), csrf=caller.session.csrf if caller else "")


def page(portal: Portal, handler: Callable[[Ctx], Response], *, post: bool = False, files: int = 0):
    """An endpoint that needs a signed-in person (and, for a POST, the session's CSRF token); a POST
    may carry ``files`` files (the body limit, :data:`MAX_BODY`, holds for them too)."""

    async def endpoint(request: Request) -> Response:
        caller = await run_in_threadpool(auth.identify, request, portal.accounts, portal.settings, portal.listed)
        if isinstance(caller, auth.Refusal):
            return await run_in_threadpool(refuse, portal, caller)
        if caller is None:
            if post or request.method != "GET":
                return error_page(portal, 403, "Sign in first.")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/signin?" + urllib.parse.urlencode({"next": target}), status_code=303)
        form = None
        if post:
            form = await request.form(max_files=files, max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024)
            if not auth.same_origin(request) or not auth.csrf_ok(caller.session.csrf, form.get("csrf")):
                return error_page(portal, 403, "This form has expired or did not come from this site; "
                                               "go back, reload the page and try again.", caller)
        ctx = Ctx(portal, request, caller, form)
        try:
            response = await run_in_threadpool(run_handler, handler, ctx)
        finally:
            if form is not None:
                await form.close()
        if caller.new_cookie:
            auth.set_cookie(response, SESSION_COOKIE, caller.session.token, caller.origin, portal.settings)
        return response

    return endpoint


def refuse(portal: Portal, refusal: auth.Refusal) -> HTMLResponse:
    """A person the SSO proxy vouches for but who may not come in: audited like a refused sign-in."""
    portal.audit(refusal.name, "sign-in", refusal.outcome,
                 {"address": refusal.origin.address, "reason": refusal.reason}, via="sso")
    return error_page(portal, 403, refusal.message(portal.settings))


def run_handler(handler: Callable[[Ctx], Response], ctx: Ctx) -> Response:
    with ctx.portal.library_log.one_line(ctx.request.url.path):
        return _answer(handler, ctx)


def _answer(handler: Callable[[Ctx], Response], ctx: Ctx) -> Response:
    try:
        return handler(ctx)
    except RecordNotFound as exc:
        return error_page(ctx.portal, 404, str(exc), ctx.caller, ctx.may)
    except AccessDenied as exc:
        return error_page(ctx.portal, 403, str(exc), ctx.caller, ctx.may)
    except AccordError as exc:
        return error_page(ctx.portal, 400, str(exc), ctx.caller, ctx.may)
    except Exception as exc:  # no stack trace and no case content reaches the page or the log
        log.error("portal: %s failed: %s", ctx.request.url.path, type(exc).__name__)
        return error_page(ctx.portal, 500, "The request could not be completed; it has been logged.",
                          ctx.caller, ctx.may)


def form_date(value: str) -> dt.date | None:
    """A date from a form field (empty: none); one that cannot be a date is refused saying why."""
    return read_date(value) if value else None


def path_number(value: str, what: str) -> int:
    if not re.fullmatch(r"\d{1,12}", value or ""):
        raise RecordNotFound(f"No {what} {value[:20]!r}.")
    return int(value)


def redirect(path: str, done: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (("&" if "?" in path else "?") + f"done={done}" if done else ""), status_code=303)
