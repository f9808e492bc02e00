"""The office's suitability rubric: which informal processes an intake may decide, and why.

``retention_policies/rubric.yaml`` is the office's own data: the factors of the assessment with their
allowed answers, the allegation categories and the jurisdictions with the labels notices print, who
counts as a student or an employee, the processes with the description a notice prints, and the
rules. :func:`evaluate` is a pure function of (rubric, facts of an intake): the rules apply in file
order, each excluding processes, suggesting some or adding a caution, with its reason and authority.
A decision the rubric excludes, and an intake that does not fit the rubric (an answer missing or not
allowed, a category the rubric does not list), are refused by :meth:`Verdict.refusal`, in sentences
that name the rule or the field's place and never a case's text.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from pipeline.errors import ConfigurationError
from pipeline.workspace import DEFAULTS

RUBRIC_FILE = "rubric.yaml"
#: The rubric ``accord init`` copies, read for a workspace made before rubrics existed.
DEFAULT_RUBRIC = DEFAULTS / "retention_policies" / RUBRIC_FILE
#: The decision that is always allowed: the case goes to no informal process.
NOT_SUITABLE = "not-suitable"
NOT_SUITABLE_LABEL = "Not suitable for informal resolution"
KINDS = ("exclude", "suggest", "caution")
FACTOR_TYPES = ("count", "yes-no")
#: The groups a rule's ``reporting_party`` and ``responding_party`` name; ``other`` is a party whose
#: status the rubric's ``statuses`` puts in neither of the first two.
GROUPS = ("student", "employee", "other")
#: The statuses a ``statuses`` group may list (those of case-intake's ``parties[].status`` but other).
PARTY_STATUSES = ("undergraduate", "graduate-student", "postdoc", "staff", "faculty")

_TOP_KEYS = ("factors", "allegations", "jurisdictions", "statuses", "processes")
_RULE_KEYS = ("id", "when", *KINDS, "reason", "authority")
_WHEN_KEYS = ("answers", "allegations", "jurisdiction", "reporting_party", "responding_party")
_FACTOR_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")  # as case-intake's assessment.answers allows
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


@dataclass(frozen=True)
class Factor:
    """One factor of the assessment: its question, and how it is answered."""

    name: str
    question: str
    kind: str = "answers"  # one of the answers, or count (a whole number, 0 or more), or yes-no
    answers: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        """What an answer must be, completing "... is not ___"."""
        if self.kind == "count":
            return "a whole number (0 or more)"
        if self.kind == "yes-no":
            return "true or false"
        return f"an answer of {self.name} ({', '.join(self.answers)})"

    def read(self, value: Any) -> str | int | bool | None:
        """The answer as rules compare it, or ``None`` when ``value`` is not an answer of this factor."""
        if self.kind == "count":
            return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
        if self.kind == "yes-no":
            return value if isinstance(value, bool) else None
        if isinstance(value, bool):  # YAML reads an unquoted yes or no as true or false
            value = "yes" if value else "no"
        return value if isinstance(value, str) and value in self.answers else None


@dataclass(frozen=True)
class Process:
    name: str
    label: str
    description: str


@dataclass(frozen=True)
class AnswerTest:
    """A rule's condition on one factor: the answer is one of ``values``, or at least ``at_least``."""

    factor: str
    values: tuple[Any, ...] = ()
    at_least: int | None = None

    def holds(self, answer: Any) -> bool:
        return answer >= self.at_least if self.at_least is not None else answer in self.values


@dataclass(frozen=True)
class Conditions:
    """When a rule applies: every condition given holds (a list holds when the case has any of it)."""

    answers: tuple[AnswerTest, ...] = ()
    allegations: tuple[str, ...] = ()
    jurisdiction: tuple[str, ...] = ()
    reporting_party: tuple[str, ...] = ()
    responding_party: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    id: str
    when: Conditions
    kind: str  # exclude, suggest or caution
    processes: tuple[str, ...]  # excluded or suggested (every process for exclude: all; none for a caution)
    reason: str
    authority: str | None = None


