"""Ids and hashes survive text extraction from every document Accord generates.

A records officer copies a record id or a SHA-256 out of a sealed PDF, or searches the PDF for
it, so ``pdftotext -enc UTF-8 file.pdf -`` must give each one back exactly: on one line, not
wrapped at a hyphen (pdftotext joins such lines and drops the hyphen) nor cut into pieces. Each
document goes the way the code sends it: python-docx or docxtpl, the real LibreOffice, the office
seal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from pipeline.documents.seal import make_sealer
from pipeline.governance import disposition
from pipeline.governance.access import Actor
from pipeline.office import OfficeSession, RetentionDesk

from .helpers import copy_workspace, pdftotext, record_of

OFFICE = "Office of Alternative Dispute Resolution"
WHEN = dt.datetime(2034, 1, 2, 10, 15, 30, tzinfo=dt.timezone.utc)
PROPOSAL = {"id": 12, "created_at": "2034-01-01T09:00:00+00:00", "proposed_by": "records.officer",
            "as_of": "2034-01-01"}


def whole(value: str, text: str) -> int:
    """How many times ``value`` occurs in ``text`` as a whole token (no letter, digit or hyphen glued on)."""
    return len(re.findall(rf"(?<![\w-]){re.escape(value)}(?![\w-])", text))


def on_one_line(value: str, text: str) -> bool:
    return any(value in line for line in text.splitlines())


def missing(values: list[str], text: str) -> list[str]:
    """The values that do not come out of the text whole, each on one line."""
    return [v for v in values if not whole(v, text) or not on_one_line(v, text)]


def item(record_id: str, record_class: str, case_id: str, rule: str, due: str) -> dict[str, str]:
    """A proposal item as disposition.proposal gives it (the fields the certificate prints)."""
    return {"record_id": record_id, "record_class": record_class, "case_id": case_id,
            "sha256": hashlib.sha256(record_id.encode()).hexdigest(), "rule": rule, "due_date": due}


@pytest.fixture(scope="module")
def certificate(sealed_office, converter, tmp_path_factory) -> tuple[Path, list[dict[str, str]], str]:
    """A sealed certificate of disposition listing the two example records and two with long classes."""
    ws = copy_workspace(sealed_office.pristine, tmp_path_factory.mktemp("certificate") / "ws")
    real = [record_of(sealed_office, template) for template in ("resolution-agreement", "mou")]
    items = [
        {**item(r["record_id"], r["record_class"], r["case_id"], f"{r['record_class']}: destroy 7 years after "
                "case-closed", "2033-12-15"), "sha256": r["sha256"]} for r in real
    ] + [
        item("DISPOSITION-2026-03-02-4-9c1f04aa", "disposition-certificate", "DISPOSITION-4",
             "disposition-certificate: destroy 10 years after created", "2036-03-02"),
        {**item("FAILURES-2027-01-05-b71e3d20", "failure-report", "FAILURES-2027",
                "failure-report: destroy 1 year after created", "2028-01-05"),
         "sha256": "db" * 32},  # Calibri's widest hex digits: the longest a SHA-256 can be on the page
    ]
    results = dict(zip([i["record_id"] for i in items], ["destroyed", "transferred", "skipped: on legal hold",
                                                         "destroyed"]))
    record_id = "DISPOSITION-2034-01-02-12-5d41402a"
    docx = disposition.certificate_docx(PROPOSAL, items, results, "counsel.approver", OFFICE, WHEN)
    # the way office.RetentionDesk makes a certificate: LibreOffice, then the office seal
    pdf = make_sealer(ws, ws.load_config()).seal(converter.convert(docx), record_id).pdf
    path = tmp_path_factory.mktemp("certificate-pdf") / "certificate.pdf"
    path.write_bytes(pdf)
    return path, items, record_id


def test_certificate_ids_classes_hashes_and_rules_come_out_whole(certificate):
    """Every record id, class, case id, SHA-256 and rule of a certificate of disposition is extracted exactly."""
    path, items, _ = certificate
    text = pdftotext(path)
    for i in items:
        values = [i["record_id"], i["record_class"], i["case_id"], i["sha256"], i["rule"], i["due_date"]]
        assert missing(values, text) == [], f"broken in the extracted text:\n{text}"


def test_certificate_states_outcomes_and_facts(certificate):
    """The certificate's text states each record's outcome and the proposal's facts, each on one line."""
    path, _, record_id = certificate
    text = pdftotext(path)
    facts = ["destroyed", "transferred", "skipped: on legal hold", "records.officer", "counsel.approver",
             "2034-01-01", "2034-01-02T10:15:30+00:00", record_id]
    assert missing(facts, text) == [], text
    assert "Certificate of disposition" in text and OFFICE in text


