"""The ``llmbench`` command: ``run``, ``sweep``, ``compare`` and ``report``.

Exit status: 0 every request succeeded; 1 the server could not be used, or some requests
failed (the result is saved either way); 2 bad usage; 130 interrupted (the partial result
is saved). Errors are messages, never tracebacks.
"""

from __future__ import annotations

import click

from llmobs import __version__
from llmobs.cli.bench_run import report, run
from llmobs.cli.bench_sweep import compare, sweep


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="llmbench")
def cli() -> None:
    """Open-loop load against OpenAI-compatible LLM servers, measured as vLLM's bench serve
    measures, with the servers' own /metrics beside the client's numbers.

    \b
    Examples:
      llmbench run --isl 2500 --osl 100                     # against the built-in emulator
      llmbench run --base-url http://vllm:8000 --request-rate 8 --scrape vllm:8000
      llmbench sweep --base-url http://vllm:8000 --rates 1,2,4,8 --duration 60
      llmbench compare baseline/result.json pd/result.json
    """


cli.add_command(run)
cli.add_command(sweep)
cli.add_command(compare)
cli.add_command(report)


def main() -> None:
    """The command, with the console script's handling of interrupts and exit codes."""
    from llmobs.cli.entry import llmbench

    llmbench()


if __name__ == "__main__":
    main()
