"""The project's own examples, and the contract with the shared examples beside the checkout.

The tests and the README use ``examples/`` in this repository, so a fresh clone runs alone. Where
``../shared/examples/`` exists beside the checkout (the office's common set, which CI lays there
too), every file in it that Accord can take today must be accepted exactly as it is: each case
file whose template Accord ships, and each event file whose cases are the cases of this project's
own examples. The other shared files (templates and events still to come) belong to later work.
"""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest
import yaml

from pipeline.documents.casefile import parse_case
from pipeline.documents.templates import load_templates
from pipeline.errors import IntakeError
from pipeline.intake.eventfile import is_event_file, parse_events

from .helpers import EXAMPLES, ROOT

SHARED = ROOT.parent / "shared" / "examples"
TEMPLATES = load_templates(ROOT / "templates")
LIMIT = 2 * 1024 * 1024
OWN_EXAMPLES = ["resolution-agreement.yaml", "mou.yaml", "case-events.csv"]

needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(),
    reason=f"{SHARED} is absent (a fresh clone): there are no shared examples to hold Accord to",
)


def shared_files() -> list[Path]:
    return sorted(p for p in SHARED.iterdir() if p.is_file() and not p.name.startswith("."))


def declared_template(path: Path) -> str | None:
    """The ``template:`` a case file names, or None when the file names none or cannot be read."""
    try:
        data = yaml.safe_load(path.read_bytes())
    except yaml.YAMLError:
        return None
    return data.get("template") if isinstance(data, dict) else None


def event_case_ids(path: Path) -> set[str]:
    """The case ids an event file's rows name (CSV column ``case_id``, or ``events:`` entries)."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".csv":
        return {row.get("case_id") or "" for row in csv.DictReader(io.StringIO(text))}
    events = (yaml.safe_load(text) or {}).get("events") or []
    return {str(e.get("case_id", "")) if isinstance(e, dict) else "" for e in events}


def test_examples_are_part_of_the_repository():
    """The examples the tests and README use are tracked files of this repository, not of a folder beside it."""
    assert EXAMPLES == ROOT / "examples"
    tracked = subprocess.run(["git", "ls-files", "--error-unmatch", *OWN_EXAMPLES], cwd=EXAMPLES,
                             capture_output=True, text=True)
    assert tracked.returncode == 0, tracked.stderr


@needs_shared
def test_own_examples_are_the_shared_ones():
    """Each of the project's examples is byte for byte the shared file of the same name."""
    for name in OWN_EXAMPLES:
        assert (EXAMPLES / name).read_bytes() == (SHARED / name).read_bytes(), name


@needs_shared
def test_shared_case_files_of_known_templates_are_accepted():
    """Every shared case file naming a shipped template is accepted byte for byte, for that template."""
    checked, refused = [], []
    for path in shared_files():
        raw = path.read_bytes()
        if is_event_file(path.name, raw) or declared_template(path) not in TEMPLATES:
            continue
        try:
            case = parse_case(raw, path.name, TEMPLATES, LIMIT)
        except IntakeError as exc:
            refused.append(f"{path.name}: {exc}")
            continue
        assert case.raw == raw and case.template.name == declared_template(path), path.name
        checked.append(path.name)
    assert not refused, refused
    assert {"resolution-agreement.yaml", "mou.yaml"} <= set(checked)


@needs_shared
def test_shared_event_files_of_known_cases_are_accepted():
    """Every shared event file whose cases are those of the project's examples is accepted whole."""
    known = {parse_case((EXAMPLES / n).read_bytes(), n, TEMPLATES, LIMIT).subject_id
             for n in OWN_EXAMPLES if not is_event_file(n, (EXAMPLES / n).read_bytes())}
    checked, refused = [], []
    for path in shared_files():
        raw = path.read_bytes()
        if not is_event_file(path.name, raw) or not event_case_ids(path) <= known:
            continue
        try:
            events = parse_events(raw, path.name, known.__contains__)
        except IntakeError as exc:
            refused.append(f"{path.name}: {exc}")
            continue
        assert events, path.name
        checked.append(path.name)
    assert not refused, refused
    assert "case-events.csv" in checked
