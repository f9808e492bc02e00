"""The web portal over HTTP: who may reach what, CSRF, sessions, throttling, SSO, security headers,
downloads, error pages and legal holds.

Everything runs against copies of the shared ``sealed_office`` workspace (the two example files,
sealed once per session): the portal under test is a real Starlette app driven through TestClient,
with a fake clock wherever time matters.
"""

from __future__ import annotations

import binascii
import dataclasses
import datetime as dt
import hashlib
import io
import json
import logging
import re
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape
from pyhanko.pdf_utils.reader import PdfFileReader
from starlette.testclient import TestClient

from pipeline.config import PortalSettings
from pipeline.documents.templates import load_templates
from pipeline.documents.trust import TrustRoots
from pipeline.governance import disposition, holds
from pipeline.governance.access import grant
from pipeline.governance.accounts import Accounts
from pipeline.governance.retention import load_retention
from pipeline.portal.app import create_app
from pipeline.records import audit
from pipeline.records.retrieve import verify_record
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

from .helpers import PASSWORD, Clock, copy_workspace, hidden, records_by_template, sign_in

#: These tests are about HTTP, not the hash's cost.
pytestmark = pytest.mark.usefixtures("quick_argon2")

LOCAL = "127.0.0.1"
PROXY = "10.0.0.5"
NOT_PROXY = "10.0.0.9"
SESSION = "accord_session"
SIGNIN = "accord_signin"
CASE = "ADR-2026-0142"

#: Accounts listed in access.yaml: name -> (roles, own cases).
USERS = {
    "cora": (("coordinator",), ("ADR-1999-*",)),
    "mlee": (("coordinator",), ("ADR-2026-*",)),
    "jchen": (("counsel",), ()),
    "pramam": (("director",), ()),
    "records": (("records-officer",), ()),
    "audit1": (("auditor",), ()),
}
#: An account that access.yaml does not list: deny by default.
STRANGER = "nobody"

ROLES = ("anon", "coord-other", "coord-own", "counsel", "director", "officer", "auditor", "stranger")
ACCOUNT_OF = {"coord-other": "cora", "coord-own": "mlee", "counsel": "jchen", "director": "pramam",
              "officer": "records", "auditor": "audit1", "stranger": STRANGER}



class NoConverter:
    """Stands in for LibreOffice: no test here may convert anything."""

    def convert(self, *args: Any) -> bytes:
        raise AssertionError("no conversion is expected in the portal tests")


def error_text(html: str) -> str:
    match = re.search(r'<p class="error" role="alert"[^>]*>(.*?)</p>', html, re.DOTALL)
    return match.group(1) if match else ""


def set_cookies(response) -> dict[str, list[str]]:
    """Each Set-Cookie by name, as its lower-cased attributes."""
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name = header.split("=", 1)[0].strip()
        cookies[name] = [part.strip().lower() for part in header.split(";")[1:]]
    return cookies


@dataclasses.dataclass
class Site:
    """One portal under test, over its own workspace copy."""

    ws: Workspace
    app: Any
    accounts: Accounts
    clock: Callable[[], float] | None

    @property
    def records(self) -> dict[str, dict]:
        return records_by_template(self.ws)

    @property
    def ra(self) -> dict:
        return self.records["resolution-agreement"]

    @property
    def mou(self) -> dict:
        return self.records["mou"]

    def client(self, address: str = LOCAL, **kwargs) -> TestClient:
        return TestClient(self.app, client=(address, 50000), follow_redirects=False, **kwargs)

    def signed_in(self, name: str, address: str = LOCAL) -> TestClient:
        """A client holding a session made in the store directly (no Argon2 work)."""
        session = self.accounts.start_session(name, address)
        return self.client(address, cookies={SESSION: session.token})

    def audit(self, **filters: Any) -> list[dict]:
        with open_catalog(self.ws.catalog) as catalog:
            return list(audit.entries(catalog.db.conn, limit=10_000, **filters))

    def disclosures(self, record_id: str) -> list[dict]:
        with open_catalog(self.ws.catalog) as catalog:
            return audit.disclosures(catalog.db.conn, record_id)

    def active_holds(self) -> list[holds.Hold]:
        with open_catalog(self.ws.catalog) as catalog:
            return holds.listing(catalog)

    def close(self) -> None:
        self.app.state.portal.close()


def open_site(ws: Workspace, clock: Callable[[], float] | None = None, **portal: Any) -> Site:
    config = ws.load_config()
    if portal:
        config = dataclasses.replace(config, portal=PortalSettings(**portal))
    accounts = Accounts(ws.accounts, config.portal, **({"clock": clock} if clock else {}))
    app = create_app(ws, config, accounts=accounts, converter_factory=NoConverter)
    return Site(ws, app, accounts, clock)


@pytest.fixture(scope="module")
def template_ws(sealed_office, tmp_path_factory, quick_argon2) -> Workspace:
    """The sealed office with the portal's people listed in access.yaml and their accounts made.

    Never served itself: every site works on a copy of it.
    """
    ws = copy_workspace(sealed_office.pristine, tmp_path_factory.mktemp("portal-template") / "ws")
    for name, (roles, cases) in USERS.items():
        assert grant(ws.policies / "access.yaml", name, roles, cases, workspace_owner=None)
    with Accounts(ws.accounts, PortalSettings()) as accounts:
        for name in [*USERS, STRANGER]:
            accounts.add(name, PASSWORD)
    return ws


@pytest.fixture
def make_site(template_ws, tmp_path):
    """``make_site(clock=None, **portal_settings)``: a portal over a fresh copy of the workspace."""
    made: list[Site] = []

    def make(clock: Callable[[], float] | None = None, **portal: Any) -> Site:
        ws = copy_workspace(template_ws.root, tmp_path / f"ws{len(made)}")
        made.append(open_site(ws, clock, **portal))
        return made[-1]

    yield make
    for site in made:
        site.close()


@pytest.fixture
def site(make_site) -> Site:
    return make_site()


# --- 1. who may reach what ------------------------------------------------------------------


@dataclasses.dataclass
class TableSite:
    site: Site
    ids: dict[str, str]
    clients: dict[str, TestClient]
    csrf: dict[str, str]