@dataclass(frozen=True)
class Rubric:
    factors: tuple[Factor, ...]
    allegations: Mapping[str, str]  # each category and its label
    jurisdictions: Mapping[str, str]  # each jurisdiction and its label
    statuses: Mapping[str, tuple[str, ...]]  # the party statuses of the student and employee groups
    processes: tuple[Process, ...]
    rules: tuple[Rule, ...] = ()

    @property
    def process_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.processes)

    def factor(self, name: str) -> Factor | None:
        return next((f for f in self.factors if f.name == name), None)

    def process_label(self, name: str) -> str:
        if name == NOT_SUITABLE:
            return NOT_SUITABLE_LABEL
        return next((p.label for p in self.processes if p.name == name), name)

    def groups(self, statuses: Iterable[str]) -> set[str]:
        """The groups the parties of these statuses belong to (``other`` for a status in no group)."""
        found: set[str] = set()
        for status in statuses:
            found |= {g for g, members in self.statuses.items() if status in members} or {"other"}
        return found


@dataclass(frozen=True)
class IntakeFacts:
    """What the rubric looks at in an intake: no names, no summary, no rationale."""

    jurisdiction: tuple[str, ...]
    allegations: tuple[str, ...]
    reporting: tuple[str, ...]  # the statuses of the reporting parties
    responding: tuple[str, ...]  # the statuses of the responding parties
    answers: Mapping[str, Any] = field(default_factory=dict)
    decision: str | None = None

    @property
    def assessed(self) -> bool:
        return self.decision is not None or bool(self.answers)


@dataclass(frozen=True)
class Finding:
    """A rule that applied to the case."""

    rule: str
    kind: str
    processes: tuple[str, ...]
    reason: str
    authority: str | None = None


@dataclass(frozen=True)
class Verdict:
    allowed: tuple[str, ...]  # the processes the case may go to, in the rubric's order
    excluded: tuple[str, ...]
    suggested: tuple[str, ...]  # the allowed processes a rule suggests
    findings: tuple[Finding, ...]
    problems: tuple[str, ...]  # where the intake does not fit the rubric, each naming the field's place

    @property
    def suitable(self) -> bool:
        """Whether some informal process is allowed; if not, not-suitable is the only decision."""
        return bool(self.allowed)

    @property
    def decisions(self) -> tuple[str, ...]:
        """The decisions the rubric allows: the allowed processes, and not-suitable."""
        return (*self.allowed, NOT_SUITABLE)

    def refusal(self, decision: str | None) -> str | None:
        """The sentence refusing an intake with this decision, or ``None`` when it may be recorded.
        ``not-suitable`` (and no decision yet) is refused only when the intake does not fit the rubric."""
        if self.problems:
            return f"The intake does not fit the rubric: {'; '.join(self.problems)}."
        if decision is None or decision in self.decisions:
            return None
        allows = _choices(self.decisions) if self.suitable else f"only {NOT_SUITABLE}"
        finding = next((f for f in self.findings if f.kind == "exclude" and decision in f.processes), None)
        if finding is None:
            return f"The decision is not a process of the rubric; it allows {allows}."
        return (f"The rubric excludes {decision} for this case (rule {finding.rule}): "
                f"{_sentence(finding.reason, finding.authority)} It allows {allows}.")


# --- judging an intake -----------------------------------------------------------------------------


def facts_from_intake(data: Mapping[str, Any]) -> IntakeFacts:
    """The facts of a validated case-intake file's data (``assessment`` may be absent or ``None``)."""
    case = data.get("case") or {}
    parties = data.get("parties") or []
    assessment = data.get("assessment") or {}

    def statuses(role: str) -> tuple[str, ...]:
        return tuple(str(p.get("status")) for p in parties if isinstance(p, Mapping) and p.get("role") == role)

    return IntakeFacts(
        jurisdiction=tuple(case.get("jurisdiction") or ()),
        allegations=tuple(case.get("allegations") or ()),
        reporting=statuses("reporting party"),
        responding=statuses("responding party"),
        answers=dict(assessment.get("answers") or {}),
        decision=assessment.get("decision"),
    )


