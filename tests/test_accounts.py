"""Portal accounts (pipeline/accounts.py): Argon2id hashes, password rules, names, sign-in with
throttling per account and per address, server-side sessions with idle and absolute expiry, the
store's file permissions, and the ``accord user`` commands.

The store is a real SQLite file in tmp_path; time is a fake clock the tests move by hand.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from pathlib import Path

import pytest
import yaml
from argon2 import PasswordHasher

from pipeline.config import PortalSettings
from pipeline.errors import AccountError, SignInRefused
from pipeline.governance import accounts as accounts_module
from pipeline.governance.access import grant, load_policy
from pipeline.governance.accounts import Accounts
from pipeline.records import audit
from pipeline.store import open_catalog
from pipeline.workspace import Workspace, init_workspace

from .helpers import PASSWORD, Clock, os_user, quick_password_hasher, run_cli

HERE = "192.0.2.1"
THERE = "198.51.100.7"



@pytest.fixture(autouse=True)
def quick_hashing(request, monkeypatch):
    """Small Argon2id parameters (fast tests), except where a test asks for ``real_argon2``."""
    if "real_argon2" not in request.fixturenames:
        monkeypatch.setattr(accounts_module, "PasswordHasher", quick_password_hasher)


@pytest.fixture
def real_argon2() -> None:
    """The store's own hasher: argon2-cffi's RFC 9106 low-memory profile."""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings() -> PortalSettings:
    return PortalSettings(idle_minutes=30, absolute_hours=2, max_failures_per_account=3,
                          max_failures_per_address=5, lockout_minutes=15)


@pytest.fixture
def store_path(tmp_path) -> Path:
    return tmp_path / "state" / "accounts.db"


@pytest.fixture
def store(store_path, settings, clock):
    accounts = Accounts(store_path, settings, clock=clock)
    yield accounts
    accounts.close()


def stored_bytes(path: Path) -> bytes:
    """The database file and its write-ahead log, as they lie on disk."""
    return b"".join(p.read_bytes() for p in (path, path.with_name(path.name + "-wal")) if p.exists())


def fail(store: Accounts, name: str, address: str = HERE, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(SignInRefused) as refused:
            store.authenticate(name, "not the right password", address)
        assert not refused.value.throttled


# --- passwords and names --------------------------------------------------------------------


def test_password_stored_as_argon2id_hash_only(real_argon2, store, store_path):
    """The store keeps only an Argon2id hash of the password (RFC 9106 low-memory profile), never the password itself,
    not even in the file's bytes."""
    store.add("jchen", PASSWORD)
    (stored,) = store.conn.execute("SELECT password_hash FROM accounts WHERE name = 'jchen'").fetchone()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert PasswordHasher().verify(stored, PASSWORD)
    assert PASSWORD not in stored
    assert PASSWORD.encode() not in stored_bytes(store_path)


def test_same_password_hashes_differently(store):
    """Each hash has its own salt."""
    store.add("jchen", PASSWORD)
    store.add("mlee", PASSWORD)
    hashes = {h for (h,) in store.conn.execute("SELECT password_hash FROM accounts")}
    assert len(hashes) == 2


@pytest.mark.parametrize("password", ["", "short", "elevenchars"])
def test_short_password_refused(store, password):
    """A password shorter than 12 characters is refused and no account is made."""
    with pytest.raises(AccountError, match="at least 12"):
        store.add("jchen", password)
    assert store.listing() == []


def test_twelve_characters_are_enough(store):
    """A password of exactly 12 characters is accepted and signs in."""
    store.add("jchen", "twelve chars")
    assert store.authenticate("jchen", "twelve chars", HERE).name == "jchen"


@pytest.mark.parametrize("name, password", [
    ("jchen", "aaaaaaaaaaaaaaaa"),
    ("jchen", "abababababababab"),
    ("jchen", "abcabcabcabcabca"),
    ("longaccountname", "longaccountname"),
    ("longaccountname", "  LongAccountName "),
])
def test_trivial_password_refused(store, name, password):
    """A password of one repeated character or pattern, or the account's own name, is refused as too easy and no
    account is made."""
    with pytest.raises(AccountError, match="too easy"):
        store.add(name, password)
    assert store.listing() == []


def test_overlong_password_refused(store):
    """A password longer than 1024 characters is refused (no unbounded work for the hasher)."""
    with pytest.raises(AccountError, match="at most 1024"):
        store.add("jchen", "a long passphrase " * 60)


