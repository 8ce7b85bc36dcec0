"""``llmbench run`` and ``llmbench report``, and the pieces ``sweep`` shares with them:
the target (a server, or the emulator started here) and exit codes (``llmobs.exitcodes``).
SIGTERM is Ctrl-C (``llmobs.interrupts``)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from llmobs import exitcodes, strictjson
from llmobs.cli.bench_options import build_config, given, run_options
from llmobs.errors import ConfigError, LlmobsError
from llmobs.interrupts import noted, terminate_as_interrupt

if TYPE_CHECKING:
    from llmobs.bench.config import RunConfig
    from llmobs.bench.harness import Run


def say(message: str) -> None:
    click.echo(message, err=True)


@contextlib.contextmanager
def target(cfg: RunConfig) -> Iterator[tuple[str, RunConfig]]:
    """The server to load: ``--base-url``, or the emulator started here (scraped too)."""
    from llmobs.bench.harness import emulator

    if cfg.base_url is not None:
        yield cfg.base_url, cfg
        return
    try:
        with emulator(cfg) as sim:
            say(
                f"no --base-url: benchmarking the built-in EMULATOR ({sim.description}) at "
                f"{sim.base_url}, not a real server. Give --base-url to measure yours."
            )
            scrape = cfg.scrape or tuple(sim.metrics_urls)
            yield sim.base_url, cfg.model_copy(update={"scrape": scrape})
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def run_one(cfg: RunConfig, api_key: str | None, out_dir: Path) -> Run:
    """One run against ``cfg``'s server or the emulator. Raises LlmobsError when it cannot
    start (nothing was sent) and KeyboardInterrupt when stopped before the first request."""
    from llmobs.bench.harness import benchmark

    with target(cfg) as (base_url, effective):
        return benchmark(effective, base_url, api_key, out_dir, say)


def stop_on(exc: BaseException) -> NoReturn:
    """The message and exit status of a run that could not start."""
    if isinstance(exc, KeyboardInterrupt):
        noted()
        say("interrupted before the first request: nothing was measured")
        sys.exit(exitcodes.INTERRUPTED)
    if isinstance(exc, ConfigError):
        raise click.UsageError(str(exc))
    say(f"error: {exc}")
    sys.exit(exitcodes.FAILURE)


def show(run: Run, as_json: bool, plot: Path | None) -> None:
    from llmobs.bench.plots import run_plots
    from llmobs.bench.report import table

    if as_json:
        click.echo(strictjson.dumps(run.doc, indent=2))
    else:
        click.echo(table(run.doc))
    if plot is not None:
        try:
            paths = run_plots(run.records, run.series, plot)
        except OSError as exc:
            say(f"error: cannot write the plots to {plot}: {exc.strerror or exc}")
        else:
            say(f"plots: {', '.join(str(p) for p in paths)}")


def status(run: Run) -> int:
    """1 for a run that failed (a write refused, a worker died) or had failed requests, 130
    for an interrupted one, else 0."""
    if run.doc.get("state") == "failed":
        return exitcodes.FAILURE
    if not run.complete:
        return exitcodes.INTERRUPTED
    return exitcodes.FAILURE if run.failed else exitcodes.OK


@click.command()
@run_options
@click.argument("dataset_file", required=False, metavar="[FILE]")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for result.json and records.jsonl (default llmbench-runs/TIME[-LABEL]).",
)
@click.option("--plot", type=click.Path(file_okay=False, path_type=Path), help="PNGs here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON, not the table.")
@click.pass_context
def run(
    ctx: click.Context,
    /,
    dataset_file: str | None,
    out: Path | None,
    plot: Path | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Send one open-loop load and report what it measured.

    FILE is the dataset for --dataset sharegpt or trace. Records are written as they finish;
    Ctrl-C stops the run and still writes the (partial) result.
    """
    try:
        with terminate_as_interrupt():
            from llmobs.bench.harness import default_out_dir

            try:
                cfg, api_key = build_config(given(ctx, options), dataset_file)
            except ConfigError as exc:
                raise click.UsageError(str(exc)) from None
            out_dir = out or default_out_dir(cfg.label)
            result = run_one(cfg, api_key, out_dir)
    except (LlmobsError, KeyboardInterrupt) as exc:
        stop_on(exc)
    show(result, as_json, plot)
    if result.doc.get("error"):
        say(f"error: the run failed: {result.doc['error']}")
    if result.doc.get("state") == "failed" and "cannot write" in str(result.doc.get("error")):
        say(f"what was written before the failure is in {out_dir}")
    else:
        say(f"saved {out_dir / 'result.json'} and {out_dir / 'records.jsonl'}")
    sys.exit(status(result))


@click.command()
@click.argument("result", type=click.Path(exists=True, path_type=Path))
@click.option("--plot", type=click.Path(file_okay=False, path_type=Path), help="PNGs here.")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON, not the table.")
def report(result: Path, plot: Path | None, as_json: bool) -> None:
    """Print a saved run again (its folder or its result.json), and plot it.

    A run killed before it finished gets its summary rebuilt from its records; records that
    are missing or have bad lines are warned of, not fatal."""
    from llmobs.bench.saved import load_saved

    try:
        saved = load_saved(result)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    for warning in saved.warnings:
        say(f"warning: {warning}")
    if plot is not None and not saved.run.records:
        say("the run has no records to plot (records.jsonl is missing or empty)")
        plot = None
    show(saved.run, as_json, plot)
