"""The portal under load: 50 signed-in clients searching and opening records on a 100,000-record
catalog for 60 s, against ``accord serve`` on loopback.

Setup: a fresh workspace; the two example files go through the real pipeline (LibreOffice,
seal), then 100,000 synthetic records are added through the catalog's insert path, each
pointing at one of the two real sealed PDFs (so record pages verify a real seal).

Each client signs in once, then loops: a search (a mix of names, case ids, phrases and words),
then the record page of one result, each followed by a pause (``--think``, default 1 s, a
person reading). Prints requests per second and p50/p95/p99 per page; the baseline, measured in
the same run, is the same library calls (OfficeSession.search, show and the seal check) made
directly in one process without HTTP, so the difference is what the portal costs.

Run: .venv/bin/python bench/bench_portal.py [--records 100000] [--clients 50] [--seconds 60]
     [--think 1.0] [--workers 2] [--keep PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime as dt
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx2  # noqa: E402
from bench_search import make_batch, p, queries  # noqa: E402

from pipeline.documents.convert import Converter  # noqa: E402
from pipeline.documents.trust import TrustRoots  # noqa: E402
from pipeline.governance.access import Actor, grant  # noqa: E402
from pipeline.governance.accounts import Accounts  # noqa: E402
from pipeline.intake.ingest import Ingestor  # noqa: E402
from pipeline.intake.watcher import run_once  # noqa: E402
from pipeline.office import OfficeSession  # noqa: E402
from pipeline.portal.state import VerificationCache  # noqa: E402
from pipeline.records.search import SearchQuery  # noqa: E402
from pipeline.store import open_catalog  # noqa: E402
from pipeline.workspace import init_workspace  # noqa: E402

EXAMPLES = ROOT / "examples"
PASSWORD = "bench passphrase for counsel"


def build(root: Path, records: int) -> tuple[Path, list[dict]]:
    ws = init_workspace(root)
    config = ws.load_config()
    for name in ("resolution-agreement.yaml", "mou.yaml"):
        shutil.copy(EXAMPLES / name, ws.inbox / name)
    converter = Converter(config.converter)
    ingestor = Ingestor(ws, config, converter)
    try:
        run_once(ws, ingestor)
    finally:
        ingestor.close()
        converter.close()
    with open_catalog(ws.catalog) as catalog:
        real = list(catalog.all_records())
        rng = random.Random(7)
        started = time.perf_counter()
        for first in range(0, records, 10_000):
            batch = make_batch(rng, first, min(10_000, records - first), dt.date(2015, 1, 1))
            rows = []
            for row, body in batch:
                source = real[0] if row.template == real[0]["template"] else real[-1]
                rows.append((dataclasses.replace(
                    row, pdf_path=source["pdf_path"], sha256=source["sha256"], size=source["size"],
                    pages=source["pages"], signature_level=source["signature_level"], signer=source["signer"]), body))
            catalog.add_records(rows)
        catalog.db.execute("INSERT INTO records_fts(records_fts) VALUES ('optimize')")
        catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print(f"catalog: {catalog.count():,} records ({records / (time.perf_counter() - started):,.0f} inserted/s)")
    grant(ws.policies / "access.yaml", "counsel1", ("counsel",), (), None)
    with Accounts(ws.accounts, config.portal) as accounts:
        accounts.add("counsel1", PASSWORD)
    return ws.root, real


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(root: Path, port: int, workers: int, log: Path) -> subprocess.Popen:
    accord = Path(sys.executable).parent / "accord"
    with log.open("wb") as sink:
        proc = subprocess.Popen([str(accord), "serve", "--workspace", str(root), "--port", str(port),
                                 "--workers", str(workers)], start_new_session=True,
                                stdout=sink, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/signin", timeout=2).read()
            return proc
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise SystemExit("the portal did not start")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


async def client(base: str, mix: list[tuple[str, str]], seconds: float, think: float, seed: int,
                 results: dict[str, list[float]], errors: list[str]) -> None:
    rng = random.Random(seed)
    async with httpx2.AsyncClient(base_url=base, follow_redirects=False, timeout=30) as http:
        page = await http.get("/signin")
        token = re.search(r'name="signin" value="([^"]+)"', page.text).group(1)
        answer = await http.post("/signin", data={"name": "counsel1", "password": PASSWORD, "signin": token,
                                                  "next": "/search"})
        if answer.status_code != 303:
            errors.append(f"sign-in {answer.status_code}")
            return
        await asyncio.sleep(rng.random() * think)  # clients do not all start in step
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            _, text = rng.choice(mix)
            started = time.perf_counter()
            found = await http.get("/search", params={"q": text})
            results["search"].append(time.perf_counter() - started)
            if found.status_code != 200:
                errors.append(f"search {found.status_code}")
            await asyncio.sleep(think)
            ids = re.findall(r'href="/records/([^"/]+)"', found.text)
            if ids and time.monotonic() < end:
                started = time.perf_counter()
                shown = await http.get(f"/records/{rng.choice(ids)}")
                results["record"].append(time.perf_counter() - started)
                if shown.status_code != 200 or "badge-failed" in shown.text or "badge-" not in shown.text:
                    errors.append(f"record {shown.status_code}")
                await asyncio.sleep(think)


async def load(base: str, mix: list[tuple[str, str]], clients: int, seconds: float, think: float):
    results: dict[str, list[float]] = {"search": [], "record": []}
    errors: list[str] = []
    started = time.perf_counter()
    await asyncio.gather(*(client(base, mix, seconds, think, n, results, errors) for n in range(clients)))
    return results, errors, time.perf_counter() - started


def baseline(root: Path, mix: list[tuple[str, str]], count: int) -> dict[str, list[float]]:
    """The same library calls, directly, one at a time."""
    from pipeline.workspace import Workspace

    ws = Workspace(root)
    config = ws.load_config()
    cache = VerificationCache()
    roots = TrustRoots.of(ws, config)
    times: dict[str, list[float]] = {"search": [], "record": []}
    rng = random.Random(3)
    with OfficeSession(ws, Actor("counsel1", via="bench"), config=config) as office:
        for _, text in mix[:count]:
            started = time.perf_counter()
            found = office.search(SearchQuery(text=text, limit=20))
            times["search"].append(time.perf_counter() - started)
            if found.records:
                started = time.perf_counter()
                row = office.show(rng.choice(found.records)["record_id"])
                cache.get(ws, row, roots)
                times["record"].append(time.perf_counter() - started)
    return times


def line(name: str, values: list[float], wall: float | None = None) -> str:
    rate = f"{len(values) / wall:7.1f} req/s  " if wall else ""
    return (f"  {name:<8} {len(values):>6} requests  {rate}p50 {p(values, .5):6.1f} ms  p95 {p(values, .95):6.1f} ms"
            f"  p99 {p(values, .99):6.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--think", type=float, default=1.0, help="Pause after each page, in seconds.")
    parser.add_argument("--workers", type=int, default=2, help="accord serve --workers")
    parser.add_argument("--keep", type=Path, help="Build the workspace here and keep it (or reuse it).")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="accord-bench-portal-"))
    try:
        if args.keep and (args.keep / "catalog.db").exists():
            root = args.keep
            with open_catalog(root / "catalog.db") as catalog:
                real = [r for r in catalog.all_records() if r["record_id"].startswith("ADR-2026-0142")
                        or r["case_id"].startswith("MOU-")]
        else:
            root, real = build(args.keep or tmp / "ws", args.records)
        mix = queries(random.Random(11), args.records)
        cold = VerificationCache()
        from pipeline.workspace import Workspace

        ws = Workspace(root)
        started = time.perf_counter()
        cold.get(ws, real[0], TrustRoots.of(ws, ws.load_config()))
        cold_ms = (time.perf_counter() - started) * 1000
        base = baseline(root, mix, 200)
        port = free_port()
        log = tmp / "server.log"
        server = start_server(root, port, args.workers, log)
        try:
            results, errors, wall = asyncio.run(load(f"http://127.0.0.1:{port}", mix, args.clients, args.seconds,
                                                     args.think))
        finally:
            stop(server)
        server_log = log.read_text(errors="replace").splitlines()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    every = results["search"] + results["record"]
    print(f"\nAccord portal benchmark: {args.records:,} records, {args.clients} signed-in clients, {args.seconds:.0f} s, "
          f"pause {args.think:g} s after each page, accord serve --workers {args.workers}, {os.cpu_count()} cores")
    print(line("search", results["search"], wall))
    print(line("record", results["record"], wall))
    print(line("all", every, wall) + "   (goal: p95 under 150 ms for search and record pages)")
    print(f"  errors: {len(errors)}" + (f" (first: {errors[0]})" if errors else ""))
    for entry in [e for e in server_log if "failed" in e or "Error" in e][:5]:
        print(f"  server: {entry}")
    print("baseline: the same library calls in one process, no HTTP, one at a time:")
    print(line("search", base["search"]))
    print(line("record", base["record"]))
    print(f"  a record page's first seal check (then reused for {VerificationCache().ttl:.0f} s): {cold_ms:.0f} ms")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