def test_duplicate_name_refused(store):
    """A second account under a taken name is refused, and the first account's password still works."""
    store.add("jchen", PASSWORD)
    with pytest.raises(AccountError, match="already an account"):
        store.add("jchen", "another long passphrase")
    assert store.authenticate("jchen", PASSWORD, HERE).name == "jchen"


@pytest.mark.parametrize("name", ["", "a b", "../etc", "x;drop", "a/b", "jchen\n", "jchen@example.edu",
                                  "x" * 65, "名前", None])
def test_bad_names_refused(store, name):
    """Names with spaces, slashes, punctuation, a newline, an e-mail form, non-ASCII letters, over 64 characters, empty
    or missing are refused and make no account."""
    with pytest.raises(AccountError, match="account name"):
        store.add(name, PASSWORD)
    assert store.listing() == []


def test_listing_and_get(store, clock):
    """Accounts are listed by name, and one account is read back with its creation and password dates; an unknown name
    is an error."""
    store.add("mlee", PASSWORD)
    store.add("jchen", PASSWORD)
    assert [a.name for a in store.listing()] == ["jchen", "mlee"]
    account = store.get("jchen")
    assert (account.created, account.password_changed, account.disabled) == (clock.now, clock.now, None)
    with pytest.raises(AccountError):
        store.get("nobody")


# --- authentication ---------------------------------------------------------------------------


def test_authenticate_right_password(store):
    """The right password signs the account in."""
    store.add("jchen", PASSWORD)
    assert store.authenticate("jchen", PASSWORD, HERE).name == "jchen"


def test_wrong_password_and_unknown_account_refused_alike(store):
    """A wrong password and an unknown account are refused with the same message, so a caller cannot learn which names
    exist."""
    store.add("jchen", PASSWORD)
    with pytest.raises(SignInRefused) as wrong:
        store.authenticate("jchen", "not the right password", HERE)
    with pytest.raises(SignInRefused) as unknown:
        store.authenticate("nobody", PASSWORD, HERE)
    assert str(wrong.value) == str(unknown.value)
    assert not wrong.value.throttled and not unknown.value.throttled


def test_disabled_account_refused_until_enabled(store):
    """A disabled account cannot sign in even with the right password, and can again once enabled."""
    store.add("jchen", PASSWORD)
    assert store.disable("jchen").disabled is not None
    with pytest.raises(SignInRefused) as refused:
        store.authenticate("jchen", PASSWORD, HERE)
    assert not refused.value.throttled
    assert store.enable("jchen").disabled is None
    assert store.authenticate("jchen", PASSWORD, HERE).name == "jchen"


def test_failures_are_recorded_without_the_password(store, store_path):
    """A failed sign-in is recorded with the account and the address, and the wrong password tried is nowhere in the
    file."""
    store.add("jchen", PASSWORD)
    with pytest.raises(SignInRefused):
        store.authenticate("jchen", "hunter2hunter2hunter2", HERE)
    assert store.conn.execute("SELECT account, address FROM failures").fetchall() == [("jchen", HERE)]
    assert b"hunter2hunter2hunter2" not in stored_bytes(store_path)


# --- throttling -------------------------------------------------------------------------------


def test_account_locked_after_max_failures_then_released(store, clock):
    """After three failures the account is refused even the right password for 15 minutes, and signs in again once they
    have passed."""
    store.add("jchen", PASSWORD)
    fail(store, "jchen", times=3)
    with pytest.raises(SignInRefused) as refused:
        store.authenticate("jchen", PASSWORD, HERE)
    assert refused.value.throttled
    clock.advance(minutes=14, seconds=59)
    with pytest.raises(SignInRefused):
        store.authenticate("jchen", PASSWORD, HERE)
    clock.advance(seconds=2)
    assert store.authenticate("jchen", PASSWORD, HERE).name == "jchen"


def test_account_lockout_counts_failures_from_every_address(store):
    """Failures against one account from three different addresses lock it for a fourth address too."""
    store.add("jchen", PASSWORD)
    for address in ("192.0.2.1", "192.0.2.2", "192.0.2.3"):
        fail(store, "jchen", address)
    with pytest.raises(SignInRefused) as refused:
        store.authenticate("jchen", PASSWORD, "192.0.2.4")
    assert refused.value.throttled