@pytest.fixture(scope="module")
def table(template_ws, tmp_path_factory) -> TableSite:
    """A shared portal with one proposal awaiting a decision, one already rejected and one active hold;
    every role signed in once through the sign-in form."""
    ws = copy_workspace(template_ws.root, tmp_path_factory.mktemp("portal-table") / "ws")
    classes = {t.record_class for t in load_templates(ws.templates).values()}
    policy = load_retention(ws.policies, classes)
    with open_catalog(ws.catalog) as catalog:
        decided = disposition.propose(catalog, policy, dt.date(2036, 1, 1), actor="records").proposal_id
        disposition.reject(catalog, decided, actor="records", reason="Decided in the fixture")
        pending = disposition.propose(catalog, policy, dt.date(2036, 1, 1), actor="records").proposal_id
        assert decided and pending
        hold = holds.place(catalog, name="Fixture hold", reason="Released by the table", author="records",
                           case_id=CASE)
    site = open_site(ws)
    clients = {"anon": site.client()}
    csrf = {"anon": ""}
    for role, name in ACCOUNT_OF.items():
        client = site.client()
        assert sign_in(client, name).status_code == 303
        clients[role] = client
        csrf[role] = hidden(client.get("/search").text, "csrf")
    ids = {"ra": site.ra["record_id"], "mou": site.mou["record_id"], "hold": str(hold.id),
           "pending": str(pending), "decided": str(decided)}
    yield TableSite(site, ids, clients, csrf)
    site.close()


# Route by route, the status each kind of caller gets. coord-other owns ADR-1999-* (not the example case),
# coord-own owns ADR-2026-*; the MOU's case MOU-2026-007 is nobody's own. The stranger has an account but
# is not listed in access.yaml. Every POST carries the caller's CSRF token.
ACCESS_TABLE = [
    # method  path                              anon coord-other coord-own counsel director officer auditor stranger
    ("GET",  "/",                               303, 303, 303, 303, 303, 303, 303, 303),
    ("GET",  "/signin",                         200, 200, 200, 200, 200, 200, 200, 200),
    ("GET",  "/static/style.css",               200, 200, 200, 200, 200, 200, 200, 200),
    ("GET",  "/search",                         303, 200, 200, 200, 200, 200, 200, 403),
    ("GET",  "/search?q=Nunez",                 303, 200, 200, 200, 200, 200, 200, 403),
    ("GET",  "/records/{ra}",                   303, 404, 200, 200, 200, 200, 200, 404),
    ("GET",  "/records/{mou}",                  303, 404, 404, 200, 200, 200, 200, 404),
    ("GET",  "/records/NO-SUCH-RECORD",         303, 404, 404, 404, 404, 404, 404, 404),
    # may view but not retrieve: the form and the download say so (403); the record stays hidden from the others (404)
    ("GET",  "/records/{ra}/download",          303, 404, 200, 200, 200, 403, 403, 404),
    ("POST", "/records/{ra}/download",          403, 404, 200, 200, 200, 403, 403, 404),
    ("POST", "/records/{mou}/download",         403, 404, 404, 200, 200, 403, 403, 404),
    # the case's register (parties, consent, sessions) is for those with view-case: not counsel, not the auditor
    ("GET",  "/cases/ADR-2026-0142",            303, 404, 200, 404, 200, 200, 404, 404),
    ("GET",  "/holds",                          303, 403, 403, 403, 403, 200, 403, 403),
    ("POST", "/holds",                          403, 403, 403, 403, 403, 303, 403, 403),
    ("POST", "/holds/{hold}/release",           403, 403, 403, 403, 403, 303, 403, 403),
    ("GET",  "/holds/{hold}/release",           405, 405, 405, 405, 405, 405, 405, 405),
    ("GET",  "/proposals",                      303, 403, 403, 403, 403, 200, 403, 403),
    ("GET",  "/proposals/{pending}",            303, 403, 403, 403, 403, 200, 403, 403),
    ("GET",  "/proposals/999999",               303, 403, 403, 403, 403, 404, 403, 403),
    # approving an already rejected proposal: the officer is let through to the "not awaiting a decision" error
    ("POST", "/proposals/{decided}/approve",    403, 403, 403, 403, 403, 400, 403, 403),
    ("POST", "/proposals/{pending}/reject",     403, 403, 403, 403, 403, 303, 403, 403),
    ("GET",  "/audit",                          303, 403, 403, 403, 403, 403, 200, 403),
    ("GET",  "/audit?actor=pramam",             303, 403, 403, 403, 403, 403, 200, 403),
    ("GET",  "/audit/verify",                   303, 403, 403, 403, 403, 403, 200, 403),
    ("GET",  "/signout",                        405, 405, 405, 405, 405, 405, 405, 405),
    ("POST", "/signout",                        403, 303, 303, 303, 303, 303, 303, 303),
]

#: The form each POST sends (besides its csrf).
FORMS = {
    "/records/{ra}/download": {"purpose": "Appeal review, case 2027-11"},
    "/records/{mou}/download": {"purpose": "Renewal of the agreement"},
    "/holds": {"name": "Table hold", "reason": "Litigation hold from counsel", "scope": "case", "value": CASE},
    "/holds/{hold}/release": {"reason": "The matter settled"},
    "/proposals/{pending}/reject": {"reason": "Keep these a while longer"},
}

CELLS = [(role, method, path, status)
         for method, path, *statuses in ACCESS_TABLE
         for role, status in zip(ROLES, statuses, strict=True)]


@pytest.mark.parametrize("role, method, path, expected", CELLS,
                         ids=[f"{m} {p} as {r}" for r, m, p, _ in CELLS])
def test_access_table(table, role, method, path, expected):
    """Each route answers each kind of caller (signed out, coordinators of other and own cases, counsel, director,
    records officer, auditor, an account access.yaml does not list) with the status the table gives, a refusal or
    hidden record shows none of the records' content, and a permitted download is a PDF."""
    url = path.format(**table.ids)
    client, csrf = table.clients[role], table.csrf[role]
    if path == "/signout" and method == "POST" and role != "anon":
        # Signing out must not end the session the other rows use.
        client = table.site.signed_in(ACCOUNT_OF[role])
        csrf = hidden(client.get("/search").text, "csrf")
    if method == "GET":
        response = client.get(url)
    else:
        response = client.post(url, data={**FORMS.get(path, {}), "csrf": csrf})
    assert response.status_code == expected, f"{role} {method} {url} -> {response.status_code}"
    if role == "anon" and method == "GET" and expected == 303:
        assert response.headers["location"].startswith("/signin?next=")
    if expected in (403, 404):
        for record in (table.site.ra, table.site.mou):
            assert record["title"] not in response.text
            assert "Núñez" not in response.text
    if method == "POST" and path.endswith("/download") and expected == 200:
        assert response.headers["content-type"] == "application/pdf"


