"""The console scripts ``llmobs`` and ``llmbench``: Ctrl-C at any moment the command's own
handling does not cover (importing the command, parsing its options) exits 130 with one line,
not a traceback or click's "Aborted!" with 1.

Importing a command (click, the option tables) takes a noticeable moment; an interrupt then
would otherwise surface as a ``KeyboardInterrupt`` traceback from the import machinery. This
module imports nothing heavy until it runs. ``python -m llmobs.cli.entry`` is ``llmbench``.
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

from llmobs import exitcodes
from llmobs.interrupts import noted

if TYPE_CHECKING:
    import click


def _interrupted(message: str) -> NoReturn:
    noted()
    sys.stderr.write(f"\n{message}\n")
    sys.exit(exitcodes.INTERRUPTED)


def _run(load: Callable[[], click.Group], interrupted: str) -> NoReturn:
    try:
        import click

        cli = load()
    except KeyboardInterrupt:
        _interrupted(interrupted)
    try:
        # click's own handling, but for an interrupt, which is 130 here as everywhere
        code = cli.main(standalone_mode=False)
    except (KeyboardInterrupt, click.Abort):
        _interrupted(interrupted)
    except SystemExit as exc:  # the command said how it ended
        if exc.code == exitcodes.INTERRUPTED:
            noted()
        raise
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except OSError as exc:  # `llmbench report ... | head` closes the pipe: not an error
        if exc.errno != errno.EPIPE:
            raise
        sys.exit(exitcodes.OK)
    sys.exit(code if isinstance(code, int) else exitcodes.OK)


def _llmbench_cli() -> click.Group:
    from llmobs.cli.bench import cli

    return cli


def _llmobs_cli() -> click.Group:
    from llmobs.cli.main import cli

    return cli


def llmbench() -> None:
    _run(_llmbench_cli, "interrupted before the first request: nothing was measured")


def llmobs() -> None:
    _run(_llmobs_cli, "interrupted")


if __name__ == "__main__":
    llmbench()
