"""The catalog: one row per record, found by name with or without accents, by case id, by words of a term."""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest

from pipeline.records import audit, events
from pipeline.records.catalog import RecordRow
from pipeline.records.search import SearchQuery, _fts_expression, search_page
from pipeline.store import SETS, open_catalog

from .helpers import ROOT, record_of, search


def _ids(results):
    return [r["record_id"] for r in results]


class TestSearchSealedExamples:
    @pytest.mark.parametrize(
        "query, template",
        [
            ("Zoë Núñez", "resolution-agreement"),
            ("Nunez", "resolution-agreement"),
            ("zoe nunez", "resolution-agreement"),
            ("O'Brien", "resolution-agreement"),
            ("ADR-2026-0142", "resolution-agreement"),
            ("bias-awareness workshop", "resolution-agreement"),
            ('"shared lab spaces"', "resolution-agreement"),
            ("Tomás Álvarez", "mou"),
            ("Tomas Alvarez", "mou"),
            ("MOU-2026-007", "mou"),
            ("restorative justice referral", "mou"),
            ("workshop*", "resolution-agreement"),
        ],
    )
    def test_finds(self, sealed_office, query, template):
        """Names with and without accents, case ids and words of a term find the right record."""
        results = search(sealed_office.ingestor.catalog, SearchQuery(text=query))
        assert _ids(results) == [record_of(sealed_office, template)["record_id"]], query

    @pytest.mark.parametrize("query", ["Nobody Here", '"lab workshop shared"', "ADR-2026-9999"])
    def test_no_false_matches(self, sealed_office, query):
        """Words or phrases the records do not contain find nothing."""
        assert search(sealed_office.ingestor.catalog, SearchQuery(text=query)) == []

    @pytest.mark.parametrize("query", ['"', "NEAR(", "a OR", "* ^ :", "parties:", "-", "'); DROP TABLE records; --"])
    def test_query_syntax_is_inert(self, sealed_office, query):
        """FTS5 syntax and SQL in a query are taken as words, never as commands or errors."""
        search(sealed_office.ingestor.catalog, SearchQuery(text=query))
        assert sealed_office.ingestor.catalog.count() == 2

    def test_no_query_lists_newest_first(self, sealed_office):
        """Without a query every record is listed, newest first."""
        results = search(sealed_office.ingestor.catalog, SearchQuery())
        assert len(results) == 2
        assert results[0]["created"] >= results[1]["created"]

    def test_filters(self, sealed_office):
        """Template, case, party and date filters narrow the results."""
        catalog = sealed_office.ingestor.catalog
        ra = record_of(sealed_office, "resolution-agreement")["record_id"]
        assert _ids(search(catalog, SearchQuery(template="resolution-agreement"))) == [ra]
        assert _ids(search(catalog, SearchQuery(case_id="ADR-2026-0142"))) == [ra]
        assert _ids(search(catalog, SearchQuery(party="Nunez"))) == [ra]
        assert _ids(search(catalog, SearchQuery(text="confidential", party="Zoë Núñez"))) == [ra]
        assert search(catalog, SearchQuery(party="Priya Raman", template="resolution-agreement")) == []
        assert _ids(search(catalog, SearchQuery(date_from=dt.date(2026, 11, 20), date_to=dt.date(2026, 11, 20)))) == [ra]
        assert search(catalog, SearchQuery(date_to=dt.date(2020, 1, 1))) == []

    def test_snippet(self, sealed_office):
        """A text search returns a snippet with the match marked."""
        (result,) = search(sealed_office.ingestor.catalog, SearchQuery(text="workshop"))
        assert "[workshop]" in result["snippet"]

    def test_row_fields(self, sealed_office):
        """The row holds what counsel needs: ids, title, parties, dates, file, size, pages, hash, seal, status."""
        row = record_of(sealed_office, "resolution-agreement")
        assert row["case_id"] == "ADR-2026-0142"
        assert row["parties"] == ["Zoë Núñez", "Daniel O'Brien", "Morgan Lee"]
        assert row["record_date"] == "2026-11-20"
        assert row["record_class"] == "resolution-agreement"
        assert row["signature_level"] == "B-B" and row["status"] == "sealed"
        assert row["pages"] >= 1 and row["size"] > 10_000 and len(row["sha256"]) == 64
        mou = record_of(sealed_office, "mou")
        assert mou["case_id"] == "MOU-2026-007" and mou["record_date"] == "2026-12-01"


