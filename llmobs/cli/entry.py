"""The ``llmbench`` console script: Ctrl-C while the command is still importing exits 130
with one line, not a traceback.

Importing the command (click, the option tables) takes a noticeable moment; an interrupt
then would otherwise surface as a ``KeyboardInterrupt`` traceback from the import machinery.
This module imports nothing heavy until it runs. ``python -m llmobs.cli.entry`` is the same
command.
"""

from __future__ import annotations

import sys

from llmobs import exitcodes


def llmbench() -> None:
    try:
        from llmobs.cli.bench import cli
    except KeyboardInterrupt:
        sys.stderr.write("interrupted before the first request: nothing was measured\n")
        sys.exit(exitcodes.INTERRUPTED)
    cli()


if __name__ == "__main__":
    llmbench()
