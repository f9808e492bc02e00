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

from starlette.requests import Request
from starlette.responses import Response

from ..access import Actor
from ..accounts import Accounts, Session
from ..config import PortalSettings
from .security import Origin

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


def origin_of(request: Request) -> Origin:
    return request.scope["state"]["origin"]


def identify(request: Request, accounts: Accounts, settings: PortalSettings) -> Caller | None:
    """The signed-in person, or ``None``."""
    origin = origin_of(request)
    token = request.cookies.get(SESSION_COOKIE)
    sso_user = _sso_user(request, settings, origin)
    session = accounts.session(token)
    if sso_user is not None:
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
