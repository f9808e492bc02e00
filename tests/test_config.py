"""Configuration and template declarations: wrong files are refused with the key and a sentence."""

from __future__ import annotations

import shutil

import pytest

from pipeline.config import Config, load_config
from pipeline.documents.pki import SEAL_PASS, ensure_identity, load_signer
from pipeline.documents.templates import load_template, load_templates
from pipeline.errors import ConfigurationError, PkiError

from .helpers import ROOT, assert_config_refused


class TestConfig:
    def test_defaults_without_file(self, tmp_path):
        """A workspace without accord.yaml runs on the embedded defaults."""
        assert load_config(tmp_path / "accord.yaml") == Config()

    def test_written_defaults_load(self, workspace):
        """The file accord init writes loads and equals the defaults."""
        assert workspace.load_config() == Config()

    @pytest.mark.parametrize(
        "text, message",
        [
            ("office:\n  nmae: X\n", "Unexpected key in configuration: office.nmae"),
            ("colour: blue\n", "Unexpected key in configuration: colour"),
            ("intake:\n  max_bytes: lots\n", "intake.max_bytes must be a number"),
            ("intake:\n  max_bytes: 0\n", "intake.max_bytes must be a positive"),
            ("intake: [1, 2]\n", "intake must be a mapping"),
            ("converter:\n  timeout: -1\n", "converter timeouts must be positive"),
            ("seal:\n  passphrase_file: /x\n", "seal.certificate is not"),
            ("seal:\n  digest: md5\n", "seal.digest must be one of"),
            ("seal:\n  extra_trust_roots: /one/file\n", "seal.extra_trust_roots must be a list"),
            ("office: {name: [1]}\n", "office.name must be text"),
            ("office:\n  name: 'unclosed\n", "not valid YAML"),
        ],
    )
    def test_bad_config_refused(self, tmp_path, text, message):
        """Each wrong setting is refused naming the key."""
        assert_config_refused(tmp_path, text, message)


class TestTemplateDeclarations:
    def test_shipped(self):
        """The seven shipped templates load with their record class, case role and events."""
        specs = load_templates(ROOT / "templates")
        assert set(specs) == {"resolution-agreement", "mou", "case-intake", "notice-of-informal-resolution",
                              "consent-to-informal-resolution", "withdrawal-notice", "completion-letter"}
        assert {n: s.case_role for n, s in specs.items()} == {
            "resolution-agreement": "agreement", "mou": None, "case-intake": "intake",
            "notice-of-informal-resolution": "notice", "consent-to-informal-resolution": "consent",
            "withdrawal-notice": "withdrawal", "completion-letter": "completion"}
        assert specs["notice-of-informal-resolution"].party == "recipient"
        assert specs["resolution-agreement"].record_class == "resolution-agreement"
        assert specs["mou"].events.get("agreement-expired") == "mou.expires"

    @pytest.mark.parametrize(
        "change, message",
        [
            (lambda t: t.replace("record_class:", "record_klass:"), "Unexpected key"),
            (lambda t: t.replace("name: mou", "name: other"), "must match the file name"),
            (lambda t: t.replace("  type: object\n  additionalProperties", "  type: objekt\n  additionalProperties", 1),
             "not valid JSON Schema"),
            (lambda t: t + "\n: : :\n", "not valid YAML"),
        ],
    )
    def test_bad_declaration_refused(self, tmp_path, change, message):
        """A broken declaration is refused with a sentence naming the file."""
        shutil.copy(ROOT / "templates" / "mou.docx", tmp_path / "mou.docx")
        text = (ROOT / "templates" / "mou.yaml").read_text()
        changed = change(text)
        assert changed != text
        (tmp_path / "mou.yaml").write_text(changed)
        with pytest.raises(ConfigurationError, match=message):
            load_template(tmp_path / "mou.yaml")

    def test_declaration_without_docx(self, tmp_path):
        """A declaration with no Word file beside it is refused."""
        shutil.copy(ROOT / "templates" / "mou.yaml", tmp_path / "mou.yaml")
        with pytest.raises(ConfigurationError, match="no Word template"):
            load_template(tmp_path / "mou.yaml")


class TestOfficeKey:
    def test_loose_passphrase_refused(self, workspace):
        """A passphrase file others can read is refused rather than used."""
        (workspace.pki / SEAL_PASS).chmod(0o644)
        with pytest.raises(PkiError, match="owner only"):
            ensure_identity(workspace.pki, workspace.load_config())

    def test_wrong_passphrase(self, workspace):
        """A wrong passphrase gives a plain error, not a traceback."""
        identity = ensure_identity(workspace.pki, workspace.load_config())
        from dataclasses import replace

        with pytest.raises(PkiError, match="wrong passphrase"):
            load_signer(replace(identity, passphrase=b"not-it"))

    def test_interrupted_creation_recovers(self, tmp_path):
        """A PKI folder left half-made (no root yet) is made anew on next use."""
        pki = tmp_path / "pki"
        pki.mkdir(mode=0o700)
        (pki / SEAL_PASS).write_bytes(b"stale")
        identity = ensure_identity(pki, Config())
        assert load_signer(identity).signing_cert is not None
