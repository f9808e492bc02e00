"""Retention schedules and due dates: pure functions of (record, events, policy).

``retention_policies/schedules.yaml`` gives, for each record class, the trigger
events (the clock starts at the later of them), the period, the action when it
runs out (destroy, transfer, review, permanent) and whether a person must approve
the disposition (default: yes). A record whose trigger has not happened is kept,
and its due date says why.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from pipeline.errors import ConfigurationError

SCHEDULES_FILE = "schedules.yaml"
ACTIONS = ("destroy", "transfer", "review", "permanent")
#: The events a trigger may name; ``created`` is the record's own creation.
TRIGGERS = ("created", "case-closed", "agreement-expired", "agreement-terminated", "case-withdrawn")
#: Record classes Accord itself produces, which every policy must cover too.
OWN_CLASSES = ("disposition-certificate", "failure-report")
#: The class of the Director's sealed reports (``reports/``).
REPORT_CLASS = "program-report"


#: The program reports' schedule when ``schedules.yaml`` names none (the one the defaults ship).
DEFAULT_REPORT_SCHEDULE = {
    "trigger": ["created"], "period": {"years": 10}, "action": "review", "approval": True,
    "authority": "Program evaluation reports: 10 years, then reviewed for their archival value",
}


@dataclass(frozen=True)
class Schedule:
    record_class: str
    triggers: tuple[str, ...]
    years: int = 0
    months: int = 0
    days: int = 0
    action: str = "destroy"
    approval: bool = True
    authority: str = ""

    @property
    def period(self) -> str:
        return ", ".join(f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in
                         ((self.years, "year"), (self.months, "month"), (self.days, "day")) if n) or "0 days"

    @property
    def rule(self) -> str:
        """The rule in words, as tombstones and certificates quote it."""
        if self.action == "permanent":
            return f"{self.record_class}: keep permanently"
        return f"{self.record_class}: {self.action} {self.period} after {' and '.join(self.triggers)}"


@dataclass(frozen=True)
class RetentionPolicy:
    schedules: Mapping[str, Schedule]
    transfer_folder: str = "transfers"
    fixity_days: int = 90
    sweep_time: str = "02:00"

    def schedule_for(self, record_class: str) -> Schedule | None:
        return self.schedules.get(record_class)


@dataclass(frozen=True)
class Due:
    """When a record is due for its action, and why (or why not yet)."""

    date: dt.date | None
    reason: str
    action: str
    rule: str


def add_period(start: dt.date, years: int = 0, months: int = 0, days: int = 0) -> dt.date:
    """``start`` plus a calendar period; 29 February plus a year is 28 February."""
    month_index = start.month - 1 + months + 12 * years
    year, month = start.year + month_index // 12, month_index % 12 + 1
    day = min(start.day, calendar.monthrange(year, month)[1])
    return dt.date(year, month, day) + dt.timedelta(days=days)


def trigger_dates(events: Iterable[tuple[str, dt.date]], created: dt.date) -> dict[str, dt.date]:
    """The date each trigger happened, from a case's events (a reopening cancels an earlier closure)."""
    latest: dict[str, dt.date] = {"created": created}
    for name, date in events:
        if name not in latest or date > latest[name]:
            latest[name] = date
    reopened = latest.get("case-reopened")
    if reopened and "case-closed" in latest and reopened > latest["case-closed"]:
        del latest["case-closed"]
    return latest


def due_for(schedule: Schedule | None, happened: Mapping[str, dt.date]) -> Due:
    """A record's due date under its schedule, given which triggers happened when."""
    if schedule is None:
        return Due(None, "no retention schedule covers this record class: kept", "review", "")
    if schedule.action == "permanent":
        return Due(None, "kept permanently", "permanent", schedule.rule)
    missing = [t for t in schedule.triggers if t not in happened]
    if missing:
        return Due(None, f"kept: waiting for {', '.join(missing)}", schedule.action, schedule.rule)
    start_event = max(schedule.triggers, key=lambda t: happened[t])
    start = happened[start_event]
    date = add_period(start, schedule.years, schedule.months, schedule.days)
    return Due(date, f"{schedule.action} on {date.isoformat()}: {start_event} on {start.isoformat()} "
                     f"+ {schedule.period}", schedule.action, schedule.rule)


# --- loading -----------------------------------------------------------------------------


