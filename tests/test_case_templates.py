"""The case documents: the intake and assessment record, the notice of informal resolution, the
consent form, the withdrawal notice and the completion letter.

Each is filled the way Accord fills it: the case file goes through ``parse_case`` and ``assemble``
(docxtpl in the sandbox), with the case Accord holds under ``held`` or the rubric's verdict under
``rubric``, shaped exactly as ``HELD_CONTEXT`` and ``RUBRIC_CONTEXT`` say. The held and rubric
contexts are written here (the case register fills them in production). Hostile values (markup
characters, quotes, right-to-left script, 200-character names, twenty parties, empty lists) must
come out exactly as typed, and the statements the law requires must be in the document, in the
Word file and in the PDF/A LibreOffice makes of it.
"""

from __future__ import annotations

import copy
import datetime as dt
import io
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
import yaml
from docx import Document
from pypdf import PdfReader

from pipeline.documents.assemble import RecordInfo, assemble
from pipeline.documents.casefile import parse_case
from pipeline.documents.templates import HELD_CONTEXT, RUBRIC_CONTEXT, load_templates

from .helpers import EXAMPLES, ROOT, pdftotext
from .test_templates_render import CASE_TEMPLATES, docx_text, make_templates

TEMPLATES = load_templates(ROOT / "templates")
SHARED = ROOT.parent / "shared" / "examples"
OFFICE = "Office of Alternative Dispute Resolution"
D = dt.date

# --------------------------------------------------------------------------------------------
# Hostile values
# --------------------------------------------------------------------------------------------

MARKUP = 'Zoë "Zo" O\'Brien <North & South>'
TEMPLATE_LIKE = "{{ 7*7 }} {% if x %}Ayşe{% endif %}"
ARABIC = "ليلى عبد الله الحسيني"
HEBREW = "נועה כהן־לוי"
LONG = "Maximilian " + "Wolkenstein-" * 15 + "Trostburg"
assert len(LONG) == 200  # the longest name a declaration allows
HOSTILE_NAMES = [MARKUP, ARABIC, HEBREW, LONG, TEMPLATE_LIKE]

# --------------------------------------------------------------------------------------------
# The case Accord holds (ADR-2026-0150) and the rubric's verdict on its intake
# --------------------------------------------------------------------------------------------

RJ = ("A trained facilitator prepares each party separately and then brings them together, with "
      "support people if they wish, in a restorative conference.")


def person(name: str, role: str, status: str, affiliation: str | None) -> dict:
    return {"name": name, "role": role, "status": status, "affiliation": affiliation}


BEKOVA = person("Aigerim Bekova", "reporting party", "graduate-student", "Graduate student, Department of Physics")
SCHMIDT = person("Lukas Schmidt", "responding party", "postdoc", "Postdoctoral associate, Department of Physics")


def term(number: int, text: str, owner: str, due: dt.date | None, status: str,
         closed_on: dt.date | None = None, note: str | None = None) -> dict:
    return {"number": number, "text": text, "owner": owner, "due": due, "status": status,
            "closed_on": closed_on, "note": note}


def held(party: dict | None, parties: list[dict] | None = None, **changes) -> dict:
    """The case ADR-2026-0150 as Accord holds it, for the document meant for ``party``."""
    context = {
        "case": {"id": "ADR-2026-0150", "opened": D(2026, 3, 2), "referred_by": "Title IX Office",
                 "summary": "During group meetings in a shared laboratory, the responding party repeatedly "
                            "mocked the reporting party's accent.",
                 "jurisdictions": ["Title VI of the Civil Rights Act of 1964"],
                 "allegations": ["Race, color or national origin"]},
        "process": {"name": "restorative-justice", "label": "Restorative justice", "description": RJ},
        "parties": parties or [BEKOVA, SCHMIDT],
        "party": party,
        "measures": [{"measure": "Laboratory shifts arranged so that the parties are not scheduled together",
                      "start": D(2026, 3, 4), "end": None, "arranged_by": "Department of Physics"}],
        "agreement": {"record_id": "ADR-2026-0150-3f9c2a1b", "date": D(2026, 4, 8), "follow_up_date": D(2026, 6, 15)},
        "terms": [
            term(1, "The responding party will write a reflection on the harm caused.", "responding party",
                 D(2026, 5, 15), "completed", D(2026, 5, 11), "Reflection received"),
            term(2, "The responding party will complete the intercultural-communication course.",
                 "responding party", D(2026, 7, 31), "completed", D(2026, 7, 20)),
            term(3, "Laboratory meetings will follow the agenda & speaking order agreed at the conference.",
                 "both parties", None, "open"),
            term(4, "The coordinator will meet each party separately to review the agreement.", "coordinator",
                 D(2026, 6, 15), "waived", D(2026, 6, 10), "Replaced by one joint check-in <by request>."),
        ],
    }
    context.update(changes)
    return context


