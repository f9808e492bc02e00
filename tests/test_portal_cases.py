"""The coordinator's side of the portal over HTTP: My cases, a case's page, the forms that record its
events, and the upload of a case file into the inbox.

The workspace is the session's ``sealed_office`` (an agreement for ADR-2026-0142 and an MOU) with the
project's example intake, notice and consent form for ADR-2026-0150 and an intake for ADR-1999-0031
sealed once for the module by the real pipeline (LibreOffice, the office seal). coord-own owns
ADR-2026-*, coord-other ADR-1999-*. Every test that writes works on its own copy of it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from pipeline.casedesk import CaseDesk
from pipeline.config import PortalSettings
from pipeline.documents.seal import make_sealer
from pipeline.governance.access import Actor, grant
from pipeline.governance.accounts import Accounts
from pipeline.office import OfficeSession, RetentionDesk
from pipeline.portal.requests import MAX_BODY
from pipeline.workspace import Workspace

from .helpers import EXAMPLES, PASSWORD, copy_workspace, hidden, make_office
from .test_portal_http import (  # noqa: F401  (template_ws: a fixture used here too)
    ACCOUNT_OF,
    INLINE,
    ROLES,
    Site,
    error_text,
    open_site,
    template_ws,
)

pytestmark = pytest.mark.usefixtures("quick_argon2")  # about the portal, not the hash's cost

CASE = "ADR-2026-0150"
OLD_CASE = "ADR-2026-0142"  # an agreement recorded without an intake
OTHER_CASE = "ADR-1999-0031"  # coord-other's
DOCUMENTS = ("case-intake.yaml", "notice-of-informal-resolution.yaml", "consent-to-informal-resolution.yaml")
#: Names only ADR-2026-0150 holds (never on a page for someone who may not see it).
SECRETS = ("Aigerim Bekova", "Lukas Schmidt", "Bekova", "laboratory")
EVENTS_CSV = b"case_id,event,date,party,note\nADR-2026-0150,session,2026-03-24,,Pre-conference (uploaded)\n"


def other_intake() -> str:
    """The example intake, as coord-other's case ADR-1999-0031 between two other people."""
    text = (EXAMPLES / "case-intake.yaml").read_text(encoding="utf-8")
    for old, new in ((CASE, OTHER_CASE), ("Aigerim Bekova", "Wen Li"), ("Lukas Schmidt", "Tomasz Nowak"),
                     ("shared laboratory", "shared studio")):
        assert old in text
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def case_ws(template_ws, converter, tmp_path_factory) -> Workspace:
    """test_portal_http's workspace (the portal's people listed, with their accounts) with ADR-2026-0150
    (intake, notice, consent form) and ADR-1999-0031 taken in by the watcher's one pass; never served itself."""
    ws = copy_workspace(template_ws.root, tmp_path_factory.mktemp("portal-cases") / "ws")
    office = make_office(ws, converter)
    try:
        for name in DOCUMENTS:
            office.drop(name, (EXAMPLES / name).read_bytes())
        office.drop("other-intake.yaml", other_intake())
        summary = office.process()
    finally:
        office.ingestor.close()
    assert [o.status.value for o in summary.outcomes] == ["recorded"] * 4, summary
    return ws


@pytest.fixture
def site(case_ws, tmp_path):
    made = open_site(copy_workspace(case_ws.root, tmp_path / "ws"))
    yield made
    made.close()


def case_of(ws: Workspace, case_id: str = CASE) -> dict:
    """The case as its coordinator's CaseDesk shows it now."""
    with CaseDesk(OfficeSession(ws, Actor("mlee", via="test"))) as desk:
        return desk.case(case_id)


def inbox_files(ws: Workspace) -> list[Path]:
    return sorted(p for p in ws.inbox.iterdir() if p.is_file() and not p.name.startswith("."))


def csrf_of(client: TestClient) -> str:
    return hidden(client.get("/search").text, "csrf")


