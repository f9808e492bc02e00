"""The seal key in a PKCS#11 token: a private SoftHSM2 token, the real pipeline, pyHanko and pdfsig.

SoftHSM2 reads ``SOFTHSM2_CONF`` when the module is initialised in this process (by
python-pkcs11, on the first session), so the token is made once for the module with the
variable set first, and the module is finalised when the tests are done.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import shutil
import statistics
import subprocess
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from pkcs11 import Attribute, ObjectClass
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext

from pipeline.config import Config, SealSettings, load_config
from pipeline.documents.assemble import Assembler, RecordInfo
from pipeline.documents.casefile import parse_case
from pipeline.documents.pki import (
    ROOT_CERT,
    SEAL_P12,
    ensure_identity,
    load_certificates,
    load_signer,
    root_certificate,
    seal_certificate,
)
from pipeline.documents.seal import Sealer, office_signer
from pipeline.documents.templates import load_templates
from pipeline.documents.token import TokenSigner, close_pkcs11_sessions, load_pkcs11_signer
from pipeline.errors import PkiError
from pipeline.workspace import init_workspace

from .helpers import assert_config_refused, make_office, owner_session, pdfsig, record_of

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN_LABEL = "accord-test"
PIN = "1234"
SO_PIN = "5678"
KEY_LABEL = "seal"
STRANGER_LABEL = "stranger"
PIN_ENV = "ACCORD_TEST_TOKEN_PIN"
SEAL_COMMON_NAME = "Accord Test Seal"

pytestmark = pytest.mark.skipif(
    not (Path(MODULE).is_file() and shutil.which("softhsm2-util") and shutil.which("pkcs11-tool")),
    reason="SoftHSM2 (softhsm2) and pkcs11-tool (opensc) are needed",
)


@dataclass(frozen=True)
class Token:
    conf: Path
    root_pem: Path
    seal_cert: x509.Certificate

    def settings(self, **changes) -> SealSettings:
        values = {
            "pkcs11_module": MODULE,
            "pkcs11_token_label": TOKEN_LABEL,
            "pkcs11_key_label": KEY_LABEL,
            "pkcs11_pin_env": PIN_ENV,
            "extra_trust_roots": (str(self.root_pem),),
        }
        values.update(changes)
        return SealSettings(**values)


def _run(*args: str) -> str:
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, f"{args[0]} failed: {result.stdout}{result.stderr}"
    return result.stdout


def _tool(*args: str) -> str:
    """pkcs11-tool on the test token, logged in (a separate process: the PIN on its command line is the test PIN)."""
    return _run("pkcs11-tool", "--module", MODULE, "--token-label", TOKEN_LABEL, "--login", "--pin", PIN, *args)


def _name(common_name: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Accord Test Office"),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ])


def _root_and_seal_cert(seal_public_key) -> tuple[x509.Certificate, x509.Certificate]:
    """A test root and the seal certificate it issues for the token's key (the local PKI's own builders)."""
    now = dt.datetime.now(dt.timezone.utc)
    root_key, root = root_certificate(_name("Accord Test Root"), now=now, days=365)
    seal = seal_certificate(_name(SEAL_COMMON_NAME), seal_public_key, root_key, root, now=now, days=90)
    return root, seal


@pytest.fixture(scope="module")
def token(tmp_path_factory):
    """A private SoftHSM2 token holding the seal key (made in the token, never extractable) and its certificate."""
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    with pytest.MonkeyPatch.context() as mp:
        # Before anything loads the module in this process: SoftHSM2 reads it at C_Initialize.
        mp.setenv("SOFTHSM2_CONF", str(conf))
        _run("softhsm2-util", "--init-token", "--free", "--label", TOKEN_LABEL, "--pin", PIN, "--so-pin", SO_PIN)
        _tool("--keypairgen", "--key-type", "rsa:3072", "--id", "01", "--label", KEY_LABEL,
              "--usage-sign", "--sensitive")
        _tool("--read-object", "--type", "pubkey", "--id", "01", "--output-file", str(base / "seal-pub.der"))
        public_key = serialization.load_der_public_key((base / "seal-pub.der").read_bytes())
        root, seal = _root_and_seal_cert(public_key)
        (base / "seal.der").write_bytes(seal.public_bytes(serialization.Encoding.DER))
        _tool("--write-object", str(base / "seal.der"), "--type", "cert", "--id", "01", "--label", KEY_LABEL)
        # A certificate whose key is not on the token, to pair wrongly with the seal key.
        (base / "stranger.der").write_bytes(root.public_bytes(serialization.Encoding.DER))
        _tool("--write-object", str(base / "stranger.der"), "--type", "cert", "--id", "02", "--label", STRANGER_LABEL)
        root_pem = base / "root.pem"
        root_pem.write_bytes(root.public_bytes(serialization.Encoding.PEM))
        yield Token(conf, root_pem, seal)
        close_pkcs11_sessions()
        # Finalise the module, so another token (another SOFTHSM2_CONF) could be used after these tests.
        pkcs11.lib(MODULE).finalize()


@pytest.fixture
def pin_env(monkeypatch):
    monkeypatch.setenv(PIN_ENV, PIN)


@pytest.fixture(scope="module")
def token_nss_db(tmp_path_factory, token) -> Path:
    """An NSS database trusting the test token's root, for poppler's pdfsig."""
    db = tmp_path_factory.mktemp("token-nss")
    _run("certutil", "-N", "-d", f"sql:{db}", "--empty-password")
    _run("certutil", "-A", "-d", f"sql:{db}", "-n", "accord-token-root", "-t", "CT,C,C", "-i", str(token.root_pem))
    return db


def _token_yaml(token: Token, **extra: str) -> str:
    seal = {
        "pkcs11_module": MODULE,
        "pkcs11_token_label": TOKEN_LABEL,
        "pkcs11_key_label": KEY_LABEL,
        "pkcs11_pin_env": PIN_ENV,
        **extra,
    }
    lines = ["seal:"] + [f"  {k}: {v}" for k, v in seal.items()] + [f"  extra_trust_roots: [{token.root_pem}]"]
    return "\n".join(lines) + "\n"


def _validate(pdf: bytes, root_pem: Path):
    reader = PdfFileReader(io.BytesIO(pdf))
    (seal,) = reader.embedded_signatures
    context = ValidationContext(trust_roots=load_certificates(root_pem), allow_fetching=False)
    return seal, validate_pdf_signature(seal, signer_validation_context=context)


def _unsealed_mou(ws, converter, examples) -> bytes:
    """The example MOU rendered and converted to PDF/A, not sealed yet."""
    config = ws.load_config()
    raw = (examples / "mou.yaml").read_bytes()
    case = parse_case(raw, "mou.yaml", load_templates(ws.templates), config.intake.max_bytes)
    info = RecordInfo(case.record_id, case.title, dt.date.today(), config.office.name)
    return converter.convert(Assembler().assemble(case, info).docx)


class TestTokenKey:
    def test_key_never_leaves_the_token(self, token, pin_env):
        """The seal key on the token is sensitive and non-extractable; its private parts cannot be read."""
        signer = load_pkcs11_signer(token.settings())
        key = signer.pkcs11_session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=KEY_LABEL)
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.NEVER_EXTRACTABLE] is True
        assert len(key[Attribute.MODULUS]) * 8 == 3072
        with pytest.raises(pkcs11.AttributeSensitive):
            key[Attribute.PRIVATE_EXPONENT]

    def test_certificate_from_the_token(self, token, pin_env):
        """The signer's certificate is the one on the token; the chain comes from extra_trust_roots."""
        signer = load_pkcs11_signer(token.settings())
        assert isinstance(signer, TokenSigner)
        assert signer.signing_cert.dump() == token.seal_cert.public_bytes(serialization.Encoding.DER)
        (root,) = load_certificates(token.root_pem)
        assert root.dump() in [c.dump() for c in signer.cert_registry]

    def test_one_session_per_process(self, token, pin_env):
        """Asking again gives the same signer on the same open session."""
        first = load_pkcs11_signer(token.settings())
        assert load_pkcs11_signer(token.settings()) is first
        assert office_signer(Path("/nonexistent-pki"), Config(seal=token.settings())) is first


