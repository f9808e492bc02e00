"""Access rules: who may do what with which records. Deny by default.

``retention_policies/access.yaml`` names roles, users (each with roles and,
optionally, the cases that are theirs) and rules granting a role actions on record
classes, optionally narrowed by record status or to the user's own cases. An
unknown user, an unknown role or a missing rule means no access. A workspace whose
file lists no users at all is administered by the owner of the workspace folder
(what ``accord init`` writes down explicitly).

:func:`decide` is a pure function of (policy, actor, action, record) returning the
decision with its reason; :func:`search_filter` turns the same rules into SQL, so
search results and counts never include what the user may not see.
"""

from __future__ import annotations

import fnmatch
import getpass
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import yaml

from pipeline.errors import ConfigurationError

ACCESS_FILE = "access.yaml"
DEFAULT_ROLES = ("coordinator", "counsel", "director", "records-officer", "auditor")
#: Actions on records, and actions on cases (a case's register entry, timeline and events; ``report``
#: counts cases in the Director's de-identified report, without seeing them: a rule granting a case
#: action may be narrowed to the user's own cases; record classes and statuses do not apply).
RECORD_ACTIONS = ("search", "view", "retrieve", "hold", "approve-disposition", "read-audit")
CASE_ACTIONS = ("view-case", "manage-case", "report")
ACTIONS = RECORD_ACTIONS + CASE_ACTIONS
ALL = "*"


@dataclass(frozen=True)
class Actor:
    name: str
    via: str = "cli"
    """How the actor was identified (the operating-system user, or the portal's sign-in)."""


@dataclass(frozen=True)
class User:
    name: str
    roles: tuple[str, ...]
    cases: tuple[str, ...] = ()
    """Case-id patterns (``ADR-2026-*``) that are this user's own cases."""


@dataclass(frozen=True)
class Rule:
    role: str
    actions: tuple[str, ...]
    record_classes: tuple[str, ...] = (ALL,)
    statuses: tuple[str, ...] = ()
    own_cases: bool = False


@dataclass(frozen=True)
class AccessPolicy:
    roles: tuple[str, ...]
    users: Mapping[str, User]
    rules: tuple[Rule, ...]
    owner: str | None = None
    """The workspace folder's owner, who administers a workspace that lists no users."""

    def user(self, name: str) -> User | None:
        if name in self.users:
            return self.users[name]
        if not self.users and self.owner and name == self.owner:
            return User(name, self.roles, (ALL,))  # every role, on every case
        return None


@dataclass(frozen=True)
class RecordFacts:
    """What a decision may look at: never the content, only the record's class, status and case."""

    record_id: str
    record_class: str
    status: str
    case_id: str

    @classmethod
    def of(cls, row: Mapping[str, Any]) -> "RecordFacts":
        return cls(row["record_id"], row["record_class"], row["status"], row["case_id"])


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


def decide(policy: AccessPolicy, actor: Actor, action: str, record: RecordFacts | None = None) -> Decision:
    """May ``actor`` do ``action`` (on ``record``)? Deny unless a rule grants it. A case action is
    decided on the record's case (:func:`decide_case`)."""
    if action in CASE_ACTIONS:
        return decide_case(policy, actor, action, record.case_id if record else None)
    if action not in ACTIONS:
        return Decision(False, f"'{action}' is not an action Accord knows")
    user = policy.user(actor.name)
    if user is None:
        return Decision(False, f"{actor.name} is not a user of this workspace")
    roles = [r for r in user.roles if r in policy.roles]
    if not roles:
        return Decision(False, f"{actor.name} holds no known role")
    for rule in policy.rules:
        if rule.role not in roles or action not in rule.actions:
            continue
        if record is None:
            return Decision(True, f"role {rule.role} may {action}")
        if not _matches(rule, user, record):
            continue
        return Decision(True, f"role {rule.role} may {action} {record.record_class} records"
                              + (f" with status {record.status}" if rule.statuses else "")
                              + (" of the user's own cases" if rule.own_cases else ""))
    target = f" {record.record_class} record {record.record_id}" if record else ""
    return Decision(False, f"no rule lets {', '.join(roles)} {action}{target}")