def post_event(client: TestClient, csrf: str, event: str, case_id: str = CASE, **fields: str):
    return client.post(f"/cases/{case_id}/events", data={"csrf": csrf, "event": event, **fields})


def upload(client: TestClient, csrf: str | None, name: str, data: bytes, **extra):
    form = {"csrf": csrf} if csrf is not None else {}
    return client.post("/cases/upload", data=form, files={"file": (name, data, "application/octet-stream")}, **extra)


# --- who may reach what --------------------------------------------------------------------------


@dataclasses.dataclass
class TableSite:
    site: Site
    clients: dict[str, TestClient]
    csrf: dict[str, str]


@pytest.fixture(scope="module")
def table(case_ws, tmp_path_factory):
    """One shared portal with every role holding a session."""
    site = open_site(copy_workspace(case_ws.root, tmp_path_factory.mktemp("cases-table") / "ws"))
    clients, csrf = {"anon": site.client()}, {"anon": ""}
    for role, name in ACCOUNT_OF.items():
        clients[role] = site.signed_in(name)
        csrf[role] = csrf_of(clients[role])
    yield TableSite(site, clients, csrf)
    site.close()


SESSION_FORM = {"event": "session", "date": "2026-03-24", "note": "Pre-conference"}
ACCESS_TABLE = [
    # method  path                                 anon coord-other coord-own counsel director officer auditor stranger
    ("GET",  "/cases",                              303, 200, 200, 403, 200, 200, 403, 403),
    ("GET",  "/cases?phase=awaiting-consent",       303, 200, 200, 403, 200, 200, 403, 403),
    ("GET",  f"/cases/{CASE}",                      303, 404, 200, 404, 200, 200, 404, 404),
    ("GET",  f"/cases/{OTHER_CASE}",                303, 200, 404, 404, 200, 200, 404, 404),
    ("GET",  "/cases/ADR-2026-9999",                303, 404, 404, 404, 404, 404, 404, 404),
    ("GET",  "/cases/upload",                       303, 200, 200, 403, 403, 403, 403, 403),
    ("POST", f"/cases/{CASE}/events",               403, 404, 303, 404, 403, 403, 404, 404),
    ("POST", f"/cases/{OTHER_CASE}/events",         403, 303, 404, 404, 403, 403, 404, 404),
    ("POST", "/cases/ADR-2026-9999/events",         403, 404, 404, 404, 404, 404, 404, 404),
    # the upload is an event file for ADR-2026-0150: not coord-other's case, which answers as unknown
    ("POST", "/cases/upload",                       403, 404, 303, 403, 403, 403, 403, 403),
    ("GET",  f"/cases/{CASE}/events",               405, 405, 405, 405, 405, 405, 405, 405),
]
CELLS = [(role, method, path, status) for method, path, *statuses in ACCESS_TABLE
         for role, status in zip(ROLES, statuses, strict=True)]


@pytest.mark.parametrize("role, method, path, expected", CELLS, ids=[f"{m} {p} as {r}" for r, m, p, _ in CELLS])
def test_access_table(table, role, method, path, expected):
    """Each kind of caller gets exactly the status the table says, and a refusal shows none of the case."""
    client, csrf = table.clients[role], table.csrf[role]
    if method == "GET":
        response = client.get(path)
    elif path == "/cases/upload":
        response = upload(client, csrf, "progress.csv", EVENTS_CSV)
    else:
        response = client.post(path, data={**SESSION_FORM, "csrf": csrf})
    assert response.status_code == expected, f"{role} {method} {path} -> {response.status_code}"
    if role == "anon" and method == "GET" and expected == 303:
        assert response.headers["location"].startswith("/signin?next=")
    if expected in (403, 404):
        for secret in SECRETS:
            assert secret not in response.text


