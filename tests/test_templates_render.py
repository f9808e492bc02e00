"""The Word templates and their declarations: the shipped examples validate, render and convert.

Rendering follows the assembly step's rules: docxtpl with a sandboxed, autoescaping Jinja
environment and StrictUndefined; optional fields missing from the data are present as None;
the context is the case data plus `record` and `office`. The filters and the filling of
optional fields are restated here, so that this file tests the templates alone.
"""

from __future__ import annotations

import copy
import datetime as dt
import importlib.util
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import jinja2
import pytest
import yaml
from docx import Document
from docxtpl import DocxTemplate
from jinja2.sandbox import SandboxedEnvironment
from jsonschema import Draft202012Validator

from .helpers import EXAMPLES, ROOT

TEMPLATES = ROOT / "templates"
TEMPLATE_NAMES = ["resolution-agreement", "mou"]
#: The case documents (tests/test_case_templates.py); the generic tests below cover them too.
CASE_TEMPLATES = ["case-intake", "notice-of-informal-resolution", "consent-to-informal-resolution",
                  "withdrawal-notice", "completion-letter"]
ALL_TEMPLATES = TEMPLATE_NAMES + CASE_TEMPLATES

NAMES = ["Zoë Núñez", "Daniel O'Brien", "Facilities & Grounds <North Campus>", "Tomás Álvarez"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
PDF_EXPORT = ('pdf:writer_pdf_Export:{"SelectPdfVersion":{"type":"long","value":"2"},'
              '"ExportBookmarksToPDFDestination":{"type":"boolean","value":"true"}}')


# --------------------------------------------------------------------------------------------
# What intake and assembly do, restated
# --------------------------------------------------------------------------------------------


def longdate(value: dt.date) -> str:
    return f"{value.day} {MONTHS[value.month - 1]} {value.year}"


def humanize(value: str) -> str:
    return value.replace("-", " ").replace("_", " ")


def jinja_env() -> SandboxedEnvironment:
    env = SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["longdate"] = longdate
    env.filters["humanize"] = humanize
    return env


def declaration(name: str) -> dict:
    return yaml.safe_load((TEMPLATES / f"{name}.yaml").read_text(encoding="utf-8"))


def example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))


