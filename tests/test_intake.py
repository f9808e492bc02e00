"""Intake: a case file's bytes become a validated CaseFile, or an IntakeError in plain words.

These are fast unit tests of ``parse_case`` and ``read_limited`` (no LibreOffice): the shipped
examples are accepted as they are, schema problems are reported with the field's place, and
hostile files (malformed, binary, huge, alias bombs, code-running tags, deep nesting) are
refused cleanly without echoing hostile values back.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
from pathlib import Path

import pytest
import yaml

from pipeline.documents.casefile import CaseFile, parse_case, read_limited
from pipeline.documents.templates import load_templates
from pipeline.errors import IntakeError

from .helpers import ROOT, example_bytes

TEMPLATES = load_templates(ROOT / "templates")
LIMIT = 2 * 1024 * 1024
EXAMPLE_NAMES = ["resolution-agreement.yaml", "mou.yaml"]


def example_data(name: str = "resolution-agreement.yaml") -> dict:
    return yaml.safe_load(example_bytes(name))


def as_yaml(data: dict) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


def as_json(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, default=lambda v: v.isoformat()).encode("utf-8")


def parse(raw: bytes, name: str = "case.yaml", max_bytes: int = LIMIT) -> CaseFile:
    return parse_case(raw, name, TEMPLATES, max_bytes)


def refusal(raw: bytes, name: str = "case.yaml", max_bytes: int = LIMIT) -> IntakeError:
    """The IntakeError the file is refused with; any other exception escaping is a failure."""
    try:
        case = parse(raw, name, max_bytes)
    except IntakeError as error:
        return error
    except Exception as exc:  # noqa: BLE001 - the bug this guards against: a raw Python error instead of plain words
        pytest.fail(f"parse_case let {type(exc).__name__} escape instead of an IntakeError: {exc}")
    pytest.fail(f"parse_case accepted the file as {case.record_id}")


def with_change(change, name: str = "resolution-agreement.yaml") -> bytes:
    """The example's data with ``change(data)`` applied, written back as YAML."""
    data = copy.deepcopy(example_data(name))
    change(data)
    return as_yaml(data)


# --------------------------------------------------------------------------------------------


class TestExamplesAccepted:
    """The shipped examples, exactly as they are, are valid case files."""

    @pytest.mark.parametrize("name", EXAMPLE_NAMES)
    def test_example_is_accepted_as_it_is(self, name):
        """Each shared example file is accepted byte for byte, for the template it names."""
        raw = example_bytes(name)
        case = parse(raw, name)
        assert case.template.name == Path(name).stem
        assert case.raw == raw
        assert case.source_name == name
        assert case.suffix == ".yaml"

    @pytest.mark.parametrize("name", EXAMPLE_NAMES)
    def test_same_data_as_json_gives_equal_data(self, name):
        """The example's data written as JSON (dates as ISO text) gives the same validated data."""
        from_yaml = parse(example_bytes(name), name)
        from_json = parse(as_json(example_data(name)), Path(name).with_suffix(".json").name)
        assert from_json.data == from_yaml.data
        assert from_json.suffix == ".json"
        assert from_json.subject_id == from_yaml.subject_id

    def test_record_id_is_deterministic(self):
        """The same bytes always give the same record id."""
        raw = example_bytes()
        assert parse(raw).record_id == parse(bytes(raw)).record_id == "ADR-2026-0142-" + parse(raw).sha256[:8]

    def test_one_changed_byte_changes_the_record_id(self):
        """Changing a single byte of the file gives a different record id for the same case."""
        raw = example_bytes()
        changed = raw.replace(b"after 60 days", b"after 61 days")
        assert changed != raw
        first, second = parse(raw), parse(changed)
        assert first.subject_id == second.subject_id
        assert first.record_id != second.record_id

    def test_dates_become_dates(self):
        """Fields declared as dates come out as datetime.date values."""
        data = parse(example_bytes()).data
        assert data["agreement_date"] == dt.date(2026, 11, 20)
        assert data["case"]["opened"] == dt.date(2026, 9, 3)
        assert data["terms"][0]["due"] == dt.date(2027, 1, 31)
        assert data["follow_up_date"] == dt.date(2027, 1, 19)

    def test_missing_optional_fields_become_none(self):
        """A declared optional field that is absent is present as None."""
        data = parse(example_bytes()).data
        assert "due" in data["terms"][1] and data["terms"][1]["due"] is None

    def test_missing_optional_top_level_field_becomes_none(self):
        """An optional top-level field left out (follow_up_date) is present as None."""
        data = parse(with_change(lambda d: d.pop("follow_up_date"))).data
        assert data["follow_up_date"] is None

    def test_catalog_metadata_comes_from_the_declaration(self):
        """Title, record date and party names are taken from the paths the declaration names."""
        case = parse(example_bytes())
        assert case.title == "Resolution agreement, case ADR-2026-0142"
        assert case.record_date == dt.date(2026, 11, 20)
        assert case.party_names == ("Zoë Núñez", "Daniel O'Brien", "Morgan Lee")


