"""The portal application: routes over the handlers, the middleware (the feed's secret out of the path, proxy trust, security headers, body limit), the error pages."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Mapping

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles

from pipeline.config import Config
from pipeline.governance.access import ACTIONS
from pipeline.governance.accounts import Accounts
from pipeline.portal.audit import audit_page, audit_verify
from pipeline.portal.cases import (
    calendar_page,
    case_page,
    cases_page,
    completion_letter,
    feed_endpoint,
    new_feed,
    record_event,
    revoke_feed,
    upload,
    upload_form,
)
from pipeline.portal.records import download, download_form, home, record, search
from pipeline.portal.report import chart, report_page, seal_report
from pipeline.portal.requests import MAX_BODY, TOO_LARGE, error_page, page
from pipeline.portal.retention import (
    approve,
    holds_page,
    place_hold,
    proposal_page,
    proposals_page,
    reject,
    release_hold,
)
from pipeline.portal.security import FEED_PATH, BodyLimit, FeedSecret, ProxyTrust, SecurityHeaders, add_security_headers
from pipeline.portal.signin import signin_routes
from pipeline.portal.state import HERE, Portal, log
from pipeline.workspace import Workspace


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
        Route("/cases", page(portal, cases_page), methods=["GET"]),
        # before /cases/{case_id}, which would take "upload" for a case id
        Route("/cases/upload", page(portal, upload_form), methods=["GET"]),
        Route("/cases/upload", page(portal, upload, post=True, files=1), methods=["POST"]),
        Route("/cases/{case_id}", page(portal, case_page), methods=["GET"]),
        Route("/cases/{case_id}/events", page(portal, record_event, post=True), methods=["POST"]),
        Route("/cases/{case_id}/completion", page(portal, completion_letter, post=True), methods=["POST"]),
        Route("/calendar", page(portal, calendar_page), methods=["GET"]),
        Route("/calendar", page(portal, new_feed, post=True), methods=["POST"]),
        Route("/calendar/revoke", page(portal, revoke_feed, post=True), methods=["POST"]),
        Route(FEED_PATH, feed_endpoint(portal), methods=["GET"]),  # no sign-in: calendar apps cannot
        Route("/holds", page(portal, holds_page), methods=["GET"]),
        Route("/holds", page(portal, place_hold, post=True), methods=["POST"]),
        Route("/holds/{hold_id}/release", page(portal, release_hold, post=True), methods=["POST"]),
        Route("/proposals", page(portal, proposals_page), methods=["GET"]),
        Route("/proposals/{proposal_id}", page(portal, proposal_page), methods=["GET"]),
        Route("/proposals/{proposal_id}/approve", page(portal, approve, post=True), methods=["POST"]),
        Route("/proposals/{proposal_id}/reject", page(portal, reject, post=True), methods=["POST"]),
        Route("/report", page(portal, report_page), methods=["GET"]),
        Route("/report/chart/{table_id}.png", page(portal, chart), methods=["GET"]),
        Route("/report/seal", page(portal, seal_report, post=True), methods=["POST"]),
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
        middleware=[Middleware(FeedSecret),  # first: no later part (the access log) sees a feed's secret
                    Middleware(ProxyTrust, trusted_proxies=config.portal.trusted_proxies),
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
