"""``accord serve``: the web portal."""

from __future__ import annotations

import logging
import os

import click

from pipeline.cli.options import AccordCommand, workspace_option
from pipeline.cli.output import echo
from pipeline.workspace import Workspace


@click.command(cls=AccordCommand)
@workspace_option
@click.option("--host", default=None, help="Address to listen on (default: portal.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Port (default: portal.port, 8080).")
@click.option("--workers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="Server processes (sessions and throttling are shared through the workspace).")
def serve(ws: Workspace, host: str | None, port: int | None, workers: int) -> None:
    """Run the web portal for counsel, the records officer and the auditor.

    It listens on loopback by default: put a TLS reverse proxy in front of it (see README).

    \b
    Example:
        accord serve --port 8080
    """
    import uvicorn

    config = ws.load_config()
    host = host or config.portal.host
    port = port or config.portal.port
    options = dict(host=host, port=port, proxy_headers=False, server_header=False, access_log=False,
                   log_level="warning", timeout_graceful_shutdown=10)
    logging.getLogger("accord").setLevel(min(logging.getLogger("accord").level, logging.INFO))
    echo(f"Accord portal on http://{host}:{port}/ (workspace {ws.root}); Ctrl-C stops it.", err=True)
    if workers > 1:
        os.environ["ACCORD_HOME"] = str(ws.root)
        uvicorn.run("pipeline.portal.app:app_from_environment", factory=True, workers=workers, **options)
    else:
        from pipeline.portal.app import create_app

        uvicorn.run(create_app(ws, config), **options)