def rubric(**changes) -> dict:
    """The rubric's verdict on the intake of ADR-2026-0150."""
    context = {
        "answers": [
            {"factor": "safety_risk", "question": "Is there a risk to anyone's safety?", "answer": "none"},
            {"factor": "power_imbalance", "question": "How great is the imbalance of power between the parties?",
             "answer": "moderate"},
            {"factor": "parties_want_informal", "question": "Does every party want to resolve the matter informally?",
             "answer": "yes"},
        ],
        "findings": [
            {"rule": "high-power-imbalance-safeguards", "kind": "caution",
             "reason": "Mediation goes ahead only with safeguards & a support person.", "authority": None},
            {"rule": "title-ix-employee-and-student", "kind": "exclude",
             "reason": "Informal resolution may not be offered for allegations that an employee sexually "
                       "harassed a student.",
             "authority": "Title IX, 34 CFR 106.45(b)(9)(iii)"},
        ],
        "allowed": ["Mediation", "Restorative justice"],
        "suggested": ["Restorative justice"],
        "allegations": ["Race, color or national origin"],
        "jurisdictions": ["Title VI of the Civil Rights Act of 1964", "The institute's policies on discrimination"],
        "decision": {"name": "restorative-justice", "label": "Restorative justice"},
    }
    context.update(changes)
    return context


NOT_ASSESSED = {"answers": [], "findings": [], "allowed": [], "suggested": [], "decision": None}


def example(name: str) -> dict:
    return yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))


def withdrawal(**changes) -> dict:
    data = {"template": "withdrawal-notice", "case": {"id": "ADR-2026-0150"}, "party": "Lukas Schmidt",
            "date": D(2026, 3, 20)}
    data.update(changes)
    return data


def intake_data(names: list[str] | None = None, **changes) -> dict:
    """The shared intake example, with other parties' names if given (alternating roles)."""
    data = example("case-intake")
    if names:
        roles = ["reporting party", "responding party", "other party"]
        data["parties"] = [{"name": n, "role": roles[min(i, 2)], "status": "staff",
                            "affiliation": f"Staff, unit {i} <&>", "email": f"p{i}@example.edu"}
                           for i, n in enumerate(names)]
    data.update(changes)
    return data


def party_list(names: list[str]) -> list[dict]:
    roles = ["reporting party", "responding party"]
    return [person(n, roles[i] if i < 2 else "other party", "staff", f"Staff, unit {i} <&>")
            for i, n in enumerate(names)]


TWENTY = [f"Party {i:02d} <{'&' * (i % 3)}> {ARABIC if i % 2 else HEBREW}" for i in range(1, 21)]


def realistic(name: str) -> tuple[dict, dict]:
    """The shared example of each template (a built one for the withdrawal) and its context."""
    if name == "case-intake":
        return example(name), rubric()
    if name == "withdrawal-notice":
        note = "The Title IX Office will write within ten days."
        return withdrawal(next_step="formal-process", note=note), held(SCHMIDT)
    party = {"notice-of-informal-resolution": BEKOVA, "consent-to-informal-resolution": SCHMIDT}.get(name)
    return example(name), held(party)


