"""``llmobs demo``: the whole stack on this machine in one command.

Starts the emulator (``llmobs sim --pd 1P1D``), the exporter following its instances, the
autoscaler acting on its scale endpoint, and Prometheus when it is installed; replays a load
that rises and falls with ``llmbench``; shows a live view; ends with a report and PNGs in the
run folder. Ctrl-C or SIGTERM stops every process it started (exit 130, the partial report
written); a process that fails to start is named (exit 1). The demo's modules are imported
when the command runs, not when ``llmobs --help`` lists it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from llmobs.cli.params import Finite
from llmobs.interrupts import noted, terminate_as_interrupt

DEFAULT_ROOT = Path("llmobs-demo")
MIN_DURATION_S = 20.0  # below this the roles have no time to grow and shrink


def default_folder(now: datetime) -> Path:
    """A new folder under ``./llmobs-demo/`` named by the time."""
    return DEFAULT_ROOT / now.strftime("%Y%m%d-%H%M%S")


@click.command()
@click.option(
    "--duration",
    "duration_s",
    type=Finite(MIN_DURATION_S),
    default=240.0,
    show_default=True,
    metavar="SECONDS",
    help=f"Seconds of load (at least {MIN_DURATION_S:g}); start-up and the report add a little.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Run folder (default: a new timestamped folder under ./llmobs-demo/).",
)
def demo(duration_s: float, out: Path | None) -> None:
    """Run the emulator, exporter, autoscaler and Prometheus under a load that rises and falls.

    \b
    Examples:
      llmobs demo                      # four minutes of load
      llmobs demo --duration 60 --out /tmp/demo
    """
    folder = out or default_folder(datetime.now(UTC))
    try:
        if folder.exists() and any(folder.iterdir()):
            raise click.UsageError(f"--out {folder}: the folder is not empty; give a new one")
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"--out {folder}: cannot make it: {exc.strerror or exc}") from None
    from llmobs.demo.configs import Settings
    from llmobs.demo.run import demo as run_demo

    with terminate_as_interrupt():
        try:
            code = run_demo(Settings(duration_s=duration_s), folder)
        except KeyboardInterrupt:  # before the run started its children
            noted()
            click.echo("interrupted", err=True)
            code = 130
    if code == 130:
        noted()
    sys.exit(code)
