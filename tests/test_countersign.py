"""Party-signed copies dropped into the inbox: checked, kept beside the sealed original, catalogued.

Real parts throughout: the resolution agreement as a PDF/A LibreOffice made (the stored one of
tests/data) sealed by the office, parties' certificates made with ``cryptography``, signatures made
with pyHanko, the executed copy checked again by pyHanko and by poppler's ``pdfsig``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import shutil
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader, PdfWriter

from pipeline.documents.pki import load_certificates
from pipeline.records import audit, countersign, fixity

from .helpers import (
    hidden,
    make_office,
    owner_session,
    party_certificate,
    party_signer,
    pdfsig,
    record_of,
    run_cli,
    sign_field,
    sign_in,
)

# --- the parties' PKI ------------------------------------------------------------------------------


@dataclasses.dataclass
class Parties:
    root_pem: Path
    zoe: signers.SimpleSigner
    daniel: signers.SimpleSigner
    morgan: signers.SimpleSigner
    stranger: signers.SimpleSigner
    """Self-signed: chains to no configured root."""


@pytest.fixture(scope="module")
def parties(tmp_path_factory) -> Parties:
    folder = tmp_path_factory.mktemp("party-pki")
    root_key = ec.generate_private_key(ec.SECP256R1())
    root = party_certificate("Party Root CA", root_key, "Party Root CA", root_key, ca=True)
    root_pem = folder / "party-root.pem"
    root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))

    def party(cn: str) -> signers.SimpleSigner:
        key = ec.generate_private_key(ec.SECP256R1())
        return party_signer(party_certificate(cn, key, "Party Root CA", root_key, ca=False), key, [root])

    stranger_key = ec.generate_private_key(ec.SECP256R1())
    stranger = party_certificate("Mallory Stranger", stranger_key, "Mallory Stranger", stranger_key, ca=False)
    return Parties(root_pem, party("Zoë Núñez"), party("Daniel O'Brien"), party("Morgan Lee"),
                   party_signer(stranger, stranger_key, []))


@pytest.fixture
def signing_office(workspace, stored_converter, examples, parties):
    """A workspace trusting the parties' root, with the resolution agreement sealed (sig1, sig2, sigcoordinator)."""
    config = workspace.load_config()
    config = dataclasses.replace(config, seal=dataclasses.replace(config.seal, party_trust_roots=(str(parties.root_pem),)))
    office = make_office(workspace, stored_converter, config)
    shutil.copy(examples / "resolution-agreement.yaml", workspace.inbox)
    (outcome,) = office.process().outcomes
    assert outcome.status == "recorded", outcome
    yield office
    office.ingestor.close()


def _record(office) -> dict:
    return record_of(office, "resolution-agreement")


def _sealed(office) -> bytes:
    return (office.ws.root / _record(office)["pdf_path"]).read_bytes()


def _drop_one(office, name: str, data: bytes):
    office.drop(name, data)
    (outcome,) = office.process().outcomes
    return outcome


def _folder(office) -> Path:
    return (office.ws.root / _record(office)["pdf_path"]).parent


def _countersign_entries(office) -> list[dict]:
    rid = _record(office)["record_id"]
    return [e for e in audit.entries(office.ingestor.catalog.db.conn, record_id=rid, limit=100, newest_first=False)
            if e["action"] == "countersign"]


def _assert_rejected(office, outcome, *phrases: str) -> None:
    assert outcome.status == "failed", outcome
    assert outcome.step == "countersign", outcome
    for phrase in phrases:
        assert phrase in outcome.reason, outcome.reason
    reason_file = outcome.moved_to.with_name(outcome.moved_to.name + ".reason.txt")
    assert outcome.reason in reason_file.read_text(encoding="utf-8")
    record = _record(office)
    assert record["status"] == "sealed" and record["executed_path"] is None
    assert not list(_folder(office).glob("*.executed-*")), "nothing may be archived for a rejected copy"
    assert not countersign.signatures_for(office.ingestor.catalog, record["record_id"])


# --- the path that works ---------------------------------------------------------------------------