def hostile(name: str) -> tuple[dict, dict]:
    """Each template with the hostile names for every party, the document's party among them."""
    parties = party_list(HOSTILE_NAMES)
    if name == "case-intake":
        return intake_data(HOSTILE_NAMES), rubric()
    if name == "completion-letter":
        return example(name), held(None, parties)
    data = example(name) if name != "withdrawal-notice" else withdrawal()
    data["recipient" if name == "notice-of-informal-resolution" else "party"] = MARKUP
    context = held(parties[0], parties)
    if name == "consent-to-informal-resolution":  # the form names its party alone: the rest go in the labels
        context["case"]["allegations"] = HOSTILE_NAMES[1:]
    return data, context


# --------------------------------------------------------------------------------------------
# Filling a template as Accord does
# --------------------------------------------------------------------------------------------


def as_yaml(data: dict) -> bytes:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False).encode("utf-8")


def fill(data: dict, context: dict, record_id: str = "ADR-2026-0150-0a1b2c3d") -> bytes:
    """The .docx Accord makes of this case file: parse_case, then assemble with the role's context."""
    case = parse_case(as_yaml(data), "case.yaml", TEMPLATES, 2 * 1024 * 1024)
    info = RecordInfo(record_id, case.title, D(2026, 11, 21), OFFICE)
    return assemble(case, info, role_context=copy.deepcopy(context)).docx


def document_xml(blob: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(blob)) as docx:
        return docx.read("word/document.xml").decode("utf-8")


def bookmarks(blob: bytes) -> list[str]:
    return re.findall(r'<w:bookmarkStart [^>]*w:name="([^"]*)"', document_xml(blob))


def subschemas(schema: dict, where: str):
    """(path, schema) for the schema and every schema inside it (properties, items, map values)."""
    yield where, schema
    for key, sub in (schema.get("properties") or {}).items():
        yield from subschemas(sub, f"{where}.{key}")
    for key, suffix in (("items", "[]"), ("additionalProperties", "{}")):
        if isinstance(schema.get(key), dict):
            yield from subschemas(schema[key], where + suffix)


def flat(text: str) -> str:
    """Text with every run of white space (line ends of a PDF page too) as one space."""
    return " ".join(text.split())


def pdf_text(pdf: Path) -> str:
    """The PDF's text, flat; a citation LibreOffice broke between ')' and '(' (106.45(b)(10)) joined again."""
    return re.sub(r"\) \(", ")(", flat(pdftotext(pdf)))


#: What each document must say, whatever the case (asserted on the Word text and the PDF text).
REQUIRED = {
    "case-intake": [
        "Intake and Assessment Record", "CONFIDENTIAL",
        "kept for 7 years after the case closes (34 CFR 106.45(b)(10))",
        "The parties’ contact details are held by the office and are not printed in this record.",
    ],
    "notice-of-informal-resolution": [
        "Notice of Informal Resolution", "CONFIDENTIAL", "34 CFR 106.45(b)(9)(i)",
        "never a condition of your enrollment or employment",
        "You may withdraw from the informal process at any time before a resolution agreement is signed",
        "and resume the formal grievance process",
        ("the agreement ends the formal grievance process for the same allegations: the formal process "
         "cannot then be resumed for them"),
        "The agreement binds only the parties who sign it",
        "Terms that may be offered",
        "kept for 7 years after the case closes (34 CFR 106.45(b)(10))",
        "If the formal grievance process resumes for these allegations",
        "counselling service and the ombuds office are confidential",
        "The Title IX Coordinator", "campus police or to local law enforcement",
        "Supportive measures, such as", "remain available whether or not you take part",
        "sign the consent form that comes with this notice and return it to the coordinator",
    ],
    "consent-to-informal-resolution": [
        "Consent to Informal Resolution", "CONFIDENTIAL",
        "I have received the written notice of informal resolution",
        "I understand the allegations and how the process",
        "I consent voluntarily to take part",
        "I know that I may withdraw at any time before a resolution agreement is signed",
        "ends the formal grievance process for the same allegations, which cannot then be resumed",
        "I understand which records the office keeps",
        "Date:",
    ],
    "withdrawal-notice": [
        "Notice of Withdrawal", "CONFIDENTIAL",
        "Any party may withdraw before a resolution agreement is signed, without giving a reason",
        "Supportive measures remain available to every party",
        "kept for 7 years after the case closes (34 CFR 106.45(b)(10))",
    ],
    "completion-letter": [
        "Completion of Informal Resolution", "CONFIDENTIAL",
        "has been carried out",
        "is closed as of",
        "kept for 7 years after the case closes (34 CFR 106.45(b)(10)) and then destroyed",
        "contact the coordinator",
    ],
}