def test_failures_outside_the_window_do_not_count(store, clock):
    """Failures older than the 15-minute window do not count towards the account's lockout."""
    store.add("jchen", PASSWORD)
    fail(store, "jchen", times=2)
    clock.advance(minutes=16)
    fail(store, "jchen", times=2)  # 4 in all, but only 2 in the last 15 minutes
    assert store.authenticate("jchen", PASSWORD, HERE).name == "jchen"


def test_successful_signin_resets_the_account_count(store):
    """A successful sign-in clears the account's failures, so two more failures afterwards do not lock it."""
    store.add("jchen", PASSWORD)
    fail(store, "jchen", times=2)
    store.authenticate("jchen", PASSWORD, HERE)
    fail(store, "jchen", times=2)
    assert store.authenticate("jchen", PASSWORD, HERE).name == "jchen"


def test_address_locked_after_failures_across_names(store, clock):
    """Five failures from one address, each against a different name, lock that address for every account while other
    addresses still sign in, until 15 minutes have passed."""
    store.add("jchen", PASSWORD)
    store.add("mlee", PASSWORD)
    for name in ("a1", "a2", "a3", "a4", "mlee"):  # one each: no account reaches its own limit
        fail(store, name, HERE)
    with pytest.raises(SignInRefused) as refused:
        store.authenticate("jchen", PASSWORD, HERE)
    assert refused.value.throttled
    assert store.authenticate("jchen", PASSWORD, THERE).name == "jchen"  # other addresses unaffected
    clock.advance(minutes=15, seconds=1)
    assert store.authenticate("jchen", PASSWORD, HERE).name == "jchen"


def test_lockout_of_one_account_leaves_others_alone(store):
    """A locked account does not stop another account signing in from another address."""
    store.add("jchen", PASSWORD)
    store.add("mlee", PASSWORD)
    fail(store, "jchen", HERE, times=3)
    assert store.authenticate("mlee", PASSWORD, THERE).name == "mlee"


def test_password_reset_lifts_the_lockout(store):
    """Setting a new password lifts the account's lockout at once; the old password no longer works."""
    store.add("jchen", PASSWORD)
    fail(store, "jchen", times=3)
    store.set_password("jchen", "a brand new passphrase")
    assert store.authenticate("jchen", "a brand new passphrase", HERE).name == "jchen"
    with pytest.raises(SignInRefused):
        store.authenticate("jchen", PASSWORD, HERE)


# --- sessions ---------------------------------------------------------------------------------


def test_session_token_stored_only_as_sha256(store, store_path):
    """The store holds only the SHA-256 of a session token: the token itself is in no row, in no byte of the file, and
    in no dump of the database."""
    store.add("jchen", PASSWORD)
    session = store.start_session("jchen", HERE)
    rows = store.conn.execute("SELECT * FROM sessions").fetchall()
    assert len(rows) == 1
    assert hashlib.sha256(session.token.encode()).hexdigest() in rows[0]
    assert session.token not in rows[0]
    store.conn.execute("PRAGMA wal_checkpoint(FULL)")
    assert session.token.encode() not in stored_bytes(store_path)
    with sqlite3.connect(store_path) as conn:
        dump = "\n".join(conn.iterdump())
    assert session.token not in dump


def test_sessions_are_random_and_carry_their_own_csrf(store):
    """Each session has its own random 256-bit token and its own CSRF token, different from the session token."""
    store.add("jchen", PASSWORD)
    first, second = store.start_session("jchen", HERE), store.start_session("jchen", HERE)
    assert first.token != second.token and first.csrf != second.csrf
    assert first.csrf != first.token
    assert len(first.token) >= 43  # 256 bits, URL-safe base64
    assert store.session(first.token).csrf == first.csrf


def test_session_lookup(store):
    """A session found by its token names its account, how it signed in (password) and its token."""
    store.add("jchen", PASSWORD)
    session = store.start_session("jchen", HERE)
    found = store.session(session.token)
    assert (found.account, found.via, found.token) == ("jchen", "password", session.token)


@pytest.mark.parametrize("token", [None, "", "unknown-token", "x" * 129, "t\u00e9t\u00e9", "\x00"],
                         ids=["none", "empty", "unknown", "too-long", "non-ascii", "nul"])
