"""The ``llmobs`` command: one click group, one subcommand per component.

Each subcommand parses its arguments, calls the component, prints, and turns llmobs errors
into messages and exit codes (0 ok, 1 a target or run failed, 2 bad usage), never tracebacks.
"""

from __future__ import annotations

import click

from llmobs import __version__
from llmobs.cli.autoscaler import autoscaler
from llmobs.cli.dashboards import dashboards
from llmobs.cli.demo import demo
from llmobs.cli.exporter import exporter
from llmobs.cli.scrape import scrape
from llmobs.cli.sim import sim
from llmobs.cli.simulate import simulate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llmobs")
def cli() -> None:
    """Observe, autoscale and benchmark LLM inference (vLLM, SGLang, Dynamo).

    \b
    Examples:
      llmobs sim                                   # vLLM emulator on 127.0.0.1:8000
      llmobs exporter --target http://127.0.0.1:8000   # role-level SLO signals on :9400
      llmobs scrape http://127.0.0.1:8000/metrics
      llmobs scrape 10.0.0.5:8000 10.0.0.6:30000 --window 30 --json
      llmobs autoscaler --config autoscaler/examples/emulator.yaml   # SLO autoscaler
      llmobs simulate --pattern dynamo --policy llmobs --policy fixed:2P2D
      llmobs dashboards build --check              # the Grafana boards in dashboards/
      llmobs demo --duration 60                    # everything together, live
    """


cli.add_command(autoscaler)
cli.add_command(demo)
cli.add_command(dashboards)
cli.add_command(exporter)
cli.add_command(scrape)
cli.add_command(sim)
cli.add_command(simulate)


def main() -> None:
    """The command, with the console script's handling of interrupts and exit codes."""
    from llmobs.cli.entry import llmobs

    llmobs()
