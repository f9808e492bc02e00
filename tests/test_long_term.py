"""Long-term seals against a real PKI service: B-LTA sealing, offline verification,
refusal of a revoked seal certificate, renewal of the archival time-stamp, pdfsig.

A module fixture writes a certomancer configuration (root, two time-stamp authorities,
an OCSP responder, the office seal certificate and a revoked one), with keys made
first as files, and serves it with ``certomancer animate`` on a free port of 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.pdf_utils.reader import PdfFileReader

from pipeline.config import load_config
from pipeline.documents.pki import load_certificates
from pipeline.documents.seal import make_sealer, make_timestamper, pdf_level
from pipeline.documents.trust import TrustRoots
from pipeline.errors import SealError
from pipeline.records.audit import entries as audit_entries
from pipeline.records.preserve import assess, preserve, renew
from pipeline.records.verify import long_term_verdict, verify_file
from pipeline.store import open_catalog
from pipeline.workspace import Workspace, init_workspace

from .helpers import free_port, make_office, pdfsig, record_of

CERTOMANCER = Path(sys.executable).with_name("certomancer")
ARCH = "accord"
#: Validity of the certificates, in days from today.
TSA_DAYS, TSA2_DAYS, SEAL_DAYS, CA_DAYS = 5 * 365, 20 * 365, 3 * 365, 30 * 365

pytestmark = pytest.mark.skipif(not CERTOMANCER.exists(), reason="certomancer[web-api] is not installed in the venv")


# --- the PKI service -------------------------------------------------------------------------------

def _pki_config(port: int, now: dt.datetime) -> dict:
    def iso(moment: dt.datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")

    def validity(days: int) -> dict:
        return {"valid-from": iso(now - dt.timedelta(days=1)), "valid-to": iso(now + dt.timedelta(days=days))}

    def usage(*params: str) -> dict:
        return {"id": "key_usage", "critical": True, "smart-value": {"schema": "key-usage", "params": list(params)}}

    aia = {"id": "authority_information_access",
           "smart-value": {"schema": "aia-urls", "params": {"ocsp-responder-names": ["root-ocsp"]}}}
    crl = {"id": "crl_distribution_points",
           "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": ["root"]}}}
    tsa_eku = {"id": "extended_key_usage", "critical": True, "value": ["time_stamping"]}
    return {
        "external-url-prefix": f"http://127.0.0.1:{port}",
        "keysets": {ARCH: {"path-prefix": "keys", "keys": {n: {"path": f"{n}.key.pem"} for n in _KEYS}}},
        "pki-architectures": {ARCH: {
            "keyset": ARCH,
            "entity-defaults": {"country-name": "US", "organization-name": "Accord Test PKI"},
            "entities": {
                "root": {"common-name": "Accord Test Root"}, "tsa": {"common-name": "Accord Test TSA"},
                "tsa2": {"common-name": "Accord Test TSA 2"}, "ocsp": {"common-name": "Accord Test OCSP"},
                "seal": {"common-name": "Office of ADR Seal"}, "revoked": {"common-name": "Revoked Office Seal"},
            },
            "certs": {
                "root": {"subject": "root", "issuer": "root", "serial": 1, "validity": validity(CA_DAYS),
                         "extensions": [{"id": "basic_constraints", "critical": True, "value": {"ca": True}},
                                        usage("digital_signature", "key_cert_sign", "crl_sign")]},
                "tsa": {"subject": "tsa", "issuer": "root", "serial": 2, "validity": validity(TSA_DAYS),
                        "extensions": [usage("digital_signature"), tsa_eku, aia, crl]},
                "tsa2": {"subject": "tsa2", "issuer": "root", "serial": 3, "validity": validity(TSA2_DAYS),
                         "extensions": [usage("digital_signature"), tsa_eku, aia, crl]},
                "ocsp": {"subject": "ocsp", "issuer": "root", "serial": 4, "validity": validity(CA_DAYS),
                         "extensions": [usage("digital_signature"),
                                        {"id": "extended_key_usage", "critical": True, "value": ["ocsp_signing"]},
                                        {"id": "ocsp_no_check"}]},
                "seal": {"subject": "seal", "issuer": "root", "serial": 5, "validity": validity(SEAL_DAYS),
                         "extensions": [usage("digital_signature", "non_repudiation"), aia, crl]},
                "revoked": {"subject": "revoked", "issuer": "root", "serial": 6, "validity": validity(SEAL_DAYS),
                            "revocation": {"revoked-since": iso(now - dt.timedelta(hours=12)),
                                           "reason": "key_compromise"},
                            "extensions": [usage("digital_signature", "non_repudiation"), aia, crl]},
            },
            "services": {
                "ocsp": {"root-ocsp": {"for-issuer": "root", "responder-cert": "ocsp", "signing-key": "ocsp"}},
                "crl-repo": {"root": {"for-issuer": "root", "signing-key": "root", "simulated-update-schedule": "P7D"}},
                "time-stamping": {"tsa": {"signing-key": "tsa", "signing-cert": "tsa"},
                                  "tsa2": {"signing-key": "tsa2", "signing-cert": "tsa2"}},
            },
        }},
    }


_KEYS = ("root", "tsa", "tsa2", "ocsp", "seal", "revoked")


@dataclass
class PkiService:
    folder: Path
    port: int
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tsa_url(self, label: str = "tsa") -> str:
        return f"{self.base}/{ARCH}/tsa/{label}"

    @property
    def root_pem(self) -> Path:
        return self.folder / "root.pem"

    def p12(self, label: str) -> Path:
        return self.folder / f"{label}.p12"

    def passphrase(self) -> Path:
        return self.folder / "p12.pass"

    def start(self) -> None:
        log = open(self.folder / "certomancer.log", "ab")  # noqa: SIM115  (the child writes to it)
        self.process = subprocess.Popen(
            [str(CERTOMANCER), "--config", str(self.folder / "pki.yml"), "animate", "--port", str(self.port),
             "--no-web-ui"],
            cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError((self.folder / "certomancer.log").read_text(errors="replace"))
            try:
                urllib.request.urlopen(f"{self.base}/{ARCH}/crls/root/latest.crl", timeout=1).read()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("certomancer did not answer within 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def reachable(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.base}/{ARCH}/crls/root/latest.crl", timeout=1).read()
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False


def _write_pki(folder: Path, port: int) -> None:
    """Keys as files first (certomancer only loads them), then the configuration, then the
    PKCS#12 files and root the workspace uses, from the very certificates the service serves."""
    from certomancer.registry import ArchLabel, CertLabel, CertomancerConfig

    (folder / "keys").mkdir(parents=True)
    keys = {}
    for name in _KEYS:
        keys[name] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (folder / "keys" / f"{name}.key.pem").write_bytes(keys[name].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    (folder / "pki.yml").write_text(yaml.safe_dump(_pki_config(port, now), sort_keys=False))
    arch = CertomancerConfig.from_file(str(folder / "pki.yml"), key_search_dir=str(folder)).get_pki_arch(ArchLabel(ARCH))

    def cert(label: str) -> x509.Certificate:
        return x509.load_der_x509_certificate(arch.get_cert(CertLabel(label)).dump())

    root = cert("root")
    (folder / "root.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    passphrase = b"correct horse battery staple"
    pass_file = folder / "p12.pass"
    pass_file.write_bytes(passphrase + b"\n")
    pass_file.chmod(0o600)
    for label in ("seal", "revoked"):
        (folder / f"{label}.p12").write_bytes(pkcs12.serialize_key_and_certificates(
            label.encode(), keys[label], cert(label), [root],
            serialization.BestAvailableEncryption(passphrase)))


@pytest.fixture(scope="module")
def pki_service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certomancer")
    service = PkiService(folder, free_port())
    _write_pki(folder, service.port)
    service.start()
    yield service
    service.stop()


# --- a workspace sealing at B-LTA ------------------------------------------------------------------

class _Recording:
    """The session's converter, keeping the last unsealed PDF (to seal again in other tests)."""

    def __init__(self, converter):
        self.converter = converter
        self.last: bytes | None = None

    def convert(self, docx: bytes) -> bytes:
        self.last = self.converter.convert(docx)
        return self.last


def _long_term_config(ws: Workspace, service: PkiService, *, seal: str = "seal", tsa: str = "tsa") -> None:
    data = yaml.safe_load(ws.config_file.read_text())
    data["seal"].update(
        certificate=str(service.p12(seal)), passphrase_file=str(service.passphrase()),
        extra_trust_roots=[str(service.root_pem)], timestamp_url=service.tsa_url(tsa), revocation=True,
    )
    ws.config_file.write_text(yaml.safe_dump(data, sort_keys=False))


@dataclass
class LongTermOffice:
    ws: Workspace
    record: dict
    unsealed: bytes
    seal_seconds: float

    @property
    def pdf(self) -> Path:
        return self.ws.root / self.record["pdf_path"]


@pytest.fixture(scope="module")
def lta_office(tmp_path_factory, pki_service, stored_converter, examples):
    """One example processed end to end by a workspace configured for long-term seals."""
    ws = init_workspace(tmp_path_factory.mktemp("lta") / "ws")
    _long_term_config(ws, pki_service)
    recording = _Recording(stored_converter)
    office = make_office(ws, recording, load_config(ws.config_file))
    shutil.copy(examples / "resolution-agreement.yaml", ws.inbox / "resolution-agreement.yaml")
    summary = office.process()
    assert [o.status for o in summary.outcomes] == ["recorded"], summary
    record = record_of(office, "resolution-agreement")
    office.ingestor.close()
    return LongTermOffice(ws, record, recording.last, summary.outcomes[0].timings["seal"])


def _verify(office: LongTermOffice, retention_end: dt.date | None = None):
    with open_catalog(office.ws.catalog) as catalog:
        record = catalog.get(office.record["record_id"])
    roots = TrustRoots.of(office.ws, office.ws.load_config())
    return verify_file(record["record_id"], office.ws.root / record["pdf_path"], record["sha256"],
                       record["signature_level"], roots, retention_end=retention_end)


def _years(n: int) -> dt.date:
    return dt.date.today() + dt.timedelta(days=round(365.25 * n))


# --- the tests ---------------------------------------------------------------------------------------

class TestLongTermSeal:
    def test_sealed_at_b_lta(self, lta_office):
        """With a time-stamp service and revocation on, the seal is PAdES B-LTA: a document
        time-stamp after the seal, OCSP/CRL data in the document security store."""
        data = lta_office.pdf.read_bytes()
        assert lta_office.record["signature_level"] == "B-LTA"
        assert pdf_level(data) == "B-LTA"
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        (seal,) = reader.embedded_regular_signatures
        (doc_ts,) = reader.embedded_timestamp_signatures
        assert doc_ts.signed_revision > seal.signed_revision
        dss = reader.root["/DSS"]
        revocation = len(dss.get("/OCSPs", [])) + len(dss.get("/CRLs", []))
        assert revocation >= 1 and len(dss["/Certs"]) >= 2
        assert lta_office.record["signature_fields"] and not any(
            f.startswith("Timestamp") for f in lta_office.record["signature_fields"])

    def test_verifies_offline(self, lta_office, pki_service):
        """With the PKI service stopped, the record verifies and the AdES-LTA verdict is OK
        from the file alone; ten years on, before any renewal, it would not (the first
        time-stamp authority's certificate ends after five)."""
        pki_service.stop()
        try:
            assert not pki_service.reachable()
            report = _verify(lta_office, retention_end=_years(3))
            assert report.ok, report.problems
            assert report.ltv_now == "OK", report.ltv_now_explanation
            assert report.ltv_at_retention_end == "OK", report.ltv_at_retention_end_explanation
            assert [s.level for s in report.signatures] == ["B-LTA"]
            (ts,) = report.timestamps
            assert ts.ok and "Accord Test TSA" in ts.tsa
            assert "B-LTA" in report.level_meaning

            later = _verify(lta_office, retention_end=_years(10))
            assert later.ok and later.ltv_now == "OK"
            assert later.ltv_at_retention_end != "OK"
            assert "accord preserve" in later.ltv_at_retention_end_explanation
            json.dumps(later.as_dict())
        finally:
            pki_service.start()

    def test_revoked_certificate_refused(self, lta_office, pki_service):
        """A revoked seal certificate is refused at sealing, with a sentence that says so."""
        config = lta_office.ws.load_config()
        revoked = dataclasses.replace(config, seal=dataclasses.replace(config.seal, certificate=str(pki_service.p12("revoked"))))
        sealer = make_sealer(lta_office.ws, revoked)
        with pytest.raises(SealError, match="office seal certificate is revoked"):
            sealer.seal(lta_office.unsealed, "ADR-TEST-REVOKED")

    def test_sealer_alone_is_b_lta(self, lta_office):
        """Sealing an already converted PDF gives B-LTA straight away (the fast way to make test records)."""
        sealed = make_sealer(lta_office.ws, lta_office.ws.load_config()).seal(lta_office.unsealed, "ADR-TEST-2")
        assert sealed.level == "B-LTA"
        assert sealed.signature_fields == tuple(lta_office.record["signature_fields"])

    def test_nothing_due_today(self, lta_office):
        """A preservation run the day the long-term record was sealed checks it, finds it not due and renews nothing."""
        with open_catalog(lta_office.ws.catalog) as catalog:
            report = preserve(lta_office.ws, catalog, lta_office.ws.load_config())
        assert report.checked == 1 and report.not_due == 1 and not report.items

    def test_protected_records_are_not_read_again(self, lta_office):
        """A record judged protected past the window is not read on the next run; it is read again
        when its file changes on disk, when the weak digests change, or when the window reaches it."""
        ws = lta_office.ws
        config = ws.load_config()
        with open_catalog(ws.catalog) as catalog:
            first = preserve(ws, catalog, config)  # reads the PDF unless an earlier test's run already did
            assert (first.checked, first.not_due) == (1, 1)
            second = preserve(ws, catalog, config)
            assert (second.checked, second.examined, second.not_due) == (1, 0, 1) and not second.items

            stricter = dataclasses.replace(config, seal=dataclasses.replace(
                config.seal, weak_digests=(*config.seal.weak_digests, "sha224")))
            assert preserve(ws, catalog, stricter).examined == 1
            assert preserve(ws, catalog, config).examined == 1  # judged under other settings in between
            assert preserve(ws, catalog, config).examined == 0

            # Without a time-stamp service nothing is renewed, so the shared record stays as it is.
            no_service = dataclasses.replace(config, seal=dataclasses.replace(config.seal, timestamp_url=None,
                                                                               revocation=False))
            later = preserve(ws, catalog, no_service, as_of=dt.date.today() + dt.timedelta(days=TSA_DAYS))
            assert later.examined == 1 and [i.outcome for i in later.items] == ["cannot"], later.items

            lta_office.pdf.chmod(0o640)
            lta_office.pdf.write_bytes(lta_office.pdf.read_bytes())  # same bytes, a new write on disk
            lta_office.pdf.chmod(0o440)
            os.utime(lta_office.pdf, ns=(1, 1))
            assert preserve(ws, catalog, config).examined == 1

    def test_preserve_renews_before_expiry(self, lta_office):
        """Within the window of the time-stamp's expiry, preserve appends fresh validation data
        and a document time-stamp from the second authority: the archived bytes stay a prefix,
        the catalog and the audit log follow, and the record verifies ten years ahead."""
        ws = lta_office.ws
        data = yaml.safe_load(ws.config_file.read_text())
        data["seal"]["timestamp_url"] = data["seal"]["timestamp_url"].rsplit("/", 1)[0] + "/tsa2"
        ws.config_file.write_text(yaml.safe_dump(data, sort_keys=False))
        config = ws.load_config()
        old = lta_office.pdf.read_bytes()
        as_of = dt.date.today() + dt.timedelta(days=TSA_DAYS - 60)
        with open_catalog(ws.catalog) as catalog:
            report = preserve(ws, catalog, config, as_of=as_of, actor="records-officer")
            (item,) = report.items
            assert item.outcome == "preserved", item.message
            assert any("Accord Test TSA" in r and "expires" in r for r in item.reasons), item.reasons
            new = lta_office.pdf.read_bytes()
            assert len(new) > len(old) and new.startswith(old)
            assert stat.S_IMODE(lta_office.pdf.stat().st_mode) == 0o440
            row = catalog.get(lta_office.record["record_id"])
            assert row["sha256"] == hashlib.sha256(new).hexdigest() == item.new_sha256
            assert row["size"] == len(new) and row["signature_level"] == "B-LTA"
            (entry,) = list(audit_entries(catalog.db.conn, action="preservation"))
            assert entry["actor"] == "records-officer" and entry["record_id"] == row["record_id"]
            assert entry["details"]["old_sha256"] == hashlib.sha256(old).hexdigest()
            assert entry["details"]["new_sha256"] == row["sha256"] and entry["details"]["reason"]

            again = preserve(ws, catalog, config, as_of=as_of)
            assert again.not_due == 1 and not again.items

        reader = PdfFileReader(io.BytesIO(new), strict=False)
        assert [t.signer_cert.subject.native["common_name"] for t in reader.embedded_timestamp_signatures] == [
            "Accord Test TSA", "Accord Test TSA 2"]
        report = _verify(lta_office, retention_end=_years(10))
        assert report.ok, report.problems
        assert report.ltv_now == "OK", report.ltv_now_explanation
        assert report.ltv_at_retention_end == "OK", report.ltv_at_retention_end_explanation
        assert len(report.timestamps) == 2 and all(t.ok for t in report.timestamps)

    def test_interrupted_preservation_is_completed(self, lta_office, pki_service):
        """A renewal whose file was replaced but whose catalog row was not (a crash in between)
        is recognised by the next run (the catalogued bytes are a prefix) and completed."""
        ws = lta_office.ws
        current = lta_office.pdf.read_bytes()
        roots = load_certificates(pki_service.root_pem)
        newer = renew(current, make_timestamper(pki_service.tsa_url("tsa2")), TrustRoots(tuple(roots)))
        lta_office.pdf.chmod(0o640)
        lta_office.pdf.write_bytes(newer)
        lta_office.pdf.chmod(0o440)
        with open_catalog(ws.catalog) as catalog:
            report = preserve(ws, catalog, ws.load_config())
            assert not report.items and report.not_due == 1
            row = catalog.get(lta_office.record["record_id"])
            assert row["sha256"] == hashlib.sha256(newer).hexdigest() and row["size"] == len(newer)
            latest = next(audit_entries(catalog.db.conn, action="preservation", limit=1))
            assert "interrupted" in latest["details"]["reason"]
            assert latest["details"]["old_sha256"] == hashlib.sha256(current).hexdigest()
        assert _verify(lta_office).ok

    def test_b_t_seal_is_raised_to_b_lta(self, lta_office, pki_service):
        """A B-T seal (time-stamp, no revocation data) gets the seal's validation data and a
        document time-stamp when renewed, and then validates long-term from the file alone."""
        config = lta_office.ws.load_config()
        plain = dataclasses.replace(config, seal=dataclasses.replace(
            config.seal, revocation=False, timestamp_url=pki_service.tsa_url("tsa")))
        sealed = make_sealer(lta_office.ws, plain).seal(lta_office.unsealed, "ADR-TEST-BT")
        assert sealed.level == "B-T"
        roots = load_certificates(pki_service.root_pem)
        renewed = renew(sealed.pdf, make_timestamper(pki_service.tsa_url("tsa2")), TrustRoots(tuple(roots)))
        assert renewed.startswith(sealed.pdf) and pdf_level(renewed) == "B-LTA"
        reader = PdfFileReader(io.BytesIO(renewed), strict=False)
        (seal,) = reader.embedded_regular_signatures
        assert long_term_verdict(reader, seal, TrustRoots(tuple(load_certificates(pki_service.root_pem)))).verdict == "OK"

    def test_weak_digest_is_due(self, lta_office):
        """A digest listed as weak makes a record due whatever its expiry dates."""
        reader = PdfFileReader(io.BytesIO(lta_office.pdf.read_bytes()), strict=False)
        (seal,) = reader.embedded_regular_signatures
        roots = TrustRoots.of(lta_office.ws, lta_office.ws.load_config())
        now = dt.datetime.now(dt.timezone.utc)
        assert not assess(reader, seal, as_of=now, window_days=30, weak_digests=("sha1",), trust=roots).reasons
        due = assess(reader, seal, as_of=now, window_days=30, weak_digests=("sha256",), trust=roots)
        assert any("weak digest sha256" in r for r in due.reasons)

    def test_pdfsig_reports_the_seal_valid(self, lta_office, pki_service, tmp_path):
        """poppler's pdfsig, against an NSS database trusting the test root, finds the seal valid
        (it cannot judge document time-stamps, so only the seal's block is read). Its certificate
        line is unreliable here: pdfsig 22.12 reads NSS's error code even after a successful
        verification, and with these certificates a stale "extension not found" is left over, so
        the chain is checked with NSS's own vfychain (e-mail signer, pdfsig's usage) instead."""
        nss = tmp_path / "nss"
        nss.mkdir()
        subprocess.run(["certutil", "-N", "-d", f"sql:{nss}", "--empty-password"], check=True, capture_output=True)
        subprocess.run(["certutil", "-A", "-d", f"sql:{nss}", "-n", "accord-test-root", "-t", "CT,C,C",
                        "-i", str(pki_service.root_pem)], check=True, capture_output=True)
        report = pdfsig(lta_office.pdf, nss)
        blocks = report.split("Signature #")
        seal_block = next(b for b in blocks[1:] if "Office of ADR Seal" in b)
        assert "Signature Validation: Signature is Valid." in seal_block, report
        assert re.search(r"Certificate Validation: (Certificate is Trusted|Unknown issue)", seal_block), report
        assert "Digest Mismatch" not in report and "Signature is Invalid" not in report

        reader = PdfFileReader(io.BytesIO(lta_office.pdf.read_bytes()), strict=False)
        (seal,) = reader.embedded_regular_signatures
        leaf = tmp_path / "seal.der"
        leaf.write_bytes(seal.signer_cert.dump())
        chain = subprocess.run(["vfychain", "-d", f"sql:{nss}", "-pp", "-u", "4", str(leaf)], check=False,
                               capture_output=True, text=True, timeout=60)
        assert "Chain is good!" in chain.stdout + chain.stderr, chain.stdout + chain.stderr
