"""``accord cases``, ``case show``, ``event add`` and ``rubric check``: the coordinator's cases."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click

from pipeline.cli.options import DATE, AccordCommand, AccordGroup, json_option, session_for, workspace_option
from pipeline.cli.output import echo, print_json, print_table, write_private
from pipeline.workspace import Workspace

PHASES = ("intake", "assessed", "awaiting-consent", "in-process", "agreement", "monitoring", "closed")
PROCESSES = ("mediation", "restorative-justice", "facilitated-dialogue", "shuttle-negotiation")
_LIST_FIELDS = ("case_id", "phase", "process", "opened", "days_in_phase", "next_due", "gaps", "outcome", "closed_on")


def case_desk(ws: Workspace):
    from pipeline.casedesk import CaseDesk

    return CaseDesk(session_for(ws))


@click.command(cls=AccordCommand)
@workspace_option
@click.option("--phase", type=click.Choice(PHASES), help="Only cases in this phase.")
@click.option("--process", type=click.Choice(PROCESSES), help="Only cases going through this process.")
@click.option("--all", "include_closed", is_flag=True, help="Closed cases too.")
@json_option
def cases(ws: Workspace, phase: str | None, process: str | None, include_closed: bool, as_json: bool) -> None:
    """Open cases you may see: phase, days in the phase, the next date due, what is missing.

    \b
    Example:
        accord cases
        accord cases --phase awaiting-consent --json
    """
    with case_desk(ws) as desk:
        rows = desk.cases(phase=phase or None, process=process, include_closed=include_closed or phase == "closed")
    if as_json:
        print_json([{k: r.get(k) for k in _LIST_FIELDS} for r in rows])
        return
    if not rows:
        echo("No cases." if include_closed or phase == "closed" else "No open cases.")
        return
    print_table(["Case", "Phase", "Process", "Opened", "Days", "Next due", "Gaps"],
                [[r["case_id"], r["phase"] + (f" ({r['outcome']})" if r["outcome"] else ""), r["process"] or "-",
                  r["opened"] or "-", "" if r["days_in_phase"] is None else str(r["days_in_phase"]),
                  r["next_due"] or "-", "; ".join(r["gaps"]) or "-"] for r in rows])


@click.group(cls=AccordGroup)
def case() -> None:
    """Cases: everything Accord holds about one case."""


@case.command("show")
@workspace_option
@click.argument("case_id")
@json_option
def case_show(ws: Workspace, case_id: str, as_json: bool) -> None:
    """A case's timeline: phases, parties with notice and consent, gaps, measures, sessions, events,
    records with status and due dates, holds, disclosures.

    \b
    Example:
        accord case show ADR-2026-0150
    """
    with case_desk(ws) as desk:
        timeline = desk.case(case_id)
    if as_json:
        print_json(timeline)
        return
    _print_timeline(timeline)


def _print_timeline(t: dict) -> None:
    head = f"Case {t['case_id']}"
    if t["phase"]:
        head += f": {t['phase']}" + (f" ({t['outcome']})" if t["outcome"] else "")
        head += f" since {t['phase_since']}" if t.get("phase_since") else ""
        head += f", {t['process']}" if t["process"] else ""
    echo(head)
    if t.get("next_due"):
        echo(f"  next due {t['next_due']}")
    for gap in t["gaps"]:
        echo(f"  GAP: {gap}")
    for p in t["parties"]:
        notice = f"notice {p['notice']}" if p["notice"] else "no notice"
        consent = {"given": f"consented {p['consent_on']}", "withdrawn": f"withdrew {p['withdrawn_on']}",
                   "pending": "consent pending"}[p["consent"]]
        echo(f"  party   {p['name']} ({p['role'] or 'party'}{', ' + p['status'] if p['status'] else ''}): "
             f"{notice}, {consent}")
    for term in t.get("terms", []):
        status = {"open": "ongoing" if not term["due"] else f"open, due {term['due']}",
                  "completed": f"completed {term['closed_on']}", "waived": f"waived {term['closed_on']}",
                  "breached": f"breached {term['closed_on']}", "superseded": "superseded"}[term["status"]]
        echo(f"  term {term['number']}  ({term['owner'] or '-'}) {status}: {term['text']}")
    if t.get("open_at_closure"):
        echo(f"  open at closure: term(s) {', '.join(map(str, t['open_at_closure']))}")
    for step in t["history"]:
        echo(f"  {step['since']}  phase   {step['phase']}: {step['evidence']}")
    for m in t.get("measures", []):
        echo(f"  {m['start'] or '':<10}  measure {m['measure']}" + (f" (until {m['end']})" if m.get("end") else ""))
    for e in t["events"]:
        party = f" [{e['party']}]" if e.get("party") else ""
        term = f" term {e['term']}" if e.get("term") else ""
        echo(f"  {e['date']}  event   {e['event']}{term}{party}  {e['note']}")
    for r in t["records"]:
        echo(f"  {r['created'][:10]}  record  {r['record_id']}  {r['template']}  [{r['status']}]"
             + (f"  supersedes {r['supersedes']}" if r["supersedes"] else ""))
        echo(f"              retention: {r.get('due_reason') or 'not computed yet'}")
        for h in r["holds"]:
            echo(f"              HELD by #{h['id']} {h['name']}: {h['reason']}")
    for tomb in t["tombstones"]:
        echo(f"  {tomb['disposed_at'][:10]}  {tomb['action']:<7} {tomb['record_id']}  ({tomb['rule']}, approved by "
             f"{tomb['approver']})")
    if t.get("destroyed"):
        gone = t["destroyed"]
        echo(f"  {gone['destroyed_at'][:10]}  destroyed: the case's data (opened {gone['opened'] or '-'}, "
             f"{gone['process'] or 'no process'}, outcome {gone['outcome'] or '-'})")
    for d in t.get("disclosures", []):
        echo(f"  {d['at'][:10]}  {d['action']:<7} {d['record_id']} by {d['actor']} ({d['outcome']}): "
             f"{d['purpose'] or '-'}")


@click.group(cls=AccordGroup)
def event() -> None:
    """Case events: consents, sessions, supportive measures, withdrawals, referrals, closures."""


@event.command("add")
@workspace_option
@click.argument("case_id")
@click.argument("name")
@click.option("--date", "date", type=DATE, required=True, help="When it happened (YYYY-MM-DD), today or before.")
@click.option("--party", default="", help="The party it concerns (consent, withdrawn), as the intake names them.")
@click.option("--term", type=click.IntRange(1, 50), default=None, help="The agreement's term (term events).")
@click.option("--note", default="", help="A short note.")
def event_add(ws: Workspace, case_id: str, name: str, date: dt.date, party: str, term: int | None,
              note: str) -> None:
    """Record an event for a case; its phase and due dates follow.

    \b
    Example:
        accord event add ADR-2026-0150 consent --date 2026-03-13 --party "Aigerim Bekova"
        accord event add ADR-2026-0150 session --date 2026-03-24 --note "Pre-conference"
        accord event add ADR-2026-0142 closed --date 2026-11-30
    """
    with case_desk(ws) as desk:
        new = desk.add_event(case_id, name, date, note, party, term)
    echo("Recorded." if new else "Already recorded.")


@click.group(cls=AccordGroup)
def rubric() -> None:
    """The office's suitability rubric (retention_policies/rubric.yaml)."""


