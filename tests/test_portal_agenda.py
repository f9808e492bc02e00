"""The coordinator's agenda, terms and calendar in the portal over HTTP: the agenda on My cases, the
forms that follow an agreement's terms, the completion letter, and the private calendar feed.

The workspace is test_portal_http's (the portal's people and accounts) with the project's examples of
case ADR-2026-0150 taken in up to its restorative agreement, signed on paper (monitoring, four terms),
and an intake for coord-other's ADR-1999-0031, made once for the module with the stored PDFs (no
LibreOffice). Every test that writes works on its own copy of it. The portal's clock is today's date:
the examples' 2026 dates are in the past, so what they leave open is overdue.
"""

from __future__ import annotations

import datetime as dt
import logging
import re

import icalendar
import pytest
from starlette.testclient import TestClient

from pipeline.casedesk import CaseDesk
from pipeline.config import PortalSettings
from pipeline.governance.access import Actor, grant
from pipeline.governance.accounts import Accounts
from pipeline.office import OfficeSession
from pipeline.workspace import Workspace

from .helpers import EXAMPLES, PASSWORD, copy_workspace, hidden, make_office
from .test_portal_cases import OTHER_CASE, other_intake
from .test_portal_http import (  # noqa: F401  (template_ws: a fixture used here too)
    error_text,
    open_site,
    template_ws,
)

pytestmark = pytest.mark.usefixtures("quick_argon2")  # about the portal, not the hash's cost

CASE = "ADR-2026-0150"
DOCUMENTS = ("case-events.csv", "case-intake.yaml", "notice-of-informal-resolution.yaml",
             "consent-to-informal-resolution.yaml", "case-progress.csv", "restorative-agreement.yaml")
#: Words of ADR-2026-0150's file that no calendar entry may carry: names, a term's text, a note.
PRIVATE = ("Aigerim", "Bekova", "Lukas", "Schmidt", "Wen Li", "Nowak", "reflection", "intercultural", "Laboratory",
           "Agenda not followed")
TODAY = dt.date.today()
NEWCOMER = "newcomer"  # a coordinator whose cases (ADR-2030-*) are not there yet


@pytest.fixture(scope="module")
def agenda_ws(template_ws, stored_converter, tmp_path_factory) -> Workspace:
    """ADR-2026-0150 up to its signed agreement and coord-other's ADR-1999-0031 (an intake), taken in once;
    a coordinator with no cases listed too."""
    ws = copy_workspace(template_ws.root, tmp_path_factory.mktemp("portal-agenda") / "ws")
    office = make_office(ws, stored_converter)
    try:
        for name in DOCUMENTS:
            office.drop(name, (EXAMPLES / name).read_bytes())
        office.drop("other-intake.yaml", other_intake())
        outcomes = office.process().outcomes
        assert [o.reason for o in outcomes if o.status == "failed"] == []
        office.drop("signed.csv", f"case_id,event,date\n{CASE},agreement-signed,2026-04-08\n")
        assert office.process().outcomes[0].status == "events"
        office.ingestor.catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        office.ingestor.close()
    grant(ws.policies / "access.yaml", NEWCOMER, ("coordinator",), ("ADR-2030-*",), workspace_owner=None)
    with Accounts(ws.accounts, PortalSettings()) as accounts:
        accounts.add(NEWCOMER, PASSWORD)
    return ws


@pytest.fixture(scope="module")
def shared(agenda_ws, tmp_path_factory):
    """One portal for the tests that only look."""
    site = open_site(copy_workspace(agenda_ws.root, tmp_path_factory.mktemp("agenda-shared") / "ws"))
    yield site
    site.close()


@pytest.fixture
def site(agenda_ws, tmp_path):
    made = open_site(copy_workspace(agenda_ws.root, tmp_path / "ws"))
    yield made
    made.close()


def desk_of(ws: Workspace, user: str) -> CaseDesk:
    return CaseDesk(OfficeSession(ws, Actor(user, via="test")))


def csrf_of(client: TestClient) -> str:
    return hidden(client.get("/search").text, "csrf")


def agenda_rows(html: str) -> list[tuple[str, str, str, bool]]:
    """(date, what, case, overdue) of each row of the agenda table on My cases."""
    table = re.search(r'<table class="agenda">.*?</table>', html, re.DOTALL)
    if table is None:
        return []
    rows = []
    for row in re.findall(r"<tr( class=\"overdue\")?><td>(.*?)</tr>", table.group(0), re.DOTALL):
        marked, cells = row
        date = re.search(r'<time datetime="([^"]+)">', cells).group(1)
        what = re.search(r"<td>([^<]*)</td>", cells).group(1).strip()
        case = re.search(r'<a href="/cases/([^"]+)">', cells).group(1)
        overdue = '<span class="status status-overdue">overdue</span>' in cells
        assert bool(marked) is overdue, f"the row's class and its word disagree: {cells}"
        rows.append((date, what, case, overdue))
    return rows


