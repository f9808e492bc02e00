"""Shared fixtures: real workspaces in tmp_path, the stored PDFs or one warm LibreOffice, a real PKI,
real pdfsig. What they are made with (and every helper that is not a fixture) is in tests/helpers.py."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from pipeline.config import ConverterSettings
from pipeline.documents.convert import Converter
from pipeline.documents.pki import ROOT_CERT, ensure_identity
from pipeline.workspace import Workspace, init_workspace

from .helpers import (
    EXAMPLES,
    StoredConverter,
    make_office,
    quick_password_hasher,
    sealed_examples,
    stored_converter_factory,
)


@pytest.fixture(scope="session")
def examples() -> Path:
    assert EXAMPLES.is_dir(), f"the examples are missing at {EXAMPLES}"
    return EXAMPLES


@pytest.fixture(scope="session")
def converter(tmp_path_factory):
    """One warm LibreOffice for the whole session, working in a private folder of the session's:
    for the tests of conversion itself and of what is on a PDF's pages."""
    conv = Converter(ConverterSettings(work_dir=tmp_path_factory.mktemp("convert")))
    yield conv
    conv.close()


@pytest.fixture(scope="session")
def stored_converter() -> StoredConverter:
    """The PDFs LibreOffice made once (tests/data/): for every test that does not test conversion."""
    return StoredConverter()


@pytest.fixture
def cli_stored_pdfs(monkeypatch) -> None:
    """Commands run through CliRunner in this test convert with the stored PDFs, not LibreOffice
    (the commands make their ``Converter`` when they run, from pipeline.documents.convert)."""
    monkeypatch.setattr("pipeline.documents.convert.Converter", stored_converter_factory)


@pytest.fixture(scope="module")
def quick_argon2():
    """Argon2id with the smallest parameters for the module's tests, which are about something else than
    the hash's cost (the real profile is checked in test_accounts.py)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("pipeline.governance.accounts.PasswordHasher", quick_password_hasher)
        yield


@pytest.fixture(scope="session")
def pki_source(tmp_path_factory) -> Path:
    """A local office PKI made once, copied into each test workspace (RSA-3072 keys are slow to make)."""
    ws = init_workspace(tmp_path_factory.mktemp("pki-source") / "ws")
    ensure_identity(ws.pki, ws.load_config())
    return ws.pki


@pytest.fixture
def workspace(tmp_path, pki_source) -> Workspace:
    """A new workspace in tmp_path with a copy of the session's PKI."""
    ws = init_workspace(tmp_path / "ws")
    shutil.copytree(pki_source, ws.pki)
    return ws


@pytest.fixture
def office(workspace, stored_converter):
    """A warm pipeline on a new workspace, converting with the stored PDFs."""
    o = make_office(workspace, stored_converter)
    yield o
    o.ingestor.close()


@pytest.fixture
def lo_office(workspace, converter):
    """A warm pipeline on a new workspace, converting with the real LibreOffice (for tests that read
    what is on the record's pages)."""
    o = make_office(workspace, converter)
    yield o
    o.ingestor.close()


@pytest.fixture(scope="session")
def sealed_office(tmp_path_factory, pki_source, stored_converter):
    """Both example files processed once with the stored PDFs, shared by the read-only tests."""
    o = sealed_examples(tmp_path_factory, "sealed", pki_source, stored_converter)
    yield o
    o.ingestor.close()


@pytest.fixture(scope="session")
def lo_sealed_office(tmp_path_factory, pki_source, converter):
    """Both example files processed once with the real LibreOffice, for the tests that read their pages."""
    o = sealed_examples(tmp_path_factory, "lo-sealed", pki_source, converter)
    yield o
    o.ingestor.close()


@pytest.fixture(scope="session")
def nss_db(tmp_path_factory, pki_source) -> Path:
    """An NSS database trusting the workspace root, for poppler's pdfsig."""
    db = tmp_path_factory.mktemp("nss")
    subprocess.run(["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True, capture_output=True)
    subprocess.run(
        ["certutil", "-A", "-d", f"sql:{db}", "-n", "accord-root", "-t", "CT,C,C", "-i", str(pki_source / ROOT_CERT)],
        check=True, capture_output=True,
    )
    return db