@rubric.command("check")
@workspace_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def rubric_check(ws: Workspace, file: Path, as_json: bool) -> None:
    """The rubric's verdict on an intake file, before it is dropped; exit 1 if it would be refused.

    \b
    Example:
        accord rubric check case-intake.yaml
    """
    from pipeline.casedesk import rubric_check as check

    limit = ws.load_config().intake.max_bytes
    with open(file, "rb") as fh:
        raw = fh.read(limit + 1)
    result = check(ws, file.name, raw)
    if as_json:
        v = result.verdict
        print_json({"case_id": result.case_id, "decision": result.decision, "ok": result.ok,
                    "refusal": result.refusal, "allowed": list(v.allowed), "excluded": list(v.excluded),
                    "suggested": list(v.suggested), "problems": list(v.problems),
                    "findings": [{"rule": f.rule, "kind": f.kind, "processes": list(f.processes),
                                  "reason": f.reason, "authority": f.authority} for f in v.findings]})
    else:
        echo(f"Case {result.case_id}")
        for line in result.lines:
            echo(f"  {line}")
    if not result.ok:
        sys.exit(1)


@click.command(cls=AccordCommand)
@workspace_option
@click.option("--as-of", "as_of", type=DATE, default=None, help="The day to look from (default today).")
@click.option("--days", type=click.IntRange(0, 366), default=None,
              help="Look this many days ahead (default agenda.days, 14).")
@click.option("--ics", "ics", type=click.Path(dir_okay=False, path_type=Path, allow_dash=True), default=None,
              help="Write the agenda as an iCalendar file (case ids and kinds only) for Outlook or a phone.")
@json_option
def agenda(ws: Workspace, as_of: dt.date | None, days: int | None, ics: Path | None, as_json: bool) -> None:
    """What is overdue and what falls due soon for the cases you may see: terms, follow-ups, notices
    awaiting an answer, breaches, idle cases, MOU reviews and expiries.

    \b
    Example:
        accord agenda --days 30
        accord agenda --ics agenda.ics
    """
    with case_desk(ws) as desk:
        as_of = as_of or desk.today()
        if ics is not None:
            write_private(ics, desk.calendar(as_of, days))
            if str(ics) != "-":
                echo(f"Wrote {ics}.")
            return
        items = desk.agenda(as_of, days)
    if as_json:
        print_json([item.as_dict(as_of) for item in items])
        return
    if not items:
        echo("Nothing is due.")
        return
    print_table(["Date", "Kind", "Case", "What", "Overdue"],
                [[i.date.isoformat(), i.kind, i.case_id, i.what, "OVERDUE" if i.overdue(as_of) else ""]
                 for i in items])