def expected_rows(ws: Workspace, user: str, days: int = 14) -> list[tuple[str, str, str, bool]]:
    from pipeline.portal.cases import KIND_WORDS

    with desk_of(ws, user) as desk:
        items = desk.agenda(TODAY, days)
    return [(i.date.isoformat(), f"{KIND_WORDS[i.kind]}: {i.what}", i.case_id, i.overdue(TODAY)) for i in items]


# --- the agenda on My cases --------------------------------------------------------------------------


def test_my_cases_shows_the_coordinators_agenda_with_overdue_marked(shared):
    """My cases has the table "Due in the next 14 days": each item's date, its kind in words and its
    case as a link, as CaseDesk.agenda gives it, the overdue ones marked by a class and the word."""
    page = shared.signed_in("mlee").get("/cases").text
    assert '<h2 id="agenda-heading">Due in the next 14 days</h2>' in page
    rows = agenda_rows(page)
    assert rows == expected_rows(shared.ws, "mlee")
    assert ("2026-07-31", "Term due: term 2 due", CASE, True) in rows  # the course, overdue since July
    assert {case for _, _, case, _ in rows} <= {CASE, "ADR-2026-0142"}
    assert any(overdue for *_, overdue in rows)


def test_each_coordinator_sees_their_own_cases_items_and_the_director_every_one(shared):
    """The agenda of a coordinator holds their own cases' items only; the director's holds every case's."""
    own = {case for _, _, case, _ in agenda_rows(shared.signed_in("mlee").get("/cases").text)}
    other = {case for _, _, case, _ in agenda_rows(shared.signed_in("cora").get("/cases").text)}
    everyone = {case for _, _, case, _ in agenda_rows(shared.signed_in("pramam").get("/cases").text)}
    assert CASE in own and OTHER_CASE not in own
    assert other == {OTHER_CASE}
    assert {CASE, OTHER_CASE} <= everyone
    assert agenda_rows(shared.signed_in("pramam").get("/cases").text) == expected_rows(shared.ws, "pramam")


def test_a_long_list_of_cases_and_a_long_agenda_come_in_pages(shared, monkeypatch):
    """My cases shows a page of cases at a time (Previous and Next keep the filters), and the first
    items of a long agenda with a link to all of them (a director's office may have thousands)."""
    monkeypatch.setattr("pipeline.portal.cases.CASES_PAGE", 1)
    monkeypatch.setattr("pipeline.portal.cases.AGENDA_SHOWN", 1)
    client = shared.signed_in("pramam")
    everyone = expected_rows(shared.ws, "pramam")
    first = client.get("/cases?days=30").text
    assert "Open cases 1 to 1" in first and 'rel="next"' in first and 'rel="prev"' not in first
    assert first.count('<tr><th scope="row"><a href="/cases/') == 1
    assert len(agenda_rows(first)) == 1 and f"Show all {len(expected_rows(shared.ws, 'pramam', 30))}" in first
    assert 'href="/cases?days=30&amp;page=2"' in first
    second = client.get("/cases?days=30&page=2").text
    assert "Open cases 2 to 2" in second and 'rel="prev"' in second
    assert agenda_rows(client.get("/cases?agenda=all").text) == everyone


def test_the_agenda_of_someone_with_no_cases_says_nothing_is_due(shared):
    """A coordinator with no cases sees the empty state's sentence and no table."""
    page = shared.signed_in(NEWCOMER).get("/cases").text
    assert "Nothing is due in the next 14 days, and nothing is overdue." in page
    assert '<table class="agenda">' not in page


@pytest.mark.parametrize("given, days", [("30", 30), ("1", 1), ("366", 366), ("0", 14), ("367", 14), ("-3", 14),
                                         ("ten", 14), ("", 14)])
def test_days_ahead_may_be_1_to_366(shared, given, days):
    """?days= from 1 to 366 sets the agenda's window; anything else leaves the office's 14 days."""
    page = shared.signed_in("mlee").get(f"/cases?days={given}").text
    assert f'<h2 id="agenda-heading">Due in the next {days} day{"" if days == 1 else "s"}</h2>' in page
    assert agenda_rows(page) == expected_rows(shared.ws, "mlee", days)
    assert f'name="days" type="number" min="1" max="366" value="{days}"' in page