def _schema(path) -> set[tuple]:
    """Every table's columns and every index and trigger of a catalog file (its shape, not its data)."""
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        shape = set()
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE "
                                     "'records_fts_%' AND name NOT LIKE 'sqlite_%' AND name != '_sqlite_migrations'"):
            shape.add(("table", table, tuple(r[1:3] for r in conn.execute(f"PRAGMA table_info('{table}')"))))
        for kind, name, sql in conn.execute("SELECT type, name, sql FROM sqlite_master WHERE type IN ('index', 'trigger')"
                                            " AND name NOT LIKE 'sqlite_%' AND tbl_name != '_sqlite_migrations'"):
            shape.add((kind, name, " ".join((sql or "").split())))
        return shape
    finally:
        conn.close()


class TestCatalogFile:
    def test_wal_and_migrations(self, tmp_path):
        """A new catalog is in WAL mode with every area's migrations recorded once, in the order of the
        areas, and reopening changes nothing."""
        path = tmp_path / "catalog.db"
        open_catalog(path).close()
        with open_catalog(path) as catalog:
            assert catalog.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            applied = [tuple(r) for r in catalog.db.execute(
                "SELECT migration_set, name FROM _sqlite_migrations ORDER BY id")]
        assert applied == [(m.name, step.name) for m in SETS for step in m._migrations]
        assert len(applied) == len(set(applied))

    def test_a_catalog_made_before_the_areas_had_their_own_migrations_opens(self, tmp_path):
        """A catalog written by the last release (one list of numbered migrations) opens with its data
        whole, its old steps marked applied area by area, and the same tables, columns and indexes as
        a catalog made today."""
        old = tmp_path / "old.db"
        old.write_bytes((ROOT / "tests" / "data" / "legacy-catalog.db").read_bytes())
        new = tmp_path / "new.db"
        open_catalog(new).close()
        with open_catalog(old) as catalog:
            assert catalog.get("ADR-2025-0001-0a1b2c3d")["parties"] == ["Ana Pérez", "Li Wei"]
            assert [e["event"] for e in events.of_case(catalog, "ADR-2025-0001")] == ["case-closed"]
            assert search(catalog, SearchQuery(text="Perez"))[0]["record_id"] == "ADR-2025-0001-0a1b2c3d"
            assert audit.verify_chain(catalog.conn).ok
            assert "schema_migrations" not in catalog.db.table_names()
        assert _schema(old) == _schema(new)

    def test_duplicate_source_refused(self, tmp_path):
        """Two rows with the same source hash cannot exist."""
        from pipeline.errors import CatalogError

        row = RecordRow(
            record_id="A-1", template="t", record_class="c", case_id="A", title="T", parties=["P"],
            record_date=None, created="2026-01-01T00:00:00+00:00", pdf_path="a", source_path="b", source_name="n",
            source_sha256="0" * 64, size=1, pages=1, sha256="1" * 64, signature_level="B-B", signer="S",
            signature_fields=[],
        )
        with open_catalog(tmp_path / "c.db") as catalog:
            catalog.add_record(row, "body")
            with pytest.raises(CatalogError):
                catalog.add_record(RecordRow(**{**row.__dict__, "record_id": "A-2"}), "body")
            assert catalog.count() == 1
            assert catalog.db.execute("SELECT count(*) FROM records_fts").fetchone()[0] == 1

    @pytest.mark.parametrize(
        "text, party, expected",
        [
            ("Nunez", None, '"Nunez"'),
            ('"shared lab"', None, '"shared lab"'),
            ("work*", None, '"work"*'),
            ('say "hi', None, '"say" AND "hi"'),
            (None, 'Zoë "Z" Núñez', 'parties : "Zoë  Z  Núñez"'),
        ],
    )
    def test_fts_expression(self, text, party, expected):
        """User text becomes quoted FTS5 strings; nothing passes through as syntax."""
        assert _fts_expression(text, party) == expected

    def test_file_private(self, tmp_path):
        """The catalog file is readable by its owner only."""
        path = tmp_path / "catalog.db"
        open_catalog(path).close()
        assert path.stat().st_mode & 0o077 == 0

    def test_concurrent_writers_wait(self, tmp_path):
        """A second connection waits for the first writer instead of failing (busy timeout)."""
        path = tmp_path / "catalog.db"
        first, second = open_catalog(path), open_catalog(path)
        try:
            with first.transaction():
                first.db.execute("INSERT INTO failures (source_name, sha256, step, reason, failed_at, failed_path) "
                                 "VALUES ('a', '', 'intake', 'r', 'now', 'p')")
                second.db.conn.execute("PRAGMA busy_timeout = 100")
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    with second.transaction():
                        pass
            with second.transaction():
                pass
        finally:
            first.close()
            second.close()