def test_unknown_or_malformed_token_has_no_session(store, token):
    """Whatever a cookie holds, it is no session (and no error)."""
    store.add("jchen", PASSWORD)
    store.start_session("jchen", HERE)
    assert store.session(token) is None
    store.end_session(token)


def test_idle_session_expires(store, clock, settings):
    """A session used every 29 minutes stays alive, and ends (its row deleted) once it has been idle for longer than
    the idle limit."""
    store.add("jchen", PASSWORD)
    session = store.start_session("jchen", HERE)
    clock.advance(minutes=29)
    assert store.session(session.token) is not None
    clock.advance(minutes=29)  # 58 minutes since sign-in, 29 since the last request
    assert store.session(session.token) is not None
    clock.advance(minutes=settings.idle_minutes, seconds=1)
    assert store.session(session.token) is None
    assert store.conn.execute("SELECT count(*) FROM sessions").fetchone()[0] == 0


def test_absolute_expiry_ends_a_busy_session(store, clock):
    """A session used every 20 minutes still ends two hours after sign-in."""
    store.add("jchen", PASSWORD)
    session = store.start_session("jchen", HERE)
    for _ in range(5):
        clock.advance(minutes=20)
        assert store.session(session.token) is not None
    clock.advance(minutes=20, seconds=1)  # 2 hours and a second after sign-in, 20 minutes idle
    assert store.session(session.token) is None


def test_end_session_ends_that_session_only(store):
    """Signing out ends that session and leaves the account's other sessions alive."""
    store.add("jchen", PASSWORD)
    ended, kept = store.start_session("jchen", HERE), store.start_session("jchen", THERE)
    store.end_session(ended.token)
    assert store.session(ended.token) is None
    assert store.session(kept.token) is not None


def test_disable_ends_the_accounts_sessions(store):
    """Disabling an account ends its sessions and leaves other accounts' sessions alive."""
    store.add("jchen", PASSWORD)
    store.add("mlee", PASSWORD)
    theirs, other = store.start_session("jchen", HERE), store.start_session("mlee", HERE)
    store.disable("jchen")
    assert store.session(theirs.token) is None
    assert store.session(other.token) is not None


def test_disabled_account_session_refused_even_if_row_survives(store):
    """A session row of a disabled account (written by another process meanwhile) is not honoured."""
    store.add("jchen", PASSWORD)
    session = store.start_session("jchen", HERE)
    store.conn.execute("UPDATE accounts SET disabled = 1 WHERE name = 'jchen'")
    assert store.session(session.token) is None


def test_password_change_ends_the_accounts_sessions(store):
    """Changing an account's password ends its sessions and leaves other accounts' sessions alive."""
    store.add("jchen", PASSWORD)
    store.add("mlee", PASSWORD)
    theirs, other = store.start_session("jchen", HERE), store.start_session("mlee", HERE)
    store.set_password("jchen", "a brand new passphrase")
    assert store.session(theirs.token) is None
    assert store.session(other.token) is not None


def test_password_change_keeps_the_rules(store):
    """A new password is held to the same rules as the first one, an unknown account's password cannot be set, and the
    old password keeps working after a refusal."""
    store.add("jchen", PASSWORD)
    with pytest.raises(AccountError):
        store.set_password("jchen", "short")
    with pytest.raises(AccountError):
        store.set_password("nobody", "a brand new passphrase")
    assert store.authenticate("jchen", PASSWORD, HERE).name == "jchen"


def test_password_session_of_a_removed_account_is_refused(store):
    """A password session of an account that does not exist is not honoured."""
    session = store.start_session("ghost", HERE)
    assert store.session(session.token) is None


def test_sso_session_needs_no_local_account(store):
    """A single-sign-on session is honoured for a name that has no local account, and says it came by SSO."""
    session = store.start_session("jchen@example.edu", HERE, via="sso")
    assert store.session(session.token).via == "sso"


def test_disable_ends_the_accounts_sso_sessions_too(store):
    """Disabling an account deletes its single-sign-on sessions as well, and a surviving row is not honoured."""
    store.add("jchen", PASSWORD)
    sso, survivor = store.start_session("jchen", HERE, via="sso"), store.start_session("jchen", THERE, via="sso")
    store.disable("jchen")
    assert store.count_sessions("jchen") == 0
    assert store.session(sso.token) is None
    store.enable("jchen")
    survivor = store.start_session("jchen", THERE, via="sso")
    store.conn.execute("UPDATE accounts SET disabled = 1 WHERE name = 'jchen'")  # another process, meanwhile
    assert store.session(survivor.token) is None