def test_who_has_no_agenda_gets_no_cases_page(shared):
    """Counsel, who may not see cases, is refused My cases with its agenda, and no case id shows."""
    response = shared.signed_in("jchen").get("/cases")
    assert response.status_code == 403 and CASE not in response.text


# --- the terms ---------------------------------------------------------------------------------------


def term_row(page: str, number: int) -> str:
    return re.search(rf'<tr><th scope="row">{number}</th>.*?</tr>', page, re.DOTALL).group(0)


def post_term(client: TestClient, csrf: str, event: str, term: str, date: str = TODAY.isoformat(), **fields):
    return client.post(f"/cases/{CASE}/events", data={"csrf": csrf, "event": event, "term": term, "date": date,
                                                      **fields})


def test_the_case_page_lists_the_terms_with_a_form_for_each_open_one(shared):
    """The case's page lists each term (its words, owner, due date, status) and offers its coordinator
    one form per open term: completed, waived or breached, dated today unless changed."""
    page = shared.signed_in("mlee").get(f"/cases/{CASE}").text
    assert "<h2 id=\"h-terms\">Terms of the agreement</h2>" in page
    assert "intercultural-communication course" in term_row(page, 2) and "ongoing" in term_row(page, 3)
    assert '<span class="status status-overdue">overdue</span>' in term_row(page, 2)
    for number in (1, 2, 3, 4):
        form = re.search(rf'<form [^>]*aria-labelledby="term-{number}-heading">.*?</form>', page, re.DOTALL).group(0)
        assert f'name="term" value="{number}"' in form
        assert [v for v in re.findall(r'name="event" value="([^"]+)"', form)] == [
            "term-completed", "term-waived", "term-breached"]
        assert f'id="term-{number}-date" name="date" type="date" required max="{TODAY}" value="{TODAY}"' in form


def test_who_may_only_see_gets_the_terms_without_forms(shared):
    """The director sees the terms but no form to record them, nor the completion letter."""
    page = shared.signed_in("pramam").get(f"/cases/{CASE}").text
    assert "intercultural-communication course" in page
    assert 'name="term"' not in page and "/completion" not in page


def test_a_term_form_records_the_event(site):
    """Marking term 1 completed records term-completed for term 1 with its note, says so, and the term
    shows completed with no form left for it; a breach then offers only the waiver."""
    client = site.signed_in("mlee")
    csrf = csrf_of(client)
    response = post_term(client, csrf, "term-completed", "1", "2026-05-11", note="Reflection received")
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{CASE}?done=term-completed"
    page = client.get(response.headers["location"]).text
    assert "The term is recorded as completed." in page
    assert 'status-term-completed">completed</span> <time datetime="2026-05-11">' in term_row(page, 1)
    assert 'aria-labelledby="term-1-heading"' not in page
    with desk_of(site.ws, "mlee") as desk:
        events = [(e["event"], e["term"], e["note"]) for e in desk.case(CASE)["events"]]
    assert ("term-completed", 1, "Reflection received") in events
    assert post_term(client, csrf, "term-breached", "3", "2026-06-01").status_code == 303
    form = re.search(r'<form [^>]*aria-labelledby="term-3-heading">.*?</form>', client.get(f"/cases/{CASE}").text,
                     re.DOTALL).group(0)
    assert re.findall(r'name="event" value="([^"]+)"', form) == ["term-waived"]


def test_a_term_the_agreement_lacks_is_refused_with_the_reason(site):
    """A term number the agreement lacks is refused (400) with the library's reason at the top of the
    page; a missing number asks for the term; nothing is recorded."""
    client = site.signed_in("mlee")
    csrf = csrf_of(client)
    response = post_term(client, csrf, "term-completed", "9")
    assert response.status_code == 400
    assert "the agreement of case ADR-2026-0150 has no term 9 (its terms are 1 to 4)" in error_text(response.text)
    missing = post_term(client, csrf, "term-completed", "")
    assert missing.status_code == 400 and "Choose the term, by its number." in error_text(missing.text)
    with desk_of(site.ws, "mlee") as desk:
        assert [e for e in desk.case(CASE)["events"] if e["event"].startswith("term-")] == []


def test_a_refused_term_event_shows_next_to_its_form_with_the_values_kept(site):
    """A term event dated before the case opened is refused next to that term's form, its choice and note kept."""
    client = site.signed_in("mlee")
    response = post_term(client, csrf_of(client), "term-waived", "2", "2026-01-05", note="Course cancelled")
    assert response.status_code == 400
    form = re.search(r'<form [^>]*aria-labelledby="term-2-heading">.*?</form>', response.text, re.DOTALL).group(0)
    assert 'id="term-2-error"' in form and "before case ADR-2026-0150 was opened" in form
    assert 'value="term-waived" checked' in form and ">Course cancelled</textarea>" in form
    assert 'value="2026-01-05"' in form


