"""Shared fixtures: real workspaces in tmp_path, one warm LibreOffice, a real PKI, real pdfsig."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import Config, ConverterSettings
from pipeline.documents.convert import Converter
from pipeline.documents.pki import ROOT_CERT, ensure_identity
from pipeline.documents.seal import make_sealer
from pipeline.intake.ingest import Ingestor
from pipeline.intake.watcher import RunSummary, run_once
from pipeline.workspace import Workspace, init_workspace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"  # the project's own example case files


@pytest.fixture(scope="session")
def examples() -> Path:
    assert EXAMPLES.is_dir(), f"the examples are missing at {EXAMPLES}"
    return EXAMPLES


@pytest.fixture(scope="session")
def converter(tmp_path_factory):
    """One warm LibreOffice for the whole session, working in a private folder of the session's."""
    conv = Converter(ConverterSettings(work_dir=tmp_path_factory.mktemp("convert")))
    yield conv
    conv.close()


@pytest.fixture(scope="session")
def pki_source(tmp_path_factory) -> Path:
    """A local office PKI made once, copied into each test workspace (RSA-3072 keys are slow to make)."""
    ws = init_workspace(tmp_path_factory.mktemp("pki-source") / "ws")
    ensure_identity(ws.pki, ws.load_config())
    return ws.pki


@pytest.fixture
def workspace(tmp_path, pki_source) -> Workspace:
    ws = init_workspace(tmp_path / "ws")
    shutil.copytree(pki_source, ws.pki)
    return ws


@dataclass
class Office:
    """A workspace with a warm pipeline: drop files, process them, look at the results."""

    ws: Workspace
    ingestor: Ingestor
    pristine: Path | None = None
    """A copy of the workspace as it was right after processing (other tests write to ``ws``)."""

    def drop(self, name: str, data: bytes | str) -> Path:
        path = self.ws.inbox / name
        path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        return path

    def process(self) -> RunSummary:
        return run_once(self.ws, self.ingestor)

    @property
    def root_cert(self) -> Path:
        return self.ws.pki / ROOT_CERT


def make_office(ws: Workspace, converter: Converter, config: Config | None = None) -> Office:
    config = config or ws.load_config()
    return Office(ws, Ingestor(ws, config, converter, sealer=make_sealer(ws, config)))


@pytest.fixture
def office(workspace, converter):
    o = make_office(workspace, converter)
    yield o
    o.ingestor.close()


@pytest.fixture(scope="session")
def sealed_office(tmp_path_factory, pki_source, converter, examples):
    """Both example files processed once, shared by the read-only tests."""
    ws = init_workspace(tmp_path_factory.mktemp("sealed") / "ws")
    shutil.copytree(pki_source, ws.pki)
    o = make_office(ws, converter)
    for example in ("resolution-agreement.yaml", "mou.yaml"):
        shutil.copy(examples / example, ws.inbox / example)
    summary = o.process()
    assert [x.status for x in summary.outcomes] == ["recorded", "recorded"], summary
    o.ingestor.catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    o.pristine = tmp_path_factory.mktemp("sealed-pristine") / "ws"
    shutil.copytree(ws.root, o.pristine)
    wal = o.pristine / "catalog.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the copy must hold the whole catalog in catalog.db"
    yield o
    o.ingestor.close()


def copy_workspace(source: Path, target: Path) -> Workspace:
    """A copy of a processed workspace (the archive's read-only files and the catalog included)."""
    shutil.copytree(source, target)
    return Workspace(target)


def record_of(office: Office, template: str) -> dict:
    rows = [r for r in office.ingestor.catalog.all_records() if r["template"] == template]
    assert len(rows) == 1
    return rows[0]


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


def pdfsig(pdf: Path, nss: Path) -> str:
    """pdfsig's report (it exits 0 even on a digest mismatch, so callers read the text)."""
    result = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


def pdftotext(pdf: Path) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_900_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, *, hours: float = 0, minutes: float = 0, seconds: float = 0) -> None:
        self.now += hours * 3600 + minutes * 60 + seconds


def owner_session(ws: Workspace):
    """The workspace opened for the user running the tests (its folder's owner: every role)."""
    from pipeline.governance.access import current_actor
    from pipeline.office import OfficeSession

    return OfficeSession(ws, current_actor())


def search(catalog, query, visible=("1", [])) -> list[dict]:
    """The records a query finds (one page, uncounted): what the tests of search ask most often."""
    from pipeline.records.search import search_page

    return search_page(catalog, query, visible, count=False)[0]