def _matches(rule: Rule, user: User, record: RecordFacts) -> bool:
    if ALL not in rule.record_classes and record.record_class not in rule.record_classes:
        return False
    if rule.statuses and record.status not in rule.statuses:
        return False
    if rule.own_cases and not any(fnmatch.fnmatchcase(record.case_id, p) for p in user.cases):
        return False
    return True


def decide_case(policy: AccessPolicy, actor: Actor, action: str, case_id: str | None = None) -> Decision:
    """May ``actor`` do the case action ``action`` (on case ``case_id``)? Deny unless a rule grants it."""
    if action not in CASE_ACTIONS:
        return Decision(False, f"'{action}' is not an action on cases")
    user = policy.user(actor.name)
    if user is None:
        return Decision(False, f"{actor.name} is not a user of this workspace")
    roles = [r for r in user.roles if r in policy.roles]
    for rule in policy.rules:
        if rule.role not in roles or action not in rule.actions:
            continue
        if case_id is None or not rule.own_cases or any(fnmatch.fnmatchcase(case_id, p) for p in user.cases):
            return Decision(True, f"role {rule.role} may {action}" + (" on the user's own cases" if rule.own_cases
                                                                      else ""))
    target = f" on case {case_id}" if case_id else ""
    return Decision(False, f"no rule lets {', '.join(roles) or actor.name} {action}{target}")


def case_filter(policy: AccessPolicy, actor: Actor, action: str = "view-case", alias: str = "c",
                column: str = "case_id") -> tuple[str, list[Any]]:
    """SQL on ``alias.column`` (a case id) that keeps exactly the cases :func:`decide_case` allows
    (``0`` when none)."""
    user = policy.user(actor.name)
    if user is None or action not in CASE_ACTIONS:
        return "0", []
    clauses, params = [], []
    for rule in policy.rules:
        if rule.role not in user.roles or rule.role not in policy.roles or action not in rule.actions:
            continue
        if not rule.own_cases:
            return "1", []
        if user.cases:
            clauses.append("(" + " OR ".join(f"{alias}.{column} GLOB ?" for _ in user.cases) + ")")
            params += list(user.cases)
    return ("(" + " OR ".join(clauses) + ")", params) if clauses else ("0", [])


def search_filter(policy: AccessPolicy, actor: Actor, action: str = "search", alias: str = "r") -> tuple[str, list[Any]]:
    """SQL that keeps exactly the records :func:`decide` allows (``0`` when none)."""
    user = policy.user(actor.name)
    if user is None or action not in RECORD_ACTIONS:
        return "0", []
    clauses, params = [], []
    for rule in policy.rules:
        if rule.role not in user.roles or rule.role not in policy.roles or action not in rule.actions:
            continue
        parts, rule_params = [], []
        if ALL not in rule.record_classes:
            parts.append(f"{alias}.record_class IN ({', '.join('?' * len(rule.record_classes))})")
            rule_params += list(rule.record_classes)
        if rule.statuses:
            parts.append(f"{alias}.status IN ({', '.join('?' * len(rule.statuses))})")
            rule_params += list(rule.statuses)
        if rule.own_cases:
            if not user.cases:
                continue
            parts.append("(" + " OR ".join(f"{alias}.case_id GLOB ?" for _ in user.cases) + ")")
            rule_params += list(user.cases)
        if not parts:
            return "1", []
        clauses.append("(" + " AND ".join(parts) + ")")
        params += rule_params
    return ("(" + " OR ".join(clauses) + ")", params) if clauses else ("0", [])


# --- loading -----------------------------------------------------------------------------