def test_barred_says_why_a_vouched_for_name_may_not_come_in(store, clock):
    """``barred`` is ``disabled`` or ``locked`` (the account's own lock, not an address's) for a local account."""
    store.add("jchen", PASSWORD)
    store.add("mlee", PASSWORD)
    assert store.barred("jchen") is None
    assert store.barred("jchen@example.edu") is None  # no local account: nothing to bar
    store.disable("mlee")
    assert store.barred("mlee") == "disabled"
    for _ in range(3):
        with pytest.raises(SignInRefused):
            store.authenticate("jchen", "not the password at all", HERE)
    assert store.barred("jchen") == "locked"
    clock.advance(minutes=15, seconds=1)
    assert store.barred("jchen") is None
    for name in ("ghost", "ghoul", "wraith", "shade", "spook"):  # the address is locked, no account is
        with pytest.raises(SignInRefused):
            store.authenticate(name, "not the password at all", THERE)
    assert store.barred("jchen") is None


# --- the file ---------------------------------------------------------------------------------


def test_store_is_owner_only(store, store_path):
    """The accounts file, its write-ahead files and its folder are readable and writable by their owner only."""
    store.add("jchen", PASSWORD)
    store.start_session("jchen", HERE)
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600
    for extra in ("-wal", "-shm"):
        path = store_path.with_name(store_path.name + extra)
        if path.exists():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, extra
    assert stat.S_IMODE(store_path.parent.stat().st_mode) == 0o700


def test_store_permissions_tightened_on_open(store_path, settings):
    """An accounts file loosened to 0644 is made owner-only again when it is opened."""
    Accounts(store_path, settings).close()
    store_path.chmod(0o644)
    Accounts(store_path, settings).close()
    assert stat.S_IMODE(store_path.stat().st_mode) == 0o600


def test_accounts_survive_reopening(store_path, settings):
    """Accounts and sessions written by one store are found by the next one opened on the same file."""
    with Accounts(store_path, settings) as first:
        first.add("jchen", PASSWORD)
        session = first.start_session("jchen", HERE)
    with Accounts(store_path, settings) as second:
        assert second.authenticate("jchen", PASSWORD, HERE).name == "jchen"
        assert second.session(session.token).account == "jchen"


# --- accord user ------------------------------------------------------------------------------


@pytest.fixture
def ws(tmp_path) -> Workspace:
    return init_workspace(tmp_path / "ws")


def accord(ws: Workspace, *args: str, input: str | None = None):
    """``accord user ARGS --workspace WS`` through CliRunner, ``input`` on its standard input."""
    return run_cli("user", *args, "--workspace", str(ws.root), input=input)


def access_users(ws: Workspace) -> dict:
    return yaml.safe_load((ws.policies / "access.yaml").read_text(encoding="utf-8"))["users"] or {}


def account_names(ws: Workspace) -> list[str]:
    if not ws.accounts.exists():
        return []
    with Accounts(ws.accounts, PortalSettings()) as store:
        return [a.name for a in store.listing()]


def test_user_add_creates_account_and_lists_it(real_argon2, ws):
    """accord user add makes the account with an Argon2id hash of the password read from standard input and lists the
    user in access.yaml with the role."""
    result = accord(ws, "add", "jchen", "--role", "counsel", "--password-stdin", input="a long passphrase here\n")
    assert result.exit_code == 0, result.output
    assert "listed in access.yaml as counsel" in result.output
    with Accounts(ws.accounts, PortalSettings()) as store:
        assert store.authenticate("jchen", "a long passphrase here", HERE).name == "jchen"
        (stored,) = store.conn.execute("SELECT password_hash FROM accounts").fetchone()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert access_users(ws)["jchen"] == {"roles": ["counsel"]}


def test_user_add_writes_the_folder_owner_first_when_nobody_was_listed(ws):
    """The first accord user add in a workspace lists the folder's owner first with every role, so the owner keeps the
    rights they held while nobody was listed."""
    assert access_users(ws) == {}
    result = accord(ws, "add", "jchen", "--role", "counsel", "--password-stdin", input="a long passphrase here\n")
    assert result.exit_code == 0, result.output
    users = access_users(ws)
    assert list(users) == [os_user(), "jchen"]
    assert set(users[os_user()]["roles"]) == {"coordinator", "counsel", "director", "records-officer", "auditor"}
    policy = load_policy(ws.policies / "access.yaml", os_user())
    assert policy.user(os_user()) is not None  # the owner keeps the rights they held implicitly


