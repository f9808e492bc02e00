"""The audit log: its entries with filters, and the check of the whole chain and its anchors."""

from __future__ import annotations

import re
import urllib.parse

from starlette.responses import Response

from pipeline.portal.requests import AUDIT_PAGE, Ctx


def audit_page(ctx: Ctx) -> Response:
    filters = {k: ctx.param(k, 100) for k in ("actor", "action", "record", "since", "until")}
    before = ctx.param("before")
    rows = ctx.office.audit_log(actor=filters["actor"] or None, action=filters["action"] or None,
                                record_id=filters["record"] or None, since=filters["since"] or None,
                                until=filters["until"] or None, limit=AUDIT_PAGE,
                                before=int(before) if re.fullmatch(r"[0-9]{1,12}", before) else None)
    kept = {k: v for k, v in filters.items() if v}
    older = "/audit?" + urllib.parse.urlencode({**kept, "before": rows[-1]["seq"]}) if len(rows) == AUDIT_PAGE else None
    status = ctx.office.audit_status()
    return ctx.render("audit.html", rows=rows, filters=filters, older=older, tail=status.tail, head=status.head,
                      anchor=status.last_anchor)


def audit_verify(ctx: Ctx) -> Response:
    return ctx.render("audit_verify.html", report=ctx.office.verify_audit())