def current_actor() -> Actor:
    """The operating-system user running this command."""
    try:
        import pwd

        name = pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        name = getpass.getuser()
    return Actor(name, via="os-user")


def load_policy(path: Path, workspace_owner: str | None = None) -> AccessPolicy:
    """Read and check ``access.yaml``; a missing file means the default roles and rules, no users."""
    if not path.exists():
        return AccessPolicy(DEFAULT_ROLES, {}, (), owner=workspace_owner)
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{path.name} is not valid YAML: {exc}") from None
    return parse_policy(raw or {}, _lines(data), path.name, workspace_owner)


def _lines(node: Any, prefix: str = "") -> dict[str, int]:
    """The line of every key, by dotted path, for error messages."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            path = f"{prefix}.{key.value}" if prefix else str(key.value)
            lines[path] = key.start_mark.line + 1
            lines.update(_lines(value, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            path = f"{prefix}[{i}]"
            lines[path] = value.start_mark.line + 1
            lines.update(_lines(value, path))
    return lines


def parse_policy(raw: Mapping[str, Any], lines: Mapping[str, int] | None = None, name: str = ACCESS_FILE,
                 workspace_owner: str | None = None) -> AccessPolicy:
    lines = lines or {}

    def fail(path: str, message: str) -> ConfigurationError:
        line = lines.get(path)
        return ConfigurationError(f"{name}{f', line {line}' if line else ''}: {message}")

    if not isinstance(raw, Mapping):
        raise fail("", "the file must be a mapping with roles, users and rules")
    for key in raw:
        if key not in ("roles", "users", "rules"):
            raise fail(str(key), f"unexpected key '{key}' (expected roles, users, rules)")
    roles_raw = raw.get("roles") or {}
    if isinstance(roles_raw, list):
        roles = tuple(str(r) for r in roles_raw)
    elif isinstance(roles_raw, Mapping):
        roles = tuple(str(r) for r in roles_raw)
    else:
        raise fail("roles", "roles must be a list or a mapping of role names")
    roles = roles or DEFAULT_ROLES

    users: dict[str, User] = {}
    for uname, entry in (raw.get("users") or {}).items():
        where = f"users.{uname}"
        if isinstance(entry, list):
            entry = {"roles": entry}
        if not isinstance(entry, Mapping):
            raise fail(where, f"user {uname} must have a list of roles")
        for key in entry:
            if key not in ("roles", "cases", "name"):
                raise fail(f"{where}.{key}", f"unexpected key '{key}' for user {uname} (expected roles, cases)")
        user_roles = tuple(str(r) for r in entry.get("roles") or ())
        for role in user_roles:
            if role not in roles:
                raise fail(f"{where}.roles", f"user {uname} has unknown role '{role}'")
        cases = entry.get("cases") or ()
        if not isinstance(cases, (list, tuple)):
            raise fail(f"{where}.cases", f"cases of user {uname} must be a list of case ids or patterns")
        for pattern in cases:
            # Only * and ? as wildcards: they mean the same to Python's fnmatch and to SQLite's GLOB.
            if not isinstance(pattern, str) or not re.fullmatch(r"[A-Za-z0-9._*?-]{1,64}", pattern):
                raise fail(f"{where}.cases", f"case pattern {pattern!r} of user {uname} may use letters, digits, "
                                             "'.', '_', '-' and the wildcards * and ? only")
        users[str(uname)] = User(str(uname), user_roles, tuple(str(c) for c in cases))

    rules = []
    for i, entry in enumerate(raw.get("rules") or ()):
        where = f"rules[{i}]"
        if not isinstance(entry, Mapping):
            raise fail(where, "each rule must be a mapping")
        for key in entry:
            if key not in ("role", "actions", "record_classes", "statuses", "own_cases"):
                raise fail(f"{where}.{key}", f"unexpected key '{key}' in a rule")
        role = entry.get("role")
        if role not in roles:
            raise fail(f"{where}.role", f"rule {i + 1} names unknown role '{role}'")
        actions = _names(entry.get("actions"))
        for action in actions:
            if action not in ACTIONS:
                raise fail(f"{where}.actions", f"rule {i + 1} names unknown action '{action}' "
                                               f"(actions: {', '.join(ACTIONS)})")
        if not actions:
            raise fail(where, f"rule {i + 1} grants no actions")
        classes = _names(entry.get("record_classes")) or (ALL,)
        statuses = _names(entry.get("statuses"))
        own = entry.get("own_cases", False)
        if not isinstance(own, bool):
            raise fail(f"{where}.own_cases", "own_cases must be true or false")
        rules.append(Rule(str(role), actions, classes, statuses, own))
    return AccessPolicy(roles, users, tuple(rules), owner=workspace_owner)


def _names(value: Any) -> tuple[str, ...]:
    """A list of names; a single name written without brackets counts as a list of one."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


