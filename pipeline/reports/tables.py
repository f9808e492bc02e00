"""The Director's report: counts, times and rates over the cases' de-identified summaries.

A report is read from the summaries ``cases/casebook`` keeps (dates, process, outcome, categories,
the parties' statuses and units, consent, withdrawal, terms and kinds of supportive measure): no
name, email, case id, summary or note ever reaches this module, so none can reach a report. Every
count is named by a key (``reports/suppression``) and the tables are tied by their totals; the
counts are suppressed together, across the tables, before any is shown.

What each measure counts, in the period: ``opened`` the cases opened; ``closed`` the cases closed;
``decided`` the cases whose suitability was decided; ``agreed`` the cases that reached an
agreement; ``offered`` the cases decided for an informal process (their consent); ``terms`` the
terms of agreements that fell due; ``measures`` the supportive measures of the cases opened.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.cases.rubric import NOT_SUITABLE, Rubric
from pipeline.reports.period import Period, month_label
from pipeline.reports.suppression import Key, Line, protect

NOT_RECORDED = "not-recorded"
OTHER = "other"
UNDECIDED = "undecided"
OUTCOMES = (("resolved", "Resolved"), ("withdrawn", "Withdrawn"), ("not-suitable", "Not suitable"),
            ("referred", "Referred"), ("closed", "Closed otherwise"))
PHASES = (("intake", "At intake"), ("assessed", "After the assessment"), ("awaiting-consent", "Awaiting consent"),
          ("in-process", "In the process"), ("agreement", "After reaching agreement"))
TERM_STATUSES = (("on-time", "Completed on time"), ("late", "Completed late"), ("waived", "Waived"),
                 ("breached", "Breached"), ("overdue", "Open, past due"), ("not-yet-due", "Open, not yet due"))
MEASURE_KINDS = (("schedule-change", "Schedule change"), ("no-contact", "No-contact directive"),
                 ("housing", "Housing"), ("academic", "Academic"), ("work-arrangement", "Work arrangement"),
                 ("counseling", "Counseling"), ("escort", "Escort"), ("other", "Other"),
                 ("unspecified", "Kind not recorded"))
CONSENT = (("all", "Every party consented"), ("not-all", "Not every party has consented"))
TIMINGS = (("decided", "decided_on", "Days from opening to the decision"),
           ("agreed", "agreement_on", "Days from opening to an agreement"),
           ("closed", "closed_on", "Days from opening to closure"))


@dataclass(frozen=True)
class Cell:
    """A number shown, or ``None`` with ``suppressed``."""

    value: float | int | None
    suppressed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "suppressed": self.suppressed}


@dataclass(frozen=True)
class Table:
    id: str
    title: str
    note: str
    """What is counted, in a sentence (printed under the table)."""
    rows: tuple[str, ...]
    columns: tuple[str, ...]
    cells: tuple[tuple[Cell, ...], ...]
    row_totals: tuple[Cell, ...] | None = None
    column_totals: tuple[Cell, ...] | None = None
    total: Cell | None = None
    total_label: str = "Total"
    chart: str | None = None
    """How the report draws it: ``bars`` (a bar per row), ``stacked`` (rows stacked by column), or none."""
    alt: str = ""
    """The chart's one-line alternative text."""

    def as_dict(self) -> dict[str, Any]:
        def cells(items: Iterable[Cell] | None) -> list[dict[str, Any]] | None:
            return None if items is None else [c.as_dict() for c in items]

        return {"id": self.id, "title": self.title, "note": self.note, "rows": list(self.rows),
                "columns": list(self.columns), "cells": [cells(r) for r in self.cells],
                "row_totals": cells(self.row_totals), "column_totals": cells(self.column_totals),
                "total": self.total.as_dict() if self.total else None, "total_label": self.total_label,
                "alt": self.alt}


