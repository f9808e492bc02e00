"""Benchmark of the sealed-document path, all in one run on the same 30 documents.

(a) baseline: one cold ``soffice --headless --convert-to pdf`` process per document;
(b) the bare warm conversion (Accord's converter, nothing else);
(c) the whole path (intake, render, convert, seal, archive, catalog) with one worker,
    as ``accord process`` runs it (stages pipelined), and (c') the same steps in a row.

Run: .venv/bin/python bench/bench_sealed_path.py [--docs 30]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cold_convert import cold_convert  # noqa: E402
from pipeline.documents.assemble import Assembler, RecordInfo  # noqa: E402
from pipeline.documents.casefile import parse_case  # noqa: E402
from pipeline.documents.convert import Converter  # noqa: E402
from pipeline.documents.templates import load_templates  # noqa: E402
from pipeline.intake import inbox  # noqa: E402
from pipeline.intake.ingest import Ingestor  # noqa: E402
from pipeline.intake.watcher import run_once  # noqa: E402
from pipeline.workspace import init_workspace  # noqa: E402

EXAMPLES = ROOT / "examples"
NAMES = ["Zoë Núñez", "Nguyễn Thị Minh Khai", "Łukasz Żółć", "Çağrı Öztürk", "Αλέξανδρος Παπαδόπουλος",
         "Дмитрий Иванов", "Siobhán O'Connor", "Smith & Sons <North Campus>"]


def case_files(n: int) -> list[tuple[str, str]]:
    """``n`` distinct case files, alternating the two example templates, with varied names."""
    ra = (EXAMPLES / "resolution-agreement.yaml").read_text(encoding="utf-8")
    mou = (EXAMPLES / "mou.yaml").read_text(encoding="utf-8")
    files = []
    for i in range(n):
        name = NAMES[i % len(NAMES)]
        if i % 2 == 0:
            text = ra.replace("ADR-2026-0142", f"ADR-2026-{5000 + i}").replace("Zoë Núñez", name)
            files.append((f"ra-{i:03d}.yaml", text))
        else:
            text = mou.replace("MOU-2026-007", f"MOU-2026-{5000 + i}").replace("Tomás Álvarez", name)
            files.append((f"mou-{i:03d}.yaml", text))
    return files


def in_a_row(ingestor: Ingestor, staged):
    """One case file through its three stages one after another (the steps without the pipelining)."""
    return ingestor.finish(ingestor.convert(ingestor.prepare(staged)))


def per_minute(count: int, seconds: float) -> float:
    return count / seconds * 60 if seconds else float("inf")


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000 if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=30)
    args = parser.parse_args()
    n = args.docs
    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-"))
    try:
        ws = init_workspace(tmp / "ws")
        config = ws.load_config()
        specs = load_templates(ws.templates)
        files = case_files(n)
        assembler = Assembler()
        docx = []
        for name, text in files:
            case = parse_case(text.encode(), name, specs, config.intake.max_bytes)
            info = RecordInfo(case.record_id, case.title, dt.date.today(), config.office.name)
            docx.append(assembler.assemble(case, info).docx)
        print(f"Accord sealed-path benchmark: {n} documents (resolution agreements and MOUs, 2-3 pages)\n")

        # (a) cold soffice per document
        cold = []
        start = time.perf_counter()
        for d in docx:
            t = time.perf_counter()
            cold_convert(d, config.converter.soffice)
            cold.append(time.perf_counter() - t)
        cold_total = time.perf_counter() - start

        # (b) bare warm conversion
        converter = Converter(config.converter)
        converter.start()
        converter.convert(docx[0])  # warm-up
        warm = []
        start = time.perf_counter()
        for d in docx:
            t = time.perf_counter()
            converter.convert(d)
            warm.append(time.perf_counter() - t)
        warm_total = time.perf_counter() - start

        # (c') the whole path, one document after another
        ingestor = Ingestor(ws, config, converter)
        sequential_outcomes = []
        start = time.perf_counter()
        for name, text in files:
            path = ws.inbox / f"seq-{name}"
            path.write_text(text.replace("2026-5", "2027-5"), encoding="utf-8")
            sequential_outcomes.append(in_a_row(ingestor, inbox.claim(ws, path)))
        sequential_total = time.perf_counter() - start

        # (c) the whole path as `accord process` runs it (one worker, stages pipelined)
        for name, text in files:
            (ws.inbox / name).write_text(text, encoding="utf-8")
        start = time.perf_counter()
        summary = run_once(ws, ingestor)
        whole_total = time.perf_counter() - start
        ingestor.close()
        converter.close()

        outcomes = summary.outcomes
        bad = [o for o in outcomes + sequential_outcomes if o.status != "recorded"]
        if bad or len(outcomes) != n:
            print(f"FAILED: {len(bad)} documents not recorded: {[(o.source_name, o.reason) for o in bad][:3]}")
            return 1

        rows = [
            ("(a) cold soffice per document (baseline)", cold_total, median_ms(cold)),
            ("(b) warm conversion alone", warm_total, median_ms(warm)),
            ("(c') whole path, steps in a row", sequential_total, sequential_total / n * 1000),
            ("(c) whole path, 1 worker (accord process)", whole_total, whole_total / n * 1000),
        ]
        print(f"{'mode':<44} {'docs/min':>9} {'ms/doc':>8}")
        for label, total, ms in rows:
            print(f"{label:<44} {per_minute(n, total):>9.0f} {ms:>8.0f}")
        print("\nper-step medians of the whole path (ms):")
        for step in ("intake", "assemble", "convert", "seal", "archive", "catalog"):
            print(f"  {step:<9} {median_ms([o.timings[step] for o in outcomes]):>7.1f}")
        speedup = per_minute(n, whole_total) / per_minute(n, cold_total)
        share = per_minute(n, whole_total) / per_minute(n, warm_total)
        print(f"\nwhole path vs cold baseline: {speedup:.1f}x   (goal: 6x or better)")
        print(f"whole path vs warm conversion: {share:.0%}   (goal: 70% or more)")
        print(f"pipelining gain over steps in a row: {sequential_total / whole_total:.2f}x")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