@pytest.mark.parametrize("role, template, method, suffix", [
    ("coord-other", "resolution-agreement", "GET", ""),
    ("coord-other", "mou", "GET", ""),
    ("coord-own", "mou", "GET", ""),
    ("stranger", "resolution-agreement", "GET", ""),
    ("coord-other", "resolution-agreement", "GET", "/download"),
    ("coord-own", "mou", "POST", "/download"),
])
def test_record_outside_rights_answers_like_unknown_record(table, role, template, method, suffix):
    """Same status and, but for the id, the same page as a record that does not exist."""
    record = table.site.records[template]
    client = table.clients[role]
    data = {"purpose": "Curiosity", "csrf": table.csrf[role]} if method == "POST" else None
    outside = client.request(method, f"/records/{record['record_id']}{suffix}", data=data)
    unknown = client.request(method, f"/records/NO-SUCH-RECORD-1{suffix}", data=data)
    assert outside.status_code == unknown.status_code == 404
    assert record["title"] not in outside.text
    assert outside.text.replace(record["record_id"], "ID") == unknown.text.replace("NO-SUCH-RECORD-1", "ID")


@pytest.mark.parametrize("role, template", [("officer", "resolution-agreement"), ("auditor", "mou")])
def test_view_only_role_is_refused_a_copy_and_the_refusal_is_audited(table, role, template):
    """A role that may see a record but not retrieve it gets 403 with a plain reason; nothing is released."""
    record = table.site.records[template]
    response = table.clients[role].post(f"/records/{record['record_id']}/download",
                                        data={"purpose": "Curiosity", "csrf": table.csrf[role]})
    assert response.status_code == 403 and "not take a copy" in response.text
    assert response.headers["content-type"].startswith("text/html")
    entry = table.site.audit(action="retrieve", record_id=record["record_id"])[0]
    assert (entry["outcome"], entry["purpose"]) == ("denied", "Curiosity")


def test_denied_view_is_audited(table):
    """A coordinator's view of a record outside their cases answers 404 and is recorded in the audit log as a denied
    view made through the portal."""
    client = table.clients["coord-other"]
    ra = table.ids["ra"]
    assert client.get(f"/records/{ra}").status_code == 404
    entry = table.site.audit(actor="cora", action="view", record_id=ra)[0]
    assert entry["outcome"] == "denied"
    assert entry["details"]["via"] == "portal"


@pytest.mark.parametrize("role, shown", [
    ("coord-other", 0), ("coord-own", 1), ("counsel", 2), ("director", 2), ("officer", 2), ("auditor", 2),
])
def test_search_lists_only_records_within_rights(table, role, shown):
    """The search page counts and lists only the records the signed-in role may see: none for a coordinator of other
    cases, the agreement for the coordinator of its case, both for the other roles."""
    page = table.clients[role].get("/search").text
    assert re.search(r'id="results-heading">(\d+) record', page).group(1) == str(shown)
    assert page.count('<li>\n    <h3><a href="/records/') == shown
    if shown < 2:
        assert table.site.mou["title"] not in page


# --- 2. CSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong-token"], ids=["missing", "empty", "wrong"])
def test_hold_without_right_csrf_is_refused_and_places_nothing(site, token):
    """Placing a hold without the session's CSRF token (missing, empty or wrong) is refused with 403, and no hold is
    placed or audited."""
    client = site.signed_in("records")
    form = {"name": "CSRF hold", "reason": "Should not exist", "scope": "case", "value": CASE}
    if token is not None:
        form["csrf"] = token
    response = client.post("/holds", data=form)
    assert response.status_code == 403
    assert site.active_holds() == []
    assert site.audit(action="hold-place") == []


@pytest.mark.parametrize("token", [None, "wrong-token"], ids=["missing", "wrong"])
def test_download_without_right_csrf_is_refused_and_logs_no_disclosure(site, token):
    """A download without the session's CSRF token is refused with an HTML 403 page and records no disclosure."""
    client = site.signed_in("pramam")
    ra = site.ra["record_id"]
    form = {"purpose": "Appeal review"} | ({"csrf": token} if token else {})
    response = client.post(f"/records/{ra}/download", data=form)
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert site.disclosures(ra) == []


def test_csrf_of_another_session_is_refused(site):
    """A CSRF token taken from another session of the same account is refused, and no hold is placed."""
    mine, theirs = site.signed_in("records"), site.signed_in("records")
    their_token = hidden(theirs.get("/holds").text, "csrf")
    response = mine.post("/holds", data={"name": "H", "reason": "R", "scope": "case", "value": CASE,
                                         "csrf": their_token})
    assert response.status_code == 403
    assert site.active_holds() == []


@pytest.mark.parametrize("origin", ["https://evil.example", "http://testserver.evil.example", "http://evil.example"])
def test_post_from_another_site_is_refused_even_with_token(site, origin):
    """A form posted with another site's Origin is refused even with the right CSRF token, while the same form from
    this site is taken."""
    client = site.signed_in("records")
    csrf = hidden(client.get("/holds").text, "csrf")
    form = {"name": "Cross-site hold", "reason": "R", "scope": "case", "value": CASE, "csrf": csrf}
    assert client.post("/holds", data=form, headers={"Origin": origin}).status_code == 403
    assert site.active_holds() == []
    # The same form from this site goes through.
    assert client.post("/holds", data=form, headers={"Origin": "http://testserver"}).status_code == 303
    assert [h.name for h in site.active_holds()] == ["Cross-site hold"]


def test_origin_null_leaves_the_decision_to_the_token(site):
    """Browsers send Origin: null under Referrer-Policy: no-referrer; the CSRF token decides then."""
    client = site.signed_in("records")
    form = {"name": "Null-origin hold", "reason": "R", "scope": "case", "value": CASE}
    assert client.post("/holds", data={**form, "csrf": "wrong"}, headers={"Origin": "null"}).status_code == 403
    assert site.active_holds() == []
    csrf = hidden(client.get("/holds").text, "csrf")
    assert client.post("/holds", data={**form, "csrf": csrf}, headers={"Origin": "null"}).status_code == 303


def test_signin_needs_its_form_token(site):
    """A sign-in with a forged form token is refused with 403, sets no session cookie and records no sign-in."""
    client = site.client()
    client.get("/signin")
    response = client.post("/signin", data={"name": "pramam", "password": PASSWORD, "signin": "forged",
                                             "next": "/search"})
    assert response.status_code == 403
    assert SESSION not in set_cookies(response)
    assert site.audit(action="sign-in") == []


def test_signin_from_another_site_is_refused(site):
    """A sign-in posted with another site's Origin is refused with 403 even with the right password and form token, and
    sets no session cookie."""
    client = site.client()
    token = hidden(client.get("/signin").text, "signin")
    response = client.post("/signin", data={"name": "pramam", "password": PASSWORD, "signin": token, "next": "/"},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert SESSION not in set_cookies(response)


# --- 3. sessions -----------------------------------------------------------------------------


def test_signin_redirects_to_next_and_sets_session(site):
    """A sign-in sets the session cookie and sends the person on to the page they asked for, which then opens."""
    ra = site.ra["record_id"]
    client = site.client()
    response = sign_in(client, "pramam", next_=f"/records/{ra}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/records/{ra}"
    assert SESSION in set_cookies(response)
    assert client.get(f"/records/{ra}").status_code == 200


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example/", "/\\evil.example",
                                    "javascript:alert(1)", "evil.example"])
