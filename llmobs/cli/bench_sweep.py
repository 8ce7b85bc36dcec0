"""``llmbench sweep`` (runs over rates or concurrencies, or an SLO search) and ``llmbench
compare`` (saved runs side by side)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from llmobs.bench.compare import comparison, comparison_table, name_of
from llmobs.bench.config import RunConfig
from llmobs.bench.harness import default_out_dir, load_run, write_json
from llmobs.bench.plots import bars, curve
from llmobs.bench.sweep import Search, failed_point, next_rate, point, sweep_table
from llmobs.cli.bench_options import POSITIVE, build_config, given, run_options
from llmobs.cli.bench_run import (
    EXIT_FAILURES,
    EXIT_INTERRUPTED,
    run_one,
    say,
    terminate_as_interrupt,
)
from llmobs.errors import ConfigError, LlmobsError

SEARCH_DURATION_S = 60.0


def _values(text: str, what: str, integer: bool) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} {text!r}: expected numbers like 1,2,4") from None
    if not values or any(v <= 0 for v in values):
        raise ConfigError(f"{what}: give one or more positive numbers")
    if integer and any(v != int(v) for v in values):
        raise ConfigError(f"{what}: concurrencies are whole numbers")
    return values


def point_config(cfg: RunConfig, kind: str, x: float, index: int) -> RunConfig:
    """The sweep's config at one point: its rate or concurrency, its own seed (no prompt
    is repeated from an earlier point, so no prefix-cache hits between points)."""
    update: dict[str, Any] = {"seed": cfg.seed + index, "label": f"{kind}-{x:g}"}
    if kind == "rate":
        update["request_rate"] = x
    else:
        update["max_concurrency"] = int(x)
    data = cfg.model_dump(exclude_unset=True) | update
    try:
        return RunConfig.model_validate(data)
    except ValueError as exc:
        raise click.UsageError(f"at {kind} {x:g}: {exc}") from None


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
    type=click.FloatRange(0, 1, min_open=True),
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
            else []
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
    kind = "concurrency" if concurrencies else "rate"
    out_dir = out or default_out_dir(cfg.label or "sweep")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.UsageError(f"cannot create {out_dir}: {exc.strerror}") from None
    plan = Search(attainment, start_rate, max_rate, precision=precision, max_runs=max_runs)
    doc: dict[str, Any] = {"version": 1, "tool": "llmbench-sweep", "kind": kind, "points": []}
    if search:
        doc["search"] = {"slo": cfg.slo, "attainment": attainment, "answer": None, "reason": None}
    stopped: str | None = None  # why the sweep ended early
    with terminate_as_interrupt():
        index = 0
        while True:
            if search:
                tried = [(p["x"], p["slo_attainment"]) for p in doc["points"]]
                step = next_rate(plan, tried)
                say(step.reason)
                if step.rate is None:
                    doc["search"]["reason"] = step.reason
                    break
                x = step.rate
            elif index < len(values):
                x = values[index]
            else:
                break
            point_cfg = point_config(cfg, kind, x, index)
            label = str(point_cfg.label)
            say(f"-- {kind} {x:g} --")
            try:
                result = run_one(point_cfg, api_key, out_dir / label)
            except KeyboardInterrupt:
                stopped = "interrupted"
                break
            except LlmobsError as exc:
                say(f"error: {exc}")
                doc["points"].append(failed_point(x, label, str(exc)))
                stopped = f"{kind} {x:g} could not run: {exc}"
                break
            doc["points"].append(point(x, result.doc, label))
            write_json(out_dir / "sweep.json", doc)
            index += 1
            if not result.complete:
                stopped = "interrupted"
                break
    if search:
        good = [p["x"] for p in doc["points"] if (p["slo_attainment"] or 0) >= attainment]
        doc["search"]["answer"] = max(good) if good else None
    doc["stopped"] = stopped
    points = sorted(doc["points"], key=lambda p: p["x"])
    write_json(out_dir / "sweep.json", doc)
    measured = [p for p in points if not p.get("error")]
    if measured:
        label = "max concurrency" if kind == "concurrency" else "request rate (req/s)"
        curve(measured, label, out_dir / "curve.png")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
    else:
        click.echo(sweep_table(points, "concurrency" if kind == "concurrency" else "rate"))
        if search:
            answer = doc["search"]["answer"]
            click.echo(
                f"highest rate meeting the SLO ({cfg.slo}) for {attainment:.0%} of requests: "
                + (f"{answer:g} req/s" if answer is not None else "none")
            )
        if stopped:
            click.echo(f"the sweep stopped early: {stopped}")
    saved = f" and {out_dir / 'curve.png'}" if measured else ""
    say(f"saved {out_dir / 'sweep.json'}{saved}")
    if stopped == "interrupted":
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(EXIT_FAILURES if stopped else 0)


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
    try:
        runs = [load_run(path) for path in results]
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
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
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(comparison_table(data))
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        say(f"plot: {bars(names, docs, plot)}")
