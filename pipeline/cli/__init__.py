"""The ``accord`` command: one module per command group, one output module; only this package (and
the portal) prints. A command parses its options, calls the library and translates its errors:
every rule lives in the library."""

from pipeline.cli.main import cli, main

__all__ = ["cli", "main"]
