"""``llmbench sweep`` (runs over rates or concurrencies, or an SLO search) and ``llmbench
compare`` (saved runs side by side): options in, ``llmobs.bench.sweeprun`` and
``llmobs.bench.compare`` called, tables out."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from llmobs import exitcodes, strictjson
from llmobs.cli.bench_options import build_config, given, run_options
from llmobs.cli.bench_run import say
from llmobs.cli.params import POSITIVE, Finite
from llmobs.errors import ConfigError
from llmobs.interrupts import terminate_as_interrupt

if TYPE_CHECKING:
    from llmobs.bench.sweeprun import Plan


def _values(text: str, what: str, integer: bool) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigError(f"{what} {text!r}: expected numbers like 1,2,4") from None
    if not values or any(not v > 0 for v in values):
        raise ConfigError(f"{what}: give one or more positive numbers")
    if integer and any(not math.isfinite(v) or v != int(v) for v in values):
        raise ConfigError(f"{what}: concurrencies are whole numbers")
    if any(not math.isfinite(v) for v in values):
        raise ConfigError(f"{what}: give finite numbers (a sweep of everything at once is one run)")
    names = [f"{v:g}" for v in values]  # a point's folder is named by its value, as :g writes it
    repeated = next((name for name in names if names.count(name) > 1), None)
    if repeated is not None:
        raise ConfigError(f"{what}: {repeated} is given twice (to 6 digits): give each value once")
    return values


@click.command()
@run_options
@click.argument("dataset_file", required=False, metavar="[FILE]")
@click.option("--rates", metavar="R1,R2,...", help="Request rates to run, one run each.")
@click.option(
    "--concurrencies",
    metavar="C1,C2,...",
    help="Max concurrencies to run (all requests queued at once), one run each.",
)
@click.option(
    "--search",
    is_flag=True,
    help="Find the highest rate at which --attainment of the requests meet --slo.",
)
@click.option(
    "--attainment",
    type=Finite(0, 1, min_open=True),
    default=0.9,
    show_default=True,
    help="Search: the fraction of requests that must meet every SLO.",
)
@click.option("--start-rate", type=POSITIVE, default=1.0, show_default=True)
@click.option("--max-rate", type=POSITIVE, default=1000.0, show_default=True)
@click.option(
    "--precision",
    type=POSITIVE,
    default=0.05,
    show_default=True,
    help="Search: stop when the bracket is narrower than this fraction of the rate.",
)
@click.option("--max-runs", type=click.IntRange(min=1), default=12, show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for sweep.json, curve.png and one folder per run.",
)
@click.option("--json", "as_json", is_flag=True, help="Print sweep.json, not the table.")
@click.pass_context
def sweep(
    ctx: click.Context,
    /,
    dataset_file: str | None,
    rates: str | None,
    concurrencies: str | None,
    search: bool,
    attainment: float,
    start_rate: float,
    max_rate: float,
    precision: float,
    max_runs: int,
    out: Path | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Run the same load at several rates or concurrencies, or search for the highest rate
    that meets the SLO; print a table and draw the throughput-latency curve.

    \b
    llmbench sweep --base-url URL --rates 1,2,4,8 --duration 60
    llmbench sweep --base-url URL --search --slo ttft=500ms,tpot=50ms --duration 60
    """
    from llmobs.bench.harness import default_out_dir
    from llmobs.bench.sweep import Search
    from llmobs.bench.sweeprun import INTERRUPTED, SEARCH_DURATION_S, SWEEP_FILE, Plan, run_sweep
    from llmobs.cli.bench_run import run_one

    try:
        chosen = [
            name
            for name, on in (
                ("--rates", rates),
                ("--concurrencies", concurrencies),
                ("--search", search),
            )
            if on
        ]
        if len(chosen) != 1:
            raise ConfigError("give one of --rates, --concurrencies or --search")
        chosen_options = given(ctx, options)
        if (rates or search) and "request_rate" in chosen_options:
            raise ConfigError("the sweep sets the rate: drop --request-rate")
        values = (
            _values(rates, "--rates", False)
            if rates
            else _values(concurrencies, "--concurrencies", True)
            if concurrencies
            else ()
        )
        if rates or search:  # a stand-in until each point sets its own (--duration needs one)
            chosen_options["request_rate"] = values[0] if values else start_rate
        if search and "num_prompts" not in chosen_options and "duration" not in chosen_options:
            chosen_options["duration"] = SEARCH_DURATION_S
            say(f"each search point runs for {SEARCH_DURATION_S:g}s (--duration to change)")
        cfg, api_key = build_config(chosen_options, dataset_file)
        if search and not cfg.slo:
            raise ConfigError("--search needs --slo, e.g. --slo ttft=500ms,tpot=50ms")
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    plan = Plan(
        "concurrency" if concurrencies else "rate",
        values,
        Search(attainment, start_rate, max_rate, precision=precision, max_runs=max_runs)
        if search
        else None,
    )
    out_dir = out or default_out_dir(cfg.label or "sweep")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"cannot create {out_dir}: {exc.strerror}") from None
    try:
        with terminate_as_interrupt():
            doc = run_sweep(
                cfg, plan, lambda point, folder: run_one(point, api_key, folder), out_dir, say
            )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    drawn = _curve(doc, plan, out_dir)
    _show(doc, plan, cfg.slo, as_json)
    saved = [str(p) for p in (out_dir / SWEEP_FILE, drawn) if p is not None and p.is_file()]
    if saved:
        say(f"saved {' and '.join(saved)}")
    if doc["stopped"] == INTERRUPTED:
        sys.exit(exitcodes.INTERRUPTED)
    sys.exit(exitcodes.FAILURE if doc["stopped"] else exitcodes.OK)


