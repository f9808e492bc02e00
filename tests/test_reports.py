"""The Director's report: counts equal a hand count on a small office built through intake, no name
or case id reaches the JSON, the CSV or the sealed PDF, suppression cannot be undone from the
margins (an integer solver attacks every hidden count), an empty period says so, and only a user
with the right to report may make one (each report an audit entry).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from scipy.optimize import Bounds, LinearConstraint, milp

from pipeline.cases import casebook
from pipeline.cases.rubric import load_rubric
from pipeline.cli.main import cli
from pipeline.config import ReportSettings
from pipeline.documents.seal import make_sealer
from pipeline.errors import AccessDenied, ReportError
from pipeline.governance.access import Actor
from pipeline.office import OfficeSession
from pipeline.records import audit
from pipeline.reportdesk import ReportDesk
from pipeline.reports.export import report_csv
from pipeline.reports.period import Period, academic_year
from pipeline.reports.suppression import Line, protect
from pipeline.reports.suppression import audit as audit_hidden
from pipeline.reports.tables import build_report
from pipeline.workspace import Workspace, init_workspace

from .helpers import list_users, make_office, pdfsig, pdftotext, words

YEAR = Period(dt.date(2025, 7, 1), dt.date(2026, 6, 30))
TODAY = dt.date(2026, 6, 30)


# --- a small office, built through intake ---------------------------------------------------------

#: Groups of alike cases: how many, opened when, the decision (None: not yet assessed), the parties'
#: standing, categories, unit and referral, supportive measures, and how the case went.
GROUPS = [
    dict(n=6, opened="2025-09-0{}", decision="mediation", statuses=("undergraduate", "undergraduate"),
         allegations=["religion"], jurisdiction=["title-vi"], unit="Department of History",
         referred_by="Dean of Students", measures=["no-contact"], story="consented", days=5),
    dict(n=4, opened="2025-10-0{}", decision="restorative-justice", statuses=("staff", "faculty"),
         allegations=["race-or-national-origin"], jurisdiction=["title-vii"], unit="University Library",
         referred_by="Human Resources", measures=["schedule-change", "work-arrangement"], story="withdrawn", days=7),
    dict(n=3, opened="2026-01-0{}", decision="not-suitable", statuses=("graduate-student", "staff"),
         allegations=["disability"], jurisdiction=["institute-policy"], unit="Department of Physics",
         referred_by="Title IX Office", measures=[], story="not-suitable", days=3),
    dict(n=2, opened="2026-02-0{}", decision=None, statuses=("undergraduate", "undergraduate"),
         allegations=["religion", "race-or-national-origin"], jurisdiction=["title-vi"], unit="University Library",
         referred_by="Dean of Students", measures=[], story="intake", days=0),
    dict(n=1, opened="2026-03-0{}", decision="facilitated-dialogue", statuses=("faculty", "faculty"),
         allegations=["age"], jurisdiction=["institute-policy"], unit="Department of Physics",
         referred_by="Ombuds", measures=["other"], story="referred", days=4),
]
NAMES = [("Reporting", "Person"), ("Responding", "Person")]


def _cases() -> list[tuple[str, dict[str, Any], int]]:
    found, number = [], 0
    for group_number, group in enumerate(GROUPS):
        for i in range(group["n"]):
            number += 1
            found.append((f"ADR-2025-{900 + number}", group, i + 1))
    return found


def _intake(example: dict[str, Any], case_id: str, group: dict[str, Any], day: int) -> dict[str, Any]:
    data = json.loads(json.dumps(example, default=str))
    opened = dt.date.fromisoformat(group["opened"].format(day))
    data["case"].update(id=case_id, opened=opened.isoformat(), referred_by=group["referred_by"],
                        jurisdiction=group["jurisdiction"], allegations=group["allegations"])
    for party, status, (first, last) in zip(data["parties"], group["statuses"], NAMES):
        party.update(name=f"{first} {last} {case_id[-3:]}", status=status, email=f"p{case_id[-3:]}{first[:3]}@example.edu",
                     affiliation=f"Member, {group['unit']}")
    data["supportive_measures"] = [{"kind": kind, "measure": "Arranged with the unit", "start": opened.isoformat(),
                                    "arranged_by": "The office"} for kind in group["measures"]]
    if not data["supportive_measures"]:
        del data["supportive_measures"]
    if group["decision"] is None:
        del data["assessment"]
    else:
        data["assessment"].update(date=(opened + dt.timedelta(days=group["days"])).isoformat(),
                                  decision=group["decision"])
    return data


def _events(case_id: str, group: dict[str, Any], day: int) -> list[str]:
    opened = dt.date.fromisoformat(group["opened"].format(day))
    decided = opened + dt.timedelta(days=group["days"])
    reporting, responding = (f"{first} {last} {case_id[-3:]}" for first, last in NAMES)
    on = lambda days: (decided + dt.timedelta(days=days)).isoformat()  # noqa: E731
    if group["story"] == "consented":
        return [f"{case_id},consent,{on(2)},{reporting},", f"{case_id},consent,{on(3)},{responding},"]
    if group["story"] == "withdrawn":
        return [f"{case_id},consent,{on(2)},{reporting},", f"{case_id},case-withdrawn,{on(10)},{responding},"]
    if group["story"] == "referred":
        return [f"{case_id},case-referred,{on(6)},,Referred to the formal process"]
    return []


@pytest.fixture(scope="module")
def built(tmp_path_factory, pki_source, stored_converter, examples) -> Path:
    """An office of 16 cases taken in by intake (intakes, then their events), with report.min_cell 3."""
    ws = init_workspace(tmp_path_factory.mktemp("reports") / "ws")
    shutil.copytree(pki_source, ws.pki)
    ws.config_file.write_text(ws.config_file.read_text(encoding="utf-8") + "\nreport:\n  min_cell: 3\n",
                              encoding="utf-8")
    example = yaml.safe_load((examples / "case-intake.yaml").read_text(encoding="utf-8"))
    office = make_office(ws, stored_converter)
    lines = ["case_id,event,date,party,note"]
    for case_id, group, day in _cases():
        office.drop(f"{case_id}.yaml", yaml.safe_dump(_intake(example, case_id, group, day), sort_keys=False))
        lines += _events(case_id, group, day)
    outcomes = office.process().outcomes
    assert {o.status for o in outcomes} == {"recorded"}, [o.reason for o in outcomes if o.status != "recorded"]
    office.drop("events.csv", "\n".join(lines) + "\n")
    (events,) = office.process().outcomes
    assert events.status == "events", events.reason
    office.ingestor.close()
    return ws.root


def _desk(root: Path, user: str = "root") -> ReportDesk:
    return ReportDesk(OfficeSession(Workspace(root), Actor(user)), today=lambda: TODAY)


def _table(report: dict[str, Any], table_id: str) -> dict[str, Any]:
    return next(t for t in report["tables"] if t["id"] == table_id)


def value(table: dict[str, Any], row: str, column: str | None = None) -> Any:
    """A cell by its labels ("s" when suppressed; row or column "Total" for the totals)."""
    if row == table["total_label"] and column in (None, "Total"):
        cell = table["total"]
    elif row == table["total_label"]:
        cell = table["column_totals"][table["columns"].index(column)]
    elif column == "Total":
        cell = table["row_totals"][table["rows"].index(row)]
    else:
        cell = table["cells"][table["rows"].index(row)][table["columns"].index(column or table["columns"][0])]
    return "s" if cell["suppressed"] else cell["value"]


def test_the_counts_equal_a_hand_count(built):
    """Every table counts the built office as the groups above say (min_cell 3: the one referred
    case and whatever would give it away are suppressed, the rest shown)."""
    with _desk(built) as desk:
        report = desk.report(YEAR).as_dict()
    assert report["min_cell"] == 3 and not report["empty"]
    closed = _table(report, "closed-by-outcome")
    assert value(closed, "Restorative justice", "Withdrawn") == 4
    assert value(closed, "Facilitated dialogue", "Referred") == "s"  # the one referred case ...
    assert value(closed, "Total", "Referred") == "s"
    assert value(closed, "Not suitable", "Not suitable") == "s"  # ... and what would give it away: 8 - 4 - 3
    assert value(closed, "Total", "Total") == 8 and value(closed, "Restorative justice", "Total") == 4
    opened = _table(report, "opened-by-month")
    assert [value(opened, "Total", p) for p in ("Mediation", "Restorative justice", "Not suitable")] == [6, 4, 3]
    assert value(opened, "Sep 2025", "Mediation") == 6 and value(opened, "Jan 2026", "Not suitable") == 3
    assert value(opened, "Mar 2026", "Facilitated dialogue") == "s"
    assert value(_table(report, "jurisdiction"), "Title VII of the Civil Rights Act of 1964") == 4
    allegations = _table(report, "allegations")
    assert value(allegations, "Religion") == 8 and value(allegations, "Race, color or national origin") == 6
    referral = _table(report, "referral")
    assert referral["rows"][:4] == ["Dean of Students", "Human Resources", "Title IX Office", "All others"]
    assert value(referral, "Dean of Students") == 8 and value(referral, "All others") == "s"  # Ombuds, once
    assert value(referral, "Title IX Office") == "s" and value(referral, "Total") == 16
    units = _table(report, "units")
    assert units["rows"][:3] == ["Department of History", "University Library", "Department of Physics"]
    assert [value(units, u) for u in units["rows"][:3]] == [6, 6, 4]
    statuses = _table(report, "statuses")
    assert [value(statuses, "Student", c) for c in ("Student", "Employee", "Total")] == [8, 3, 11]
    assert value(statuses, "Employee", "Employee") == 5
    assert value(_table(report, "withdrawals"), "Awaiting consent") == 4
    consent = _table(report, "consent")
    assert value(consent, "Every party consented") == 6 and value(consent, "Cases offered a process") == 11
    measures = _table(report, "measures")
    assert [value(measures, k) for k in ("No-contact directive", "Work arrangement", "Measures")] == [6, 4, 15]
    assert value(measures, "Schedule change") == "s" and value(measures, "Other") == "s"  # 4 hides the 1
    decision = _table(report, "days-to-decision")
    assert [value(decision, p, "Median days") for p in ("Mediation", "Restorative justice", "Not suitable")] == [
        5.0, 7.0, 3.0]
    assert value(decision, "Facilitated dialogue", "Median days") == "s"  # one case
    assert value(decision, "All processes", "Cases") == 14 and value(decision, "All processes", "Median days") == 5.0
    assert value(decision, "All processes", "90th percentile days") == 7.0
    rates = _table(report, "rates")
    assert value(rates, "Every party consented, of the cases offered a process") == 54.5


def test_no_name_email_or_case_id_in_the_json_or_the_csv(built):
    """The report's JSON and CSV carry none of the parties' names or emails and no case id."""
    with _desk(built) as desk:
        report = desk.report(YEAR)
    texts = [json.dumps(report.as_dict()), report_csv(report)]
    for case_id, _, _ in _cases():
        for text in texts:
            assert case_id not in text and case_id[-3:] + "@" not in text
            assert f"Person {case_id[-3:]}" not in text
    assert "ADR-" not in texts[0] and "ADR-" not in texts[1]


def test_the_sealed_report_is_a_record_without_names(built, tmp_path, converter, nss_db):
    """--pdf makes a sealed PDF/A program-report record: pdfsig and the catalog accept it, its due date
    follows its schedule, and its text names no party and no case."""
    root = tmp_path / "ws"
    shutil.copytree(built, root)
    with _desk(root) as desk:
        row = desk.seal(YEAR, converter, make_sealer(desk.session.ws, desk.session.config))
        (record,) = desk.session.catalog.records_of_case(row.case_id)
        entries = list(audit.entries(desk.session.catalog.conn, action="report"))
    pdf = root / row.pdf_path
    text = words(pdftotext(pdf))
    assert "Program report" in text and "Cases opened, by month and process" in text
    assert "ADR-2025" not in text and "Person 9" not in text and "@example.edu" not in text
    signature = pdfsig(pdf, nss_db)
    assert "Signature is Valid" in signature and "Total document signed" in signature
    created = dt.date.fromisoformat(record["created"][:10])
    assert record["record_class"] == "program-report"
    assert record["due_date"] == created.replace(year=created.year + 10).isoformat()  # review, 10 years on
    assert [e["outcome"] for e in entries][:2] == ["sealed", "ok"]  # newest first


def test_an_empty_period_seals_a_report_that_says_so(built, tmp_path, converter):
    """An empty period's sealed report is a short document that says there was nothing to count."""
    root = tmp_path / "ws"
    shutil.copytree(built, root)
    with _desk(root) as desk:
        row = desk.seal(Period(dt.date(2019, 1, 1), dt.date(2019, 12, 31)), converter,
                        make_sealer(desk.session.ws, desk.session.config))
    text = words(pdftotext(root / row.pdf_path))
    assert "there is nothing to count" in text and row.pages == 1