# --------------------------------------------------------------------------------------------
# The declarations
# --------------------------------------------------------------------------------------------


class TestDeclarations:
    @pytest.mark.parametrize("name, role, party, fields", [
        ("case-intake", "intake", None, ()),
        ("notice-of-informal-resolution", "notice", "recipient", ()),
        ("consent-to-informal-resolution", "consent", "party", ("sigparty",)),
        ("withdrawal-notice", "withdrawal", "party", ()),
        ("completion-letter", "completion", None, ()),
        ("resolution-agreement", "agreement", None, ("sig{n}", "sigcoordinator")),
    ])
    def test_each_declaration_says_what_its_record_does_for_the_case(self, name, role, party, fields):
        """The case role, the party field and the signature fields are those docs/cases.md describes."""
        spec = TEMPLATES[name]
        assert (spec.case_role, spec.party) == (role, party)
        assert tuple(slot.field for slot in spec.signatures) == fields

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_every_object_is_closed_and_every_property_described(self, name):
        """Unknown keys are refused and every field explains itself; only the rubric's answers are an open map."""
        for where, schema in subschemas(TEMPLATES[name].schema, name):
            kind = schema.get("type")
            if kind == "object" and where != "case-intake.assessment.answers":
                assert schema.get("additionalProperties") is False and "required" in schema, where
                assert all(sub.get("description") for sub in schema["properties"].values()), where
            assert kind != "array" or "maxItems" in schema, where
            assert kind != "string" or {"format", "pattern", "maxLength"} & set(schema), where
        answers = TEMPLATES["case-intake"].schema["properties"]["assessment"]["properties"]["answers"]
        assert answers["additionalProperties"]["type"] == ["string", "integer", "boolean"]

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_the_example_is_accepted_as_it_is(self, name):
        """The project's example (a built one for the withdrawal notice) validates without changes."""
        raw = (EXAMPLES / f"{name}.yaml").read_bytes() if name != "withdrawal-notice" else as_yaml(withdrawal())
        case = parse_case(raw, f"{name}.yaml", TEMPLATES, 2 * 1024 * 1024)
        assert case.template.name == name and case.subject_id == "ADR-2026-0150"

    @pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent: no shared examples to compare")
    @pytest.mark.parametrize("name", [n for n in CASE_TEMPLATES if n != "withdrawal-notice"])
    def test_the_projects_examples_are_the_shared_ones(self, name):
        """examples/ holds the shared case files byte for byte."""
        assert (EXAMPLES / f"{name}.yaml").read_bytes() == (SHARED / f"{name}.yaml").read_bytes()

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_the_hostile_data_is_valid_data(self, name):
        """Markup, quotes, right-to-left script and 200-character names are accepted as names."""
        data, _ = hostile(name)
        assert parse_case(as_yaml(data), "case.yaml", TEMPLATES, 2 * 1024 * 1024).template.name == name

    def test_the_contexts_written_here_have_the_declared_shape(self):
        """The held and rubric contexts of these tests have exactly the paths templates.py declares."""
        for context, spec in ((held(BEKOVA), HELD_CONTEXT), (rubric(), RUBRIC_CONTEXT)):
            assert {k.removesuffix("[]") for k in spec} == set(context)
            for key, attrs in spec.items():
                value = context[key.removesuffix("[]")]
                for item in value if key.endswith("[]") else [value]:
                    if attrs:
                        assert {a.removesuffix("[]") for a in attrs} == set(item), key


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hostile_docs() -> dict[str, bytes]:
    return {name: fill(*hostile(name)) for name in CASE_TEMPLATES}


