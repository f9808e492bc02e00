"""The Director's report in the portal: the period form, the tables with their charts and totals,
suppressed counts marked, each chart an image of its own (the CSP lets the page show it), no name,
email or case id on the page or in a chart, an empty period and a refused one said plainly, a
coordinator refused (and audited), and "Seal and archive" making a program-report record.

The office is test_reports' ``built`` one (16 cases taken in by intake, report.min_cell 3) with a
director (pramam) and a coordinator (cora) listed and given accounts; the last test drives it in
Debian's chromium through ``accord serve``.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect
from starlette.testclient import TestClient

from pipeline.governance.access import grant
from pipeline.governance.accounts import Accounts
from pipeline.portal.app import create_app
from pipeline.reports.period import academic_year
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

from .helpers import PASSWORD, copy_workspace, hidden, served
from .test_portal_cases_e2e import sign_in_from_home
from .test_portal_e2e import (  # noqa: F401  (browser, artifacts, favicon_log, visit: fixtures used here too)
    _page_says,
    artifacts,
    browser,
    favicon_log,
    visit,
)
from .test_portal_http import Site, error_text, open_site
from .test_reports import _cases, built  # noqa: F401  (built: the office these tests serve)

pytestmark = pytest.mark.usefixtures("quick_argon2")  # about the portal, not the hash's cost

YEAR = {"from": "2025-07-01", "to": "2026-06-30"}
DIRECTOR, COORDINATOR = "pramam", "cora"
#: The Content-Security-Policy every answer carried before the report's images (img-src 'self' was there).
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
CHARTED = ("opened-by-month", "closed-by-outcome", "closed-by-month", "jurisdiction", "allegations", "statuses")


@pytest.fixture(scope="module")
def report_ws(built, tmp_path_factory) -> Workspace:
    """The built office with a director and a coordinator listed, each with a portal account; never served itself."""
    ws = copy_workspace(built, tmp_path_factory.mktemp("portal-report") / "ws")
    for name, role, cases in ((DIRECTOR, "director", ()), (COORDINATOR, "coordinator", ("ADR-2025-9*",))):
        assert grant(ws.policies / "access.yaml", name, (role,), cases, workspace_owner=None)
    with Accounts(ws.accounts, ws.load_config().portal) as accounts:
        for name in (DIRECTOR, COORDINATOR):
            accounts.add(name, PASSWORD)
    return ws


@pytest.fixture(scope="module")
def site(report_ws, tmp_path_factory):
    """One portal over a copy of the office, for the tests that only read."""
    made = open_site(copy_workspace(report_ws.root, tmp_path_factory.mktemp("report-site") / "ws"))
    yield made
    made.close()


def report_of(client: TestClient, **period: str):
    return client.get("/report?" + urllib.parse.urlencode(period))


def chart_addresses(html: str) -> list[str]:
    return [a.replace("&amp;", "&") for a in re.findall(r'<img src="([^"]+)"', html)]


def section(html: str, table_id: str) -> str:
    match = re.search(rf'<section class="report-table" aria-labelledby="t-{table_id}">(.*?)</section>', html, re.DOTALL)
    assert match, f"no section for {table_id}"
    return match.group(1)


def report_entries(site: Site, actor: str) -> list[dict]:
    return [e for e in site.audit(action="report") if e["actor"] == actor]


# --- the page -------------------------------------------------------------------------------------


def test_director_sees_the_period_form_and_the_tables(site):
    """The director's page has the period form (the academic year by default), the opening note, every table with
    its caption, headers, totals and suppressed counts marked, a chart image for the tables that draw one, and a
    Report link in the navigation."""
    client = site.signed_in(DIRECTOR)
    default = client.get("/report")
    assert default.status_code == 200
    year = academic_year(dt.date.today())
    assert f'name="from" type="date" value="{year.start.isoformat()}"' in default.text
    assert f'name="to" type="date" value="{year.end.isoformat()}"' in default.text
    assert '<li><a href="/report">Report</a></li>' in default.text

    page = report_of(client, **YEAR)
    html = page.text
    assert page.status_code == 200
    assert 'value="2025-07-01"' in html and 'value="2026-06-30"' in html
    assert "Counts of fewer than 3 are suppressed" in html and "1 July 2025 to 30 June 2026" in html
    opened = section(html, "opened-by-month")
    assert "<h2 id=\"t-opened-by-month\">Cases opened, by month and process</h2>" in opened
    assert "<caption>Cases opened, by month and process, 1 July 2025 to 30 June 2026</caption>" in opened
    assert '<th scope="col">Mediation</th>' in opened and '<th scope="row">Sep 2025</th>' in opened
    assert re.search(r'<tfoot><tr class="totals"><th scope="row">Total</th>.*<td>16</td></tr></tfoot>', opened)
    assert '<td><abbr title="suppressed">s</abbr></td>' in html
    assert '<p class="note">Cases opened in each month of the period' in opened
    addresses = chart_addresses(html)
    assert {urllib.parse.urlsplit(a).path for a in addresses} >= {f"/report/chart/{t}.png" for t in CHARTED}
    assert all(urllib.parse.parse_qs(urllib.parse.urlsplit(a).query) == {"from": ["2025-07-01"], "to": ["2026-06-30"]}
               for a in addresses)
    assert 'alt="Stacked bars of the cases opened in each month, one colour per process."' in opened
    assert "<img" not in section(html, "rates")  # a table without a chart has only its table


def test_coordinator_is_refused_and_audited(site):
    """A coordinator has no Report link, and the page, a chart and the seal are refused (403), each refusal audited."""
    client = site.signed_in(COORDINATOR)
    csrf = hidden(client.get("/search").text, "csrf")
    assert "/report" not in client.get("/search").text
    before = len(report_entries(site, COORDINATOR))
    for response in (report_of(client, **YEAR), client.get("/report/chart/opened-by-month.png", params=YEAR),
                     client.post("/report/seal", data={"csrf": csrf, **YEAR})):
        assert response.status_code == 403
        assert "You may not do this" in error_text(response.text)
    entries = report_entries(site, COORDINATOR)
    assert len(entries) == before + 3 and {e["outcome"] for e in entries} == {"denied"}


def test_the_page_and_the_charts_name_no_party_and_no_case(site):
    """Neither the page nor any chart holds a party's name or email or a case id."""
    client = site.signed_in(DIRECTOR)
    html = report_of(client, **YEAR).text
    charts = [client.get(a).content for a in chart_addresses(html)]
    assert charts and all(c.startswith(b"\x89PNG") for c in charts)
    for text in [html.encode(), *charts]:
        assert b"ADR-" not in text and b"@example.edu" not in text
        for case_id, _, _ in _cases():
            assert f"Person {case_id[-3:]}".encode() not in text and case_id.encode() not in text


