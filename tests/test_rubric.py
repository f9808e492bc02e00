"""The office's rubric: the default rules judge intakes as published practice and the 2020 Title IX
rule say, a rubric file is checked with the exact place of each mistake, and a workspace without a
rubric file gets the packaged default."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Callable

import pytest
import yaml

from pipeline.cases.rubric import (
    DEFAULT_RUBRIC,
    IntakeFacts,
    Verdict,
    context,
    describe,
    evaluate,
    facts_from_intake,
    load_rubric,
    parse_rubric,
)
from pipeline.documents.templates import RUBRIC_CONTEXT
from pipeline.errors import ConfigurationError
from pipeline.workspace import init_workspace

from .helpers import ROOT

SHARED_INTAKE = ROOT.parent / "shared" / "examples" / "case-intake.yaml"
RUBRIC = load_rubric(ROOT / "retention_policies")
EVERY = ("mediation", "restorative-justice", "facilitated-dialogue", "shuttle-negotiation")
RAW = yaml.safe_load(DEFAULT_RUBRIC.read_text(encoding="utf-8"))

#: The shared example intake (shared/examples/case-intake.yaml), as the validated file's data.
EXAMPLE: dict[str, Any] = {
    "template": "case-intake",
    "case": {"id": "ADR-2026-0150", "opened": "2026-03-02", "referred_by": "Title IX Office",
             "jurisdiction": ["title-vi"], "allegations": ["race-or-national-origin"],
             "summary": "During group meetings the responding party mocked the reporting party's accent."},
    "parties": [
        {"name": "Aigerim Bekova", "role": "reporting party", "status": "graduate-student"},
        {"name": "Lukas Schmidt", "role": "responding party", "status": "postdoc"},
    ],
    "assessment": {
        "date": "2026-03-09", "by": "Morgan Lee",
        "answers": {"safety_risk": "none", "power_imbalance": "moderate", "responsibility_acknowledged": "partly",
                    "prior_reports": 0, "parties_want_informal": True},
        "decision": "restorative-justice",
        "rationale": "Both parties want to keep working in the same laboratory.",
    },
}
BASE = facts_from_intake(EXAMPLE)
#: The facts of the case the 2020 rule bars from informal resolution: an employee harassing a student.
TITLE_IX = dataclasses.replace(BASE, jurisdiction=("title-ix",), allegations=("sexual-harassment",),
                               reporting=("undergraduate",), responding=("faculty",), decision="mediation")


def facts(base: IntakeFacts = BASE, answers: dict[str, Any] | None = None, **changes: Any) -> IntakeFacts:
    """``base`` with some answers and fields changed."""
    return dataclasses.replace(base, answers={**base.answers, **(answers or {})}, **changes)


def rules_of(verdict: Verdict, kind: str) -> list[str]:
    return [f.rule for f in verdict.findings if f.kind == kind]


# --- the default rubric judging intakes ------------------------------------------------------------

JUDGED = [
    pytest.param(BASE, EVERY, (), [], [], id="shared-example-restorative-justice-allowed"),
    pytest.param(TITLE_IX, (), (), ["title-ix-employee-and-student"], [], id="title-ix-employee-harasses-student"),
    pytest.param(facts(TITLE_IX, allegations=("sexual-assault",)), (), (), ["title-ix-employee-and-student"], [],
                 id="title-ix-employee-sexual-assault"),
    pytest.param(facts(TITLE_IX, allegations=("retaliation", "stalking")), (), (),
                 ["title-ix-employee-and-student"], [], id="title-ix-employee-stalking"),
    pytest.param(facts(TITLE_IX, allegations=("dating-violence",), reporting=("graduate-student",),
                       responding=("staff",)), (), (), ["title-ix-employee-and-student"], [],
                 id="title-ix-staff-dating-violence"),
    pytest.param(facts(TITLE_IX, reporting=("staff", "undergraduate"), responding=("postdoc", "undergraduate")),
                 (), (), ["title-ix-employee-and-student"], [], id="title-ix-one-student-among-several-parties"),
    pytest.param(facts(TITLE_IX, responding=("graduate-student",)), EVERY, (), [], [],
                 id="title-ix-student-responding-party-not-excluded"),
    pytest.param(facts(TITLE_IX, reporting=("staff",)), EVERY, (), [], [],
                 id="title-ix-employee-reporting-party-not-excluded"),
    pytest.param(facts(TITLE_IX, responding=("other",)), EVERY, (), [], [],
                 id="title-ix-other-responding-party-not-excluded"),
    pytest.param(facts(TITLE_IX, jurisdiction=("title-vii", "institute-policy")), EVERY, (), [], [],
                 id="title-vii-sexual-harassment-not-excluded"),
    pytest.param(facts(TITLE_IX, allegations=("race-or-national-origin",)), EVERY, (), [], [],
                 id="title-ix-race-allegation-not-excluded"),
    pytest.param(facts(TITLE_IX, allegations=("sex-discrimination",)), EVERY, (), [], [],
                 id="title-ix-sex-discrimination-not-excluded"),
    pytest.param(facts(answers={"safety_risk": "serious"}), (), (), ["serious-safety-risk"], [],
                 id="serious-safety-risk"),
    pytest.param(facts(answers={"parties_want_informal": False}), (), (), ["parties-must-consent"], [],
                 id="a-party-unwilling"),
    pytest.param(facts(answers={"responsibility_acknowledged": "no"}),
                 ("mediation", "facilitated-dialogue", "shuttle-negotiation"), (),
                 ["restorative-needs-acknowledgement"], [], id="responsibility-not-acknowledged"),
    pytest.param(facts(answers={"responsibility_acknowledged": False}),
                 ("mediation", "facilitated-dialogue", "shuttle-negotiation"), (),
                 ["restorative-needs-acknowledgement"], [], id="responsibility-unquoted-no-read-as-no"),
    pytest.param(facts(answers={"responsibility_acknowledged": "partly"}), EVERY, (), [], [],
                 id="responsibility-partly-acknowledged"),
    pytest.param(facts(answers={"responsibility_acknowledged": True}), EVERY, (), [], [],
                 id="responsibility-unquoted-yes-read-as-yes"),
    pytest.param(facts(answers={"power_imbalance": "high"}), EVERY, ("shuttle-negotiation",), [],
                 ["high-power-imbalance-safeguards"], id="high-power-imbalance-suggests-shuttle"),
    pytest.param(facts(answers={"power_imbalance": "high", "safety_risk": "serious"}), (), (),
                 ["serious-safety-risk"], ["high-power-imbalance-safeguards"],
                 id="high-power-imbalance-but-every-process-excluded"),
    pytest.param(facts(answers={"safety_risk": "some"}), EVERY, (), [], ["some-safety-risk"],
                 id="some-safety-risk-caution"),
    pytest.param(facts(answers={"prior_reports": 2}), EVERY, (), [], ["repeated-reports-review"],
                 id="two-prior-reports-caution"),
    pytest.param(facts(answers={"prior_reports": 1}), EVERY, (), [], [], id="one-prior-report-no-caution"),
    pytest.param(dataclasses.replace(TITLE_IX, answers={}, decision=None), (), (),
                 ["title-ix-employee-and-student"], [], id="no-assessment-title-ix-still-excluded"),
    pytest.param(dataclasses.replace(BASE, answers={}, decision=None), EVERY, (), [], [],
                 id="no-assessment-answer-rules-do-not-apply"),
]


@pytest.mark.parametrize("case, allowed, suggested, excluded_by, cautions", JUDGED)
def test_default_rubric_judges_the_intake(case, allowed, suggested, excluded_by, cautions):
    """The default rubric allows, suggests, excludes and cautions as its rules and the case's facts say."""
    verdict = evaluate(RUBRIC, case)
    assert verdict.problems == ()
    assert verdict.allowed == allowed
    assert verdict.excluded == tuple(p for p in EVERY if p not in allowed)
    assert verdict.suggested == suggested
    assert rules_of(verdict, "exclude") == excluded_by
    assert rules_of(verdict, "caution") == cautions
    assert verdict.suitable == bool(allowed)
    assert verdict.decisions == (*allowed, "not-suitable")


