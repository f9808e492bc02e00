"""The web portal end to end: ``accord serve`` in a subprocess, Debian's chromium driven by Playwright.

Counsel signs in with the keyboard alone, searches ``Nunez``, opens the resolution agreement,
sees its seal badge and downloads it with a purpose; the bytes are the archived file's. An
auditor (the role with read-audit; counsel and the director have none) then finds counsel's
request, with its purpose, in the record's Record of disclosures and in the audit log. A
coordinator whose cases are ``ADR-1999-*`` finds nothing and gets *Not found* for the
agreement's address. A records officer sees the holds and dispositions pages.

Every page is watched for console errors, uncaught script errors and Content-Security-Policy
violations. Full-page screenshots go to ``$ACCORD_ARTIFACTS`` (else ``tests/artifacts/``).
The workspace is a copy of the session's ``sealed_office`` as it was right after processing.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, expect, sync_playwright

from pipeline.governance.access import grant
from pipeline.governance.accounts import Accounts
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

from .helpers import PASSWORD, ROOT, served

pytestmark = pytest.mark.slow

ARTIFACTS = Path(os.environ.get("ACCORD_ARTIFACTS") or ROOT / "tests" / "artifacts")
PURPOSE = "Appeal review of the agreement in case ADR-2026-0142 (end-to-end test)"
VIEWPORT = {"width": 1280, "height": 900}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-extensions"]

#: Portal accounts and their line in access.yaml: name -> (role, cases).
USERS = {
    "e2e-counsel": ("counsel", ()),
    "e2e-auditor": ("auditor", ()),
    "e2e-coordinator": ("coordinator", ("ADR-1999-*",)),
    "e2e-records": ("records-officer", ()),
}

#: Reported by the page when a Content-Security-Policy blocks something (and forwarded here).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  window.accordCspViolation(`${e.violatedDirective} blocked ${e.blockedURI || "(inline)"} on ${document.location.href}`);
}, true);
"""

expect.set_options(timeout=10_000)


# --- the server ----------------------------------------------------------------------------------


@dataclass
class Portal:
    ws: Workspace
    base: str
    agreement: dict[str, Any]
    log: Path


@pytest.fixture(scope="module")
def portal(sealed_office, tmp_path_factory):
    """A copy of the sealed office with four portal users, served by ``accord serve``."""
    root = tmp_path_factory.mktemp("portal-e2e") / "ws"
    shutil.copytree(sealed_office.pristine, root)
    ws = Workspace(root)
    accounts = Accounts(ws.accounts, ws.load_config().portal)
    try:
        for name, (role, cases) in USERS.items():
            grant(ws.policies / "access.yaml", name, (role,), cases, workspace_owner=None)
            accounts.add(name, PASSWORD)
    finally:
        accounts.close()
    with open_catalog(ws.catalog) as catalog:
        agreements = [r for r in catalog.all_records() if r["template"] == "resolution-agreement"]
    assert len(agreements) == 1, agreements
    agreement = agreements[0]
    assert agreement["case_id"] == "ADR-2026-0142"
    assert any("Núñez" in p for p in agreement["parties"]), agreement["parties"]

    with served(root) as (base, log):
        yield Portal(ws, base, agreement, log)


# --- the browser ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        pw.stop()


@pytest.fixture(scope="module")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@dataclass
class Visit:
    """One person's browser context and page, with everything the pages complained about."""

    context: BrowserContext
    page: Page
    base: str
    problems: list[str] = field(default_factory=list)
    expected_errors: set[str] = field(default_factory=set)
    """URLs whose error status is the point of the test (a 404 asked for on purpose)."""
    favicon_log: list[str] = field(default_factory=list)
    """Shared by every visit of the module: chromium asks for /favicon.ico once per browser, not per page."""

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = (message.location or {}).get("url", "")
        if where.endswith("/favicon.ico"):
            # The portal serves no icon; test_no_page_logs_console_errors reports it once.
            self.favicon_log.append(f"{self.page.url}: {message.text}")
        elif where in self.expected_errors and "Failed to load resource" in message.text:
            pass
        else:
            self.problems.append(f"console error on {self.page.url}: {message.text} ({where})")

    def go(self, path: str, status: int = 200):
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == status, \
            f"GET {path}: {response.status if response else 'no response'}, expected {status}"
        return response

    def shot(self, directory: Path, name: str) -> Path:
        path = directory / name
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def assert_clean(self) -> None:
        assert not self.problems, "the pages logged errors or CSP violations:\n" + "\n".join(self.problems)


@pytest.fixture(scope="module")
def favicon_log() -> list[str]:
    return []