def evaluate(rubric: Rubric, facts: IntakeFacts) -> Verdict:
    """The rubric's verdict on an intake: the rules in file order; a rule that needs answers does not
    apply to an intake not yet assessed (nor to a factor whose answer is missing or not allowed)."""
    answers, answer_problems = _read_answers(rubric, facts)
    problems = _case_problems(rubric, facts) + answer_problems + _decision_problems(rubric, facts)
    applied = [rule for rule in rubric.rules if _applies(rubric, rule.when, facts, answers)]
    excluded = {p for rule in applied if rule.kind == "exclude" for p in rule.processes}
    allowed = tuple(p for p in rubric.process_names if p not in excluded)
    findings = []
    for rule in applied:
        processes = tuple(p for p in rule.processes if rule.kind != "suggest" or p in allowed)
        if rule.kind == "suggest" and not processes:
            continue  # a suggestion of processes other rules exclude does not stand
        findings.append(Finding(rule.id, rule.kind, processes, rule.reason, rule.authority))
    suggested = {p for f in findings if f.kind == "suggest" for p in f.processes}
    return Verdict(
        allowed=allowed,
        excluded=tuple(p for p in rubric.process_names if p in excluded),
        suggested=tuple(p for p in allowed if p in suggested),
        findings=tuple(findings),
        problems=tuple(problems),
    )


def _applies(rubric: Rubric, when: Conditions, facts: IntakeFacts, answers: Mapping[str, Any]) -> bool:
    def any_of(wanted: tuple[str, ...], present: Iterable[str]) -> bool:
        return not wanted or any(item in wanted for item in present)

    return (all(test.factor in answers and test.holds(answers[test.factor]) for test in when.answers)
            and any_of(when.allegations, facts.allegations)
            and any_of(when.jurisdiction, facts.jurisdiction)
            and any_of(when.reporting_party, rubric.groups(facts.reporting))
            and any_of(when.responding_party, rubric.groups(facts.responding)))


def _read_answers(rubric: Rubric, facts: IntakeFacts) -> tuple[dict[str, Any], list[str]]:
    """The answers the rules may compare, and what is wrong with the others (nothing before an
    assessment is made)."""
    if not facts.assessed:
        return {}, []
    answers: dict[str, Any] = {}
    problems = []
    for factor in rubric.factors:
        place = f"assessment.answers.{factor.name}"
        value = factor.read(facts.answers.get(factor.name))
        if factor.name not in facts.answers:
            problems.append(f"{place} is missing")
        elif value is None:
            problems.append(f"{place} is not {factor.expected}")
        else:
            answers[factor.name] = value
    names = ", ".join(f.name for f in rubric.factors) or "none"
    for name in facts.answers:
        if rubric.factor(name) is None:
            where = f"assessment.answers.{name}" if _FACTOR_NAME.fullmatch(str(name)) else "an entry of assessment.answers"
            problems.append(f"{where} is not a factor of the rubric (its factors: {names})")
    return answers, problems


def _case_problems(rubric: Rubric, facts: IntakeFacts) -> list[str]:
    problems = [f"case.allegations[{i}] is not a category of the rubric (its categories: {', '.join(rubric.allegations)})"
                for i, category in enumerate(facts.allegations) if category not in rubric.allegations]
    problems += [f"case.jurisdiction[{i}] is not a jurisdiction of the rubric "
                 f"(its jurisdictions: {', '.join(rubric.jurisdictions)})"
                 for i, name in enumerate(facts.jurisdiction) if name not in rubric.jurisdictions]
    return problems


def _decision_problems(rubric: Rubric, facts: IntakeFacts) -> list[str]:
    if facts.decision is None or facts.decision == NOT_SUITABLE or facts.decision in rubric.process_names:
        return []
    choices = _choices((*rubric.process_names, NOT_SUITABLE))
    return [f"assessment.decision is not a process of the rubric (its processes: {choices})"]


# --- what the intake record and the command line show ----------------------------------------------


