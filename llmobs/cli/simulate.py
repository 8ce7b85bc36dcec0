"""``llmobs simulate``: autoscaling policies replayed over a trace or a synthetic pattern in
virtual time, side by side. The engine, workloads and policies are imported when the command
runs, not for ``llmobs --help``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from llmobs import exitcodes, strictjson
from llmobs.cli.params import NON_NEGATIVE, POSITIVE
from llmobs.errors import ConfigError, LlmobsError
from llmobs.interrupts import noted, terminate_as_interrupt

if TYPE_CHECKING:
    from llmobs.autoscaler.simulate import Run
    from llmobs.bench.metrics import Slo

DEFAULT_SLO = "ttft=2s,tpot=50ms"


@click.command()
@click.option(
    "--trace", type=click.Path(path_type=Path), default=None, help="A Mooncake JSONL trace."
)
@click.option("--pattern", default=None, help="A synthetic workload (see --list).")
@click.option(
    "--time-scale",
    type=POSITIVE,
    default=1.0,
    show_default=True,
    help="Trace: 0.5 replays it twice as fast.",
)
@click.option(
    "--rate-scale",
    type=POSITIVE,
    default=1.0,
    show_default=True,
    help="Trace: thin (<1) or repeat (>1) its rows, with --seed.",
)
@click.option(
    "--slo",
    default=DEFAULT_SLO,
    show_default=True,
    help="Per-request limits, llmbench's syntax (ttft=, tpot=, e2el=).",
)
@click.option(
    "--policy",
    "policies",
    multiple=True,
    help="A registered policy or fixed:xPyD (repeatable; default every registered one).",
)
@click.option(
    "--model", default="Llama-3.1-8B", show_default=True, help="The emulator's model profile."
)
@click.option(
    "--hardware", default="H100-80GB", show_default=True, help="The emulator's accelerator profile."
)
@click.option(
    "-tp",
    "--tensor-parallel-size",
    "tp",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="GPUs per replica.",
)
@click.option(
    "--max-model-len",
    type=click.IntRange(min=1),
    default=None,
    help="Context length; default the model's.",
)
@click.option(
    "--start", default=None, help="Replicas at the start, xPyD (default the pattern's, else 1P1D)."
)
@click.option(
    "--cold-start-s",
    type=NON_NEGATIVE,
    default=30.0,
    show_default=True,
    help="Seconds from a scale request to serving.",
)
@click.option(
    "--scrape-interval",
    type=POSITIVE,
    default=5.0,
    show_default=True,
    help="Seconds between scrapes of each replica.",
)
@click.option(
    "--ttft-per-1k",
    type=POSITIVE,
    default=None,
    metavar="SECONDS",
    help="Each request's TTFT limit grows by SECONDS per 1,000 prompt tokens.",
)
@click.option(
    "--gpu-budget",
    type=click.IntRange(min=2),
    default=None,
    help="GPUs both roles may hold together: told to the policies that take one, and the "
    "time over it reported.",
)
@click.option(
    "--duration",
    type=POSITIVE,
    default=None,
    help="Seconds of workload (default: the trace's or the pattern's).",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of the pattern's arrivals or the trace's scaling.",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Write result.json and PNGs here."
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as one JSON object.")
@click.option("--list", "list_only", is_flag=True, help="List the patterns and policies, and exit.")
def simulate(**options: Any) -> None:
    """Replay a workload through a virtual prefill/decode cluster under each policy and
    compare SLO attainment, latency and GPU-hours.

    \b
    Examples:
      llmobs simulate --pattern dynamo --policy fixed --policy fixed:2P2D
      llmobs simulate --trace ../shared/traces/mooncake-conversation.jsonl --duration 600 --json
    """
    try:
        with terminate_as_interrupt():
            _simulate(**options)
    except ConfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exitcodes.USAGE)
    except LlmobsError as exc:  # a run that failed (a policy's source, the engine)
        click.echo(f"error: {exc}", err=True)
        sys.exit(exitcodes.FAILURE)
    except KeyboardInterrupt:
        noted()
        click.echo("interrupted: nothing was simulated to the end", err=True)
        sys.exit(exitcodes.INTERRUPTED)


def _listing() -> str:
    from llmobs.autoscaler import registry, workloads

    lines = ["patterns:"]
    lines += [f"  {p.name:<10} {p.description}" for p in workloads.PATTERNS.values()]
    lines += ["policies:", *(f"  {name}" for name in sorted(registry.registered()))]
    lines.append("  fixed:xPyD")
    return "\n".join(lines)


def _slo(text: str) -> Slo:
    from llmobs.bench.metrics import parse_slo

    slo = parse_slo(text)
    if slo.itl is not None:
        raise ConfigError("--slo: itl is not measured in simulation; give ttft, tpot or e2el")
    return slo


def _simulate(**o: Any) -> None:
    if o["list_only"]:
        click.echo(_listing())
        return
    if (o["trace"] is None) == (o["pattern"] is None):
        raise ConfigError("give --trace FILE or --pattern NAME (one of them)")
    from llmobs.autoscaler import registry, simreport, simulate, workloads
    from llmobs.sim.cluster import parse_pd

    slo = _slo(o["slo"])
    if o["ttft_per_1k"] is not None and slo.ttft is None:
        raise ConfigError("--ttft-per-1k grows the TTFT limit: give one in --slo (ttft=...)")
    if o["pattern"] is not None:
        spec = workloads.pattern(o["pattern"])
        default_start = {"prefill": spec.start[0], "decode": spec.start[1]}
        requests = workloads.synthesize(spec, seed=o["seed"], duration_s=o["duration"])
        workload: dict[str, Any] = {"pattern": spec.name, "description": spec.description}
    else:
        default_start = {"prefill": 1, "decode": 1}
        requests = workloads.from_trace(
            o["trace"],
            seed=o["seed"],
            time_scale=o["time_scale"],
            rate_scale=o["rate_scale"],
            duration_s=o["duration"],
        )
        workload = {
            "trace": str(o["trace"]),
            "time_scale": o["time_scale"],
            "rate_scale": o["rate_scale"],
        }
    try:
        start = default_start if o["start"] is None else parse_pd(o["start"])
    except ConfigError:
        raise ConfigError(f"--start {o['start']!r}: expected xPyD, for example 1P1D") from None
    workload.update(seed=o["seed"], requests=len(requests))
    setup = simulate.Setup(
        model=o["model"],
        hardware=o["hardware"],
        tp=o["tp"],
        max_model_len=o["max_model_len"],
        cold_start_s=o["cold_start_s"],
        scrape_interval_s=o["scrape_interval"],
        window_s=max(60.0, 2 * o["scrape_interval"]),
        start=start,
        gpu_budget=o["gpu_budget"],
    )
    setup.resolved()  # a bad profile or TP stops here, before any run
    known = registry.registered()
    names = list(dict.fromkeys(o["policies"] or sorted(known)))
    scenario = registry.Scenario(
        slo=slo,
        requests=requests,
        seed=o["seed"],
        setup=setup,
        ttft_per_1k=o["ttft_per_1k"],
    )
    policies = [registry.build(name, scenario, known) for name in names]
    runs: list[Run] = []
    for policy in policies:
        click.echo(f"simulating {policy.name} over {len(requests)} requests ...", err=True)
        runs.append(
            simulate.simulate(
                policy,
                requests,
                setup,
                slo,
                start=getattr(policy, "start", None),
                ttft_per_1k=o["ttft_per_1k"],
            )
        )
    doc = simreport.document(workload, setup, slo, runs, o["ttft_per_1k"])
    _emit(doc, slo, runs, o["out"], o["as_json"])


def _emit(doc: dict[str, Any], slo: Slo, runs: list[Run], out: Path | None, as_json: bool) -> None:
    from llmobs.autoscaler import simreport

    if out is not None:
        from llmobs.autoscaler import simplots

        try:
            out.mkdir(parents=True, exist_ok=True)
            strictjson.write(out / "result.json", doc)
            paths = simplots.write(runs, slo, out)
        except OSError as exc:
            click.echo(f"error: cannot write to {out}: {exc.strerror or exc}", err=True)
            sys.exit(exitcodes.FAILURE)
        click.echo(f"saved {out / 'result.json'} and {len(paths)} plot(s)", err=True)
    click.echo(strictjson.dumps(doc, indent=2) if as_json else simreport.table(runs))
