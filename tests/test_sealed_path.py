"""End to end: an example case file becomes a sealed PDF/A record, checked by pyHanko and by pdfsig.

The examples go the whole way here, the real LibreOffice included (``lo_sealed_office``, ``lo_office``):
what is on the record's pages is read back. The stored PDFs the other modules convert with are
checked against what LibreOffice makes today in test_convert.py."""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader

from pipeline.documents.pki import load_certificates
from pipeline.documents.trust import TrustRoots
from pipeline.errors import VerificationFailed
from pipeline.records.verify import check_signatures

from .helpers import EXAMPLES, owner_session, pdfsig, pdftotext, record_of, words


def _pdf(office, template: str) -> Path:
    return office.ws.root / record_of(office, template)["pdf_path"]


def _context(office) -> ValidationContext:
    return ValidationContext(trust_roots=load_certificates(office.root_cert), allow_fetching=False)


class TestSealedRecord:
    @pytest.mark.parametrize("template", ["resolution-agreement", "mou"])
    def test_seal_validates_in_pyhanko(self, lo_sealed_office, template):
        """The office seal is intact, valid, trusted against the workspace root and certifies with form filling allowed."""
        reader = PdfFileReader(io.BytesIO(_pdf(lo_sealed_office, template).read_bytes()))
        (seal,) = reader.embedded_signatures
        status = validate_pdf_signature(seal, signer_validation_context=_context(lo_sealed_office))
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert seal.docmdp_level == fields.MDPPerm.FILL_FORMS
        assert status.bottom_line

    @pytest.mark.parametrize("template", ["resolution-agreement", "mou"])
    def test_seal_validates_in_pdfsig(self, lo_sealed_office, nss_db, template):
        """poppler's pdfsig, an independent validator, reports the seal valid and the certificate trusted."""
        report = pdfsig(_pdf(lo_sealed_office, template), nss_db)
        assert "Signature Validation: Signature is Valid." in report, report
        assert "Certificate Validation: Certificate is Trusted." in report, report
        assert "Digest Mismatch" not in report

    @pytest.mark.parametrize("template", ["resolution-agreement", "mou"])
    def test_pdfa_2b_declared(self, lo_sealed_office, template):
        """The PDF declares PDF/A-2b in its XMP metadata."""
        reader = PdfReader(_pdf(lo_sealed_office, template))
        xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
        assert re.search(r"pdfaid:part(>|=\")2", xmp), xmp[:500]
        assert re.search(r"pdfaid:conformance(>|=\")B", xmp)

    def test_text_as_typed(self, lo_sealed_office):
        """Names and hostile characters come out of the PDF exactly as typed."""
        text = words(pdftotext(_pdf(lo_sealed_office, "resolution-agreement")))
        for expected in ("Zoë Núñez", "Daniel O'Brien", "Facilities & Grounds <North Campus>", "ADR-2026-0142"):
            assert expected in text
        assert "Tomás Álvarez" in words(pdftotext(_pdf(lo_sealed_office, "mou")))

    def test_metadata_names_the_record(self, lo_sealed_office):
        """Record id, case id and template are in the PDF's metadata."""
        record = record_of(lo_sealed_office, "resolution-agreement")
        info = PdfReader(_pdf(lo_sealed_office, "resolution-agreement")).metadata
        assert record["record_id"] in info["/Subject"]
        assert record["case_id"] in info["/Keywords"] and "resolution-agreement" in info["/Keywords"]

    def test_signature_fields_for_every_signatory(self, lo_sealed_office):
        """The sealed PDF offers an empty signature field to each party and the coordinator."""
        record = record_of(lo_sealed_office, "resolution-agreement")
        assert record["signature_fields"] == ["sig1", "sig2", "sigcoordinator"]
        reader = PdfFileReader(io.BytesIO(_pdf(lo_sealed_office, "resolution-agreement").read_bytes()))
        names = {name for name, value, _ in fields.enumerate_sig_fields(reader, filled_status=False)}
        assert {"sig1", "sig2", "sigcoordinator"} <= names
        assert len(record_of(lo_sealed_office, "mou")["signature_fields"]) == 2

    def test_archive_files_read_only(self, lo_sealed_office):
        """The archived PDF and the source case file are read-only and the source is byte-identical."""
        record = record_of(lo_sealed_office, "resolution-agreement")
        pdf = lo_sealed_office.ws.root / record["pdf_path"]
        source = lo_sealed_office.ws.root / record["source_path"]
        for path in (pdf, source):
            assert stat.S_IMODE(path.stat().st_mode) == 0o440
        assert source.read_bytes() == (EXAMPLES / "resolution-agreement.yaml").read_bytes()

    def test_inputs_moved_to_processed(self, lo_sealed_office):
        """Inputs leave the inbox for a dated processed folder; staging is empty."""
        processed = sorted(p.name for p in lo_sealed_office.ws.processed.rglob("*.yaml"))
        assert processed == ["mou.yaml", "resolution-agreement.yaml"]
        assert not any(lo_sealed_office.ws.staging.rglob("*.yaml"))

    def test_pki_private(self, lo_sealed_office):
        """The office key, its passphrase and the PKI folder are readable by the owner only."""
        pki = lo_sealed_office.ws.pki
        assert stat.S_IMODE(pki.stat().st_mode) == 0o700
        for path in pki.iterdir():
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