def iso_dates(value):
    """The data as the validator sees it: dates as ISO strings."""
    if isinstance(value, dict):
        return {key: iso_dates(item) for key, item in value.items()}
    if isinstance(value, list):
        return [iso_dates(item) for item in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def fill_optional(value, schema: dict):
    """Add every optional property missing from the data, as None (what intake does)."""
    if isinstance(value, dict) and schema.get("type") == "object":
        return {key: fill_optional(value[key], sub) if key in value else None
                for key, sub in schema.get("properties", {}).items()}
    if isinstance(value, list) and schema.get("type") == "array":
        return [fill_optional(item, schema.get("items", {})) for item in value]
    return value


def errors(name: str, data: dict) -> list[str]:
    schema = declaration(name)["fields"]
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    return sorted(error.message for error in validator.iter_errors(iso_dates(data)))


def render(name: str, data: dict, record_id: str = "R-2026-000123") -> bytes:
    """Fill the template with the data, as Accord's assembly step does; the .docx bytes."""
    assert errors(name, data) == []
    context = fill_optional(copy.deepcopy(data), declaration(name)["fields"])
    context["record"] = {"id": record_id, "title": "A record", "created": dt.date(2026, 11, 21)}
    context["office"] = {"name": "Office of Alternative Dispute Resolution"}
    template = DocxTemplate(io.BytesIO((TEMPLATES / f"{name}.docx").read_bytes()))
    template.render(context, jinja_env=jinja_env(), autoescape=True)
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()


def docx_text(blob: bytes) -> str:
    """All the text a reader sees: body paragraphs, table cells, header and footer."""
    doc = Document(io.BytesIO(blob))
    lines = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for row in table.rows:
            for cell in row.cells:
                lines.extend(p.text for p in cell.paragraphs)
    for section in doc.sections:
        lines.extend(p.text for p in section.header.paragraphs)
        lines.extend(p.text for p in section.footer.paragraphs)
    return "\n".join(lines)


def part(blob: bytes, name: str = "word/document.xml") -> str:
    with zipfile.ZipFile(io.BytesIO(blob)) as docx:
        return docx.read(name).decode("utf-8")


def bookmarks(blob: bytes) -> list[str]:
    return re.findall(r'<w:bookmarkStart [^>]*w:name="([^"]*)"', part(blob))


def expected_fields(name: str, data: dict) -> list[str]:
    """The bookmark names the declaration promises for this data, plus the seal."""
    names = []
    for signature in declaration(name)["signatures"]:
        if "each" in signature:
            count = len(data[signature["each"]])
            names += [signature["field"].format(n=n) for n in range(1, count + 1)]
        else:
            names.append(signature["field"])
    return names + ["seal"]


def three_parties() -> dict:
    """The resolution-agreement example with a third party (an odd number of signatories)."""
    data = example("resolution-agreement")
    data["parties"].append({"name": "Nguyễn Thị Minh Khai", "role": "witness"})
    return data


# --------------------------------------------------------------------------------------------
# The declarations
# --------------------------------------------------------------------------------------------


class TestDeclarations:
    @pytest.mark.parametrize("name", ALL_TEMPLATES)
    def test_declaration_has_the_catalog_keys(self, name):
        """Each declaration names itself and says how Accord catalogs its records."""
        decl = declaration(name)
        assert decl["name"] == name
        assert set(decl) >= {"name", "description", "record_class", "subject", "title",
                             "record_date", "party_names", "events", "signatures", "fields"}
        Draft202012Validator.check_schema(decl["fields"])
        assert "{record" not in decl["title"]

    @pytest.mark.parametrize("name", TEMPLATE_NAMES)
    def test_every_object_is_closed_and_every_property_described(self, name):
        """Unknown keys are refused, and every property explains itself in plain words."""

        def walk(schema, where):
            if schema.get("type") == "object":
                assert schema.get("additionalProperties") is False, where
                assert "required" in schema, where
                for key, sub in schema["properties"].items():
                    assert sub.get("description"), f"{where}.{key}"
                    walk(sub, f"{where}.{key}")
            if schema.get("type") == "array":
                assert "minItems" in schema and "maxItems" in schema, where
                walk(schema["items"], f"{where}[]")
            if schema.get("type") == "string" and "format" not in schema and "pattern" not in schema:
                assert "maxLength" in schema, where

        walk(declaration(name)["fields"], name)

    @pytest.mark.parametrize("name", TEMPLATE_NAMES)
    def test_the_example_is_accepted_as_it_is(self, name):
        """The shipped example validates against its template's schema without changes."""
        assert errors(name, example(name)) == []

    @pytest.mark.parametrize("name", TEMPLATE_NAMES)
    def test_an_unknown_key_is_refused(self, name):
        """A misspelt key is an error, not silently ignored."""
        data = example(name)
        data["parties"][0]["nmae"] = "typo"
        assert any("nmae" in message for message in errors(name, data))

    @pytest.mark.parametrize("bad_id", ["../etc", "", "ADR 2026", "-ADR", "x" * 65])
    def test_a_bad_case_id_is_refused(self, bad_id):
        """Case ids are short, start with a letter or digit and hold no spaces or slashes."""
        data = example("resolution-agreement")
        data["case"]["id"] = bad_id
        assert errors("resolution-agreement", data)

    def test_an_unknown_process_and_a_bad_date_are_refused(self):
        """The process is one of four, and dates are real dates."""
        data = example("resolution-agreement")
        data["case"]["process"] = "arbitration"
        data["terms"][0]["due"] = "2027-02-30"
        assert len(errors("resolution-agreement", data)) == 2

    def test_an_agreement_needs_two_parties_and_a_term(self):
        """One party or no terms is not an agreement."""
        data = example("resolution-agreement")
        data["parties"] = data["parties"][:1]
        data["terms"] = []
        assert len(errors("resolution-agreement", data)) == 2

    @pytest.mark.parametrize("name", ALL_TEMPLATES)
    def test_the_template_offers_the_declared_signature_fields(self, name):
        """Every declared signature field is a bookmark in the Word template."""
        xml = part((TEMPLATES / f"{name}.docx").read_bytes())
        names = re.findall(r'<w:bookmarkStart [^>]*w:name="([^"]*)"', xml)
        for signature in declaration(name)["signatures"]:
            if "each" in signature:
                assert any(n.startswith("sig{{") for n in names), names
            else:
                assert signature["field"] in names
        assert "seal" in names


# --------------------------------------------------------------------------------------------
# The templates
# --------------------------------------------------------------------------------------------


def make_templates():
    """tools/make_templates.py, imported as a module."""
    spec = importlib.util.spec_from_file_location("make_templates", ROOT / "tools" / "make_templates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_templates_are_what_the_script_builds():
    """templates/*.docx are the output of tools/make_templates.py (run it after editing it)."""
    def members(blob: bytes) -> dict[str, bytes]:
        # compared uncompressed: another zlib may deflate the same parts to other bytes
        with zipfile.ZipFile(io.BytesIO(blob)) as docx:
            return {name: docx.read(name) for name in docx.namelist()}

    module = make_templates()
    for name in ALL_TEMPLATES:
        assert members(module.build(name)) == members((TEMPLATES / f"{name}.docx").read_bytes()), name


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_the_template_xml_is_in_schema_order(name):
    """Word calls a file corrupt when property elements come in the wrong order."""
    from lxml import etree

    module = make_templates()
    blob = (TEMPLATES / f"{name}.docx").read_bytes()
    for xml in ["word/document.xml", "word/styles.xml", "word/header1.xml", "word/footer1.xml"]:
        assert module.misordered(etree.fromstring(part(blob, xml).encode())) == [], xml


@pytest.mark.parametrize("name", ALL_TEMPLATES)
def test_the_template_sets_no_document_properties_from_data(name):
    """Title, subject and keywords are left to the assembly code."""
    props = Document(TEMPLATES / f"{name}.docx").core_properties
    assert (props.title, props.subject, props.keywords) == ("", "", "")
    assert "{" not in part((TEMPLATES / f"{name}.docx").read_bytes(), "docProps/core.xml")


@pytest.fixture(scope="module")
def agreement() -> bytes:
    return render("resolution-agreement", example("resolution-agreement"))


@pytest.fixture(scope="module")
def mou() -> bytes:
    return render("mou", example("mou"))


class TestRenderResolutionAgreement:
    @pytest.fixture
    def rendered(self, agreement):
        return agreement

    def test_names_and_affiliations_survive_escaping(self, rendered):
        """Accents, apostrophes, & and < come out exactly as typed."""
        text = docx_text(rendered)
        for name in NAMES[:3] + ["Morgan Lee", "Alternative Dispute Resolution Coordinator"]:
            assert name in text

    def test_the_case_and_the_process_are_named(self, rendered):
        """Case id, process in words, and both dates appear."""
        text = docx_text(rendered)
        for phrase in ["ADR-2026-0142", "through mediation", "3 September 2026", "20 November 2026"]:
            assert phrase in text

    def test_every_term_is_in_the_table_with_its_owner_and_date(self, rendered):
        """A term without a due date is shown as ongoing."""
        doc = Document(io.BytesIO(rendered))
        terms = next(t for t in doc.tables if t.rows[0].cells[0].text == "No.")
        rows = [[cell.text for cell in row.cells] for row in terms.rows]
        assert rows[0] == ["No.", "Term", "Owner", "Due date"]
        data = example("resolution-agreement")
        assert len(rows) == 1 + len(data["terms"])
        assert rows[1][1] == data["terms"][0]["text"]
        assert rows[1][2:] == ["Responding party", "31 January 2027"]
        assert rows[2][1] == "Both parties will keep communication in shared lab spaces to work matters & scheduled meetings."
        assert rows[2][2:] == ["Both parties", "Ongoing"]
        assert rows[3][0] == "3" and rows[3][3] == "19 January 2027"

    def test_follow_up_breach_confidentiality_and_scope(self, rendered):
        """The fixed clauses and the confidentiality text from the data are there."""
        text = docx_text(rendered)
        assert "on or about 19 January 2027" in text
        assert "may treat the breach as a new report" in text
        assert "what was said during the mediation is confidential" in text
        assert "any party could withdraw" in text
        assert "binds only the parties" in text

    def test_header_and_footer(self, rendered):
        """Office name, CONFIDENTIAL, the record id and page fields."""
        text = docx_text(rendered)
        assert "Office of Alternative Dispute Resolution\tCONFIDENTIAL" in text
        assert "Record R-2026-000123\tPage" in text
        footer = part(rendered, "word/footer1.xml")
        assert " PAGE " in footer and " NUMPAGES " in footer

    def test_signature_bookmarks(self, rendered):
        """One bookmark per party, one for the coordinator, one for the seal."""
        assert bookmarks(rendered) == ["sig1", "sig2", "sigcoordinator", "seal"]

    def test_no_template_syntax_is_left(self, rendered):
        """Every tag was rendered."""
        xml = part(rendered)
        assert "{{" not in xml and "{%" not in xml and "}}" not in xml

    def test_an_odd_number_of_parties_leaves_a_valid_empty_cell(self):
        """With three parties the third signs alone in the last row."""
        rendered = render("resolution-agreement", three_parties())
        assert bookmarks(rendered) == ["sig1", "sig2", "sig3", "sigcoordinator", "seal"]
        assert "Nguyễn Thị Minh Khai" in docx_text(rendered)
        for cell in re.findall(r"<w:tc>.*?</w:tc>", part(rendered), flags=re.S):
            assert "<w:p>" in cell or "<w:p " in cell

    def test_optional_fields_can_be_left_out(self):
        """No affiliation, no due dates, no follow-up date: the agreement still renders."""
        data = example("resolution-agreement")
        for person in data["parties"]:
            del person["affiliation"], person["email"]
        for term in data["terms"]:
            term.pop("due", None)
        del data["follow_up_date"]
        text = docx_text(render("resolution-agreement", data))
        assert "Graduate student" not in text
        assert "The coordinator will follow up with the parties to confirm" in text


class TestRenderMou:
    @pytest.fixture
    def rendered(self, mou):
        return mou

    def test_parties_and_signatories(self, rendered):
        """Organizations, short names and signatories appear."""
        text = docx_text(rendered)
        for phrase in ["Institute Discrimination and Harassment Response Office", "(“IDHR”)",
                       "Office of Student Conduct", "Priya Raman", "Tomás Álvarez", "Associate Dean"]:
            assert phrase in text

    def test_purpose_responsibilities_and_term(self, rendered):
        """Each party's duties follow its short name; the term has both dates."""
        text = docx_text(rendered)
        data = example("mou")
        assert data["purpose"] in text
        idhr, osc = text.index("3.1\u2002IDHR will:"), text.index("3.2\u2002OSC will:")
        for duty in data["responsibilities"][0]["duties"]:
            assert idhr < text.index(duty) < osc
        for duty in data["responsibilities"][1]["duties"]:
            assert osc < text.index(duty)
        assert "takes effect on 1 December 2026" in text and "until 30 November 2028" in text
        assert "Annually, each December." in text
        assert "education records under FERPA" in text
        assert "amended only in writing" in text

    def test_header_footer_and_bookmarks(self, rendered):
        """Record id in the footer; one signature bookmark per party and the seal."""
        text = docx_text(rendered)
        assert "CONFIDENTIAL" in text and "Record R-2026-000123" in text
        assert bookmarks(rendered) == ["sig1", "sig2", "seal"]
        xml = part(rendered)
        assert "{{" not in xml and "{%" not in xml


# --------------------------------------------------------------------------------------------
# Through LibreOffice
# --------------------------------------------------------------------------------------------


def to_pdf(blob: bytes, workdir: Path, stem: str) -> Path:
    """Convert with LibreOffice as Accord does: PDF/A-2b, bookmarks exported as destinations."""
    source = workdir / f"{stem}.docx"
    source.write_bytes(blob)
    profile = workdir / "lo-profile"
    result = subprocess.run(
        ["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless", "--norestore",
         "--convert-to", PDF_EXPORT, "--outdir", str(workdir), str(source)],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
    )
    pdf = workdir / f"{stem}.pdf"
    assert pdf.exists(), result.stdout + result.stderr
    return pdf


needs_soffice = pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice is not installed")


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory) -> dict:
    """The two examples and a three-party agreement, as PDF/A: {stem: (pdf path, data)}."""
    workdir = tmp_path_factory.mktemp("pdf")
    cases = {
        "resolution-agreement": ("resolution-agreement", example("resolution-agreement")),
        "mou": ("mou", example("mou")),
        "three-parties": ("resolution-agreement", three_parties()),
    }
    return {stem: (to_pdf(render(name, data), workdir, stem), data)
            for stem, (name, data) in cases.items()}


@pytest.mark.slow
@needs_soffice
class TestPdf:
    @pytest.mark.parametrize("stem, template", [("resolution-agreement", "resolution-agreement"),
                                                ("mou", "mou"),
                                                ("three-parties", "resolution-agreement")])
    def test_every_signature_field_is_a_named_destination(self, pdfs, stem, template):
        """The sealing step finds sig1..sigN, sigcoordinator and seal in the PDF."""
        from pypdf import PdfReader

        pdf, data = pdfs[stem]
        # LibreOffice writes a /Dests dictionary; pypdf gives its keys as PDF names ("/sig1").
        destinations = {key.lstrip("/") for key in PdfReader(pdf).named_destinations}
        for field in expected_fields(template, data):
            assert field in destinations, sorted(destinations)

    @pytest.mark.parametrize("stem", ["resolution-agreement", "mou", "three-parties"])
    def test_signature_fields_fit_on_the_page(self, pdfs, stem):
        """A 200 x 40 pt field (220 x 56 for the seal) from each destination stays inside the margins."""
        from pypdf import PdfReader

        pdf, _ = pdfs[stem]
        reader = PdfReader(pdf)
        for name, dest in reader.named_destinations.items():
            page = reader.pages[reader.get_destination_page_number(dest)]
            width, height = float(page.mediabox.width), float(page.mediabox.height)
            seal = name.lstrip("/") == "seal"
            right = float(dest.left) + (220 if seal else 200)
            bottom = float(dest.top) - (56 if seal else 40)
            margin = 2.5 / 2.54 * 72
            assert float(dest.left) >= margin - 1 and right <= width - margin + 1, name
            assert bottom >= margin - 1 and float(dest.top) <= height - margin + 1, name

    @pytest.mark.parametrize("stem", ["resolution-agreement", "mou", "three-parties"])
    def test_nothing_is_printed_where_a_field_or_the_seal_goes(self, pdfs, stem):
        """No word of the document lies inside a signature field's or the seal's rectangle."""
        if shutil.which("pdftotext") is None:
            pytest.skip("poppler-utils is not installed")
        from pypdf import PdfReader

        pdf, _ = pdfs[stem]
        layout = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"],
                                capture_output=True, text=True, check=True).stdout
        pages = [re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)',
                            page) for page in layout.split("<page ")[1:]]
        reader = PdfReader(pdf)
        for name, dest in reader.named_destinations.items():
            number = reader.get_destination_page_number(dest)
            height = float(reader.pages[number].mediabox.height)
            seal = name.lstrip("/") == "seal"
            x0, y0 = float(dest.left), height - float(dest.top)  # pdftotext measures from the top
            x1, y1 = x0 + (220 if seal else 200), y0 + (56 if seal else 40)
            inside = [word for *box, word in pages[number]
                      if float(box[0]) < x1 and float(box[2]) > x0
                      and float(box[1]) < y1 and float(box[3]) > y0]
            assert inside == [], (name, inside)

    @pytest.mark.parametrize("stem", ["resolution-agreement", "mou", "three-parties"])
    def test_fonts_are_embedded_and_text_is_exact(self, pdfs, stem):
        """PDF/A: every font embedded; accents (Vietnamese too) come out as typed."""
        if shutil.which("pdffonts") is None:
            pytest.skip("poppler-utils is not installed")
        pdf, data = pdfs[stem]
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True)
        rows = fonts.stdout.splitlines()[2:]
        assert rows and all(re.search(r"\syes\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$", r) for r in rows), fonts.stdout
        assert all("Carlito" in row for row in rows), fonts.stdout
        text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        names = ["Tomás Álvarez"] if stem == "mou" else NAMES[:2] + ["Morgan Lee"]
        if stem == "three-parties":
            names.append("Nguyễn Thị Minh Khai")
        for name in names:
            assert name in text
