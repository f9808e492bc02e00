"""Benchmark of the watched inbox: a running ``accord watch`` with 1 and with 2 workers.

For each worker count, in one run: (1) latency without a backlog (files dropped one at
a time, seconds apart); (2) a burst of 200 case files dropped at once: documents per
minute and drop-to-catalog latency p50/p95; the watcher's memory (RSS, sampled every
0.25 s) after the first and the last 100 documents, and LibreOffice's separately.

Run: .venv/bin/python bench/bench_watch.py [--burst 200] [--trickle 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_sealed_path import case_files  # noqa: E402
from pipeline.documents.pki import ensure_identity  # noqa: E402
from pipeline.workspace import init_workspace  # noqa: E402


class Run:
    """A watcher subprocess, its outcome log lines and its memory."""

    def __init__(self, ws_root: Path, workers: int):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "--log-format", "json", "watch",
             "--workspace", str(ws_root), "--workers", str(workers)],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )
        self.outcomes: dict[str, float] = {}
        """When each file got its outcome (a file waiting for its case has none yet)."""
        self.statuses: dict[str, str] = {}
        self.faults: list[str] = []
        """The watcher's log lines saying that intake stopped."""
        self.ready = threading.Event()
        self.samples: list[tuple[int, int, int]] = []  # (documents done, watcher RSS, LibreOffice RSS)
        self.status_file = ws_root / ".accord" / "watcher.json"
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stderr:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            message = entry.get("message", "")
            if message.startswith("watching"):
                self.ready.set()
            if message.startswith(("intake stopped", "still failing")):
                self.faults.append(message)
            if entry.get("outcome") and entry["outcome"] != "waiting":
                self.statuses[entry["file"]] = entry["outcome"]
                self.outcomes[entry["file"]] = time.time()

    def _soffice_rss(self) -> int:
        try:
            pids = [c["pid"] for c in json.loads(self.status_file.read_text())["converters"] if c.get("pid")]
        except (OSError, ValueError, KeyError):
            return 0
        total = 0
        for pid in pids:
            try:
                parent = psutil.Process(pid)
                total += sum(p.memory_info().rss for p in [parent, *parent.children(recursive=True)])
            except psutil.Error:
                pass
        return total

    def _sample(self) -> None:
        me = psutil.Process(self.proc.pid)
        while self.proc.poll() is None:
            try:
                self.samples.append((len(self.outcomes), me.memory_info().rss, self._soffice_rss()))
            except psutil.Error:
                return
            time.sleep(0.25)

    def wait_for(self, names: list[str], timeout: float) -> None:
        deadline = time.time() + timeout
        while not all(n in self.outcomes for n in names):
            if time.time() > deadline or self.proc.poll() is not None:
                missing = [n for n in names if n not in self.outcomes]
                raise SystemExit(f"watcher did not finish {len(missing)} file(s) in time")
            time.sleep(0.05)

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=120)


def drop(inbox: Path, name: str, text: str) -> float:
    """Write beside the inbox then rename in, as a copy would: the moment it appears."""
    tmp = inbox / f".{name}.part"
    tmp.write_text(text, encoding="utf-8")
    os.rename(tmp, inbox / name)
    return time.time()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(workers: int, burst: int, trickle: int, pki: Path, tmp: Path) -> dict:
    ws = init_workspace(tmp / f"ws-{workers}")
    shutil.copytree(pki, ws.pki)
    ws.config_file.write_text("watch:\n  stable_seconds: 0.5\n", encoding="utf-8")
    files = case_files(burst + trickle)
    run = Run(ws.root, workers)
    try:
        if not run.ready.wait(120):
            raise SystemExit("watcher did not start")
        time.sleep(1.0)
        quiet = []
        for name, text in files[burst:]:
            name = f"trickle-{name}"
            dropped = drop(ws.inbox, name, text.replace("2026-5", "2028-5"))
            run.wait_for([name], 60)
            quiet.append(run.outcomes[name] - dropped)
            time.sleep(0.5)
        dropped_at = {}
        start = time.time()
        for name, text in files[:burst]:
            dropped_at[name] = drop(ws.inbox, name, text)
        run.wait_for(list(dropped_at), 1800)
        end = max(run.outcomes[n] for n in dropped_at)
        latencies = [run.outcomes[n] - dropped_at[n] for n in dropped_at]
    finally:
        run.stop()
    done_at_start = trickle
    first = [s for s in run.samples if done_at_start + 90 <= s[0] <= done_at_start + 100]
    last = [s for s in run.samples if s[0] >= done_at_start + burst - 10]
    return {
        "workers": workers,
        "per_minute": burst / (end - start) * 60,
        "quiet_p50": statistics.median(quiet),
        "burst_p50": percentile(latencies, 0.5),
        "burst_p95": percentile(latencies, 0.95),
        "rss_first100": max(s[1] for s in first) if first else 0,
        "rss_last100": max(s[1] for s in last) if last else 0,
        "rss_peak": max(s[1] for s in run.samples),
        "soffice_peak": max(s[2] for s in run.samples),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--trickle", type=int, default=8)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-watch-"))
    try:
        pki_ws = init_workspace(tmp / "pki")
        ensure_identity(pki_ws.pki, pki_ws.load_config())
        results = [measure(w, args.burst, args.trickle, pki_ws.pki, tmp) for w in (1, 2)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    mb = 1024 * 1024
    print(f"Accord watcher benchmark: burst of {args.burst} case files; {args.trickle} files dropped one at a time\n")
    print(f"{'workers':>7} {'docs/min':>9} {'quiet p50':>10} {'burst p50':>10} {'burst p95':>10} "
          f"{'RSS 1st100':>11} {'RSS last100':>12} {'RSS peak':>9} {'LO peak':>8}")
    for r in results:
        print(f"{r['workers']:>7} {r['per_minute']:>9.0f} {r['quiet_p50']:>9.2f}s {r['burst_p50']:>9.1f}s "
              f"{r['burst_p95']:>9.1f}s {r['rss_first100'] / mb:>10.0f}M {r['rss_last100'] / mb:>11.0f}M "
              f"{r['rss_peak'] / mb:>8.0f}M {r['soffice_peak'] / mb:>7.0f}M")
    one, two = results
    print(f"\n2 workers vs 1: {two['per_minute'] / one['per_minute']:.2f}x   (goal: 1.6x or better)")
    print(f"latency p50 without a backlog: {max(one['quiet_p50'], two['quiet_p50']):.2f} s   (goal: under 2 s)")
    for r in results:
        growth = (r["rss_last100"] - r["rss_first100"]) / r["rss_first100"] if r["rss_first100"] else float("nan")
        print(f"watcher memory, {r['workers']} worker(s), last 100 vs first 100 documents: {growth:+.1%}   "
              "(goal: within +10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