def test_an_empty_period_says_so(built):
    """A period in which nothing happened gives an empty report with a plain sentence, in every form."""
    with _desk(built) as desk:
        report = desk.report(Period(dt.date(2019, 1, 1), dt.date(2019, 12, 31)))
    assert report.empty and report.as_dict()["tables"] == []
    assert "nothing to count" in report.as_dict()["message"]
    assert "nothing to count" in report_csv(report)
    result = CliRunner().invoke(cli, ["report", "--workspace", str(built), "--from", "2019-01-01",
                                      "--to", "2019-12-31"])
    assert result.exit_code == 0 and "nothing to count" in result.output


def test_only_a_user_with_the_right_counts_only_what_it_covers(built, tmp_path):
    """A coordinator has no right to report (refused and audited); a director counts every case; a
    rule narrowed to one's own cases counts only those."""
    root = tmp_path / "ws"
    shutil.copytree(built, root)
    list_users(Workspace(root), {"morgan": {"roles": ["coordinator"], "cases": ["ADR-2025-9*"]},
                                 "pramam": {"roles": ["director"]}})
    with _desk(root, "morgan") as desk, pytest.raises(AccessDenied):
        desk.report(YEAR)
    with _desk(root, "pramam") as desk:
        everything = desk.report(YEAR).as_dict()
        denied = [e for e in audit.entries(desk.session.catalog.conn, action="report") if e["outcome"] == "denied"]
    assert value(_table(everything, "opened-by-month"), "Total", "Total") == 16
    assert [e["actor"] for e in denied] == ["morgan"]
    access = Workspace(root).policies / "access.yaml"
    data = yaml.safe_load(access.read_text(encoding="utf-8"))
    data["rules"].append({"role": "coordinator", "actions": ["report"], "own_cases": True})
    data["users"]["morgan"]["cases"] = ["ADR-2025-90*"]  # ADR-2025-901 .. 909: the mediations and 3 more
    access.write_text(yaml.safe_dump(data), encoding="utf-8")
    with _desk(root, "morgan") as desk:
        own = desk.report(YEAR).as_dict()
    assert value(_table(own, "opened-by-month"), "Total", "Total") == 9