def test_signin_never_redirects_off_site(site, target):
    """A next address that leads to another site (protocol-relative, absolute, backslashed, javascript:, a bare host)
    is replaced by the home page after sign-in."""
    response = sign_in(site.client(), "pramam", next_=target)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_sign_out_ends_the_session(site):
    """Signing out deletes the session in the store and clears the cookie, so the old token no longer opens pages or
    signs out again."""
    client = site.client()
    assert sign_in(client, "jchen").status_code == 303
    token = client.cookies[SESSION]
    csrf = hidden(client.get("/search").text, "csrf")
    response = client.post("/signout", data={"csrf": csrf})
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?done=signed-out"
    assert "max-age=0" in set_cookies(response)[SESSION]
    stale = site.client(cookies={SESSION: token})
    assert stale.get("/search").status_code == 303
    assert stale.post("/signout", data={"csrf": csrf}).status_code == 403
    assert site.accounts.session(token) is None


def test_idle_session_ends(make_site):
    """A portal session used every 29 minutes stays open, and sends the person to the sign-in page once it has been
    idle for longer than 30 minutes."""
    clock = Clock()
    site = make_site(clock, idle_minutes=30, absolute_hours=12)
    client = site.client()
    assert sign_in(client, "jchen").status_code == 303
    clock.advance(minutes=29)
    assert client.get("/search").status_code == 200
    clock.advance(minutes=29)  # 58 minutes after sign-in, but only 29 idle
    assert client.get("/search").status_code == 200
    clock.advance(minutes=30, seconds=1)
    response = client.get("/search")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=")


def test_absolute_session_limit_ends_a_busy_session(make_site):
    """A portal session used every 25 minutes still ends once the absolute limit (one hour) since sign-in has passed."""
    clock = Clock()
    site = make_site(clock, idle_minutes=30, absolute_hours=1)
    client = site.client()
    assert sign_in(client, "jchen").status_code == 303
    for _ in range(2):
        clock.advance(minutes=25)
        assert client.get("/search").status_code == 200
    clock.advance(minutes=11)  # 61 minutes after sign-in, 11 idle
    assert client.get("/search").status_code == 303


def test_disabling_an_account_ends_its_session(site):
    """Disabling an account in the store (as accord user disable does) ends its open portal session at its next request
    and refuses a new sign-in."""
    client = site.client()
    assert sign_in(client, "jchen").status_code == 303
    assert client.get("/search").status_code == 200
    with Accounts(site.ws.accounts, PortalSettings()) as store:  # as `accord user disable` would
        store.disable("jchen")
    assert client.get("/search").status_code == 303
    assert sign_in(site.client(), "jchen").status_code == 401


def test_password_change_ends_every_session_of_the_account(site):
    """Changing an account's password ends all of its portal sessions but no other account's, and only the new password
    signs in afterwards."""
    first, second, other = site.client(), site.client(), site.client()
    for client, name in ((first, "jchen"), (second, "jchen"), (other, "pramam")):
        assert sign_in(client, name).status_code == 303
    with Accounts(site.ws.accounts, PortalSettings()) as store:  # as `accord user passwd` would
        store.set_password("jchen", "a brand new passphrase")
    assert first.get("/search").status_code == 303
    assert second.get("/search").status_code == 303
    assert other.get("/search").status_code == 200
    assert sign_in(site.client(), "jchen").status_code == 401
    assert sign_in(site.client(), "jchen", "a brand new passphrase").status_code == 303


@pytest.mark.parametrize("cookie", [b"accord_session=\xc3\xa9t\xc3\xa9", b"accord_session=" + b"x" * 300,
                                    b"accord_session=not-a-session"], ids=["non-ascii", "long", "unknown"])
def test_malformed_session_cookie_is_treated_as_signed_out(site, cookie):
    """A session cookie that is non-ASCII, too long or unknown sends the person to the sign-in page, never to an error."""
    client = site.client(raise_server_exceptions=False)
    response = client.get("/search", headers={b"cookie": cookie})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=")


# --- 4. throttling ---------------------------------------------------------------------------


def test_account_locked_after_max_failures_until_lockout_passes(make_site):
    """Five wrong passwords lock the account (429, no cookie) from every address for the lockout's 15 minutes, after
    which the right password signs in."""
    clock = Clock()
    site = make_site(clock, max_failures_per_account=5, max_failures_per_address=20, lockout_minutes=15)
    client = site.client("192.0.2.10")
    for _ in range(5):
        assert sign_in(client, "jchen", "not the password at all").status_code == 401
    locked = sign_in(client, "jchen")
    assert locked.status_code == 429
    assert SESSION not in set_cookies(locked)
    assert sign_in(site.client("192.0.2.11"), "jchen").status_code == 429  # the account, from anywhere
    clock.advance(minutes=14)
    assert sign_in(client, "jchen").status_code == 429
    clock.advance(minutes=1, seconds=1)
    assert sign_in(client, "jchen").status_code == 303


def test_other_accounts_from_other_addresses_unaffected_by_a_lockout(make_site):
    """An account locked by guesses from one address does not stop another account signing in from another address."""
    site = make_site(Clock(), max_failures_per_account=5, max_failures_per_address=20)
    attacker = site.client("192.0.2.10")
    for _ in range(5):
        sign_in(attacker, "jchen", "not the password at all")
    assert sign_in(attacker, "jchen").status_code == 429
    assert sign_in(site.client("192.0.2.99"), "pramam").status_code == 303


def test_address_locked_after_failures_across_names(make_site):
    """One guess at each of four names from one address locks that address (429) for every account while other
    addresses still sign in, until the lockout passes."""
    clock = Clock()
    site = make_site(clock, max_failures_per_account=5, max_failures_per_address=4, lockout_minutes=15)
    sprayer = site.client("192.0.2.20")
    for name in ("jchen", "mlee", "records", "ghost"):  # one guess each: no account reaches its limit
        assert sign_in(sprayer, name, "Winter2026!Winter").status_code == 401
    assert sign_in(sprayer, "pramam").status_code == 429
    assert sign_in(site.client("192.0.2.21"), "pramam").status_code == 303
    assert sign_in(site.client("192.0.2.22"), "jchen").status_code == 303
    clock.advance(minutes=15, seconds=1)
    assert sign_in(sprayer, "pramam").status_code == 303