class TestHostileValues:
    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_the_document_is_a_valid_word_file(self, name, hostile_docs):
        """The filled document opens, its XML is in schema order and every table cell holds a paragraph."""
        from lxml import etree

        blob = hostile_docs[name]
        Document(io.BytesIO(blob))
        root = etree.fromstring(document_xml(blob).encode())
        assert make_templates().misordered(root) == []
        for cell in re.findall(r"<w:tc>.*?</w:tc>", document_xml(blob), flags=re.DOTALL):
            assert "<w:p>" in cell or "<w:p " in cell

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_names_come_out_exactly_as_typed(self, name, hostile_docs):
        """Markup characters, quotes, right-to-left script and a 200-character name are printed exactly."""
        text = docx_text(hostile_docs[name])
        for value in HOSTILE_NAMES:
            assert value in text, value
        xml = document_xml(hostile_docs[name])
        assert "&lt;North &amp; South&gt;" in xml and "<North" not in xml

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_no_template_syntax_is_left_and_values_are_never_evaluated(self, name, hostile_docs):
        """Every tag was rendered; a value that looks like a tag stays literal text."""
        xml = document_xml(hostile_docs[name]).replace("{{ 7*7 }} {% if x %}Ayşe{% endif %}", "")
        assert "{{" not in xml and "{%" not in xml and "%}" not in xml and "}}" not in xml
        assert "49" not in docx_text(hostile_docs[name])

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_the_required_statements_are_there(self, name, hostile_docs):
        """Each document says what the law and the office's procedures require of it."""
        text = flat(docx_text(hostile_docs[name]))
        for phrase in REQUIRED[name]:
            assert phrase in text, phrase

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_the_bookmarks_are_the_seal_and_the_partys_signature(self, name, hostile_docs):
        """Every document has the seal's bookmark; the consent form alone has one signature field, sigparty."""
        expected = ["sigparty", "seal"] if name == "consent-to-informal-resolution" else ["seal"]
        assert bookmarks(hostile_docs[name]) == expected

    @pytest.mark.parametrize("name", ["case-intake", "notice-of-informal-resolution",
                                      "withdrawal-notice", "completion-letter"])
    def test_twenty_parties_are_all_listed(self, name):
        """With twenty parties, every name appears and the seal stays the last bookmark."""
        if name == "case-intake":
            blob = fill(intake_data(TWENTY), rubric())
        else:
            parties = party_list(TWENTY)
            data, _ = hostile(name)
            if name != "completion-letter":
                data["recipient" if name.startswith("notice") else "party"] = TWENTY[0]
            blob = fill(data, held(parties[0] if name != "completion-letter" else None, parties))
        text = docx_text(blob)
        for party in TWENTY:
            assert text.count(party) >= 1, party
        assert bookmarks(blob)[-1] == "seal"