class TestPartySignatures:
    def test_party_signing_keeps_seal(self, lo_sealed_office, tmp_path, party_signer):
        """A party signing an empty field leaves the office seal valid and the change allowed."""
        pdf = _pdf(lo_sealed_office, "resolution-agreement").read_bytes()
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        out = io.BytesIO()
        signers.PdfSigner(
            signers.PdfSignatureMetadata(field_name="sig1", md_algorithm="sha256"), signer=party_signer
        ).sign_pdf(writer, output=out)
        reader = PdfFileReader(io.BytesIO(out.getvalue()))
        seal, party = reader.embedded_signatures
        status = validate_pdf_signature(seal, signer_validation_context=_context(lo_sealed_office))
        assert status.intact and status.valid and status.docmdp_ok, status.pretty_print_details()
        assert status.modification_level == ModificationLevel.FORM_FILLING
        party_root = party_signer.signing_cert
        party_status = validate_pdf_signature(
            party, signer_validation_context=ValidationContext(trust_roots=[party_root], allow_fetching=False)
        )
        assert party_status.intact and party_status.valid

    def test_changing_page_text_breaks_seal(self, lo_sealed_office):
        """Adding text to a page after sealing is caught: the seal no longer allows the document."""
        from pyhanko.pdf_utils import generic

        pdf = _pdf(lo_sealed_office, "resolution-agreement").read_bytes()
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf))
        stream = generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 72 Td (All terms void) Tj ET")
        writer.add_stream_to_page(0, writer.add_object(stream))
        out = io.BytesIO()
        writer.write(out)
        reports, problems = check_signatures(out.getvalue(), TrustRoots.of(lo_sealed_office.ws, lo_sealed_office.ws.load_config()))
        assert reports and not reports[0].ok
        assert any("changed after the signature" in p for p in problems), problems


class TestVerify:
    def test_verify_all_ok(self, lo_sealed_office):
        """Freshly sealed records verify: checksum and seal."""
        with owner_session(lo_sealed_office.ws) as session:
            reports = session.verify()
        assert len(reports) == 2 and all(r.ok for r in reports), [r.problems for r in reports]

    def test_changed_byte_fails_verify_and_get(self, lo_office, examples, tmp_path):
        """One byte changed in an archived PDF fails verification, and the file is not handed over."""
        office = lo_office
        shutil.copy(examples / "resolution-agreement.yaml", office.ws.inbox)
        (outcome,) = office.process().outcomes
        record = office.ingestor.catalog.get(outcome.record_id)
        pdf = office.ws.root / record["pdf_path"]
        os.chmod(pdf, 0o640)
        data = bytearray(pdf.read_bytes())
        index = data.find(b"Zo")  # inside page content or metadata; any signed byte will do
        index = index if index > 0 else len(data) // 3
        data[index] ^= 0x01
        pdf.write_bytes(bytes(data))
        with owner_session(office.ws) as session:
            (report,) = session.verify(outcome.record_id)
            assert not report.ok and not report.checksum_ok
            assert any("SHA-256 differs" in p for p in report.problems)
            with pytest.raises(VerificationFailed, match="not handed over"):
                session.retrieve(outcome.record_id, "Checking the archive")

    def test_get_hands_over_exact_bytes(self, lo_sealed_office):
        """A record that verifies is handed over byte for byte."""
        record = record_of(lo_sealed_office, "mou")
        with owner_session(lo_sealed_office.ws) as session:
            data = session.retrieve(record["record_id"], "Checking the archive").data
        assert data == (lo_sealed_office.ws.root / record["pdf_path"]).read_bytes()


@pytest.fixture(scope="module")
def party_signer():
    """A party's own certificate, from a root the office does not know."""
    import datetime as dt

    from asn1crypto import keys as asn1_keys
    from asn1crypto import x509 as asn1_x509
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Zoë Núñez")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return signers.SimpleSigner(
        signing_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        ),
        cert_registry=SimpleCertificateStore(),
    )