def test_failed_signins_are_audited_without_the_password(make_site):
    """Failed and throttled sign-ins are audited with the account (or a placeholder for a name that cannot be one) and
    the address, and no password tried is in the catalog."""
    site = make_site(Clock(), max_failures_per_account=2, max_failures_per_address=20)
    client = site.client("192.0.2.30")
    for _ in range(2):
        sign_in(client, "jchen", "hunter2hunter2hunter2")
    sign_in(client, "jchen")
    sign_in(client, "<b>not a name</b>", "hunter2hunter2hunter2")
    entries = site.audit(action="sign-in", newest_first=False)
    assert [(e["actor"], e["outcome"]) for e in entries] == [
        ("jchen", "denied"), ("jchen", "denied"), ("jchen", "throttled"), ("(not a valid name)", "denied")]
    assert {e["details"]["address"] for e in entries} == {"192.0.2.30"}
    with sqlite3.connect(site.ws.catalog) as conn:
        dump = "\n".join(conn.iterdump())
    assert "hunter2hunter2hunter2" not in dump
    assert PASSWORD not in dump


# --- 5. single sign-on ----------------------------------------------------------------------


@pytest.fixture
def sso_site(make_site) -> Site:
    return make_site(sso_header="X-Remote-User", trusted_proxies=(PROXY,))


def test_sso_header_from_trusted_proxy_signs_in(sso_site):
    """The single-sign-on header from a trusted proxy signs the listed user in with a session, and their requests are
    audited as made via SSO."""
    client = sso_site.client(PROXY)
    response = client.get("/search", headers={"X-Remote-User": "pramam"})
    assert response.status_code == 200
    assert "Signed in as <strong>pramam</strong>" in response.text
    assert SESSION in set_cookies(response)
    entry = sso_site.audit(actor="pramam", action="search")[0]
    assert entry["details"]["via"] == "sso"


def test_sso_header_from_elsewhere_is_ignored(sso_site):
    """The single-sign-on header from an address that is not a trusted proxy is ignored: the person is sent to the
    sign-in page and nothing is audited for that name."""
    response = sso_site.client(NOT_PROXY).get("/search", headers={"X-Remote-User": "pramam"})
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=")
    assert sso_site.audit(actor="pramam") == []


@pytest.mark.parametrize("name", ["mallory", STRANGER], ids=["no-account", "local-account-not-listed"])
def test_sso_user_not_in_access_yaml_gets_nothing(sso_site, name):
    """A name access.yaml does not list is refused (403) before any page is made, and no session row is stored."""
    client = sso_site.client(PROXY)
    headers = {"X-Remote-User": name}
    for path in ("/search", f"/records/{sso_site.ra['record_id']}"):
        response = client.get(path, headers=headers)
        assert response.status_code == 403
        assert "not a user of this workspace" in error_text(response.text)
        assert sso_site.ra["title"] not in response.text
        assert SESSION not in set_cookies(response)
    assert sso_site.accounts.count_sessions() == 0
    entry = sso_site.audit(actor=name, action="sign-in")[0]
    assert (entry["outcome"], entry["details"]["via"], entry["details"]["address"]) == ("denied", "sso", PROXY)


def test_sso_user_keeps_one_session_across_requests(sso_site):
    """A listed SSO user's browser reuses the session its first request started: one row, not one per request."""
    client = sso_site.client(PROXY)
    headers = {"X-Remote-User": "pramam"}
    first = client.get("/search", headers=headers)
    assert first.status_code == 200
    token = client.cookies[SESSION]
    for path in ("/search?q=agreement", f"/records/{sso_site.ra['record_id']}", "/search"):
        response = client.get(path, headers=headers)
        assert response.status_code == 200
        assert SESSION not in set_cookies(response)
    assert client.cookies[SESSION] == token
    assert sso_site.accounts.count_sessions("pramam") == 1
    assert sso_site.accounts.count_sessions() == 1


def assert_sso_refused(site: Site, client: TestClient, name: str, says: str) -> None:
    """Every page answers 403 with ``says`` and no case content, and no session is started."""
    for path in ("/search", f"/records/{site.ra['record_id']}", f"/cases/{CASE}"):
        response = client.get(path, headers={"X-Remote-User": name})
        assert response.status_code == 403, path
        assert says in error_text(response.text)
        assert site.ra["title"] not in response.text and CASE not in response.text
        assert "Signed in as" not in response.text
        assert SESSION not in set_cookies(response)
    assert site.accounts.count_sessions(name) == 0


def test_sso_name_of_a_disabled_account_is_refused_and_audited(sso_site):
    """`accord user disable mlee` also stops mlee coming in through the SSO proxy; each refusal is audited."""
    with Accounts(sso_site.ws.accounts, PortalSettings()) as store:  # as `accord user disable` would
        store.disable("mlee")
    assert_sso_refused(sso_site, sso_site.client(PROXY), "mlee", "disabled")
    entries = sso_site.audit(actor="mlee", newest_first=False)
    assert [(e["action"], e["outcome"]) for e in entries] == [("sign-in", "denied")] * 3
    assert {(e["details"]["via"], e["details"]["address"]) for e in entries} == {("sso", PROXY)}
    with Accounts(sso_site.ws.accounts, PortalSettings()) as store:
        store.enable("mlee")
    assert sso_site.client(PROXY).get("/search", headers={"X-Remote-User": "mlee"}).status_code == 200


def test_disabling_an_account_ends_its_open_sso_session_at_once(sso_site):
    """An SSO session already open ends the moment its account is disabled, as a password session does."""
    client = sso_site.client(PROXY)
    assert client.get("/search", headers={"X-Remote-User": "mlee"}).status_code == 200
    token = client.cookies[SESSION]
    assert sso_site.accounts.count_sessions("mlee") == 1
    with Accounts(sso_site.ws.accounts, PortalSettings()) as store:
        store.disable("mlee")
    assert sso_site.accounts.count_sessions("mlee") == 0
    assert sso_site.accounts.session(token) is None
    assert_sso_refused(sso_site, client, "mlee", "disabled")


def test_sso_name_of_a_locked_out_account_is_refused_until_the_lockout_passes(make_site):
    """Failed password sign-ins that lock mlee's account out also refuse mlee's SSO requests for that window."""
    clock = Clock()
    site = make_site(clock, sso_header="X-Remote-User", trusted_proxies=(PROXY,), max_failures_per_account=2,
                     max_failures_per_address=20, lockout_minutes=15)
    client = site.client(PROXY)
    assert client.get("/search", headers={"X-Remote-User": "mlee"}).status_code == 200
    guesser = site.client("192.0.2.40")
    for _ in range(2):
        assert sign_in(guesser, "mlee", "not the password at all").status_code == 401
    assert_sso_refused(site, client, "mlee", "locked")
    throttled = [e for e in site.audit(actor="mlee", action="sign-in") if e["details"]["via"] == "sso"]
    assert [e["outcome"] for e in throttled] == ["throttled"] * 3
    assert site.client(PROXY).get("/search", headers={"X-Remote-User": "pramam"}).status_code == 200
    clock.advance(minutes=15, seconds=1)
    assert client.get("/search", headers={"X-Remote-User": "mlee"}).status_code == 200