class TestIntakeRecord:
    def test_the_case_the_parties_and_the_labels(self):
        """The case, each party's role and status, and the rubric's labels (not the codes) are printed."""
        text = docx_text(fill(example("case-intake"), rubric()))
        for phrase in ["ADR-2026-0150", "2 March 2026", "Title IX Office", "Aigerim Bekova", "Lukas Schmidt",
                       "Reporting party", "Graduate student", "Postdoc",
                       "Postdoctoral associate, Department of Physics",
                       "Title VI of the Civil Rights Act of 1964", "The institute's policies on discrimination",
                       "Race, color or national origin"]:
            assert phrase in text, phrase
        assert "title-vi" not in text and "race-or-national-origin" not in text

    def test_the_offices_own_rubric_verdict_is_printed(self):
        """Filled with the packaged rubric's real verdict, the record prints its labels, questions and decision."""
        from pipeline.cases import rubric as office_rubric

        data = example("case-intake")
        rules = office_rubric.load_rubric(ROOT / "retention_policies")
        facts = office_rubric.facts_from_intake(data)
        verdict = office_rubric.evaluate(rules, facts)
        assert verdict.problems == ()
        text = docx_text(fill(data, office_rubric.context(rules, facts, verdict)))
        for phrase in ["Title VI of the Civil Rights Act of 1964", "Race, color or national origin",
                       "9 March 2026: Restorative justice", rules.factors[0].question, "Partly",
                       "Mediation, Restorative justice, Facilitated dialogue, Shuttle negotiation"]:
            assert phrase in text, phrase

    def test_the_email_is_never_printed(self):
        """The parties' email addresses stay out of the record."""
        assert "@example.edu" not in docx_text(fill(example("case-intake"), rubric()))

    def test_the_supportive_measures_table(self):
        """Each measure with its dates (an open end is ongoing) and who arranged it."""
        doc = Document(io.BytesIO(fill(example("case-intake"), rubric())))
        table = next(t for t in doc.tables if t.rows[0].cells[0].text == "Measure")
        rows = [[c.text for c in row.cells] for row in table.rows]
        assert rows == [["Measure", "Start", "End", "Arranged by"],
                        ["Laboratory shifts arranged so that the parties are not scheduled together",
                         "4 March 2026", "Ongoing", "Department of Physics"]]

    def test_the_assessment_answers_findings_decision_and_rationale(self):
        """Every answer with its question, the decision's label, each finding with reason and authority."""
        blob = fill(example("case-intake"), rubric())
        doc = Document(io.BytesIO(blob))
        answers = next(t for t in doc.tables if t.rows[0].cells[0].text == "Question")
        assert [[c.text for c in r.cells] for r in answers.rows][1:] == [
            ["Is there a risk to anyone's safety?", "None"],
            ["How great is the imbalance of power between the parties?", "Moderate"],
            ["Does every party want to resolve the matter informally?", "Yes"]]
        findings = next(t for t in doc.tables if t.rows[0].cells[0].text == "Finding")
        assert [[c.text for c in r.cells] for r in findings.rows][1:] == [
            ["Caution", "Mediation goes ahead only with safeguards & a support person.", "—"],
            ["Rules out", ("Informal resolution may not be offered for allegations that an employee sexually "
                          "harassed a student."), "Title IX, 34 CFR 106.45(b)(9)(iii)"]]
        text = docx_text(blob)
        for phrase in ["9 March 2026: Restorative justice", "Morgan Lee", "Mediation, Restorative justice",
                       "Both parties want to keep working in the same laboratory.",
                       "each party receives written notice of the allegations"]:
            assert phrase in text, phrase

    def test_no_assessment_and_no_measures(self):
        """Before the assessment the record says so; with no supportive measures it says none are recorded."""
        data = intake_data(supportive_measures=[])
        del data["assessment"], data["case"]["referred_by"]
        text = docx_text(fill(data, rubric(**NOT_ASSESSED)))
        assert "None recorded." in text and "Not yet made" in text and "Not recorded" in text
        assert "No assessment has been made yet." in text
        assert "Factors weighed" not in text and "Measure\tStart" not in text

    def test_a_not_suitable_decision_and_no_findings(self):
        """A not-suitable decision says the case closes; no findings say that no rule applied."""
        data = intake_data()
        data["assessment"]["decision"] = "not-suitable"
        verdict = rubric(findings=[], suggested=[], decision={"name": "not-suitable", "label": "Not suitable"})
        text = docx_text(fill(data, verdict))
        assert "The case is not suitable for informal resolution." in text
        assert "None of the rubric’s rules applied to this case." in text
        assert "each party receives written notice" not in text


class TestNotice:
    def test_addressed_to_the_party_with_the_case_and_the_process(self):
        """The notice names its party, the case, the allegations, the process and how it works."""
        text = docx_text(fill(*realistic("notice-of-informal-resolution")))
        for phrase in ["Aigerim Bekova, Graduate student, Department of Physics", "Dear Aigerim Bekova,",
                       "ADR-2026-0150, opened 2 March 2026", "Race, color or national origin",
                       "Title VI of the Civil Rights Act of 1964", "Restorative justice. " + RJ,
                       "10 March 2026", "Lukas Schmidt", "on referral from Title IX Office"]:
            assert phrase in text, phrase

    def test_the_date_to_answer_by_is_optional(self):
        """With respond_by the notice asks for an answer by that date; without it, it names no date."""
        data, context = realistic("notice-of-informal-resolution")
        assert "return it to the coordinator by 24 March 2026." in docx_text(fill(data, context))
        del data["respond_by"]
        text = docx_text(fill(data, context))
        assert "Please answer by" not in text and "return it to the coordinator." in text