@dataclass(frozen=True)
class Report:
    period: Period
    office: str
    min_cell: int
    made: dt.date
    tables: tuple[Table, ...]
    suppressed: int = 0
    """How many counts are hidden (primary and complementary)."""

    @property
    def empty(self) -> bool:
        return not self.tables

    def as_dict(self) -> dict[str, Any]:
        return {"report": "program-report", "office": self.office,
                "period": {"from": self.period.start.isoformat(), "to": self.period.end.isoformat()},
                "made": self.made.isoformat(), "min_cell": self.min_cell, "empty": self.empty,
                "message": empty_message(self.period) if self.empty else None,
                "suppressed": self.suppressed, "tables": [t.as_dict() for t in self.tables]}


def empty_message(period: Period) -> str:
    return (f"No case was opened, decided, agreed or closed, and no term fell due, from {period.label}: "
            "there is nothing to count.")


# --- the tables' dimensions ----------------------------------------------------------------------

@dataclass(frozen=True)
class Dim:
    """A way to split counts: its name, its values with labels (in order), and each case's values."""

    name: str
    values: tuple[tuple[str, str], ...]
    of: Callable[[dict[str, Any]], list[str]]
    multi: bool = False
    """A case may have several values (its allegations): parts then add up to at least the total."""
    pooled: bool = False
    """Values are the cases' own words (a unit, a referral source): each is shown by name only when
    it has at least ``min_cell`` cases; the others are pooled as "All others"."""

    def known(self, values: list[str]) -> list[str]:
        """``values`` with any the report does not list (a category since removed from the rubric)
        counted in the last row (not recorded, or otherwise)."""
        names = self._names
        return [v if v in names else self.values[-1][0] for v in values]

    @functools.cached_property
    def _names(self) -> frozenset[str]:
        return frozenset(v for v, _ in self.values)


@dataclass(frozen=True)
class Spec:
    id: str
    title: str
    note: str
    measure: str
    rows: Dim
    columns: Dim | None = None
    fixed: tuple[str, ...] = ()
    """Categories every count of the table is within (``outcome=withdrawn``)."""
    total_label: str = "Total"
    chart: str | None = "bars"
    alt: str = ""

    @functools.cached_property
    def keys(self) -> dict[tuple[str | None, str | None], Key]:
        """The keys of its counts made so far, by row and column value."""
        return {}


def _key(spec: Spec, row: str | None, column: str | None) -> Key:
    """The key of a count of ``spec`` (remembered: a report asks for the same keys for every case)."""
    cache = spec.keys
    key = cache.get((row, column))
    if key is None:
        key = cache[(row, column)] = _make_key(spec, row, column)
    return key


def _make_key(spec: Spec, row: str | None, column: str | None) -> Key:
    parts = list(spec.fixed)
    if row is not None:
        parts.append(f"{spec.rows.name}={row}")
    if column is not None and spec.columns is not None:
        parts.append(f"{spec.columns.name}={column}")
    return (spec.measure, *sorted(parts))


def _one(value: str | None) -> list[str]:
    return [value or NOT_RECORDED]


def _grouper(rubric: Rubric) -> Callable[[list[str]], list[str]]:
    """The group of the first of a case's parties' statuses (remembered for each status)."""
    @functools.cache
    def group(status: str) -> str:
        found = rubric.groups([status])
        return next((g for g in rubric.statuses if g in found), OTHER)

    return lambda statuses: [group(statuses[0])] if statuses and statuses[0] else [NOT_RECORDED]


def _process(case: dict[str, Any]) -> list[str]:
    if case.get("process"):
        return [case["process"]]
    return [NOT_SUITABLE if case.get("decision") == NOT_SUITABLE else UNDECIDED]


