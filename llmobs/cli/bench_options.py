"""The options ``llmbench run`` and ``llmbench sweep`` share, and turning them into a
``RunConfig`` (validated: a bad value is a usage error that names the option)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic import ValidationError

from llmobs.bench.config import RunConfig, load_scenario
from llmobs.cli.params import POSITIVE, Finite
from llmobs.config import Location, describe
from llmobs.errors import ConfigError

F = TypeVar("F", bound=Callable[..., Any])


class PositiveOrInf(click.FloatRange):
    """Greater than 0, ``inf`` included, never ``nan``: for the fields where infinity means
    something (a request rate of ``inf`` sends everything at once, as vLLM's bench serve
    does; a burstiness of ``inf`` spaces the requests evenly). ``click.FloatRange`` lets
    ``nan`` through (it compares false to every bound)."""

    name = "positive number or inf"

    def __init__(self) -> None:
        super().__init__(min=0, min_open=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if isinstance(number, float) and math.isnan(number):
            self.fail(f"{value!r} is not a number: give one above 0, or inf", param, ctx)
        return number


POSITIVE_OR_INF = PositiveOrInf()


def _field(name: str, *decls: str, **kwargs: Any) -> Callable[[F], F]:
    """A click option for the RunConfig field ``name``: its default and its description come
    from the model (one place spells them)."""
    info = RunConfig.model_fields[name]
    flag = "--" + name.replace("_", "-")
    kwargs.setdefault("help", info.description)
    if info.default is not None and not kwargs.get("multiple"):
        kwargs.setdefault("default", info.default)
        kwargs.setdefault("show_default", True)
    return click.option(flag, *decls, **kwargs)


OPTIONS: tuple[Callable[[F], F], ...] = (
    click.option(
        "--config",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="A scenario file (YAML) of these settings, by field name (isl, request_rate, "
        "...); the options given here override it. Unknown keys are errors.",
    ),
    _field("base_url", metavar="URL"),
    _field("endpoint", type=click.Choice(["/v1/completions", "/v1/chat/completions"])),
    _field("model"),
    click.option(
        "--api-key",
        envvar="OPENAI_API_KEY",
        show_envvar=True,
        help="Bearer token for the server; never printed or saved.",
    ),
    _field("request_rate", type=POSITIVE_OR_INF, metavar="RPS"),
    _field("burstiness", type=POSITIVE_OR_INF),
    _field("max_concurrency", type=click.IntRange(min=1)),
    _field("num_prompts", "-n", type=click.IntRange(min=1)),
    _field("duration", type=POSITIVE, metavar="SECONDS"),
    _field("warmup", type=click.IntRange(min=0)),
    _field("seed", type=int),
    _field("isl", type=click.IntRange(min=1)),
    _field("osl", type=click.IntRange(min=1)),
    _field("range_ratio", type=Finite(0, 1, max_open=True)),
    _field("prefix_len", type=click.IntRange(min=0)),
    _field(
        "dataset",
        type=str,
        metavar="random|sharegpt|trace",
        help="Workload: random (isl/osl), a ShareGPT JSON file, or a Mooncake JSONL trace "
        "(timestamps replayed, hash_ids as shared prefixes); the file follows: "
        "--dataset trace FILE.",
    ),
    _field("dataset_path", type=click.Path(path_type=Path), hidden=True),
    _field("time_scale", type=POSITIVE),
    _field("tokenizer", type=click.Path(exists=True, file_okay=False)),
    _field("percentiles", type=str, default="50,90,95,99"),
    _field("slo", metavar="ttft=500ms,tpot=50ms"),
    _field("scrape", multiple=True, metavar="URL[,URL]"),
    _field("scrape_interval", type=POSITIVE),
    _field("workers", type=click.IntRange(min=1)),
    _field("timeout_s", "timeout_s", "--timeout", type=POSITIVE),
    _field("label"),
    _field("sim_model"),
    _field("sim_hardware"),
    _field("sim_pd", metavar="xPyD"),
)


def run_options(function: F) -> F:
    for option in reversed(OPTIONS):
        function = option(function)
    return function


def _dataset(value: str, path: Path | None, extra: str | None) -> tuple[str, Path | None]:
    kind, sep, inline = value.partition(":")
    kind = kind.strip().lower()
    if kind not in ("random", "sharegpt", "trace"):
        raise ConfigError(f"--dataset {value!r}: expected random, sharegpt FILE or trace FILE")
    given = [p for p in (Path(inline) if sep else None, path, Path(extra) if extra else None) if p]
    if len(given) > 1:
        raise ConfigError("--dataset: give the file once")
    if kind == "random":
        if given:
            raise ConfigError("--dataset random takes no file (did you mean sharegpt or trace?)")
        return kind, None
    if not given:
        raise ConfigError(f"--dataset {kind} needs a file: --dataset {kind} FILE")
    if not given[0].is_file():
        raise ConfigError(f"--dataset {kind}: {given[0]} is not a file")
    return kind, given[0]


def _percentiles(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise ConfigError(f"--percentiles {text!r}: expected numbers like 50,90,99") from None
    if not values:
        raise ConfigError("--percentiles: give at least one")
    return values


def given(ctx: click.Context, options: dict[str, Any]) -> dict[str, Any]:
    """The options the user set (on the command line or in the environment): the rest take
    RunConfig's defaults, and the config knows which were chosen."""
    defaulted = (click.core.ParameterSource.DEFAULT, None)
    return {k: v for k, v in options.items() if ctx.get_parameter_source(k) not in defaulted}


def build_config(options: dict[str, Any], dataset_file: str | None) -> tuple[RunConfig, str | None]:
    """The run's config from the options given (over a scenario file's), and the API key
    (kept apart: never saved)."""
    data = dict(options)
    api_key = data.pop("api_key", None) or None
    scenario_path = data.pop("config", None)
    base = load_scenario(scenario_path) if scenario_path is not None else {}
    if "dataset" in data or data.get("dataset_path") or dataset_file or not base:
        data["dataset"], data["dataset_path"] = _dataset(
            str(data.get("dataset", base.get("dataset", "random"))),
            data.get("dataset_path"),
            dataset_file,
        )
    if "percentiles" in data:
        data["percentiles"] = _percentiles(data["percentiles"])
    if "scrape" in data:
        data["scrape"] = tuple(
            url.strip() for item in data["scrape"] for url in item.split(",") if url.strip()
        )
    data = {**base, **{k: v for k, v in data.items() if v is not None}}
    where = f" (in {scenario_path} or the options)" if scenario_path else ""
    if data.get("slo"):
        from llmobs.bench.metrics import parse_slo  # numpy: not for llmbench --help

        try:
            parse_slo(str(data["slo"]))  # a bad SLO fails now, not after the run
        except ConfigError as exc:
            raise ConfigError(f"{exc}{where}") from None
    try:
        return RunConfig.model_validate(data), api_key
    except ValidationError as exc:
        raise ConfigError(describe(exc, _flag) + where) from None


def _flag(location: Location) -> str:
    """Where a bad value came from, as the option that sets it."""
    name = str(location[0])
    if name not in RunConfig.model_fields:
        return f"{name!r} is not a setting (llmbench run --help lists them)"
    return "--timeout" if name == "timeout_s" else "--" + name.replace("_", "-")