@pytest.fixture
def visit(browser: Browser, portal: Portal, favicon_log: list[str]):
    """Opens a fresh browser context (no cookies) per person."""
    opened: list[Visit] = []

    def open_visit() -> Visit:
        context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
        page = context.new_page()
        v = Visit(context, page, portal.base, favicon_log=favicon_log)
        context.expose_function("accordCspViolation", lambda text: v.problems.append(f"CSP violation: {text}"))
        context.add_init_script(CSP_LISTENER)
        page.on("console", v.on_console)
        page.on("pageerror", lambda error: v.problems.append(f"script error on {page.url}: {error}"))
        opened.append(v)
        return v

    yield open_visit
    for v in opened:
        v.context.close()


def _focused(page: Page) -> dict[str, str]:
    return page.evaluate("""() => {
        const el = document.activeElement;
        return {tag: el.tagName.toLowerCase(), id: el.id || "", text: (el.innerText || "").trim(),
                outline: getComputedStyle(el).outlineStyle};
    }""")


def _page_says(page: Page) -> str:
    return f"{page.title()!r} at {page.url}: {' '.join(page.locator('main').inner_text().split())[:300]}"


def _after_sign_in(v: Visit, name: str) -> None:
    """The sign-in went through to the home page, which leads to My cases (who may see cases) or to search,
    with the person named in the header; the tests go on from the search page."""
    page = v.page
    assert page.url.startswith((v.base + "/search", v.base + "/cases")), \
        f"signing in as {name} did not reach the search page or My cases; the browser shows {_page_says(page)}"
    expect(page.locator("header .who")).to_contain_text(f"Signed in as {name}")
    if not page.url.startswith(v.base + "/search"):
        v.go("/search")


