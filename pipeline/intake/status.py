"""``accord status``: the inbox, today's outcomes, the last errors and the watcher's converters."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import Any

from pipeline.intake import inbox
from pipeline.intake.watcher import read_status
from pipeline.records import failures
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

_LAST_ERRORS = 5


def workspace_status(ws: Workspace, now: float | None = None) -> dict[str, Any]:
    now = now or time.time()
    today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date().isoformat()
    processed_dir = ws.processed / today
    processed_today = 0
    if processed_dir.is_dir():
        processed_today = sum(1 for p in processed_dir.iterdir() if not p.name.endswith(inbox.NOTE_SUFFIX))
    with open_catalog(ws.catalog) as catalog:
        failed_today = failures.count_on(catalog, dt.date.fromisoformat(today))
        last_errors = failures.latest(catalog, _LAST_ERRORS)
        records = catalog.count()
    return {
        "queued": len(inbox.candidates(ws)),
        "in_progress": len(inbox.staged(ws)),
        "processed_today": processed_today,
        "failed_today": failed_today,
        "records": records,
        "last_errors": last_errors,
        "watcher": _watcher(ws, now),
    }


def _watcher(ws: Workspace, now: float) -> dict[str, Any]:
    data = read_status(ws) or {}
    alive = bool(data.get("running")) and _pid_alive(data.get("pid")) and now - data.get("heartbeat", 0) < 60
    converters = [dict(c, alive=c.get("alive") and alive) for c in data.get("converters", [])]
    return {"running": alive, "pid": data.get("pid") if alive else None, "fault": data.get("fault") if alive else None,
            "converters": converters if alive else [], "outcomes": data.get("outcomes", {})}


def _pid_alive(pid: Any) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
