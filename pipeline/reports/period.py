"""The period a report covers: by default the academic year that contains a day."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

from pipeline.errors import ReportError


@dataclass(frozen=True)
class Period:
    """From ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ReportError(f"The report's period ends ({self.end}) before it starts ({self.start}).")
        if (self.end - self.start).days > 3660:
            raise ReportError("A report covers at most ten years; choose a shorter period.")

    @functools.cached_property
    def _bounds(self) -> tuple[str, str]:
        return self.start.isoformat(), self.end.isoformat()

    def holds(self, day: str | None) -> bool:
        """Whether an ISO date (as the case summaries keep them) falls in the period."""
        return day is not None and self._bounds[0] <= day[:10] <= self._bounds[1]

    def months(self) -> list[str]:
        """The months the period touches, as ``YYYY-MM``."""
        found, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            found.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return found

    @property
    def label(self) -> str:
        return f"{_day(self.start)} to {_day(self.end)}"


def academic_year(today: dt.date, starts: int = 7) -> Period:
    """The academic year (``starts``: its first month) that contains ``today``."""
    first = today.year if today.month >= starts else today.year - 1
    start = dt.date(first, starts, 1)
    end = dt.date(first + 1, starts, 1) - dt.timedelta(days=1)
    return Period(start, end)


def month_label(month: str) -> str:
    """``2026-07`` as ``Jul 2026``."""
    return dt.date(int(month[:4]), int(month[5:7]), 1).strftime("%b %Y")


def _day(day: dt.date) -> str:
    return f"{day.day} {day.strftime('%B %Y')}"
