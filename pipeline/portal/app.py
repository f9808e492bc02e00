"""The portal's pages: thin handlers over :class:`OfficeSession` and :class:`RetentionDesk`.

Every route but sign-in and the stylesheet needs a signed-in person; every state change
needs the session's CSRF token; what a person may see and do is decided by the library,
so a record outside their rights answers 404 exactly like one that does not exist.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import logging
import re
import threading
import time
import urllib.parse
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2
from markupsafe import Markup, escape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.config import Config
from pipeline.display import read_date
from pipeline.documents.templates import load_templates
from pipeline.documents.trust import TrustRoots
from pipeline.errors import AccessDenied, AccordError, RecordNotFound, SignInRefused, SweepError, VerificationFailed
from pipeline.governance.access import ACTIONS, AccessPolicy, Actor, RecordFacts, decide, policy_for
from pipeline.governance.accounts import Accounts
from pipeline.office import OfficeSession, RetentionDesk, note_config_change
from pipeline.portal import auth
from pipeline.portal.auth import SESSION_COOKIE, SIGNIN_COOKIE, Caller
from pipeline.portal.security import BodyLimit, ProxyTrust, SecurityHeaders, add_security_headers, library_log
from pipeline.records import countersign
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog
from pipeline.records.retrieve import verify_record, verify_record_bytes
from pipeline.records.search import SearchQuery
from pipeline.records.verify import VerifyReport
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

log = logging.getLogger("accord.portal")

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 20
AUDIT_PAGE = 100
MAX_FORM_FIELDS = 40
MAX_BODY = 256 * 1024
TOO_LARGE = f"That request is larger than the portal accepts ({MAX_BODY // 1024} KiB at most)."
VERIFY_TTL_SECONDS = 600

#: Fixed messages shown after a redirect (never user input).
NOTICES = {
    "signed-out": "You are signed out.",
    "hold-placed": "The hold is placed.",
    "hold-released": "The hold is released.",
    "approved": "The disposition was carried out; its certificate is below.",
    "rejected": "The proposal was rejected.",
    "expired": "Your session ended; sign in again.",
}


class VerificationCache:
    """Recent seal verdicts by the content of the file. The checksum is computed afresh on every
    page view (the bytes are read each time); only the signature validation, a function of those
    bytes, is reused for a few minutes. Downloads always verify in full."""

    def __init__(self, capacity: int = 4096, ttl: float = VERIFY_TTL_SECONDS):
        self.capacity, self.ttl = capacity, ttl
        self._items: OrderedDict[tuple, tuple[float, VerifyReport]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ws: Workspace, record: Mapping[str, Any], roots: TrustRoots) -> VerifyReport:
        try:
            data = (ws.root / record["pdf_path"]).read_bytes()
        except OSError:
            return verify_record(ws, dict(record), roots)  # reports the file as missing
        key = (hashlib.sha256(data).hexdigest(), record["sha256"], record["signature_level"], record.get("due_date"))
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit and now - hit[0] < self.ttl:
                self._items.move_to_end(key)
                return dataclasses.replace(hit[1], record_id=record["record_id"])
        report = verify_record_bytes(ws, dict(record), data, roots)
        with self._lock:
            self._items[key] = (now, report)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return report


class Portal:
    """What one server process shares between requests."""

    def __init__(self, ws: Workspace, config: Config, accounts: Accounts,
                 converter_factory: Callable[[], Any] | None = None):
        self.ws = ws
        self.config = config
        self.settings = config.portal
        self.accounts = accounts
        self.roots = TrustRoots.of(ws, config)
        self.verifications = VerificationCache()
        self.library_log = library_log()  # pyHanko's tracebacks stay out of the portal's log
        self.templates = sorted(load_templates(ws.templates).values(), key=lambda t: t.name)
        self._converter_factory = converter_factory
        self._converter: Any = None
        self._sealer: Any = None
        self._converter_lock = threading.Lock()
        self._local = threading.local()
        self._catalogs: list[Catalog] = []
        self._policy_lock = threading.Lock()
        self._policy: tuple[tuple, AccessPolicy] | None = None
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["marks"] = _marks
        self.env.filters["when"] = _when
        self.env.globals["office_name"] = config.office.name
        with open_catalog(ws.catalog) as catalog:
            note_config_change(ws, catalog, "accord serve")

    def catalog(self) -> Catalog:
        catalog = getattr(self._local, "catalog", None)
        if catalog is None:
            catalog = self._local.catalog = open_catalog(self.ws.catalog)
            self._catalogs.append(catalog)
        return catalog

    def policy(self) -> AccessPolicy:
        """``access.yaml``, read again whenever it changes (``accord user add`` edits it)."""
        path = self.ws.policies / "access.yaml"
        try:
            st = path.stat()
            key: tuple = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            key = ()
        with self._policy_lock:
            if self._policy is None or self._policy[0] != key:
                self._policy = (key, policy_for(self.ws.root, self.ws.policies))
            return self._policy[1]

    def office(self, actor: Actor) -> OfficeSession:
        return OfficeSession(self.ws, actor, config=self.config, policy=self.policy(), catalog=self.catalog())

    def tools(self) -> tuple[Any, Any]:
        """A warm converter and the sealer, made on first need (approving a disposition)."""
        from pipeline.documents.convert import Converter
        from pipeline.documents.seal import make_sealer

        with self._converter_lock:
            if self._converter is None:
                factory = self._converter_factory or (lambda: Converter(self.config.converter))
                self._converter = factory()
                self._sealer = make_sealer(self.ws, self.config)
            return self._converter, self._sealer

    def close(self) -> None:
        if self._converter is not None and self._converter_factory is None:
            self._converter.close()
        for catalog in self._catalogs:
            try:
                catalog.close()
            except Exception:  # a catalog used by another thread is closed with the process
                pass
        self.accounts.close()

    def audit(self, actor: str, action: str, outcome: str, details: dict[str, Any], via: str = "portal") -> None:
        self.catalog().audit(AuditEntry(actor, action, outcome, details={**details, "via": via}))

    def listed(self, name: str) -> bool:
        """Whether ``access.yaml`` names this person (anyone else gets no session through SSO)."""
        return self.policy().user(name) is not None

    def refuse(self, refusal: auth.Refusal) -> HTMLResponse:
        """A person the SSO proxy vouches for but who may not come in: audited like a refused sign-in."""
        self.audit(refusal.name, "sign-in", refusal.outcome,
                   {"address": refusal.origin.address, "reason": refusal.reason}, via="sso")
        return error_page(self, 403, refusal.message(self.settings))


def _marks(text: str | None) -> Markup:
    """A search snippet with its [matches] as <mark>; everything else escaped."""
    escaped = str(escape(text or ""))
    return Markup(re.sub(r"\[([^\[\]]{1,200})\]", r"<mark>\1</mark>", escaped))


def _when(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = str(value)
    return text[:16].replace("T", " ") + (" UTC" if "T" in text else "")


# --- request plumbing ------------------------------------------------------------------------


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

    def may(self, action: str, record: Mapping[str, Any] | None = None) -> bool:
        facts = RecordFacts.of(record) if record is not None else None
        return bool(decide(self.portal.policy(), self.caller.actor, action, facts))

    def path_id(self, name: str) -> str:
        """A record or case id from the path; anything that cannot be an id is simply not found."""
        value = self.request.path_params[name]
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", value):
            raise RecordNotFound("No such case." if name == "case_id" else "No such record.")
        return value

    def param(self, name: str, limit: int = 200) -> str:
        value = self.request.query_params.get(name, "")
        return " ".join(value.split())[:limit]

    def field(self, name: str, limit: int = 500) -> str:
        value = self.form.get(name, "") if self.form is not None else ""
        return " ".join(str(value).split())[:limit] if isinstance(value, str) else ""

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


def page(portal: Portal, handler: Callable[[Ctx], Response], *, post: bool = False):
    """An endpoint that needs a signed-in person (and, for a POST, the session's CSRF token)."""

    async def endpoint(request: Request) -> Response:
        caller = await run_in_threadpool(auth.identify, request, portal.accounts, portal.settings, portal.listed)
        if isinstance(caller, auth.Refusal):
            return await run_in_threadpool(portal.refuse, caller)
        if caller is None:
            if post or request.method != "GET":
                return error_page(portal, 403, "Sign in first.")
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse("/signin?" + urllib.parse.urlencode({"next": target}), status_code=303)
        form = None
        if post:
            form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=64 * 1024)
            if not auth.same_origin(request) or not auth.csrf_ok(caller.session.csrf, form.get("csrf")):
                return error_page(portal, 403, "This form has expired or did not come from this site; "
                                               "go back, reload the page and try again.", caller)
        ctx = Ctx(portal, request, caller, form)
        try:
            response = await run_in_threadpool(_run, handler, ctx)
        finally:
            if form is not None:
                await form.close()
        if caller.new_cookie:
            auth.set_cookie(response, SESSION_COOKIE, caller.session.token, caller.origin, portal.settings)
        return response

    return endpoint