@pytest.mark.parametrize("role, case_id, unknown", [
    ("coord-other", CASE, "ADR-2026-9999"),
    ("coord-own", OTHER_CASE, "ADR-1999-9999"),
    ("counsel", CASE, "ADR-2026-9999"),
    ("auditor", OTHER_CASE, "ADR-1999-9999"),
])
def test_case_outside_rights_answers_like_an_unknown_case(table, role, case_id, unknown):
    """A case one may not see gets the same status and, but for its id, the same page as one that does not exist."""
    client, csrf = table.clients[role], table.csrf[role]
    for request in (lambda c: client.get(f"/cases/{c}"),
                    lambda c: client.post(f"/cases/{c}/events", data={**SESSION_FORM, "csrf": csrf})):
        hidden_case, missing = request(case_id), request(unknown)
        assert hidden_case.status_code == missing.status_code == 404
        assert hidden_case.text.replace(case_id, "ID") == missing.text.replace(unknown, "ID")


def listed(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/cases/([^"]+)">', html)


def test_the_list_counts_only_the_cases_one_may_see(table):
    """My cases lists and counts a coordinator's own open cases only; the director's Cases lists every one."""
    own = table.clients["coord-own"].get("/cases").text
    assert "<h1>My cases</h1>" in own and sorted(listed(own)) == [OLD_CASE, CASE]
    assert '<h2 id="cases-heading">2 open cases</h2>' in own and OTHER_CASE not in own
    other = table.clients["coord-other"].get("/cases").text
    assert listed(other) == [OTHER_CASE] and '<h2 id="cases-heading">1 open case</h2>' in other
    assert not any(secret in other for secret in SECRETS)
    everyone = table.clients["director"].get("/cases").text
    assert "<h1>Cases</h1>" in everyone and sorted(listed(everyone)) == [OTHER_CASE, OLD_CASE, CASE]


def test_the_list_shows_phase_process_due_dates_and_gaps(table):
    """Each row has its phase, the process's label, the opening date, the days in phase, an overdue notice date and the gaps."""
    page = table.clients["coord-own"].get("/cases").text
    row = re.search(rf'<tr><th scope="row"><a href="/cases/{CASE}">.*?</tr>', page, re.DOTALL).group(0)
    assert "awaiting-consent" in row and "Restorative justice" in row and "2026-03-02" in row
    days = (dt.date.today() - dt.date(2026, 3, 10)).days
    assert f"<td>{days}<br>" in row and 'since <time datetime="2026-03-10">2026-03-10</time>' in row
    assert '<time datetime="2026-03-24">2026-03-24</time> <span class="status status-overdue">overdue</span>' in row
    old = re.search(rf'<tr><th scope="row"><a href="/cases/{OLD_CASE}">.*?</tr>', page, re.DOTALL).group(0)
    assert "Mediation" in old and "<li>no intake record</li>" in old


@pytest.mark.parametrize("query, expected", [
    ("phase=awaiting-consent", [CASE]),
    ("phase=agreement", [OLD_CASE]),
    ("process=mediation", [OLD_CASE]),
    ("process=restorative-justice", [CASE]),
    ("phase=monitoring", []),
    ("phase=not-a-phase", [OLD_CASE, CASE]),
])
def test_the_list_filters_by_phase_and_process(table, query, expected):
    """The GET filters narrow the list; a value that is not a phase or process is ignored."""
    page = table.clients["coord-own"].get(f"/cases?{query}").text
    assert sorted(listed(page)) == expected
    if not expected:
        assert "No cases match these filters." in page


def test_closed_cases_show_only_when_asked(site):
    """A withdrawn case leaves My cases, and comes back with "show closed cases too" (or the closed phase)."""
    client = site.signed_in("mlee")
    assert post_event(client, csrf_of(client), "withdrawal", party="Lukas Schmidt", date="2026-03-20",
                      confirm="yes").status_code == 303
    assert CASE not in listed(client.get("/cases").text)
    for query in ("closed=1", "phase=closed"):
        page = client.get(f"/cases?{query}").text
        assert CASE in listed(page) and "(withdrawn)" in page
    assert "checked" in client.get("/cases?closed=1").text.split('name="closed"')[1][:40]


def test_no_cases_says_so(case_ws, tmp_path):
    """A coordinator with no cases of their own sees a plain empty state pointing to the upload."""
    ws = copy_workspace(case_ws.root, tmp_path / "ws")
    grant(ws.policies / "access.yaml", "newcomer", ("coordinator",), ("ADR-2030-*",), workspace_owner=None)
    with Accounts(ws.accounts, PortalSettings()) as accounts:
        accounts.add("newcomer", PASSWORD)
    site = open_site(ws)
    try:
        page = site.signed_in("newcomer").get("/cases").text
    finally:
        site.close()
    assert "No open cases." in page and 'href="/cases/upload"' in page and listed(page) == []


@pytest.mark.parametrize("role, link, home", [
    ("coord-own", True, "/cases"), ("coord-other", True, "/cases"), ("director", True, "/cases"),
    ("officer", True, "/cases"), ("counsel", False, "/search"), ("auditor", False, "/search"),
    ("stranger", False, "/search"),
])
def test_cases_link_and_home_follow_the_right(table, role, link, home):
    """The Cases link shows only to people with view-case, and the portal's home sends them to their cases."""
    client = table.clients[role]
    assert client.get("/").headers["location"] == home
    page = client.get("/search").text
    assert ('<a href="/cases">Cases</a>' in page) is link


def test_upload_link_only_for_those_who_may_upload(table):
    """Only people with manage-case see the upload link on the list."""
    assert 'href="/cases/upload"' in table.clients["coord-own"].get("/cases").text
    assert 'href="/cases/upload"' not in table.clients["director"].get("/cases").text


# --- the case page -------------------------------------------------------------------------------


def test_case_page_shows_header_parties_history_measures_and_records(table):
    """The page has the phase header, the parties with notice and consent, the phase history with its evidence,
    the intake's supportive measure and every record, with the forms for its coordinator."""
    page = table.clients["coord-own"].get(f"/cases/{CASE}").text
    timeline = case_of(table.site.ws)
    assert '<dt>Phase</dt><dd><span class="status status-awaiting-consent">awaiting-consent</span>' in page
    assert f"({timeline['days_in_phase']} days)" in page and "Restorative justice" in page
    assert '<tr><th scope="row">Aigerim Bekova</th><td>reporting party</td><td>graduate-student</td>' in page
    assert '<span class="status status-missing">no notice</span>' in page  # Lukas Schmidt: no notice on file
    assert page.count('<span class="status status-consent-pending">pending</span>') == 2
    for step in timeline["history"]:
        assert re.search(rf'<time datetime="{step["since"]}">{step["since"]}</time></td>\s*<td>{step["evidence"]}', page)
        assert f'<a href="/records/{step["ref"]}">' in page
    assert "Laboratory shifts arranged so that the parties are not scheduled together" in page
    for record in timeline["records"]:
        assert f'<a href="/records/{record["record_id"]}">{record["record_id"]}</a>' in page
    assert page.count(f'action="/cases/{CASE}/events"') == 5
    assert page.count('<option value="Lukas Schmidt"') == 2  # the consent's and the withdrawal's party


def test_gaps_are_marked_on_the_case_page(table):
    """An agreement without an intake lists what is missing, in the marked box."""
    page = table.clients["coord-own"].get(f"/cases/{OLD_CASE}").text
    box = re.search(r'<section class="gaps-box".*?</section>', page, re.DOTALL).group(0)
    assert "Missing from the file" in box and "<li>no intake record</li>" in box
    assert "<li>no consent on file for Zoë Núñez</li>" in box


@pytest.mark.parametrize("role", ["director", "officer"])
def test_who_may_see_but_not_manage_gets_no_forms(table, role):
    """The director and the records officer see the case page without any form that records events."""
    page = table.clients[role].get(f"/cases/{CASE}").text
    assert "Aigerim Bekova" in page and "/events" not in page and "Record what happened" not in page


def test_a_closed_case_has_no_forms(site):
    """Once a case is closed its page says so instead of offering forms."""
    client = site.signed_in("mlee")
    assert post_event(client, csrf_of(client), "referral", date="2026-03-20", confirm="yes").status_code == 303
    page = client.get(f"/cases/{CASE}").text
    assert "outcome <strong>referred</strong>" in page and "/events" not in page
    assert "The case is closed: nothing more can be recorded" in page


FORMS = {
    "session": ({"date": "2026-03-24", "note": "Pre-conference with the responding party"},
                "session", "", "The session is recorded.", "awaiting-consent"),
    "consent": ({"date": "2026-03-13", "party": "Aigerim Bekova", "note": "Signed on paper"},
                "consent", "Aigerim Bekova", "The consent is recorded.", "awaiting-consent"),
    "measure": ({"date": "2026-03-25", "note": "No-contact directive"},
                "supportive-measure", "", "The supportive measure is recorded.", "awaiting-consent"),
    "withdrawal": ({"date": "2026-03-26", "party": "Lukas Schmidt", "confirm": "yes"},
                   "case-withdrawn", "Lukas Schmidt", "The withdrawal is recorded, and the case is closed.", "closed"),
    "referral": ({"date": "2026-03-27", "confirm": "yes", "note": "To the Title IX formal process"},
                 "case-referred", "", "The referral to the formal process is recorded", "closed"),
}


@pytest.mark.parametrize("form", FORMS)
def test_each_form_records_its_event_and_audits_it(site, form):
    """Each form records its event through CaseDesk, redirects with its notice, and leaves an audit entry by the coordinator."""
    fields, event, party, notice, phase = FORMS[form]
    client = site.signed_in("mlee")
    response = post_event(client, csrf_of(client), form, **fields)
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/cases/{CASE}?done=")
    page = client.get(response.headers["location"]).text
    assert f'<p class="notice" role="status">{notice}' in page
    timeline = case_of(site.ws)
    recorded = [e for e in timeline["events"] if e["event"] == event]
    assert [(e["date"], e["party"], e["note"]) for e in recorded] == [(fields["date"], party, fields.get("note", ""))]
    assert timeline["phase"] == phase
    entries = [e for e in site.audit(action="event") if e["actor"] == "mlee"]
    assert [(e["case_id"], e["details"]["event"], e["outcome"]) for e in entries] == [(CASE, event, "ok")]
    assert f"<strong>{event}</strong>" in page


def test_the_second_consent_moves_the_case_in_process(site):
    """Consent from both parties moves the case from awaiting-consent to in-process, as the header and history show."""
    client = site.signed_in("mlee")
    csrf = csrf_of(client)
    for party, date in (("Aigerim Bekova", "2026-03-13"), ("Lukas Schmidt", "2026-03-16")):
        consent_form = client.get(f"/cases/{CASE}").text.split('id="consent-party"')[1].split("</select>")[0]
        assert f'<option value="{party}" selected>' in consent_form  # the party still to consent comes first
        assert post_event(client, csrf, "consent", party=party, date=date).status_code == 303
    page = client.get(f"/cases/{CASE}").text
    assert '<dt>Phase</dt><dd><span class="status status-in-process">in-process</span>' in page
    assert page.count('<span class="status status-consent-given">given</span> 2026-03-1') == 2
    assert case_of(site.ws)["phase"] == "in-process"
    again = post_event(client, csrf, "consent", party="Lukas Schmidt", date="2026-03-16")
    assert again.headers["location"] == f"/cases/{CASE}?done=on-file"


def _refused(site, client, csrf, form: str, fields: dict[str, str], says: str, case_id: str = CASE) -> str:
    """Post ``form``; it is refused with ``says`` on the case's page, nothing is recorded, the values stay."""
    before = case_of(site.ws, case_id)["events"]
    response = post_event(client, csrf, form, case_id, **fields)
    assert response.status_code == 400, response.text[:300]
    assert says in error_text(response.text), error_text(response.text)
    assert f"<h1>Case {case_id}</h1>" in response.text
    assert case_of(site.ws, case_id)["events"] == before
    for leak in ("Traceback", 'File "', "pipeline/"):
        assert leak not in response.text
    return response.text


def test_refusals_are_shown_with_the_values_kept(site):
    """What the form lacks and what the case refuses (a future date, a withdrawn party's consent, a withdrawal
    after signing or of a closed case) come back as a plain error on the case page, the values still filled in."""
    client = site.signed_in("mlee")
    csrf = csrf_of(client)
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    page = _refused(site, client, csrf, "session", {"date": tomorrow, "note": "Planned <conference>"}, "is after today")
    assert f'id="session-date" name="date" type="date" required max="{dt.date.today()}" value="{tomorrow}"' in page
    assert ">Planned &lt;conference&gt;</textarea>" in page
    assert re.search(r'<h3 id="session-heading">A session</h3>\s*<p class="error" role="alert" id="session-error">', page)
    _refused(site, client, csrf, "session", {"date": "2026-02-30"}, "February 2026 has 28 days")
    _refused(site, client, csrf, "session", {"date": ""}, "Give the date")
    _refused(site, client, csrf, "measure", {"date": "2026-03-25"}, "Describe the supportive measure.")
    _refused(site, client, csrf, "consent", {"date": "2026-03-13", "party": "Somebody Else"}, "not a party of case")
    page = _refused(site, client, csrf, "withdrawal", {"date": "2026-03-26", "party": "Lukas Schmidt"},
                    "Tick the box to confirm that the party has withdrawn")
    assert '<option value="Lukas Schmidt" selected>' in page
    _refused(site, client, csrf, "referral", {"date": "2026-03-26"}, "Tick the box to confirm the referral")
    unknown = post_event(client, csrf, "reopened", date="2026-03-26")  # not one of the forms: never passed on
    assert unknown.status_code == 400 and "Use one of the forms" in error_text(unknown.text)
    assert case_of(site.ws)["events"] == []

    # a withdrawn party's consent (the case reopened after the withdrawal)
    assert post_event(client, csrf, "withdrawal", party="Lukas Schmidt", date="2026-03-20",
                      confirm="yes").status_code == 303
    _refused(site, client, csrf, "withdrawal", {"date": "2026-03-21", "party": "Aigerim Bekova", "confirm": "yes"},
             "was closed on 2026-03-20")  # withdrawal of a closed case: the page has no forms, the error shows
    with CaseDesk(OfficeSession(site.ws, Actor("mlee", via="test"))) as desk:
        desk.add_event(CASE, "reopened", dt.date(2026, 3, 22))
    _refused(site, client, csrf, "consent", {"date": "2026-03-23", "party": "Lukas Schmidt"},
             "withdrew from case ADR-2026-0150 on 2026-03-20")


def test_withdrawal_after_signing_is_refused(site):
    """Once the agreement is signed a party can no longer withdraw; the page says what to record instead."""
    with CaseDesk(OfficeSession(site.ws, Actor("mlee", via="test"))) as desk:
        desk.add_event(OLD_CASE, "signed", dt.date(2026, 11, 25))
    client = site.signed_in("mlee")
    _refused(site, client, csrf_of(client), "withdrawal",
             {"date": "2026-11-26", "party": "Zoë Núñez", "confirm": "yes"}, "can no longer withdraw", OLD_CASE)


@pytest.mark.parametrize("token", [None, "", "forged"])
def test_every_post_needs_the_csrf_token(site, token):
    """An event form or an upload without the session's CSRF token is refused (403) and changes nothing."""
    client = site.signed_in("mlee")
    before = case_of(site.ws)["events"]
    form = {**SESSION_FORM, **({"csrf": token} if token is not None else {})}
    assert client.post(f"/cases/{CASE}/events", data=form).status_code == 403
    assert upload(client, token, "progress.csv", EVENTS_CSV).status_code == 403
    assert case_of(site.ws)["events"] == before
    assert inbox_files(site.ws) == []


def test_an_event_from_another_site_is_refused(site):
    """A form posted from another origin is refused even with the right token."""
    client = site.signed_in("mlee")
    response = client.post(f"/cases/{CASE}/events", data={**SESSION_FORM, "csrf": csrf_of(client)},
                           headers={"Origin": "https://evil.example"})
    assert response.status_code == 403 and case_of(site.ws)["events"] == []


def test_a_refused_event_by_someone_who_may_only_see_is_audited(site):
    """The director's posted event is refused (403) and the refusal is in the audit log."""
    client = site.signed_in("pramam")
    assert client.post(f"/cases/{CASE}/events", data={**SESSION_FORM, "csrf": csrf_of(client)}).status_code == 403
    denied = site.audit(action="manage-case", actor="pramam")
    assert [(e["outcome"], e["details"]["case"]) for e in denied] == [("denied", CASE)]
    assert case_of(site.ws)["events"] == []


# --- upload --------------------------------------------------------------------------------------


def test_upload_puts_one_file_in_the_inbox_under_accords_name(site, converter):
    """An uploaded event file lands in the inbox once, under Accord's own name (the upload's name is never shown),
    is audited, and intake records its event on the case."""
    client = site.signed_in("mlee")
    hostile = '<img src=x onerror=alert(1)>progress.csv'
    response = upload(client, csrf_of(client), hostile, EVENTS_CSV)
    assert response.status_code == 303
    location = response.headers["location"]
    placed = re.fullmatch(r"/cases/upload\?file=(portal-[0-9T]+-[0-9a-f]{12}\.csv)&done=uploaded", location).group(1)
    [file] = inbox_files(site.ws)
    assert file.name == placed and file.read_bytes() == EVENTS_CSV
    page = client.get(location).text
    assert f'<span class="id">{placed}</span>' in page and "intake (accord watch) will take it" in page
    assert "<img" not in page and "progress.csv" not in page
    [entry] = site.audit(action="upload")
    assert (entry["actor"], entry["outcome"], entry["details"]["file"]) == ("mlee", "ok", placed)

    office = make_office(site.ws, converter)
    try:
        summary = office.process()
    finally:
        office.ingestor.close()
    assert [o.status.value for o in summary.outcomes] == ["events"]
    assert "Pre-conference (uploaded)" in client.get(f"/cases/{CASE}").text


def test_upload_of_a_case_file_takes_yaml(site):
    """A case document (.yaml) goes into the inbox with its kind kept."""
    client = site.signed_in("mlee")
    data = (EXAMPLES / "completion-letter.yaml").read_bytes()
    assert upload(client, csrf_of(client), "letter.YAML", data).status_code == 303
    [file] = inbox_files(site.ws)
    assert file.suffix == ".yaml" and file.read_bytes() == data


@pytest.mark.parametrize("name, data, says", [
    ("agreement.pdf", b"%PDF-1.7 not a case file", "Upload a case file (.yaml, .yml or .json) or an event file (.csv)."),
    ("notes.txt", b"case_id,event\n", "Upload a case file"),
    ("progress.csv.exe", EVENTS_CSV, "Upload a case file"),
    ("", b"", "Upload a case file"),
    ("empty.yaml", b"", "The file is empty."),
    ("blank.csv", b"  \n\n", "The file is empty."),
])
def test_upload_refuses_other_kinds_and_empty_files(site, name, data, says):
    """A file that is not a case or event file, or is empty, is refused on the upload page and never reaches the inbox."""
    client = site.signed_in("mlee")
    response = upload(client, csrf_of(client), name, data)
    assert response.status_code == 400
    assert says in error_text(response.text)
    assert inbox_files(site.ws) == []
    assert 'enctype="multipart/form-data"' in response.text  # the form is there to try again


def test_upload_over_the_portal_limit_is_refused_saying_the_limit(site):
    """A file larger than the portal's request limit is refused (413) with the limit named, and nothing is stored."""
    client = site.signed_in("mlee")
    big = EVENTS_CSV + b"#" * MAX_BODY
    response = upload(client, csrf_of(client), "big.csv", big)
    assert response.status_code == 413
    assert f"{MAX_BODY // 1024} KiB" in error_text(response.text)
    assert inbox_files(site.ws) == []
    assert f"smaller than {MAX_BODY // 1024} KiB" in client.get("/cases/upload").text


def test_upload_takes_one_file_only(site):
    """Two files in one upload are refused (400) and neither is stored."""
    client = site.signed_in("mlee")
    response = client.post("/cases/upload", data={"csrf": csrf_of(client)},
                           files=[("file", ("a.csv", EVENTS_CSV)), ("file", ("b.csv", EVENTS_CSV))])
    assert response.status_code == 400 and inbox_files(site.ws) == []


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "../catalog.db", "portal-x.csv"])
def test_upload_page_shows_only_names_accord_gives(table, name):
    """The upload page shows a name from its query string only if it is one Accord gives, so nothing else is echoed."""
    page = table.clients["coord-own"].get("/cases/upload", params={"done": "uploaded", "file": name}).text
    assert "In the inbox as" not in page and name not in page and "<script>alert" not in page


def test_upload_for_a_case_one_may_not_manage_is_refused(site):
    """coord-other (ADR-1999-*) may not put an event file for ADR-2026-0150 into the inbox."""
    client = site.signed_in("cora")
    response = upload(client, csrf_of(client), "progress.csv", EVENTS_CSV)
    assert response.status_code in (403, 404) and inbox_files(site.ws) == []


# --- destroyed cases and markup ------------------------------------------------------------------


LATER = dt.date(2034, 6, 1)


def test_a_destroyed_case_shows_its_tombstone(site, converter):
    """After its last record is disposed of, the case page shows the case tombstone (dates, outcome, counts), no names."""
    ws = site.ws
    with RetentionDesk(OfficeSession(ws, Actor("records")), today=lambda: LATER) as desk:
        desk.add_event(OLD_CASE, "closed", dt.date(2026, 11, 30))
        report = desk.sweep(LATER)
        assert report.proposal_id is not None
        desk.approve(report.proposal_id, converter, make_sealer(ws, ws.load_config()))
    page = site.signed_in("pramam").get(f"/cases/{OLD_CASE}")
    assert page.status_code == 200
    section = re.search(r'<section aria-labelledby="h-destroyed">.*?</section>', page.text, re.DOTALL).group(0)
    assert "Mediation" in section and "closed on 2026-11-30" in section and "2 parties" in section
    assert "Núñez" not in page.text and "O&#39;Brien" not in page.text
    assert "approved by records" in page.text  # the record's tombstone row


@pytest.mark.parametrize("role, path", [
    ("coord-own", "/cases"), ("coord-own", "/cases?closed=1&phase=closed"), ("coord-own", f"/cases/{CASE}"),
    ("coord-own", f"/cases/{OLD_CASE}"), ("coord-own", "/cases/upload"), ("director", "/cases"),
    ("director", f"/cases/{CASE}"), ("officer", f"/cases/{OTHER_CASE}"), ("coord-other", "/cases/upload"),
])
def test_no_inline_script_or_style(table, role, path):
    """The case pages carry no script, no inline style and no event handler attribute."""
    page = table.clients[role].get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for pattern in INLINE:
        assert not pattern.search(page.text), f"{pattern.pattern} in {path}"


def test_every_field_has_a_label(table):
    """Every input, select and textarea of the case page and the upload page is named by a label."""
    for path in (f"/cases/{CASE}", "/cases/upload", "/cases"):
        page = table.clients["coord-own"].get(path).text
        labels = set(re.findall(r'<label for="([^"]+)"', page))
        for tag, attrs in re.findall(r"<(input|select|textarea)\b([^>]*)>", page):
            if 'type="hidden"' in attrs or 'type="checkbox"' in attrs:
                continue
            field = re.search(r'id="([^"]+)"', attrs)
            assert field and field.group(1) in labels, f"{tag} {attrs} on {path}"
        assert len(re.findall(r'\bid="([^"]+)"', page)) == len(set(re.findall(r'\bid="([^"]+)"', page))), path
