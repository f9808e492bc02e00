"""The options every command shares: --workspace, --json and --log-format before or after the command, dates, and the workspace opened for the user running the command."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any, Callable

import click
from click.core import ParameterSource

from pipeline import logformat
from pipeline.display import escape, read_date
from pipeline.errors import AccordError, DateError
from pipeline.workspace import Workspace, resolve_workspace

_GIVEN = "accord.given"


_VERBOSE = "accord.verbose"


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if ctx.get_parameter_source(param.name) is ParameterSource.COMMANDLINE:
        ctx.meta.setdefault(_GIVEN, {})[param.name] = value
    return value


def _global_option(name: str) -> click.Option:
    """A fresh ``click.Option`` for one of the options every level takes."""
    if name == "workspace":
        return click.Option(["--workspace", "-w", "workspace"], type=click.Path(file_okay=False, path_type=Path),
                            default=None, expose_value=False, callback=_remember,
                            help="Workspace folder (default: $ACCORD_HOME or this checkout).")
    if name == "as_json":
        return click.Option(["--json", "as_json"], is_flag=True, expose_value=False, callback=_remember,
                            help="Print JSON instead of a table.")
    return click.Option(["--log-format", "log_format"], type=click.Choice(["text", "json"]), default=None,
                        expose_value=False, callback=_remember,
                        help="Log lines for people (text, the default) or for log collectors (json).")


_GLOBAL_FLAGS = {"workspace": "--workspace", "as_json": "--json", "log_format": "--log-format"}


def given(name: str, default: Any = None) -> Any:
    """The value of a global option as given last (after the subcommand rather than before it)."""
    return click.get_current_context().meta.get(_GIVEN, {}).get(name, default)


def _takes(callback: Callable | None) -> frozenset[str]:
    return frozenset(getattr(callback, "_accord_globals", ())) | {"log_format"}


def _mark(wrapper: Callable, name: str) -> Callable:
    wrapper._accord_globals = frozenset(getattr(wrapper, "_accord_globals", ())) | {name}  # type: ignore[attr-defined]
    return wrapper


def _add_globals(params: list[click.Parameter], names: frozenset[str]) -> None:
    have = {p.name for p in params}
    params.extend(_global_option(n) for n in _GLOBAL_FLAGS if n in names and n not in have)


def _configure_logging(ctx: click.Context) -> None:
    level = logging.INFO if ctx.meta.get(_VERBOSE) else logging.WARNING
    logformat.configure(level, given("log_format", "text"))


class AccordCommand(click.Command):
    """A command taking --log-format, and --workspace / --json when its callback uses them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_globals(self.params, _takes(self.callback))

    def invoke(self, ctx: click.Context) -> Any:
        taken = _takes(self.callback)
        for name in ctx.meta.get(_GIVEN, {}):
            if name not in taken:
                raise click.UsageError(f"{ctx.command_path} does not take {_GLOBAL_FLAGS[name]}.", ctx)
        _configure_logging(ctx)
        return super().invoke(ctx)


class AccordGroup(click.Group):
    """A group taking every global option; its commands are :class:`AccordCommand`, its groups its kind."""

    command_class = AccordCommand
    group_class = type

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_globals(self.params, frozenset(_GLOBAL_FLAGS))

    def invoke(self, ctx: click.Context) -> Any:
        _configure_logging(ctx)
        return super().invoke(ctx)


def workspace_option(func: Callable) -> Callable:
    """``--workspace PATH`` (before or after the subcommand; else ACCORD_HOME, else this checkout)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        if isinstance(ctx.command, click.Group) and ctx.invoked_subcommand:
            return func(*args, ws=None, **kwargs)  # the subcommand opens it (its own --workspace is still to come)
        try:
            ws = resolve_workspace(given("workspace"))
            return func(*args, ws=ws, **kwargs)
        except AccordError as exc:
            raise click.ClickException(escape(exc)) from None

    return _mark(wrapper, "workspace")


def json_option(func: Callable) -> Callable:
    """``--json`` (before or after the subcommand)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return func(*args, as_json=bool(given("as_json", False)), **kwargs)

    return _mark(wrapper, "as_json")


class DateParam(click.ParamType):
    """A date option (YYYY-MM-DD) read by :func:`pipeline.display.read_date`: an impossible date says why."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return read_date(value)
        except DateError as exc:
            self.fail(str(exc), param, ctx)


DATE = DateParam()


def session_for(ws: Workspace) -> Any:
    """The workspace opened for the operating-system user running this command."""
    from pipeline.governance.access import current_actor
    from pipeline.office import OfficeSession

    return OfficeSession(ws, current_actor())


def desk_for(ws: Workspace) -> Any:
    from pipeline.office import RetentionDesk

    return RetentionDesk(session_for(ws))
