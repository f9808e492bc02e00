"""The coordinator's side of the portal end to end: ``accord serve`` in a subprocess, Debian's chromium
driven by Playwright, as in test_portal_e2e.py (whose browser, visits and server helpers this reuses).

A coordinator whose cases are ``ADR-2026-*`` opens the portal, signs in and lands on My cases, opens
ADR-2026-0150 (taken in by the watcher's one pass from the project's example intake, notice and
consent form), has a session dated before the case refused and corrects it with the keyboard, records
both parties' consent with the mouse and sees the case move to in-process, then uploads an event file
that intake takes; then follows the agenda, marks a term of ADR-2026-0142's agreement completed and
makes a calendar feed that a calendar app fetches without signing in. Counsel gets no Cases link and
no case. Every page is watched for console errors and CSP violations; full-page screenshots go to
``$ACCORD_ARTIFACTS`` (else ``tests/artifacts/``).
"""

from __future__ import annotations

import re
import shutil
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from pipeline.governance.access import grant
from pipeline.governance.accounts import Accounts
from pipeline.workspace import Workspace

from .helpers import EXAMPLES, PASSWORD, make_office, served
from .test_portal_e2e import (  # noqa: F401  (browser, artifacts, favicon_log, visit: fixtures used here too)
    Visit,
    _focused,
    _page_says,
    artifacts,
    browser,
    favicon_log,
    visit,
)

pytestmark = pytest.mark.slow

CASE = "ADR-2026-0150"
COORDINATOR = "e2e-coordinator"
COUNSEL = "e2e-counsel"
DOCUMENTS = ("case-intake.yaml", "notice-of-informal-resolution.yaml", "consent-to-informal-resolution.yaml")
UPLOADED = b"case_id,event,date,party,note\nADR-2026-0150,session,2026-04-08,,Restorative conference\n"


@dataclass
class CasesPortal:
    ws: Workspace
    base: str
    log: Path


@pytest.fixture(scope="module")
def portal(sealed_office, converter, tmp_path_factory):
    """A copy of the sealed office with case ADR-2026-0150 taken in, a coordinator and counsel, served by ``accord serve``."""
    root = tmp_path_factory.mktemp("portal-cases-e2e") / "ws"
    shutil.copytree(sealed_office.pristine, root)
    ws = Workspace(root)
    office = make_office(ws, converter)
    try:
        for name in DOCUMENTS:
            office.drop(name, (EXAMPLES / name).read_bytes())
        summary = office.process()
    finally:
        office.ingestor.close()
    assert [o.status.value for o in summary.outcomes] == ["recorded"] * 3, summary
    accounts = Accounts(ws.accounts, ws.load_config().portal)
    try:
        for name, role, cases in ((COORDINATOR, "coordinator", ("ADR-2026-*",)), (COUNSEL, "counsel", ())):
            grant(ws.policies / "access.yaml", name, (role,), cases, workspace_owner=None)
            accounts.add(name, PASSWORD)
    finally:
        accounts.close()

    with served(root) as (base, log):
        yield CasesPortal(ws, base, log)


def sign_in_from_home(v: Visit, name: str) -> None:
    """Open the portal's address, sign in with the mouse, and follow where it leads."""
    page = v.page
    v.go("/")
    assert "/signin" in page.url, f"the portal's home did not ask to sign in: {_page_says(page)}"
    page.get_by_label("Account name", exact=True).fill(name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.locator("header .who")).to_contain_text(f"Signed in as {name}")


def phase_shown(page: Page) -> str:
    return page.locator("dl.case-head dd").first.locator(".status").inner_text()