def _run(handler: Callable[[Ctx], Response], ctx: Ctx) -> Response:
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


def _date(value: str) -> dt.date | None:
    """A date from a form field (empty: none); one that cannot be a date is refused saying why."""
    return read_date(value) if value else None


def _int(value: str, what: str) -> int:
    if not re.fullmatch(r"\d{1,12}", value or ""):
        raise RecordNotFound(f"No {what} {value[:20]!r}.")
    return int(value)


def _redirect(path: str, done: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (f"?done={done}" if done else ""), status_code=303)


# --- sign-in ---------------------------------------------------------------------------------


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no backslashes) may follow sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and len(target) < 2000:
        return target
    return "/search"


def signin_routes(portal: Portal) -> list[Route]:
    import secrets

    async def signin_form(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = render(portal, "signin.html", next=_safe_next(request.query_params.get("next")), signin=token,
                          error=None, notice=NOTICES.get(request.query_params.get("done", "")))
        auth.set_cookie(response, SIGNIN_COOKIE, token, auth.origin_of(request), portal.settings, max_age=3600)
        return response

    async def signin(request: Request) -> Response:
        origin = auth.origin_of(request)
        form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS, max_part_size=8 * 1024)
        name = str(form.get("name", ""))[:64].strip()
        password = str(form.get("password", ""))
        target = _safe_next(str(form.get("next", "")))
        if not auth.same_origin(request) or not auth.csrf_ok(request.cookies.get(SIGNIN_COOKIE, ""),
                                                             form.get("signin")):
            return error_page(portal, 403, "This sign-in form has expired; reload the page and try again.")
        try:
            account = await run_in_threadpool(portal.accounts.authenticate, name, password, origin.address)
        except SignInRefused as exc:
            shown = name if re.fullmatch(r"[A-Za-z0-9._-]{1,64}", name) else "(not a valid name)"
            await run_in_threadpool(portal.audit, shown, "sign-in", "throttled" if exc.throttled else "denied",
                                    {"address": origin.address})
            response = render(portal, "signin.html", 429 if exc.throttled else 401, next=target,
                              signin=request.cookies.get(SIGNIN_COOKIE, ""), error=str(exc))
            return response
        session = await run_in_threadpool(portal.accounts.start_session, account.name, origin.address)
        await run_in_threadpool(portal.audit, account.name, "sign-in", "ok", {"address": origin.address})
        response = RedirectResponse(target, status_code=303)
        auth.set_cookie(response, SESSION_COOKIE, session.token, origin, portal.settings)
        auth.clear_cookie(response, SIGNIN_COOKIE, origin, portal.settings)
        return response

    def signout(ctx: Ctx) -> Response:
        ctx.portal.accounts.end_session(ctx.caller.session.token)
        ctx.portal.audit(ctx.caller.actor.name, "sign-out", "ok", {"address": ctx.caller.origin.address})
        response = _redirect("/signin", "signed-out")
        auth.clear_cookie(response, SESSION_COOKIE, ctx.caller.origin, ctx.portal.settings)
        return response

    return [
        Route("/signin", signin_form, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", page(portal, signout, post=True), methods=["POST"]),
    ]


# --- records ---------------------------------------------------------------------------------


def home(ctx: Ctx) -> Response:
    return _redirect("/search")


def search(ctx: Ctx) -> Response:
    try:
        page_no = max(1, min(int(ctx.param("page") or 1), 10_000))
    except ValueError:
        page_no = 1
    filters = {k: ctx.param(k) for k in ("q", "template", "record_class", "case", "party", "status", "from", "to")}
    query = SearchQuery(
        text=filters["q"] or None, template=filters["template"] or None, case_id=filters["case"] or None,
        party=filters["party"] or None, record_class=filters["record_class"] or None,
        status=filters["status"] or None, date_from=_date(filters["from"]), date_to=_date(filters["to"]),
        limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE,
    )
    result = ctx.office.search(query)
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-result.total // PAGE_SIZE))

    def link(n: int) -> str:
        return "/search?" + urllib.parse.urlencode({**kept, "page": n})

    return ctx.render("search.html", filters=filters, result=result, page=page_no, pages=pages,
                      prev_link=link(page_no - 1) if page_no > 1 else None,
                      next_link=link(page_no + 1) if page_no < pages else None,
                      templates=ctx.portal.templates,
                      statuses=("sealed", "executed", "superseded", "frozen", "destroyed"))


def record(ctx: Ctx) -> Response:
    record_id = ctx.path_id("record_id")
    row = ctx.office.show(record_id)
    report = ctx.portal.verifications.get(ctx.portal.ws, row, ctx.portal.roots)
    disclosures = ctx.office.disclosures(record_id) if ctx.may("read-audit") else None
    return ctx.render("record.html", record=row, report=report, badge=_badge(row, report),
                      versions=_versions(ctx, row), party_signatures=countersign.signatures_for(ctx.office.catalog, record_id),
                      executed=countersign.executed_versions(ctx.office.catalog, record_id), disclosures=disclosures,
                      may_retrieve=ctx.may("retrieve", row), may_hold=ctx.may("hold"))


def _badge(row: Mapping[str, Any], report: VerifyReport) -> dict[str, str]:
    if not report.ok:
        return {"kind": "failed", "label": "Failed verification",
                "detail": " ".join(report.problems) or "The seal did not validate."}
    if row["status"] == "executed":
        return {"kind": "executed", "label": "Executed",
                "detail": "Signed by the parties; the office seal is intact and trusted."}
    return {"kind": "sealed", "label": "Sealed and intact",
            "detail": "The checksum matches and the office seal is intact and trusted."}


def _versions(ctx: Ctx, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every version of the same document of the same case that this person may view, oldest first."""
    return [v for v in ctx.office.catalog.versions(row["template"], row["case_id"]) if ctx.may("view", v)]


def download_form(ctx: Ctx) -> Response:
    record_id = ctx.path_id("record_id")
    row = ctx.office.show(record_id)
    if not ctx.may("retrieve", row):
        return error_page(ctx.portal, 403, "Your role may see this record but not take a copy of it.",
                          ctx.caller, ctx.may)
    return ctx.render("download.html", record=row, error=None, executed=ctx.param("copy") == "executed")


def download(ctx: Ctx) -> Response:
    record_id = ctx.path_id("record_id")
    purpose = ctx.field("purpose")
    executed = ctx.field("copy", 20) == "executed"
    if not purpose:
        row = ctx.office.show(record_id)
        return ctx.render("download.html", 400, record=row, executed=executed,
                          error="State the purpose of the request (the legitimate interest).")
    try:
        retrieval = ctx.office.retrieve(record_id, purpose, executed=executed)
    except RecordNotFound:
        row = ctx.office.catalog.find(record_id)
        if row is not None and ctx.may("view", row):
            # Seen but not to be taken (the denial is in the audit log): say so, as the form does.
            return error_page(ctx.portal, 403, "Your role may see this record but not take a copy of it.",
                              ctx.caller, ctx.may)
        raise
    except VerificationFailed as exc:
        return ctx.render("refused.html", 409, record_id=record_id, problems=exc.problems)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", record_id) + (".executed.pdf" if executed else ".pdf")
    return Response(retrieval.data, media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{name}"'})


def case(ctx: Ctx) -> Response:
    case_id = ctx.path_id("case_id")
    timeline = ctx.desk.case(case_id)
    return ctx.render("case.html", case=timeline)


# --- holds and dispositions --------------------------------------------------------------------


def holds_page(ctx: Ctx) -> Response:
    everything = ctx.param("all") == "1"
    return ctx.render("holds.html", holds=ctx.desk.holds(include_released=everything), everything=everything,
                      error=None, values={})


def place_hold(ctx: Ctx) -> Response:
    scope, value = ctx.field("scope", 20), ctx.field("value", 200)
    if scope not in ("case", "record", "search") or not value:
        raise AccordError("Choose what the hold covers (a case, a record or a search) and name it.")
    ctx.desk.place_hold(name=ctx.field("name", 200), reason=ctx.field("reason"), **{
        {"case": "case_id", "record": "record_id", "search": "search"}[scope]: value})
    return _redirect("/holds", "hold-placed")


def release_hold(ctx: Ctx) -> Response:
    hold_id = _int(ctx.request.path_params["hold_id"], "hold")
    ctx.desk.release_hold(hold_id, ctx.field("reason"))
    return _redirect("/holds", "hold-released")


def proposals_page(ctx: Ctx) -> Response:
    return ctx.render("proposals.html", proposals=ctx.desk.proposals())


def proposal_page(ctx: Ctx) -> Response:
    desk = ctx.desk
    row, items = desk.proposal(_proposal(desk, ctx.request.path_params["proposal_id"]))
    return ctx.render("proposal.html", proposal=row, items=items)


def _proposal(desk: RetentionDesk, raw_id: str) -> int:
    """The proposal's id once the person's right to decide is checked (403) and the proposal exists (404)."""
    proposal_id = _int(raw_id, "proposal")
    try:
        desk.proposal(proposal_id)
    except SweepError:
        raise RecordNotFound(f"No disposition proposal {proposal_id}.") from None
    return proposal_id


def approve(ctx: Ctx) -> Response:
    desk = ctx.desk
    proposal_id = _proposal(desk, ctx.request.path_params["proposal_id"])
    converter, sealer = ctx.portal.tools()
    desk.approve(proposal_id, converter, sealer)
    return _redirect(f"/proposals/{proposal_id}", "approved")


def reject(ctx: Ctx) -> Response:
    desk = ctx.desk
    proposal_id = _proposal(desk, ctx.request.path_params["proposal_id"])
    reason = ctx.field("reason")
    if not reason:
        raise AccordError("Say why the proposal is rejected.")
    desk.reject(proposal_id, reason)
    return _redirect(f"/proposals/{proposal_id}", "rejected")


# --- audit -----------------------------------------------------------------------------------


def audit_page(ctx: Ctx) -> Response:
    filters = {k: ctx.param(k, 100) for k in ("actor", "action", "record", "since", "until")}
    before = ctx.param("before")
    rows = ctx.office.audit_log(actor=filters["actor"] or None, action=filters["action"] or None,
                                record_id=filters["record"] or None, since=filters["since"] or None,
                                until=filters["until"] or None, limit=AUDIT_PAGE,
                                before=int(before) if re.fullmatch(r"[0-9]{1,12}", before) else None)
    kept = {k: v for k, v in filters.items() if v}
    older = "/audit?" + urllib.parse.urlencode({**kept, "before": rows[-1]["seq"]}) if len(rows) == AUDIT_PAGE else None
    status = ctx.office.audit_status()
    return ctx.render("audit.html", rows=rows, filters=filters, older=older, tail=status.tail, head=status.head,
                      anchor=status.last_anchor)


def audit_verify(ctx: Ctx) -> Response:
    return ctx.render("audit_verify.html", report=ctx.office.verify_audit())


# --- the application ---------------------------------------------------------------------------


def create_app(ws: Workspace, config: Config | None = None, *, accounts: Accounts | None = None,
               converter_factory: Callable[[], Any] | None = None) -> Starlette:
    """The portal for workspace ``ws``; ``accounts`` and ``converter_factory`` may be given by tests."""
    config = config or ws.load_config()
    portal = Portal(ws, config, accounts or Accounts(ws.accounts, config.portal), converter_factory)
    routes = [
        Route("/", page(portal, home), methods=["GET"]),
        *signin_routes(portal),
        Route("/search", page(portal, search), methods=["GET"]),
        Route("/records/{record_id}", page(portal, record), methods=["GET"]),
        Route("/records/{record_id}/download", page(portal, download_form), methods=["GET"]),
        Route("/records/{record_id}/download", page(portal, download, post=True), methods=["POST"]),
        Route("/cases/{case_id}", page(portal, case), methods=["GET"]),
        Route("/holds", page(portal, holds_page), methods=["GET"]),
        Route("/holds", page(portal, place_hold, post=True), methods=["POST"]),
        Route("/holds/{hold_id}/release", page(portal, release_hold, post=True), methods=["POST"]),
        Route("/proposals", page(portal, proposals_page), methods=["GET"]),
        Route("/proposals/{proposal_id}", page(portal, proposal_page), methods=["GET"]),
        Route("/proposals/{proposal_id}/approve", page(portal, approve, post=True), methods=["POST"]),
        Route("/proposals/{proposal_id}/reject", page(portal, reject, post=True), methods=["POST"]),
        Route("/audit", page(portal, audit_page), methods=["GET"]),
        Route("/audit/verify", page(portal, audit_verify), methods=["GET"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]

    async def http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        messages = {404: "There is no such page.", 405: "That page does not take this kind of request."}
        response = error_page(portal, status, messages.get(status, "The request could not be completed."))
        if status == 405:  # RFC 9110 15.5.6
            given = (exc.headers or {}).get("Allow", "") if isinstance(exc, HTTPException) else ""
            response.headers["allow"] = allowed_methods(routes, request.scope, given)
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("portal: %s failed: %s", request.url.path, type(exc).__name__)
        response = error_page(portal, 500, "The request could not be completed; it has been logged.")
        add_security_headers(response.headers)  # this answer is made outside SecurityHeaders
        return response

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette):
        yield
        await run_in_threadpool(portal.close)  # LibreOffice, if an approval started it; the catalogs

    app = Starlette(
        lifespan=lifespan,
        routes=routes,
        middleware=[Middleware(ProxyTrust, trusted_proxies=config.portal.trusted_proxies),
                    Middleware(SecurityHeaders),
                    # inside SecurityHeaders, so that every 413 carries them (Starlette's max_body_size would not)
                    Middleware(BodyLimit, max_body_size=MAX_BODY, refusal=lambda: error_page(portal, 413, TOO_LARGE))],
        exception_handlers={HTTPException: http_error, 500: server_error},
    )
    app.state.portal = portal
    return app


def allowed_methods(routes: list[BaseRoute], scope: Mapping[str, Any], given: str = "") -> str:
    """The ``Allow`` of a 405: what the route that answered said (``given``) and the methods of every
    other route at the same path (a page has one route per method here, and Starlette names only the first)."""
    probe = {"type": "http", "path": scope["path"], "root_path": scope.get("app_root_path", ""),
             "method": scope["method"]}
    methods = {m.strip() for m in given.split(",") if m.strip()}
    for route in routes:
        if isinstance(route, Route) and route.methods and route.matches(probe)[0] is not Match.NONE:
            methods |= route.methods
    return ", ".join(sorted(methods))


def app_from_environment() -> Starlette:
    """The factory ``uvicorn`` imports in each worker process (``accord serve --workers N``)."""
    from pipeline.workspace import resolve_workspace

    return create_app(resolve_workspace(None))


__all__ = ["ACTIONS", "create_app", "app_from_environment", "Portal"]
