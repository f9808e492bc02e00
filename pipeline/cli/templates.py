"""``accord templates check``: the Word templates against their declarations."""

from __future__ import annotations

import sys

import click

from pipeline.cli.options import AccordGroup, json_option, workspace_option
from pipeline.cli.output import echo, print_json
from pipeline.workspace import Workspace


@click.group(cls=AccordGroup)
def templates() -> None:
    """Work with the Word templates and their declarations."""


@templates.command("check")
@workspace_option
@json_option
def templates_check(ws: Workspace, as_json: bool) -> None:
    """Compare each template's variables with the fields its declaration names.

    \b
    Example:
        accord templates check
    """
    from pipeline.documents.templates import check_template, load_templates

    results = [check_template(spec) for spec in load_templates(ws.templates).values()]
    if as_json:
        print_json([{"template": r.name, "ok": r.ok, "undeclared": r.undeclared, "unused": r.unused,
                      "missing_bookmarks": r.missing_bookmarks} for r in results])
    else:
        for r in results:
            echo(f"{'ok    ' if r.ok else 'FAILED'} {r.name}")
            for path in r.undeclared:
                echo(f"    used by the template but not declared: {path}")
            for path in r.unused:
                echo(f"    declared but not used by the template: {path}")
            for name in r.missing_bookmarks:
                echo(f"    signature bookmark missing: {name}")
    if not all(r.ok for r in results):
        sys.exit(1)
