"""Search at scale: a synthetic catalog of 1,000,000 records, built through the catalog's own
insert path in batches, then a mix of name, id and phrase queries with access filtering on.

Prints the insert rate, search latency p50/p95 per kind of query and overall (for an
unrestricted user and for a coordinator limited to their own cases), the size of the
database, and the baseline: the same queries ranked over every match (no bounded
candidate set), measured in the same run.

Run: .venv/bin/python bench/bench_search.py [--records 1000000] [--keep PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.governance.access import Actor, parse_policy, search_filter  # noqa: E402
from pipeline.records.catalog import RecordRow  # noqa: E402
from pipeline.records.search import (  # noqa: E402
    SearchQuery,
    _fts_expression,
    search_page,  # noqa: E402
)
from pipeline.store import open_catalog  # noqa: E402

FIRST = ["Zoë", "Daniel", "Priya", "Tomás", "Nguyễn", "Łukasz", "Çağrı", "Siobhán", "Morgan", "Aisha", "Kenji",
         "Olga", "Mateo", "Fatima", "Liam", "Chloé", "Dmitri", "Amara", "Jonas", "Ines"]
LAST = ["Núñez", "O'Brien", "Raman", "Álvarez", "Minh Khai", "Żółć", "Öztürk", "O'Connor", "Lee", "Haddad",
        "Tanaka", "Ivanova", "García", "Rahman", "Walsh", "Dubois", "Petrov", "Okafor", "Berg", "Costa"]
COMMON = ("the parties agree will and to of a in for with by on at be this as shall each other any "
          "agreement terms coordinator party responding reporting office date").split()
TOPICAL = ("workshop bias awareness communication shared lab spaces meetings check schedule housing change "
           "apology reflection paper restorative justice mediation dialogue facilitated limited contact "
           "department chemistry facilities grounds campus equity training follow compliance breach report "
           "confidential institute policy referral outcome rubric consent withdraw voluntary owner due review "
           "annual december effective expiry memorandum understanding").split()
# A realistic vocabulary: frequent function words, topical words, and a long tail (Zipf-like).
TAIL = [f"{a}{b}" for a in ("pre", "re", "co", "sub", "inter", "over", "under", "out", "non", "")
        for b in ("assess", "view", "port", "mit", "cord", "form", "plan", "solve", "tend", "gage", "lease", "claim",
                  "place", "state", "store", "turn", "vise", "work", "mark", "note")]
WORDS = TOPICAL


def make_batch(rng: random.Random, start: int, size: int, base_day: dt.date) -> list[tuple[RecordRow, str]]:
    batch = []
    for n in range(start, start + size):
        year = 2015 + n % 12
        case_id = f"ADR-{year}-{n:07d}"
        mou = n % 10 == 0
        # "Núñez" is deliberately common: about one record in five names a Núñez.
        names = [f"{rng.choice(FIRST)} {LAST[0] if n % 5 == 0 else rng.choice(LAST)}",
                 f"{rng.choice(FIRST)} {rng.choice(LAST)}", "Morgan Lee"]
        body = " ".join(rng.choice(COMMON) if k % 3 == 0 else rng.choice(TOPICAL) if k % 3 == 1 else rng.choice(TAIL)
                        for k in range(60))
        record_id = f"{case_id}-{n:08x}"
        created = (base_day + dt.timedelta(minutes=n)).isoformat()
        row = RecordRow(
            record_id=record_id, template="mou" if mou else "resolution-agreement",
            record_class="mou" if mou else "resolution-agreement", case_id=case_id,
            title=f"Resolution agreement, case {case_id}", parties=names, record_date=created[:10],
            created=created, pdf_path=f"archive/{year}/{record_id}/{record_id}.pdf",
            source_path=f"archive/{year}/{record_id}/{record_id}.source.yaml", source_name=f"case-{n}.yaml",
            source_sha256=f"{n:064x}", size=100_000, pages=2, sha256=f"{n * 7:064x}", signature_level="B-B",
            signer="Office Seal", signature_fields=["sig1", "sig2", "sigcoordinator"],
            status="sealed" if n % 50 else "executed",
        )
        batch.append((row, body))
    return batch


def queries(rng: random.Random, records: int) -> list[tuple[str, str]]:
    mixes = []
    for _ in range(60):
        mixes.append(("common name", "Nunez"))
        mixes.append(("name", f"{rng.choice(FIRST)} {rng.choice(LAST[1:])}"))
        n = rng.randrange(records)
        mixes.append(("case id", f"ADR-{2015 + n % 12}-{n:07d}"))
        mixes.append(("phrase", f'"{rng.choice(WORDS)} {rng.choice(WORDS)}"'))
        mixes.append(("words", f"{rng.choice(WORDS)} {rng.choice(WORDS)} {rng.choice(WORDS)}"))
    rng.shuffle(mixes)
    return mixes


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="Keep (or reuse) the catalog at this path.")
    parser.add_argument("--users", default="counsel1,coord1,coord2", help="Users to measure (comma-separated).")
    args = parser.parse_args()
    rng = random.Random(7)
    path = args.keep or Path(tempfile.mkdtemp(prefix="accord-bench-search-")) / "catalog.db"
    reuse = path.exists()
    catalog = open_catalog(path)
    if not reuse:
        insert_seconds = 0.0
        for first in range(0, args.records, args.batch):
            batch = make_batch(rng, first, min(args.batch, args.records - first), dt.date(2015, 1, 1))
            insert_seconds += timed(lambda: catalog.add_records(batch))
        catalog.db.execute("INSERT INTO records_fts(records_fts) VALUES ('optimize')")
        catalog.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = catalog.count()
    size = path.stat().st_size
    policy = parse_policy({
        # coord1 may see a twelfth of the catalog; coord2, like a real coordinator, a few dozen cases.
        "users": {"counsel1": {"roles": ["counsel"]}, "coord1": {"roles": ["coordinator"], "cases": ["ADR-2019-*"]},
                  "coord2": {"roles": ["coordinator"], "cases": ["ADR-2019-00001*", "ADR-2023-00099*"]}},
        "rules": [
            {"role": "counsel", "actions": ["search"], "record_classes": ["resolution-agreement", "mou"],
             "statuses": ["sealed", "executed"]},
            {"role": "coordinator", "actions": ["search"], "own_cases": True},
        ],
    })
    print(f"Accord search benchmark: {count:,} records, catalog {size / 1024 / 1024:,.0f} MB")
    if not reuse:
        print(f"insert: {count / insert_seconds:,.0f} records/s ({insert_seconds:.0f} s in batches of {args.batch:,}, "
              "records + full-text index + audit entries)   (goal: above 5,000/s)")
    mix = queries(rng, count)
    for user in args.users.split(","):
        visible = search_filter(policy, Actor(user), "search")
        by_kind: dict[str, list[float]] = {}
        for kind, text in mix:
            t = timed(lambda: search_page(catalog, SearchQuery(text=text, limit=20), visible))
            by_kind.setdefault(kind, []).append(t)
        every = [t for ts in by_kind.values() for t in ts]
        print(f"\nuser {user} (access filter on): search p50 {p(every, .5):.1f} ms, p95 {p(every, .95):.1f} ms "
              f"over {len(every)} queries   (goal: p95 under 50 ms)")
        for kind, ts in by_kind.items():
            print(f"  {kind:<12} p50 {p(ts, .5):6.1f} ms   p95 {p(ts, .95):6.1f} ms")
    # Baseline: the plain design, every match ranked by bm25 with a snippet and an exact count.
    visible = search_filter(policy, Actor("counsel1"), "search")
    base: list[float] = []
    for kind, text in mix[:100]:
        match = _fts_expression(text, None)
        sql = (f"SELECT r.*, snippet(records_fts, 3, '[', ']', '…', 12) FROM records_fts f JOIN records r "
               f"ON r.rowid = f.rowid WHERE records_fts MATCH ? AND {visible[0]} ORDER BY bm25(records_fts) LIMIT 20")
        count_sql = (f"SELECT count(*) FROM records_fts f JOIN records r ON r.rowid = f.rowid "
                     f"WHERE records_fts MATCH ? AND {visible[0]}")
        base.append(timed(lambda: (catalog.db.execute(sql, [match, *visible[1]]).fetchall(),
                                   catalog.db.execute(count_sql, [match, *visible[1]]).fetchone())))
    print(f"\nbaseline (every match ranked, exact count), counsel1, 100 queries: p50 {p(base, .5):.1f} ms, "
          f"p95 {p(base, .95):.1f} ms")
    print("\nthe same queries, accord's design:", end=" ")
    ours = [timed(lambda: search_page(catalog, SearchQuery(text=text, limit=20), visible)) for _, text in mix[:100]]
    print(f"p50 {p(ours, .5):.1f} ms, p95 {p(ours, .95):.1f} ms")
    catalog.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