class TestSchemaProblems:
    """A file that does not match its template's schema is refused with each problem's place."""

    def test_missing_field_deep_in_a_list(self):
        """Removing the second party's name reports exactly 'parties[1].name is missing'."""
        error = refusal(with_change(lambda d: d["parties"][1].pop("name")))
        assert error.problems == ["parties[1].name is missing"]
        assert "parties[1].name is missing" in str(error)
        assert "resolution-agreement template" in str(error)

    def test_unknown_field(self):
        """A field the template does not declare is named as not a field of this template."""
        error = refusal(with_change(lambda d: d["parties"][0].update(nickname="Zo")))
        assert error.problems == ["parties[0].nickname is not a field of this template"]

    def test_unknown_top_level_field(self):
        """An undeclared top-level field is named by itself."""
        error = refusal(with_change(lambda d: d.update(notes="x")))
        assert error.problems == ["notes is not a field of this template"]

    @pytest.mark.parametrize(
        "change, problem",
        [
            (lambda d: d["terms"].__setitem__(0, "do it"), "terms[0] should be a group of fields"),
            (lambda d: d.__setitem__("parties", {"name": "x"}), "parties should be a list"),
            (lambda d: d["facilitator"].__setitem__("name", 42), "facilitator.name should be text"),
            (lambda d: d.__setitem__("confidentiality", ["a"]), "confidentiality should be text"),
        ],
        ids=["term-not-a-mapping", "parties-not-a-list", "name-a-number", "clause-a-list"],
    )
    def test_wrong_type(self, change, problem):
        """A value of the wrong kind is described in plain words (text, a list, a group of fields)."""
        error = refusal(with_change(change))
        assert problem in error.problems

    @pytest.mark.parametrize(
        "raw_value",
        [b"2026-13-45", b"2026-02-30", b'"2026-13-45"'],
        ids=["unquoted-as-people-write-it", "february-30-unquoted", "quoted"],
    )
    def test_impossible_date(self, raw_value):
        """A date that cannot exist is refused, showing how a date is written."""
        raw = example_bytes().replace(b"opened: 2026-09-03", b"opened: " + raw_value)
        error = refusal(raw)
        assert error.problems == ["case.opened should be a date written like 2026-11-20"]

    def test_impossible_date_in_json(self):
        """The same impossible date in a JSON file gets the same plain message."""
        data = example_data()
        data["case"]["opened"] = "2026-13-45"
        error = refusal(as_json(data), "case.json")
        assert error.problems == ["case.opened should be a date written like 2026-11-20"]

    def test_enum_value_not_allowed(self):
        """A process that is not one of the declared ones is refused, listing the allowed ones."""
        error = refusal(with_change(lambda d: d["case"].__setitem__("process", "arbitration")))
        assert error.problems == [
            "case.process must be one of: mediation, restorative-justice, facilitated-dialogue, shuttle-negotiation"
        ]
        assert "arbitration" not in str(error)

    def test_fewer_than_two_parties(self):
        """An agreement with one party is refused: it needs at least 2 entries."""
        error = refusal(with_change(lambda d: d.__setitem__("parties", d["parties"][:1])))
        assert error.problems == ["parties needs at least 2 entries"]

    def test_empty_text_field(self):
        """A required text left empty is reported as empty."""
        error = refusal(with_change(lambda d: d["facilitator"].__setitem__("name", "")))
        assert error.problems == ["facilitator.name is empty"]

    def test_several_problems_reported_together(self):
        """Every problem is reported at once, not just the first."""

        def break_many(d):
            d["parties"][1].pop("name")
            d["case"]["process"] = "arbitration"
            d["agreement_date"] = "20 November 2026"
            d["extra"] = 1

        error = refusal(with_change(break_many))
        assert set(error.problems) == {
            "parties[1].name is missing",
            "case.process must be one of: mediation, restorative-justice, facilitated-dialogue, shuttle-negotiation",
            "agreement_date should be a date written like 2026-11-20",
            "extra is not a field of this template",
        }
        for problem in error.problems:
            assert problem in str(error)

    def test_mou_problem_is_placed_in_the_mou(self):
        """The MOU template's problems are placed the same way (parties[0].signatory.name)."""
        error = refusal(with_change(lambda d: d["parties"][0]["signatory"].pop("name"), "mou.yaml"))
        assert error.problems == ["parties[0].signatory.name is missing"]
        assert "mou template" in str(error)


