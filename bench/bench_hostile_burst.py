"""Benchmark: a burst with hostile files mixed in, through one running ``accord watch``.

Two bursts on one watcher (2 workers), in one run: first 200 valid case files (the baseline),
then 180 valid case files with the 20 hostile ones of ``tests/hostile_files.py`` mixed in
(255-byte names, record ids that clash, names of reason files, UTF-16, hidden characters, a
newline in a name, events dropped before their case). It checks that every valid file is
recorded, every hostile one ends as it must (failed with a reason, a duplicate, events), that
nothing is left staged and that intake never stopped, and prints both bursts' rates.

Run: .venv/bin/python bench/bench_hostile_burst.py [--valid 180]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_sealed_path import case_files  # noqa: E402
from bench.bench_watch import Run  # noqa: E402
from pipeline.documents.pki import ensure_identity  # noqa: E402
from pipeline.intake import inbox  # noqa: E402
from pipeline.workspace import init_workspace  # noqa: E402
from tests.hostile_files import hostile_files, mismatches  # noqa: E402

EXAMPLES = ROOT / "examples"


def drop_all(inbox_dir: Path, files: list[tuple[str, bytes]]) -> float:
    """Write each file beside the inbox, then rename it in (as a copy would); the moment the first appears."""
    staging = inbox_dir.parent / "drop"
    staging.mkdir(exist_ok=True)
    for n, (_, data) in enumerate(files):
        (staging / str(n)).write_bytes(data)
    start = time.time()
    for n, (name, _) in enumerate(files):
        os.rename(staging / str(n), inbox_dir / name)
    return start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--valid", type=int, default=180)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-hostile-"))
    try:
        ws = init_workspace(tmp / "ws")
        ensure_identity(ws.pki, ws.load_config())
        ws.config_file.write_text("watch:\n  stable_seconds: 0.5\n  wait_minutes: 1\n", encoding="utf-8")
        hostile = hostile_files(EXAMPLES)
        baseline = [(f"base-{n}", t.encode()) for n, t in case_files(args.valid + len(hostile))]
        valid = [(f"mixed-{n}", t.encode().replace(b"-2026-5", b"-2027-5")) for n, t in case_files(args.valid)]
        step = max(1, len(valid) // len(hostile))
        mixed = list(valid)
        for i, h in enumerate(hostile):
            mixed.insert(i * (step + 1), (h.name, h.data))
        watch = Run(ws.root, workers=2)
        try:
            if not watch.ready.wait(120):
                raise SystemExit("the watcher did not start")
            start = drop_all(ws.inbox, baseline)
            watch.wait_for([inbox.printable_name(n) for n, _ in baseline], 1800)
            end = max(watch.outcomes[inbox.printable_name(n)] for n, _ in baseline)
            base_rate = len(baseline) / (end - start) * 60
            start = drop_all(ws.inbox, mixed)
            watch.wait_for([inbox.printable_name(n) for n, _ in mixed], 1800)
            end = max(watch.outcomes[inbox.printable_name(n)] for n, _ in mixed)
            mixed_rate = len(mixed) / (end - start) * 60
            left = inbox.staged(ws)
        finally:
            watch.stop()
        statuses = watch.statuses
        problems = mismatches(hostile, statuses)
        problems += [f"{n}: {statuses.get(n)}" for n, _ in baseline + valid if statuses.get(n) != "recorded"]
        problems += [f"left staged: {p.name}" for p in left]
        problems += [f"intake stopped: {f}" for f in watch.faults]
        counts = {s: sum(1 for n, _ in mixed if statuses.get(inbox.printable_name(n)) == s)
                  for s in ("recorded", "failed", "duplicate", "events")}
        print("Accord hostile-burst benchmark: one accord watch, 2 workers, 2 cores\n")
        print(f"{'burst':<40} {'files':>6} {'docs/min':>9}")
        print(f"{'(baseline) valid case files only':<40} {len(baseline):>6} {base_rate:>9.0f}")
        print(f"{f'{args.valid} valid + {len(hostile)} hostile mixed in':<40} {len(mixed):>6} {mixed_rate:>9.0f}")
        print(f"\nmixed burst outcomes: {counts}")
        print("every valid file recorded, every hostile one as expected, nothing staged, intake never stopped: "
              + ("yes" if not problems else "NO"))
        for problem in problems[:20]:
            print(f"  {problem}")
        return 0 if not problems else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