def test_user_add_with_own_cases(ws):
    """accord user add --case lists a coordinator with the cases they own."""
    result = accord(ws, "add", "mlee", "--role", "coordinator", "--case", "ADR-2026-*", "--password-stdin",
                    input="a long passphrase here\n")
    assert result.exit_code == 0, result.output
    assert access_users(ws)["mlee"] == {"roles": ["coordinator"], "cases": ["ADR-2026-*"]}


def test_user_add_refuses_an_unknown_role(ws):
    """accord user add with a role access.yaml does not declare is refused, naming the role, and changes neither
    access.yaml nor the accounts."""
    before = (ws.policies / "access.yaml").read_bytes()
    result = accord(ws, "add", "jchen", "--role", "superuser", "--password-stdin", input="a long passphrase here\n")
    assert result.exit_code != 0
    assert "superuser" in result.output
    assert (ws.policies / "access.yaml").read_bytes() == before
    assert account_names(ws) == []


def test_user_add_refuses_a_user_listed_with_other_roles(ws):
    """accord user add for a user access.yaml already lists with other roles is refused and changes nothing."""
    grant(ws.policies / "access.yaml", "jchen", ("counsel",), workspace_owner=None)
    before = (ws.policies / "access.yaml").read_bytes()
    result = accord(ws, "add", "jchen", "--role", "director", "--password-stdin", input="a long passphrase here\n")
    assert result.exit_code != 0
    assert "already listed" in result.output
    assert (ws.policies / "access.yaml").read_bytes() == before
    assert account_names(ws) == []


def test_user_add_for_a_user_already_listed_with_those_roles(ws):
    """accord user add for a user access.yaml already lists with the same roles makes the account and says the user was
    already listed."""
    grant(ws.policies / "access.yaml", "jchen", ("counsel",), workspace_owner=None)
    result = accord(ws, "add", "jchen", "--role", "counsel", "--password-stdin", input="a long passphrase here\n")
    assert result.exit_code == 0, result.output
    assert "already listed" in result.output
    assert account_names(ws) == ["jchen"]


def test_user_add_refuses_a_short_password_before_touching_access_yaml(ws):
    """accord user add with a short password is refused before access.yaml is written or an account made."""
    before = (ws.policies / "access.yaml").read_bytes()
    result = accord(ws, "add", "jchen", "--role", "counsel", "--password-stdin", input="short\n")
    assert result.exit_code != 0
    assert "at least 12" in result.output
    assert (ws.policies / "access.yaml").read_bytes() == before
    assert account_names(ws) == []


@pytest.mark.parametrize("name", ["a b", "../x", "jchen@example.edu"])
def test_user_add_refuses_a_bad_name(ws, name):
    """accord user add with a name that cannot be an account name is refused and leaves access.yaml as it was."""
    before = (ws.policies / "access.yaml").read_bytes()
    result = accord(ws, "add", name, "--role", "counsel", "--password-stdin", input="a long passphrase here\n")
    assert result.exit_code != 0
    assert (ws.policies / "access.yaml").read_bytes() == before


def test_failed_user_add_for_an_existing_account_grants_nothing(ws):
    """An account not (or no longer) listed in access.yaml: adding it again fails and must change nothing."""
    with Accounts(ws.accounts, PortalSettings()) as store:
        store.add("jchen", PASSWORD)
    before = (ws.policies / "access.yaml").read_bytes()
    result = accord(ws, "add", "jchen", "--role", "director", "--password-stdin", input="a long passphrase here\n")
    assert result.exit_code != 0
    assert "already an account" in result.output
    assert (ws.policies / "access.yaml").read_bytes() == before