def test_the_command_line_gives_json_and_csv(built, tmp_path):
    """`accord report --json` (before or after the command) is the tables' structure; --csv one line per
    count; a period that ends before it starts, or two forms at once, are refused."""
    result = CliRunner().invoke(cli, ["report", "--workspace", str(built), "--from", "2025-07-01",
                                      "--to", "2026-06-30", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"rows", "columns", "cells", "row_totals", "column_totals", "total"} <= set(data["tables"][0])
    assert all(set(c) == {"value", "suppressed"} for row in data["tables"][0]["cells"] for c in row)
    target = tmp_path / "report.csv"
    result = CliRunner().invoke(cli, ["report", "--workspace", str(built), "--from", "2025-07-01",
                                      "--to", "2026-06-30", "--csv", "-o", str(target)])
    assert result.exit_code == 0, result.output
    lines = target.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "table,title,row,column,value,suppressed" and (target.stat().st_mode & 0o777) == 0o600
    assert any(line.startswith("closed-by-outcome,") and line.endswith(",,yes") for line in lines)
    result = CliRunner().invoke(cli, ["report", "--workspace", str(built), "--from", "2026-06-30",
                                      "--to", "2025-07-01"])
    assert result.exit_code != 0 and "ends (2025-07-01) before it starts" in result.output
    before = CliRunner().invoke(cli, ["--json", "report", "--workspace", str(built), "--from", "2025-07-01",
                                      "--to", "2026-06-30"])
    assert before.exit_code == 0 and json.loads(before.output)["tables"] == data["tables"]  # --json before too
    both = CliRunner().invoke(cli, ["report", "--workspace", str(built), "--json", "--csv"])
    assert both.exit_code != 0 and "Choose one of --json, --csv and --pdf." in both.output


# --- the period --------------------------------------------------------------------------------------

def test_the_default_period_is_the_academic_year_containing_today():
    """July to June by default, another first month when configured, and a period given at one end
    only takes the other from that day's academic year."""
    assert academic_year(dt.date(2026, 12, 1)) == Period(dt.date(2026, 7, 1), dt.date(2027, 6, 30))
    assert academic_year(dt.date(2026, 3, 1)) == Period(dt.date(2025, 7, 1), dt.date(2026, 6, 30))
    assert academic_year(dt.date(2026, 8, 31), starts=9) == Period(dt.date(2025, 9, 1), dt.date(2026, 8, 31))
    with pytest.raises(ReportError):
        Period(dt.date(2026, 1, 2), dt.date(2026, 1, 1))
    with pytest.raises(Exception, match="min_cell"):
        ReportSettings(min_cell=1).assert_viable()


# --- suppression, attacked ----------------------------------------------------------------------------

def _grid(values: np.ndarray) -> tuple[dict, list[Line]]:
    """A table with its row, column and grand totals as keys and lines."""
    rows, columns = values.shape
    counts = {("n", f"r={r}", f"c={c}"): int(values[r, c]) for r in range(rows) for c in range(columns)}
    counts.update({("n", f"r={r}"): int(values[r].sum()) for r in range(rows)})
    counts.update({("n", f"c={c}"): int(values[:, c].sum()) for c in range(columns)})
    counts[("n",)] = int(values.sum())
    lines = [Line(("n", f"r={r}"), tuple(("n", f"r={r}", f"c={c}") for c in range(columns))) for r in range(rows)]
    lines += [Line(("n", f"c={c}"), tuple(("n", f"r={r}", f"c={c}") for r in range(rows))) for c in range(columns)]
    lines.append(Line(("n",), tuple(("n", f"r={r}") for r in range(rows))))
    lines.append(Line(("n",), tuple(("n", f"c={c}") for c in range(columns))))
    return counts, lines


def attack(counts: dict, lines: list[Line], hidden: frozenset) -> dict[Any, tuple[int, int]]:
    """What an attacker with an integer solver learns: each hidden count's least and greatest whole
    value given everything shown (scipy's MILP, not the report's own linear audit)."""
    keys = sorted(hidden)
    index = {k: i for i, k in enumerate(keys)}
    rows, low, high = [], [], []
    for line in lines:
        vector, constant = np.zeros(len(keys)), 0.0
        for key, sign in [(line.total, 1.0)] + [(p, -1.0) for p in line.parts]:
            if key in hidden:
                vector[index[key]] += sign
            else:
                constant -= sign * counts[key]
        if vector.any():
            rows.append(vector)
            low.append(constant)
            high.append(constant)
    constraints = [LinearConstraint(np.array(rows), low, high)] if rows else []
    found = {}
    for key, i in index.items():
        ends = []
        for sign in (1.0, -1.0):
            objective = np.zeros(len(keys))
            objective[i] = sign
            result = milp(objective, constraints=constraints, integrality=np.ones(len(keys)),
                          bounds=Bounds(0, 10_000))
            ends.append(round(sign * result.fun))
        found[key] = (ends[0], ends[1])
    return found


def test_primary_suppression_alone_is_undone_by_the_attack():
    """Hiding only the small counts gives them away: the attacker works each one out from the totals
    (the attack can fail a report)."""
    counts, lines = _grid(np.array([[12, 3], [15, 20]]))
    hidden = frozenset(k for k, v in counts.items() if 0 < v < 10)
    assert attack(counts, lines, hidden)[("n", "r=0", "c=1")] == (3, 3)
    assert audit_hidden(counts, lines, hidden)[("n", "r=0", "c=1")].determined


@pytest.mark.parametrize("seed", range(40))
def test_no_hidden_count_can_be_worked_out_from_the_margins(seed):
    """For random tables with small counts, after suppression every hidden count keeps at least two
    possible whole values for an integer attacker, and every count under the threshold is hidden."""
    rng = random.Random(seed)
    shape = (rng.randint(2, 5), rng.randint(2, 5))
    values = np.array([[rng.choice([0, 1, 2, 4, 7, 9, 11, 15, 30]) for _ in range(shape[1])]
                       for _ in range(shape[0])])
    counts, lines = _grid(values)
    hidden = protect(counts, lines, 10)
    assert all(k in hidden for k, v in counts.items() if 0 < v < 10)
    for key, (least, most) in attack(counts, lines, hidden).items():
        assert least < most, (key, counts[key], values.tolist())


def test_a_small_table_checked_by_enumeration():
    """On a 2x3 table every completion of the hidden counts is enumerated: each hidden count takes at
    least two values among the completions that match everything shown."""
    values = np.array([[3, 12, 14], [11, 2, 16]])
    counts, lines = _grid(values)
    hidden = sorted(protect(counts, lines, 10))
    seen: dict[Any, set[int]] = {k: set() for k in hidden}
    for guess in itertools.product(range(0, 31), repeat=len([k for k in hidden if len(k) == 3])):
        cells = dict(zip([k for k in hidden if len(k) == 3], guess))
        trial = {**counts, **cells}
        rows, columns = values.shape
        for r in range(rows):
            trial[("n", f"r={r}")] = sum(trial[("n", f"r={r}", f"c={c}")] for c in range(columns))
        for c in range(columns):
            trial[("n", f"c={c}")] = sum(trial[("n", f"r={r}", f"c={c}")] for r in range(rows))
        trial[("n",)] = sum(trial[("n", f"r={r}")] for r in range(rows))
        if all(trial[k] == counts[k] for k in counts if k not in hidden):
            for key in hidden:
                seen[key].add(trial[key])
    assert all(len(v) >= 2 for v in seen.values()), seen


def test_the_report_of_many_random_cases_survives_the_attack():
    """A whole report (every table, tied by shared totals) over random cases: no hidden count of it is
    determined for the report's own audit, and the rubric's labels name its rows."""
    rubric = load_rubric(Path(__file__).resolve().parent.parent / "retention_policies")
    rng = random.Random(7)
    summaries = []
    for _ in range(150):
        opened = YEAR.start + dt.timedelta(days=rng.randrange(300))
        process = rng.choice([p.name for p in rubric.processes])
        closed = opened + dt.timedelta(days=rng.randrange(20, 60)) if rng.random() < 0.6 else None
        summaries.append({"opened": opened.isoformat(), "decided_on": (opened + dt.timedelta(days=4)).isoformat(),
                          "decision": process, "process": process, "agreement_on": None,
                          "closed_on": closed.isoformat() if closed else None,
                          "outcome": rng.choice(["resolved", "withdrawn"]) if closed else None,
                          "jurisdiction": [rng.choice(list(rubric.jurisdictions))],
                          "allegations": rng.sample(list(rubric.allegations), 2), "referred_by": "Self",
                          "reporting": ["undergraduate"], "responding": [rng.choice(["staff", "undergraduate"])],
                          "units": ["Unit"], "parties": 2, "consented": rng.choice([1, 2]),
                          "withdrawn_phase": "in-process", "terms": [], "measures": []})
    report = build_report(summaries, YEAR, rubric, office="Office", min_cell=10, today=TODAY)
    assert report.suppressed > 0
    assert _table(report.as_dict(), "jurisdiction")["rows"][0] == "Title IX of the Education Amendments of 1972"
    again = build_report(summaries, YEAR, rubric, office="Office", min_cell=10, today=TODAY)
    assert again.as_dict() == report.as_dict()  # the same cases give the same report


def test_summaries_skip_cases_outside_the_period(built):
    """Only cases open for some of the period are read (closed before it or opened after it are not)."""
    with _desk(built) as desk:
        catalog = desk.session.catalog
        everything = list(casebook.summaries(catalog, ("1", [])))
        march = list(casebook.summaries(catalog, ("1", []), "2026-03-01", "2026-03-31"))
    assert len(everything) == 16
    assert len(march) == sum(1 for s in everything if s["opened"] <= "2026-03-31"
                             and (s["closed_on"] is None or s["closed_on"] >= "2026-03-01"))


def test_making_a_report_leaves_other_documents_properties_alone(built):
    """The report's Word document is built without docxtpl's sub-documents (docxcompose rewrites
    python-docx's namespace map for the whole process), so a record made after it still carries
    its keywords: the core properties' namespace is the one Word and LibreOffice read."""
    from docx.oxml.ns import nsmap

    from pipeline.reports.document import report_docx

    with _desk(built) as desk:
        report_docx(desk.report(YEAR), "REPORT-TEST")
    assert nsmap["cp"] == "http://schemas.openxmlformats.org/package/2006/metadata/core-properties"
