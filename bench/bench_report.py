"""The Director's report over 100,000 cases: its time, its peak memory, and the sealed PDF.

Builds a workspace (init_workspace) whose case register holds --cases cases opened from July 2019
to June 2026, each with the de-identified summary the library keeps (casebook.save): a decision and
process, for most a closure with its outcome, the rubric's jurisdictions and categories, the
parties' standing and a unit (80 units), a referral source, consent, a withdrawal's phase, the
terms of its agreement (about 4 per agreement, with their dates and what became of them) and its
supportive measures. Or, with --workspace, uses a workspace bench_cases.py kept (--keep), whose
cases were made from their events by the library itself.

Times, each the median of --repeat runs in one process through OfficeSession and ReportDesk:
the report for the academic year 2025-26 and for the whole seven years, beside the bare scan it
rests on (every summary read from SQLite and decoded, measured in the same run). Peak memory (in a
child process) of the seven-year report over a tenth of the cases and over all of them: flat memory
means the two are close. Then the sealed PDF: the report's Word document (charts included), PDF/A
by a warm LibreOffice, the office seal, filed as a program-report record; beside it, the same path
for a one-table document.

Run: .venv/bin/python bench/bench_report.py [--cases 100000] [--repeat 5] [--workspace PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cases import casebook  # noqa: E402
from pipeline.cases.rubric import load_rubric  # noqa: E402
from pipeline.documents.convert import Converter  # noqa: E402
from pipeline.documents.generated import add_seal_place, docx_bytes, grid_table, new_document  # noqa: E402
from pipeline.documents.seal import make_sealer  # noqa: E402
from pipeline.governance.access import Actor, current_actor  # noqa: E402
from pipeline.office import OfficeSession  # noqa: E402
from pipeline.reportdesk import ReportDesk  # noqa: E402
from pipeline.reports.period import Period  # noqa: E402
from pipeline.store import open_catalog  # noqa: E402
from pipeline.workspace import Workspace, init_workspace  # noqa: E402

FIRST = dt.date(2019, 7, 1)
LAST = dt.date(2026, 6, 30)
YEAR = Period(dt.date(2025, 7, 1), dt.date(2026, 6, 30))
ALL = Period(FIRST, LAST)
UNITS = [f"Department {n}" for n in range(60)] + [f"Office {n}" for n in range(20)]
SOURCES = ["Title IX Office", "Dean of Students", "Human Resources", "Self", "Ombuds", "Faculty member"]
STATUSES = ["undergraduate", "graduate-student", "postdoc", "staff", "faculty", "other"]
KINDS = ["schedule-change", "no-contact", "housing", "academic", "work-arrangement", "counseling", "escort", "other"]


def summary(rng: random.Random, rubric, opened: dt.date) -> dict[str, Any]:
    """One case's summary, as casebook.summary writes it."""
    def day(after: dt.date, low: int, high: int) -> dt.date:
        return after + dt.timedelta(days=rng.randint(low, high))

    decided = day(opened, 2, 21) if rng.random() < 0.95 else None
    decision = rng.choice([p.name for p in rubric.processes] + ["not-suitable"]) if decided else None
    process = decision if decision not in (None, "not-suitable") else None
    agreed = day(decided, 14, 90) if process and rng.random() < 0.7 else None
    signed = day(agreed, 1, 10) if agreed else None
    withdrawn = process is not None and agreed is None and rng.random() < 0.5
    closed = None
    outcome = None
    if decision == "not-suitable":
        closed, outcome = decided, "not-suitable"
    elif withdrawn:
        closed, outcome = day(decided, 5, 60), "withdrawn"
    elif signed and rng.random() < 0.85:
        closed, outcome = day(signed, 60, 240), "resolved"
    elif decided and rng.random() < 0.05:
        closed, outcome = day(decided, 5, 30), "referred"
    if closed and closed > LAST:
        closed, outcome = None, None
    terms = []
    for _ in range(rng.randint(2, 6) if signed else 0):
        due = day(signed, 20, 200)
        status = rng.choices(["completed", "waived", "breached", "open"], [80, 8, 4, 8])[0]
        on = day(due, -15, 20) if status != "open" else None
        terms.append([due.isoformat(), status, on.isoformat() if on else None])
    iso = lambda d: d.isoformat() if d else None  # noqa: E731
    return {
        "opened": opened.isoformat(), "decided_on": iso(decided), "decision": decision, "process": process,
        "agreement_on": iso(agreed), "signed_on": iso(signed), "closed_on": iso(closed), "outcome": outcome,
        "phase": "closed" if closed else ("monitoring" if signed else "in-process"), "has_intake": True,
        "jurisdiction": rng.sample(list(rubric.jurisdictions), rng.choice([1, 1, 2])),
        "allegations": rng.sample(list(rubric.allegations), rng.choice([1, 1, 2, 3])),
        "referred_by": rng.choice(SOURCES), "reporting": [rng.choice(STATUSES)],
        "responding": [rng.choice(STATUSES)], "units": [rng.choice(UNITS)], "parties": 2,
        "noticed": 2, "consented": 2 if agreed else rng.choice([0, 1, 2]),
        "withdrawn_phase": rng.choice(["awaiting-consent", "in-process"]) if withdrawn else None,
        "terms": terms, "measures": rng.sample(KINDS, rng.choice([0, 1, 1, 2])),
    }