def folder_owner(path: Path) -> str | None:
    try:
        import pwd

        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return None


def policy_for(ws_root: Path, policies: Path) -> AccessPolicy:
    return load_policy(policies / ACCESS_FILE, folder_owner(ws_root))


def grant(path: Path, name: str, roles: tuple[str, ...], cases: tuple[str, ...] = (),
          workspace_owner: str | None = None, comment: str | None = None) -> bool:
    """List ``name`` in ``access.yaml`` with ``roles`` (and ``cases``), keeping the file's comments.

    Returns ``False`` when the user is already listed with those roles. A user listed with
    other roles is not changed silently: the file is edited by hand for that. While the file
    lists nobody, its folder's owner holds every role; the owner is written down first so that
    listing someone else does not take those rights away.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "users: {}\n"
    policy = load_policy(path, workspace_owner) if path.exists() else AccessPolicy(DEFAULT_ROLES, {}, ())
    for role in roles:
        if role not in policy.roles:
            raise ConfigurationError(f"There is no role '{role}' in {path.name} (roles: {', '.join(policy.roles)}).")
    existing = policy.users.get(name)
    if existing is not None:
        if set(roles) <= set(existing.roles) and set(cases) <= set(existing.cases):
            return False
        raise ConfigurationError(f"{name} is already listed in {path.name} with roles {', '.join(existing.roles)}; "
                                 "edit the file to change them.")
    for pattern in cases:
        if not re.fullmatch(r"[A-Za-z0-9._*?-]{1,64}", pattern):
            raise ConfigurationError(f"Case pattern {pattern!r} may use letters, digits, '.', '_', '-' and * ? only.")
    entries = []
    if not policy.users and workspace_owner and workspace_owner != name:
        entries.append(_user_line(workspace_owner, policy.roles, (ALL,)))
    if comment:
        entries.append(f"# {comment}")
    entries.append(_user_line(name, roles, cases))
    lines = text.splitlines()
    at = next((i for i, line in enumerate(lines) if re.match(r"users:\s*(\{\s*\})?\s*(#.*)?$", line)), None)
    if at is None:
        raise ConfigurationError(f"{path.name} has no top-level 'users:' line to add {name} under; add them by hand.")
    lines[at] = "users:"
    new_text = "\n".join(lines[:at + 1] + ["  " + e for e in entries] + lines[at + 1:]) + "\n"
    data = yaml.safe_load(new_text)
    parse_policy(data or {}, None, path.name, workspace_owner)  # refuse to write a file that would not load
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new_text, encoding="utf-8")
    if path.exists():
        os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)
    return True


def _user_line(name: str, roles: tuple[str, ...], cases: tuple[str, ...]) -> str:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}(@[A-Za-z0-9.-]{1,128})?", name):
        raise ConfigurationError("A user name may use letters, digits, '.', '_', '-' (and one @domain).")
    line = f"{name}: {{roles: [{', '.join(roles)}]"
    if cases:
        line += ", cases: [" + ", ".join(f'"{c}"' for c in cases) + "]"
    return line + "}"