def tab_to(page: Page, element_id: str, presses: int = 6) -> None:
    """Tab forward until the element with ``element_id`` has the focus, with a visible outline."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if _focused(page)["id"] == element_id:
            break
    now = _focused(page)
    assert now["id"] == element_id, f"Tab went to {now}, not #{element_id}"
    assert now["outline"] != "none", f"the focused #{element_id} has no visible outline"


def test_coordinator_works_a_case_from_my_cases(visit, portal, artifacts, converter, tmp_path):
    """The coordinator lands on My cases, opens the case, records a session (a refusal first, corrected with the
    keyboard) and both consents (the mouse), sees the phase move to in-process, and uploads an event file intake takes."""
    v = visit()
    page = v.page
    sign_in_from_home(v, COORDINATOR)
    assert page.url == f"{portal.base}/cases", f"signing in did not land on My cases: {_page_says(page)}"
    expect(page.get_by_role("heading", level=1)).to_have_text("My cases")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Cases", exact=True)).to_be_visible()
    row = page.locator("table.cases tbody tr", has=page.get_by_role("link", name=CASE))
    expect(row).to_contain_text("awaiting-consent")
    expect(row).to_contain_text("Restorative justice")
    expect(row.locator(".status-overdue")).to_have_text("overdue")
    v.shot(artifacts, "cases-list.png")

    with page.expect_navigation():
        row.get_by_role("link", name=CASE).click()
    assert page.url == f"{portal.base}/cases/{CASE}"
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Case {CASE}")
    assert phase_shown(page) == "awaiting-consent"
    parties = page.locator("section", has=page.get_by_role("heading", name="Parties")).locator("tbody tr")
    expect(parties).to_have_count(2)
    expect(parties.nth(1)).to_contain_text("no notice")
    v.shot(artifacts, "cases-case.png")

    # A session dated before the case opened is refused (400) next to its form, the values kept ...
    v.expected_errors.add(f"{portal.base}/cases/{CASE}/events")
    session = page.get_by_role("form", name="A session")
    session.get_by_label("Date", exact=True).fill("2026-01-15")
    session.get_by_label("Note (optional)").fill("Pre-conference with the responding party")
    with page.expect_navigation():
        session.get_by_role("button", name="Record the session").click()
    session = page.get_by_role("form", name="A session")
    expect(session.get_by_role("alert")).to_contain_text("before case ADR-2026-0150 was opened (2026-03-02)")
    expect(session.get_by_label("Note (optional)")).to_have_value("Pre-conference with the responding party")
    session.scroll_into_view_if_needed()
    v.shot(artifacts, "cases-refused.png")

    # ... and corrected with the keyboard alone: the date field, Tab to the note, Tab to the button, Enter.
    date = session.get_by_label("Date", exact=True)
    date.focus()
    page.keyboard.type("03242026")  # the date field's month/day/year, as a person types it
    expect(date).to_have_value("2026-03-24")
    tab_to(page, "session-note")
    page.keyboard.press("Control+End")
    page.keyboard.type(" (by phone)")
    page.keyboard.press("Tab")
    expect(session.get_by_role("button", name="Record the session")).to_be_focused()
    assert _focused(page)["outline"] != "none", "the focused button has no visible outline"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_have_text("The session is recorded.")
    sessions = page.locator("section", has=page.get_by_role("heading", name="Sessions"))
    expect(sessions.locator("tbody tr")).to_have_text([re.compile(r"2026-03-24\s*Pre-conference with the responding "
                                                                  r"party \(by phone\)")])

    # Both consents with the mouse: the case moves to in-process.
    for party, day in (("Aigerim Bekova", "2026-03-13"), ("Lukas Schmidt", "2026-03-16")):
        consent = page.get_by_role("form", name="A party's consent")
        consent.get_by_label("Party").select_option(party)
        consent.get_by_label("Date of consent").fill(day)
        with page.expect_navigation():
            consent.get_by_role("button", name="Record the consent").click()
        expect(page.get_by_role("status")).to_have_text("The consent is recorded.")
    assert phase_shown(page) == "in-process"
    history = page.locator("section", has=page.get_by_role("heading", name="Phases")).locator("tbody tr")
    expect(history.last).to_contain_text("in-process")
    expect(history.last).to_contain_text("2026-03-16")
    expect(parties.locator(".status-consent-given")).to_have_count(2)
    v.shot(artifacts, "cases-in-process.png")

    # The upload: from My cases, one event file into the inbox under Accord's name.
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases", exact=True).click()
    expect(page.locator("table.cases tbody tr", has=page.get_by_role("link", name=CASE))).to_contain_text("in-process")
    with page.expect_navigation():
        page.get_by_role("link", name="Upload a case file").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Upload a case file")
    chosen = tmp_path / "case-progress.csv"
    chosen.write_bytes(UPLOADED)
    page.get_by_label("Case file (.yaml, .yml or .json) or event file (.csv)").set_input_files(str(chosen))
    with page.expect_navigation():
        page.get_by_role("button", name="Upload into the inbox").click()
    expect(page.get_by_role("status")).to_contain_text("The file is in the inbox")
    placed = page.locator("dl.facts dd .id").inner_text()
    assert re.fullmatch(r"portal-[0-9]{8}T[0-9]{6}-[0-9a-f]{12}\.csv", placed), placed
    expect(page.locator("main")).not_to_contain_text("case-progress.csv")
    assert (portal.ws.inbox / placed).read_bytes() == UPLOADED
    v.shot(artifacts, "cases-upload.png")

    office = make_office(portal.ws, converter)  # what accord watch does on its next pass
    try:
        assert [o.status.value for o in office.process().outcomes] == ["events"]
    finally:
        office.ingestor.close()
    v.go(f"/cases/{CASE}")
    expect(sessions.locator("tbody tr")).to_have_count(2)
    expect(sessions).to_contain_text("Restorative conference")
    v.assert_clean()


def test_counsel_gets_no_cases(visit, portal, artifacts):
    """Counsel lands on search with no Cases link, is refused the list and finds no case."""
    v = visit()
    page = v.page
    sign_in_from_home(v, COUNSEL)
    assert page.url.startswith(f"{portal.base}/search"), _page_says(page)
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases")).to_have_count(0)
    for path, status, heading in (("/cases", 403, "Not allowed"), (f"/cases/{CASE}", 404, "Not found"),
                                  ("/cases/upload", 403, "Not allowed")):
        v.expected_errors.add(portal.base + path)
        v.go(path, status=status)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.locator("main")).not_to_contain_text("Bekova")
    v.shot(artifacts, "cases-counsel-refused.png")
    v.assert_clean()


def test_coordinator_follows_the_agenda_a_term_and_the_calendar_feed(visit, portal, artifacts):
    """The coordinator sees the agenda on My cases, marks term 1 of ADR-2026-0142's agreement completed with
    the mouse, makes a calendar feed and fetches it without signing in; the server's log never holds its secret."""
    v = visit()
    page = v.page
    sign_in_from_home(v, COORDINATOR)
    assert page.url == f"{portal.base}/cases", _page_says(page)
    agenda = page.locator("section", has=page.get_by_role("heading", name="Due in the next 14 days"))
    expect(agenda.locator("table.agenda tbody tr").first).to_be_visible()
    expect(agenda.locator("tr.overdue .status-overdue").first).to_have_text("overdue")
    expect(agenda).not_to_contain_text("Bekova")
    v.shot(artifacts, "cases-agenda.png")

    v.go("/cases/ADR-2026-0142")
    terms = page.locator("section", has=page.get_by_role("heading", name="Terms of the agreement"))
    expect(terms.locator("tbody tr")).to_have_count(3)
    term = page.get_by_role("form", name="Term 1")
    expect(term.get_by_label("Completed")).to_be_checked()
    term.get_by_label("Date", exact=True).fill("2026-11-20")
    term.get_by_label("Note (optional)").fill("Workshop attended")
    with page.expect_navigation():
        term.get_by_role("button", name="Record for term 1").click()
    expect(page.get_by_role("status")).to_have_text("The term is recorded as completed.")
    expect(terms.locator("tbody tr").first).to_contain_text("completed 2026-11-20")
    expect(page.get_by_role("form", name="Term 1")).to_have_count(0)
    v.shot(artifacts, "cases-term-completed.png")

    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases", exact=True).click()
    with page.expect_navigation():
        page.get_by_role("link", name="Follow it in your calendar app").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Calendar feed")
    expect(page.get_by_role("heading", name="You have no calendar feed")).to_be_visible()
    with page.expect_navigation():
        page.get_by_role("button", name="Make a feed address").click()
    address = page.get_by_label("Feed address").input_value()
    assert re.fullmatch(rf"{re.escape(portal.base)}/calendar/[A-Za-z0-9_-]{{40,}}\.ics", address), address
    v.shot(artifacts, "cases-calendar.png")

    with urllib.request.urlopen(address, timeout=10) as answer:  # a calendar app: no cookie, no sign-in
        body = answer.read()
        assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    assert body.startswith(b"BEGIN:VCALENDAR") and b"SUMMARY:ADR-2026-0150: " in body and b"Bekova" not in body
    v.go("/calendar")
    expect(page.get_by_role("heading", name="You have a calendar feed")).to_be_visible()
    expect(page.locator("main")).not_to_contain_text(address.rsplit("/", 1)[1])
    secret = address.rsplit("/", 1)[1].removesuffix(".ics")
    log = portal.log.read_text(encoding="utf-8", errors="replace")
    assert secret not in log and "GET /calendar/<feed>.ics 200" in log
    v.assert_clean()