class TestSealWithToken:
    def test_pipeline_seals_with_the_token(self, token, token_nss_db, stored_converter, examples, tmp_path, pin_env):
        """A workspace configured with the token seals the example MOU; pyHanko, pdfsig and verify accept it."""
        ws = init_workspace(tmp_path / "ws")
        (ws.root / "accord.yaml").write_text(_token_yaml(token))
        office = make_office(ws, stored_converter)
        try:
            shutil.copy(examples / "mou.yaml", ws.inbox / "mou.yaml")
            summary = office.process()
            assert [o.status for o in summary.outcomes] == ["recorded"], summary
            record = record_of(office, "mou")
        finally:
            office.ingestor.close()
        assert record["signer"] == SEAL_COMMON_NAME
        assert record["signature_level"] == "B-B"
        # No local PKI was made: the PKCS#12 path was not taken.
        assert not (ws.pki / ROOT_CERT).exists() and not (ws.pki / SEAL_P12).exists()

        pdf_path = ws.root / record["pdf_path"]
        seal, status = _validate(pdf_path.read_bytes(), token.root_pem)
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.bottom_line
        assert seal.docmdp_level == fields.MDPPerm.FILL_FORMS
        assert seal.signer_cert.dump() == token.seal_cert.public_bytes(serialization.Encoding.DER)

        report = pdfsig(pdf_path, token_nss_db)
        assert "Signature Validation: Signature is Valid." in report, report
        assert "Certificate Validation: Certificate is Trusted." in report, report
        assert "Digest Mismatch" not in report, report

        with owner_session(ws) as session:
            (verified,) = session.verify()  # trusts the root through extra_trust_roots
        assert verified.ok, verified.as_dict()

    def test_seal_time_with_token(self, token, stored_converter, examples, tmp_path, pki_source, pin_env):
        """Time per B-B seal with the token (20 seals of one unsealed PDF), beside the PKCS#12 key."""
        ws = init_workspace(tmp_path / "ws")
        unsealed = _unsealed_mou(ws, stored_converter, examples)
        token_sealer = Sealer(load_pkcs11_signer(token.settings()), office_name="Accord Test Office")

        def timed(sealer: Sealer) -> list[float]:
            times = []
            for n in range(20):
                clock = time.perf_counter()
                sealed = sealer.seal(unsealed, f"TIMING-{n:02d}")
                times.append(time.perf_counter() - clock)
                assert sealed.level == "B-B"
            return times

        token_times = timed(token_sealer)
        _, status = _validate(token_sealer.seal(unsealed, "TIMING-CHECK").pdf, token.root_pem)
        assert status.bottom_line, status.pretty_print_details()

        shutil.copytree(pki_source, ws.pki, dirs_exist_ok=True)
        p12_sealer = Sealer(load_signer(ensure_identity(ws.pki, ws.load_config())), office_name="Accord Test Office")
        p12_times = timed(p12_sealer)

        def line(name: str, times: list[float]) -> str:
            ms = [t * 1000 for t in times]
            return (f"{name}: median {statistics.median(ms):.1f} ms, mean {statistics.mean(ms):.1f} ms, "
                    f"first {ms[0]:.1f} ms, min {min(ms):.1f} ms, max {max(ms):.1f} ms")

        print(f"\nB-B seal of one {len(unsealed) // 1024} KB MOU, 20 times:")
        print("  " + line("PKCS#11 token (SoftHSM2, RSA-3072)", token_times))
        print("  " + line("PKCS#12 key in memory (RSA-3072)  ", p12_times))
        assert statistics.median(token_times) < 1.0

    def test_concurrent_seals_share_the_session(self, token, stored_converter, examples, tmp_path, pin_env):
        """The watcher's workers seal from several threads with one signer: every seal comes out valid."""
        ws = init_workspace(tmp_path / "ws")
        unsealed = _unsealed_mou(ws, stored_converter, examples)
        sealer = Sealer(load_pkcs11_signer(token.settings()), office_name="Accord Test Office")
        results: dict[str, bytes] = {}
        errors: list[BaseException] = []

        def work(n: int) -> None:
            try:
                for i in range(3):
                    results[f"{n}-{i}"] = sealer.seal(unsealed, f"THREAD-{n}-{i}").pdf
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        assert len(results) == 12
        for pdf in results.values():
            _, status = _validate(pdf, token.root_pem)
            assert status.intact and status.valid and status.trusted, status.pretty_print_details()

    def test_closed_session_is_a_system_fault(self, token, stored_converter, examples, tmp_path, pin_env):
        """A seal on a closed token session is a PkiError (a system fault: the file stays staged), not a SealError."""
        ws = init_workspace(tmp_path / "ws")
        unsealed = _unsealed_mou(ws, stored_converter, examples)
        sealer = Sealer(load_pkcs11_signer(token.settings()), office_name="Accord Test Office")
        sealer.seal(unsealed, "BEFORE-CLOSE")
        close_pkcs11_sessions()
        with pytest.raises(PkiError, match="is closed"):
            sealer.seal(unsealed, "AFTER-CLOSE")
        # A new signer opens a new session.
        _, status = _validate(
            Sealer(load_pkcs11_signer(token.settings()), office_name="X").seal(unsealed, "REOPENED").pdf,
            token.root_pem,
        )
        assert status.bottom_line