@pytest.mark.parametrize("user, status", [("pramam", 403), ("cora", 404), ("jchen", 404)])
def test_term_forms_need_the_right_to_manage_the_case(shared, user, status):
    """The director is refused a term event; a coordinator of other cases and counsel get not found."""
    client = shared.signed_in(user)
    response = post_term(client, csrf_of(client), "term-completed", "1")
    assert response.status_code == status and "intercultural" not in response.text


# --- the completion letter ---------------------------------------------------------------------------


def complete_dated_terms(ws: Workspace) -> None:
    with desk_of(ws, "mlee") as desk:
        for number, day in ((1, "2026-05-11"), (2, "2026-07-20"), (4, "2026-06-15")):
            desk.add_event(CASE, "term-completed", dt.date.fromisoformat(day), term=number)


def test_no_completion_letter_while_terms_are_open(site):
    """While dated terms are open the page says why the letter cannot be written, offers no form, and a
    POST anyway is refused with the reason; nothing goes into the inbox."""
    client = site.signed_in("mlee")
    page = client.get(f"/cases/{CASE}").text
    assert "The completion letter can be written once the case can be completed: case ADR-2026-0150 cannot be " \
           "completed: terms 1, 2 and 4 are still open." in page
    assert f'action="/cases/{CASE}/completion"' not in page
    response = client.post(f"/cases/{CASE}/completion", data={"csrf": csrf_of(client), "date": TODAY.isoformat()})
    assert response.status_code == 400
    section = re.search(r'<section aria-labelledby="h-completion">.*?</section>', response.text, re.DOTALL).group(0)
    assert 'id="completion-error"' in section and "The completion letter was not written" in section
    assert list(site.ws.inbox.glob("*.yaml")) == []


def test_the_completion_letter_goes_into_the_inbox(site):
    """Once every dated term is done the page offers the letter dated today; asking for it puts its
    case file into the inbox and says what happens next."""
    complete_dated_terms(site.ws)
    client = site.signed_in("mlee")
    page = client.get(f"/cases/{CASE}").text
    assert f'action="/cases/{CASE}/completion"' in page and f'name="date" type="date" required value="{TODAY}"' in page
    response = client.post(f"/cases/{CASE}/completion", data={"csrf": csrf_of(client), "date": TODAY.isoformat()})
    assert response.status_code == 303 and response.headers["location"] == f"/cases/{CASE}?done=completion-asked"
    assert "The completion letter is in the inbox" in client.get(response.headers["location"]).text
    (placed,) = site.ws.inbox.glob("portal-*.yaml")
    text = placed.read_text(encoding="utf-8")
    assert "template: completion-letter" in text and CASE in text and TODAY.isoformat() in text


@pytest.mark.parametrize("user, status", [("pramam", 403), ("cora", 404), ("jchen", 404), (None, 403)])
def test_the_completion_letter_needs_the_right_and_the_token(site, user, status):
    """The director is refused, a coordinator of other cases and counsel get not found, and a POST
    without the form's token is refused; no letter goes into the inbox."""
    complete_dated_terms(site.ws)
    client = site.signed_in(user or "mlee")
    csrf = csrf_of(client) if user else "not-the-token"
    response = client.post(f"/cases/{CASE}/completion", data={"csrf": csrf, "date": TODAY.isoformat()})
    assert response.status_code == status
    assert list(site.ws.inbox.glob("*.yaml")) == []


# --- the calendar feed -------------------------------------------------------------------------------

FEED = re.compile(r'value="http://testserver/calendar/([A-Za-z0-9_-]+)\.ics"')


def make_feed(client: TestClient) -> str:
    response = client.post("/calendar", data={"csrf": csrf_of(client)})
    assert response.status_code == 200, error_text(response.text)
    return FEED.search(response.text).group(1)


def test_the_calendar_page_explains_the_feed_and_shows_its_address_once(site):
    """The Calendar page says there is no feed yet; making one shows its address once, after which the
    page says there is one, when it was made, and never shows the address again."""
    client = site.signed_in("mlee")
    page = client.get("/calendar").text
    assert "You have no calendar feed" in page and "no party, no term's words, no note" in page
    secret = make_feed(client)
    again = client.get("/calendar").text
    assert "You have a calendar feed" in again and "Made " in again
    assert secret not in again and 'id="feed-address"' not in again
    assert site.accounts.feed_owner(secret) == "mlee"


