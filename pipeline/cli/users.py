"""``accord user``: portal accounts (a name and an Argon2id password; roles come from access.yaml)."""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from pipeline.cli.options import AccordGroup, json_option, workspace_option
from pipeline.cli.output import echo, print_json
from pipeline.workspace import Workspace


@click.group(cls=AccordGroup)
def user() -> None:
    """Portal accounts: a name and an Argon2id-hashed password; roles come from access.yaml."""


def _account_store(ws: Workspace) -> Any:
    from pipeline.governance.accounts import Accounts

    return Accounts(ws.accounts, ws.load_config().portal)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _audit_account(ws: Workspace, action: str, name: str, details: dict[str, Any]) -> None:
    from pipeline.governance.access import current_actor
    from pipeline.records.audit import AuditEntry
    from pipeline.store import open_catalog

    with open_catalog(ws.catalog) as catalog:
        catalog.audit(AuditEntry(current_actor().name, action, "ok", details={"account": name, **details}))


@user.command("add")
@workspace_option
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True, help="Role from access.yaml (repeat for several).")
@click.option("--case", "cases", multiple=True, help="A case id or pattern (ADR-2026-*) that is this user's own.")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def user_add(ws: Workspace, name: str, roles: tuple[str, ...], cases: tuple[str, ...], password_stdin: bool) -> None:
    """Create a portal account and list NAME in access.yaml with its roles.

    \b
    Example:
        accord user add jchen --role counsel
        accord user add mlee --role coordinator --case "ADR-2026-*"
    """
    from pipeline.governance.access import ACCESS_FILE, current_actor
    from pipeline.office import enrol

    with _account_store(ws) as store:
        store.check_new(name)  # before asking for a password
        listed = enrol(ws, store, name, roles, cases, _read_password(password_stdin), current_actor().name)
    echo(f"Account {name} created" + (f"; listed in {ACCESS_FILE} as {', '.join(roles)}." if listed
                                        else f"; already listed in {ACCESS_FILE}."))


@user.command("passwd")
@workspace_option
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def user_passwd(ws: Workspace, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; the account's sessions end.

    \b
    Example:
        accord user passwd jchen
    """
    with _account_store(ws) as store:
        store.get(name)
        store.set_password(name, _read_password(password_stdin))
    _audit_account(ws, "account-password", name, {})
    echo(f"Password of {name} changed; their sessions have ended.")


@user.command("disable")
@workspace_option
@click.argument("name")
def user_disable(ws: Workspace, name: str) -> None:
    """Stop NAME from signing in; their sessions end at once.

    \b
    Example:
        accord user disable jchen
    """
    with _account_store(ws) as store:
        store.disable(name)
    _audit_account(ws, "account-disable", name, {})
    echo(f"Account {name} disabled.")


@user.command("enable")
@workspace_option
@click.argument("name")
def user_enable(ws: Workspace, name: str) -> None:
    """Let a disabled account sign in again.

    \b
    Example:
        accord user enable jchen
    """
    with _account_store(ws) as store:
        store.enable(name)
    _audit_account(ws, "account-enable", name, {})
    echo(f"Account {name} enabled.")


@user.command("list")
@workspace_option
@json_option
def user_list(ws: Workspace, as_json: bool) -> None:
    """Every portal account, with its roles from access.yaml.

    \b
    Example:
        accord user list
    """
    from pipeline.governance.access import policy_for

    policy = policy_for(ws.root, ws.policies)
    with _account_store(ws) as store:
        accounts = store.listing()
    rows = [{"name": a.name, "roles": list(policy.user(a.name).roles) if policy.user(a.name) else [],
             "disabled": a.disabled is not None,
             "created": dt.datetime.fromtimestamp(a.created, dt.timezone.utc).isoformat(timespec="seconds")}
            for a in accounts]
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("No portal accounts; add one with: accord user add NAME --role ROLE")
    for r in rows:
        echo(f"{r['name']:<20} {', '.join(r['roles']) or '(no role in access.yaml)':<40} "
              f"{'disabled' if r['disabled'] else 'active'}")