REFUSED = [
    pytest.param(TITLE_IX, "mediation",
                 ["rule title-ix-employee-and-student", "an employee sexually harassed a student",
                  "(Title IX, 34 CFR 106.45(b)(9)(iii))", "It allows only not-suitable."],
                 id="title-ix-employee-harasses-student"),
    pytest.param(facts(answers={"safety_risk": "serious"}), "facilitated-dialogue",
                 ["excludes facilitated-dialogue for this case (rule serious-safety-risk)"], id="serious-safety-risk"),
    pytest.param(facts(answers={"parties_want_informal": False}), "shuttle-negotiation",
                 ["rule parties-must-consent", "34 CFR 106.45(b)(9)(ii)"], id="a-party-unwilling"),
    pytest.param(facts(answers={"responsibility_acknowledged": "no"}), "restorative-justice",
                 ["The rubric excludes restorative-justice for this case (rule restorative-needs-acknowledgement): ",
                  "It allows mediation, facilitated-dialogue, shuttle-negotiation or not-suitable."],
                 id="restorative-without-acknowledgement"),
]


@pytest.mark.parametrize("case, decision, says", REFUSED)
def test_an_excluded_decision_is_refused_naming_rule_reason_and_authority(case, decision, says):
    """A decision the rubric excludes is refused in a sentence naming the rule, its reason, its authority and the choices left."""
    refusal = evaluate(RUBRIC, case).refusal(decision)
    assert refusal is not None
    for words in says:
        assert words in refusal