def build(ws: Workspace, start: int, stop: int, total: int) -> None:
    """Cases ``start`` to ``stop`` of ``total``, opened evenly over the seven years."""
    rubric = load_rubric(ws.policies)
    rng = random.Random(start)
    span = (LAST - FIRST).days
    catalog = open_catalog(ws.catalog)
    try:
        with catalog.transaction():
            for n in range(start, stop):
                opened = FIRST + dt.timedelta(days=span * n // total)
                found = summary(rng, rubric, opened)
                row = casebook.new_row(f"ADR-{opened.year}-{n:06d}", has_intake=True)
                row.update(opened=found["opened"], process=found["process"], phase=found["phase"],
                           outcome=found["outcome"], closed_on=found["closed_on"], summary=found)
                casebook.save(catalog, row)
    finally:
        catalog.close()


def desk(ws: Workspace) -> ReportDesk:
    return ReportDesk(OfficeSession(ws, Actor(current_actor().name)), today=lambda: LAST)


def timed(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bare_scan(ws: Workspace) -> int:
    catalog = open_catalog(ws.catalog)
    try:
        return sum(len(json.loads(text)) for (text,) in catalog.conn.execute("SELECT summary FROM cases"))
    finally:
        catalog.close()


def peak_child(root: Path) -> tuple[float, float]:
    """Peak RSS (MB, SQLite's page cache of up to 64 MiB included) and the peak of Python's own heap
    during the report (MB, tracemalloc) of a fresh process making the seven-year report."""
    code = ("import sys, resource, tracemalloc; sys.path.insert(0, sys.argv[1]); from pathlib import Path;"
            "from bench.bench_report import desk, ALL; from pipeline.workspace import Workspace;"
            "d = desk(Workspace(Path(sys.argv[2]))); tracemalloc.start(); d.report(ALL);"
            "heap = tracemalloc.get_traced_memory()[1]; d.session.close();"
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, heap / 2**20)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(root)], capture_output=True, text=True,
                         check=True).stdout.split()
    return float(out[0]), float(out[1])


def one_table_docx() -> bytes:
    doc = new_document(size=10)
    doc.add_heading("A one-table document", level=1)
    grid_table(doc, ["", "Count"], [["Row", "1"], ["Total", "1"]])
    add_seal_place(doc)
    return docx_bytes(doc)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workspace", type=Path, default=None, help="A workspace bench_cases.py kept.")
    args = parser.parse_args()
    rows: list[tuple[str, str, str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        if args.workspace:
            ws = Workspace(args.workspace)
            peaks = None
        else:
            ws = init_workspace(Path(tmp) / "ws")
            started = time.perf_counter()
            tenth = args.cases // 10
            build(ws, 0, tenth, args.cases)
            small_peak = peak_child(ws.root)
            build(ws, tenth, args.cases, args.cases)
            print(f"built {args.cases:,} case summaries in {time.perf_counter() - started:.1f} s")
            peaks = (tenth, small_peak, peak_child(ws.root))
        with desk(ws) as reader:
            cases = reader.session.catalog.conn.execute("SELECT count(*) FROM cases").fetchone()[0]
            scan = timed(lambda: bare_scan(ws), args.repeat)
            year = timed(lambda: reader.report(YEAR), args.repeat)
            everything = timed(lambda: reader.report(ALL), args.repeat)
            found = reader.report(ALL)
            rows += [("report, academic year 2025-26", f"{year:.2f} s", "< 5 s", f"bare scan of every summary "
                      f"{scan:.2f} s"),
                     ("report, seven years", f"{everything:.2f} s", "< 5 s", f"bare scan {scan:.2f} s"),
                     ("counts hidden (seven years)", f"{found.suppressed}", "", "")]
            if peaks:
                (small_rss, small_heap), (rss, heap) = peaks[1], peaks[2]
                rows.append((f"report's Python heap, {cases:,} cases", f"{heap:.1f} MB", "flat",
                             f"{small_heap:.1f} MB with {peaks[0]:,}"))
                rows.append((f"process peak RSS, {cases:,} cases", f"{rss:.0f} MB", "",
                             f"{small_rss:.0f} MB with {peaks[0]:,} (SQLite's page cache grows to 64 MiB)"))
            config = reader.session.config
            sealer = make_sealer(ws, config)
            with Converter(config.converter) as converter:
                converter.convert(one_table_docx())  # LibreOffice warm, as the watcher keeps it
                plain = timed(lambda: sealer.seal(converter.convert(one_table_docx()), "BENCH-1").pdf, 3)
                started = time.perf_counter()
                record = reader.seal(YEAR, converter, sealer)
                sealed = time.perf_counter() - started
            rows.append(("sealed PDF (report, charts, PDF/A, seal, filed)", f"{sealed:.2f} s", "< 10 s",
                         f"one-table document {plain:.2f} s"))
            rows.append(("  its pages", str(record.pages), "", ""))
    print(f"\n{cases:,} cases; each time the median of {args.repeat} runs\n")
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'value':>10}  {'goal':>7}  baseline (same run)")
    for name, value, goal, baseline in rows:
        print(f"{name:<{width}}  {value:>10}  {goal:>7}  {baseline}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
