"""The ``llmbench`` command. The benchmark harness is the next issue; until it lands the
command exists, says so, and exits 2, so nobody mistakes it for a benchmark that ran."""

from __future__ import annotations

import click

from llmobs import __version__


@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "ignore_unknown_options": True}
)
@click.version_option(__version__, prog_name="llmbench")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def cli(args: tuple[str, ...]) -> None:
    """Open-loop Poisson load against OpenAI-compatible servers (not yet available)."""
    raise click.UsageError(
        "llmbench is not available yet in this version of llmobs: the benchmark harness "
        "(llmbench run --isl 2500 --osl 100) lands with its own issue. Meanwhile "
        "'llmobs scrape URL --window 30' reads a running engine's latency signals."
    )


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