ALLOWED = [
    pytest.param(BASE, "restorative-justice", id="shared-example"),
    pytest.param(TITLE_IX, "not-suitable", id="not-suitable-always-allowed"),
    pytest.param(facts(answers={"responsibility_acknowledged": "no"}), "mediation", id="mediation-without-acknowledgement"),
    pytest.param(facts(answers={"power_imbalance": "high"}), "mediation", id="mediation-despite-high-power-imbalance"),
    pytest.param(dataclasses.replace(BASE, answers={}, decision=None), None, id="no-assessment-no-decision"),
]


@pytest.mark.parametrize("case, decision", ALLOWED)
def test_an_allowed_decision_has_no_refusal(case, decision):
    """An allowed decision, not-suitable, and an intake not yet assessed are not refused."""
    assert evaluate(RUBRIC, case).refusal(decision) is None


SECRET = "He threatened me after the seminar"
PROBLEMS = [
    pytest.param(dataclasses.replace(BASE, answers={k: v for k, v in BASE.answers.items() if k != "safety_risk"}),
                 ["assessment.answers.safety_risk is missing"], id="missing-answer"),
    pytest.param(facts(answers={"safety_risk": "severe"}),
                 ["assessment.answers.safety_risk is not an answer of safety_risk (none, some, serious)"],
                 id="answer-not-allowed"),
    pytest.param(facts(answers={"power_imbalance": SECRET}),
                 ["assessment.answers.power_imbalance is not an answer of power_imbalance (low, moderate, high)"],
                 id="free-text-answer-not-repeated"),
    pytest.param(facts(answers={"prior_reports": -1}),
                 ["assessment.answers.prior_reports is not a whole number (0 or more)"], id="negative-count"),
    pytest.param(facts(answers={"prior_reports": True}),
                 ["assessment.answers.prior_reports is not a whole number (0 or more)"], id="true-is-not-a-count"),
    pytest.param(facts(answers={"parties_want_informal": "yes"}),
                 ["assessment.answers.parties_want_informal is not true or false"], id="yes-no-given-a-word"),
    pytest.param(facts(answers={"severity": "high"}),
                 [("assessment.answers.severity is not a factor of the rubric (its factors: safety_risk, "
                   "power_imbalance, responsibility_acknowledged, prior_reports, parties_want_informal)")],
                 id="unknown-factor"),
    pytest.param(facts(allegations=("race-or-national-origin", "hazing")),
                 ["case.allegations[1] is not a category of the rubric (its categories: race-or-national-origin, "],
                 id="unknown-category"),
    pytest.param(facts(decision="arbitration"),
                 [("assessment.decision is not a process of the rubric (its processes: mediation, restorative-justice, "
                   "facilitated-dialogue, shuttle-negotiation or not-suitable)")], id="unknown-process"),
    pytest.param(facts(answers={"safety_risk": "severe", "severity": 3}, allegations=("hazing",)),
                 ["case.allegations[0] is not a category", "assessment.answers.safety_risk is not an answer",
                  "assessment.answers.severity is not a factor"], id="several-problems-in-file-order"),
]