def test_two_parties_sign_in_turn(signing_office, parties, nss_db):
    """Copy 1 (sig1) makes the record partially signed; copy 2 (copy 1 + sig2 + sigcoordinator) executes it."""
    office = signing_office
    record = _record(office)
    rid, original = record["record_id"], _sealed(office)
    catalog = office.ingestor.catalog

    copy1 = sign_field(original, "sig1", parties.zoe)
    first = _drop_one(office, "agreement-signed-zoe.pdf", copy1)
    assert first.status == "signed", first
    assert first.record_id == rid and first.moved_to.parent.parent == office.ws.processed
    assert first.timings["countersign"] < 5, first.timings
    record = _record(office)
    assert record["status"] == "partially-signed"
    executed1 = _folder(office) / f"{rid}.executed-1.pdf"
    assert record["executed_path"] == str(executed1.relative_to(office.ws.root))
    assert record["executed_sha256"] == hashlib.sha256(copy1).hexdigest()
    assert executed1.read_bytes() == copy1

    copy2 = sign_field(sign_field(copy1, "sig2", parties.daniel), "sigcoordinator", parties.morgan)
    second = _drop_one(office, "agreement-signed-all.pdf", copy2)
    assert second.status == "signed", second
    record = _record(office)
    assert record["status"] == "executed"
    executed2 = _folder(office) / f"{rid}.executed-2.pdf"
    assert record["executed_path"] == str(executed2.relative_to(office.ws.root))
    assert record["executed_sha256"] == hashlib.sha256(copy2).hexdigest()

    # The sealed original is kept, unchanged, and stays the record's archived PDF.
    assert record["pdf_path"].endswith(f"{rid}.pdf")
    assert _sealed(office) == original and hashlib.sha256(original).hexdigest() == record["sha256"]
    for path in (executed1, executed2):
        assert stat.S_IMODE(path.stat().st_mode) == 0o440, path
    assert not list(_folder(office).glob(".*")), "no temporary file is left in the record folder"

    rows = countersign.signatures_for(catalog, rid)
    assert [(r["field"], r["signer"], r["trusted"], r["version"]) for r in rows] == [
        ("sig1", "Zoë Núñez", 1, 1), ("sig2", "Daniel O'Brien", 1, 2), ("sigcoordinator", "Morgan Lee", 1, 2)]
    assert rows[0]["executed_sha256"] == hashlib.sha256(copy1).hexdigest()
    assert {r["executed_sha256"] for r in rows[1:]} == {hashlib.sha256(copy2).hexdigest()}
    assert rows[0]["signer_cert_sha256"] == parties.zoe.signing_cert.sha256.hex()
    assert all(r["signing_time"] and r["received_at"] and r["executed_path"] for r in rows)

    entries = _countersign_entries(office)
    assert [e["details"]["fields"] for e in entries] == [["sig1"], ["sig2", "sigcoordinator"]]
    assert entries[1]["details"]["signers"] == ["Daniel O'Brien", "Morgan Lee"]
    assert entries[1]["details"]["trusted"] == [True, True]
    assert entries[1]["details"]["sha256"] == hashlib.sha256(copy2).hexdigest()
    assert audit.verify_chain(catalog.db.conn).first_broken is None

    # The executed copy validates in pyHanko: every signature intact, the seal still allowing what followed.
    reader = PdfFileReader(io.BytesIO(executed2.read_bytes()))
    office_roots = load_certificates(office.root_cert)
    party_roots = load_certificates(parties.root_pem)
    by_field = {s.field_name: s for s in reader.embedded_regular_signatures}
    assert set(by_field) == {"seal", "sig1", "sig2", "sigcoordinator"}
    seal = validate_pdf_signature(by_field["seal"], ValidationContext(trust_roots=office_roots, allow_fetching=False))
    assert seal.intact and seal.valid and seal.trusted and seal.docmdp_ok
    assert seal.modification_level == ModificationLevel.FORM_FILLING
    for name in ("sig1", "sig2", "sigcoordinator"):
        status = validate_pdf_signature(by_field[name], ValidationContext(trust_roots=party_roots, allow_fetching=False))
        assert status.intact and status.valid and status.trusted, (name, status.pretty_print_details())

    # ... and in pdfsig (which exits 0 even on a digest mismatch, so its text is read).
    report = pdfsig(executed2, nss_db)
    assert report.count("Signature is Valid") == 4, report
    assert "Digest Mismatch" not in report

    # accord verify is unchanged: it checks the sealed original, which still verifies.
    with owner_session(office.ws) as session:
        (verified,) = session.verify(rid)
    assert verified.ok, verified.problems


# --- what is refused -------------------------------------------------------------------------------

