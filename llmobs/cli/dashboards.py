"""``llmobs dashboards``: the Grafana boards as code.

``build`` writes every board's JSON into a folder (the top-level ``dashboards/`` when run
from the repository) or, with ``--check``, says which committed files are stale. The boards
(and grafanalib) are imported when a subcommand runs, not for ``llmobs --help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from llmobs import exitcodes
from llmobs.cli.dashboards_preview import preview

DEFAULT_OUT = "dashboards"


@click.group()
def dashboards() -> None:
    """Grafana dashboards: LLM serving (PD), autoscaler, engine-native.

    \b
    Examples:
      llmobs dashboards build                 # write dashboards/*.json
      llmobs dashboards build --check         # exit 1 naming the stale files
      llmobs dashboards build --out /tmp/boards
    """


@dashboards.command()
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_OUT,
    show_default=True,
    help="The folder the boards' JSON files go to.",
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 naming each file in --out that differs from what the "
    "code builds (0 when all are current).",
)
def build(out: Path, check: bool) -> None:
    """Build every board into --out (or check the files there)."""
    from llmobs.dashboards import build as boards

    files = boards.texts()
    if check:
        names = boards.stale(out, files)
        if names:
            click.echo(
                f"stale in {out}: {', '.join(names)}; regenerate with `llmobs dashboards "
                "build` and commit the result",
                err=True,
            )
            sys.exit(exitcodes.FAILURE)
        click.echo(f"{len(files)} boards in {out} are current")
        return
    try:
        written = boards.write(out, files)
    except OSError as exc:
        click.echo(f"error: cannot write the boards to {out}: {exc.strerror or exc}", err=True)
        sys.exit(exitcodes.FAILURE)
    for name in files:
        click.echo(f"{'wrote' if name in written else 'current'} {out / name}")


dashboards.add_command(preview)
