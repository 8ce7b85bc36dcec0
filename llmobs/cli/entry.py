"""The ``llmbench`` console script: Ctrl-C at any moment before the run's own handling
starts (importing the command, parsing its options) exits 130 with one line, not a traceback
or click's "Aborted!" with 1.

Importing the command (click, the option tables) takes a noticeable moment; an interrupt then
would otherwise surface as a ``KeyboardInterrupt`` traceback from the import machinery. This
module imports nothing heavy until it runs. ``python -m llmobs.cli.entry`` is the same command.
"""

from __future__ import annotations

import errno
import sys
from typing import NoReturn

from llmobs import exitcodes


def _interrupted() -> NoReturn:
    sys.stderr.write("\ninterrupted before the first request: nothing was measured\n")
    sys.exit(exitcodes.INTERRUPTED)


def llmbench() -> None:
    try:
        import click

        from llmobs.cli.bench import cli
    except KeyboardInterrupt:
        _interrupted()
    try:
        # click's own handling, but for an interrupt, which is 130 here as everywhere
        code = cli.main(standalone_mode=False)
    except (KeyboardInterrupt, click.Abort):
        _interrupted()
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OSError as exc:  # `llmbench report ... | head` closes the pipe: not an error
        if exc.errno != errno.EPIPE:
            raise
        sys.exit(exitcodes.OK)
    sys.exit(code if isinstance(code, int) else exitcodes.OK)


if __name__ == "__main__":
    llmbench()
