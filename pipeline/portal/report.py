"""The Director's report in the portal: the period form, the report's tables with their charts, each
chart as an image of its own (``/report/chart/{table}.png``), and "Seal and archive" (a sealed PDF/A
``program-report`` record).

Everything goes through :class:`~pipeline.reportdesk.ReportDesk`: the right to ``report`` is checked
(and a refusal audited) before anything is counted, only the cases that right covers are counted,
and every report made is an audit entry. The report a page showed is kept for a couple of minutes
(``Portal.reports``) so that its charts are drawn from it rather than counted again for each image.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from pipeline.errors import AccessDenied, AccordError, RecordNotFound
from pipeline.governance.access import case_filter
from pipeline.portal.requests import Ctx, form_date, redirect
from pipeline.reportdesk import ReportDesk
from pipeline.reports.charts import chart_png
from pipeline.reports.document import SUPPRESSED, opening, table_rows
from pipeline.reports.period import Period
from pipeline.reports.tables import Report, Table, empty_message

#: The id of a sealed report (``ReportDesk.seal``): the only record id the page's notice names.
SEALED_ID = re.compile(r"REPORT-\d{4}-\d{2}-\d{2}-\d{4}-\d{2}-\d{2}-[0-9a-f]{8}")
TABLE_ID = re.compile(r"[a-z0-9-]{1,64}")
NO_CHART = "There is no such chart."

@dataclass(frozen=True)
class Shown:
    """One table as the page shows it: its printed rows (the totals row apart) and its chart's address."""

    table: Table
    header: list[str]
    rows: list[list[str]]
    totals: list[str] | None
    chart: str | None


def report_page(ctx: Ctx) -> Response:
    ctx.office.require("report")  # refused and audited before anything is read
    return _view(ctx, {"from": ctx.param("from", 40), "to": ctx.param("to", 40)})


def chart(ctx: Ctx) -> Response:
    """One table's chart for the period of the page's address; not found for an unknown table or one without a chart."""
    ctx.office.require("report")
    table_id = ctx.request.path_params["table_id"]
    if not TABLE_ID.fullmatch(table_id):
        raise RecordNotFound(NO_CHART)
    period = _period(_desk(ctx), {"from": ctx.param("from", 40), "to": ctx.param("to", 40)})
    key = _key(ctx, period)
    png = ctx.portal.reports.get((*key, table_id))
    if png is None:
        table = next((t for t in _report(ctx, period, "chart").tables if t.id == table_id), None)
        png = _drawn(ctx, key, table) if table is not None else b""
    if not png:
        raise RecordNotFound(NO_CHART)
    return Response(png, media_type="image/png")


def seal_report(ctx: Ctx) -> Response:
    """The report of the form's period sealed and archived; then back to the page, which names the new record."""
    ctx.office.require("report")
    values = {"from": ctx.field("from", 40), "to": ctx.field("to", 40)}
    desk = _desk(ctx)
    try:
        period = _period(desk, values)
        converter, sealer = ctx.portal.tools()
        row = desk.seal(period, converter, sealer)
    except (AccessDenied, RecordNotFound):
        raise
    except AccordError as exc:
        return _view(ctx, values, 400, seal_error=str(exc))
    query = {"from": period.start.isoformat(), "to": period.end.isoformat(), "record": row.record_id}
    return redirect("/report?" + urllib.parse.urlencode(query), "report-sealed")


def _view(ctx: Ctx, values: dict[str, str], status: int = 200, seal_error: str | None = None) -> Response:
    """The page: the period form, then the report (or why the period was refused)."""
    try:
        period = _period(_desk(ctx), values)
    except AccordError as exc:
        return ctx.render("report.html", 400, values=values, error=str(exc), report=None, tables=[],
                          seal_error=None, sealed=None)
    found = _report(ctx, period, "screen", fresh=True)
    values = {"from": period.start.isoformat(), "to": period.end.isoformat()}
    key = _key(ctx, period)
    return ctx.render("report.html", status, values=values, error=None, report=found, seal_error=seal_error,
                      opening=opening(found), message=empty_message(period), suppressed=SUPPRESSED,
                      tables=[_shown(ctx, key, t, values) for t in found.tables], sealed=_sealed(ctx))


def _desk(ctx: Ctx) -> ReportDesk:
    return ReportDesk(ctx.office)


def _period(desk: ReportDesk, values: dict[str, str]) -> Period:
    """The period the form asks for (an end left out comes from the academic year; a bad date is refused saying why)."""
    return desk.period(form_date(values["from"]), form_date(values["to"]))


def _key(ctx: Ctx, period: Period) -> tuple[Any, ...]:
    """Who asks, for which period, over which cases (a narrower right since is another key)."""
    where, params = case_filter(ctx.portal.policy(), ctx.caller.actor, "report")
    return ctx.caller.actor.name, period.start, period.end, where, tuple(params)


def _report(ctx: Ctx, period: Period, form: str, fresh: bool = False) -> Report:
    """The report (counted and audited by the desk), or the one this person was just shown for the period."""
    key = _key(ctx, period)
    found = None if fresh else ctx.portal.reports.get(key)
    return found if found is not None else ctx.portal.reports.put(key, _desk(ctx).report(period, form=form))


def _drawn(ctx: Ctx, key: tuple[Any, ...], table: Table) -> bytes:
    """The table's chart (empty: it has none), kept with the report it was drawn from."""
    png = chart_png(table) or b""
    return ctx.portal.reports.put((*key, table.id), png)


def _shown(ctx: Ctx, key: tuple[Any, ...], table: Table, values: dict[str, str]) -> Shown:
    header, rows = table_rows(table)
    totals = rows.pop() if table.column_totals or table.total else None
    address = None
    if _drawn(ctx, key, table):
        address = f"/report/chart/{table.id}.png?" + urllib.parse.urlencode(values)
    return Shown(table, header, rows, totals, address)


def _sealed(ctx: Ctx) -> dict[str, Any] | None:
    """The record a seal just made (named by the address after it), with whether this person may open it."""
    record_id = ctx.param("record", 80)
    if ctx.param("done", 20) != "report-sealed" or not SEALED_ID.fullmatch(record_id):
        return None
    record = ctx.office.catalog.find(record_id)
    if record is None:
        return None
    return {"record_id": record_id, "link": ctx.may("view", record)}
