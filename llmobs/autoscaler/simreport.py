"""``llmobs simulate``'s output: the strict-JSON document of every policy's run and the table
that compares them. Pure: no printing, no files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmobs.autoscaler.scoring import score_json
from llmobs.autoscaler.simulate import ROLES, Run, Setup
from llmobs.bench.metrics import Slo


def slo_json(slo: Slo, ttft_per_1k: float | None = None) -> dict[str, float]:
    """The limits given, in seconds (and the TTFT limit's growth per 1,000 prompt tokens)."""
    limits = {
        "ttft": slo.ttft,
        "ttft_per_1k_prompt_tokens": ttft_per_1k,
        "tpot": slo.tpot,
        "itl": slo.itl,
        "e2el": slo.e2el,
    }
    return {f"{k}_seconds": v for k, v in limits.items() if v is not None}


def run_json(run: Run, gpu_budget: int | None = None) -> dict[str, Any]:
    return {
        "policy": run.policy,
        **score_json(run.score),
        "gpu_hours": run.gpu_hours,
        "time_over_budget_seconds": run.over_budget_s(gpu_budget),
        "end_seconds": run.end_s,
        "scale_actions": len(run.actions),
        "peak_replicas": {role: run.peak(role) for role in ROLES},
        "decisions": run.decisions,
        "decisions_without_observation": run.blind,
        "actions": [
            {"t": a.t, "role": a.role, "from": a.before, "to": a.after} for a in run.actions
        ],
        "cpu_seconds": run.cpu_s,
    }


def document(
    workload: Mapping[str, Any],
    setup: Setup,
    slo: Slo,
    runs: Sequence[Run],
    ttft_per_1k: float | None = None,
) -> dict[str, Any]:
    """The whole result: what was simulated, against which SLO, and each policy's run."""
    return {
        "workload": dict(workload),
        "setup": {
            "model": setup.model,
            "hardware": setup.hardware,
            "tensor_parallel_size": setup.tp,
            "cold_start_seconds": setup.cold_start_s,
            "scrape_interval_seconds": setup.scrape_interval_s,
            "window_seconds": setup.window_s,
            "start": dict(setup.start),
            "gpu_budget": setup.gpu_budget,
        },
        "slo": slo_json(slo, ttft_per_1k),
        "policies": [run_json(run, setup.gpu_budget) for run in runs],
    }


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


HEADER = (
    "policy",
    "TTFT ok",
    "TPOT ok",
    "both ok",
    "TTFT p50/p90/p99 ms",
    "TPOT p50/p90/p99 ms",
    "GPU-h",
    "actions",
    "peak P/D",
)


def row(run: Run) -> tuple[str, ...]:
    s = run.score
    ttft = "/".join(_ms(s.ttft.percentiles.get(p)) for p in (50.0, 90.0, 99.0))
    tpot = "/".join(_ms(s.tpot.percentiles.get(p)) for p in (50.0, 90.0, 99.0))
    return (
        run.policy,
        _pct(s.attainment(s.met_ttft)),
        _pct(s.attainment(s.met_tpot)),
        _pct(s.attainment(s.met_both)),
        ttft,
        tpot,
        f"{run.gpu_hours:.2f}",
        str(len(run.actions)),
        f"{run.peak('prefill')}/{run.peak('decode')}",
    )


def table(runs: Sequence[Run]) -> str:
    """One line per policy, aligned; then what was rejected or failed, when anything was."""
    rows = [HEADER, *(row(r) for r in runs)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    for run in runs:
        s = run.score
        if s.rejected or s.failed:
            lines.append(
                f"{run.policy}: {s.rejected} request(s) longer than the model's context "
                f"rejected (not judged), {s.failed} failed or unfinished (judged as misses)"
            )
    return "\n".join(lines)