@pytest.mark.parametrize("case, problems", PROBLEMS)
def test_an_intake_that_does_not_fit_the_rubric_is_refused_naming_each_place(case, problems):
    """Each problem names the field's place, never the case's text, and refuses any decision, not-suitable too."""
    verdict = evaluate(RUBRIC, case)
    assert len(verdict.problems) == len(problems)
    for problem, expected in zip(verdict.problems, problems):
        assert problem.startswith(expected)
    for decision in (case.decision, "not-suitable"):
        refusal = verdict.refusal(decision)
        assert refusal is not None and refusal.startswith("The intake does not fit the rubric: ")
        assert all(problem in refusal for problem in verdict.problems)
        assert SECRET not in refusal and "severe" not in refusal and "hazing" not in refusal


def test_a_rule_needing_a_missing_answer_does_not_apply():
    """A missing answer is a problem, and the rules that need it do not apply (the others still do)."""
    answers = {k: v for k, v in BASE.answers.items() if k != "safety_risk"}
    verdict = evaluate(RUBRIC, dataclasses.replace(TITLE_IX, answers={**answers, "prior_reports": 3}))
    assert verdict.problems == ("assessment.answers.safety_risk is missing",)
    assert rules_of(verdict, "exclude") == ["title-ix-employee-and-student"]
    assert rules_of(verdict, "caution") == ["repeated-reports-review"]


def test_no_assessment_reports_no_missing_answers():
    """Before an assessment, no answer is missing, yet a category the rubric lacks is still a problem."""
    unassessed = dataclasses.replace(BASE, answers={}, decision=None)
    assert evaluate(RUBRIC, unassessed).problems == ()
    verdict = evaluate(RUBRIC, facts(unassessed, allegations=("hazing",)))
    assert [p.split(" is ")[0] for p in verdict.problems] == ["case.allegations[0]"]


def test_facts_from_intake_reads_statuses_by_role_and_a_missing_assessment():
    """The facts keep the statuses of the reporting and responding parties apart; without an assessment there are no answers and no decision."""
    data = copy.deepcopy(EXAMPLE)
    data["parties"].append({"name": "A Witness", "role": "other party", "status": "faculty"})
    assert facts_from_intake(data).responding == ("postdoc",) and facts_from_intake(data).reporting == ("graduate-student",)
    for absent in ({k: v for k, v in data.items() if k != "assessment"}, {**data, "assessment": None}):
        unassessed = facts_from_intake(absent)
        assert unassessed.answers == {} and unassessed.decision is None and not unassessed.assessed


@pytest.mark.skipif(not SHARED_INTAKE.is_file(), reason=f"{SHARED_INTAKE} is absent (a fresh clone)")
def test_the_shared_example_intake_fits_the_default_rubric():
    """The office's shared example intake, read as it is, fits the default rubric and its decision is allowed."""
    data = yaml.safe_load(SHARED_INTAKE.read_text(encoding="utf-8"))
    verdict = evaluate(RUBRIC, facts_from_intake(data))
    assert verdict.problems == () and verdict.refusal(data["assessment"]["decision"]) is None
    assert facts_from_intake(data) == BASE


# --- what the intake record and the command line see ------------------------------------------------