def test_sso_session_cookie_stops_working_without_the_header(sso_site):
    """A session started by single sign-on is not honoured on a request without the header, nor from an address that is
    not the proxy."""
    client = sso_site.client(PROXY)
    assert client.get("/search", headers={"X-Remote-User": "pramam"}).status_code == 200
    token = client.cookies[SESSION]
    assert client.get("/search").status_code == 303
    assert sso_site.client(NOT_PROXY, cookies={SESSION: token}).get("/search").status_code == 303


def test_sso_header_wins_over_a_session_of_another_person(sso_site):
    """A single-sign-on header naming one person wins over the session cookie of another person on the same browser."""
    client = sso_site.signed_in("jchen", PROXY)
    response = client.get("/search", headers={"X-Remote-User": "pramam"})
    assert response.status_code == 200
    assert "Signed in as <strong>pramam</strong>" in response.text


# --- 6. security headers ---------------------------------------------------------------------


def assert_security_headers(response) -> None:
    headers = response.headers
    csp = headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert directives.get("script-src", directives.get("default-src")) == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert "server" not in headers


@pytest.mark.parametrize("role, method, path", [
    ("anon", "GET", "/signin"),
    ("anon", "GET", "/search"),
    ("director", "GET", "/search?q=agreement"),
    ("director", "GET", "/records/{ra}"),
    ("director", "GET", "/records/{ra}/download"),
    ("director", "POST", "/records/{ra}/download"),
    ("director", "GET", "/cases/ADR-2026-0142"),
    ("director", "GET", "/records/NO-SUCH-RECORD"),
    ("director", "GET", "/no/such/page"),
    ("director", "PUT", "/search"),
    ("auditor", "GET", "/audit"),
])
def test_security_headers_and_no_store(table, role, method, path):
    """Every page, error pages and downloads included, carries the content security policy without inline script,
    frame, referrer and sniffing protections, no server banner, and Cache-Control: no-store."""
    url = path.format(**table.ids)
    client = table.clients[role]
    data = {"purpose": "Header check", "csrf": table.csrf[role]} if method == "POST" else None
    response = client.request(method, url, data=data)
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"


def too_large():
    """A form over the portal's 256 KiB limit (35 fields of 8,000 bytes, each within the form's own limits),
    sent in pieces without a Content-Length (chunked)."""
    for i in range(35):
        yield f"f{i}={'y' * 8000}&".encode()


@pytest.mark.parametrize("role, method, path, body", [
    ("anon", "POST", "/signin", "declared"),
    ("anon", "POST", "/signin", "chunked"),
    ("officer", "POST", "/holds", "declared"),
    ("officer", "POST", "/holds", "chunked"),
    ("director", "GET", "/search", "declared"),
    ("director", "DELETE", "/search", "declared"),
])
def test_too_large_body_answers_413_with_security_headers_and_the_error_page(table, role, method, path, body):
    """Every 413 (Content-Length over the limit, or a chunked body growing past it) is the portal's plain
    error page with the same security headers as any other page."""
    content = b"x" * (300 * 1024) if body == "declared" else too_large()
    response = table.clients[role].request(method, path, content=content,
                                           headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status_code == 413
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"].startswith("text/html")
    assert "larger than the portal accepts" in error_text(response.text)


@pytest.mark.parametrize("method, path, allow", [
    ("DELETE", "/search", "GET, HEAD"),
    ("POST", "/search", "GET, HEAD"),
    ("PUT", "/holds", "GET, HEAD, POST"),
    ("GET", "/holds/{hold}/release", "POST"),
    ("GET", "/signout", "POST"),
    ("PATCH", "/signin", "GET, HEAD, POST"),
    ("DELETE", "/records/{ra}/download", "GET, HEAD, POST"),
    ("POST", "/static/style.css", "GET, HEAD"),
])
def test_405_names_the_methods_the_page_takes(table, method, path, allow):
    """A 405 carries an Allow header listing every method the path takes (RFC 9110 15.5.6), on the error page."""
    response = table.clients["officer"].request(method, path.format(**table.ids))
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert_security_headers(response)
    assert "does not take this kind of request" in error_text(response.text)


def test_download_carries_security_headers_and_no_store(table):
    """A downloaded record carries the same security headers as the pages and Cache-Control: no-store."""
    ra = table.ids["ra"]
    response = table.clients["director"].post(f"/records/{ra}/download",
                                               data={"purpose": "Header check", "csrf": table.csrf["director"]})
    assert response.status_code == 200
    assert_security_headers(response)
    assert response.headers["cache-control"] == "no-store"


def test_cookies_are_httponly_and_samesite_lax(site):
    """The sign-in and session cookies are HttpOnly and SameSite=Lax, and not Secure over plain HTTP without a proxy."""
    client = site.client()
    form = client.get("/signin")
    signin_cookie = set_cookies(form)[SIGNIN]
    response = client.post("/signin", data={"name": "jchen", "password": PASSWORD,
                                             "signin": hidden(form.text, "signin"), "next": "/search"})
    session_cookie = set_cookies(response)[SESSION]
    for attributes in (signin_cookie, session_cookie):
        assert "httponly" in attributes
        assert "samesite=lax" in attributes
        assert "secure" not in attributes  # plain HTTP from a browser, no proxy: not Secure


def test_cookies_secure_when_trusted_proxy_says_https(make_site):
    """Behind a trusted proxy that says the request came over HTTPS, the cookies are Secure and the pages send Strict-
    Transport-Security."""
    site = make_site(trusted_proxies=(PROXY,))
    https = {"X-Forwarded-Proto": "https"}
    client = site.client(PROXY)
    form = client.get("/signin", headers=https)
    assert "secure" in set_cookies(form)[SIGNIN]
    assert form.headers["strict-transport-security"].startswith("max-age=")
    token = hidden(form.text, "signin")
    fresh = site.client(PROXY)  # the Secure sign-in cookie is sent back by hand over the test's plain HTTP
    response = fresh.post("/signin", data={"name": "jchen", "password": PASSWORD, "signin": token, "next": "/"},
                          headers={**https, "cookie": f"{SIGNIN}={token}"})
    assert response.status_code == 303
    attributes = set_cookies(response)[SESSION]
    assert "secure" in attributes and "httponly" in attributes and "samesite=lax" in attributes


def test_forwarded_proto_from_an_untrusted_peer_is_ignored(make_site):
    """An X-Forwarded-Proto: https header from a peer that is not a trusted proxy makes no cookie Secure and sends no
    Strict-Transport-Security."""
    site = make_site(trusted_proxies=(PROXY,))
    response = site.client(NOT_PROXY).get("/signin", headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in set_cookies(response)[SIGNIN]
    assert "strict-transport-security" not in response.headers


INLINE = [
    re.compile(r"<script", re.IGNORECASE),
    re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE),
    re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE),
    re.compile(r"javascript:", re.IGNORECASE),
]


