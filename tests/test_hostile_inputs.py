"""Hostile inputs through the real pipeline (inbox -> intake -> assemble -> conversion -> seal -> archive).

Broken files end in ``inbox/failed/`` exactly as received, with a reason in plain words and
as JSON, and leave no record; hostile values that are legal are printed literally; a template
that reaches for Python internals is stopped by the sandbox; hostile file names, duplicates,
corrections and symbolic links are handled safely.

Conversion takes the stored PDFs (tests/helpers.StoredConverter), except where a test reads what is
printed on the record's pages: that one takes the real LibreOffice (``lo_office``).
"""

from __future__ import annotations

import copy
import hashlib
import io
import itertools
import json
import os
import random
import re
import shutil
import zipfile
from pathlib import Path

import pytest
import yaml

from .helpers import EXAMPLES, ROOT, example_bytes, make_office, pdftotext, words

EXAMPLE = "resolution-agreement.yaml"
SMALL_LIMIT = 4096


def example_with(change) -> bytes:
    """The resolution agreement example with ``change(data)`` applied, written back as YAML."""
    data = copy.deepcopy(yaml.safe_load(example_bytes()))
    change(data)
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def process(office):
    """Run one pass; a raw Python error escaping the run is a failure of the pipeline, reported as such."""
    try:
        return office.process()
    except Exception as exc:  # noqa: BLE001 - the bug this guards against: the whole run crashing on one bad file
        pytest.fail(f"process_inbox let {type(exc).__name__} escape instead of failing the file: {exc}")


def assert_inbox_clean(ws) -> None:
    """Only Accord's own folders remain in the inbox, and nothing is left staged."""
    left = {p.name for p in ws.inbox.iterdir()}
    assert left <= {ws.processed.name, ws.failed.name, ws.staging.name}, left
    assert list(ws.staging.iterdir()) == []


def assert_inside(path: Path, folder: Path) -> None:
    assert os.path.commonpath([os.path.abspath(path), os.path.abspath(folder)]) == str(folder.resolve())


@pytest.fixture
def small_office(workspace, stored_converter):
    """An office whose intake refuses files over 4096 bytes."""
    workspace.config_file.write_text(f"intake:\n  max_bytes: {SMALL_LIMIT}\n", encoding="utf-8")
    o = make_office(workspace, stored_converter)
    assert o.ingestor.config.intake.max_bytes == SMALL_LIMIT
    yield o
    o.ingestor.close()


# --- the broken inputs ----------------------------------------------------------------------


def _alias_bomb(_tmp: Path) -> bytes:
    lines = ['a: &a ["lol", "lol"]']
    names = "abcdefghij"
    for prev, cur in itertools.pairwise(names):
        lines.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
    return ("\n".join(lines) + "\n").encode()


def _code_tag(tmp: Path) -> bytes:
    return f'template: !!python/object/apply:os.system ["touch {tmp / "pwned"}"]\n'.encode()


