"""The portal's local accounts and sign-in sessions, kept in ``.accord/accounts.db`` (owner-only).

Passwords are hashed with Argon2id (argon2-cffi's RFC 9106 profile) and never stored or
logged in clear. Failed sign-ins are counted per account and per network address; past
the configured number within the lock-out window, sign-in is refused for that window
without the password even being checked. Sessions are random 256-bit tokens of which
only the SHA-256 is stored, each with its own CSRF token, ending after an idle time and
after an absolute time, at sign-out, or when the account is disabled.

An account is an identity only: what it may do comes from ``access.yaml``, the same
rules the command line obeys.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline.config import PortalSettings
from pipeline.errors import AccountError, SignInRefused

NAME_PATTERN = r"[A-Za-z0-9._-]{1,64}"
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
#: How often a session's last-seen time is written (a busy session does not write on every request).
TOUCH_SECONDS = 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created REAL NOT NULL,
    password_changed REAL NOT NULL,
    disabled REAL
);
CREATE TABLE IF NOT EXISTS failures (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS failures_account ON failures (account, at);
CREATE INDEX IF NOT EXISTS failures_address ON failures (address, at);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    via TEXT NOT NULL,
    address TEXT NOT NULL,
    csrf TEXT NOT NULL,
    created REAL NOT NULL,
    last_seen REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_account ON sessions (account);
CREATE TABLE IF NOT EXISTS feeds (
    token_sha256 TEXT PRIMARY KEY,
    account TEXT NOT NULL UNIQUE,
    created REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Account:
    name: str
    created: float
    password_changed: float
    disabled: float | None


@dataclass(frozen=True)
class Session:
    token: str
    """The cookie value; only its SHA-256 is stored."""
    account: str
    via: str
    """``password`` (a local account) or ``sso`` (the institution's proxy)."""
    csrf: str
    created: float
    last_seen: float


def check_name(name: str) -> str:
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise AccountError("An account name may use letters, digits, '.', '_' and '-' (at most 64).")
    return name


def check_password(password: str, name: str) -> None:
    """NIST SP 800-63B: long rather than complicated; no composition rules, no truncation."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"A password needs at least {MIN_PASSWORD} characters.")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"A password may have at most {MAX_PASSWORD} characters.")
    if password.strip().lower() == name.lower() or len(set(password)) < 4:
        raise AccountError("That password is too easy to guess; choose a longer phrase.")


def _well_formed(token: str | None) -> bool:
    """A token as :meth:`Accounts.start_session` makes them (URL-safe base64); anything else is no session."""
    return bool(token) and re.fullmatch(r"[A-Za-z0-9_-]{16,128}", token) is not None


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class Accounts:
    """The account and session store; one instance per process, safe across threads."""

    def __init__(self, path: Path, settings: PortalSettings, clock: Callable[[], float] = time.time):
        self.path = path
        self.settings = settings
        self.clock = clock
        self.hasher = PasswordHasher()  # Argon2id, RFC 9106 low-memory profile
        # Each hash takes 64 MiB and a core for ~50 ms: a burst of sign-ins waits its turn instead
        # of exhausting memory (50 at once would want 3.2 GB).
        self._hashing = threading.BoundedSemaphore(2)
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not path.exists()
        if fresh:
            path.touch(mode=0o600)
        try:
            self.conn = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
            self.conn.execute("PRAGMA journal_mode = WAL")
            self.conn.execute("PRAGMA busy_timeout = 10000")
            self.conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise AccountError(f"The account store {path.name} could not be opened: {exc}.") from None
        path.chmod(0o600)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> "Accounts":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- accounts -------------------------------------------------------------------------

    def check_new(self, name: str) -> None:
        """Refuse a name that cannot be an account's, or that an account has already."""
        check_name(name)
        if any(a.name == name for a in self.listing()):
            raise AccountError(f"There is already an account {name}; nothing was changed.")

    def add(self, name: str, password: str) -> Account:
        check_name(name)
        check_password(password, name)
        now = self.clock()
        try:
            self.conn.execute("INSERT INTO accounts (name, password_hash, created, password_changed) "
                              "VALUES (?, ?, ?, ?)", [name, self.hasher.hash(password), now, now])
        except sqlite3.IntegrityError:
            raise AccountError(f"There is already an account {name}.") from None
        return self.get(name)

    def set_password(self, name: str, password: str) -> Account:
        """A new password; every session of the account ends."""
        self.get(name)
        check_password(password, name)
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("UPDATE accounts SET password_hash = ?, password_changed = ? WHERE name = ?",
                              [self.hasher.hash(password), self.clock(), name])
            self.conn.execute("DELETE FROM sessions WHERE account = ? AND via = 'password'", [name])
            self.conn.execute("DELETE FROM failures WHERE account = ?", [name])
        return self.get(name)

    def disable(self, name: str) -> Account:
        """The account can no longer sign in, its sessions (password and single sign-on) end at once,
        and its calendar feed stops."""
        self.get(name)
        with self.conn:
            self.conn.execute("BEGIN IMMEDIATE")
            self.conn.execute("UPDATE accounts SET disabled = ? WHERE name = ? AND disabled IS NULL",
                              [self.clock(), name])
            self.conn.execute("DELETE FROM sessions WHERE account = ?", [name])
            self.conn.execute("DELETE FROM feeds WHERE account = ?", [name])
        return self.get(name)

    def enable(self, name: str) -> Account:
        self.get(name)
        self.conn.execute("UPDATE accounts SET disabled = NULL WHERE name = ?", [name])
        return self.get(name)

    def get(self, name: str) -> Account:
        row = self.conn.execute("SELECT name, created, password_changed, disabled FROM accounts WHERE name = ?",
                                [name]).fetchone()
        if row is None:
            raise AccountError(f"There is no account {name}.")
        return Account(*row)

    def listing(self) -> list[Account]:
        rows = self.conn.execute("SELECT name, created, password_changed, disabled FROM accounts ORDER BY name")
        return [Account(*r) for r in rows]

    # --- sign-in --------------------------------------------------------------------------

    def _failures(self, name: str, address: str, now: float) -> tuple[int, int]:
        """Failed sign-ins within the lock-out window: for the account, and from the address."""
        window = now - self.settings.lockout_minutes * 60
        return self.conn.execute(
            "SELECT (SELECT count(*) FROM failures WHERE account = ? AND at > ?), "
            "(SELECT count(*) FROM failures WHERE address = ? AND at > ?)", [name, window, address, window],
        ).fetchone()

    def barred(self, name: str) -> str | None:
        """Why someone vouched for by single sign-on may not start a session: ``disabled`` when their local
        account is disabled, ``locked`` while it is locked out after failed sign-ins; ``None`` when neither
        (or when there is no local account of that name)."""
        row = self.conn.execute("SELECT disabled FROM accounts WHERE name = ?", [name]).fetchone()
        if row is None:
            return None
        if row[0] is not None:
            return "disabled"
        by_account, _ = self._failures(name, "", self.clock())  # the account's lock, not an address's
        return "locked" if by_account >= self.settings.max_failures_per_account else None

    def authenticate(self, name: str, password: str, address: str) -> Account:
        """The account, if the password is right and neither it nor the address is locked out."""
        now = self.clock()
        name = name.strip()[:64]
        by_account, by_address = self._failures(name, address, now)
        if by_account >= self.settings.max_failures_per_account or by_address >= self.settings.max_failures_per_address:
            raise SignInRefused(f"Too many failed sign-ins; try again in {self.settings.lockout_minutes} minutes.",
                                throttled=True)
        row = self.conn.execute("SELECT password_hash, disabled FROM accounts WHERE name = ?", [name]).fetchone()
        stored = row[0] if row else self._dummy  # the same work whether or not the account exists
        with self._hashing:
            try:
                good = self.hasher.verify(stored, password[:MAX_PASSWORD])
            except (VerificationError, InvalidHashError):
                good = False
        if not good or row is None or row[1] is not None:
            self.conn.execute("INSERT INTO failures (account, address, at) VALUES (?, ?, ?)", [name, address, now])
            self.conn.execute("DELETE FROM failures WHERE at < ?", [now - 7 * 86400])
            raise SignInRefused("The name or the password is not right (or the account is disabled).")
        self.conn.execute("DELETE FROM failures WHERE account = ?", [name])
        if self.hasher.check_needs_rehash(stored):
            self.conn.execute("UPDATE accounts SET password_hash = ? WHERE name = ?", [self.hasher.hash(password), name])
        return self.get(name)

    # --- sessions -------------------------------------------------------------------------

    def start_session(self, account: str, address: str, via: str = "password") -> Session:
        token, csrf, now = secrets.token_urlsafe(32), secrets.token_urlsafe(32), self.clock()
        self.conn.execute(
            "INSERT INTO sessions (token_sha256, account, via, address, csrf, created, last_seen) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)", [_sha(token), account, via, address, csrf, now, now],
        )
        self.conn.execute("DELETE FROM sessions WHERE last_seen < ? OR created < ?",
                          [now - self.settings.idle_minutes * 60, now - self.settings.absolute_hours * 3600])
        return Session(token, account, via, csrf, now, now)

    def session(self, token: str | None) -> Session | None:
        """The live session for a cookie value, its last-seen time renewed; ``None`` when ended or expired."""
        if not _well_formed(token):
            return None
        key = _sha(token)
        row = self.conn.execute(
            "SELECT s.account, s.via, s.csrf, s.created, s.last_seen, a.disabled, a.name IS NOT NULL "
            "FROM sessions s LEFT JOIN accounts a ON a.name = s.account WHERE s.token_sha256 = ?", [key],
        ).fetchone()
        if row is None:
            return None
        account, via, csrf, created, last_seen, disabled, has_account = row
        now = self.clock()
        expired = (now - last_seen > self.settings.idle_minutes * 60
                   or now - created > self.settings.absolute_hours * 3600)
        # A password session needs its account; an SSO session may have none, but not a disabled one.
        if expired or disabled is not None or (via == "password" and not has_account):
            self.conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", [key])
            return None
        if now - last_seen > TOUCH_SECONDS:
            self.conn.execute("UPDATE sessions SET last_seen = ? WHERE token_sha256 = ?", [now, key])
            last_seen = now
        return Session(token, account, via, csrf, created, last_seen)

    def count_sessions(self, account: str | None = None) -> int:
        """How many session rows are stored (live or not yet swept), for one account or for all."""
        if account is None:
            return self.conn.execute("SELECT count(*) FROM sessions").fetchone()[0]
        return self.conn.execute("SELECT count(*) FROM sessions WHERE account = ?", [account]).fetchone()[0]

    # --- calendar feeds ---------------------------------------------------------------------

    def new_feed(self, account: str) -> str:
        """A new secret for ``account``'s private calendar feed (one per person: the previous one
        stops working). Only its SHA-256 is stored; the secret is shown once."""
        token = secrets.token_urlsafe(32)
        self.conn.execute("INSERT OR REPLACE INTO feeds (token_sha256, account, created) VALUES (?, ?, ?)",
                          [_sha(token), account, self.clock()])
        return token

    def feed_owner(self, token: str | None) -> str | None:
        """Whose feed a secret opens (``None`` for an unknown, revoked or ill-formed one, or a disabled account)."""
        if not _well_formed(token):
            return None
        row = self.conn.execute("SELECT f.account, a.disabled FROM feeds f LEFT JOIN accounts a ON a.name = f.account "
                                "WHERE f.token_sha256 = ?", [_sha(token)]).fetchone()
        if row is None or row[1] is not None:
            return None
        return row[0]

    def has_feed(self, account: str) -> float | None:
        """When ``account``'s feed was made, or ``None`` when it has none."""
        row = self.conn.execute("SELECT created FROM feeds WHERE account = ?", [account]).fetchone()
        return row[0] if row else None

    def revoke_feed(self, account: str) -> bool:
        """Stop ``account``'s feed; whether there was one."""
        return self.conn.execute("DELETE FROM feeds WHERE account = ?", [account]).rowcount > 0

    def end_session(self, token: str | None) -> None:
        if _well_formed(token):
            self.conn.execute("DELETE FROM sessions WHERE token_sha256 = ?", [_sha(token)])