def _no_pin_shown(exc: BaseException, pin: str) -> None:
    text = "".join(traceback.format_exception(exc))
    assert pin not in text, text


class TestTokenRefusals:
    def test_wrong_pin(self, token, monkeypatch):
        """A wrong PIN is a PkiError that does not show the PIN; the right one still works after it."""
        close_pkcs11_sessions()  # a real login, not the session already open
        wrong = "864209"
        monkeypatch.setenv(PIN_ENV, wrong)
        with pytest.raises(PkiError, match="refused the PIN") as caught:
            load_pkcs11_signer(token.settings())
        _no_pin_shown(caught.value, wrong)
        monkeypatch.setenv(PIN_ENV, PIN)
        assert load_pkcs11_signer(token.settings()).signing_cert is not None

    def test_other_pin_while_open(self, token, monkeypatch):
        """With the session open, a different PIN is refused too (it is not accepted on the open session's word)."""
        monkeypatch.setenv(PIN_ENV, PIN)
        load_pkcs11_signer(token.settings())
        wrong = "97531"
        monkeypatch.setenv(PIN_ENV, wrong)
        with pytest.raises(PkiError, match="another PIN") as caught:
            load_pkcs11_signer(token.settings())
        _no_pin_shown(caught.value, wrong)

    def test_pin_file(self, token, tmp_path):
        """A PIN file readable by others is refused; an owner-only one works."""
        close_pkcs11_sessions()
        pin_file = tmp_path / "token.pin"
        pin_file.write_text(PIN + "\n")
        settings = token.settings(pkcs11_pin_env=None, pkcs11_pin_file=str(pin_file))
        for mode in (0o644, 0o640, 0o604):
            os.chmod(pin_file, mode)
            with pytest.raises(PkiError, match="must be readable by its owner only") as caught:
                load_pkcs11_signer(settings)
            _no_pin_shown(caught.value, PIN)
        os.chmod(pin_file, 0o600)
        assert load_pkcs11_signer(settings).signing_cert is not None

    def test_pin_file_missing_or_wrong(self, token, tmp_path):
        """A PIN file that does not exist, or holds a PIN the token refuses, is a PkiError saying which, and the wrong
        PIN is not shown in it."""
        close_pkcs11_sessions()
        settings = token.settings(pkcs11_pin_env=None, pkcs11_pin_file=str(tmp_path / "absent.pin"))
        with pytest.raises(PkiError, match="PIN file .* does not exist"):
            load_pkcs11_signer(settings)
        wrong = tmp_path / "wrong.pin"
        wrong.write_text("424242\n")
        os.chmod(wrong, 0o600)
        with pytest.raises(PkiError, match="refused the PIN") as caught:
            load_pkcs11_signer(token.settings(pkcs11_pin_env=None, pkcs11_pin_file=str(wrong)))
        _no_pin_shown(caught.value, "424242")

    def test_pin_variable_unset(self, token, monkeypatch):
        """A PIN environment variable that is not set is a PkiError naming the variable."""
        monkeypatch.delenv(PIN_ENV, raising=False)
        with pytest.raises(PkiError, match=f"environment variable {PIN_ENV}.*is not set"):
            load_pkcs11_signer(token.settings())

    @pytest.mark.parametrize(
        "changes, message",
        [
            ({"pkcs11_module": "/nonexistent/libpkcs11.so"}, "module /nonexistent/libpkcs11.so does not exist"),
            ({"pkcs11_token_label": "no-such-token"}, "No token labelled 'no-such-token'"),
            ({"pkcs11_key_label": "no-such-key", "pkcs11_cert_label": KEY_LABEL},
             "could not find private key with label 'no-such-key'"),
            ({"pkcs11_cert_label": "no-such-cert"}, "could not find certificate with label 'no-such-cert'"),
            ({"pkcs11_cert_label": STRANGER_LABEL}, "does not match the certificate 'stranger'"),
            ({"extra_trust_roots": ("/nonexistent/root.pem",)}, "trust root file /nonexistent/root.pem does not exist"),
        ],
    )
    def test_token_problems_are_pki_errors(self, token, pin_env, changes, message):
        """Each problem with the module, the token or its objects is a PkiError with a sentence."""
        close_pkcs11_sessions()
        with pytest.raises(PkiError, match=f"(?i){message}") as caught:
            load_pkcs11_signer(token.settings(**changes))
        _no_pin_shown(caught.value, PIN)

    def test_not_a_pkcs11_module(self, token, pin_env, tmp_path):
        """A file that is not a shared library, named as the PKCS#11 module, is a PkiError saying the module could not
        be loaded."""
        fake = tmp_path / "fake.so"
        fake.write_text("not a library\n")
        with pytest.raises(PkiError, match="could not be loaded"):
            load_pkcs11_signer(token.settings(pkcs11_module=str(fake)))