class TestTemplateAndId:
    """The template must be known, and the case id must be safe to use in a path."""

    def test_unknown_template(self):
        """A template that does not exist is refused, listing the templates there are."""
        error = refusal(with_change(lambda d: d.__setitem__("template", "settlement")))
        assert "Unknown template 'settlement'" in str(error)
        assert "mou, " in str(error) and "resolution-agreement" in str(error)

    def test_missing_template_key(self):
        """A file without 'template' is asked to say which template it is for."""
        error = refusal(with_change(lambda d: d.pop("template")))
        assert str(error).startswith("template is missing")
        assert "mou, " in str(error) and "resolution-agreement" in str(error)

    @pytest.mark.parametrize(
        "case_id",
        ["../etc/passwd", "a/b", "..", "ADR..1", "", "A" * 65, "ADR 2026"],
        ids=["traversal", "slash", "dotdot", "double-dot-inside", "empty", "65-chars", "space"],
    )
    def test_unsafe_case_id_is_refused(self, case_id):
        """A case id that could escape or confuse the archive's folders is refused."""
        error = refusal(with_change(lambda d: d["case"].__setitem__("id", case_id)))
        assert "case.id" in str(error)
        if case_id and "/" in case_id:
            assert case_id not in str(error)

    def test_sixty_four_character_id_is_accepted(self):
        """The longest allowed id (64 characters) is still accepted."""
        case = parse(with_change(lambda d: d["case"].__setitem__("id", "A" * 64)))
        assert case.subject_id == "A" * 64

    @pytest.mark.parametrize(
        "where",
        ["case.id", "template"],
        ids=["as-case-id", "as-template-name"],
    )
    def test_path_like_value_is_not_echoed(self, where):
        """A hostile value with path separators never appears verbatim in the message."""

        def put(d):
            if where == "template":
                d["template"] = "../etc/passwd"
            else:
                d["case"]["id"] = "../etc/passwd"

        error = refusal(with_change(put))
        assert "../etc/passwd" not in str(error)
        assert all("../etc/passwd" not in p for p in error.problems)


class TestUnreadableFiles:
    """Files that are not readable case files are refused before any validation."""

    def test_malformed_yaml_names_the_line(self):
        """An unclosed bracket is reported as invalid YAML with its line."""
        raw = b"template: resolution-agreement\ncase:\n  id: [ADR-1\n  process: mediation\n"
        error = refusal(raw)
        assert "not valid YAML" in str(error)
        assert "line 4" in str(error)

    def test_malformed_json_names_the_line(self):
        """Broken JSON is reported with its line and column."""
        error = refusal(b'{"template": "mou",\n  "mou": }', "case.json")
        assert "not valid JSON (line 2" in str(error)

    @pytest.mark.parametrize(
        "raw",
        [example_bytes().replace("Zoë".encode(), "Zoë".encode("latin-1")), b"\xff\xfetemplate: Zo\xeb\n"],
        ids=["latin1-example", "leading-ff-fe"],
    )
    def test_latin1_text_is_not_utf8(self, raw):
        """Text saved as Latin-1 (Zo\\xeb) is refused as not UTF-8, with a hint to save as UTF-8."""
        error = refusal(raw)
        assert "not UTF-8" in str(error)
        assert "save it as UTF-8" in str(error)

    @pytest.mark.parametrize("raw", [
        b"\xff\xfe" + "template: mou\nmou:\n  id: Zoë\n".encode("utf-16-le"),
        b"\xfe\xff" + "template: mou\nmou:\n  id: Zoë\n".encode("utf-16-be"),
        "template: mou\nmou:\n  id: Zoë\n".encode("utf-16-le"),
    ], ids=["utf-16-le-bom", "utf-16-be-bom", "utf-16-le-no-bom"])
    def test_utf16_is_named_as_utf16(self, raw):
        """A UTF-16 file (as Windows tools save "Unicode" text) is called UTF-16 with a hint to save it
        as UTF-8, not "binary"."""
        error = str(refusal(raw))
        assert "UTF-16" in error and "save it as UTF-8" in error
        assert "binary" not in error

    def test_utf8_bom_is_accepted(self):
        """A UTF-8 file with a byte-order mark (as Notepad saves it) is accepted."""
        case = parse(b"\xef\xbb\xbf" + example_bytes())
        assert case.subject_id == "ADR-2026-0142"

    @pytest.mark.parametrize("raw", [b"", b"   \n\t\n  \r\n"], ids=["empty", "whitespace-only"])
    def test_empty_file(self, raw):
        """An empty or blank file is refused as empty."""
        assert str(refusal(raw)) == "The file is empty."

    def test_nul_bytes_mean_binary(self):
        """A file containing NUL bytes is refused as binary data."""
        error = refusal(b"template: mou\x00\x00\x01\x02")
        assert "binary" in str(error)

    def test_over_the_size_limit(self):
        """A file larger than max_bytes is refused, naming the limit."""
        error = refusal(example_bytes(), max_bytes=100)
        assert "larger than the limit of 100 bytes" in str(error)

    def test_exactly_at_the_size_limit_is_read(self):
        """A file exactly max_bytes long is not refused for its size."""
        raw = example_bytes()
        assert parse(raw, max_bytes=len(raw)).raw == raw

    @pytest.mark.parametrize("name", ["case.txt", "case.docx", "case"], ids=["txt", "docx", "no-suffix"])
    def test_wrong_suffix(self, name):
        """A file that is not .yaml, .yml or .json is refused, naming the accepted suffixes."""
        error = refusal(example_bytes(), name)
        assert ".yaml, .yml and .json" in str(error)

    @pytest.mark.parametrize("name", ["CASE.YAML", "case.yml", "case.Yml"], ids=["upper", "yml", "mixed-case"])
    def test_yaml_suffix_variants_are_accepted(self, name):
        """The suffix check ignores case and accepts .yml."""
        assert parse(example_bytes(), name).suffix == ".yaml"