def _shape(value: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    shape = {}
    for key, item in value.items():
        if isinstance(item, list):
            keys = {tuple(entry) for entry in item if isinstance(entry, dict)}
            assert len(keys) <= 1
            shape[f"{key}[]"] = tuple(sorted(next(iter(keys)))) if keys else ()
        else:
            shape[key] = tuple(sorted(item)) if isinstance(item, dict) else ()
    return shape


def test_context_is_shaped_as_rubric_context_with_labels_and_questions():
    """The intake record's rubric context has exactly RUBRIC_CONTEXT's paths, answers in the rubric's order with their questions, and labels."""
    case = facts(answers=dict(reversed(list({**BASE.answers, "power_imbalance": "high"}.items()))))
    ctx = context(RUBRIC, case, evaluate(RUBRIC, case))
    assert _shape(ctx) == {path: tuple(sorted(keys)) for path, keys in RUBRIC_CONTEXT.items()}
    assert [a["factor"] for a in ctx["answers"]] == [f.name for f in RUBRIC.factors]
    assert ctx["answers"][0]["question"] == RUBRIC.factors[0].question
    assert [a["answer"] for a in ctx["answers"]] == ["none", "high", "partly", "0", "yes"]
    assert ctx["allowed"] == ["Mediation", "Restorative justice", "Facilitated dialogue", "Shuttle negotiation"]
    assert ctx["suggested"] == ["Shuttle negotiation"]
    assert ctx["allegations"] == ["Race, color or national origin"]
    assert ctx["jurisdictions"] == ["Title VI of the Civil Rights Act of 1964"]
    assert ctx["decision"] == {"name": "restorative-justice", "label": "Restorative justice"}
    assert [(f["rule"], f["kind"]) for f in ctx["findings"]] == [
        ("high-power-imbalance-shuttle", "suggest"), ("high-power-imbalance-safeguards", "caution")]


def test_context_without_assessment_is_none_safe():
    """Before an assessment the context has no answers and no decision, and still labels what the case reports."""
    case = dataclasses.replace(TITLE_IX, answers={}, decision=None)
    ctx = context(RUBRIC, case, evaluate(RUBRIC, case))
    assert ctx["answers"] == [] and ctx["decision"] is None and ctx["allowed"] == [] and ctx["suggested"] == []
    assert ctx["jurisdictions"] == ["Title IX of the Education Amendments of 1972"]
    assert ctx["findings"] == [{"rule": "title-ix-employee-and-student", "kind": "exclude",
                                "reason": RUBRIC.rules[0].reason, "authority": "Title IX, 34 CFR 106.45(b)(9)(iii)"}]
    assert context(RUBRIC, TITLE_IX, evaluate(RUBRIC, TITLE_IX))["decision"]["label"] == "Mediation"
    not_suitable = dataclasses.replace(TITLE_IX, decision="not-suitable")
    assert context(RUBRIC, not_suitable, evaluate(RUBRIC, not_suitable))["decision"]["label"] == \
        "Not suitable for informal resolution"


def test_describe_lists_findings_choices_and_the_decision():
    """describe gives plain lines: each rule that applied, what is allowed and suggested, and whether the decision stands."""
    lines = describe(evaluate(RUBRIC, facts(answers={"power_imbalance": "high"})), "mediation")
    assert lines == [
        "Suggests shuttle-negotiation (rule high-power-imbalance-shuttle): " + RUBRIC.rules[4].reason,
        "Caution (rule high-power-imbalance-safeguards): " + RUBRIC.rules[5].reason,
        "Allowed: mediation, restorative-justice, facilitated-dialogue, shuttle-negotiation or not-suitable.",
        "Suggested: shuttle-negotiation.",
        "The decision mediation is allowed.",
    ]
    excluded = describe(evaluate(RUBRIC, TITLE_IX), "mediation")
    assert excluded[0].startswith("Excludes every informal process (rule title-ix-employee-and-student): ")
    assert excluded[1] == "Allowed: not-suitable only (every informal process is excluded)."
    assert excluded[2].startswith("The rubric excludes mediation for this case")
    assert describe(evaluate(RUBRIC, facts(answers={"safety_risk": "severe"})))[0] == \
        "Problem: assessment.answers.safety_risk is not an answer of safety_risk (none, some, serious)."


# --- reading a rubric file -------------------------------------------------------------------------


def test_default_rubric_file_loads_with_its_required_parts():
    """The packaged rubric loads, with the factors, processes, categories, jurisdictions and statuses the example needs."""
    assert [f.name for f in RUBRIC.factors] == ["safety_risk", "power_imbalance", "responsibility_acknowledged",
                                                "prior_reports", "parties_want_informal"]
    assert RUBRIC.factor("responsibility_acknowledged").answers == ("yes", "partly", "no")
    assert RUBRIC.process_names == EVERY
    assert all(2 <= p.description.count(". ") + 1 <= 4 for p in RUBRIC.processes)
    assert set(RUBRIC.jurisdictions) == {"title-ix", "title-vi", "title-vii", "institute-policy"}
    assert {"race-or-national-origin", "sexual-harassment", "sexual-assault", "dating-violence",
            "domestic-violence", "stalking", "retaliation", "other"} <= set(RUBRIC.allegations)
    assert RUBRIC.groups(["graduate-student"]) == {"student"} and RUBRIC.groups(["postdoc"]) == {"employee"}
    assert RUBRIC.groups(["other"]) == {"other"}
    assert len({r.id for r in RUBRIC.rules}) == len(RUBRIC.rules)


def test_a_workspace_without_a_rubric_file_gets_the_default(tmp_path):
    """A folder with no rubric.yaml (a workspace made before rubrics existed) reads the packaged default."""
    assert not (tmp_path / "rubric.yaml").exists()
    assert load_rubric(tmp_path) == RUBRIC == parse_rubric(RAW)


def test_a_workspace_rubric_file_is_the_one_read(tmp_path):
    """A workspace's own rubric.yaml, once there, is the one judged by (accord init copies the default)."""
    ws = init_workspace(tmp_path / "ws")
    assert load_rubric(ws.policies) == RUBRIC
    raw = copy.deepcopy(RAW)
    del raw["processes"]["shuttle-negotiation"]
    raw["rules"] = [r for r in raw["rules"] if "shuttle-negotiation" not in str(r)]
    (ws.policies / "rubric.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    own = load_rubric(ws.policies)
    assert own.process_names == EVERY[:3]
    assert evaluate(own, facts(decision="shuttle-negotiation")).problems[0].startswith(
        "assessment.decision is not a process of the rubric")


@pytest.mark.parametrize("text, message", [
    pytest.param("factors: [\n", "rubric.yaml is not valid YAML", id="not-yaml"),
    pytest.param("", "rubric.yaml: factors is missing", id="empty"),
    pytest.param("- a list\n", "rubric.yaml must be a mapping", id="a-list"),
])
def test_an_unreadable_rubric_file_is_refused(tmp_path, text, message):
    """A rubric file that is not YAML, is empty or is not a mapping is refused with a sentence, not a traceback."""
    (tmp_path / "rubric.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigurationError) as err:
        load_rubric(tmp_path)
    assert str(err.value).startswith(message)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the raw rubric: the value at a dotted path (``rules[2].when.answers.x``) set, or
    removed when ``value`` is :data:`DELETE`."""
    def change(raw: dict[str, Any]) -> None:
        *parents, last = path.replace("[", ".").replace("]", "").split(".")
        node: Any = raw
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        key: Any = int(last) if last.isdigit() else last
        if value is DELETE:
            del node[key]
        else:
            node[key] = value
    return change


DELETE = object()
BAD_FILES = [
    pytest.param(_set("extra", 1), "rubric.yaml: extra: unexpected key (expected: factors, allegations, ",
                 id="unknown-top-key"),
    pytest.param(_set("processes", DELETE), "rubric.yaml: processes is missing", id="no-processes"),
    pytest.param(_set("rules[1].when.answers.safety_risk", "severe"),
                 "rubric.yaml: rules[1].when.answers.safety_risk: 'severe' is not an answer of safety_risk "
                 "(none, some, serious)", id="unknown-answer"),
    pytest.param(_set("rules[1].when.answers.severity", "high"),
                 "rubric.yaml: rules[1].when.answers.severity: 'severity' is not a factor of the rubric ("
                 "safety_risk, ", id="unknown-factor"),
    pytest.param(_set("rules[7].when.answers.prior_reports.at_least", -2),
                 "rubric.yaml: rules[7].when.answers.prior_reports.at_least: needs a whole number", id="bad-at-least"),
    pytest.param(_set("rules[1].when.answers.safety_risk", {"at_least": 1}),
                 "rubric.yaml: rules[1].when.answers.safety_risk: at_least compares counts", id="at-least-on-words"),
    pytest.param(_set("rules[0].when.allegations[1]", "harassment"),
                 "rubric.yaml: rules[0].when.allegations[1]: 'harassment' is not a category of the rubric (",
                 id="unknown-category"),
    pytest.param(_set("rules[0].when.jurisdiction", ["title-9"]),
                 "rubric.yaml: rules[0].when.jurisdiction[0]: 'title-9' is not a jurisdiction of the rubric "
                 "(title-ix, title-vi, title-vii, institute-policy)", id="unknown-jurisdiction"),
    pytest.param(_set("rules[0].when.responding_party", "faculty"),
                 "rubric.yaml: rules[0].when.responding_party: 'faculty' is not a group of parties "
                 "(student, employee, other)", id="unknown-status-group"),
    pytest.param(_set("rules[3].exclude", ["arbitration"]),
                 "rubric.yaml: rules[3].exclude[0]: 'arbitration' is not a process of the rubric (mediation, ",
                 id="unknown-process-excluded"),
    pytest.param(_set("rules[4].suggest", "not-suitable"),
                 "rubric.yaml: rules[4].suggest: 'not-suitable' is not a process of the rubric", id="suggests-not-suitable"),
    pytest.param(_set("rules[1].id", "title-ix-employee-and-student"),
                 "rubric.yaml: rules[1].id: 'title-ix-employee-and-student' is the id of an earlier rule",
                 id="duplicate-rule-id"),
    pytest.param(_set("rules[2].exclude", DELETE),
                 "rubric.yaml: rules[2]: a rule does exactly one of exclude, suggest or caution", id="rule-does-nothing"),
    pytest.param(_set("rules[2].caution", True),
                 "rubric.yaml: rules[2]: a rule does exactly one of exclude, suggest or caution (this one has "
                 "exclude and caution)", id="rule-does-two-things"),
    pytest.param(_set("rules[5].caution", False), "rubric.yaml: rules[5].caution: a caution is written caution: true",
                 id="caution-false"),
    pytest.param(_set("rules[0].because", "x"), "rubric.yaml: rules[0].because: unexpected key", id="unknown-rule-key"),
    pytest.param(_set("rules[0].when.party", "student"), "rubric.yaml: rules[0].when.party: unexpected key",
                 id="unknown-condition"),
    pytest.param(_set("rules[0].reason", DELETE), "rubric.yaml: rules[0]: reason is missing", id="no-reason"),
    pytest.param(_set("rules[0].reason", "employees and students"),
                 "rubric.yaml: rules[0].reason: must be a reason (a full sentence ending in '.')", id="reason-not-a-sentence"),
    pytest.param(_set("rules[0].id", "Title IX"), "rubric.yaml: rules[0].id: a name uses lower-case letters",
                 id="bad-rule-id"),
    pytest.param(_set("processes.mediation.label", DELETE), "rubric.yaml: processes.mediation: label is missing",
                 id="process-without-label"),
    pytest.param(_set("processes.mediation.description", DELETE),
                 "rubric.yaml: processes.mediation: description is missing", id="process-without-description"),
    pytest.param(_set("processes.not-suitable", {"label": "No", "description": "None."}),
                 "rubric.yaml: processes.not-suitable: not-suitable is always a decision", id="process-named-not-suitable"),
    pytest.param(_set("factors.prior_reports.answers", ["0", "1"]),
                 "rubric.yaml: factors.prior_reports: a factor takes either answers", id="factor-answers-and-type"),
    pytest.param(_set("factors.prior_reports.type", "number"),
                 "rubric.yaml: factors.prior_reports.type: 'number' is not a type of factor (count, yes-no)",
                 id="unknown-factor-type"),
    pytest.param(_set("factors.safety_risk.question", "Safety risk"),
                 "rubric.yaml: factors.safety_risk.question: must be the question", id="question-not-a-question"),
    pytest.param(_set("factors.safety_risk.answers", ["none", "some", "none"]),
                 "rubric.yaml: factors.safety_risk.answers[2]: 'none' is listed twice", id="answer-listed-twice"),
    pytest.param(_set("allegations.stalking", {"name": "Stalking"}),
                 "rubric.yaml: allegations.stalking.name: unexpected key", id="category-without-label"),
    pytest.param(_set("statuses.employee", ["staff", "adjunct"]),
                 "rubric.yaml: statuses.employee[1]: 'adjunct' is not a party status", id="unknown-status"),
    pytest.param(_set("statuses.visitor", ["other"]), "rubric.yaml: statuses.visitor: the groups are student and employee",
                 id="unknown-status-group-listed"),
]


@pytest.mark.parametrize("change, message", BAD_FILES)
def test_a_wrong_rubric_is_refused_naming_the_place(change, message):
    """Each mistake in a rubric file is refused with a ConfigurationError naming its exact place."""
    raw = copy.deepcopy(RAW)
    change(raw)
    with pytest.raises(ConfigurationError) as err:
        parse_rubric(raw)
    assert str(err.value).startswith(message), str(err.value)


def test_unquoted_yes_and_no_in_a_rubric_file_mean_the_words(tmp_path):
    """An office that writes yes and no unquoted (YAML's true and false) gets the answers it meant."""
    text = DEFAULT_RUBRIC.read_text(encoding="utf-8").replace('"yes"', "yes").replace('"no"', "no")
    (tmp_path / "rubric.yaml").write_text(text, encoding="utf-8")
    assert load_rubric(tmp_path) == RUBRIC
