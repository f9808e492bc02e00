"""Access rules and the audit trail: the shipped access matrix, search filtering, policy file errors,
OfficeSession's decisions and record of disclosures, the hash chain and its anchors, config changes, the CLI.

Everything runs against real workspaces: the two shared examples are processed once per session
(conftest's sealed_office) and every test that writes works on its own copy of that workspace.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import pwd
import re
import shutil
import sqlite3
import textwrap
from pathlib import Path

import pytest
import yaml

from pipeline.documents.seal import make_sealer
from pipeline.documents.trust import TrustRoots
from pipeline.errors import AccessDenied, AccordError, ConfigurationError, RecordNotFound, VerificationFailed
from pipeline.governance.access import (
    ACTIONS,
    DEFAULT_ROLES,
    RECORD_ACTIONS,
    AccessPolicy,
    Actor,
    RecordFacts,
    User,
    decide,
    load_policy,
    parse_policy,
    policy_for,
    search_filter,
)
from pipeline.office import OfficeSession
from pipeline.records import audit
from pipeline.records.anchor import anchored_head
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog, RecordRow
from pipeline.records.search import SearchQuery, search_page
from pipeline.records.verify import check_signatures
from pipeline.store import open_catalog
from pipeline.workspace import Workspace, init_workspace

from .helpers import ROOT, list_users, os_user, raw_db, records_by_template, run_cli

SHIPPED_ACCESS = ROOT / "retention_policies" / "access.yaml"

RA, MOU, ANCHOR = "resolution-agreement", "mou", "audit-anchor"
OWN_CASE, OLD_CASE, MOU_CASE = "ADR-2026-0142", "ADR-2025-0001", "MOU-2026-007"
UNKNOWN_ID = "ADR-2026-9999-0badc0de"

#: One user per shipped role, plus a user whose (declared) role no rule mentions.
MATRIX_USERS = {
    "c1": {"roles": ["coordinator"], "cases": ["ADR-2026-*"]},
    "counsel1": {"roles": ["counsel"]},
    "director1": {"roles": ["director"]},
    "records1": {"roles": ["records-officer"]},
    "auditor1": {"roles": ["auditor"]},
    "intern1": {"roles": ["intern"]},
}


def shipped_policy(users: dict | None = None, owner: str | None = None) -> AccessPolicy:
    """The shipped rules, unchanged, with ``users`` added and one extra declared role (``intern``) no rule names."""
    raw = yaml.safe_load(SHIPPED_ACCESS.read_text(encoding="utf-8"))
    raw["roles"] = {**raw["roles"], "intern": "Declared, but no rule grants it anything."}
    raw["users"] = users if users is not None else MATRIX_USERS
    return parse_policy(raw, workspace_owner=owner)


POLICY = shipped_policy()


# --- workspaces -------------------------------------------------------------------------------


def audit_rows(ws: Workspace, **where: str) -> list[dict]:
    conn = raw_db(ws)
    try:
        sql = "SELECT * FROM audit" + (" WHERE " + " AND ".join(f"{k} = ?" for k in where) if where else "")
        rows = [dict(r) for r in conn.execute(sql + " ORDER BY seq", list(where.values()))]
    finally:
        conn.close()
    for r in rows:
        r["details"] = json.loads(r["details"])
    return rows


def chain_of(ws: Workspace) -> audit.ChainReport:
    conn = raw_db(ws)
    try:
        return audit.verify_chain(conn)
    finally:
        conn.close()


def session(ws: Workspace, name: str, via: str = "cli") -> OfficeSession:
    return OfficeSession(ws, Actor(name, via=via))


@pytest.fixture(scope="module")
def processed_template(sealed_office) -> Workspace:
    """Both examples processed (conftest's sealed_office, as it was right after processing), never written to."""
    return Workspace(sealed_office.pristine)


@pytest.fixture
def fresh_ws(processed_template, tmp_path) -> Workspace:
    """A private copy of the processed workspace (catalog, archive, PKI and all) for a test that writes."""
    root = tmp_path / "ws"
    shutil.copytree(processed_template.root, root, symlinks=True)
    return Workspace(root)


@pytest.fixture
def staffed(fresh_ws) -> Workspace:
    """The processed workspace with its roles split among people (the owner is then no longer a user)."""
    list_users(fresh_ws, {
        "jchen": {"roles": ["counsel"]},
        "mlee": {"roles": ["coordinator"], "cases": ["MOU-*"]},
        "audit1": {"roles": ["auditor"]},
        "pramam": {"roles": ["director"]},
    })
    return fresh_ws


# --- 1. the access matrix ----------------------------------------------------------------------


def _row(user, action, record_class, status, case_id, allowed):
    ident = f"{user}-{action}-{record_class or 'no-record'}-{status or ''}-{case_id or ''}".rstrip("-")
    return pytest.param(user, action, record_class, status, case_id, allowed, id=ident)


MATRIX = [
    # counsel: agreements and MOUs in the listed statuses only; no audit, no dispositions, no holds
    _row("counsel1", "retrieve", RA, "sealed", OWN_CASE, True),
    _row("counsel1", "retrieve", MOU, "sealed", MOU_CASE, True),
    _row("counsel1", "retrieve", RA, "executed", OLD_CASE, True),
    _row("counsel1", "retrieve", MOU, "superseded", MOU_CASE, True),
    _row("counsel1", "search", RA, "sealed", OLD_CASE, True),
    _row("counsel1", "view", MOU, "sealed", MOU_CASE, True),
    _row("counsel1", "search", None, None, None, True),
    _row("counsel1", "retrieve", RA, "destroyed", OWN_CASE, False),
    _row("counsel1", "view", MOU, "destroyed", MOU_CASE, False),
    _row("counsel1", "search", RA, "on-hold", OWN_CASE, False),
    _row("counsel1", "retrieve", ANCHOR, "sealed", "AUDIT", False),
    _row("counsel1", "view", ANCHOR, "sealed", "AUDIT", False),
    _row("counsel1", "read-audit", None, None, None, False),
    _row("counsel1", "approve-disposition", RA, "sealed", OWN_CASE, False),
    _row("counsel1", "approve-disposition", None, None, None, False),
    _row("counsel1", "hold", RA, "sealed", OWN_CASE, False),
    # records officer: keeps records, never takes them out
    _row("records1", "hold", RA, "sealed", OWN_CASE, True),
    _row("records1", "hold", ANCHOR, "sealed", "AUDIT", True),
    _row("records1", "approve-disposition", MOU, "sealed", MOU_CASE, True),
    _row("records1", "approve-disposition", RA, "executed", OLD_CASE, True),
    _row("records1", "search", RA, "destroyed", OLD_CASE, True),
    _row("records1", "view", MOU, "sealed", MOU_CASE, True),
    _row("records1", "retrieve", RA, "sealed", OWN_CASE, False),
    _row("records1", "retrieve", MOU, "sealed", MOU_CASE, False),
    _row("records1", "retrieve", None, None, None, False),
    _row("records1", "read-audit", None, None, None, False),
    # auditor: reads the audit log, never takes records out
    _row("auditor1", "read-audit", None, None, None, True),
    _row("auditor1", "search", RA, "sealed", OWN_CASE, True),
    _row("auditor1", "view", MOU, "sealed", MOU_CASE, True),
    _row("auditor1", "retrieve", RA, "sealed", OWN_CASE, False),
    _row("auditor1", "retrieve", MOU, "sealed", MOU_CASE, False),
    _row("auditor1", "hold", RA, "sealed", OWN_CASE, False),
    _row("auditor1", "approve-disposition", RA, "sealed", OWN_CASE, False),
    # director: every class, every status; but neither audit nor dispositions
    _row("director1", "retrieve", RA, "sealed", OWN_CASE, True),
    _row("director1", "retrieve", MOU, "sealed", MOU_CASE, True),
    _row("director1", "retrieve", ANCHOR, "sealed", "AUDIT", True),
    _row("director1", "retrieve", "case-note", "destroyed", OLD_CASE, True),
    _row("director1", "view", RA, "on-hold", OLD_CASE, True),
    _row("director1", "read-audit", None, None, None, False),
    _row("director1", "approve-disposition", RA, "sealed", OWN_CASE, False),
    _row("director1", "hold", RA, "sealed", OWN_CASE, False),
    # coordinator (cases ADR-2026-*): any class, own cases only
    _row("c1", "search", RA, "sealed", OWN_CASE, True),
    _row("c1", "view", RA, "sealed", OWN_CASE, True),
    _row("c1", "retrieve", RA, "sealed", OWN_CASE, True),
    _row("c1", "retrieve", "case-note", "destroyed", "ADR-2026-0007", True),
    _row("c1", "search", None, None, None, True),
    _row("c1", "search", RA, "sealed", OLD_CASE, False),
    _row("c1", "view", RA, "sealed", OLD_CASE, False),
    _row("c1", "retrieve", RA, "sealed", OLD_CASE, False),
    _row("c1", "view", MOU, "sealed", MOU_CASE, False),
    _row("c1", "retrieve", MOU, "sealed", MOU_CASE, False),
    _row("c1", "view", RA, "sealed", "adr-2026-0142", False),
    _row("c1", "hold", RA, "sealed", OWN_CASE, False),
    _row("c1", "read-audit", None, None, None, False),
    # unknown action: denied even to the broadest role
    _row("director1", "delete", RA, "sealed", OWN_CASE, False),
    _row("auditor1", "export-audit", None, None, None, False),
    _row("director1", "Retrieve", RA, "sealed", OWN_CASE, False),
]
# an unknown user, and a user whose only role no rule mentions, are denied every action
MATRIX += [_row(u, a, RA, "sealed", OWN_CASE, False) for u in ("mallory", "intern1") for a in ACTIONS]
MATRIX += [_row(u, a, None, None, None, False) for u in ("mallory", "intern1") for a in ACTIONS]


class TestAccessMatrix:
    @pytest.mark.parametrize("user, action, record_class, status, case_id, allowed", MATRIX)
    def test_matrix(self, user, action, record_class, status, case_id, allowed):
        """The shipped policy decides this (user, action, record class, status, case) exactly as the table says."""
        record = RecordFacts("R-1", record_class, status, case_id) if record_class else None
        decision = decide(POLICY, Actor(user), action, record)
        assert decision.allowed is allowed, decision.reason
        assert bool(decision) is allowed
        assert isinstance(decision.reason, str) and decision.reason.strip()

    @pytest.mark.parametrize("user, action, facts, reason", [
        ("mallory", "search", None, "mallory is not a user of this workspace"),
        ("intern1", "search", None, "no rule lets intern search"),
        ("intern1", "view", (RA, "sealed", OWN_CASE), f"no rule lets intern view {RA} record R-1"),
        ("director1", "delete", (RA, "sealed", OWN_CASE), "'delete' is not an action Accord knows"),
        ("counsel1", "retrieve", (RA, "destroyed", OWN_CASE), f"no rule lets counsel retrieve {RA} record R-1"),
        ("counsel1", "retrieve", (ANCHOR, "sealed", "AUDIT"), f"no rule lets counsel retrieve {ANCHOR} record R-1"),
        ("counsel1", "read-audit", None, "no rule lets counsel read-audit"),
        ("records1", "retrieve", (RA, "sealed", OWN_CASE), f"no rule lets records-officer retrieve {RA} record R-1"),
        ("c1", "view", (MOU, "sealed", MOU_CASE), f"no rule lets coordinator view {MOU} record R-1"),
    ], ids=lambda v: v if isinstance(v, str) and len(v) < 20 else None)
    def test_denial_reasons_name_why(self, user, action, facts, reason):
        """A denial says why: not a user, not an action, or which roles no rule lets do what to which record."""
        record = RecordFacts("R-1", *facts) if facts else None
        decision = decide(POLICY, Actor(user), action, record)
        assert not decision
        assert decision.reason == reason

    @pytest.mark.parametrize("user, action, facts, fragments", [
        ("counsel1", "retrieve", (RA, "sealed", OWN_CASE), ["role counsel", "retrieve", RA, "status sealed"]),
        ("c1", "view", (RA, "sealed", OWN_CASE), ["role coordinator", "view", "own cases"]),
        ("director1", "retrieve", (ANCHOR, "sealed", "AUDIT"), ["role director", "retrieve", ANCHOR]),
        ("auditor1", "read-audit", None, ["role auditor", "read-audit"]),
    ])
    def test_grant_reasons_name_the_rule(self, user, action, facts, fragments):
        """A grant names the role and what the rule lets it do."""
        record = RecordFacts("R-1", *facts) if facts else None
        decision = decide(POLICY, Actor(user), action, record)
        assert decision
        for fragment in fragments:
            assert fragment in decision.reason

    def test_role_the_policy_does_not_define(self):
        """A user holding only a role the policy does not define holds no known role and is denied."""
        policy = AccessPolicy(DEFAULT_ROLES, {"ghost": User("ghost", ("wizard",))}, POLICY.rules)
        decision = decide(policy, Actor("ghost"), "search")
        assert not decision and decision.reason == "ghost holds no known role"

    def test_owner_administers_a_workspace_without_users(self):
        """With no users listed, the folder's owner holds every role and nobody else is a user."""
        policy = shipped_policy(users={}, owner="root")
        for action in ACTIONS:
            assert decide(policy, Actor("root"), action, RecordFacts("R-1", RA, "destroyed", OLD_CASE)), action
        assert not decide(policy, Actor("jchen"), "search")
        assert not decide(shipped_policy(users={}, owner=None), Actor("root"), "search")

    def test_owner_loses_fallback_once_users_are_listed(self):
        """Once the file lists users, the folder's owner is just another unknown user."""
        policy = shipped_policy(owner="root")
        decision = decide(policy, Actor("root"), "search")
        assert not decision and "not a user" in decision.reason

    def test_policy_for_uses_folder_owner(self, tmp_path):
        """policy_for names the workspace folder's owner as the administrator of a user-less workspace."""
        ws = init_workspace(tmp_path / "ws")
        policy = policy_for(ws.root, ws.policies)
        owner = pwd.getpwuid(ws.root.stat().st_uid).pw_name
        assert policy.owner == owner and not policy.users
        assert decide(policy, Actor(owner), "read-audit")


# --- 2. search_filter agrees with decide -------------------------------------------------------

FILTER_CLASSES = (RA, MOU, ANCHOR, "case-note")
FILTER_STATUSES = ("sealed", "executed", "superseded", "destroyed", "on-hold")
FILTER_CASES = ("ADR-2026-0142", "ADR-2026-0007", "ADR-2026-1003", "ADR-2025-0001", "MOU-2026-007", "MOU-2025-001",
                "adr-2026-0150")

FILTER_USERS = {
    **MATRIX_USERS,
    "c2": {"roles": ["coordinator"], "cases": ["ADR-2026-014?", "MOU-*"]},
    "c3": {"roles": ["coordinator"], "cases": ["ADR-2025-0001"]},
    "c0": {"roles": ["coordinator"]},
    "dual": {"roles": ["counsel", "coordinator"], "cases": ["ADR-2025-*"]},
    "keeper": {"roles": ["records-officer", "auditor"]},
}


def _record_row(n: int, record_class: str, status: str, case_id: str) -> RecordRow:
    record_id = f"{case_id}-{n:08x}"
    digest = hashlib.sha256(record_id.encode()).hexdigest()
    return RecordRow(
        record_id=record_id, template=record_class, record_class=record_class, case_id=case_id,
        title=f"Agreement {n}", parties=["Zoë Núñez", "Daniel O'Brien"], record_date="2026-11-20",
        created=f"2026-11-20T00:00:{n % 60:02d}+00:00", pdf_path=f"archive/2026/{record_id}/{record_id}.pdf",
        source_path=f"archive/2026/{record_id}/{record_id}.yaml", source_name=f"{record_id}.yaml",
        source_sha256=digest, size=1000 + n, pages=1, sha256=digest, signature_level="B-B",
        signer="Office", signature_fields=[], status=status,
    )


@pytest.fixture(scope="module")
def facts_catalog(tmp_path_factory):
    """A real catalog holding one hand-made record for every (class, status, case) combination."""
    catalog = open_catalog(tmp_path_factory.mktemp("facts") / "catalog.db")
    n = 0
    for record_class in FILTER_CLASSES:
        for status in FILTER_STATUSES:
            for case_id in FILTER_CASES:
                n += 1
                catalog.add_record(_record_row(n, record_class, status, case_id), body=f"body {n}")
    yield catalog
    catalog.close()


def _selected(catalog: Catalog, visible) -> set[str]:
    return {r["record_id"] for r in catalog.all_records(visible)}


def _allowed(catalog: Catalog, policy: AccessPolicy, actor: Actor, action: str) -> set[str]:
    return {r["record_id"] for r in catalog.all_records() if decide(policy, actor, action, RecordFacts.of(r))}


class TestSearchFilter:
    @pytest.mark.parametrize("action", RECORD_ACTIONS)
    @pytest.mark.parametrize("user", [*FILTER_USERS, "mallory"])
    def test_filter_selects_exactly_what_decide_allows(self, facts_catalog, user, action):
        """For every user and action, the SQL filter keeps exactly the records decide() allows, in lists and counts."""
        policy = shipped_policy(FILTER_USERS)
        actor = Actor(user)
        visible = search_filter(policy, actor, action)
        expected = _allowed(facts_catalog, policy, actor, action)
        assert _selected(facts_catalog, visible) == expected
        page, total = search_page(facts_catalog, SearchQuery(limit=10_000), visible)
        assert total == len(expected) and {r["record_id"] for r in page} == expected

    def test_filter_is_not_vacuous(self, facts_catalog):
        """The catalog is varied enough that search sets differ by role: none, some, or all records."""
        policy = shipped_policy(FILTER_USERS)
        everything = _selected(facts_catalog, ("1", []))
        sizes = {u: len(_selected(facts_catalog, search_filter(policy, Actor(u), "search")))
                 for u in [*FILTER_USERS, "mallory"]}
        total = len(FILTER_CLASSES) * len(FILTER_STATUSES) * len(FILTER_CASES)
        assert sizes["director1"] == sizes["records1"] == sizes["auditor1"] == len(everything) == total
        assert sizes["mallory"] == sizes["intern1"] == sizes["c0"] == 0
        for user in ("c1", "c2", "c3", "counsel1", "dual"):
            assert 0 < sizes[user] < total, user
        assert sizes["counsel1"] < sizes["dual"] and sizes["c3"] < sizes["dual"]

    def test_owner_filter_matches_decide(self, facts_catalog):
        """The owner of a user-less workspace sees every record; anyone else sees none."""
        policy = shipped_policy(users={}, owner="root")
        total = len(FILTER_CLASSES) * len(FILTER_STATUSES) * len(FILTER_CASES)
        for name, expected in (("root", total), ("jchen", 0)):
            visible = search_filter(policy, Actor(name), "search")
            assert _selected(facts_catalog, visible) == _allowed(facts_catalog, policy, Actor(name), "search")
            assert len(_selected(facts_catalog, visible)) == expected

    def test_text_search_cannot_reach_hidden_records(self, facts_catalog):
        """A full-text match on a hidden record is neither listed nor counted."""
        policy = shipped_policy(FILTER_USERS)
        visible = search_filter(policy, Actor("c3"), "search")
        page, total = search_page(facts_catalog, SearchQuery(text="Núñez", limit=10_000), visible)
        expected = _allowed(facts_catalog, policy, Actor("c3"), "search")
        assert total == len(expected) == len(page) and {r["record_id"] for r in page} == expected
        assert all(r["case_id"] == "ADR-2025-0001" for r in page)

    @pytest.mark.parametrize("pattern", ["ADR-2026-[!0]*", "ADR-2026-[0-9]*", "ADR/2026", "ADR 2026*"])
    def test_patterns_beyond_star_and_question_mark_refused(self, pattern):
        """Case patterns may use only * and ?, which fnmatch (decide) and SQLite GLOB (search) read alike."""
        with pytest.raises(ConfigurationError, match="wildcards \\* and \\? only"):
            shipped_policy({"neg": {"roles": ["coordinator"], "cases": [pattern]}})

    def test_question_mark_pattern_agrees(self, facts_catalog):
        """A case pattern with ? filters search exactly as decide() judges it."""
        policy = shipped_policy({"q": {"roles": ["coordinator"], "cases": ["ADR-2026-1?0?"]}})
        actor = Actor("q")
        expected = _allowed(facts_catalog, policy, actor, "search")
        assert expected and all(r.startswith("ADR-2026-1003-") for r in expected)
        assert _selected(facts_catalog, search_filter(policy, actor, "search")) == expected


# --- 3. policy file errors ---------------------------------------------------------------------

BAD_POLICIES = [
    pytest.param(
        """\
        roles: [counsel]
        groups: {}
        """,
        r"access\.yaml, line 2: unexpected key 'groups' \(expected roles, users, rules\)",
        id="unknown-top-level-key"),
    pytest.param(
        """\
        roles: [counsel]
        users:
          jchen:
            roles: [counsel]
            email: jchen@example.edu
        """,
        r"access\.yaml, line 5: unexpected key 'email' for user jchen",
        id="unknown-user-key"),
    pytest.param(
        """\
        roles: [counsel, auditor]
        users:
          audit1: {roles: [auditor]}
          jchen:
            roles: [counsel, wizard]
        """,
        r"access\.yaml, line 5: user jchen has unknown role 'wizard'",
        id="user-unknown-role"),
    pytest.param(
        """\
        roles:
          counsel: Legal counsel.
        users: {}
        rules:
          - role: counsel
            actions: [search]
          - role: wizard
            actions: [search]
        """,
        r"access\.yaml, line 7: rule 2 names unknown role 'wizard'",
        id="rule-unknown-role"),
    pytest.param(
        """\
        roles: [counsel]
        rules:
          - role: counsel
            record_classes: [mou]
            actions: [search, delete]
        """,
        r"access\.yaml, line 5: rule 1 names unknown action 'delete' \(actions: search, view, retrieve",
        id="unknown-action"),
    pytest.param(
        """\
        roles: [counsel]
        rules:
          - role: counsel
            actions: [search]
          - role: counsel
            record_classes: [mou]
        """,
        r"access\.yaml, line 5: rule 2 grants no actions",
        id="rule-without-actions"),
    pytest.param(
        """\
        roles: [counsel]
        rules:
          - role: counsel
            actions: []
        """,
        r"access\.yaml, line 3: rule 1 grants no actions",
        id="rule-with-empty-actions"),
    pytest.param(
        """\
        roles: [coordinator]
        rules:
          - role: coordinator
            actions: [view]
            own_cases: "maybe"
        """,
        r"access\.yaml, line 5: own_cases must be true or false",
        id="own-cases-not-boolean"),
    pytest.param(
        """\
        roles: [coordinator]
        rules:
          - role: coordinator
            actions: [view]
            own_cases: 1
        """,
        r"access\.yaml, line 5: own_cases must be true or false",
        id="own-cases-integer"),
    pytest.param(
        """\
        roles: [counsel]
        rules:
          - role: counsel
            actions: [view]
            audience: everyone
        """,
        r"access\.yaml, line 5: unexpected key 'audience' in a rule",
        id="unknown-rule-key"),
    pytest.param(
        """\
        roles: [coordinator]
        users:
          mlee:
            roles: [coordinator]
            cases: ADR-2026-*
        """,
        r"access\.yaml, line 5: cases of user mlee must be a list",
        id="cases-not-a-list"),
    pytest.param(
        """\
        roles: [counsel]
        users: [counsel
        """,
        r"access\.yaml is not valid YAML",
        id="not-yaml"),
]


class TestPolicyFileErrors:
    @pytest.mark.parametrize("text, message", BAD_POLICIES)
    def test_bad_policy_names_line_and_problem(self, tmp_path, text, message):
        """A mistake in access.yaml is refused with the file, the line and what is wrong."""
        path = tmp_path / "access.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        with pytest.raises(ConfigurationError, match=message):
            load_policy(path, "root")

    def test_shipped_policy_loads(self):
        """The shipped access.yaml loads as is: five roles, no users, one rule per role."""
        policy = load_policy(SHIPPED_ACCESS, "root")
        assert set(policy.roles) == set(DEFAULT_ROLES) and not policy.users
        assert sorted(r.role for r in policy.rules) == sorted(DEFAULT_ROLES)
        assert policy.owner == "root"

    def test_missing_file_means_owner_only(self, tmp_path):
        """With no access.yaml at all, only the folder's owner is a user, holding every default role."""
        policy = load_policy(tmp_path / "access.yaml", "root")
        assert policy.user("root") == User("root", DEFAULT_ROLES, ("*",)) and policy.user("jchen") is None


# --- 4. OfficeSession --------------------------------------------------------------------------


class TestOfficeSession:
    def test_counsel_finds_both_records(self, staffed):
        """Counsel's search lists both agreements and counts two."""
        ids = {r["record_id"] for r in records_by_template(staffed).values()}
        with session(staffed, "jchen") as s:
            found = s.search(SearchQuery())
        assert found.total == 2 and {r["record_id"] for r in found.records} == ids

    def test_coordinator_sees_only_own_cases(self, staffed):
        """A coordinator whose cases are MOU-* sees only the MOU, even when searching for the other record's words."""
        mou = records_by_template(staffed)["mou"]
        with session(staffed, "mlee") as s:
            found = s.search(SearchQuery())
            assert found.total == 1 and [r["record_id"] for r in found.records] == [mou["record_id"]]
            for hidden_query in (SearchQuery(text="Núñez"), SearchQuery(case_id=OWN_CASE),
                                 SearchQuery(record_class=RA)):
                other = s.search(hidden_query)
                assert other.total == 0 and other.records == []
            assert s.show(mou["record_id"])["record_id"] == mou["record_id"]

    @pytest.mark.parametrize("how", ["show", "retrieve"])
    def test_hidden_record_answers_like_unknown(self, staffed, how):
        """show/retrieve of a record the user may not see fails exactly as for an id that does not exist."""
        ra = records_by_template(staffed)["resolution-agreement"]["record_id"]

        def attempt(s: OfficeSession, record_id: str) -> RecordNotFound:
            with pytest.raises(RecordNotFound) as caught:
                s.show(record_id) if how == "show" else s.retrieve(record_id, "Curious")
            assert type(caught.value) is RecordNotFound
            return caught.value

        with session(staffed, "mlee") as s:
            hidden, unknown = attempt(s, ra), attempt(s, UNKNOWN_ID)
        assert str(hidden) == f"No record {ra!r}."
        assert str(hidden).replace(ra, "<id>") == str(unknown).replace(UNKNOWN_ID, "<id>")
        assert type(hidden).step == type(unknown).step

    @pytest.mark.parametrize("purpose", ["", "   ", "\n\t", None])
    def test_retrieve_requires_purpose(self, staffed, purpose):
        """Without a stated purpose nothing is handed over and no disclosure is recorded."""
        ra = records_by_template(staffed)["resolution-agreement"]["record_id"]
        with session(staffed, "jchen") as s:
            with pytest.raises(AccordError, match="purpose"):
                s.retrieve(ra, purpose)
        assert audit_rows(staffed, action="retrieve") == []

    def test_overlong_purpose_refused(self, staffed):
        """A purpose over 500 characters is refused before anything is read."""
        ra = records_by_template(staffed)["resolution-agreement"]["record_id"]
        with session(staffed, "jchen") as s, pytest.raises(AccordError, match="500"):
            s.retrieve(ra, "x" * 501)
        assert audit_rows(staffed, action="retrieve") == []

    def test_counsel_retrieval_is_exact_and_disclosed(self, staffed):
        """Counsel gets the archived bytes exactly, and the auditor sees who, when, why, outcome and what was released."""
        ra = records_by_template(staffed)["resolution-agreement"]
        archived = (staffed.root / ra["pdf_path"]).read_bytes()
        before = dt.datetime.now(dt.timezone.utc)
        with session(staffed, "jchen") as s:
            got = s.retrieve(ra["record_id"], "  Appeal review,   case 2027-11 ")
        after = dt.datetime.now(dt.timezone.utc)
        assert got.data == archived and got.report.ok
        assert hashlib.sha256(got.data).hexdigest() == ra["sha256"]
        with session(staffed, "audit1") as s:
            rows = s.disclosures(ra["record_id"])
        assert len(rows) == 1
        (row,) = rows
        assert row["actor"] == "jchen" and row["action"] == "retrieve" and row["outcome"] == "ok"
        assert row["purpose"] == "Appeal review, case 2027-11"
        assert row["record_id"] == ra["record_id"] and row["case_id"] == OWN_CASE
        assert before <= dt.datetime.fromisoformat(row["at"]) <= after
        assert row["details"]["sha256"] == ra["sha256"] == hashlib.sha256(archived).hexdigest()
        assert row["details"]["released"] == Path(ra["pdf_path"]).name
        assert row["details"]["size"] == len(archived)
        assert row["details"]["via"] == "cli"

    def test_view_is_disclosed_too(self, staffed):
        """Showing a record's metadata is recorded as a view in its disclosures."""
        mou = records_by_template(staffed)["mou"]["record_id"]
        with session(staffed, "mlee") as s:
            s.show(mou)
        with session(staffed, "audit1") as s:
            rows = s.disclosures(mou)
        assert [(r["actor"], r["action"], r["outcome"]) for r in rows] == [("mlee", "view", "ok")]

    def test_denied_retrieval_is_logged(self, staffed):
        """A refused request is in the record's disclosures: who, the purpose given, outcome denied, and why."""
        ra = records_by_template(staffed)["resolution-agreement"]["record_id"]
        with session(staffed, "mlee") as s, pytest.raises(RecordNotFound):
            s.retrieve(ra, "Checking a colleague's case")
        with session(staffed, "audit1") as s:
            rows = s.disclosures(ra)
        assert len(rows) == 1
        (row,) = rows
        assert (row["actor"], row["action"], row["outcome"]) == ("mlee", "retrieve", "denied")
        assert row["purpose"] == "Checking a colleague's case"
        assert row["details"]["requested"] == ra
        assert "no rule lets coordinator retrieve" in row["details"]["reason"], (
            "the audit entry of a denied request must keep decide()'s reason, not 'no such record'")
        assert "sha256" not in row["details"] and "released" not in row["details"]

    def test_unknown_id_request_is_logged(self, staffed):
        """A request for an id that does not exist is logged as denied with the id requested."""
        with session(staffed, "jchen") as s, pytest.raises(RecordNotFound):
            s.retrieve(UNKNOWN_ID, "Looking")
        rows = [r for r in audit_rows(staffed, action="retrieve")]
        assert len(rows) == 1 and rows[0]["outcome"] == "denied" and rows[0]["purpose"] == "Looking"
        assert rows[0]["details"]["requested"] == UNKNOWN_ID and rows[0]["details"]["reason"] == "no such record"

    def test_altered_pdf_is_refused_and_logged(self, staffed):
        """A record whose archived PDF was changed is not handed over, and the refusal is logged."""
        ra = records_by_template(staffed)["resolution-agreement"]
        pdf = staffed.root / ra["pdf_path"]
        pdf.chmod(0o640)
        data = bytearray(pdf.read_bytes())
        data[len(data) // 2] ^= 0x01
        pdf.write_bytes(bytes(data))
        with session(staffed, "jchen") as s, pytest.raises(VerificationFailed, match="was not handed over"):
            s.retrieve(ra["record_id"], "Appeal review")
        rows = audit_rows(staffed, action="retrieve")
        assert [(r["actor"], r["outcome"], r["purpose"]) for r in rows] == [("jchen", "refused", "Appeal review")]
        assert rows[0]["record_id"] == ra["record_id"] and rows[0]["details"]["problems"]
        assert "sha256" not in rows[0]["details"]

    def test_counsel_may_not_read_audit(self, staffed):
        """Counsel asking for the audit log, a record's disclosures or the chain check is denied, and that is logged."""
        ra = records_by_template(staffed)["resolution-agreement"]["record_id"]
        with session(staffed, "jchen") as s:
            with pytest.raises(AccessDenied, match="no rule lets counsel read-audit"):
                s.audit_log()
            with pytest.raises(AccessDenied):
                s.disclosures(ra)
            with pytest.raises(AccessDenied):
                s.verify_audit()
        denied = [r for r in audit_rows(staffed, actor="jchen") if r["action"] == "read-audit"]
        assert [r["outcome"] for r in denied] == ["denied"] * 3

    def test_unknown_os_user_is_denied(self, staffed):
        """An operating-system user access.yaml does not list may not search, see or read the audit log."""
        ra = records_by_template(staffed)["resolution-agreement"]["record_id"]
        with session(staffed, "mallory", via="os-user") as s:
            with pytest.raises(AccessDenied, match="mallory is not a user"):
                s.search(SearchQuery())
            with pytest.raises(RecordNotFound):
                s.show(ra)
            with pytest.raises(AccessDenied):
                s.audit_log()
        rows = [r for r in audit_rows(staffed, actor="mallory") if r["action"] == "search"]
        assert [(r["outcome"], r["details"]["via"]) for r in rows] == [("denied", "os-user")]


# --- 5. the audit chain ------------------------------------------------------------------------


@pytest.fixture
def active_ws(fresh_ws) -> Workspace:
    """A processed workspace after some ordinary activity by its owner (searches, a view, a retrieval)."""
    ra = records_by_template(fresh_ws)["resolution-agreement"]["record_id"]
    with session(fresh_ws, "root") as s:
        s.search(SearchQuery(text="Núñez"))
        s.show(ra)
        s.retrieve(ra, "Appeal review")
        s.search(SearchQuery())
        s.audit_log(limit=5)
    return fresh_ws


def _drop(conn: sqlite3.Connection, trigger: str) -> None:
    conn.execute(f"DROP TRIGGER {trigger}")


def _seq_of(ws: Workspace, action: str) -> int:
    (row,) = audit_rows(ws, action=action)
    return row["seq"]


class TestAuditChain:
    def test_chain_intact_after_activity(self, active_ws):
        """After ingest and use the chain verifies from entry 1 to the newest."""
        rows = audit_rows(active_ws)
        report = chain_of(active_ws)
        assert report.ok and report.first_broken is None and report.problem is None
        assert report.entries == len(rows) == rows[-1]["seq"] and [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
        assert (report.head_seq, report.head_hash) == (rows[-1]["seq"], rows[-1]["hash"])
        assert rows[0]["prev_hash"] == audit.GENESIS
        assert {"ingest", "config-change", "search", "view", "retrieve", "read-audit"} <= {r["action"] for r in rows}

    @pytest.mark.parametrize("sql", ["UPDATE audit SET actor = 'mallory' WHERE seq = 2",
                                     "UPDATE audit SET hash = prev_hash",
                                     "DELETE FROM audit WHERE seq = 2",
                                     "DELETE FROM audit"])
    def test_triggers_refuse_changes(self, active_ws, sql):
        """While the triggers stand, UPDATE and DELETE on the audit table fail as append-only, changing nothing."""
        before = audit_rows(active_ws)
        conn = raw_db(active_ws)
        try:
            with pytest.raises(sqlite3.DatabaseError, match="append-only"):
                conn.execute(sql)
        finally:
            conn.close()
        assert audit_rows(active_ws) == before and chain_of(active_ws).ok

    @pytest.mark.parametrize("column, value", [
        ("actor", "someone-else"),
        ("purpose", "Routine check"),
        ("outcome", "denied"),
        ("record_id", None),
        ("details", "{}"),
        ("at", "2020-01-01T00:00:00.000000+00:00"),
    ])
    def test_edited_entry_detected_at_its_seq(self, active_ws, column, value):
        """An entry edited after the update trigger is dropped is named as the first broken entry."""
        seq = _seq_of(active_ws, "retrieve")
        last = audit_rows(active_ws)[-1]["seq"]
        assert 1 < seq < last
        conn = raw_db(active_ws)
        try:
            _drop(conn, "audit_no_update")
            conn.execute(f"UPDATE audit SET {column} = ? WHERE seq = ?", [value, seq])
        finally:
            conn.close()
        report = chain_of(active_ws)
        assert not report.ok and report.first_broken == seq
        assert report.problem == f"entry {seq} was changed after it was written"
        assert report.head_seq == seq - 1

    @pytest.mark.parametrize("where", ["first", "middle"])
    def test_deleted_entry_detected_at_its_seq(self, active_ws, where):
        """An entry deleted after the delete trigger is dropped is named as missing."""
        seq = 1 if where == "first" else _seq_of(active_ws, "view")
        assert seq < audit_rows(active_ws)[-1]["seq"]
        conn = raw_db(active_ws)
        try:
            _drop(conn, "audit_no_delete")
            conn.execute("DELETE FROM audit WHERE seq = ?", [seq])
        finally:
            conn.close()
        report = chain_of(active_ws)
        assert not report.ok and report.first_broken == seq
        assert f"entry {seq} is missing" in report.problem

    def test_owner_verify_audit_ok(self, active_ws):
        """verify_audit through a session agrees the intact chain is fine (no anchors yet)."""
        with session(active_ws, "root") as s:
            report = s.verify_audit()
        assert report.ok and report.chain.ok and report.anchors == [] and report.anchor_problems == []


@pytest.fixture
def anchored(active_ws, stored_converter):
    """The active workspace with its audit head sealed into an anchor by the owner."""
    ws = active_ws
    head = chain_of(ws)
    with session(ws, "root") as s:
        written = s.write_anchor(stored_converter, make_sealer(ws, ws.load_config()))
    return ws, written, head


class TestAnchors:
    def test_anchor_is_sealed_pdf_stating_head(self, anchored):
        """The anchor is a read-only sealed PDF under archive/anchors/ that validates and states the head it sealed."""
        ws, written, head = anchored
        assert written.path.is_file()
        assert written.path.parent.parent == ws.archive / "anchors"
        assert written.path.stat().st_mode & 0o222 == 0
        pdf = written.path.read_bytes()
        assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == written.sha256
        reports, problems = check_signatures(pdf, TrustRoots.of(ws, ws.load_config()))
        assert problems == [] and reports and all(r.ok and r.intact and r.trusted for r in reports)
        assert (written.head_seq, written.head_hash) == (head.head_seq, head.head_hash)
        assert anchored_head(pdf) == (head.head_seq, head.head_hash)
        (entry,) = audit_rows(ws, action="anchor")
        assert entry["seq"] == head.head_seq + 1 and entry["actor"] == "root"
        assert entry["details"]["head_seq"] == head.head_seq and entry["details"]["sha256"] == written.sha256
        with session(ws, "root") as s:
            report = s.verify_audit()
        assert report.ok and report.anchors == [written.path.name]

    def test_anchor_signed_by_foreign_root_is_untrusted(self, anchored, tmp_path):
        """The anchor's seal does not validate against a root other than the workspace's."""
        ws, written, _ = anchored
        other = init_workspace(tmp_path / "other")
        from pipeline.documents.pki import ensure_identity

        ensure_identity(other.pki, other.load_config())
        _, problems = check_signatures(written.path.read_bytes(), TrustRoots.of(other, other.load_config()))
        assert problems and "not trusted" in " ".join(problems)

    def test_truncated_tail_caught_by_anchor(self, anchored):
        """Cutting off the newest entries, anchored one included, leaves a consistent chain the anchor exposes."""
        ws, written, _ = anchored
        n = written.head_seq
        conn = raw_db(ws)
        try:
            _drop(conn, "audit_no_delete")
            conn.execute("DELETE FROM audit WHERE seq >= ?", [n])
        finally:
            conn.close()
        chain = chain_of(ws)
        assert chain.ok and chain.head_seq == n - 1
        with session(ws, "root") as s:
            report = s.verify_audit()
        assert report.chain.ok and not report.ok
        assert report.anchors == [written.path.name]
        assert len(report.anchor_problems) == 1
        problem = report.anchor_problems[0]
        assert f"entry {n}," in problem and "cut off" in problem and written.path.name in problem

    def test_rewritten_chain_caught_by_anchor(self, anchored):
        """An entry edited with every later hash recomputed passes the chain check but not the anchor."""
        ws, written, _ = anchored
        target = _seq_of(ws, "retrieve")
        assert target < written.head_seq
        conn = raw_db(ws)
        try:
            _drop(conn, "audit_no_update")
            prev = conn.execute("SELECT hash FROM audit WHERE seq = ?", [target - 1]).fetchone()[0]
            for row in conn.execute("SELECT * FROM audit WHERE seq >= ? ORDER BY seq", [target]).fetchall():
                entry = AuditEntry(row["actor"], row["action"], row["outcome"], row["record_id"], row["case_id"],
                                   row["purpose"], json.loads(row["details"]))
                if row["seq"] == target:
                    entry = AuditEntry("someone-else", entry.action, entry.outcome, entry.record_id,
                                       entry.case_id, "Routine check", entry.details)
                new_hash = audit.entry_hash(row["seq"], row["at"], entry, prev)
                conn.execute("UPDATE audit SET actor = ?, purpose = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                             [entry.actor, entry.purpose, prev, new_hash, row["seq"]])
                prev = new_hash
        finally:
            conn.close()
        assert chain_of(ws).ok
        with session(ws, "root") as s:
            report = s.verify_audit()
        assert report.chain.ok and not report.ok
        assert any(f"entry {written.head_seq} differs" in p for p in report.anchor_problems), report.anchor_problems

    def test_broken_chain_is_not_anchored(self, active_ws, stored_converter):
        """A log whose chain is already broken is refused an anchor, naming the problem."""
        seq = _seq_of(active_ws, "view")
        conn = raw_db(active_ws)
        try:
            _drop(conn, "audit_no_update")
            conn.execute("UPDATE audit SET actor = 'x' WHERE seq = ?", [seq])
        finally:
            conn.close()
        with session(active_ws, "root") as s, pytest.raises(AccordError, match=f"entry {seq}"):
            s.write_anchor(stored_converter, make_sealer(active_ws, active_ws.load_config()))
        assert not (active_ws.archive / "anchors").exists() or not list((active_ws.archive / "anchors").rglob("*.pdf"))


class TestAnchorRights:
    def test_anchor_needs_read_audit(self, active_ws, stored_converter):
        """Only a user who may read the audit log may anchor it."""
        with session(active_ws, "jchen") as s, pytest.raises(AccessDenied):
            s.write_anchor(stored_converter, make_sealer(active_ws, active_ws.load_config()))


# --- 6. configuration changes ------------------------------------------------------------------


def _config_changes(ws: Workspace) -> list[dict]:
    return audit_rows(ws, action="config-change")


class TestConfigChange:
    def test_config_change_recorded_once_then_on_edit(self, workspace):
        """The first session records the configuration; an unchanged one adds nothing; an edit is recorded with the file."""
        with session(workspace, "root"):
            pass
        (first,) = _config_changes(workspace)
        assert first["actor"] == "root" and first["outcome"] == "ok"
        files = first["details"]["files"]
        assert {"accord.yaml", "retention_policies/access.yaml"} <= set(files)
        assert files["accord.yaml"] == hashlib.sha256(workspace.config_file.read_bytes()).hexdigest()
        assert first["details"]["changed"] == sorted(files)

        total = len(audit_rows(workspace))
        with session(workspace, "root"):
            pass
        assert len(_config_changes(workspace)) == 1 and len(audit_rows(workspace)) == total

        text = workspace.config_file.read_text(encoding="utf-8")
        assert "max_bytes: 2097152" in text
        workspace.config_file.write_text(text.replace("max_bytes: 2097152", "max_bytes: 1048576"), encoding="utf-8")
        with session(workspace, "jchen"):
            pass
        changes = _config_changes(workspace)
        assert len(changes) == 2
        assert changes[1]["actor"] == "jchen" and changes[1]["details"]["changed"] == ["accord.yaml"]
        assert changes[1]["details"]["files"]["accord.yaml"] == hashlib.sha256(
            workspace.config_file.read_bytes()).hexdigest()
        assert chain_of(workspace).ok

    def test_policy_edit_recorded(self, workspace):
        """Editing access.yaml is recorded as a change of exactly that file."""
        with session(workspace, "root"):
            pass
        list_users(workspace, {"jchen": {"roles": ["counsel"]}})
        with session(workspace, "jchen"):
            pass
        changes = _config_changes(workspace)
        assert len(changes) == 2 and changes[1]["details"]["changed"] == ["retention_policies/access.yaml"]


# --- 7. the command line -----------------------------------------------------------------------


class TestCli:
    def test_init_writes_running_user_with_every_role(self, tmp_path):
        """accord init lists the OS user running it in access.yaml with every role, and the file still loads."""
        target = tmp_path / "office"
        result = run_cli("init", str(target))
        assert result.exit_code == 0, result.output
        path = target / "retention_policies" / "access.yaml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        me = os_user()
        assert me == "root"  # the suite runs as root
        assert list(raw["users"]) == [me] and sorted(raw["users"][me]["roles"]) == sorted(DEFAULT_ROLES)
        policy = load_policy(path, workspace_owner=None)
        assert policy.users == {me: User(me, tuple(raw["users"][me]["roles"]), ("*",))}
        for action in ACTIONS:
            assert decide(policy, Actor(me), action, RecordFacts("R", RA, "destroyed", OLD_CASE)), action
        listed = run_cli("search", "--workspace", str(target), "--json")
        assert listed.exit_code == 0, listed.output
        assert json.loads(listed.stdout) == []

    def test_get_without_purpose_is_usage_error(self, fresh_ws, tmp_path):
        """accord get without --purpose is a usage error and writes nothing."""
        ra = records_by_template(fresh_ws)["resolution-agreement"]["record_id"]
        out = tmp_path / "out.pdf"
        result = run_cli("get", ra, "-o", str(out), "--workspace", str(fresh_ws.root))
        assert result.exit_code == 2 and "Missing option '--purpose'" in result.output
        assert not out.exists() and audit_rows(fresh_ws, action="retrieve") == []

    def test_get_blank_purpose_refused(self, fresh_ws, tmp_path):
        """accord get with a blank --purpose is refused and writes nothing."""
        ra = records_by_template(fresh_ws)["resolution-agreement"]["record_id"]
        out = tmp_path / "out.pdf"
        result = run_cli("get", ra, "-o", str(out), "--purpose", "   ", "--workspace", str(fresh_ws.root))
        assert result.exit_code == 1 and "State the purpose" in result.output
        assert not out.exists()

    def test_audit_commands_for_owner(self, fresh_ws, tmp_path):
        """For the owner, get records a disclosure that audit disclosures and audit log report as JSON; audit verify is ok."""
        ws = fresh_ws
        ra = records_by_template(ws)["resolution-agreement"]
        out = tmp_path / "agreement.pdf"
        got = run_cli("get", ra["record_id"], "-o", str(out), "--purpose", "Appeal review", "--workspace", str(ws.root))
        assert got.exit_code == 0, got.output
        assert out.read_bytes() == (ws.root / ra["pdf_path"]).read_bytes()

        disclosed = run_cli("audit", "disclosures", ra["record_id"], "--json", "--workspace", str(ws.root))
        assert disclosed.exit_code == 0, disclosed.output
        rows = json.loads(disclosed.stdout)
        assert [(r["actor"], r["action"], r["outcome"], r["purpose"]) for r in rows] == [
            (os_user(), "retrieve", "ok", "Appeal review")]
        assert rows[0]["details"]["sha256"] == ra["sha256"] and rows[0]["details"]["via"] == "os-user"

        log = run_cli("audit", "log", "--json", "--workspace", str(ws.root))
        assert log.exit_code == 0, log.output
        entries = json.loads(log.stdout)
        seqs = [e["seq"] for e in entries]
        assert seqs == sorted(seqs, reverse=True) and seqs[-1] == 1
        assert {"ingest", "config-change", "retrieve", "read-audit"} <= {e["action"] for e in entries}
        only = json.loads(run_cli("audit", "log", "--json", "--action", "retrieve", "--workspace", str(ws.root)).stdout)
        assert [e["purpose"] for e in only] == ["Appeal review"]

        verified = run_cli("audit", "verify", "--json", "--workspace", str(ws.root))
        assert verified.exit_code == 0, verified.output
        report = json.loads(verified.stdout)
        assert report["ok"] is True and report["first_broken"] is None and report["problem"] is None
        assert report["entries"] == report["head_seq"] == chain_of(ws).head_seq

    def test_audit_verify_reports_broken_entry(self, fresh_ws):
        """audit verify --json exits 1 and names the first broken entry."""
        conn = raw_db(fresh_ws)
        try:
            _drop(conn, "audit_no_update")
            conn.execute("UPDATE audit SET actor = 'x' WHERE seq = 2")
        finally:
            conn.close()
        result = run_cli("audit", "verify", "--json", "--workspace", str(fresh_ws.root))
        assert result.exit_code == 1
        report = json.loads(result.stdout)
        assert report["ok"] is False and report["first_broken"] == 2

    def test_audit_commands_denied_to_counsel_os_user(self, fresh_ws):
        """When access.yaml lists users and not the one running the command, audit log is refused."""
        list_users(fresh_ws, {"jchen": {"roles": ["counsel"]}})
        result = run_cli("audit", "log", "--json", "--workspace", str(fresh_ws.root))
        assert result.exit_code != 0 and "not a user of this workspace" in result.output

    def test_audit_anchor_prints_anchored_entry(self, fresh_ws, cli_stored_pdfs):
        """audit anchor seals the head, prints the anchored entry, and audit verify then checks that anchor."""
        ws = fresh_ws
        result = run_cli("audit", "anchor", "--workspace", str(ws.root))
        assert result.exit_code == 0, result.output
        found = re.search(r"Anchored entry (\d+) \(([0-9a-f]{64})\) in (\S+\.pdf)\.", result.output)
        assert found, result.output
        seq, head_hash, path = int(found.group(1)), found.group(2), Path(found.group(3))
        assert path.is_file() and path.resolve().is_relative_to((ws.archive / "anchors").resolve())
        assert anchored_head(path.read_bytes()) == (seq, head_hash)
        (entry,) = audit_rows(ws, action="anchor")
        assert entry["seq"] == seq + 1 and entry["details"]["head_hash"] == head_hash
        row = [r for r in audit_rows(ws) if r["seq"] == seq][0]
        assert row["hash"] == head_hash
        verified = json.loads(run_cli("audit", "verify", "--json", "--workspace", str(ws.root)).stdout)
        assert verified["ok"] is True and verified["anchors"] == [path.name]