#: A token configuration that loads; the table below breaks it one way at a time.
_SEAL = (
    "seal:\n  pkcs11_module: /m.so\n  pkcs11_token_label: t\n  pkcs11_key_label: k\n  pkcs11_pin_env: P\n"
    "  extra_trust_roots: [/r.pem]\n"
)


class TestTokenConfig:
    def test_token_table_base_loads(self, tmp_path):
        """The token configuration the refusal table breaks one way at a time loads as it is, so each refusal below is
        due to its one change."""
        path = tmp_path / "accord.yaml"
        path.write_text(_SEAL)
        assert load_config(path).seal.pkcs11_key_label == "k"

    def test_token_config_loads(self, tmp_path):
        """A full token configuration with a PIN file loads with each setting as written and the optional ones unset."""
        path = tmp_path / "accord.yaml"
        path.write_text(
            "seal:\n  pkcs11_module: /usr/lib/softhsm/libsofthsm2.so\n  pkcs11_token_label: office\n"
            "  pkcs11_key_label: seal\n  pkcs11_pin_file: /etc/accord/token.pin\n  extra_trust_roots: [/r.pem]\n"
        )
        seal = load_config(path).seal
        assert seal.pkcs11_module == MODULE and seal.pkcs11_pin_file == "/etc/accord/token.pin"
        assert seal.pkcs11_cert_label is None and seal.pkcs11_pin_env is None

    @pytest.mark.parametrize(
        "text, message",
        [
            ("seal:\n  pkcs11_modul: /m.so\n", "Unexpected key in configuration: seal.pkcs11_modul"),
            ("seal:\n  pkcs11_token_label: office\n", "seal.pkcs11_token_label is set but seal.pkcs11_module is not"),
            ("seal:\n  pkcs11_pin_env: PIN\n", "seal.pkcs11_pin_env is set but seal.pkcs11_module is not"),
            (_SEAL + "  certificate: /seal.p12\n", "seal.certificate and seal.pkcs11_module are both set"),
            (_SEAL.replace("  pkcs11_token_label: t\n", ""), "seal.pkcs11_token_label is not"),
            (_SEAL.replace("  pkcs11_key_label: k\n", ""), "seal.pkcs11_key_label is not"),
            (_SEAL.replace("  pkcs11_pin_env: P\n", ""), "exactly one PIN source"),
            (_SEAL + "  pkcs11_pin_file: /p\n", "exactly one PIN source"),
            (_SEAL.replace("  extra_trust_roots: [/r.pem]\n", ""), "seal.extra_trust_roots is empty"),
            (_SEAL + "  passphrase_file: /pass\n", "seal.certificate is not"),
            ("seal:\n  pkcs11_pin_file: [1]\n", "seal.pkcs11_pin_file must be text"),
        ],
    )
    def test_bad_token_config_refused(self, tmp_path, text, message):
        """Each wrong or missing token setting (a misspelt key, token settings without a module, a certificate beside a
        module, no label, no or two PIN sources, no trust root) is refused naming the setting."""
        assert_config_refused(tmp_path, text, message)