def load_retention(folder: Path, record_classes: Iterable[str]) -> RetentionPolicy:
    """Read and check ``schedules.yaml``; every class a template can produce must be covered."""
    path = folder / SCHEDULES_FILE
    if not path.exists():
        raise ConfigurationError(f"retention_policies/{SCHEDULES_FILE} is missing: no record may be kept unscheduled.")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"{SCHEDULES_FILE} is not valid YAML: {exc}") from None
    return parse_retention(raw, record_classes)


def parse_retention(raw: Mapping[str, Any], record_classes: Iterable[str] = ()) -> RetentionPolicy:
    where = SCHEDULES_FILE
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where} must be a mapping with 'schedules'.")
    unknown = set(raw) - {"schedules", "transfer_folder", "fixity_days", "sweep_time"}
    if unknown:
        raise ConfigurationError(f"Unexpected key in {where}: {', '.join(sorted(map(str, unknown)))}.")
    schedules: dict[str, Schedule] = {}
    for cls, entry in (raw.get("schedules") or {}).items():
        schedules[str(cls)] = _schedule(str(cls), entry)
    if REPORT_CLASS not in schedules:  # a policy written before reports were kept
        schedules[REPORT_CLASS] = _schedule(REPORT_CLASS, DEFAULT_REPORT_SCHEDULE)
    needed = set(record_classes) | set(OWN_CLASSES)
    uncovered = sorted(needed - set(schedules))
    if uncovered:
        raise ConfigurationError(f"{where} covers no schedule for the record class(es): {', '.join(uncovered)}.")
    fixity_days = raw.get("fixity_days", 90)
    if not isinstance(fixity_days, int) or not 1 <= fixity_days <= 3650:
        raise ConfigurationError(f"{where}: fixity_days must be a whole number of days between 1 and 3650.")
    sweep_time = raw.get("sweep_time", "02:00")
    if isinstance(sweep_time, int):  # YAML reads an unquoted 14:30 as a number of minutes
        sweep_time = f"{sweep_time // 60:02d}:{sweep_time % 60:02d}"
    sweep_time = str(sweep_time)
    try:
        dt.time.fromisoformat(sweep_time)
    except ValueError:
        raise ConfigurationError(f"{where}: sweep_time must be a time of day like 02:00.") from None
    folder = str(raw.get("transfer_folder", "transfers"))
    if ".." in Path(folder).parts or Path(folder).is_absolute():
        raise ConfigurationError(f"{where}: transfer_folder must be a folder inside the workspace "
                                 "(a relative path without '..').")
    return RetentionPolicy(schedules, folder, fixity_days, sweep_time)


def _schedule(cls: str, entry: Any) -> Schedule:
    where = f"{SCHEDULES_FILE}, schedule {cls}"
    if not isinstance(entry, Mapping):
        raise ConfigurationError(f"{where} must be a mapping.")
    unknown = set(entry) - {"trigger", "period", "action", "approval", "authority"}
    if unknown:
        raise ConfigurationError(f"{where}: unexpected key(s) {', '.join(sorted(map(str, unknown)))}.")
    action = entry.get("action", "destroy")
    if action not in ACTIONS:
        raise ConfigurationError(f"{where}: action must be one of {', '.join(ACTIONS)}.")
    triggers = entry.get("trigger") or []
    triggers = [triggers] if isinstance(triggers, str) else list(triggers)
    if action != "permanent" and not triggers:
        raise ConfigurationError(f"{where}: name the trigger event(s) that start the clock.")
    for t in triggers:
        if t not in TRIGGERS:
            raise ConfigurationError(f"{where}: unknown trigger {t!r} (triggers: {', '.join(TRIGGERS)}).")
    period = entry.get("period") or {}
    if not isinstance(period, Mapping) or set(period) - {"years", "months", "days"}:
        raise ConfigurationError(f"{where}: period takes years, months and days.")
    values = {k: period.get(k, 0) for k in ("years", "months", "days")}
    if any(not isinstance(v, int) or v < 0 for v in values.values()):
        raise ConfigurationError(f"{where}: period values must be whole numbers, not negative.")
    if action != "permanent" and not any(values.values()):
        raise ConfigurationError(f"{where}: the period must be longer than nothing.")
    approval = entry.get("approval", True)
    if not isinstance(approval, bool):
        raise ConfigurationError(f"{where}: approval must be true or false.")
    return Schedule(cls, tuple(triggers), values["years"], values["months"], values["days"], action, approval,
                    str(entry.get("authority", "")))