class TestFewVisibleRecords:
    """A person who may see only a few records has them tested one by one (``Catalog._among``); the
    answer must be exactly what walking all the matches gives, phrases in order, nothing invisible."""

    BODIES = [
        "Zoë Núñez agrees to attend a bias-awareness workshop and to share lab spaces",
        "the shared lab spaces policy; Núñez and O'Brien meet monthly",
        "spaces shared lab: words in another order, O Brien and Nunez",
        "restorative justice referral for Tomás Álvarez; workshop attendance",
        "a workshop on shared lab etiquette with Daniel O'Brien",
    ]

    @pytest.fixture(scope="class")
    @classmethod
    def catalog(cls, tmp_path_factory):
        catalog = open_catalog(tmp_path_factory.mktemp("few") / "c.db")
        rows = []
        for n in range(60):
            body = cls.BODIES[n % len(cls.BODIES)]
            case = f"ADR-20{20 + n % 6}-{n:04d}"
            parties = ["Zoë Núñez", "Daniel O'Brien"] if n % 2 else ["Tomás Álvarez"]
            rows.append((RecordRow(
                record_id=f"{case}-{n:08x}", template="t", record_class="c", case_id=case, title=f"Agreement {n}",
                parties=parties, record_date=None, created=f"2026-01-01T00:{n:02d}:00+00:00", pdf_path="a",
                source_path="b", source_name=f"n{n}", source_sha256=f"{n:064x}", size=1, pages=1, sha256="1" * 64,
                signature_level="B-B", signer="S", signature_fields=[]), body))
        catalog.add_records(rows)
        yield catalog
        catalog.close()

    QUERIES = [
        ("Nunez", None), ('"shared lab spaces"', None), ('"spaces shared"', None), ("workshop*", None),
        ('"lab spa"', None), ("O'Brien", None), ("O Brien", None), ('"Brien and"', None), ("Álvarez", None),
        (None, "Zoë Núñez"), ("workshop", "Daniel O'Brien"), ('"share lab"', None), ("nothing-here", None),
    ]

    @pytest.mark.parametrize("text, party", QUERIES)
    def test_same_answer_as_walking_the_matches(self, catalog, text, party, monkeypatch):
        """For a person who may see few records, testing those records one by one finds exactly the records, and the
        total, that walking every match finds, and none outside the person's cases."""
        visible = ("(r.case_id GLOB ? OR r.case_id GLOB ?)", ["ADR-2021-*", "ADR-2024-*"])
        query = SearchQuery(text=text, party=party, limit=100)
        few, few_total = search_page(catalog, query, visible)
        import pipeline.records.search as module

        monkeypatch.setattr(module, "FEW_VISIBLE", 0)  # every person walks the matches
        walked, walked_total = search_page(catalog, query, visible)
        assert sorted(_ids(few)) == sorted(_ids(walked))
        assert few_total == walked_total == len(few)
        assert all(r["case_id"].startswith(("ADR-2021-", "ADR-2024-")) for r in few)

    @pytest.mark.parametrize("phrase, body", [('"shared lab spaces"', 1), ('"spaces shared lab"', 2)])
    def test_phrase_order_is_kept(self, catalog, phrase, body):
        """Testing a few visible records one by one keeps a phrase's word order: only the records holding the words in
        that order are found."""
        visible = ("r.case_id GLOB ?", ["ADR-2022-*"])  # records 2, 8, 14, ..., 56
        found, total = search_page(catalog, SearchQuery(text=phrase, limit=100), visible)
        expected = [n for n in range(2, 60, 6) if n % len(self.BODIES) == body]
        assert sorted(int(r["record_id"].rsplit("-", 1)[1], 16) for r in found) == expected
        assert total == len(expected) > 0

    def test_newest_first_and_paged(self, catalog):
        """Pages of a few-records search come newest first, with no record on two pages, and a total at least as large
        as what was listed."""
        visible = ("r.case_id GLOB ?", ["ADR-2021-*"])
        first, total = search_page(catalog, SearchQuery(text="lab", limit=3), visible)
        second, _ = search_page(catalog, SearchQuery(text="lab", limit=3, offset=3), visible)
        created = [r["created"] for r in first + second]
        assert created == sorted(created, reverse=True) and len(set(_ids(first + second))) == len(created)
        assert total >= len(created)