def test_user_list_json(ws):
    """accord user list --json gives each account's name, roles, state and creation time in UTC, and no password or
    hash."""
    for name, role in (("jchen", "counsel"), ("audit1", "auditor")):
        assert accord(ws, "add", name, "--role", role, "--password-stdin",
                      input="a long passphrase here\n").exit_code == 0
    result = accord(ws, "list", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert [(r["name"], r["roles"], r["disabled"]) for r in rows] == [
        ("audit1", ["auditor"], False), ("jchen", ["counsel"], False)]
    assert all(r["created"].endswith("+00:00") for r in rows)
    assert "passphrase" not in result.output and "argon2" not in result.output


def test_user_list_shows_an_account_without_role(ws):
    """accord user list shows an account that access.yaml does not list, with no roles."""
    with Accounts(ws.accounts, PortalSettings()) as store:
        store.add("nobody", PASSWORD)
    rows = json.loads(accord(ws, "list", "--json").output)
    assert rows[0]["name"] == "nobody" and rows[0]["roles"] == []


def test_user_disable_stops_signin_and_ends_sessions(ws):
    """accord user disable ends the account's sessions and stops it signing in, and accord user enable lets it in
    again."""
    assert accord(ws, "add", "jchen", "--role", "counsel", "--password-stdin",
                  input="a long passphrase here\n").exit_code == 0
    with Accounts(ws.accounts, PortalSettings()) as store:
        session = store.start_session("jchen", HERE)
    result = accord(ws, "disable", "jchen")
    assert result.exit_code == 0, result.output
    assert json.loads(accord(ws, "list", "--json").output)[0]["disabled"] is True
    with Accounts(ws.accounts, PortalSettings()) as store:
        assert store.session(session.token) is None
        with pytest.raises(SignInRefused):
            store.authenticate("jchen", "a long passphrase here", HERE)
    assert accord(ws, "enable", "jchen").exit_code == 0
    assert json.loads(accord(ws, "list", "--json").output)[0]["disabled"] is False


def test_user_passwd_changes_password_and_ends_sessions(ws):
    """accord user passwd sets the new password read from standard input, ends the account's sessions, and the old
    password no longer works."""
    assert accord(ws, "add", "jchen", "--role", "counsel", "--password-stdin",
                  input="a long passphrase here\n").exit_code == 0
    with Accounts(ws.accounts, PortalSettings()) as store:
        session = store.start_session("jchen", HERE)
    result = accord(ws, "passwd", "jchen", "--password-stdin", input="another long passphrase\n")
    assert result.exit_code == 0, result.output
    with Accounts(ws.accounts, PortalSettings()) as store:
        assert store.session(session.token) is None
        assert store.authenticate("jchen", "another long passphrase", HERE).name == "jchen"
        with pytest.raises(SignInRefused):
            store.authenticate("jchen", "a long passphrase here", HERE)


def test_user_passwd_refuses_a_short_password(ws):
    """accord user passwd refuses a short password and the old one keeps working."""
    assert accord(ws, "add", "jchen", "--role", "counsel", "--password-stdin",
                  input="a long passphrase here\n").exit_code == 0
    result = accord(ws, "passwd", "jchen", "--password-stdin", input="short\n")
    assert result.exit_code != 0
    with Accounts(ws.accounts, PortalSettings()) as store:
        assert store.authenticate("jchen", "a long passphrase here", HERE).name == "jchen"


@pytest.mark.parametrize("command", [["disable", "ghost"], ["enable", "ghost"],
                                     ["passwd", "ghost", "--password-stdin"]])
def test_user_commands_refuse_an_unknown_account(ws, command):
    """accord user disable, enable and passwd for an account that does not exist fail, naming it."""
    result = accord(ws, *command, input="a long passphrase here\n")
    assert result.exit_code != 0
    assert "no account ghost" in result.output


def test_user_commands_are_audited_without_the_password(ws):
    """Adding an account, changing its password and disabling it are each recorded in the audit log, and no password is
    anywhere in the catalog."""
    assert accord(ws, "add", "jchen", "--role", "counsel", "--password-stdin",
                  input="a long passphrase here\n").exit_code == 0
    assert accord(ws, "passwd", "jchen", "--password-stdin", input="another long passphrase\n").exit_code == 0
    assert accord(ws, "disable", "jchen").exit_code == 0
    with open_catalog(ws.catalog) as catalog:
        entries = list(audit.entries(catalog.db.conn, newest_first=False))
        dump = "\n".join(catalog.db.conn.iterdump())
    actions = [(e["action"], e["details"].get("account")) for e in entries if e["action"].startswith("account-")]
    assert actions == [("account-add", "jchen"), ("account-password", "jchen"), ("account-disable", "jchen")]
    assert "passphrase" not in dump
