"""pipeline.documents.convert against the real LibreOffice: output format, warm instance, failure recovery."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import io
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from docx import Document
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from pypdf import PdfReader

from pipeline.config import ConverterSettings
from pipeline.documents.convert import Converter
from pipeline.errors import ConfigurationError, ConversionError, ConverterUnavailable
from pipeline.workspace import init_workspace

from .helpers import (
    ROOT,
    STORED_DAY,
    STORED_KINDS,
    STORED_OFFICE,
    StoredConverter,
    example_bytes,
    stored_kind_docx,
    stored_pdf_path,
)

# LibreOffice and python3-uno are required (tools/bootstrap.sh installs them): a machine without
# them fails these tests rather than skipping them.
pytestmark = [pytest.mark.slow]

NAMES = ["Zoë Núñez", "Smith & Sons <North Campus>", "Nguyễn Thị Minh Khai"]


# --------------------------------------------------------------------------- helpers


def make_docx(paragraphs: int = 45, bookmark: str = "sig1") -> bytes:
    """A ~3-page agreement naming the parties, with a Word bookmark on the signature line."""
    doc = Document()
    doc.add_heading("Mediation Settlement Agreement", 0)
    doc.add_paragraph(f"Between {NAMES[0]}, {NAMES[1]} and {NAMES[2]}.")
    for number in range(1, paragraphs + 1):
        doc.add_paragraph(
            f"Clause {number}. The parties agree that the terms set out in this clause are binding, "
            "that each party bears its own costs, and that the mediator keeps the proceedings confidential."
        )
    line = doc.add_paragraph("Signature of the first party: ")
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), "0")
    start.set(qn("w:name"), bookmark)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), "0")
    line._p.append(start)
    line.add_run("______________________")
    line._p.append(end)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def assert_pdfa2b(pdf: bytes) -> PdfReader:
    assert pdf.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(pdf))
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    part = re.search(r"pdfaid:part(?:>|=\")\s*(\d)", xmp)
    conformance = re.search(r"pdfaid:conformance(?:>|=\")\s*([A-Za-z])", xmp)
    assert part and part.group(1) == "2", xmp
    assert conformance and conformance.group(1).upper() == "B", xmp
    return reader


def sig1_destination(reader: PdfReader):
    destinations = reader.named_destinations
    # pypdf keys destinations from a /Dests name dictionary by the PDF name, i.e. with a slash.
    dest = destinations.get("/sig1") or destinations.get("sig1")
    assert dest is not None, sorted(destinations)
    return dest


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True
    ).stdout.decode("utf-8")


def pipe_name(converter: Converter) -> str:
    cmdline = " ".join(psutil.Process(converter.pid).cmdline())
    return re.search(r"pipe,name=([^;]+);", cmdline).group(1)


def instance_processes(converter: Converter) -> list[psutil.Process]:
    """soffice (oosplash, soffice.bin) and the bridge of one converter, found by its pipe name."""
    name = pipe_name(converter)
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if name in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def gone(proc: psutil.Process) -> bool:
    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(procs: list[psutil.Process], timeout: float = 5.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = [p for p in procs if not gone(p)]
        if not alive:
            return []
        time.sleep(0.05)
    return alive


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def docx_bytes() -> bytes:
    return make_docx()


@pytest.fixture(scope="module")
def converter(tmp_path_factory):
    with Converter(ConverterSettings(work_dir=tmp_path_factory.mktemp("lo"))) as conv:
        conv.start()
        yield conv


@pytest.fixture(scope="module")
def first_run(converter, docx_bytes):
    """The first conversion on the started instance, and how long it took."""
    started = time.perf_counter()
    pdf = converter.convert(docx_bytes)
    return pdf, time.perf_counter() - started


@pytest.fixture(scope="module")
def fragile(tmp_path_factory):
    """An instance the tests kill and stop; restarts are part of what is tested."""
    settings = ConverterSettings(work_dir=tmp_path_factory.mktemp("fragile"), timeout=3, retry_backoff=0)
    with Converter(settings) as conv:
        conv.start()
        yield conv


# --------------------------------------------------------------------------- output


def test_output_is_pdfa2b_of_about_three_pages(first_run):
    """A three-page Word document comes out as a PDF declaring PDF/A-2b, of two to four pages."""
    pdf, _ = first_run
    reader = assert_pdfa2b(pdf)
    assert 2 <= len(reader.pages) <= 4


def test_names_come_out_exactly(first_run, tmp_path):
    """Names with accents, markup characters and Vietnamese diacritics come out of the PDF's text exactly as typed."""
    pdf, _ = first_run
    text = pdf_text(pdf, tmp_path)
    for name in NAMES:
        assert name in text