class TestReadLimited:
    """read_limited never reads more than it needs to refuse a large file."""

    def test_small_file_is_read_whole(self, tmp_path):
        """A file under the limit is returned byte for byte."""
        path = tmp_path / "case.yaml"
        path.write_bytes(example_bytes())
        assert read_limited(path, LIMIT) == example_bytes()

    def test_huge_sparse_file_is_refused_quickly(self, tmp_path, monkeypatch):
        """A 50 MB file is refused after reading at most max_bytes + 1 bytes (never read whole)."""
        path = tmp_path / "huge.yaml"
        with open(path, "wb") as fh:
            fh.truncate(50 * 1024 * 1024)
        asked: list[int] = []
        real_open = open

        class Spy:
            def __init__(self, fh):
                self.fh = fh

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.fh.close()

            def read(self, n=-1):
                asked.append(n)
                return self.fh.read(n)

        monkeypatch.setattr("pipeline.documents.casefile.open", lambda *a, **k: Spy(real_open(*a, **k)), raising=False)
        with pytest.raises(IntakeError, match="larger than the limit of 1.0 MB"):
            read_limited(path, 1024 * 1024)
        monkeypatch.undo()
        assert asked and all(0 <= n <= 1024 * 1024 + 1 for n in asked)


class TestHostileYaml:
    """YAML features that attack the reader are refused before they can do anything."""

    def test_alias_bomb_is_refused_quickly(self):
        """A billion-laughs alias bomb (9 levels) is refused at its first alias, before anything is expanded."""
        lines = ['a: &a ["x", "x"]']
        names = "abcdefghij"
        for prev, cur in itertools.pairwise(names):
            lines.append(f"{cur}: &{cur} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]")
        error = refusal("\n".join(lines).encode() + b"\n")
        assert "alias (*a) on line 2" in str(error)

    def test_single_alias_is_refused(self):
        """Even a harmless alias is refused, with its line: case files hold values written out."""
        raw = example_bytes().replace(b"  name: Morgan Lee", b"  name: &f Morgan Lee").replace(
            b"    owner: coordinator", b"    owner: *f"
        )
        error = refusal(raw)
        assert "alias (*f)" in str(error)
        assert "line" in str(error)

    @pytest.mark.parametrize(
        "payload",
        [
            'x: !!python/object/apply:os.system ["touch {marker}"]',
            "x: !!python/object/apply:subprocess.call [[touch, {marker}]]",
            "x: !!python/name:os.system",
            'template: !!python/object/new:os.system ["touch {marker}"]',
        ],
        ids=["os.system-apply", "subprocess-apply", "python-name", "object-new"],
    )
    def test_code_running_tag_is_refused_and_nothing_runs(self, payload, tmp_path):
        """A YAML tag that would run code is refused, mentioning tags, and nothing is run."""
        marker = tmp_path / "pwned"
        error = refusal(payload.format(marker=marker).encode() + b"\n")
        assert "tag" in str(error)
        assert not marker.exists()

    def test_duplicate_key_in_yaml(self):
        """A field written twice in YAML is refused, naming it and its line."""
        raw = example_bytes().replace(b"agreement_date: 2026-11-20\n", b"agreement_date: 2026-11-20\nagreement_date: 2026-11-21\n")
        error = refusal(raw)
        assert "'agreement_date' appears twice" in str(error)
        assert "line" in str(error)

    def test_duplicate_nested_key_in_yaml(self):
        """A field written twice inside a group is refused too."""
        raw = example_bytes().replace(b"  name: Morgan Lee\n", b"  name: Morgan Lee\n  name: Someone Else\n")
        assert "'name' appears twice" in str(refusal(raw))

    def test_duplicate_key_in_json(self):
        """A field written twice in JSON is refused, naming it."""
        text = as_json(example_data()).decode()
        text = text.replace('"confidentiality":', '"confidentiality": "x", "confidentiality":', 1)
        error = refusal(text.encode(), "case.json")
        assert "'confidentiality' appears twice" in str(error)

    @pytest.mark.parametrize(
        "raw, name",
        [(b"- template: mou\n- x\n", "case.yaml"), (b'["template", "mou"]', "case.json"),
         (b"just some words\n", "case.yaml"), (b"42", "case.json")],
        ids=["yaml-list", "json-list", "yaml-scalar", "json-number"],
    )
    def test_top_level_must_be_a_mapping(self, raw, name):
        """A list or a single value at the top level is refused: a case file is a mapping of fields."""
        assert "must hold a mapping of fields" in str(refusal(raw, name))

    def test_two_yaml_documents(self):
        """A file holding two YAML documents is refused."""
        raw = example_bytes() + b"---\n" + example_bytes()
        assert "exactly one YAML document" in str(refusal(raw))

    @pytest.mark.parametrize("name", ["deep.json", "deep.yaml"], ids=["json", "yaml"])
    def test_deep_nesting_is_a_clean_refusal(self, name):
        """100000 nested brackets give a clean IntakeError, never a RecursionError."""
        error = refusal(b"[" * 100000, name)
        assert "nested too deeply" in str(error) or "not valid" in str(error)

    def test_raw_control_character_in_yaml_value(self):
        """A raw BEL character inside a YAML value is refused."""
        raw = example_bytes().replace(b"Morgan Lee", b"Morgan\x07Lee")
        line = example_bytes()[: example_bytes().index(b"Morgan Lee")].count(b"\n") + 1
        assert f"character that cannot appear in a case file (line {line})" in str(refusal(raw))

    @pytest.mark.parametrize(
        "raw, name",
        [
            (example_bytes().replace(b"  name: Morgan Lee", b'  name: "Morgan\\aLee"'), "case.yaml"),
            (as_json(example_data()).replace(b"Morgan Lee", b"Morgan\\u0007Lee"), "case.json"),
        ],
        ids=["yaml-escape", "json-escape"],
    )
    def test_escaped_control_character_in_value(self, raw, name):
        """A control character written as an escape is refused, naming the field."""
        error = refusal(raw, name)
        assert error.problems == ["facilitator.name contains a control character that cannot appear in a document"]


