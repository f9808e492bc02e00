"""``python -m pipeline.cli``: the ``accord`` command."""

from pipeline.cli.main import main

main()
