"""What the tests share that is not a fixture: the checkout's folders, a warm office, copies of
workspaces, the external checkers (pdfsig, pdftotext), a hand-moved clock, the command line through
CliRunner, and :class:`StoredConverter`, the PDFs LibreOffice made once (``tests/data/``) for the
tests that do not test conversion.

Fixtures live in ``conftest.py`` and take what they need from here.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import pwd
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape as xml_escape

import pytest
import yaml
from argon2 import PasswordHasher
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
from docx import Document
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pypdf import PdfReader, PdfWriter

from pipeline.config import Config, load_config
from pipeline.documents.pki import ROOT_CERT
from pipeline.documents.seal import make_sealer
from pipeline.documents.templates import SEAL_BOOKMARK
from pipeline.errors import ConfigurationError, ConversionError, ConverterUnavailable
from pipeline.intake.ingest import Ingestor, PdfConverter
from pipeline.intake.watcher import RunSummary, run_once
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"  # the project's own example case files
DATA = Path(__file__).resolve().parent / "data"


# --- offices and workspaces ----------------------------------------------------------------------


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


def make_office(ws: Workspace, converter: PdfConverter, config: Config | None = None) -> Office:
    config = config or ws.load_config()
    return Office(ws, Ingestor(ws, config, converter, sealer=make_sealer(ws, config)))


def sealed_examples(tmp_path_factory, name: str, pki: Path, converter: PdfConverter) -> Office:
    """Both example files processed in a new workspace in the session's folder ``name`` (with a copy
    of ``pki``), and a copy of the processed workspace (``pristine``) holding the whole catalog in catalog.db."""
    from pipeline.workspace import init_workspace

    ws = init_workspace(tmp_path_factory.mktemp(name) / "ws")
    pristine = tmp_path_factory.mktemp(f"{name}-pristine") / "ws"
    shutil.copytree(pki, ws.pki)
    office = make_office(ws, converter)
    for example in ("resolution-agreement.yaml", "mou.yaml"):
        shutil.copy(EXAMPLES / example, ws.inbox / example)
    summary = office.process()
    assert [x.status for x in summary.outcomes] == ["recorded", "recorded"], summary
    office.ingestor.catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copytree(ws.root, pristine)
    office.pristine = pristine
    wal = pristine / "catalog.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0, "the copy must hold the whole catalog in catalog.db"
    return office


def copy_workspace(source: Path, target: Path) -> Workspace:
    """A copy of a processed workspace (the archive's read-only files and the catalog included)."""
    shutil.copytree(source, target)
    return Workspace(target)


def record_of(office: Office, template: str) -> dict:
    """The one record of ``template`` in the office's catalog."""
    rows = [r for r in office.ingestor.catalog.all_records() if r["template"] == template]
    assert len(rows) == 1
    return rows[0]


def records_by_template(ws: Workspace) -> dict[str, dict]:
    """The workspace's records by template (a workspace holding one record of each)."""
    with open_catalog(ws.catalog) as catalog:
        return {r["template"]: r for r in catalog.all_records()}


def raw_db(ws: Workspace) -> sqlite3.Connection:
    """A plain sqlite3 connection to the catalog, outside Accord (what a tamperer would use)."""
    conn = sqlite3.connect(str(ws.catalog), isolation_level=None, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def list_users(ws: Workspace, users: dict) -> None:
    """Fill the workspace's ``users: {}`` line of access.yaml with ``users`` (the rest stays as shipped)."""
    path = ws.policies / "access.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\nusers: {}\n" in text
    block = yaml.safe_dump({"users": users}, default_flow_style=False, sort_keys=True)
    path.write_text(text.replace("\nusers: {}\n", "\n" + block, 1), encoding="utf-8")


def os_user() -> str:
    """The name of the operating-system user running the tests."""
    return pwd.getpwuid(os.geteuid()).pw_name


def owner_session(ws: Workspace):
    """The workspace opened for the user running the tests (its folder's owner: every role)."""
    from pipeline.governance.access import current_actor
    from pipeline.office import OfficeSession

    return OfficeSession(ws, current_actor())


def search(catalog, query, visible=("1", [])) -> list[dict]:
    """The records a query finds (one page, uncounted): what the tests of search ask most often."""
    from pipeline.records.search import search_page

    return search_page(catalog, query, visible, count=False)[0]


def example_bytes(name: str = "resolution-agreement.yaml") -> bytes:
    """One of the project's example case files, as shipped."""
    return (EXAMPLES / name).read_bytes()


def assert_config_refused(tmp_path: Path, text: str, message: str) -> None:
    """An accord.yaml holding ``text`` is refused with a message matching ``message``."""
    path = tmp_path / "accord.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_config(path)


# --- outside checkers, clocks, ports, the command line --------------------------------------------


def pdfsig(pdf: Path, nss: Path) -> str:
    """pdfsig's report (it exits 0 even on a digest mismatch, so callers read the text)."""
    result = subprocess.run(["pdfsig", "-nssdir", f"sql:{nss}", str(pdf)], capture_output=True, text=True, timeout=60)
    return result.stdout + result.stderr


def pdftotext(pdf: Path) -> str:
    """The text poppler's pdftotext reads from the PDF, as UTF-8."""
    return subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout


def words(text: str) -> str:
    """The text with every run of whitespace made one space (pdftotext breaks lines where the page does)."""
    return " ".join(text.split())


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_900_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, *, hours: float = 0, minutes: float = 0, seconds: float = 0) -> None:
        self.now += hours * 3600 + minutes * 60 + seconds


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_cli(*args: str, env: dict | None = None, input: str | None = None):
    """The accord command through CliRunner (``input`` on its standard input); an exception that escapes
    it fails the test (no traceback may reach a user)."""
    from pipeline.cli import cli

    return CliRunner().invoke(cli, list(args), env=env, input=input, catch_exceptions=False)


#: The password of the portal accounts the tests make.
PASSWORD = "correct horse battery staple"


def hidden(html: str, name: str) -> str:
    """The value of the page's hidden form field ``name`` (a CSRF or sign-in token)."""
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden {name} field in the page"
    return match.group(1)


def sign_in(client, name: str, password: str = PASSWORD, next_: str = "/search", **kwargs):
    """Sign in to the portal through the form: GET /signin for its token and cookie, then POST it."""
    form = client.get("/signin", params={"next": next_})
    assert form.status_code == 200
    data = {"name": name, "password": password, "signin": hidden(form.text, "signin"), "next": next_}
    return client.post("/signin", data=data, **kwargs)


def quick_password_hasher() -> PasswordHasher:
    """Argon2id with the smallest parameters: for tests about something else than the hash's cost."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


# --- the stored PDFs --------------------------------------------------------------------------------

#: The office name and the day the stored documents were made with.
STORED_OFFICE = "Accord Test Office"
STORED_DAY = dt.date(2026, 12, 1)
#: The kinds of document Accord converts: each template's example, and one generated document (an audit
#: anchor: certificates of disposition are made the same way, with a ``seal`` bookmark and nothing else).
TEMPLATE_KINDS = ("resolution-agreement", "mou", "consent-to-informal-resolution")
#: The case as the consent form's stored PDF was filled from it (``documents.templates.HELD_CONTEXT``).
STORED_HELD = {
    "case": {"id": "ADR-2026-0150", "opened": dt.date(2026, 3, 2), "referred_by": "Title IX Office",
             "summary": "Remarks about a colleague's accent in laboratory meetings.",
             "jurisdictions": ["Title VI of the Civil Rights Act of 1964"],
             "allegations": ["Race, color or national origin"]},
    "process": {"name": "restorative-justice", "label": "Restorative justice",
                "description": "A facilitated conference in which the parties talk about the harm and agree on "
                               "how to repair it."},
    "parties": [{"name": "Aigerim Bekova", "role": "reporting party", "status": "graduate-student",
                 "affiliation": "Graduate student, Department of Physics"},
                {"name": "Lukas Schmidt", "role": "responding party", "status": "postdoc",
                 "affiliation": "Postdoctoral associate, Department of Physics"}],
    "party": {"name": "Lukas Schmidt", "role": "responding party", "status": "postdoc",
              "affiliation": "Postdoctoral associate, Department of Physics"},
    "measures": [], "agreement": None, "terms": [],
}
GENERATED = "generated"
STORED_KINDS = (*TEMPLATE_KINDS, GENERATED)
_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def stored_pdf_path(kind: str) -> Path:
    return DATA / f"stored-{kind}.pdf"


def stored_kind_docx(kind: str, office: str = STORED_OFFICE, record_id: str | None = None) -> bytes:
    """The Word document a stored PDF of ``kind`` was made from (``tests/make_stored_pdfs.py``); with
    another office or record id, a document of the same kind the PDF was not made from."""
    if kind == GENERATED:
        from pipeline.records.anchor import anchor_docx

        return anchor_docx(1, "0" * 64, 1, dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.timezone.utc), office)
    from pipeline.documents.assemble import Assembler, RecordInfo
    from pipeline.documents.casefile import parse_case
    from pipeline.documents.templates import load_templates

    name = f"{kind}.yaml"
    case = parse_case(example_bytes(name), name, load_templates(ROOT / "templates"), 2 * 1024 * 1024)
    record = RecordInfo(record_id or case.record_id, case.title, STORED_DAY, office)
    held = STORED_HELD if case.template.case_role == "consent" else None
    return Assembler().assemble(case, record, held).docx


def document_kind(properties) -> str:
    """Which stored PDF stands for a document, from its core properties: a document assembled from a
    template says ``Accord record <id>`` and names its template last among its keywords; anything else
    is a document Accord generated (an anchor, a certificate). A template without a stored PDF of its
    own (the intake record, the notices, the completion letter: a seal and nothing else) is given the
    stored PDF with the same places."""
    keywords = [k.strip() for k in (properties.keywords or "").split(",")]
    if (properties.subject or "").startswith("Accord record ") and keywords[-1] in TEMPLATE_KINDS:
        return keywords[-1]
    return GENERATED


def docx_places(document) -> set[str]:
    """The bookmarks of a Word document the seal step turns into fields: ``seal`` and every ``sig*``."""
    names = {b.get(_W + "name") for b in document.element.body.iter(_W + "bookmarkStart")}
    return {n for n in names if n == SEAL_BOOKMARK or n.startswith("sig")}


def pdf_places(pdf: bytes) -> set[str]:
    """The named destinations of a PDF the seal step turns into fields."""
    names = {name.lstrip("/") for name in PdfReader(io.BytesIO(pdf)).named_destinations}
    return {n for n in names if n == SEAL_BOOKMARK or n.startswith("sig")}


#: How LibreOffice carries a Word file's core properties into the PDF: the document information
#: dictionary's key, and the XMP element (its name, and the RDF container around its value).
_CARRIED = (
    ("title", "/Title", "dc:title", "rdf:Alt"),
    ("author", "/Author", "dc:creator", "rdf:Seq"),
    ("subject", "/Subject", "dc:description", "rdf:Alt"),
    ("keywords", "/Keywords", "pdf:Keywords", None),
)


def libreoffice_xmp_text(value: str) -> str:
    """A value as LibreOffice 7.4 writes it into XMP: XML-escaped twice (``A&B`` becomes ``A&amp;amp;B``).
    The stand-in writes what LibreOffice writes; test_convert notices the day LibreOffice stops."""
    once = xml_escape(value, {'"': "&quot;", "'": "&apos;"})
    return xml_escape(once)


def _xmp_with(xmp: str, element: str, container: str | None, value: str) -> str:
    """The XMP packet with ``element`` holding ``value`` (or left out when ``value`` is empty)."""
    pattern = re.compile(rf"[ \t]*<{element}>.*?</{element}>\n?", re.DOTALL)
    if not pattern.search(xmp):
        raise AssertionError(f"the stored PDF's XMP has no {element} to carry the document's value into")
    if not value:
        return pattern.sub("", xmp, count=1)
    text = libreoffice_xmp_text(value)
    if container is None:
        inner = text
    else:
        lang = ' xml:lang="x-default"' if container == "rdf:Alt" else ""
        inner = f"\n    <{container}>\n     <rdf:li{lang}>{text}</rdf:li>\n    </{container}>\n   "
    return pattern.sub(lambda _: f"   <{element}>{inner}</{element}>\n", xmp, count=1)


def with_document_properties(pdf: bytes, properties) -> bytes:
    """The stored PDF with a Word file's title, author, subject and keywords in its document information
    and its XMP metadata, as LibreOffice puts them there (an incremental update of the stored file).

    Accord reads them back: a party-signed copy names its record by the Subject, an audit anchor
    states the head it anchors in its Keywords."""
    writer = PdfWriter(io.BytesIO(pdf), incremental=True)
    info = {k: v for k, v in (writer.metadata or {}).items() if k not in {key for _, key, _, _ in _CARRIED}}
    metadata = writer.root_object["/Metadata"].get_object()
    xmp = metadata.get_data().decode("utf-8")
    for attribute, key, element, container in _CARRIED:
        value = getattr(properties, attribute) or ""
        if value:
            info[key] = value
        xmp = _xmp_with(xmp, element, container, value)
    writer.metadata = info
    metadata.set_data(xmp.encode("utf-8"))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


class StoredConverter:
    """A :class:`~pipeline.intake.ingest.PdfConverter` for the tests that do not test conversion: it
    starts no LibreOffice, and hands back, for each document, the real PDF/A-2b LibreOffice made once
    of a document of the same kind (``tests/data/stored-*.pdf``, see ``tests/data/README.md``), with
    the document's own title, author, subject and keywords carried into it as LibreOffice carries them.

    The stored PDFs carry the named destinations the seal step needs, so sealing, signed copies and
    verification work for real on them; the text on their pages is the example's, not the document's
    (the catalog indexes the Word file's text, so search is unaffected). A test that reads a PDF's
    text takes the real converter. A document whose signature places no stored PDF offers (a case
    with three parties, say) is refused with a reason saying so."""

    def __init__(self, folder: Path = DATA):
        self._pdfs = {kind: (folder / stored_pdf_path(kind).name).read_bytes() for kind in STORED_KINDS}
        self._places = {kind: pdf_places(pdf) for kind, pdf in self._pdfs.items()}
        self.conversions = 0
        self._closed = False
        self._count = threading.Lock()  # intake's stage threads share one converter

    def convert(self, docx: bytes) -> bytes:
        if self._closed:
            raise ConverterUnavailable("the converter has been closed")
        if len(docx) == 0:
            raise ConversionError("the document is empty")
        try:
            document = Document(io.BytesIO(docx))
        except Exception:  # noqa: BLE001 - whatever python-docx cannot open is not a Word document
            raise ConversionError("The stored-PDF converter could not read the document as a Word file.") from None
        kind = document_kind(document.core_properties)
        wanted = docx_places(document)
        if wanted != self._places[kind]:  # a document of another kind with the same places stands in
            kind = next((k for k in STORED_KINDS if self._places[k] == wanted), kind)
        if wanted != self._places[kind]:
            raise ConversionError(
                f"No stored PDF has the places {sorted(wanted)} this {kind} document asks for (the stored one "
                f"has {sorted(self._places[kind])}): use the real converter, or store one (tests/data/README.md).")
        with self._count:
            self.conversions += 1
        return with_document_properties(self._pdfs[kind], document.core_properties)

    # what the watcher asks of its converters (it starts them, and reports them in its status)
    pid = None
    restarts = 0

    def start(self) -> None:
        self._closed = False

    def alive(self) -> bool:
        return not self._closed

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> StoredConverter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stored_converter_factory(settings: object = None) -> StoredConverter:
    """What ``Converter(settings)`` makes in a command run through CliRunner with the stored PDFs."""
    return StoredConverter()


# --- the parties' signatures ---------------------------------------------------------------------


def cert_name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def party_certificate(subject: str, key, issuer: str, issuer_key, *, ca: bool) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    builder = (
        x509.CertificateBuilder().subject_name(cert_name(subject)).issuer_name(cert_name(issuer))
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                                        critical=True)
    else:
        builder = builder.add_extension(x509.KeyUsage(True, True, False, False, False, False, False, False, False),
                                        critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


def asn1_certificate(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def party_signer(cert: x509.Certificate, key, chain: list[x509.Certificate]) -> signers.SimpleSigner:
    return signers.SimpleSigner(
        signing_cert=asn1_certificate(cert),
        signing_key=asn1_keys.PrivateKeyInfo.load(
            key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())),
        cert_registry=SimpleCertificateStore.from_certs([asn1_certificate(c) for c in chain]),
    )


def sign_field(pdf: bytes, field: str, signer: signers.Signer, new_field: fields.SigFieldSpec | None = None) -> bytes:
    out = io.BytesIO()
    signers.PdfSigner(signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256"), signer=signer,
                      new_field_spec=new_field).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), output=out)
    return out.getvalue()


# --- accord serve for the browser tests -----------------------------------------------------------

def accord_command() -> list[str]:
    """The installed ``accord`` beside this interpreter, or ``python -m pipeline.cli``."""
    script = Path(sys.executable).parent / "accord"
    return [str(script)] if script.exists() else [sys.executable, "-m", "pipeline.cli"]


def wait_until_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    """Wait until ``url`` answers 200 (the test fails with the log's tail if the server exits or stays silent)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"accord serve exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    pytest.fail(f"accord serve did not answer {url} within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def stop_served(proc: subprocess.Popen) -> None:
    """Stop a server started in its own process group (SIGTERM, then SIGKILL)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


@contextlib.contextmanager
def served(root: Path) -> Iterator[tuple[str, Path]]:
    """``accord serve`` on a free loopback port for the workspace at ``root``, in its own process group:
    yields its base address and its log file, and stops it after."""
    port = free_port()
    log = root.parent / "serve.log"
    env = {k: v for k, v in os.environ.items() if k != "ACCORD_HOME"}
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [*accord_command(), "serve", "--workspace", str(root), "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/signin", proc, log)
        yield base, log
    finally:
        stop_served(proc)