HOSTILE_VALUES = {
    "markup": "Smith & Sons <North Campus> \"quoted\" 'single'",
    "jinja-expression": "{{ 7*7 }}",
    "jinja-statement": "{% if %}",
    "jinja-internals": "{{ ''.__class__ }}",
    "latin-accents": "Zoë Núñez",
    "vietnamese": "Nguyễn Thị Minh Khai",
    "hebrew-rtl": "שרה כהן",
    "arabic-rtl": "ليلى حداد",
}


class TestLegalHostileValues:
    """Values that look hostile but are legal text pass intake unchanged."""

    @pytest.mark.parametrize("value", list(HOSTILE_VALUES.values()), ids=list(HOSTILE_VALUES))
    @pytest.mark.parametrize("fmt", ["yaml", "json"])
    def test_value_is_accepted_unchanged(self, value, fmt):
        """The value reaches the CaseFile's data exactly as typed, in YAML and in JSON."""
        data = example_data()
        data["parties"][0]["name"] = value
        data["terms"][0]["text"] = value
        raw = as_yaml(data) if fmt == "yaml" else as_json(data)
        case = parse(raw, f"case.{fmt}")
        assert case.data["parties"][0]["name"] == value
        assert case.data["terms"][0]["text"] == value
        assert case.party_names[0] == value
