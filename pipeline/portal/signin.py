"""Signing in and out (local accounts; single sign-on is in ``auth``)."""

from __future__ import annotations

import re

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from pipeline.errors import SignInRefused
from pipeline.portal import auth
from pipeline.portal.auth import SESSION_COOKIE, SIGNIN_COOKIE
from pipeline.portal.requests import MAX_FORM_FIELDS, NOTICES, Ctx, error_page, page, redirect, render
from pipeline.portal.state import Portal


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no backslashes) may follow sign-in; else the home
    page, which leads each person to their cases (and agenda) or to search."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target \
            and len(target) < 2000:
        return target
    return "/"


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
        response = redirect("/signin", "signed-out")
        auth.clear_cookie(response, SESSION_COOKIE, ctx.caller.origin, ctx.portal.settings)
        return response

    return [
        Route("/signin", signin_form, methods=["GET"]),
        Route("/signin", signin, methods=["POST"]),
        Route("/signout", page(portal, signout, post=True), methods=["POST"]),
    ]