def _specs(rubric: Rubric, period: Period) -> list[Spec]:
    processes = tuple((p.name, p.label) for p in rubric.processes) + (
        (NOT_SUITABLE, "Not suitable"), (UNDECIDED, "Not yet decided"))
    process = Dim("process", processes, _process)
    months = Dim("month", tuple((m, month_label(m)) for m in period.months()), lambda c: [])
    groups = tuple((g, g.capitalize()) for g in rubric.statuses) + ((OTHER, "Other"), (NOT_RECORDED, "Not recorded"))
    group = _grouper(rubric)
    reporting = Dim("reporting", groups, lambda c: group(c.get("reporting")))
    responding = Dim("responding", groups, lambda c: group(c.get("responding")))
    return [
        Spec("opened-by-month", "Cases opened, by month and process",
             "Cases opened in each month of the period, by the process decided (or not yet decided).",
             "opened", Dim("month", months.values, lambda c: [c["opened"][:7]]), process, chart="stacked",
             alt="Stacked bars of the cases opened in each month, one colour per process."),
        Spec("closed-by-outcome", "Cases closed, by process and outcome",
             "Cases closed in the period, by the process they were in and how they ended.",
             "closed", process, Dim("outcome", OUTCOMES, lambda c: [c.get("outcome") or "closed"]), chart="stacked",
             alt="Stacked bars of the cases closed by process, one colour per outcome."),
        Spec("closed-by-month", "Cases closed, by month", "Cases closed in each month of the period.",
             "closed", Dim("month", months.values, lambda c: [(c.get("closed_on") or "")[:7]]),
             alt="Bars of the cases closed in each month."),
        Spec("jurisdiction", "Cases opened, by jurisdiction",
             "A case may fall under several rules: the rows add up to at least the cases opened.",
             "opened", Dim("jurisdiction", tuple(rubric.jurisdictions.items()) + ((NOT_RECORDED, "Not recorded"),),
                           lambda c: c.get("jurisdiction") or [NOT_RECORDED], multi=True),
             total_label="Cases opened", alt="Bars of the cases opened under each jurisdiction."),
        Spec("allegations", "Cases opened, by category of allegation",
             "A case may name several categories: the rows add up to at least the cases opened.",
             "opened", Dim("allegation", tuple(rubric.allegations.items()) + ((NOT_RECORDED, "Not recorded"),),
                           lambda c: c.get("allegations") or [NOT_RECORDED], multi=True),
             total_label="Cases opened", alt="Bars of the cases opened naming each category of allegation."),
        Spec("referral", "Cases opened, by who referred them",
             "A source is named when it referred at least the threshold of cases; the others are pooled.",
             "opened", Dim("referral", (), lambda c: _one(c.get("referred_by")), pooled=True),
             alt="Bars of the cases opened by referral source."),
        Spec("statuses", "Cases opened, by the parties' standing",
             "The standing of the (first) reporting party, in rows, and of the (first) responding party.",
             "opened", reporting, responding, chart="stacked",
             alt="Stacked bars of the cases opened by the reporting party's standing, one colour per responding "
                 "party's standing."),
        Spec("units", "Cases opened, by the responding party's unit",
             "Units with at least the threshold of reports are named (repeated reports); the others are pooled.",
             "opened", Dim("unit", (), lambda c: _one((c.get("units") or [None])[0]), pooled=True),
             alt="Bars of the cases opened by the responding party's unit."),
        Spec("withdrawals", "Withdrawals, by the phase the case was in",
             "Cases closed in the period because a party withdrew, by the phase they were in.",
             "closed", Dim("phase", PHASES + ((NOT_RECORDED, "Not recorded"),),
                           lambda c: _one(c.get("withdrawn_phase"))),
             fixed=("outcome=withdrawn",), total_label="Cases withdrawn",
             alt="Bars of the withdrawals by the phase the case was in."),
        Spec("consent", "Consent to an informal process",
             "Cases decided in the period for an informal process, by whether every party has consented.",
             "offered", Dim("consent", CONSENT, lambda c: ["all" if c["parties"] and c["consented"] >= c["parties"]
                                                            else "not-all"]),
             total_label="Cases offered a process", alt="Bars of the cases where every party consented, and not."),
        Spec("terms", "Terms of agreements, by what became of them",
             "Terms of the agreements in force that fell due in the period.",
             "terms", Dim("status", TERM_STATUSES, lambda c: []), total_label="Terms due",
             alt="Bars of the terms due by what became of them."),
        Spec("measures", "Supportive measures, by kind",
             "The supportive measures recorded at the intake of the cases opened in the period.",
             "measures", Dim("kind", MEASURE_KINDS, lambda c: []), total_label="Measures",
             alt="Bars of the supportive measures by kind."),
    ]


# --- counting --------------------------------------------------------------------------------------