def sign_in(v: Visit, name: str) -> None:
    """Sign in with the mouse and the labelled fields."""
    page = v.page
    v.go("/signin")
    page.get_by_label("Account name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    _after_sign_in(v, name)


def sign_in_with_keyboard(v: Visit, name: str) -> None:
    """Sign in with the keyboard alone: Tab to the account name, type, Tab, type, Enter."""
    page = v.page
    v.go("/signin")
    for _ in range(8):
        if _focused(page)["id"] == "name":
            break
        page.keyboard.press("Tab")
    assert _focused(page)["id"] == "name", "Tab never reached the Account name field"
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    assert _focused(page)["id"] == "password"
    page.keyboard.type(PASSWORD)
    with page.expect_navigation():
        page.keyboard.press("Enter")
    _after_sign_in(v, name)


# --- the tests -----------------------------------------------------------------------------------


def test_signin_page_keyboard_order_and_focus_outline(visit, artifacts):
    """Tab reaches "Skip to content" first, then the form fields in order, each with a visible outline."""
    v = visit()
    page = v.page
    v.go("/signin")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    v.shot(artifacts, "signin.png")

    # Nothing has the focus on arrival (no autofocus): the first Tab reaches the skip link.
    page.keyboard.press("Tab")
    assert _focused(page)["text"] == "Skip to content", f"the first Tab went to {_focused(page)}"
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    box = skip.bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0, f"the focused skip link is off-screen: {box}"
    assert _focused(page)["outline"] != "none", "the focused skip link has no visible outline"

    # From the start of the document: the skip link, then the form fields in reading order.
    for expected in (page.get_by_label("Account name", exact=True), page.get_by_label("Password", exact=True),
                     page.get_by_role("button", name="Sign in", exact=True)):
        page.keyboard.press("Tab")
        expect(expected).to_be_focused()
        now = _focused(page)
        assert now["outline"] != "none", f"the focused {now} has no visible outline"

    # Activating the skip link moves the focus to the main content.
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()
    v.assert_clean()


def test_counsel_finds_downloads_and_the_disclosure_is_recorded(visit, portal, artifacts):
    """In a real browser, counsel signs in by keyboard, finds the agreement by a name typed without accents, opens it,
    downloads exactly the archived PDF with a stated purpose, and the auditor then sees that disclosure and its
    purpose on the record's page and in the audit log."""
    agreement = portal.agreement
    rid = agreement["record_id"]
    archived = (portal.ws.root / agreement["pdf_path"]).read_bytes()

    # Counsel, keyboard only for the sign-in.
    counsel = visit()
    page = counsel.page
    sign_in_with_keyboard(counsel, "e2e-counsel")

    page.get_by_label("Words, names or a record id", exact=True).fill("Nunez")
    with page.expect_navigation():
        page.get_by_role("button", name="Search", exact=True).click()
    results = page.locator("ol.results > li")
    expect(results.first).to_be_visible()
    found = results.count()
    expect(page.locator("#results-heading")).to_have_text(
        re.compile(rf"^{found} records?, page 1 of 1$"))
    hit = results.filter(has=page.locator(f'a[href="/records/{rid}"]'))
    expect(hit).to_have_count(1)
    expect(hit.locator(".parties")).to_contain_text("Núñez")
    expect(hit.locator(".snippet mark")).to_contain_text(["Núñez"])
    counsel.shot(artifacts, "search.png")

    with page.expect_navigation():
        hit.get_by_role("link", name=agreement["title"]).click()
    assert page.url == f"{portal.base}/records/{rid}"
    expect(page.get_by_role("heading", level=1)).to_have_text(agreement["title"])
    badge = page.locator(".badge")
    expect(badge).to_have_class(re.compile(r"\bbadge-sealed\b"))
    expect(badge.locator(".badge-label")).to_have_text("Sealed and intact")
    # Counsel has no read-audit right: no record of disclosures on the page.
    expect(page.get_by_role("heading", name="Record of disclosures")).to_have_count(0)
    counsel.shot(artifacts, "record.png")

    with page.expect_navigation():
        page.get_by_role("link", name="Download the sealed PDF…").click()
    assert page.url == f"{portal.base}/records/{rid}/download"
    page.get_by_label("Purpose of the request (the legitimate interest)", exact=True).fill(PURPOSE)
    counsel.shot(artifacts, "download.png")
    with page.expect_download() as info:
        page.get_by_role("button", name="Verify and download", exact=True).click()
    download = info.value
    assert download.failure() is None, download.failure()
    assert download.suggested_filename == f"{rid}.pdf"
    data = Path(download.path()).read_bytes()
    assert data.startswith(b"%PDF-")
    assert data == archived, f"the download ({len(data)} bytes) differs from the archived file ({len(archived)} bytes)"
    counsel.assert_clean()

    # The auditor (read-audit) sees counsel's request, with its purpose, on the record page...
    auditor = visit()
    page = auditor.page
    sign_in(auditor, "e2e-auditor")
    auditor.go(f"/records/{rid}")
    expect(page.locator(".badge-label")).to_have_text("Sealed and intact")
    expect(page.get_by_role("link", name="Download the sealed PDF…")).to_have_count(0)  # no retrieve right
    section = page.locator("section", has=page.get_by_role("heading", name="Record of disclosures"))
    expect(section).to_be_visible()
    row = section.locator("tbody tr", has_text=PURPOSE)
    expect(row).to_have_count(1)
    cells = row.locator("td")
    expect(cells.nth(1)).to_have_text("e2e-counsel")
    expect(cells.nth(2)).to_have_text("retrieve")
    expect(cells.nth(3)).to_have_text("ok")
    expect(cells.nth(4)).to_have_text(PURPOSE)
    expect(cells.nth(5)).to_have_text(Path(agreement["pdf_path"]).name)
    section.scroll_into_view_if_needed()
    auditor.shot(artifacts, "disclosures.png")

    # ... and in the audit log.
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    entry = page.locator("table.audit tbody tr", has_text=PURPOSE)
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text("e2e-counsel")
    expect(entry).to_contain_text(rid)
    auditor.shot(artifacts, "audit.png")
    auditor.assert_clean()


def test_coordinator_sees_nothing_outside_their_cases(visit, portal, artifacts):
    """In a real browser, a coordinator of other cases finds nothing when searching for a party of the agreement, and
    the agreement's page and download page answer Not found without its title or names."""
    rid = portal.agreement["record_id"]
    v = visit()
    page = v.page
    sign_in(v, "e2e-coordinator")

    page.get_by_label("Words, names or a record id", exact=True).fill("Nunez")
    with page.expect_navigation():
        page.get_by_role("button", name="Search", exact=True).click()
    expect(page.locator("#results-heading")).to_have_text("0 records")
    expect(page.locator("ol.results > li")).to_have_count(0)
    expect(page.get_by_text("No records found.")).to_be_visible()
    v.shot(artifacts, "coordinator-search.png")

    for path in (f"/records/{rid}", f"/records/{rid}/download"):
        v.expected_errors.add(portal.base + path)
        v.go(path, status=404)
        expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
        expect(page.locator("main")).not_to_contain_text(portal.agreement["title"])
        expect(page.locator("main")).not_to_contain_text("Núñez")
    v.assert_clean()


def test_records_officer_sees_holds_and_dispositions(visit, artifacts):
    """In a real browser, a records officer reaches the legal holds and disposition pages from the main navigation and
    is offered no audit log."""
    v = visit()
    page = v.page
    sign_in(v, "e2e-records")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)  # no read-audit right

    with page.expect_navigation():
        nav.get_by_role("link", name="Legal holds").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Legal holds")
    expect(page.get_by_role("heading", name="Place a hold")).to_be_visible()
    v.shot(artifacts, "holds.png")

    with page.expect_navigation():
        nav.get_by_role("link", name="Dispositions").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Disposition proposals")
    v.shot(artifacts, "proposals.png")
    v.assert_clean()


def test_no_page_logs_console_errors(visit, favicon_log):
    """Strict: not even the browser's request for /favicon.ico may fail (the other tests tolerate only that).

    Chromium asks for the icon once per browser, so this looks at every page the module visited.
    """
    v = visit()
    v.go("/signin")
    v.page.wait_for_load_state("networkidle")
    v.assert_clean()
    assert not favicon_log, "the browser's request for /favicon.ico fails (404), a console error:\n" + \
        "\n".join(favicon_log)