def test_certificate_keeps_the_seal_place(certificate):
    """The redesigned certificate still has its seal drawn (the stamp names the certificate's record id)."""
    path, _, record_id = certificate
    reader = PdfReader(path)
    widgets = [a.get_object() for page in reader.pages for a in page.get("/Annots", [])]
    seals = [w for w in widgets if w.get("/FT") == "/Sig"]
    assert seals and any("/AP" in w for w in seals), "the office seal has no visible stamp"
    assert whole(record_id, pdftotext(path)) >= 1


def test_approved_disposal_certificate_comes_out_whole(sealed_office, converter, tmp_path):
    """A certificate made by a real approval (the agreement destroyed) gives back its id, class, case and hash."""
    ws = copy_workspace(sealed_office.pristine, tmp_path / "ws")
    with RetentionDesk(OfficeSession(ws, Actor("root")), today=lambda: dt.date(2034, 1, 1)) as desk:
        agreement = next(r for r in desk.catalog.all_records() if r["template"] == "resolution-agreement")
        desk.add_event(agreement["case_id"], "closed", dt.date(2026, 12, 15))
        sealer = make_sealer(ws, ws.load_config())
        swept = desk.sweep(dt.date(2034, 1, 1), converter=converter, sealer=sealer)
        executed = desk.approve(swept.proposal_id, converter, sealer)
        certificate = desk.catalog.find(executed.certificate_record_id)
    assert executed.results == {agreement["record_id"]: "destroyed"}
    text = pdftotext(ws.root / certificate["pdf_path"])
    values = [agreement["record_id"], agreement["record_class"], agreement["case_id"], agreement["sha256"],
              certificate["record_id"], "destroyed"]
    assert missing(values, text) == [], text


def test_anchor_head_hash_comes_out_whole(sealed_office, converter, tmp_path):
    """The audit anchor's head hash (64 hex digits) is extracted exactly, on one line."""
    ws = copy_workspace(sealed_office.pristine, tmp_path / "ws")
    session = OfficeSession(ws, Actor("root"))
    try:
        written = session.write_anchor(converter, make_sealer(ws, ws.load_config()))
    finally:
        session.close()
    text = pdftotext(written.path)
    assert missing([written.head_hash, str(written.head_seq)], text) == [], text


@pytest.mark.parametrize("template", ["resolution-agreement", "mou"])
def test_template_record_ids_come_out_whole(lo_sealed_office, template):
    """A sealed agreement's record id (in every page's footer) and case id are extracted exactly."""
    record = record_of(lo_sealed_office, template)
    path = lo_sealed_office.pristine / record["pdf_path"]
    text = pdftotext(path)
    assert missing([record["record_id"], record["case_id"]], text) == [], text
    # the footer of every page, and the seal's stamp
    assert whole(record["record_id"], text) >= record["pages"] + 1, text


def test_whole_token_check_catches_a_broken_id():
    """The check itself: an id wrapped at a hyphen (as pdftotext joins it) or cut in two is not found."""
    assert whole("ADR-2026-0203-aac3f264", "x ADR-2026-0203-aac3f264 y") == 1
    assert missing(["ADR-2026-0203-aac3f264"], "ADR-20260203-aac3f264") == ["ADR-2026-0203-aac3f264"]
    assert missing(["resolution-agreement"], "resolution-\nagreement") == ["resolution-agreement"]
    assert whole("ADR-2026-0203", "ADR-2026-0203-aac3f264") == 0