def test_a_chart_is_a_png_drawn_from_the_report_shown(site):
    """A chart is image/png, never stored by the browser, drawn from the report the page just counted (no second
    count in the audit log); an unknown table, a table without a chart or a strange id is not found."""
    client = site.signed_in(DIRECTOR)
    report_of(client, **YEAR)
    before = len(report_entries(site, DIRECTOR))
    response = client.get("/report/chart/opened-by-month.png", params=YEAR)
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert response.headers["content-type"] == "image/png" and response.headers["cache-control"] == "no-store"
    assert len(report_entries(site, DIRECTOR)) == before  # the page's report, not counted again
    for table_id in ("no-such-table", "rates", "Opened"):
        assert client.get(f"/report/chart/{table_id}.png", params=YEAR).status_code == 404
    other = client.get("/report/chart/closed-by-month.png", params={"from": "2025-09-01", "to": "2026-06-30"})
    assert other.status_code == 200  # a period no page showed is counted for the chart, and audited
    (newest, *_) = report_entries(site, DIRECTOR)
    assert newest["outcome"] == "ok" and '"form": "chart"' in str(newest["details"]).replace("'", '"')


def test_the_content_security_policy_is_unchanged(site):
    """The page and its charts carry the same Content-Security-Policy as every page did before: img-src 'self'
    (which lets the charts show) and nothing more."""
    client = site.signed_in(DIRECTOR)
    for response in (report_of(client, **YEAR), client.get("/report/chart/opened-by-month.png", params=YEAR),
                     client.get("/search")):
        assert response.headers["content-security-policy"] == CSP
    directives = dict(d.strip().split(" ", 1) for d in CSP.split(";"))
    assert directives["img-src"] == "'self'" and directives["default-src"] == "'none'"


def test_an_empty_period_says_so(site):
    """A period in which nothing happened shows the plain sentence, and no table or chart."""
    html = report_of(site.signed_in(DIRECTOR), **{"from": "2019-01-01", "to": "2019-12-31"}).text
    assert '<p class="empty">No case was opened, decided, agreed or closed, and no term fell due, from ' \
           "1 January 2019 to 31 December 2019: there is nothing to count.</p>" in html
    assert "<table" not in html and "<img" not in html