@pytest.mark.parametrize("role, path", [
    ("anon", "/signin"),
    ("director", "/search"),
    ("director", "/search?q=Nunez"),
    ("director", "/records/{ra}"),
    ("director", "/records/{mou}"),
    ("director", "/records/{ra}/download"),
    ("director", "/cases/ADR-2026-0142"),
    ("director", "/records/NO-SUCH-RECORD"),
    ("director", "/search?from=2026-13-45"),
    ("officer", "/holds"),
    ("officer", "/holds?all=1"),
    ("officer", "/proposals"),
    ("officer", "/proposals/{pending}"),
    ("auditor", "/audit"),
    ("auditor", "/audit/verify"),
    ("auditor", "/records/{ra}"),
    ("officer", "/cases/ADR-2026-0142"),
])
def test_no_inline_script_or_style(table, role, path):
    """No page of the portal holds a script element, a style attribute, an event handler attribute or a javascript:
    address, so the strict content security policy breaks nothing."""
    page = table.clients[role].get(path.format(**table.ids))
    assert page.headers["content-type"].startswith("text/html")
    for pattern in INLINE:
        assert not pattern.search(page.text), f"{pattern.pattern} in {path}"


# --- 7. downloads ----------------------------------------------------------------------------


def download(client: TestClient, record_id: str, purpose: str):
    csrf = hidden(client.get(f"/records/{record_id}/download").text, "csrf")
    return client.post(f"/records/{record_id}/download", data={"purpose": purpose, "csrf": csrf})


def test_download_hands_over_the_archived_bytes(site):
    """A download hands over exactly the archived PDF (its SHA-256 the catalog's) as an attachment named after the
    record."""
    ra = site.ra
    response = download(site.signed_in("pramam"), ra["record_id"], "Appeal review, case 2027-11")
    assert response.status_code == 200
    assert response.content == (site.ws.root / ra["pdf_path"]).read_bytes()
    assert hashlib.sha256(response.content).hexdigest() == ra["sha256"]
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="{ra["record_id"]}.pdf"'


@pytest.mark.parametrize("purpose", ["", "   \n\t "], ids=["empty", "blank"])
def test_download_needs_a_purpose(site, purpose):
    """A download with an empty or blank purpose is refused with 400 and the reason, hands over no PDF and records no
    retrieval."""
    ra = site.ra["record_id"]
    response = download(site.signed_in("pramam"), ra, purpose)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "State the purpose" in response.text
    assert not response.content.startswith(b"%PDF")
    assert [d for d in site.disclosures(ra) if d["action"] == "retrieve"] == []


def test_disclosure_and_its_purpose_shown_to_readers_of_the_audit(site):
    """A download is recorded as a disclosure with its purpose, which the record's page shows escaped to an auditor and
    not to a director, who may not read the audit."""
    ra = site.ra["record_id"]
    purpose = "Appeal review <case 2027-11> & Núñez"
    assert download(site.signed_in("pramam"), ra, purpose).status_code == 200
    retrieved = [d for d in site.disclosures(ra) if d["action"] == "retrieve"]
    assert [(d["actor"], d["outcome"], d["purpose"]) for d in retrieved] == [("pramam", "ok", purpose)]
    assert retrieved[0]["details"]["released"] == Path(site.ra["pdf_path"]).name

    auditor_page = site.signed_in("audit1").get(f"/records/{ra}").text
    assert "Record of disclosures" in auditor_page
    assert str(escape(purpose)) in auditor_page
    # The director may retrieve but not read the audit: no record of disclosures on their page.
    director_page = site.signed_in("pramam").get(f"/records/{ra}").text
    assert "Record of disclosures" not in director_page
    assert str(escape(purpose)) not in director_page