def test_bookmark_becomes_named_destination_with_position(first_run):
    """The Word bookmark on the signature line becomes a named destination on the last page, placed within the page."""
    pdf, _ = first_run
    reader = PdfReader(io.BytesIO(pdf))
    dest = sig1_destination(reader)
    page = reader.get_destination_page_number(dest)
    assert page == len(reader.pages) - 1  # the signature line closes the document
    assert dest.top is not None and 0 < float(dest.top) < float(reader.pages[page].mediabox.top)


def test_second_conversion_is_done_by_the_same_warm_instance(converter, first_run, docx_bytes):
    """A second document is converted by the LibreOffice that converted the first: nothing is started
    again (how much faster that is, the benchmark measures)."""
    pid = converter.pid
    pdf = converter.convert(docx_bytes)
    assert pdf.startswith(b"%PDF")
    assert converter.pid == pid and converter.restarts == 0 and converter.conversions >= 2


def test_garbage_is_refused_and_instance_survives(converter, docx_bytes):
    """Text that is not a Word file, a truncated one and an empty one are refused with ConversionError, and the same
    LibreOffice converts the next good document."""
    pid = converter.pid
    with pytest.raises(ConversionError, match="could not convert"):
        converter.convert(b"this is not a word document\n" * 50)
    with pytest.raises(ConversionError):
        converter.convert(docx_bytes[: len(docx_bytes) // 2])  # truncated zip
    with pytest.raises(ConversionError, match="empty"):
        converter.convert(b"")
    assert converter.convert(docx_bytes).startswith(b"%PDF")
    assert converter.pid == pid  # refused documents do not cost a restart


# --------------------------------------------------------------------------- recovery


def test_killed_between_conversions_restarts_transparently(fragile, docx_bytes):
    """A LibreOffice killed between conversions is found dead and started again for the next document, without a failed
    attempt."""
    old_pid, restarts = fragile.pid, fragile.restarts
    soffice = psutil.Process(old_pid)
    os.killpg(old_pid, signal.SIGKILL)
    assert wait_gone([soffice]) == []
    # /proc can vanish a moment before the kernel reports the exit to the parent: wait for that too.
    deadline = time.monotonic() + 5
    while fragile.alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fragile.convert(docx_bytes).startswith(b"%PDF")
    assert fragile.last_failure is None  # found dead before any request: no failed attempt
    assert fragile.pid != old_pid
    assert fragile.restarts == restarts + 1


def test_killed_during_conversion_restarts_transparently(fragile, docx_bytes):
    """A LibreOffice that dies in the middle of a conversion is noticed as dead (not waited out), started again, and
    the document is converted."""
    old_pid, restarts = fragile.pid, fragile.restarts
    os.killpg(old_pid, signal.SIGSTOP)  # the request is sent, soffice never answers...
    killer = threading.Timer(0.5, os.killpg, (old_pid, signal.SIGKILL))  # ...and dies meanwhile
    killer.start()
    try:
        assert fragile.convert(docx_bytes).startswith(b"%PDF")
    finally:
        killer.join()
    assert fragile.last_failure == "LibreOffice exited"  # noticed as a death, not waited out
    assert fragile.restarts == restarts + 1


def test_hung_instance_is_killed_and_retried(fragile, docx_bytes):
    """A LibreOffice that stops answering is killed when the conversion times out, with all its processes, and the
    document is converted by a new one."""
    old_pid, restarts = fragile.pid, fragile.restarts
    old_procs = instance_processes(fragile)
    os.killpg(old_pid, signal.SIGSTOP)
    assert fragile.convert(docx_bytes).startswith(b"%PDF")
    assert fragile.last_failure == "conversion timed out after 3 s"
    assert fragile.restarts == restarts + 1
    assert wait_gone(old_procs) == []


def test_timeouts_exhaust_retries_and_leave_nothing_behind(tmp_path, docx_bytes):
    """When every attempt times out, the conversion fails saying so without any of the document's text, and no process,
    pipe socket or file is left behind."""
    settings = ConverterSettings(work_dir=tmp_path, timeout=0.001, max_retries=1, retry_backoff=0)
    with Converter(settings) as conv:
        conv.start()
        first_procs = instance_processes(conv)
        socket = Path("/tmp") / f"OSL_PIPE_{os.getuid()}_{pipe_name(conv)}"
        assert socket.exists()
        with pytest.raises(ConversionError, match=r"after 2 attempt\(s\): conversion timed out") as info:
            conv.convert(docx_bytes)
        assert "Zo" not in str(info.value)
        assert conv.restarts == 1
        assert wait_gone(first_procs) == []
        assert not conv.alive()  # the last attempt's instance was killed too
        assert not socket.exists()  # a killed soffice's pipe socket is cleaned up
    assert list(tmp_path.iterdir()) == []


def test_recycles_after_n_documents(tmp_path, docx_bytes):
    """With recycle_after 2, the third document is converted by a new LibreOffice, and every conversion is counted."""
    with Converter(ConverterSettings(work_dir=tmp_path, recycle_after=2)) as conv:
        conv.convert(docx_bytes)
        first_pid = conv.pid
        conv.convert(docx_bytes)
        assert conv.pid == first_pid
        conv.convert(docx_bytes)
        assert conv.pid != first_pid
        assert conv.restarts == 1
        assert conv.conversions == 3


def test_close_leaves_no_process_and_no_files(tmp_path, docx_bytes):
    """Closing the converter ends LibreOffice and its bridge and removes its folder; a closed converter refuses to
    convert, and closing it again is harmless."""
    conv = Converter(ConverterSettings(work_dir=tmp_path))
    assert conv.pid is None and not conv.alive()
    conv.convert(docx_bytes)  # lazy start
    procs = instance_processes(conv)
    names = {p.name() for p in procs}
    assert "soffice.bin" in names and len(procs) >= 3  # oosplash, soffice.bin, the bridge
    conv.close()
    assert wait_gone(procs, timeout=1) == []
    assert conv.pid is None and not conv.alive()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConverterUnavailable):
        conv.convert(docx_bytes)
    conv.close()  # idempotent


def test_unstartable_soffice_is_reported(tmp_path, docx_bytes):
    """A soffice that does not exist, or a program that exits at once instead of LibreOffice, is ConverterUnavailable."""
    missing = ConverterSettings(work_dir=tmp_path, soffice=str(tmp_path / "no-soffice"), retry_backoff=0)
    with Converter(missing) as conv, pytest.raises(ConverterUnavailable):
        conv.convert(docx_bytes)
    not_office = ConverterSettings(work_dir=tmp_path, soffice="true", start_timeout=5, max_retries=0)
    with Converter(not_office) as conv, pytest.raises(ConverterUnavailable, match="exited"):
        conv.start()


def test_settings_are_validated():
    """A timeout of zero, a recycle_after of zero and a negative max_retries are refused as configuration errors."""
    with pytest.raises(ConfigurationError):
        ConverterSettings(timeout=0)
    with pytest.raises(ConfigurationError):
        ConverterSettings(recycle_after=0)
    with pytest.raises(ConfigurationError):
        ConverterSettings(max_retries=-1)


# --------------------------------------------------------------------------- working folders

# A process holding one Converter on a workspace's configuration, as the watcher, the portal or a
# CLI command does: "start" starts LibreOffice, "idle" only creates the Converter. It prints the
# soffice pid (0 when idle) and keeps the Converter until its standard input closes.
HOLDER = """
import sys
from pathlib import Path
from pipeline.documents.convert import Converter
from pipeline.workspace import Workspace
conv = Converter(Workspace(Path(sys.argv[1])).load_config().converter)
if sys.argv[2] == "start":
    conv.start()
print(conv.pid or 0, flush=True)
sys.stdin.read()
conv.close()
"""


def hold_converter(ws_root: Path, mode: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws_root), mode], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
    return proc, int(proc.stdout.readline() or -1)


