"""Small-cell suppression for published counts (PTAC's disclosure avoidance), and its own audit.

A report is a set of counts, each named by a :data:`Key` (a measure and the categories it is
counted over), tied by :class:`Line` s: a total and the counts it is the total of. The same key in
two tables is the same number, so it is shown or hidden everywhere at once, and an attacker who
reads every table is the one the audit plays.

:func:`protect` hides every count from 1 to ``min_cell - 1`` (primary suppression; a zero is shown, as
in published practice: hiding zeros makes every zero beside a shown total a count to protect, and
a small office's report then hides everything), then more counts
(complementary suppression) until no line has a single hidden count, then asks :func:`audit` to
solve for each hidden count from what is shown (a linear programme over all the lines, counts at
least zero, with scipy's HiGHS): where a hidden count has a single possible whole value, it hides
another count beside it and audits again. It ends with nothing determined, at worst with
everything hidden.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from pipeline.errors import ReportError

#: A count's name: its measure, then ``dimension=value`` for each category it is counted over.
Key = tuple[str, ...]


@dataclass(frozen=True)
class Line:
    """``total`` is the sum of ``parts`` (``exact``), or, when a case may fall in several parts (the
    allegations of a case), each part is at most ``total`` and together they are at least it."""

    total: Key
    parts: tuple[Key, ...]
    exact: bool = True

    @property
    def members(self) -> tuple[Key, ...]:
        return (*self.parts, self.total)


@dataclass(frozen=True)
class Range:
    """What the shown counts allow a hidden count to be (``high`` is ``inf`` when unbounded)."""

    low: float
    high: float

    @property
    def determined(self) -> bool:
        """Whether a single whole number fits (the count can be worked out)."""
        return math.isfinite(self.high) and math.floor(self.high + 1e-7) - math.ceil(self.low - 1e-7) < 1


def protect(values: Mapping[Key, int], lines: Iterable[Line], min_cell: int) -> frozenset[Key]:
    """The counts to hide so that none under ``min_cell`` is shown or can be worked out."""
    lines = [line for line in lines if line.parts]
    hidden = {k for k, v in values.items() if 0 < v < min_cell}
    by_key: dict[Key, list[Line]] = defaultdict(list)
    for line in lines:
        for key in line.members:
            by_key[key].append(line)
    while True:
        _complete_lines(values, lines, hidden)
        determined = [k for k, r in audit(values, lines, hidden).items() if r.determined]
        if not determined:
            return frozenset(hidden)
        for key in determined:
            partner = _partner(values, by_key[key], hidden) or _partner(values, lines, hidden)
            if partner is None:
                return frozenset(hidden)  # nothing is left to hide
            hidden.add(partner)


def _complete_lines(values: Mapping[Key, int], lines: list[Line], hidden: set[Key]) -> None:
    """Hide a second count in every exact line that has exactly one hidden (its difference)."""
    changed = True
    while changed:
        changed = False
        for line in lines:
            if line.exact and sum(1 for k in line.members if k in hidden) == 1:
                partner = _partner(values, [line], hidden)
                if partner is not None:
                    hidden.add(partner)
                    changed = True


def _partner(values: Mapping[Key, int], lines: Iterable[Line], hidden: set[Key]) -> Key | None:
    """The shown count of these lines that costs least to hide: the smallest part above zero, then a
    zero part, then the smallest total (ties in a fixed order, so a report is the same every time)."""
    best: tuple[int, int, Key] | None = None
    for line in lines:
        for key in line.members:
            if key in hidden:
                continue
            value = values.get(key, 0)
            rank = (0 if value > 0 else 1) if key != line.total else 2
            candidate = (rank, value, key)
            if best is None or candidate < best:
                best = candidate
    return best[2] if best else None


def audit(values: Mapping[Key, int], lines: Iterable[Line], hidden: Iterable[Key]) -> dict[Key, Range]:
    """Solve for each hidden count from the shown ones: its lowest and highest possible value."""
    hidden = set(hidden)
    lines = [line for line in lines if line.parts and any(k in hidden for k in line.members)]
    ranges: dict[Key, Range] = {}
    for component, its_lines in _components(lines, hidden):
        ranges.update(_solve(values, component, its_lines, hidden))
    for key in hidden - ranges.keys():
        ranges[key] = Range(0, math.inf)  # in no line: nothing bounds it
    return ranges


def _components(lines: list[Line], hidden: set[Key]) -> list[tuple[list[Key], list[Line]]]:
    """The hidden counts in groups tied by lines (each group is solved alone), with their lines."""
    parent: dict[Key, Key] = {}

    def root(key: Key) -> Key:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for line in lines:
        members = [k for k in line.members if k in hidden]
        for other in members[1:]:
            parent[root(other)] = root(members[0])
    groups: dict[Key, tuple[list[Key], list[Line]]] = {}
    for line in lines:
        first = next(k for k in line.members if k in hidden)
        groups.setdefault(root(first), ([], []))[1].append(line)
    for key in sorted(hidden):
        if key in parent:
            groups.setdefault(root(key), ([], []))[0].append(key)
    return [g for g in groups.values() if g[0]]


def _solve(values: Mapping[Key, int], keys: list[Key], lines: list[Line], hidden: set[Key]) -> dict[Key, Range]:
    index = {k: i for i, k in enumerate(keys)}
    eq_rows, eq_rhs, ub_rows, ub_rhs = [], [], [], []

    def row(coefficients: list[tuple[Key, float]], into: list, rhs: list) -> None:
        vector, constant = np.zeros(len(keys)), 0.0
        for key, coefficient in coefficients:
            if key in hidden:
                vector[index[key]] += coefficient
            else:
                constant -= coefficient * values.get(key, 0)
        if vector.any():
            into.append(vector)
            rhs.append(constant)

    for line in lines:
        if line.exact:
            row([(line.total, 1.0)] + [(p, -1.0) for p in line.parts], eq_rows, eq_rhs)
        else:
            for part in line.parts:
                row([(part, 1.0), (line.total, -1.0)], ub_rows, ub_rhs)
            row([(line.total, 1.0)] + [(p, -1.0) for p in line.parts], ub_rows, ub_rhs)
    problem = {"A_eq": np.array(eq_rows) if eq_rows else None, "b_eq": eq_rhs or None,
               "A_ub": np.array(ub_rows) if ub_rows else None, "b_ub": ub_rhs or None,
               "bounds": (0, None), "method": "highs"}
    ranges = {}
    for key, i in index.items():
        objective = np.zeros(len(keys))
        objective[i] = 1.0
        low = linprog(objective, **problem)
        high = linprog(-objective, **problem)
        if low.status == 2:  # infeasible: the shown counts contradict each other
            raise ReportError("The report's counts contradict each other; nothing was published.")
        ranges[key] = Range(low.fun if low.status == 0 else 0.0,
                            -high.fun if high.status == 0 else math.inf)
    return ranges