@dataclass
class _Tally:
    counts: Counter = field(default_factory=Counter)
    shapes: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    """How many cases (or items) fell in each combination of a table's rows and columns: the counts
    are worked out from these once, after the pass (a few hundred combinations, not a case each)."""
    raw: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))
    """The pooled tables' counts by each case's own words, pooled once the threshold is known."""
    days: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))
    """How many cases took each number of days, by measure and process (a histogram: flat memory)."""
    any: bool = False


def _measures(case: dict[str, Any], period: Period) -> set[str]:
    found = set()
    if period.holds(case.get("opened")):
        found.add("opened")
    if period.holds(case.get("closed_on")):
        found.add("closed")
    if period.holds(case.get("decided_on")) and case.get("decision"):
        found.add("decided")
        if case["decision"] != NOT_SUITABLE:
            found.add("offered")
    if period.holds(case.get("agreement_on")):
        found.add("agreed")
    return found


def _term_status(term: list[Any], today: dt.date) -> str | None:
    due, status, on = term
    if status == "completed":
        return "on-time" if not due or (on and on <= due) else "late"
    if status in ("waived", "breached"):
        return status
    if status == "open":
        return "overdue" if due and due < today.isoformat() else "not-yet-due"
    return None  # superseded


_NO_COLUMNS = (None,)


def _count(tally: _Tally, specs: list[Spec], case: Mapping[str, Any], period: Period, today: dt.date) -> None:
    measures = _measures(case, period)
    terms = [s for t in case.get("terms") or () if period.holds(t[0]) and (s := _term_status(t, today))]
    if not measures and not terms:
        return
    tally.any = True
    shapes = tally.shapes
    for spec in specs:
        measure = spec.measure
        if measure == "terms":
            values = terms
        elif measure == "measures":
            if "opened" not in measures:
                continue
            values = case.get("measures") or ()
        elif measure in measures and (not spec.fixed or all(_within(case, f) for f in spec.fixed)):
            values = spec.rows.of(case)
        else:
            continue
        if spec.rows.pooled:
            tally.raw[spec.id].update(values)
        else:  # as the case gives them: unknown values are mapped once per combination (_add_shapes)
            shapes[spec.id][(tuple(values), tuple(spec.columns.of(case)) if spec.columns else _NO_COLUMNS)] += 1
    for measure, attribute, _ in TIMINGS:
        if measure in measures and case.get(attribute):
            days = _ordinal(case[attribute][:10]) - _ordinal(case["opened"][:10])
            tally.days[(measure, _process(case)[0])][days] += 1
            tally.days[(measure, "")][days] += 1


def _add_shapes(tally: _Tally, spec: Spec) -> None:
    """The counts of ``spec`` from its combinations: a case counts once in each count it is in (the
    same count in another table, a shared total, comes out the same); terms and measures count items."""
    counts: Counter = Counter()
    for (given_rows, given_columns), n in tally.shapes.get(spec.id, Counter()).items():
        rows = tuple(spec.rows.known(list(given_rows)))
        columns = tuple(spec.columns.known(list(given_columns))) if spec.columns else given_columns
        if spec.measure in ("terms", "measures"):
            for row in rows:
                counts[_key(spec, row, None)] += n
            counts[_key(spec, None, None)] += n * len(rows)
        else:
            for key in _keys_of(spec, rows, columns):
                counts[key] += n
    if spec.rows.pooled:
        counts[_key(spec, None, None)] = tally.raw.get(spec.id, Counter()).total()
    for key, n in counts.items():
        tally.counts[key] = n


def _keys_of(spec: Spec, rows: tuple[str, ...], columns: tuple[str | None, ...]) -> set[Key]:
    """The counts of ``spec`` one case is in: its cells, the totals of its rows and columns, the total."""
    keys = {_key(spec, None, None)}
    for row in rows:
        keys.add(_key(spec, row, None))
        keys.update(_key(spec, row, column) for column in columns)
        keys.update(_key(spec, None, column) for column in columns)
    return keys


@functools.lru_cache(maxsize=8192)
def _ordinal(day: str) -> int:
    return dt.date.fromisoformat(day).toordinal()