def test_changed_page_is_rejected(signing_office, parties):
    """Text added to page 0 in an incremental update, then signed: the seal does not allow it."""
    office = signing_office
    writer = IncrementalPdfFileWriter(io.BytesIO(_sealed(office)))
    stream = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 72 Td (All terms void) Tj ET")
    writer.add_stream_to_page(0, writer.add_object(stream))
    edited = io.BytesIO()
    writer.write(edited)
    outcome = _drop_one(office, "edited.pdf", sign_field(edited.getvalue(), "sig1", parties.zoe))
    _assert_rejected(office, outcome, "changed after the office seal", "OTHER")


def test_copy_rebuilt_without_the_seal_is_rejected(signing_office, parties):
    """The pages rebuilt by pypdf (metadata kept, seal gone) and signed afresh: not the sealed bytes."""
    office = signing_office
    source = PdfReader(io.BytesIO(_sealed(office)))
    writer = PdfWriter()
    for page in source.pages:
        writer.add_page(page)
    writer.add_metadata({"/Subject": source.metadata["/Subject"], "/Keywords": source.metadata["/Keywords"]})
    rebuilt = io.BytesIO()
    writer.write(rebuilt)
    outcome = _drop_one(office, "rebuilt.pdf", sign_field(rebuilt.getvalue(), "sig1", parties.zoe))
    _assert_rejected(office, outcome, f"not a signed copy of record {_record(office)['record_id']}", "rebuilt")


def test_signature_in_a_field_not_offered_is_rejected(signing_office, parties):
    """A new invisible field passes pyHanko's analysis as form filling; Accord compares field names."""
    office = signing_office
    copy = sign_field(_sealed(office), "extra", parties.zoe, new_field=fields.SigFieldSpec("extra"))
    reader = PdfFileReader(io.BytesIO(copy))
    seal = next(s for s in reader.embedded_regular_signatures if s.field_name == "seal")
    status = validate_pdf_signature(seal, ValidationContext(trust_roots=load_certificates(office.root_cert)))
    assert status.modification_level == ModificationLevel.FORM_FILLING  # why the field names are compared
    outcome = _drop_one(office, "extra-field.pdf", copy)
    _assert_rejected(office, outcome, "extra", "does not offer", "sig1, sig2, sigcoordinator")


def test_pdf_naming_no_record_or_an_unknown_one_is_rejected(signing_office):
    """A PDF whose metadata names no record, one naming a record that does not exist, and a file that is not a PDF are
    each rejected at step countersign with the reason, and nothing is archived."""
    office = signing_office
    for name, subject, phrase in (
        ("no-record.pdf", None, "names no Accord record"),
        ("unknown-record.pdf", "Accord record ADR-2099-0001-deadbeef", "matches no record"),
    ):
        writer = PdfWriter()
        writer.add_blank_page(612, 792)
        if subject:
            writer.add_metadata({"/Subject": subject})
        out = io.BytesIO()
        writer.write(out)
        outcome = _drop_one(office, name, out.getvalue())
        _assert_rejected(office, outcome, phrase)
    outcome = _drop_one(office, "not-a-pdf.pdf", b"template: resolution-agreement\n")
    _assert_rejected(office, outcome, "not a PDF")
    failures = office.ingestor.catalog.db.execute("SELECT step FROM failures").fetchall()
    assert [f[0] for f in failures] == ["countersign"] * 3


def test_copy_of_an_earlier_version_is_rejected(signing_office, parties):
    """Once sig1 is in, a copy signed on the sealed original would drop it: sign the executed copy instead."""
    office = signing_office
    original = _sealed(office)
    assert _drop_one(office, "zoe.pdf", sign_field(original, "sig1", parties.zoe)).status == "signed"
    outcome = _drop_one(office, "daniel-on-the-original.pdf", sign_field(original, "sig2", parties.daniel))
    assert outcome.status == "failed" and "earlier version" in outcome.reason, outcome
    assert "executed-1.pdf" in outcome.reason
    assert _record(office)["status"] == "partially-signed"
    assert len(countersign.signatures_for(office.ingestor.catalog, _record(office)["record_id"])) == 1


# --- trust and repeats -----------------------------------------------------------------------------

def test_untrusted_signer_is_recorded_as_untrusted(signing_office, parties):
    """A sound signature from a certificate no configured root vouches for: taken in, flagged."""
    office = signing_office
    outcome = _drop_one(office, "stranger.pdf", sign_field(_sealed(office), "sig1", parties.stranger))
    assert outcome.status == "signed", outcome
    assert "NOT trusted" in outcome.reason
    note = outcome.moved_to.with_name(outcome.moved_to.name + ".note.txt").read_text(encoding="utf-8")
    assert "party_trust_roots" in note
    record = _record(office)
    assert record["status"] == "partially-signed"
    (row,) = countersign.signatures_for(office.ingestor.catalog, record["record_id"])
    assert (row["field"], row["signer"], row["trusted"]) == ("sig1", "Mallory Stranger", 0)
    (entry,) = _countersign_entries(office)
    assert entry["details"]["trusted"] == [False]