def context(rubric: Rubric, facts: IntakeFacts, verdict: Verdict) -> dict[str, Any]:
    """The intake record's ``rubric`` context (``documents.templates.RUBRIC_CONTEXT``): the answers
    with their questions in the rubric's order, the findings, and labels for the rest. Before an
    assessment, ``answers`` is empty and ``decision`` is ``None``."""
    answers = []
    for factor in rubric.factors:
        value = factor.read(facts.answers.get(factor.name))
        if value is not None:
            printed = ("yes" if value else "no") if isinstance(value, bool) else str(value)
            answers.append({"factor": factor.name, "question": factor.question, "answer": printed})
    decision = facts.decision
    return {
        "answers": answers,
        "findings": [{"rule": f.rule, "kind": f.kind, "reason": f.reason, "authority": f.authority}
                     for f in verdict.findings],
        "allowed": [rubric.process_label(p) for p in verdict.allowed],
        "suggested": [rubric.process_label(p) for p in verdict.suggested],
        "allegations": [rubric.allegations.get(c, c) for c in facts.allegations],
        "jurisdictions": [rubric.jurisdictions.get(j, j) for j in facts.jurisdiction],
        "decision": None if decision is None else {"name": decision, "label": rubric.process_label(decision)},
    }


def describe(verdict: Verdict, decision: str | None = None) -> list[str]:
    """Plain lines for ``accord rubric check``: the problems, each rule that applied, the decisions
    allowed and suggested, and (given the intake's decision) whether it may be recorded."""
    lines = [f"Problem: {problem}." for problem in verdict.problems]
    every = {*verdict.allowed, *verdict.excluded}
    for f in verdict.findings:
        if f.kind == "caution":
            what = "Caution"
        elif f.kind == "exclude" and set(f.processes) == every:
            what = "Excludes every informal process"
        else:
            what = f"{f.kind.capitalize()}s {', '.join(f.processes)}"
        lines.append(f"{what} (rule {f.rule}): {_sentence(f.reason, f.authority)}")
    if verdict.suitable:
        lines.append(f"Allowed: {_choices(verdict.decisions)}.")
    else:
        lines.append(f"Allowed: {NOT_SUITABLE} only (every informal process is excluded).")
    if verdict.suggested:
        lines.append(f"Suggested: {', '.join(verdict.suggested)}.")
    if decision is not None:
        lines.append(verdict.refusal(decision) or f"The decision {decision} is allowed.")
    return lines


def _sentence(reason: str, authority: str | None) -> str:
    return f"{reason.rstrip('.')} ({authority})." if authority else reason