def _oversized(_tmp: Path) -> bytes:
    raw = example_bytes()
    return raw + b"# padding\n" * ((SMALL_LIMIT - len(raw)) // 10 + 50)


BROKEN = [
    # id, file name, bytes (given tmp_path), small size limit?, what the reason says
    ("malformed-yaml", "malformed.yaml", lambda t: b"template: resolution-agreement\ncase: [unclosed\n", False,
     "not valid YAML"),
    ("missing-required-field", "no-name.yaml", lambda t: example_with(lambda d: d["parties"][1].pop("name")), False,
     "parties[1].name is missing"),
    ("unknown-template", "settlement.yaml", lambda t: example_with(lambda d: d.__setitem__("template", "settlement")),
     False, "Unknown template"),
    ("traversal-id", "traversal.yaml", lambda t: example_with(lambda d: d["case"].__setitem__("id", "../etc/passwd")),
     False, "case.id"),
    ("not-utf8", "latin1.yaml", lambda t: example_bytes().replace("Zoë".encode(), b"Zo\xeb"), False, "not UTF-8"),
    ("empty", "empty.yaml", lambda t: b"", False, "empty"),
    ("over-size-limit", "big.yaml", _oversized, True, f"larger than the limit of {SMALL_LIMIT} bytes"),
    ("binary", "random.yaml", lambda t: b"\x00" + random.Random(20261120).randbytes(3000), False, "binary"),
    ("alias-bomb", "lol.yaml", _alias_bomb, False, "alias"),
    ("code-running-tag", "tag.yaml", _code_tag, False, "tag"),
    ("impossible-date", "date.yaml", lambda t: example_bytes().replace(b"opened: 2026-09-03", b"opened: 2026-02-30"),
     False, "date written like 2026-11-20"),
]


class TestBrokenInputsFail:
    """Each broken input ends in failed/ as received, with its reasons, and leaves no record."""

    @pytest.mark.parametrize(
        "name, make, small, says", [row[1:] for row in BROKEN], ids=[row[0] for row in BROKEN]
    )
    def test_broken_input_is_failed_with_reasons(self, name, make, small, says, request, tmp_path):
        """The original bytes land in failed/ beside a plain reason and a JSON reason naming step intake."""
        office = request.getfixturevalue("small_office" if small else "office")
        ws = office.ws
        original = make(tmp_path)
        office.drop(name, original)

        summary = process(office)

        assert [(o.source_name, o.status, o.step) for o in summary.outcomes] == [(name, "failed", "intake")]
        assert summary.stopped is None
        failed = ws.failed / name
        assert summary.outcomes[0].moved_to == failed
        assert failed.read_bytes() == original
        assert sorted(p.name for p in ws.failed.iterdir()) == sorted(
            [name, name + ".reason.txt", name + ".reason.json"]
        )

        text = (ws.failed / (name + ".reason.txt")).read_text(encoding="utf-8")
        assert f"Accord could not process {name}." in text
        assert "Step: intake" in text
        assert says in text
        assert "Traceback" not in text and "Error:" not in text

        reason = json.loads((ws.failed / (name + ".reason.json")).read_text(encoding="utf-8"))
        assert set(reason) == {"step", "reason", "source_name", "sha256", "failed_at"}
        assert reason["step"] == "intake"
        assert says in reason["reason"]
        assert reason["source_name"] == name
        assert reason["sha256"] == sha256(original)
        assert "../etc/passwd" not in reason["reason"]

        catalog = office.ingestor.catalog
        assert catalog.count() == 0
        rows = catalog.db.execute("select source_name, sha256, step from failures").fetchall()
        assert [tuple(r) for r in rows] == [(name, sha256(original), "intake")]
        assert_inbox_clean(ws)
        assert not (tmp_path / "pwned").exists()
        assert not any(ws.archive.rglob("*.pdf"))

    @pytest.mark.slow
    def test_broken_inputs_never_stop_the_others(self, office, tmp_path):
        """All broken inputs dropped together with a good file: each broken one fails, the good one is recorded."""
        broken = {name: make(tmp_path) for _, name, make, small, _ in BROKEN if not small}
        for name, data in broken.items():
            office.drop(name, data)
        office.drop(EXAMPLE, example_bytes())

        summary = process(office)

        assert summary.stopped is None
        statuses = {o.source_name: o.status for o in summary.outcomes}
        assert statuses == {**{name: "failed" for name in broken}, EXAMPLE: "recorded"}
        for name, data in broken.items():
            assert (office.ws.failed / name).read_bytes() == data
        assert office.ingestor.catalog.count() == 1
        assert office.ingestor.catalog.db.execute("select count(*) from failures").fetchone()[0] == len(broken)
        assert_inbox_clean(office.ws)


# --- legal values that look hostile ---------------------------------------------------------

PARTY = "Smith & Sons <North Campus> \"quoted\" 'single'"
INTERNALS = "{{ ''.__class__ }}"
ARITHMETIC = "{{ 7*7 }}"
RAW_TAG = "{% raw %}x"


@pytest.mark.slow
class TestLegalHostileValuesPrinted:
    """Values that look like markup or template code are printed literally in the sealed PDF."""

    def test_values_are_printed_literally(self, lo_office):
        """Markup characters and Jinja syntax in the data appear as typed; {{ 7*7 }} never becomes 49."""

        def change(d):
            d["parties"][0]["name"] = PARTY
            d["terms"][0]["text"] = INTERNALS
            d["terms"][1]["text"] = ARITHMETIC
            d["terms"][1]["owner"] = "arithmetic check"
            d["parties"][1]["affiliation"] = RAW_TAG

        office = lo_office
        office.drop("hostile-values.yaml", example_with(change))
        summary = process(office)

        outcome = summary.outcomes[0]
        assert (outcome.status, outcome.reason) == ("recorded", None)
        record = office.ingestor.catalog.get(outcome.record_id)
        text = words(pdftotext(office.ws.root / record["pdf_path"]))
        for value in (PARTY, INTERNALS, ARITHMETIC, RAW_TAG):
            assert words(value) in text, value
        assert "<class" not in text
        row = text[text.index(ARITHMETIC) - 10: text.index("Arithmetic check")]
        assert "49" not in row
        assert not re.search(r"(?<![0-9A-Za-z])49(?![0-9A-Za-z])", text)
        assert PARTY in record["parties"]


# --- a hostile template ---------------------------------------------------------------------


def docx_with(source: Path, literal: str, replacement: str) -> bytes:
    """The Word file with the first occurrence of ``literal`` in word/document.xml replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "word/document.xml":
                xml = data.decode("utf-8")
                assert literal in xml
                data = xml.replace(literal, replacement, 1).encode("utf-8")
            zout.writestr(item, data)
    return out.getvalue()


class TestSandboxedTemplate:
    """A Word template that reaches for Python internals is stopped at assembly."""

    def test_template_reaching_for_internals_fails_at_assemble(self, workspace, stored_converter):
        """{{ ''.__class__.__mro__ }} in the template fails the file at step assemble, naming the sandbox."""
        (workspace.templates / "resolution-agreement.docx").write_bytes(
            docx_with(ROOT / "templates" / "resolution-agreement.docx",
                      ">Resolution Agreement<", ">{{ ''.__class__.__mro__ }}<")
        )
        office = make_office(workspace, stored_converter)
        try:
            original = example_bytes()
            office.drop(EXAMPLE, original)
            summary = process(office)

            assert [(o.status, o.step) for o in summary.outcomes] == [("failed", "assemble")]
            assert "sandbox" in summary.outcomes[0].reason
            assert (workspace.failed / EXAMPLE).read_bytes() == original
            reason = json.loads((workspace.failed / (EXAMPLE + ".reason.json")).read_text(encoding="utf-8"))
            assert reason["step"] == "assemble"
            assert "sandbox" in reason["reason"]
            assert reason["sha256"] == sha256(original)
            assert "Step: assemble" in (workspace.failed / (EXAMPLE + ".reason.txt")).read_text(encoding="utf-8")
            assert "mro" not in reason["reason"] and "object" not in reason["reason"]
            assert office.ingestor.catalog.count() == 0
            assert not any(workspace.archive.rglob("*.pdf"))
            assert_inbox_clean(workspace)
        finally:
            office.ingestor.close()


# --- hostile file names ---------------------------------------------------------------------

HOSTILE_NAMES = [
    ("dash-rf", "-rf.yaml"),
    ("space-and-unicode", "Zoë case.yaml"),
    ("newline", "line\nbreak.yaml"),
]


class TestHostileFileNames:
    """File names that could confuse a shell or a path are handled as plain names."""

    @pytest.mark.slow
    def test_hostile_names_are_recorded_inside_the_inbox(self, office):
        """Files named -rf.yaml, 'Zoë case.yaml' and one with a newline are recorded under their own names."""
        dropped = {}
        for n, (_, name) in enumerate(HOSTILE_NAMES):
            raw = example_bytes().replace(b"ADR-2026-0142", f"ADR-2026-90{n}".encode())
            try:
                office.drop(name, raw)
            except OSError:  # the file system does not allow this name
                continue
            dropped[name] = raw
        assert "-rf.yaml" in dropped and "Zoë case.yaml" in dropped

        summary = process(office)

        assert sorted((o.source_name, o.status) for o in summary.outcomes) == sorted(
            (name, "recorded") for name in dropped
        )
        for outcome in summary.outcomes:
            assert outcome.moved_to.name == outcome.source_name
            assert outcome.moved_to.parent.parent == office.ws.processed
            assert_inside(outcome.moved_to, office.ws.inbox)
            assert outcome.moved_to.read_bytes() == dropped[outcome.source_name]
            record = office.ingestor.catalog.get(outcome.record_id)
            assert record["source_name"] == outcome.source_name
            assert_inside(office.ws.root / record["pdf_path"], office.ws.archive)
        assert office.ingestor.catalog.count() == len(dropped)
        assert_inbox_clean(office.ws)
        assert not (ROOT / "-rf.yaml").exists() and not (Path.cwd() / "-rf.yaml").exists()

    @pytest.mark.parametrize("name", [n for _, n in HOSTILE_NAMES], ids=[i for i, _ in HOSTILE_NAMES])
    def test_hostile_name_failing_keeps_its_name_in_failed(self, office, name):
        """A broken file with a hostile name is failed under that name, reasons beside it."""
        try:
            office.drop(name, b"template: [unclosed\n")
        except OSError:
            pytest.skip("the file system does not allow this name")

        summary = process(office)

        assert [(o.source_name, o.status) for o in summary.outcomes] == [(name, "failed")]
        assert (office.ws.failed / name).read_bytes() == b"template: [unclosed\n"
        assert (office.ws.failed / (name + ".reason.txt")).is_file()
        reason = json.loads((office.ws.failed / (name + ".reason.json")).read_text(encoding="utf-8"))
        assert reason["source_name"] == name
        assert_inbox_clean(office.ws)


# --- the same file twice, and a correction --------------------------------------------------


@pytest.mark.slow
class TestDuplicatesAndCorrections:
    """A file recorded once is not recorded again; a corrected file supersedes the first record."""

    def test_duplicate_then_correction(self, office):
        """The same bytes under another name give a duplicate note; one changed term gives a superseding record."""
        original = example_bytes()
        office.drop("first.yaml", original)
        first = process(office).outcomes
        assert [o.status for o in first] == ["recorded"]
        first_id = first[0].record_id

        office.drop("second copy.yaml", original)
        again = process(office).outcomes
        assert [(o.status, o.record_id) for o in again] == [("duplicate", first_id)]
        moved = again[0].moved_to
        assert moved.read_bytes() == original
        note = moved.with_name(moved.name + ".note.txt").read_text(encoding="utf-8")
        assert first_id in note
        assert "second copy.yaml" in note
        assert office.ingestor.catalog.count() == 1

        corrected = original.replace(b"after 60 days", b"after 45 days")
        assert corrected != original
        office.drop("corrected.yaml", corrected)
        third = process(office).outcomes
        assert [o.status for o in third] == ["recorded"]
        second_id = third[0].record_id
        assert second_id != first_id
        assert second_id.startswith("ADR-2026-0142-")
        assert office.ingestor.catalog.get(second_id)["supersedes"] == first_id
        assert office.ingestor.catalog.get(first_id)["supersedes"] is None
        assert office.ingestor.catalog.count() == 2
        assert_inbox_clean(office.ws)


# --- symbolic links -------------------------------------------------------------------------


class TestSymlinks:
    """Accord never follows a symbolic link in the inbox."""

    def test_symlink_to_outside_file_is_refused(self, office, tmp_path):
        """A link to a real example outside the inbox is failed (mentioning the link), the target untouched."""
        outside = tmp_path / "outside"
        outside.mkdir()
        target = outside / EXAMPLE
        shutil.copy(EXAMPLES / EXAMPLE, target)
        before = target.read_bytes()
        before_stat = target.stat()
        os.symlink(target, office.ws.inbox / "linked.yaml")

        summary = process(office)

        assert [(o.source_name, o.status, o.step) for o in summary.outcomes] == [("linked.yaml", "failed", "intake")]
        assert "link" in summary.outcomes[0].reason
        failed = office.ws.failed / "linked.yaml"
        assert failed.is_symlink()
        reason = json.loads((office.ws.failed / "linked.yaml.reason.json").read_text(encoding="utf-8"))
        assert reason["step"] == "intake" and "link" in reason["reason"]
        assert "link" in (office.ws.failed / "linked.yaml.reason.txt").read_text(encoding="utf-8")
        assert target.read_bytes() == before
        assert target.stat().st_mtime_ns == before_stat.st_mtime_ns
        assert not target.is_symlink()
        assert office.ingestor.catalog.count() == 0
        assert office.ingestor.catalog.db.execute("select count(*) from failures").fetchone()[0] == 1
        assert_inbox_clean(office.ws)
