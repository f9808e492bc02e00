"""Who is signed in: a session cookie from a local sign-in, or the institution's SSO header.

The SSO header is believed only on connections from a configured reverse proxy; from
anywhere else it is ignored. Either way the person is an :class:`~pipeline.access.Actor`
whose rights come from ``access.yaml``, exactly as on the command line.
"""

from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from typing import Callable

from starlette.requests import Request
from starlette.responses import Response

from pipeline.config import PortalSettings
from pipeline.governance.access import Actor
from pipeline.governance.accounts import Accounts, Session
from pipeline.portal.security import Origin

log = logging.getLogger("accord.portal")

SESSION_COOKIE = "accord_session"
SIGNIN_COOKIE = "accord_signin"
SSO_NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}(@[A-Za-z0-9.-]{1,128})?"


@dataclass(frozen=True)
class Caller:
    actor: Actor
    session: Session
    origin: Origin
    new_cookie: bool = False
    """The session was started by this request (SSO): its cookie must be set on the answer."""


@dataclass(frozen=True)
class Refusal:
    """A person the SSO proxy vouches for who may not have a session here (nothing was stored for them)."""

    name: str
    reason: str
    """``not-listed`` (not in access.yaml), ``disabled`` or ``locked`` (their local account)."""
    origin: Origin

    @property
    def outcome(self) -> str:
        """As the audit log records a refused password sign-in."""
        return "throttled" if self.reason == "locked" else "denied"

    def message(self, settings: PortalSettings) -> str:
        return {
            "not-listed": "You are signed in at the institution, but you are not a user of this workspace; "
                          "ask the office to add you.",
            "disabled": "Your account is disabled; ask the office to enable it again.",
            "locked": f"Your account is locked after too many failed sign-ins; try again in "
                      f"{settings.lockout_minutes} minutes.",
        }[self.reason]


def origin_of(request: Request) -> Origin:
    return request.scope["state"]["origin"]


def identify(request: Request, accounts: Accounts, settings: PortalSettings,
             listed: Callable[[str], bool]) -> Caller | Refusal | None:
    """The signed-in person, a refused SSO person, or ``None``; ``listed`` says whether access.yaml names someone."""
    origin = origin_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    sso_user = _sso_user(request, settings, origin)
    session = accounts.session(token)
    if sso_user is not None:
        reason = "not-listed" if not listed(sso_user) else accounts.barred(sso_user)
        if reason is not None:
            if session is not None and session.via == "sso" and session.account == sso_user:
                accounts.end_session(token)
            return Refusal(sso_user, reason, origin)
        if session is None or session.via != "sso" or session.account != sso_user:
            session = accounts.start_session(sso_user, origin.address, via="sso")
            return Caller(Actor(sso_user, via="sso"), session, origin, new_cookie=True)
        return Caller(Actor(sso_user, via="sso"), session, origin)
    if session is None or session.via == "sso":
        # An SSO session is only good while the proxy keeps vouching for the person.
        return None
    return Caller(Actor(session.account, via="portal"), session, origin)


def _sso_user(request: Request, settings: PortalSettings, origin: Origin) -> str | None:
    if not settings.sso_header:
        return None
    value = request.headers.get(settings.sso_header)
    if value is None:
        return None
    if not origin.via_trusted_proxy:
        log.warning("ignored the %s header from %s, which is not a trusted proxy", settings.sso_header, origin.peer)
        return None
    # A uid (jchen) or a scoped name (jchen@example.edu), listed as such in access.yaml.
    name = value.strip()
    return name if re.fullmatch(SSO_NAME_PATTERN, name) else None


def csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and bool(expected) and hmac.compare_digest(expected.encode(), given.encode())


def same_origin(request: Request) -> bool:
    """A state-changing request must not come from another site, when the browser says where from.

    With ``Referrer-Policy: no-referrer`` browsers send ``Origin: null`` on form posts (Fetch
    standard), so "null" and a missing header prove nothing either way: the CSRF token decides.
    """
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1] == host


def set_cookie(response: Response, name: str, value: str, origin: Origin, settings: PortalSettings,
               max_age: int | None = None) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="lax",
                        secure=origin.https or settings.secure_cookies)


def clear_cookie(response: Response, name: str, origin: Origin, settings: PortalSettings) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax",
                           secure=origin.https or settings.secure_cookies)