def test_the_feed_serves_the_owners_agenda_without_sign_in_and_names_no_one(site):
    """The feed's address needs no sign-in and answers text/calendar, not stored, with one event per item
    of the owner's agenda: case ids and kinds only, no name, term text or note."""
    with desk_of(site.ws, "mlee") as desk:
        desk.add_event(CASE, "term-breached", dt.date(2026, 6, 1), note="Agenda not followed", term=3)
    secret = make_feed(site.signed_in("mlee"))
    response = site.client().get(f"/calendar/{secret}.ics")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    events = list(icalendar.Calendar.from_ical(response.content).walk("VEVENT"))
    summaries = sorted(str(e["summary"]) for e in events)
    assert "ADR-2026-0150: term 3 breached (overdue)" in summaries
    assert len(events) == len(expected_rows(site.ws, "mlee"))
    assert all(s.startswith("ADR-2026-") for s in summaries)
    assert [w for w in PRIVATE if w.lower().encode() in response.content.lower()] == []


def test_a_new_feed_replaces_the_old_and_a_revoked_feed_is_gone(site):
    """Making a new feed stops the old address; stopping the feed makes its address not found."""
    client = site.signed_in("mlee")
    anon = site.client()
    first = make_feed(client)
    second = make_feed(client)
    assert anon.get(f"/calendar/{first}.ics").status_code == 404
    assert anon.get(f"/calendar/{second}.ics").status_code == 200
    response = client.post("/calendar/revoke", data={"csrf": csrf_of(client)})
    assert response.status_code == 303 and response.headers["location"] == "/calendar?done=feed-revoked"
    assert "Your calendar feed is stopped" in client.get(response.headers["location"]).text
    assert anon.get(f"/calendar/{second}.ics").status_code == 404
    again = client.post("/calendar/revoke", data={"csrf": csrf_of(client)})
    assert again.headers["location"] == "/calendar?done=no-feed"


@pytest.mark.parametrize("path", ["/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics", "/calendar/x.ics",
                                  "/calendar/.ics", "/calendar/%3Cfeed%3E.ics", "/calendar/a/b.ics"])
def test_an_unknown_feed_is_not_found(shared, path):
    """An unknown, ill-formed or literally "<feed>" secret is not found, with the portal's own page."""
    response = shared.client().get(path)
    assert response.status_code == 404 and "<h1>Not found</h1>" in response.text


def test_a_disabled_or_unlisted_owner_has_no_feed(site):
    """The feed stops when its owner's account is disabled, and answers not found for a person no
    longer listed in access.yaml."""
    mlee, cora = make_feed(site.signed_in("mlee")), make_feed(site.signed_in("cora"))
    site.accounts.disable("mlee")
    assert site.client().get(f"/calendar/{mlee}.ics").status_code == 404
    access = site.ws.policies / "access.yaml"
    access.write_text(re.sub(r"(?m)^\s*cora:.*\n", "", access.read_text(encoding="utf-8")), encoding="utf-8")
    assert site.client().get(f"/calendar/{cora}.ics").status_code == 404


def test_the_feeds_secret_never_reaches_the_log(site, caplog):
    """The access log names a feed's address as /calendar/<feed>.ics, never with its secret."""
    secret = make_feed(site.signed_in("mlee"))
    with caplog.at_level(logging.INFO, logger="accord.portal"):
        assert site.client().get(f"/calendar/{secret}.ics").status_code == 200
        assert site.client().get(f"/calendar/{secret}x.ics").status_code == 404
    lines = [r.getMessage() for r in caplog.records]
    assert any("GET /calendar/<feed>.ics 200" in line for line in lines), lines
    assert not [line for line in lines if secret in line]


def test_the_calendar_needs_sign_in_the_right_and_the_token(site):
    """The Calendar page asks for sign-in; its POSTs need the form's token (no feed is made or stopped
    without it); counsel, who has no agenda, is refused it."""
    anon = site.client()
    assert anon.get("/calendar").headers["location"] == "/signin?next=%2Fcalendar"
    assert anon.post("/calendar", data={}).status_code == 403
    client = site.signed_in("mlee")
    assert client.post("/calendar", data={"csrf": "forged"}).status_code == 403
    assert site.accounts.has_feed("mlee") is None
    secret = make_feed(client)
    assert client.post("/calendar/revoke", data={}).status_code == 403
    assert site.accounts.feed_owner(secret) == "mlee"
    counsel = site.signed_in("jchen")
    assert counsel.get("/calendar").status_code == 403
    assert counsel.post("/calendar", data={"csrf": csrf_of(counsel)}).status_code == 403
    assert site.accounts.has_feed("jchen") is None