def new_folders(parent: Path, known: set[Path]) -> list[Path]:
    return sorted(set(parent.iterdir()) - known) if parent.is_dir() else []


def kill_with_its_office(proc: subprocess.Popen) -> None:
    """SIGKILL a holder process and the process groups it started (soffice, the bridge), as kill -9 would."""
    children = psutil.Process(proc.pid).children(recursive=True)
    proc.kill()
    proc.wait(timeout=10)
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
    assert wait_gone(children, timeout=10) == []


def test_killed_converters_folder_is_removed_at_the_next_start_and_a_live_ones_kept(tmp_path):
    """A kill -9 leaves its converter folder inside the workspace's private folder, and the next Converter removes it but not a live process's."""
    ws = init_workspace(tmp_path / "ws")
    convert = ws.state / "convert"
    assert ws.load_config().converter.work_dir == convert
    doomed, soffice_pid = hold_converter(ws.root, "start")
    assert soffice_pid > 0
    (stale,) = new_folders(convert, set())
    assert (stale / "profile-1").is_dir()  # LibreOffice's profile and the documents in hand live here
    for folder in (ws.state, convert, stale):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    live, _ = hold_converter(ws.root, "idle")
    try:
        (live_folder,) = new_folders(convert, {stale})
        kill_with_its_office(doomed)
        assert stale.is_dir()  # nothing cleans up after a kill -9 ...

        with Converter(ws.load_config().converter):  # ... until the next converter starts
            assert not stale.exists()
            assert live_folder.is_dir()
            (own,) = new_folders(convert, {live_folder})
        assert not own.exists()
    finally:
        live.communicate(timeout=30)
    assert live.returncode == 0 and list(convert.iterdir()) == []


