"""Legal holds and disposition proposals: placing and releasing holds, approving or rejecting proposals."""

from __future__ import annotations

from starlette.responses import Response

from pipeline.errors import AccordError, RecordNotFound, SweepError
from pipeline.office import RetentionDesk
from pipeline.portal.requests import Ctx, path_number, redirect


def holds_page(ctx: Ctx) -> Response:
    everything = ctx.param("all") == "1"
    return ctx.render("holds.html", holds=ctx.desk.holds(include_released=everything), everything=everything,
                      error=None, values={})


def place_hold(ctx: Ctx) -> Response:
    scope, value = ctx.field("scope", 20), ctx.field("value", 200)
    if scope not in ("case", "record", "search") or not value:
        raise AccordError("Choose what the hold covers (a case, a record or a search) and name it.")
    ctx.desk.place_hold(name=ctx.field("name", 200), reason=ctx.field("reason"), **{
        {"case": "case_id", "record": "record_id", "search": "search"}[scope]: value})
    return redirect("/holds", "hold-placed")


def release_hold(ctx: Ctx) -> Response:
    hold_id = path_number(ctx.request.path_params["hold_id"], "hold")
    ctx.desk.release_hold(hold_id, ctx.field("reason"))
    return redirect("/holds", "hold-released")


def proposals_page(ctx: Ctx) -> Response:
    return ctx.render("proposals.html", proposals=ctx.desk.proposals())


def proposal_page(ctx: Ctx) -> Response:
    desk = ctx.desk
    row, items = desk.proposal(_proposal(desk, ctx.request.path_params["proposal_id"]))
    return ctx.render("proposal.html", proposal=row, items=items)


def _proposal(desk: RetentionDesk, raw_id: str) -> int:
    """The proposal's id once the person's right to decide is checked (403) and the proposal exists (404)."""
    proposal_id = path_number(raw_id, "proposal")
    try:
        desk.proposal(proposal_id)
    except SweepError:
        raise RecordNotFound(f"No disposition proposal {proposal_id}.") from None
    return proposal_id


def approve(ctx: Ctx) -> Response:
    desk = ctx.desk
    proposal_id = _proposal(desk, ctx.request.path_params["proposal_id"])
    converter, sealer = ctx.portal.tools()
    desk.approve(proposal_id, converter, sealer)
    return redirect(f"/proposals/{proposal_id}", "approved")


def reject(ctx: Ctx) -> Response:
    desk = ctx.desk
    proposal_id = _proposal(desk, ctx.request.path_params["proposal_id"])
    reason = ctx.field("reason")
    if not reason:
        raise AccordError("Say why the proposal is rejected.")
    desk.reject(proposal_id, reason)
    return redirect(f"/proposals/{proposal_id}", "rejected")
