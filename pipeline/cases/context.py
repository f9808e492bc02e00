"""The case as the documents filled from it see it: ``held`` (``documents.templates.HELD_CONTEXT``).

A notice, a consent form, a withdrawal notice or a completion letter names its case and its
party; everything else it prints comes from the case register: the case as its intake record
reported it (with the rubric's labels for its jurisdictions and allegations), the process decided
(with the rubric's description of it), the parties, the supportive measures, and the agreement in
force with its terms.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pipeline.cases import casebook
from pipeline.cases.phases import CaseState, replay
from pipeline.cases.rubric import Rubric
from pipeline.documents.casefile import CaseFile
from pipeline.records import events
from pipeline.records.schema import Database
from pipeline.text import name_key

_PARTY_FIELDS = ("name", "role", "status", "affiliation")


def held(catalog: Database, case: CaseFile, rubric: Rubric) -> dict[str, Any] | None:
    """The ``held`` context of a document of ``case``'s case, or ``None`` when the case has no
    register entry (the admission check says why)."""
    row = casebook.get(catalog, case.subject_id)
    if row is None:
        return None
    intake = row["register"].get("intake") or {}
    reported = intake.get("case") or {}
    decided = (intake.get("assessment") or {}).get("decision") or row["process"]
    process = next((p for p in rubric.processes if p.name == decided), None)
    parties = [{k: p.get(k) or "" for k in _PARTY_FIELDS} for p in row["parties"]]
    key = name_key(case.party) if case.party else None
    party = next((p for p in parties if name_key(p["name"]) == key), None) if key else None
    agreement = agreement_in_force(row)
    return {
        "case": {
            "id": row["case_id"],
            "opened": _date(row["opened"]),
            "referred_by": reported.get("referred_by"),
            "summary": reported.get("summary"),
            "jurisdictions": [rubric.jurisdictions.get(j, j) for j in reported.get("jurisdiction") or []],
            "allegations": [rubric.allegations.get(a, a) for a in reported.get("allegations") or []],
        },
        "process": {"name": decided, "label": process.label if process else (decided or ""),
                    "description": process.description if process else ""} if decided else None,
        "parties": parties,
        "party": party,
        "measures": measures(catalog, row),
        "agreement": {"record_id": agreement["record_id"], "date": _date(agreement["date"]),
                      "follow_up_date": _date(agreement.get("follow_up"))} if agreement else None,
        "terms": terms(agreement, replay(casebook.facts(catalog, row), dt.date.today())) if agreement else [],
    }


def agreement_in_force(row: dict[str, Any]) -> dict[str, Any] | None:
    """The register entry of the case's latest agreement."""
    return next((d for d in reversed(row["register"]["documents"]) if d["role"] == "agreement"), None)


def terms(agreement: dict[str, Any], state: CaseState) -> list[dict[str, Any]]:
    """The terms of ``agreement`` (its register entry), each with its status in ``state``."""
    status = {t.number: t for t in state.terms if t.agreement == agreement["record_id"]}
    found = []
    for t in agreement.get("terms") or []:
        now = status.get(t["number"])
        found.append({"number": t["number"], "text": t.get("text"), "owner": t.get("owner"), "due": _date(t.get("due")),
                      "status": now.status.value if now else "open", "closed_on": now.on if now else None,
                      "note": now.note if now else ""})
    return found


def measures(catalog: Database, row: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's supportive measures: those of its intake record, then those recorded as events."""
    found = [{"measure": m.get("measure"), "start": _date(m.get("start")), "end": _date(m.get("end")),
              "arranged_by": m.get("arranged_by")}
             for m in ((row["register"].get("intake") or {}).get("measures") or [])]
    for e in events.of_case(catalog, row["case_id"]):
        if e["event"] == "supportive-measure":
            found.append({"measure": e["note"], "start": _date(e["date"]), "end": None, "arranged_by": None})
    return found


def _date(value: Any) -> dt.date | None:
    if isinstance(value, dt.date) or value is None:
        return value
    return dt.date.fromisoformat(value)