def _choices(names: Iterable[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


# --- loading -------------------------------------------------------------------------------------


def load_rubric(folder: Path) -> Rubric:
    """Read and check ``folder/rubric.yaml``; a workspace made before rubrics existed has none and
    gets the packaged default."""
    path = folder / RUBRIC_FILE
    if not path.exists():
        path = DEFAULT_RUBRIC
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigurationError(f"{RUBRIC_FILE} is not UTF-8 text.") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{RUBRIC_FILE} is not valid YAML: {exc}") from None
    return parse_rubric({} if raw is None else raw)


def parse_rubric(raw: Mapping[str, Any]) -> Rubric:
    """Check a rubric's data; a :class:`ConfigurationError` names the exact place of what is wrong."""
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{RUBRIC_FILE} must be a mapping with {', '.join(_TOP_KEYS)} and rules.")
    _check_keys(raw, "", (*_TOP_KEYS, "rules"), required=_TOP_KEYS)
    rubric = Rubric(
        factors=_factors(raw["factors"]),
        allegations=_labels(raw["allegations"], "allegations"),
        jurisdictions=_labels(raw["jurisdictions"], "jurisdictions"),
        statuses=_statuses(raw["statuses"]),
        processes=_processes(raw["processes"]),
    )
    return dataclasses.replace(rubric, rules=_rules(raw.get("rules"), rubric))


def _error(place: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"{RUBRIC_FILE}: {place}: {message}" if place else f"{RUBRIC_FILE}: {message}")


def _check_keys(entry: Mapping[str, Any], place: str, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> None:
    for key in entry:
        if key not in allowed:
            raise _error(f"{place}.{key}" if place else str(key), f"unexpected key (expected: {', '.join(allowed)})")
    for key in required:
        if key not in entry:
            raise _error(place, f"{key} is missing")


def _mapping(value: Any, place: str, nonempty: bool = True) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _error(place, "must be a mapping")
    if nonempty and not value:
        raise _error(place, "is empty")
    return value


def _name(value: Any, place: str, pattern: re.Pattern[str] = _NAME) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        rule = "lower-case letters, digits and _" if pattern is _FACTOR_NAME else "lower-case letters, digits and -"
        raise _error(place, f"a name uses {rule} only")
    return value


def _text(value: Any, place: str, what: str, end: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(place, f"needs {what}")
    if end and not value.rstrip().endswith(end):
        raise _error(place, f"must be {what} (a full sentence ending in {end!r})")
    return value.strip()


def _listed(value: Any, place: str) -> list[tuple[str, Any]]:
    """(place, item) for a list, or for a single item written without brackets; never empty."""
    if isinstance(value, list):
        if not value:
            raise _error(place, "is an empty list")
        return [(f"{place}[{i}]", item) for i, item in enumerate(value)]
    return [(place, value)]


def _known(value: Any, place: str, known: Iterable[str], what: str) -> tuple[str, ...]:
    known = tuple(known)
    names = []
    for where, item in _listed(value, place):
        if item not in known:
            raise _error(where, f"{item!r} is not {what} ({', '.join(known)})")
        names.append(item)
    return tuple(names)


def _factors(raw: Any) -> tuple[Factor, ...]:
    factors = []
    for name, entry in _mapping(raw, "factors", nonempty=False).items():
        place = f"factors.{name}"
        _name(name, place, _FACTOR_NAME)
        entry = _mapping(entry, place)
        _check_keys(entry, place, ("question", "answers", "type"), required=("question",))
        question = _text(entry["question"], f"{place}.question", "the question the intake record prints", end="?")
        if ("answers" in entry) == ("type" in entry):
            raise _error(place, "a factor takes either answers: [...] or type: count or yes-no")
        if "type" in entry:
            if entry["type"] not in FACTOR_TYPES:
                raise _error(f"{place}.type", f"{entry['type']!r} is not a type of factor ({', '.join(FACTOR_TYPES)})")
            factors.append(Factor(name, question, entry["type"]))
            continue
        words = []
        for where, word in _listed(entry["answers"], f"{place}.answers"):
            word = ("yes" if word else "no") if isinstance(word, bool) else word
            if _name(word, where) in words:
                raise _error(where, f"{word!r} is listed twice")
            words.append(word)
        factors.append(Factor(name, question, "answers", tuple(words)))
    return tuple(factors)


def _labels(raw: Any, section: str) -> dict[str, str]:
    labels = {}
    for name, entry in _mapping(raw, section).items():
        place = f"{section}.{name}"
        _name(name, place)
        entry = _mapping(entry, place)
        _check_keys(entry, place, ("label",), required=("label",))
        labels[name] = _text(entry["label"], f"{place}.label", "a label (the words a notice prints)")
    return labels


def _statuses(raw: Any) -> dict[str, tuple[str, ...]]:
    groups = {}
    for group, members in _mapping(raw, "statuses", nonempty=False).items():
        place = f"statuses.{group}"
        if group not in GROUPS[:2]:
            raise _error(place, "the groups are student and employee (a status in neither counts as other)")
        groups[group] = _known(members, place, PARTY_STATUSES, "a party status a group may list")
    return groups


def _processes(raw: Any) -> tuple[Process, ...]:
    processes = []
    for name, entry in _mapping(raw, "processes").items():
        place = f"processes.{name}"
        if _name(name, place) == NOT_SUITABLE:
            raise _error(place, f"{NOT_SUITABLE} is always a decision; it is not a process to list")
        entry = _mapping(entry, place)
        _check_keys(entry, place, ("label", "description"), required=("label", "description"))
        label = _text(entry["label"], f"{place}.label", "a label (the words a notice prints)")
        description = _text(entry["description"], f"{place}.description",
                            "a description (2-4 sentences a notice prints: how the process works)", end=".")
        processes.append(Process(name, label, description))
    return tuple(processes)


def _rules(raw: Any, rubric: Rubric) -> tuple[Rule, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _error("rules", "must be a list of rules")
    rules: list[Rule] = []
    for i, entry in enumerate(raw):
        place = f"rules[{i}]"
        entry = _mapping(entry, place)
        _check_keys(entry, place, _RULE_KEYS, required=("id", "reason"))
        rule_id = _name(entry["id"], f"{place}.id")
        if any(rule.id == rule_id for rule in rules):
            raise _error(f"{place}.id", f"{rule_id!r} is the id of an earlier rule; each rule needs its own")
        kinds = [k for k in KINDS if k in entry]
        if len(kinds) != 1:
            has = f" (this one has {' and '.join(kinds)})" if kinds else ""
            raise _error(place, f"a rule does exactly one of exclude, suggest or caution{has}")
        kind = kinds[0]
        processes = _rule_processes(kind, entry[kind], f"{place}.{kind}", rubric)
        when = _conditions(entry.get("when"), f"{place}.when", rubric)
        reason = _text(entry["reason"], f"{place}.reason", "a reason", end=".")
        authority = None if entry.get("authority") is None else _text(entry["authority"], f"{place}.authority",
                                                                      "the authority the rule rests on")
        rules.append(Rule(rule_id, when, kind, processes, reason, authority))
    return tuple(rules)


def _rule_processes(kind: str, value: Any, place: str, rubric: Rubric) -> tuple[str, ...]:
    if kind == "caution":
        if value is not True:
            raise _error(place, "a caution is written caution: true")
        return ()
    if kind == "exclude" and value == "all":
        return rubric.process_names
    return _known(value, place, rubric.process_names, "a process of the rubric")


def _conditions(raw: Any, place: str, rubric: Rubric) -> Conditions:
    if raw is None:
        return Conditions()
    entry = _mapping(raw, place)
    _check_keys(entry, place, _WHEN_KEYS)

    def known(key: str, names: Iterable[str], what: str) -> tuple[str, ...]:
        return _known(entry[key], f"{place}.{key}", names, what) if key in entry else ()

    return Conditions(
        answers=_answer_tests(entry["answers"], f"{place}.answers", rubric) if "answers" in entry else (),
        allegations=known("allegations", rubric.allegations, "a category of the rubric"),
        jurisdiction=known("jurisdiction", rubric.jurisdictions, "a jurisdiction of the rubric"),
        reporting_party=known("reporting_party", GROUPS, "a group of parties"),
        responding_party=known("responding_party", GROUPS, "a group of parties"),
    )


def _answer_tests(raw: Any, place: str, rubric: Rubric) -> tuple[AnswerTest, ...]:
    tests = []
    for name, value in _mapping(raw, place).items():
        where = f"{place}.{name}"
        factor = rubric.factor(str(name))
        if factor is None:
            raise _error(where, f"{name!r} is not a factor of the rubric "
                                f"({', '.join(f.name for f in rubric.factors) or 'it has none'})")
        if isinstance(value, Mapping):
            tests.append(_at_least(factor, value, where))
            continue
        values = []
        for item_place, item in _listed(value, where):
            answer = factor.read(item)
            if answer is None:
                raise _error(item_place, f"{item!r} is not {factor.expected}")
            values.append(answer)
        tests.append(AnswerTest(factor.name, tuple(values)))
    return tuple(tests)


def _at_least(factor: Factor, value: Mapping[str, Any], place: str) -> AnswerTest:
    _check_keys(value, place, ("at_least",), required=("at_least",))
    if factor.kind != "count":
        raise _error(place, f"at_least compares counts, and {factor.name} is answered with {factor.expected}")
    n = factor.read(value["at_least"])
    if n is None:
        raise _error(f"{place}.at_least", "needs a whole number (0 or more)")
    return AnswerTest(factor.name, at_least=n)