def test_same_signed_copy_twice_is_a_duplicate(signing_office, parties):
    """The same signed copy dropped twice is taken in once: the second is a duplicate with a note, and no second
    executed copy, signature row or audit entry is made."""
    office = signing_office
    copy = sign_field(_sealed(office), "sig1", parties.zoe)
    assert _drop_one(office, "signed.pdf", copy).status == "signed"
    again = _drop_one(office, "signed-again.pdf", copy)
    assert again.status == "duplicate", again
    assert again.record_id == _record(office)["record_id"]
    assert again.moved_to.with_name(again.moved_to.name + ".note.txt").is_file()
    assert [p.name for p in _folder(office).glob("*.executed-*")] == [f"{_record(office)['record_id']}.executed-1.pdf"]
    assert len(countersign.signatures_for(office.ingestor.catalog, _record(office)["record_id"])) == 1
    assert len(_countersign_entries(office)) == 1


def test_sealed_original_dropped_back_is_rejected(signing_office):
    """The sealed original dropped back into the inbox without a party's signature is rejected as carrying none."""
    office = signing_office
    outcome = _drop_one(office, "unsigned.pdf", _sealed(office))
    _assert_rejected(office, outcome, "carries no party signature")


def test_signature_rows_go_with_their_record(signing_office, parties):
    """Signature rows reference their record: deleting the row (as disposition does) removes them."""
    office = signing_office
    catalog = office.ingestor.catalog
    assert ("signatures", "0001_signatures") in {tuple(r) for r in catalog.db.execute(
        "SELECT migration_set, name FROM _sqlite_migrations")}
    assert {"executed_path", "executed_sha256"} <= {r[1] for r in catalog.db.execute("PRAGMA table_info(records)")}
    assert _drop_one(office, "zoe.pdf", sign_field(_sealed(office), "sig1", parties.zoe)).status == "signed"
    rid = _record(office)["record_id"]
    with catalog.transaction() as conn:
        conn.execute("DELETE FROM records WHERE record_id = ?", [rid])
    assert countersign.signatures_for(catalog, rid) == []


# --- handing over the party-signed copy --------------------------------------------------------------


def _trust_parties_in_config(office, parties) -> None:
    """Write the party root into the workspace's accord.yaml, as an office would."""
    path = office.ws.config_file
    text = path.read_text(encoding="utf-8")
    assert "party_trust_roots: []" in text
    path.write_text(text.replace("party_trust_roots: []", f"party_trust_roots: ['{parties.root_pem}']"), "utf-8")


def _owner_session(office):
    from pipeline.governance.access import Actor, folder_owner
    from pipeline.office import OfficeSession

    return OfficeSession(office.ws, Actor(folder_owner(office.ws.root)))


def _executed(office, parties) -> bytes:
    copy = sign_field(sign_field(sign_field(_sealed(office), "sig1", parties.zoe), "sig2", parties.daniel), "sigcoordinator",
                 parties.morgan)
    assert _drop_one(office, "signed.pdf", copy).status == "signed"
    return copy


def test_executed_copy_is_handed_over_verified(signing_office, parties):
    """The executed copy is handed over byte for byte with every signature (seal, both parties, the coordinator)
    verified, the sealed original is still handed over as sealed, and each release is recorded with the copy it was."""
    office = signing_office
    _trust_parties_in_config(office, parties)
    copy = _executed(office, parties)
    rid = _record(office)["record_id"]
    with _owner_session(office) as session:
        got = session.retrieve(rid, "Enforcement of the agreement", executed=True)
        sealed = session.retrieve(rid, "Compare with the original")
    assert got.data == copy and got.report.ok
    assert {s.field for s in got.report.signatures} == {"seal", "sig1", "sig2", "sigcoordinator"}
    assert sealed.data == _sealed(office)
    released = [(d["purpose"], d["details"]["copy"], d["details"]["released"])
                for d in audit.disclosures(office.ingestor.catalog.db.conn, rid) if d["action"] == "retrieve"]
    assert released == [("Enforcement of the agreement", "executed", f"{rid}.executed-1.pdf"),
                        ("Compare with the original", "sealed", f"{rid}.pdf")]