@pytest.mark.parametrize("period, said", [
    ({"from": "2026-06-30", "to": "2025-07-01"}, "ends (2025-07-01) before it starts (2026-06-30)"),
    ({"from": "2026-02-30", "to": "2026-06-30"}, "2026-02-30 is not a date: February 2026 has 28 days."),
    ({"from": "last year", "to": ""}, "last year is not a date like 2026-11-20"),
])
def test_a_bad_period_is_refused_on_the_form(site, period, said):
    """A period that ends before it starts, or a day that is not a date, is refused (400) next to the form, with
    what was typed kept, and nothing is counted or sealed."""
    client = site.signed_in(DIRECTOR)
    csrf = hidden(client.get("/search").text, "csrf")
    before = len(site.audit(action="report"))
    for response in (report_of(client, **period), client.post("/report/seal", data={"csrf": csrf, **period})):
        assert response.status_code == 400
        match = re.search(r'<p class="error" role="alert" id="period-error">(.*?)</p>', response.text)
        assert match and said in match.group(1)
        assert f'name="from" type="date" value="{period["from"]}"' in response.text
        assert "<table" not in response.text and len(site.audit(action="report")) == before


# --- sealing --------------------------------------------------------------------------------------


def test_seal_needs_the_form_token_and_archives_a_program_report(report_ws, converter, tmp_path):
    """Seal and archive is refused without the form's token; with it the report becomes a sealed program-report
    record, and the page says so with a link to the record."""
    ws = copy_workspace(report_ws.root, tmp_path / "ws")
    config = ws.load_config()
    accounts = Accounts(ws.accounts, config.portal)
    site = Site(ws, create_app(ws, config, accounts=accounts, converter_factory=lambda: converter), accounts, None)
    try:
        client = site.signed_in(DIRECTOR)
        page = report_of(client, **YEAR).text
        assert 'action="/report/seal"' in page and "Seal and archive this report" in page
        csrf = hidden(page, "csrf")
        refused = client.post("/report/seal", data=YEAR)
        assert refused.status_code == 403 and "This form has expired" in error_text(refused.text)
        assert client.post("/report/seal", data={**YEAR, "csrf": "x" * len(csrf)}).status_code == 403
        with open_catalog(ws.catalog) as catalog:
            assert not [r for r in catalog.all_records() if r["record_class"] == "program-report"]

        done = client.post("/report/seal", data={**YEAR, "csrf": csrf})
        assert done.status_code == 303
        with open_catalog(ws.catalog) as catalog:
            (record,) = [r for r in catalog.all_records() if r["record_class"] == "program-report"]
        assert record["record_id"].startswith("REPORT-2025-07-01-2026-06-30-")
        assert (ws.root / record["pdf_path"]).read_bytes().startswith(b"%PDF")
        location = done.headers["location"]
        assert location.startswith("/report?") and "done=report-sealed" in location
        shown = client.get(location).text
        assert (f'The report is sealed and archived as record\n<a href="/records/{record["record_id"]}">'
                f'{record["record_id"]}</a>.') in shown
        forged = client.get("/report?" + urllib.parse.urlencode(
            {**YEAR, "done": "report-sealed", "record": "REPORT-2019-01-01-2019-12-31-0123abcd"})).text
        assert "sealed and archived as record" not in forged  # only a record that exists is named
    finally:
        site.close()


# --- in the browser -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportPortal:
    base: str
    log: Path


@pytest.fixture(scope="module")
def portal(report_ws, tmp_path_factory):
    """A copy of the office served by ``accord serve`` (for the browser)."""
    root = tmp_path_factory.mktemp("portal-report-e2e") / "ws"
    shutil.copytree(report_ws.root, root)
    with served(root) as (base, log):
        yield ReportPortal(base, log)


@pytest.mark.slow
def test_director_opens_the_report_in_chromium(visit, portal, artifacts):
    """The director signs in, follows Report, chooses the year, and sees the tables and every chart image loaded
    (the CSP lets them in), with no console error or CSP violation."""
    v = visit()
    page = v.page
    sign_in_from_home(v, DIRECTOR)
    with page.expect_navigation():
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Report", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Program report")
    page.get_by_label("From", exact=True).fill(YEAR["from"])
    page.get_by_label("To", exact=True).fill(YEAR["to"])
    with page.expect_navigation():
        page.get_by_role("button", name="Show the report").click()
    assert "from=2025-07-01" in page.url and "to=2026-06-30" in page.url, _page_says(page)
    expect(page.get_by_role("table", name="Cases opened, by month and process, 1 July 2025 to 30 June 2026")) \
        .to_be_visible()
    expect(page.locator("table.figures")).to_have_count(16)
    images = page.locator(".report-table img")
    assert images.count() >= len(CHARTED)
    page.wait_for_function("() => [...document.images].every(i => i.complete)")
    widths = page.evaluate("() => [...document.querySelectorAll('.report-table img')].map(i => i.naturalWidth)")
    assert widths and all(w > 0 for w in widths), widths
    expect(page.get_by_role("img", name="Stacked bars of the cases opened in each month, one colour per process.")) \
        .to_be_visible()
    v.shot(artifacts, "report.png")
    v.assert_clean()
