"""The Director's report for one person: the right to report checked, only the cases that right
covers counted, every report an audit entry (who, which period), and the sealed copy filed as a
``program-report`` record (``reports/`` counts; this desk decides who may and files the result)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from pipeline.cases import casebook
from pipeline.cases.rubric import Rubric, load_rubric
from pipeline.governance.access import case_filter
from pipeline.governance.filing import Generated, file_generated
from pipeline.governance.retention import REPORT_CLASS, load_retention
from pipeline.office import OfficeSession
from pipeline.records.catalog import RecordRow
from pipeline.reports.document import report_docx
from pipeline.reports.period import Period, academic_year
from pipeline.reports.tables import Report, build_report


class ReportDesk:
    """``today`` is the office's clock (the default period is the academic year containing it)."""

    def __init__(self, session: OfficeSession, *, today: Callable[[], dt.date] = dt.date.today,
                 rubric: Rubric | None = None):
        self.session = session
        self.today = today
        self.rubric = rubric or load_rubric(session.ws.policies)
        self.settings = session.config.report

    def __enter__(self) -> "ReportDesk":
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()

    def period(self, start: dt.date | None = None, end: dt.date | None = None) -> Period:
        """The period asked for; what is not given comes from the academic year containing today."""
        year = academic_year(self.today(), self.settings.year_starts)
        return Period(start or (year.start if end is None else academic_year(end, self.settings.year_starts).start),
                      end or (year.end if start is None else academic_year(start, self.settings.year_starts).end))

    def report(self, period: Period, *, form: str = "screen") -> Report:
        """The report over the cases the user may report on; refused (and audited) without the right."""
        session = self.session
        session.require("report")
        visible = case_filter(session.policy, session.actor, "report")
        found = build_report(casebook.summaries(session.catalog, visible, period.start.isoformat(),
                                                period.end.isoformat()),
                             period, self.rubric, office=session.config.office.name,
                             min_cell=self.settings.min_cell, today=self.today())
        session.record_audit("report", "ok", details=self._details(period, form, found))
        return found

    def seal(self, period: Period, converter: Any, sealer: Any) -> RecordRow:
        """The report as a sealed PDF/A, archived and catalogued as a ``program-report`` record."""
        found = self.report(period, form="sealed")
        source = json.dumps(found.as_dict(), ensure_ascii=False, indent=2).encode("utf-8")
        sha = hashlib.sha256(source).hexdigest()
        name = f"REPORT-{period.start.isoformat()}-{period.end.isoformat()}"
        record_id = f"{name}-{sha[:8]}"
        pdf = sealer.seal(converter.convert(report_docx(found, record_id)), record_id).pdf
        session = self.session
        policy = load_retention(session.ws.policies, {REPORT_CLASS})
        body = "\n".join([f"Program report {period.label}"] + [t.title for t in found.tables])
        row = file_generated(session.ws, session.catalog, policy, Generated(
            record_id=record_id, record_class=REPORT_CLASS, case_id=name, title=f"Program report, {period.label}",
            pdf=pdf, source=source, source_name=f"{name}.json", source_sha256=sha, body=body),
            actor=session.actor.name, today=self.today(), why="program report sealed")
        session.record_audit("report", "sealed", record={"record_id": row.record_id, "case_id": row.case_id},
                             details={"from": period.start.isoformat(), "to": period.end.isoformat()})
        return row

    @staticmethod
    def _details(period: Period, form: str, found: Report) -> dict[str, Any]:
        return {"from": period.start.isoformat(), "to": period.end.isoformat(), "form": form,
                "suppressed": found.suppressed}
