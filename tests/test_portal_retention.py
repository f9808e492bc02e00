"""Dispositions through the portal: a records officer approves or rejects a sweep's proposal over
HTTP, the disposition is carried out by the library (the stored PDFs of tests/data for the
certificate, the real seal), and the sealed certificate is linked afterwards. Other roles cannot see or act on proposals."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from starlette.testclient import TestClient

from pipeline.documents.trust import TrustRoots
from pipeline.governance.access import Actor, grant
from pipeline.governance.accounts import Accounts
from pipeline.office import OfficeSession, RetentionDesk
from pipeline.portal.app import create_app
from pipeline.records.verify import check_signatures
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

from .helpers import PASSWORD, copy_workspace, hidden, sign_in

#: These tests are about dispositions, not the hash's cost.
pytestmark = pytest.mark.usefixtures("quick_argon2")

CASE = "ADR-2026-0142"
LATER = dt.date(2034, 1, 1)


@pytest.fixture
def ws(sealed_office, tmp_path) -> Workspace:
    ws = copy_workspace(sealed_office.pristine, tmp_path / "ws")
    for name, role in (("officer", "records-officer"), ("counsel", "counsel"), ("owner", "director")):
        grant(ws.policies / "access.yaml", name, (role,))
        with Accounts(ws.accounts, ws.load_config().portal) as accounts:
            accounts.add(name, PASSWORD)
    return ws


def propose(ws: Workspace) -> int:
    """The case is closed and a sweep far in the future proposes its agreement for disposition."""
    with RetentionDesk(OfficeSession(ws, Actor("officer")), today=lambda: LATER) as desk:  # that day has come
        desk.add_event(CASE, "closed", dt.date(2026, 12, 15))
        report = desk.sweep(LATER)
    assert report.proposal_id is not None
    return report.proposal_id


def signed_in(app, name: str) -> tuple[TestClient, str]:
    client = TestClient(app, client=("127.0.0.1", 40000), follow_redirects=False)
    answer = sign_in(client, name, next_="/proposals")
    assert answer.status_code == 303, answer.text
    page = client.get("/proposals")
    return client, hidden(page.text, "csrf") if 'name="csrf"' in page.text else ""


def test_officer_approves_and_the_certificate_follows(ws, stored_converter):
    """A records officer sees the proposal and the agreement it lists, approves it over HTTP, and the agreement is
    destroyed, a sealed and valid certificate of disposition is linked and opens, and a second approval is refused
    with a plain message."""
    proposal_id = propose(ws)
    app = create_app(ws, converter_factory=lambda: stored_converter)
    officer, csrf = signed_in(app, "officer")
    listing = officer.get("/proposals")
    assert listing.status_code == 200 and f"/proposals/{proposal_id}" in listing.text
    page = officer.get(f"/proposals/{proposal_id}")
    assert page.status_code == 200 and "Approve and carry out" in page.text
    with open_catalog(ws.catalog) as catalog:
        agreement = next(r for r in catalog.all_records() if r["case_id"] == CASE)
    assert agreement["record_id"] in page.text

    done = officer.post(f"/proposals/{proposal_id}/approve", data={"csrf": csrf})
    assert done.status_code == 303 and done.headers["location"] == f"/proposals/{proposal_id}?done=approved"
    after = officer.get(done.headers["location"])
    assert "The disposition was carried out" in after.text
    certificate_id = re.search(r'href="/records/(DISPOSITION-[^"]+)"', after.text).group(1)
    assert "Approve and carry out" not in after.text

    with open_catalog(ws.catalog) as catalog:
        assert catalog.find(agreement["record_id"]) is None
        certificate = catalog.find(certificate_id)
        tombstone = catalog.db.execute("SELECT approver FROM tombstones WHERE record_id = ?",
                                       [agreement["record_id"]]).fetchone()
    assert tombstone["approver"] == "officer"
    assert not (ws.root / agreement["pdf_path"]).exists()
    pdf = (ws.root / certificate["pdf_path"]).read_bytes()
    reports, problems = check_signatures(pdf, TrustRoots.of(ws, ws.load_config()))
    assert reports and all(r.ok for r in reports) and not problems

    # The certificate's record page opens for the officer, with its seal badge.
    shown = officer.get(f"/records/{certificate_id}")
    assert shown.status_code == 200 and "badge-" in shown.text
    # A second approval is refused with a plain message.
    again = officer.post(f"/proposals/{proposal_id}/approve", data={"csrf": csrf})
    assert again.status_code == 400 and "cannot be executed" in again.text


def test_officer_rejects_with_a_reason(ws):
    """A records officer's rejection without a reason is refused, one with a reason marks the proposal rejected by that
    officer, and the agreement stays."""
    proposal_id = propose(ws)
    app = create_app(ws)
    officer, csrf = signed_in(app, "officer")
    missing = officer.post(f"/proposals/{proposal_id}/reject", data={"csrf": csrf, "reason": "  "})
    assert missing.status_code == 400 and "Say why" in missing.text
    done = officer.post(f"/proposals/{proposal_id}/reject", data={"csrf": csrf, "reason": "Audit pending"})
    assert done.status_code == 303
    page = officer.get(f"/proposals/{proposal_id}")
    assert "rejected" in page.text and "Approve and carry out" not in page.text
    with open_catalog(ws.catalog) as catalog:
        row = catalog.db.execute("SELECT status, decided_by FROM proposals WHERE id = ?", [proposal_id]).fetchone()
        assert tuple(row) == ("rejected", "officer")
        assert sum(1 for r in catalog.all_records() if r["case_id"] == CASE) == 1


@pytest.mark.parametrize("who", ["counsel", "owner"])
def test_other_roles_cannot_see_or_decide_proposals(ws, who):
    """Counsel and the director are refused (403) the proposals' pages and their approval and rejection, and the
    proposal stays proposed."""
    proposal_id = propose(ws)
    app = create_app(ws)
    client, csrf = signed_in(app, who)
    assert client.get("/proposals").status_code == 403
    assert client.get(f"/proposals/{proposal_id}").status_code == 403
    assert client.post(f"/proposals/{proposal_id}/approve", data={"csrf": csrf}).status_code == 403
    assert client.post(f"/proposals/{proposal_id}/reject", data={"csrf": csrf, "reason": "x"}).status_code == 403
    with open_catalog(ws.catalog) as catalog:
        status = catalog.db.execute("SELECT status FROM proposals WHERE id = ?", [proposal_id]).fetchone()[0]
    assert status == "proposed"


def test_unknown_proposal_is_not_found(ws):
    """A proposal number that does not exist, or is not a number, answers 404."""
    app = create_app(ws)
    officer, _ = signed_in(app, "officer")
    assert officer.get("/proposals/999").status_code == 404
    assert officer.get("/proposals/abc").status_code == 404


def test_case_timeline_shows_events_and_records(ws):
    """A case's page shows its closure event and links its records, and an unknown case answers 404."""
    propose(ws)
    app = create_app(ws)
    officer, _ = signed_in(app, "officer")
    page = officer.get(f"/cases/{CASE}")
    assert page.status_code == 200
    assert "2026-12-15" in page.text and "closed" in page.text
    assert re.search(rf'href="/records/{CASE}-[0-9a-f]+"', page.text)
    assert officer.get("/cases/NO-SUCH-CASE").status_code == 404