def test_altered_pdf_is_refused_with_the_reason_and_audited(site):
    """A record whose archived PDF was altered is not handed over: the page says it failed verification with each
    problem, the refusal is audited with them, and the record's page says so."""
    ra = site.ra
    pdf = site.ws.root / ra["pdf_path"]
    pdf.chmod(0o644)
    data = bytearray(pdf.read_bytes())
    data[len(data) // 2] ^= 0x01
    pdf.write_bytes(bytes(data))
    problems = verify_record(site.ws, ra, TrustRoots.of(site.ws, site.ws.load_config())).problems
    assert problems

    response = download(site.signed_in("pramam"), ra["record_id"], "Appeal review")
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("text/html")
    assert not response.content.startswith(b"%PDF")
    assert "failed verification" in response.text
    for problem in problems:
        assert str(escape(problem)) in response.text
    entry = site.audit(action="retrieve", record_id=ra["record_id"])[0]
    assert (entry["actor"], entry["outcome"], entry["purpose"]) == ("pramam", "refused", "Appeal review")
    assert entry["details"]["problems"] == problems
    assert "Failed verification" in site.signed_in("pramam").get(f"/records/{ra['record_id']}").text


def break_a_certificate_of_the_seal(pdf: Path) -> None:
    """Flip one bit of the PDF: in a certificate the seal carries besides its signer's, the issuer name's
    tag (SEQUENCE becomes SET), which pyHanko trips over while building the chain and logs with a traceback."""
    data = bytearray(pdf.read_bytes())
    seal = PdfFileReader(io.BytesIO(bytes(data))).embedded_regular_signatures[0]
    signer = seal.signer_cert.dump()
    cert = next(c.chosen for c in seal.signed_data["certificates"] if c.chosen.dump() != signer)
    der = cert.dump()
    at = bytes(data).lower().index(binascii.hexlify(der)) + 2 * der.index(cert["tbs_certificate"]["issuer"].dump())
    assert data[at:at + 2] == b"30"
    data[at + 1] ^= 0x01  # the hex digits 30 become 31
    pdf.chmod(0o644)
    pdf.write_bytes(bytes(data))


@pytest.fixture
def root_log():
    """What reaches the root logger's handlers (where `accord serve` and uvicorn print), formatted with
    tracebacks, from INFO up. (pytest's caplog also hooks straight into non-propagating loggers, which the
    portal's log never reads, so it is not used here.)"""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def test_seal_pyhanko_trips_over_leaves_one_plain_line_and_no_traceback_in_the_log(site, root_log):
    """A damaged seal, viewed and asked for, logs at most one plain line per request: no traceback, no case content."""
    ra = site.ra
    break_a_certificate_of_the_seal(site.ws.root / ra["pdf_path"])
    client = site.signed_in("pramam")
    parties = ra["parties"] if isinstance(ra["parties"], list) else json.loads(ra["parties"])
    for request in (lambda: client.get(f"/records/{ra['record_id']}"),
                    lambda: download(client, ra["record_id"], "Appeal review")):
        root_log.seek(0)
        root_log.truncate()
        response = request()
        assert "ailed verification" in response.text
        text = root_log.getvalue()
        assert "Traceback" not in text and 'File "' not in text
        lines = [line for line in text.splitlines() if "pyhanko" in line.lower()]
        assert len(lines) == 1, lines
        assert lines[0].startswith("ERROR accord.portal /records/") and "ValueError in pyhanko." in lines[0]
        for content in (ra["title"], *parties):
            assert content not in text


# --- 8. errors -------------------------------------------------------------------------------


@pytest.mark.parametrize("role, path, status, message", [
    ("pramam", "/records/%00", 404, "No such record"),
    ("pramam", "/records/" + "A" * 3000, 404, "No such record"),
    ("pramam", "/records/%3Cscript%3Ealert(1)%3C%5Cscript%3E", 404, "No such record"),
    ("pramam", "/cases/%00", 404, "No such case"),
    ("pramam", "/search?from=2026-13-45", 400, "2026-13-45 is not a date: there is no month 13"),
    ("pramam", "/search?to=2026-02-30", 400, "2026-02-30 is not a date: February 2026 has 28 days"),
    ("pramam", "/static/..%2Fapp.py", 404, ""),
    ("records", "/proposals/abc", 404, "No proposal"),
    ("records", "/proposals/999999", 404, "No disposition proposal"),
    ("audit1", "/audit?before=99999999999999999999", None, ""),
    ("audit1", "/audit?before=%C2%B2", None, ""),
])
def test_errors_show_a_plain_message_and_no_stack_trace(site, role, path, status, message):
    """Bad record, case and proposal addresses, impossible dates and bad paging numbers answer with a plain message and
    no traceback, source path, SQL or unescaped markup."""
    response = site.signed_in(role).get(path)
    if status is None:  # a bad paging number: ignored or refused, but never a server error
        assert response.status_code in (200, 400), response.status_code
    else:
        assert response.status_code == status
    for leak in ("Traceback", 'File "', "pipeline/", "Error:", "sqlite", "def create_app"):
        assert leak not in response.text
    assert message in error_text(response.text)
    assert "<script>" not in response.text


@pytest.mark.parametrize("query, raw", [
    ("<script>alert(1)</script>", "<script>alert(1)</script>"),
    ('"><img src=x onerror=alert(1)>', "<img src=x"),
])
def test_hostile_search_words_are_escaped(table, query, raw):
    """Markup typed into the search box comes back escaped in the page, never as markup."""
    response = table.clients["director"].get("/search", params={"q": query})
    assert response.status_code == 200
    assert raw not in response.text
    assert f'value="{escape(query)}"' in response.text


def test_hostile_audit_filter_is_escaped(table):
    """Markup typed into the audit page's actor filter comes back escaped, never as markup."""
    response = table.clients["auditor"].get("/audit", params={"actor": "<script>x</script>"})
    assert response.status_code == 200
    assert "<script>" not in response.text
    assert "&lt;script&gt;x&lt;/script&gt;" in response.text


def test_hostile_next_is_escaped_on_the_signin_page(site):
    """Markup in the sign-in page's next address comes back escaped, never as markup."""
    response = site.client().get("/signin", params={"next": '/"><script>alert(1)</script>'})
    assert "<script>" not in response.text
    assert "&lt;script&gt;" in response.text


# --- 9. legal holds --------------------------------------------------------------------------


def test_hold_placed_shown_and_released_through_the_portal(site):
    """A records officer places a hold on a case through the portal, sees it on the holds, record and search pages,
    cannot release it without a reason, releases it with one, and both steps are audited."""
    officer = site.signed_in("records")
    ra = site.ra["record_id"]
    csrf = hidden(officer.get("/holds").text, "csrf")
    placed = officer.post("/holds", data={"name": "Doe v. Institute <2026>", "reason": "Litigation hold from counsel",
                                          "scope": "case", "value": CASE, "csrf": csrf})
    assert placed.status_code == 303
    assert placed.headers["location"] == "/holds?done=hold-placed"

    listing = officer.get("/holds?done=hold-placed").text
    assert "The hold is placed." in listing
    assert "Doe v. Institute &lt;2026&gt;" in listing
    assert f'<a href="/cases/{CASE}">{CASE}</a>' in listing
    record_page = officer.get(f"/records/{ra}").text
    assert "<strong>Doe v. Institute &lt;2026&gt;</strong>: Litigation hold from counsel" in record_page
    assert "on hold" in officer.get("/search").text

    hold_id = int(re.search(r'action="/holds/(\d+)/release"', listing).group(1))
    refused = officer.post(f"/holds/{hold_id}/release", data={"reason": "", "csrf": csrf})
    assert refused.status_code == 400
    assert [h.id for h in site.active_holds()] == [hold_id]

    released = officer.post(f"/holds/{hold_id}/release", data={"reason": "The matter settled", "csrf": csrf})
    assert released.status_code == 303
    assert released.headers["location"] == "/holds?done=hold-released"
    assert site.active_holds() == []
    assert "Doe v. Institute" not in officer.get("/holds").text
    assert "released" in officer.get("/holds?all=1").text
    assert "No hold." in officer.get(f"/records/{ra}").text
    actions = [(e["action"], e["actor"]) for e in site.audit(newest_first=False)
               if e["action"].startswith("hold-")]
    assert actions == [("hold-place", "records"), ("hold-release", "records")]


def test_hold_needs_a_scope_and_a_value(site):
    """A hold with an unknown scope, an empty value or no name is refused with 400 and none is placed."""
    officer = site.signed_in("records")
    csrf = hidden(officer.get("/holds").text, "csrf")
    for form in ({"name": "H", "reason": "R", "scope": "everything", "value": "x"},
                 {"name": "H", "reason": "R", "scope": "case", "value": ""},
                 {"name": "", "reason": "R", "scope": "case", "value": CASE}):
        assert officer.post("/holds", data={**form, "csrf": csrf}).status_code == 400
    assert site.active_holds() == []


def test_audit_page_shows_the_chain_status_of_the_newest_entries(site):
    """The audit page checks the newest entries on every view; an edited one shows as broken there."""
    import sqlite3

    auditor = site.signed_in("audit1")
    page = auditor.get("/audit")
    assert page.status_code == 200 and "entries hold together" in page.text
    conn = sqlite3.connect(site.ws.catalog)
    try:
        seq = conn.execute("SELECT max(seq) FROM audit").fetchone()[0] - 1
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("UPDATE audit SET actor = 'someone-else' WHERE seq = ?", [seq])
        conn.commit()
    finally:
        conn.close()
    page = auditor.get("/audit")
    assert f"Broken at entry {seq}" in page.text and "was changed after it was written" in page.text