def _within(case: dict[str, Any], fixed: str) -> bool:
    name, value = fixed.split("=", 1)
    return (case.get(name) or "") == value


def _pool(tally: _Tally, spec: Spec, min_cell: int) -> Spec:
    """The pooled table's named values (those with ``min_cell`` cases or more), the rest pooled."""
    raw = tally.raw.get(spec.id, Counter())
    named = sorted((v for v, n in raw.items() if n >= min_cell and v != NOT_RECORDED), key=lambda v: (-raw[v], v))
    for value in named:
        tally.counts[_key(spec, value, None)] = raw[value]
    rest = sum(n for v, n in raw.items() if v not in named and v != NOT_RECORDED)
    tally.counts[_key(spec, OTHER, None)] = rest
    tally.counts[_key(spec, NOT_RECORDED, None)] = raw.get(NOT_RECORDED, 0)
    values = tuple((v, v) for v in named) + ((OTHER, "All others"), (NOT_RECORDED, "Not recorded"))
    return dataclasses.replace(spec, rows=Dim(spec.rows.name, values, spec.rows.of))


def _lines(spec: Spec) -> list[Line]:
    rows = [v for v, _ in spec.rows.values]
    exact = not spec.rows.multi
    if spec.columns is None:
        return [Line(_key(spec, None, None), tuple(_key(spec, r, None) for r in rows), exact)]
    columns = [v for v, _ in spec.columns.values]
    lines = [Line(_key(spec, r, None), tuple(_key(spec, r, c) for c in columns)) for r in rows]
    lines += [Line(_key(spec, None, c), tuple(_key(spec, r, c) for r in rows), exact) for c in columns]
    lines.append(Line(_key(spec, None, None), tuple(_key(spec, None, c) for c in columns)))
    lines.append(Line(_key(spec, None, None), tuple(_key(spec, r, None) for r in rows), exact))
    return lines


def _timing_lines(rubric_processes: list[str]) -> list[Line]:
    return [Line((m,), tuple((m, f"process={p}") for p in rubric_processes)) for m, _, _ in TIMINGS]


# --- the report ------------------------------------------------------------------------------------

def build_report(summaries: Iterable[Mapping[str, Any]], period: Period, rubric: Rubric, *, office: str,
                 min_cell: int, today: dt.date) -> Report:
    """The report over ``summaries`` (the cases the reader may count) for ``period``: every count
    under ``min_cell`` suppressed, with complementary suppression checked by solving for it."""
    specs = _specs(rubric, period)
    tally = _Tally()
    for case in summaries:
        _count(tally, specs, case, period, today)
    if not tally.any:
        return Report(period, office, min_cell, today, ())
    for spec in specs:
        _add_shapes(tally, spec)
    specs = [_pool(tally, s, min_cell) if s.rows.pooled else s for s in specs]
    processes = [v for v, _ in specs[1].rows.values]
    lines = [line for spec in specs for line in _lines(spec)] + _timing_lines(processes)
    for measure, _, _ in TIMINGS:
        tally.counts[(measure,)] = tally.days[(measure, "")].total()
        for p in processes:
            tally.counts[(measure, f"process={p}")] = tally.days.get((measure, p), Counter()).total()
    shown_keys = {k for line in lines for k in line.members}
    values = {k: tally.counts.get(k, 0) for k in shown_keys}
    hidden = protect(values, lines, min_cell)
    tables = [_table(spec, values, hidden) for spec in specs]
    tables += [_timing_table(measure, title, specs[1].rows.values, tally, values, hidden, min_cell)
               for measure, _, title in TIMINGS]
    tables.append(_rates(values, hidden))
    return Report(period, office, min_cell, today, tuple(tables), suppressed=len(hidden))


def _cell(values: Mapping[Key, int], hidden: frozenset[Key], key: Key) -> Cell:
    return Cell(None, True) if key in hidden else Cell(values.get(key, 0))


