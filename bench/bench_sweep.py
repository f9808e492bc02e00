"""The retention sweep's dry run on the synthetic catalog of 1,000,000 records.

Uses (or builds, through bench_search.py's generator and the catalog's insert path) the
synthetic catalog, records closure events for 40% of the cases (a quarter of them long
enough ago that their records are due), computes every due date, then times the sweep's
dry run and its peak memory, next to the same dry run on the first tenth of the catalog
(memory must not grow with the catalog: the sweep streams).

Run: .venv/bin/python bench/bench_sweep.py --keep /tmp/bench1m.db
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_search import make_batch  # noqa: E402
from pipeline.governance.disposition import propose
from pipeline.governance.duedates import recompute_due  # noqa: E402
from pipeline.governance.retention import load_retention  # noqa: E402
from pipeline.store import open_catalog  # noqa: E402


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dry_run_child(path: Path, as_of: str) -> None:
    """Run in a fresh process so its peak memory is the sweep's own."""
    policy = load_retention(ROOT / "retention_policies", ["resolution-agreement", "mou"])
    with open_catalog(path) as catalog:
        start = time.perf_counter()
        report = propose(catalog, policy, dt.date.fromisoformat(as_of), actor="bench", dry_run=True)
        seconds = time.perf_counter() - start
    print(f"{report.due} {report.held} {seconds:.2f} {peak_rss_mb():.0f}")


def measure(path: Path, as_of: str) -> tuple[int, int, float, float]:
    out = subprocess.run([sys.executable, __file__, "--child", str(path), as_of], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), int(out[1]), float(out[2]), float(out[3])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        dry_run_child(Path(sys.argv[2]), sys.argv[3])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, required=True, help="The synthetic catalog (built if missing).")
    parser.add_argument("--records", type=int, default=1_000_000)
    args = parser.parse_args()
    policy = load_retention(ROOT / "retention_policies", ["resolution-agreement", "mou"])
    rng = random.Random(11)
    with open_catalog(args.keep) as catalog:
        if catalog.count() == 0:
            for first in range(0, args.records, 10_000):
                catalog.add_records(make_batch(rng, first, min(10_000, args.records - first), dt.date(2015, 1, 1)))
        count = catalog.count()
        if not catalog.db.execute("SELECT 1 FROM events LIMIT 1").fetchone():
            cases = [r[0] for r in catalog.db.execute("SELECT case_id FROM records")]
            chosen = [c for i, c in enumerate(cases) if i % 5 < 2]
            with catalog.transaction():
                catalog.db.conn.executemany(
                    "INSERT OR IGNORE INTO events (case_id, event, date, note, source_name, source_sha256, recorded_at) "
                    "VALUES (?, 'case-closed', ?, '', 'bench', '', '2026-11-25')",
                    [(c, (dt.date(2016, 1, 1) + dt.timedelta(days=(i * 37) % 4000)).isoformat())
                     for i, c in enumerate(chosen)])
        start = time.perf_counter()
        moved = recompute_due(catalog, policy, actor="bench", why="benchmark")
        recompute_seconds = time.perf_counter() - start
        catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # A tenth of the catalog, for the memory comparison.
    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-sweep-"))
    try:
        small = tmp / "tenth.db"
        with open_catalog(args.keep) as catalog:
            catalog.db.execute(f"VACUUM INTO '{small}'")
        with open_catalog(small) as catalog:
            catalog.db.execute("DELETE FROM records WHERE rowid > ?", [count // 10])
        as_of = "2027-01-01"
        due, held, seconds, rss = measure(args.keep, as_of)
        due_small, _, seconds_small, rss_small = measure(small, as_of)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"Accord sweep benchmark: {count:,} records, closure events for 40% of the cases\n")
    print(f"due dates computed for every record: {recompute_seconds:.1f} s ({moved:,} set or moved)")
    print(f"{'catalog':<12} {'due':>9} {'dry run':>9} {'peak RSS':>9}")
    print(f"{count // 10:>12,} {due_small:>9,} {seconds_small:>8.2f}s {rss_small:>8.0f}M")
    print(f"{count:>12,} {due:>9,} {seconds:>8.2f}s {rss:>8.0f}M")
    print(f"\ndry run on {count:,} records: {seconds:.1f} s   (goal: under 30 s); held back by holds: {held}")
    print(f"peak memory, full vs a tenth of the catalog: {rss:.0f} MB vs {rss_small:.0f} MB   "
          "(goal: does not grow with the catalog)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
