"""``accord process``, ``accord watch`` and ``accord status``: the inbox."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import click

from pipeline.cli.options import AccordCommand, json_option, workspace_option
from pipeline.cli.output import echo, print_json, progress_bar, say_line
from pipeline.display import escape
from pipeline.workspace import Workspace


@click.command(cls=AccordCommand)
@workspace_option
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; one line per file only.")
def process(ws: Workspace, quiet: bool) -> None:
    """Process every file in the inbox once, then exit.

    Exits with 0 only if nothing failed. Failed files are in inbox/failed/ with a
    .reason.txt beside each.

    \b
    Example:
        cp case.yaml inbox/ && accord process
    """
    from pipeline.documents.convert import Converter
    from pipeline.intake.ingest import Ingestor
    from pipeline.intake.watcher import run_once

    config = ws.load_config()
    with Converter(config.converter) as converter, Ingestor(ws, config, converter) as ingestor, \
            progress_bar(quiet) as progress:
        task = progress.add_task("Processing", total=None)

        def started(total: int) -> None:
            progress.update(task, total=total)

        def finished(outcome: Any) -> None:
            progress.advance(task)
            say_line(progress, escape(_outcome_line(outcome)))

        summary = run_once(ws, ingestor, on_start=started, on_outcome=finished)
    for line in summary.reconciled:
        echo(f"reconcile: {line}")
    echo(
        f"{summary.count('recorded')} recorded, {summary.count('duplicate')} already recorded, "
        f"{summary.count('events')} event file(s), {summary.count('signed')} signed copie(s), "
        f"{summary.count('failed')} failed."
    )
    if summary.stopped:
        raise click.ClickException(f"Stopped: {escape(summary.stopped)} The remaining files are untouched; run again when fixed.")
    if summary.failed:
        sys.exit(1)


def _outcome_line(outcome: Any) -> str:
    if outcome.status == "recorded":
        total = sum(outcome.timings.values())
        return f"recorded  {outcome.source_name} -> {outcome.record_id} ({total:.2f} s)"
    if outcome.status == "duplicate":
        return f"duplicate {outcome.source_name} (already {outcome.record_id})"
    if outcome.status == "events":
        return f"events    {outcome.source_name}: {outcome.reason}"
    if outcome.status == "signed":
        return f"signed    {outcome.source_name} -> {outcome.record_id}: {outcome.reason or ''}"
    return f"FAILED    {outcome.source_name}: {outcome.reason}"


@click.command(cls=AccordCommand)
@workspace_option
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="LibreOffice instances working at once (default: watch.workers, else one per core).")
@click.option("--poll", "poll", type=click.FloatRange(min=0.1), default=None,
              help="Poll the inbox every SECONDS instead of using file events (network shares).")
def watch(ws: Workspace, workers: int | None, poll: float | None) -> None:
    """Watch the inbox and process every file saved into it, until stopped.

    Files already in the inbox are taken at start; a file is taken once it has stopped
    changing. SIGTERM or Ctrl-C finishes the documents in hand and takes no new ones.
    Each document is logged with its outcome and timings (add --log-format json).

    \b
    Example:
        accord --log-format json watch --workers 2
        accord watch --poll 5        # an inbox on a network share
    """
    from pipeline.intake.watcher import Watcher

    logging.getLogger("accord").setLevel(min(logging.getLogger("accord").level, logging.INFO))
    watcher = Watcher(ws, ws.load_config(), workers=workers, poll_seconds=poll)
    previous = {sig: signal.signal(sig, lambda *_: watcher.stop()) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        stats = watcher.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    counts = ", ".join(f"{n} {k}" for k, n in sorted(stats.outcomes.items())) or "no files"
    echo(f"Stopped. {counts}.", err=True)


@click.command(cls=AccordCommand)
@workspace_option
@json_option
def status(ws: Workspace, as_json: bool) -> None:
    """What is queued, in progress, processed and failed today; the last errors; the converters.

    \b
    Example:
        accord status
        accord status --json
    """
    from pipeline.intake.status import workspace_status

    data = workspace_status(ws)
    if as_json:
        print_json(data)
        return
    watcher = data["watcher"]
    echo(f"Inbox: {data['queued']} waiting, {data['in_progress']} in progress")
    echo(f"Today: {data['processed_today']} processed, {data['failed_today']} failed")
    if watcher["running"]:
        conv = ", ".join(f"pid {c['pid']} {'up' if c['alive'] else 'DOWN'} ({c['conversions']} documents)"
                         for c in watcher["converters"])
        echo(f"Watcher: running (pid {watcher['pid']}); converters: {conv or 'none'}")
        if watcher.get("fault"):
            echo(f"Intake stopped: {watcher['fault']}")
    else:
        echo("Watcher: not running")
    for err in data["last_errors"]:
        echo(f"  {err['failed_at']}  {err['source_name']}  [{err['step']}] {err['reason']}")