def _curve(doc: dict[str, Any], plan: Plan, out_dir: Path) -> Path | None:
    """The throughput-latency curve of the points that ran, if any did and it could be
    written (the reason it could not is said; sweep.json holds the numbers either way)."""
    from llmobs.bench.plots import curve

    measured = [p for p in sorted(doc["points"], key=lambda p: p["x"]) if not p.get("error")]
    if not measured:
        return None
    label = "max concurrency" if plan.kind == "concurrency" else "request rate (req/s)"
    try:
        return curve(measured, label, out_dir / "curve.png")
    except OSError as exc:
        say(f"error: cannot write the curve to {out_dir / 'curve.png'}: {exc.strerror or exc}")
        return None


def _show(doc: dict[str, Any], plan: Plan, slo: str | None, as_json: bool) -> None:
    from llmobs.bench.sweep import sweep_table

    if as_json:
        click.echo(strictjson.dumps(doc, indent=2))
        return
    click.echo(sweep_table(sorted(doc["points"], key=lambda p: p["x"]), plan.kind))
    if plan.search is not None:
        answer = doc["search"]["answer"]
        click.echo(
            f"highest rate meeting the SLO ({slo}) for {plan.search.attainment:.0%} of "
            "requests: " + (f"{answer:g} req/s" if answer is not None else "none")
        )
    if doc["stopped"]:
        click.echo(f"the sweep stopped early: {doc['stopped']}")


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Bar charts (throughput, TTFT, TPOT percentiles) to this PNG.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(results: tuple[Path, ...], plot: Path | None, as_json: bool) -> None:
    """Saved runs side by side (folders or result.json files), each against the first.

    \b
    llmbench compare runs/baseline runs/pd-1p1d --plot compare.png
    """
    from llmobs.bench.compare import comparison, comparison_table, name_of
    from llmobs.bench.plots import bars
    from llmobs.bench.saved import load_saved

    try:
        saved_runs = [load_saved(path) for path in results]
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    for saved_run in saved_runs:
        for warning in saved_run.warnings:
            say(f"warning: {warning}")
    runs = [s.run for s in saved_runs]
    names: list[str] = []
    for path, saved in zip(results, runs, strict=True):
        fallback = (path if path.is_dir() else path.parent).resolve().name
        name = name_of(saved.doc, fallback)
        while name in names:
            name += "'"
        names.append(name)
    docs = [r.doc for r in runs]
    data = comparison(names, docs)
    data["complete"] = [r.complete for r in runs]
    if as_json:
        click.echo(strictjson.dumps(data, indent=2))
    else:
        click.echo(comparison_table(data))
    if plot is not None:
        try:
            plot.parent.mkdir(parents=True, exist_ok=True)
            say(f"plot: {bars(names, docs, plot)}")
        except OSError as exc:  # a path the user named that cannot be written: input error
            raise click.UsageError(
                f"--plot {plot}: cannot write it ({exc.strerror or exc}); give a path in a "
                "folder you can write to"
            ) from None
        except ValueError as exc:  # matplotlib: a file type it does not write
            raise click.UsageError(f"--plot {plot}: {exc}") from None