class TestConsent:
    def test_the_form_is_for_one_party_alone(self):
        """The party, the case and the process are named, and only that party's signature block is there."""
        blob = fill(*realistic("consent-to-informal-resolution"))
        text = docx_text(blob)
        assert "By signing this form, I, Lukas Schmidt, affirm that:" in text
        assert "Restorative justice" in text and "Aigerim Bekova" not in text
        assert bookmarks(blob) == ["sigparty", "seal"]

    def test_the_signature_space_follows_the_rules(self):
        """sigparty starts an empty 42 pt paragraph above the signature line, then the name, then the date."""
        xml = document_xml(fill(*realistic("consent-to-informal-resolution")))
        paragraph = re.search(r'<w:p>(?:(?!</w:p>).)*w:name="sigparty"(?:(?!</w:p>).)*</w:p>', xml, flags=re.DOTALL)
        assert paragraph and "<w:t" not in paragraph.group(0)
        assert 'w:val="SignatureSpace"' in paragraph.group(0)
        after = xml[paragraph.end():]
        assert after.index("Lukas Schmidt") < after.index("Date:") < after.index('w:name="seal"')
        styles = Document(io.BytesIO(fill(*realistic("consent-to-informal-resolution")))).styles
        space = styles["Signature Space"].paragraph_format
        assert space.line_spacing.pt == 42 and space.space_after == 0


class TestWithdrawal:
    @pytest.mark.parametrize("step, phrase", [
        ("formal-process", ("The report returns to the formal grievance process: the office that referred it "
                            "(Title IX Office) will contact each party")),
        ("no-further-action", "No further action will be taken on the report."),
        (None, "The coordinator will contact each party to explain the options that remain"),
    ])
    def test_what_happens_next(self, step, phrase):
        """Each next step (or none given) is explained in its own words, and only that one."""
        data = withdrawal(**({"next_step": step} if step else {}))
        text = flat(docx_text(fill(data, held(SCHMIDT))))
        others = {"formal-process": "returns to the formal grievance process", "no-further-action": "No further action",
                  None: "explain the options that remain"}
        assert phrase in text
        assert [o for s, o in others.items() if s != step and o in text] == []

    def test_the_party_the_date_and_the_note(self):
        """Who withdrew, when, and the coordinator's note, exactly."""
        text = docx_text(fill(withdrawal(note="Call <Morgan> & ask \"why\"."), held(SCHMIDT)))
        assert "Lukas Schmidt (responding party)" in text and "20 March 2026" in text
        assert 'Call <Morgan> & ask "why".' in text


class TestCompletion:
    def test_every_term_with_its_outcome(self):
        """Completed and waived terms show their date (a waived one its note); an open undated term is ongoing."""
        doc = Document(io.BytesIO(fill(*realistic("completion-letter"))))
        table = next(t for t in doc.tables if t.rows[0].cells[0].text == "No.")
        rows = [[c.text for c in r.cells] for r in table.rows]
        assert rows[0] == ["No.", "Term", "Owner", "Outcome"]
        assert rows[1][2:] == ["Responding party", "Completed\non 11 May 2026"]
        assert rows[3] == ["3", "Laboratory meetings will follow the agenda & speaking order agreed at the conference.",
                           "Both parties", "Ongoing"]
        assert rows[4][1].endswith("Waived: Replaced by one joint check-in <by request>.")
        assert rows[4][3] == "Waived\non 10 June 2026"

    def test_the_agreement_the_parties_and_the_closing(self):
        """The letter names the agreement, every party, and the date the case closes."""
        text = docx_text(fill(*realistic("completion-letter")))
        for phrase in ["Resolution agreement of 8 April 2026 (record ADR-2026-0150-3f9c2a1b)",
                       "Aigerim Bekova (reporting party)", "Lukas Schmidt (responding party)",
                       "is closed as of 27 July 2026", "A term marked ongoing has no end date",
                       "A waived term is one the coordinator released"]:
            assert phrase in text, phrase

    def test_explanations_only_for_the_outcomes_there_are(self):
        """Without waived or ongoing terms, the letter does not explain them."""
        context = held(None, terms=[term(1, "Write a reflection.", "responding party", D(2026, 5, 15),
                                         "completed", D(2026, 5, 11))])
        text = docx_text(fill(example("completion-letter"), context))
        assert "waived term" not in text and "term marked ongoing has" not in text


