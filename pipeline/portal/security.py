"""Who is really asking, the headers every answer carries, and what reaches the log.

:class:`ProxyTrust` believes ``X-Forwarded-For`` and ``X-Forwarded-Proto`` only when the
connection comes from a configured reverse proxy, and records the immediate peer so the
single-sign-on header is accepted from that proxy alone. :class:`SecurityHeaders` adds a
script-free Content-Security-Policy, framing and referrer denial, ``nosniff`` and
``Cache-Control: no-store`` to every page and download. :class:`LibraryLog` keeps pyHanko's
(and fontTools') tracebacks and certificate names out of the portal's log.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

from starlette.datastructures import Headers, MutableHeaders
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pipeline.logformat import TERSE_LOGGERS, library_summary

log = logging.getLogger("accord.portal")

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")

_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-content-type-options", b"nosniff"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]


@dataclass(frozen=True)
class Origin:
    """Where a request came from, as far as it can be believed."""

    peer: str
    """The address of the connection itself (the proxy, when there is one)."""
    address: str
    """The end user's address: the peer, or what a trusted proxy says."""
    https: bool
    via_trusted_proxy: bool


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class ProxyTrust:
    def __init__(self, app: ASGIApp, trusted_proxies: tuple[str, ...] = ()):
        self.app = app
        self.trusted = frozenset(trusted_proxies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            peer = (scope.get("client") or ("", 0))[0]
            https = scope.get("scheme") == "https"
            address = peer
            trusted = peer in self.trusted
            if trusted:
                forwarded = _header(scope, b"x-forwarded-for")
                if forwarded:
                    address = forwarded.split(",")[-1].strip()[:64] or peer
                proto = _header(scope, b"x-forwarded-proto")
                if proto:
                    https = proto.strip().lower() == "https"
            scope.setdefault("state", {})["origin"] = Origin(peer, address, https, trusted)
        await self.app(scope, receive, send)


def add_security_headers(headers: MutableHeaders) -> None:
    """The same headers on an answer made outside :class:`SecurityHeaders` (the last-resort error page)."""
    for key, value in _HEADERS:
        headers[key.decode()] = value.decode()
    headers["cache-control"] = "no-store"


class SecurityHeaders:
    """Security headers on every response; ``no-store`` on everything but the stylesheet."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        origin = scope.get("state", {}).get("origin")
        started = time.perf_counter()
        status = 0

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"server"]
                headers += _HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                    headers.append((b"pragma", b"no-cache"))
                if origin is not None and origin.https:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            # No query strings: search words may be names.
            log.info("%s %s %s %.1f ms", scope["method"], scope["path"], status,
                     (time.perf_counter() - started) * 1000)


#: What the log and the router see of a calendar feed's address (its secret taken out).
FEED_PATH = "/calendar/<feed>.ics"


class FeedSecret:
    """A calendar feed's address carries its secret (``/calendar/{secret}.ics``): from here on the request's
    path is ``FEED_PATH``, which is what the log shows and the router matches, and the secret is in
    ``scope["state"]["feed"]`` for the feed's endpoint alone."""

    _FEED = re.compile(r"/calendar/([^/]*)\.ics")

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._FEED.fullmatch(scope.get("path", "")) if scope["type"] == "http" else None
        if found:
            state = {**scope.get("state", {}), "feed": found.group(1)}
            scope = {**scope, "path": FEED_PATH, "raw_path": FEED_PATH.encode(), "state": state}
        await self.app(scope, receive, send)


class BodyLimit:
    """The request-body limit, inside :class:`SecurityHeaders`, answered with the portal's own page.

    ``Starlette(max_body_size=...)`` puts its limit outside every middleware given to the app, so its
    bare text 413 went out without the security headers. Here Starlette's same middleware runs inside
    them; a declared ``Content-Length`` over the limit is refused before the request is handled at all,
    and any 413 coming back (a chunked body that grew past the limit while read) is answered with
    ``refusal()`` instead.
    """

    def __init__(self, app: ASGIApp, max_body_size: int, refusal: Callable[[], Response]):
        self.app = RequestBodyLimitMiddleware(app, max_body_size=max_body_size)
        self.max_body_size = max_body_size
        self.refusal = refusal

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body_size:
            await self.refusal()(scope, receive, send)
            return
        replaced = False

        async def send_or_replace(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return
            if message["type"] == "http.response.start" and message["status"] == 413:
                replaced = True
                await self.refusal()(scope, receive, send)
                return
            await send(message)

        await self.app(scope, receive, send_or_replace)


#: The loggers of the PDF libraries the portal verifies and seals with (their modules log under these):
#: pyHanko logs a traceback with many of the steps that fail on the way to a verdict and names certificate
#: subjects (people) in its messages; fontTools logs a traceback for a font table it cannot read.


class LibraryLog(logging.Handler):
    """The PDF libraries' log in the portal: which part of them complained and the kind of error, never
    their message or traceback; what they log while a request is handled becomes one line for that request."""

    def __init__(self) -> None:
        super().__init__()
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        what = library_summary(record)
        held = getattr(self._local, "held", None)
        if held is None:
            log.log(record.levelno, "The PDF libraries reported %s.", what)
        else:
            held.append((record.levelno, what))

    @contextlib.contextmanager
    def one_line(self, path: str) -> Iterator[None]:
        """What the libraries log in this thread meanwhile, as one line naming the page."""
        held: list[tuple[int, str]] = []
        self._local.held = held
        try:
            yield
        finally:
            self._local.held = None
            if held:
                log.log(max(level for level, _ in held), "%s: the PDF libraries reported %s.", path,
                        "; ".join(dict.fromkeys(what for _, what in held)))


_LIBRARY_LOG = LibraryLog()


def library_log() -> LibraryLog:
    """The process's one :class:`LibraryLog`, attached (once) to the libraries' loggers, which stop passing
    their records on to the root logger's handlers (where the tracebacks were printed)."""
    for name in TERSE_LOGGERS:
        logger = logging.getLogger(name)
        if _LIBRARY_LOG not in logger.handlers:
            logger.addHandler(_LIBRARY_LOG)
        logger.propagate = False
    return _LIBRARY_LOG
