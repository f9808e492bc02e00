"""Finding records and handing them over: the home page, search, the record page with its seal badge, downloads with a purpose."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any, Mapping

from starlette.responses import Response

from pipeline.errors import RecordNotFound, VerificationFailed
from pipeline.portal.requests import PAGE_SIZE, Ctx, error_page, form_date, redirect
from pipeline.records import countersign
from pipeline.records.search import SearchQuery
from pipeline.records.verify import VerifyReport


def home(ctx: Ctx) -> Response:
    """A coordinator's home is their cases; everyone else starts at search."""
    return redirect("/cases" if ctx.may("view-case") else "/search")


def search(ctx: Ctx) -> Response:
    page_no = ctx.page_number()
    filters = {k: ctx.param(k) for k in ("q", "template", "record_class", "case", "party", "status", "from", "to")}
    query = SearchQuery(
        text=filters["q"] or None, template=filters["template"] or None, case_id=filters["case"] or None,
        party=filters["party"] or None, record_class=filters["record_class"] or None,
        status=filters["status"] or None, date_from=form_date(filters["from"]), date_to=form_date(filters["to"]),
        limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE,
    )
    result = ctx.office.search(query)
    kept = {k: v for k, v in filters.items() if v}
    pages = max(1, -(-result.total // PAGE_SIZE))

    def link(n: int) -> str:
        return "/search?" + urllib.parse.urlencode({**kept, "page": n})

    return ctx.render("search.html", filters=filters, result=result, page=page_no, pages=pages,
                      prev_link=link(page_no - 1) if page_no > 1 else None,
                      next_link=link(page_no + 1) if page_no < pages else None,
                      templates=ctx.portal.templates,
                      statuses=("sealed", "executed", "superseded", "frozen", "destroyed"))


def record(ctx: Ctx) -> Response:
    record_id = ctx.path_id("record_id")
    row = ctx.office.show(record_id)
    report = ctx.portal.verifications.get(ctx.portal.ws, row, ctx.portal.roots)
    disclosures = ctx.office.disclosures(record_id) if ctx.may("read-audit") else None
    return ctx.render("record.html", record=row, report=report, badge=_badge(row, report),
                      versions=_versions(ctx, row), party_signatures=countersign.signatures_for(ctx.office.catalog, record_id),
                      executed=countersign.executed_versions(ctx.office.catalog, record_id), disclosures=disclosures,
                      may_retrieve=ctx.may("retrieve", row), may_hold=ctx.may("hold"))


def _badge(row: Mapping[str, Any], report: VerifyReport) -> dict[str, str]:
    if not report.ok:
        return {"kind": "failed", "label": "Failed verification",
                "detail": " ".join(report.problems) or "The seal did not validate."}
    if row["status"] == "executed":
        return {"kind": "executed", "label": "Executed",
                "detail": "Signed by the parties; the office seal is intact and trusted."}
    return {"kind": "sealed", "label": "Sealed and intact",
            "detail": "The checksum matches and the office seal is intact and trusted."}


def _versions(ctx: Ctx, row: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every version of the same document of the same case that this person may view, oldest first."""
    return [v for v in ctx.office.catalog.versions(row["template"], row["case_id"]) if ctx.may("view", v)]


def download_form(ctx: Ctx) -> Response:
    record_id = ctx.path_id("record_id")
    row = ctx.office.show(record_id)
    if not ctx.may("retrieve", row):
        return error_page(ctx.portal, 403, "Your role may see this record but not take a copy of it.",
                          ctx.caller, ctx.may)
    return ctx.render("download.html", record=row, error=None, executed=ctx.param("copy") == "executed")


def download(ctx: Ctx) -> Response:
    record_id = ctx.path_id("record_id")
    purpose = ctx.field("purpose")
    executed = ctx.field("copy", 20) == "executed"
    if not purpose:
        row = ctx.office.show(record_id)
        return ctx.render("download.html", 400, record=row, executed=executed,
                          error="State the purpose of the request (the legitimate interest).")
    try:
        retrieval = ctx.office.retrieve(record_id, purpose, executed=executed)
    except RecordNotFound:
        row = ctx.office.catalog.find(record_id)
        if row is not None and ctx.may("view", row):
            # Seen but not to be taken (the denial is in the audit log): say so, as the form does.
            return error_page(ctx.portal, 403, "Your role may see this record but not take a copy of it.",
                              ctx.caller, ctx.may)
        raise
    except VerificationFailed as exc:
        return ctx.render("refused.html", 409, record_id=record_id, problems=exc.problems)
    name = re.sub(r"[^A-Za-z0-9._-]", "_", record_id) + (".executed.pdf" if executed else ".pdf")
    return Response(retrieval.data, media_type="application/pdf",
                    headers={"content-disposition": f'attachment; filename="{name}"'})