# --------------------------------------------------------------------------------------------
# Through LibreOffice
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pdfs(converter, tmp_path_factory) -> dict[str, Path]:
    """Each template with its example and with the hostile values, as PDF/A from the real LibreOffice."""
    folder = tmp_path_factory.mktemp("case-pdfs")
    made = {}
    for name in CASE_TEMPLATES:
        for kind, (data, context) in (("example", realistic(name)), ("hostile", hostile(name))):
            path = folder / f"{name}-{kind}.pdf"
            path.write_bytes(converter.convert(fill(data, context)))
            made[f"{name}-{kind}"] = path
    return made


MARGIN = 2.5 / 2.54 * 72


class TestPdf:
    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_the_required_statements_are_in_the_pdf(self, name, pdfs):
        """pdftotext finds every required statement in the example's PDF/A."""
        text = pdf_text(pdfs[f"{name}-example"])
        for phrase in REQUIRED[name]:
            assert phrase in text, phrase

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    @pytest.mark.parametrize("kind", ["example", "hostile"])
    def test_the_bookmarks_are_named_destinations_inside_the_margins(self, name, kind, pdfs):
        """seal (and sigparty) are named destinations where a 220 x 56 seal (200 x 40 field) fits on the page."""
        reader = PdfReader(pdfs[f"{name}-{kind}"])
        destinations = {key.lstrip("/"): dest for key, dest in reader.named_destinations.items()}
        expected = {"sigparty", "seal"} if name == "consent-to-informal-resolution" else {"seal"}
        assert expected <= set(destinations), sorted(destinations)
        for field in expected:
            dest = destinations[field]
            page = reader.pages[reader.get_destination_page_number(dest)]
            width, height = (220, 56) if field == "seal" else (200, 40)
            left, top = float(dest.left), float(dest.top)
            assert MARGIN - 1 <= left and left + width <= float(page.mediabox.width) - MARGIN + 1, field
            assert MARGIN - 1 <= top - height and top <= float(page.mediabox.height) - MARGIN + 1, field

    @pytest.mark.parametrize("name", ["consent-to-informal-resolution", "notice-of-informal-resolution"])
    def test_nothing_is_printed_where_the_field_or_the_seal_goes(self, name, pdfs):
        """No word of the page lies inside the signature field's or the seal's rectangle."""
        pdf = pdfs[f"{name}-example"]
        layout = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True,
                                check=True).stdout
        pages = [re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">', page)
                 for page in layout.split("<page ")[1:]]
        reader = PdfReader(pdf)
        for key, dest in reader.named_destinations.items():
            number = reader.get_destination_page_number(dest)
            width, height = (220, 56) if key.lstrip("/") == "seal" else (200, 40)
            x0, y0 = float(dest.left), float(reader.pages[number].mediabox.height) - float(dest.top)
            inside = [box for box in pages[number] if float(box[0]) < x0 + width and float(box[2]) > x0
                      and float(box[1]) < y0 + height and float(box[3]) > y0]
            assert inside == [], key

    @pytest.mark.parametrize("name", CASE_TEMPLATES)
    def test_fonts_are_embedded_and_hostile_names_are_exact(self, name, pdfs):
        """PDF/A: every font embedded (right-to-left script included); Latin hostile names come out as typed."""
        pdf = pdfs[f"{name}-hostile"]
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True, check=True).stdout
        rows = fonts.splitlines()[2:]
        assert rows and all(re.search(r"\syes\s+(yes|no)\s+(yes|no)\s+\d+\s+\d+$", row) for row in rows), fonts
        text = pdf_text(pdf)
        for value in [MARKUP, TEMPLATE_LIKE]:
            assert value in text, value
        # pdftotext takes a hyphen at a line's end for a soft one and drops it
        assert LONG.replace("-", "") in text.replace("-", "")