def test_untrusted_party_does_not_stop_the_release_but_a_changed_copy_does(signing_office, parties):
    """An executed copy signed by a party no root vouches for is still handed over, flagged untrusted, but once a byte
    of it changes it is refused and the refusal is recorded."""
    from pipeline.errors import VerificationFailed

    office = signing_office
    copy = sign_field(_sealed(office), "sig1", parties.stranger)
    assert _drop_one(office, "stranger.pdf", copy).status == "signed"
    rid = _record(office)["record_id"]
    with _owner_session(office) as session:
        got = session.retrieve(rid, "Review", executed=True)
        assert got.data == copy
        assert [s.trusted for s in got.report.signatures if s.field == "sig1"] == [False]

        path = office.ws.root / _record(office)["executed_path"]
        path.chmod(0o640)
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
        with pytest.raises(VerificationFailed, match="not handed over"):
            session.retrieve(rid, "Review again", executed=True)
    refused = [d for d in audit.disclosures(office.ingestor.catalog.db.conn, rid) if d["outcome"] == "refused"]
    assert refused and refused[-1]["details"]["copy"] == "executed"


def test_no_executed_copy_yet_is_refused_with_the_reason(signing_office):
    """Asking for the executed copy of a record no party has signed yet is refused, saying so."""
    from pipeline.errors import VerificationFailed

    office = signing_office
    with _owner_session(office) as session:
        with pytest.raises(VerificationFailed, match="no party has signed it yet"):
            session.retrieve(_record(office)["record_id"], "Enforcement", executed=True)


@pytest.mark.usefixtures("quick_argon2")  # about the executed copy, not the hash's cost
def test_portal_and_cli_hand_over_the_executed_copy(signing_office, parties, tmp_path):
    """accord get --executed and the portal's download of the executed copy both hand over the party-signed copy byte
    for byte, the portal under a file name that says it is the executed one."""
    from starlette.testclient import TestClient

    from pipeline.governance.access import folder_owner, grant
    from pipeline.governance.accounts import Accounts
    from pipeline.portal.app import create_app

    office = signing_office
    _trust_parties_in_config(office, parties)
    copy = _executed(office, parties)
    rid = _record(office)["record_id"]

    out = tmp_path / "signed.pdf"
    result = run_cli("get", rid, "-o", str(out), "--executed", "--purpose", "Enforcement",
                     "--workspace", str(office.ws.root))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == copy

    owner = folder_owner(office.ws.root)
    grant(office.ws.policies / "access.yaml", "counsel1", ("counsel",), workspace_owner=owner)
    with Accounts(office.ws.accounts, office.ws.load_config().portal) as accounts:
        accounts.add("counsel1", "counsel passphrase here")
    client = TestClient(create_app(office.ws), client=("127.0.0.1", 40000), follow_redirects=False)
    assert sign_in(client, "counsel1", "counsel passphrase here").status_code == 303
    page = client.get(f"/records/{rid}")
    assert f'/records/{rid}/download?copy=executed' in page.text and "Executed" in page.text
    form = client.get(f"/records/{rid}/download?copy=executed")
    assert 'name="copy" value="executed"' in form.text
    csrf = hidden(form.text, "csrf")
    answer = client.post(f"/records/{rid}/download", data={"csrf": csrf, "purpose": "Enforcement", "copy": "executed"})
    assert answer.status_code == 200 and answer.content == copy
    assert answer.headers["content-disposition"] == f'attachment; filename="{rid}.executed.pdf"'


def test_fixity_covers_the_party_signed_copies(signing_office, parties):
    """A changed or missing executed copy is found by the sweep's fixity check like the sealed original."""

    office = signing_office
    _executed(office, parties)
    record = _record(office)
    catalog = office.ingestor.catalog
    when = dt.date(2027, 1, 1)
    assert fixity.check(office.ws, catalog, when, 90, actor="root", everything=True).ok

    path = office.ws.root / record["executed_path"]
    path.chmod(0o640)
    path.write_bytes(path.read_bytes() + b"%")
    report = fixity.check(office.ws, catalog, when, 90, actor="root", everything=True)
    assert report.changed == [record["record_id"]] and not report.missing

    path.unlink()
    report = fixity.check(office.ws, catalog, when, 90, actor="root", everything=True)
    assert report.missing == [record["record_id"]]