def test_folder_of_an_unseen_process_is_kept_while_its_lock_is_held(tmp_path):
    """A folder whose process this one cannot see (another pid namespace) is kept while that process holds its lock."""
    ws = init_workspace(tmp_path / "ws")
    convert = ws.state / "convert"
    gone_pid = _reaped_pid()
    held, free = convert / f"accord-lo-{gone_pid}-held", convert / f"accord-lo-{gone_pid}-free"
    for folder in (held, free):
        folder.mkdir(parents=True)
        (folder / "document.docx").write_bytes(b"in the hands of a converter")
    fd = os.open(held, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        Converter(ws.load_config().converter).close()
        assert held.is_dir() and not free.exists()
    finally:
        os.close(fd)


def test_unmakeable_working_folder_is_reported(tmp_path):
    """A working folder that cannot be made is ConverterUnavailable with a sentence naming the folder."""
    (tmp_path / "not-a-folder").write_text("")
    with pytest.raises(ConverterUnavailable, match="cannot make the converter's working folder in .*not-a-folder"):
        Converter(ConverterSettings(work_dir=tmp_path / "not-a-folder" / "convert"))


def _reaped_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------- the stored PDFs


def destinations(pdf: bytes) -> dict[str, tuple[int, int, int]]:
    """Each named destination of a PDF: its page, and its left and top to the point."""
    reader = PdfReader(io.BytesIO(pdf))
    return {name.lstrip("/"): (reader.get_destination_page_number(dest), round(float(dest.left or 0)),
                               round(float(dest.top or 0))) for name, dest in reader.named_destinations.items()}


def pdfa_declaration(pdf: bytes) -> tuple[str, str]:
    """The PDF/A part and conformance the XMP metadata declares."""
    xmp = PdfReader(io.BytesIO(pdf)).trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    return (re.search(r"pdfaid:part(?:>|=\")\s*(\d)", xmp).group(1),
            re.search(r"pdfaid:conformance(?:>|=\")\s*([A-Za-z])", xmp).group(1))


def carried_metadata(pdf: bytes) -> dict[str, str | None]:
    """The title, author, subject and keywords of a PDF, from its document information and its XMP as written."""
    reader = PdfReader(io.BytesIO(pdf))
    info = reader.metadata or {}
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode("utf-8")
    found: dict[str, str | None] = {key: info.get(key) for key in ("/Title", "/Author", "/Subject", "/Keywords")}
    for element in ("dc:title", "dc:creator", "dc:description", "pdf:Keywords"):
        match = re.search(rf"<{element}>(.*?)</{element}>", xmp, re.DOTALL)
        found[element] = re.sub(r"<[^>]+>", "", match.group(1)).strip() if match else None
    return found


def certificate_docx() -> bytes:
    """A certificate of disposition (a generated document without keywords) of an office with markup in its name."""
    from pipeline.governance.disposition import certificate_docx as make

    proposal = {"id": 7, "created_at": "2034-01-01T09:00:00+00:00", "proposed_by": "records.officer",
                "as_of": "2034-01-01"}
    return make(proposal, [], {}, "counsel.approver", "Smith & Sons \"Mediation\" <North Campus>",
                dt.datetime(2034, 1, 2, tzinfo=dt.timezone.utc))


def three_party_agreement_docx() -> bytes:
    """The example agreement with a third party, so with a signature place (sig3) no stored PDF has."""
    import yaml

    from pipeline.documents.assemble import Assembler, RecordInfo
    from pipeline.documents.casefile import parse_case
    from pipeline.documents.templates import load_templates

    data = yaml.safe_load(example_bytes())
    data["parties"].append({"name": "Nguyễn Thị Minh Khai", "role": "witness"})
    raw = yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")
    case = parse_case(raw, "three.yaml", load_templates(ROOT / "templates"), 2 * 1024 * 1024)
    return Assembler().assemble(case, RecordInfo(case.record_id, case.title, STORED_DAY, STORED_OFFICE)).docx


@pytest.mark.parametrize("kind", STORED_KINDS)
def test_stored_pdfs_match_what_libreoffice_makes_today(converter, kind):
    """Each stored PDF has the pages, the named destinations (each on its page, at its place) and the
    PDF/A-2b declaration LibreOffice gives the same document today, so the stand-in the other modules
    convert with cannot drift from the real converter unseen (tests/make_stored_pdfs.py makes them again)."""
    today = converter.convert(stored_kind_docx(kind))
    stored = stored_pdf_path(kind).read_bytes()
    assert destinations(stored) == destinations(today)
    assert pdfa_declaration(stored) == pdfa_declaration(today) == ("2", "B")
    assert len(PdfReader(io.BytesIO(stored)).pages) == len(PdfReader(io.BytesIO(today)).pages)


@pytest.mark.parametrize("kind, docx", [
    ("resolution-agreement", lambda: stored_kind_docx("resolution-agreement", "Smith & Sons <North Campus>",
                                                      "ADR-2026-0142-0badc0de")),
    ("mou", lambda: stored_kind_docx("mou", "Office of Tomás Álvarez", "MOU-2026-007-feedf00d")),
    ("generated", certificate_docx),
], ids=["agreement", "mou", "certificate"])
def test_stored_converter_carries_the_documents_metadata_as_libreoffice_does(converter, kind, docx):
    """For a document the stored PDFs were not made from, the stored-PDF converter takes the PDF of the
    document's kind and gives it the title, author, subject and keywords LibreOffice gives it, in the
    document information and the XMP alike, with the same named destinations (placed where the stored
    document has them), still declaring PDF/A-2b."""
    document = docx()
    real, stand_in = converter.convert(document), StoredConverter().convert(document)
    assert stand_in.startswith(stored_pdf_path(kind).read_bytes())  # the stored file, updated incrementally
    assert carried_metadata(stand_in) == carried_metadata(real)
    assert destinations(stand_in).keys() == destinations(real).keys()
    assert pdfa_declaration(stand_in) == ("2", "B")


def test_stored_converter_refuses_places_no_stored_pdf_has():
    """A document whose signature places no stored PDF offers (a third party's sig3) is refused with a
    reason, never given another document's fields."""
    with pytest.raises(ConversionError, match=r"sig3.*use the real converter"):
        StoredConverter().convert(three_party_agreement_docx())
