"""The house keeps its shape: wings on floors with no import running back up, no circles, no module
over 600 lines, and SQL on each table only in the module that owns it.

The floors, from the ground up (a module may import its own wing and the wings below it):

==  ==========================================================  =========================================
0   ``errors``, ``text``, ``display``, ``logformat``             plain rules: exceptions, characters, logs
1   ``config``, ``workspace``                                     settings and paths
2   ``documents/``                                                templates, case files, PDF/A, the seal
3   ``records/``                                                  archive, catalog, audit, verification
4   ``cases/``                                                    rubric, phases, the case register
5   ``governance/``                                               access, accounts, holds, retention, sweeps
6   ``store``                                                     the catalog file with every area's tables
7   ``intake/``                                                   the inbox, ingest, the watcher
8   ``office``, ``casedesk``                                      the audited session: the one door
9   ``portal/``                                                   the web portal
10  ``cli/``                                                      the ``accord`` command
==  ==========================================================  =========================================
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import grimp
import pytest

from .helpers import ROOT

PACKAGE = ROOT / "pipeline"

FLOORS = {
    "pipeline.errors": 0, "pipeline.text": 0, "pipeline.display": 0, "pipeline.logformat": 0,
    "pipeline.config": 1, "pipeline.workspace": 1,
    "pipeline.documents": 2,
    "pipeline.records": 3,
    "pipeline.cases": 4,
    "pipeline.governance": 5, "pipeline.reports": 5,
    "pipeline.store": 6,
    "pipeline.intake": 7,
    "pipeline.office": 8, "pipeline.casedesk": 8, "pipeline.reportdesk": 8,
    "pipeline.portal": 9,
    "pipeline.cli": 10,
}

#: Each table of the catalog file (and of the accounts file) and the one module whose SQL may name it.
OWNERS = {
    "records": "records/catalog.py", "records_fts": "records/catalog.py", "record_ids": "records/catalog.py",
    "tombstones": "records/catalog.py",
    "failures": "records/failures.py",
    "events": "records/events.py", "events_new": "records/events.py",
    "cases": "cases/casebook.py", "case_tombstones": "cases/casebook.py",
    "case_backfill": "cases/casebook.py", "terms": "cases/casebook.py",
    "agenda": "cases/agenda.py",
    "audit": "records/audit.py", "anchors": "records/audit.py",
    "signatures": "records/countersign.py",
    "fixity": "records/fixity.py",
    "holds": "governance/holds.py", "hold_items": "governance/holds.py",
    "proposals": "governance/disposition.py", "proposal_items": "governance/disposition.py",
    # the accounts file (.accord/accounts.db) is the accounts module's alone; its sign-in "failures"
    # table is another file's table of the same name
    "accounts": "governance/accounts.py", "sessions": "governance/accounts.py", "feeds": "governance/accounts.py",
}
ALSO = {"failures": {"governance/accounts.py"}}

_SQL = re.compile(r"\b(?:FROM|JOIN|INTO|UPDATE|TABLE|EXISTS)\s+(\w+)|\bON\s+(\w+)\s*\(")


def _floor(module: str) -> int:
    for prefix, floor in sorted(FLOORS.items(), key=lambda item: -len(item[0])):
        if module == prefix or module.startswith(prefix + "."):
            return floor
    raise AssertionError(f"{module} belongs to no floor: add it to FLOORS")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("pipeline", include_external_packages=False)


def test_every_module_has_a_floor(graph):
    """Every module of the package stands on one of the floors above (a new one must be placed)."""
    for module in graph.modules:
        if module != "pipeline":
            _floor(module)


def test_no_import_runs_back_up(graph):
    """No module imports a module on a higher floor (the ``accord`` command and the portal sit on
    top; the record store never reaches into intake or governance)."""
    upward = sorted(f"{m} -> {imported}" for m in graph.modules if m != "pipeline"
                    for imported in graph.find_modules_directly_imported_by(m)
                    if imported != "pipeline" and _floor(imported) > _floor(m))
    assert upward == []


def test_no_import_circles(graph):
    """No two modules import each other, however indirectly."""
    circles = {" <-> ".join(sorted((module, imported)))
               for module in graph.modules for imported in graph.find_modules_directly_imported_by(module)
               if graph.chain_exists(importer=imported, imported=module)}
    assert sorted(circles) == []


def test_no_module_over_600_lines():
    """Every module of the package is short enough to read at one sitting (600 lines at most)."""
    long = {str(p.relative_to(ROOT)): n for p in PACKAGE.rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert long == {}


def _sql_tables(path: Path) -> set[str]:
    """The table names named by the SQL in a module's string literals."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            for match in _SQL.finditer(node.value):
                found.add(match.group(1) or match.group(2))
    return {t for t in found if t in OWNERS}


def test_sql_on_a_table_only_in_its_owner():
    """The SQL that names a table is found only in the module that owns the table (others call its
    functions), the portal and the command line included."""
    strays = sorted(f"{path.relative_to(PACKAGE)} names {table}"
                    for path in PACKAGE.rglob("*.py") for table in _sql_tables(path)
                    if str(path.relative_to(PACKAGE)) not in {OWNERS[table], *ALSO.get(table, ())})
    assert strays == []


def test_the_ownership_check_sees_sql():
    """The check above finds a table in SQL wherever it is written (so it cannot pass by seeing nothing)."""
    assert _sql_tables(PACKAGE / "records" / "catalog.py") >= {"records", "records_fts", "record_ids", "tombstones"}
    assert "proposals" in _sql_tables(PACKAGE / "governance" / "disposition.py")
    assert {m.group(1) or m.group(2) for m in _SQL.finditer("SELECT * FROM holds h JOIN hold_items i ON")} == \
        {"holds", "hold_items"}


def test_every_table_has_an_owner():
    """Every table the migrations create is in the table of owners (a new table must be given one)."""
    created = set()
    for path in PACKAGE.rglob("*.py"):
        created |= set(re.findall(r"CREATE (?:VIRTUAL )?TABLE (?:IF NOT EXISTS )?(\w+)", path.read_text()))
    assert created <= set(OWNERS), created - set(OWNERS)