def _table(spec: Spec, values: Mapping[Key, int], hidden: frozenset[Key]) -> Table:
    rows = [v for v, _ in spec.rows.values]
    labels = tuple(label for _, label in spec.rows.values)
    if spec.columns is None:
        return Table(spec.id, spec.title, spec.note, labels, ("Count",),
                     tuple((_cell(values, hidden, _key(spec, r, None)),) for r in rows),
                     total=_cell(values, hidden, _key(spec, None, None)), total_label=spec.total_label,
                     chart=spec.chart, alt=spec.alt)
    columns = [v for v, _ in spec.columns.values]
    return Table(spec.id, spec.title, spec.note, labels, tuple(label for _, label in spec.columns.values),
                 tuple(tuple(_cell(values, hidden, _key(spec, r, c)) for c in columns) for r in rows),
                 row_totals=tuple(_cell(values, hidden, _key(spec, r, None)) for r in rows),
                 column_totals=tuple(_cell(values, hidden, _key(spec, None, c)) for c in columns),
                 total=_cell(values, hidden, _key(spec, None, None)), total_label=spec.total_label,
                 chart=spec.chart, alt=spec.alt)


def percentile(days: Counter, share: float) -> float:
    """The nearest-rank percentile of a histogram of days (``share`` 0.9: the smallest number of days
    at least 90 % of the cases took no more than)."""
    return _ranked(days, max(1, math.ceil(share * days.total())))


def median(days: Counter) -> float:
    """The median of a histogram of days (the mean of the two middle values of an even count)."""
    n = days.total()
    if n % 2:
        return percentile(days, 0.5)
    low, high = _ranked(days, n // 2), _ranked(days, n // 2 + 1)
    return (low + high) / 2


def _ranked(days: Counter, rank: int) -> float:
    seen = 0
    for value in sorted(days):
        seen += days[value]
        if seen >= rank:
            return float(value)
    raise ValueError("no days")


def _timing_table(measure: str, title: str, processes: tuple[tuple[str, str], ...], tally: _Tally,
                  values: Mapping[Key, int], hidden: frozenset[Key], min_cell: int) -> Table:
    def row(key: Key, days: Counter) -> tuple[Cell, ...]:
        if not days:
            return _cell(values, hidden, key), Cell(None), Cell(None)
        if days.total() < min_cell:
            return _cell(values, hidden, key), Cell(None, True), Cell(None, True)
        return _cell(values, hidden, key), Cell(median(days)), Cell(percentile(days, 0.9))

    rows = [(label, row((measure, f"process={p}"), tally.days.get((measure, p), Counter())))
            for p, label in processes]
    overall = row((measure,), tally.days.get((measure, ""), Counter()))
    return Table(f"days-to-{ {'decided': 'decision', 'agreed': 'agreement', 'closed': 'closure'}[measure]}",
                 title, "Median and 90th percentile (nearest rank) of the days, for the cases that reached this "
                 "step in the period; suppressed over fewer cases than the threshold.",
                 tuple(label for label, _ in rows), ("Cases", "Median days", "90th percentile days"),
                 tuple(cells for _, cells in rows), column_totals=overall, total_label="All processes",
                 chart="bars", alt=f"Bars of the median {title.lower()[0] + title[1:]}, by process.")


def _rates(values: Mapping[Key, int], hidden: frozenset[Key]) -> Table:
    """Rates from counts shown elsewhere (a rate whose numerator or denominator is hidden is hidden)."""
    def rate(numerator: Key, denominator: Key) -> Cell:
        if numerator in hidden or denominator in hidden or not values.get(denominator):
            return Cell(None, numerator in hidden or denominator in hidden)
        return Cell(round(100 * values.get(numerator, 0) / values[denominator], 1))

    on_time = ("terms", "status=on-time")
    due = ("terms",)
    return Table("rates", "Consent, withdrawal and terms kept, in per cent",
                 "Each rate is worked out from two counts shown in the tables above.",
                 ("Every party consented, of the cases offered a process", "Withdrawn, of the cases closed",
                  "Terms completed on time, of the terms due"), ("Per cent",),
                 ((rate(("offered", "consent=all"), ("offered",)),),
                  (rate(("closed", "outcome=withdrawn"), ("closed",)),),
                  (rate(on_time, due),)))
