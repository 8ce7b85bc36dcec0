"""Per-replica capacity: learned from observations, seeded from an llmbench sweep.json."""

from __future__ import annotations

from typing import Any

import pytest

from llmobs.autoscaler.capacity import Capacity, from_sweep, learn, seeded
from llmobs.autoscaler.config import AutoscalerConfig, RoleConfig
from llmobs.bench.sweep import failed_point, point


def test_nothing_known() -> None:
    assert (Capacity().estimate, Capacity().known) == (None, False)


S = Capacity  # for the tables


@pytest.mark.parametrize(
    ("before", "load", "ratio", "after"),
    [
        (S(), 500.0, 0.6, S(sustained=500.0, sustained_ratio=0.6)),
        (S(sustained=800.0), 500.0, 0.6, S(sustained=800.0)),
        (S(sustained=500.0), 900.0, 1.0, S(sustained=900.0, sustained_ratio=1.0)),
        (S(), 900.0, 1.5, S(breached=900.0, breached_ratio=1.5)),
        (S(breached=900.0), 1200.0, 2.0, S(breached=900.0)),
        (S(sustained=500.0), 900.0, 1.05, S(sustained=500.0)),  # in the tolerance band
        # the workload changed: the bound the new one contradicts goes
        (S(sustained=500.0), 400.0, 1.5, S(breached=400.0, breached_ratio=1.5)),
        (S(breached=600.0), 700.0, 0.9, S(sustained=700.0, sustained_ratio=0.9)),
        (S(sustained=500.0), None, 0.5, S(sustained=500.0)),  # no load known
        (S(sustained=500.0), 900.0, None, S(sustained=500.0)),  # no SLO ratio
        (S(), 0.0, 0.1, S()),  # idle proves nothing
    ],
)
def test_learning(
    before: Capacity, load: float | None, ratio: float | None, after: Capacity
) -> None:
    assert learn(before, load, ratio, tolerance=0.1) == after


@pytest.mark.parametrize(
    ("capacity", "estimate", "known"),
    [
        (S(seed=1000.0), 1000.0, True),
        (S(seed=1000.0, sustained=1200.0), 1200.0, True),
        (S(seed=1000.0, breached=700.0), 700.0, True),
        (S(sustained=500.0), 500.0, False),
        (S(breached=900.0), 900.0, True),
        # ratio 0.5 at 500, 1.5 at 900: the line reaches 1 at 700
        (S(sustained=500.0, sustained_ratio=0.5, breached=900.0, breached_ratio=1.5), 700.0, True),
        (S(sustained=500.0, sustained_ratio=1.0, breached=900.0, breached_ratio=3.0), 500.0, True),
    ],
)
def test_estimate(capacity: Capacity, estimate: float, known: bool) -> None:
    assert capacity.estimate == pytest.approx(estimate)
    assert capacity.known is known


def run(rate: float, ttft_ms: float, tpot_ms: float, **summary: Any) -> dict[str, Any]:
    """A run's result document as llmbench writes its summary."""
    return {
        "complete": True,
        "summary": {
            "request_throughput": rate,
            "output_throughput": rate * 150,
            "ttft_ms": {"p50": ttft_ms / 2, "p99": ttft_ms},
            "tpot_ms": {"p50": tpot_ms / 2, "p99": tpot_ms},
            "itl_ms": {"p99": tpot_ms},
            **summary,
        },
    }


def sweep() -> dict[str, Any]:
    return {
        "version": 1,
        "tool": "llmbench-sweep",
        "kind": "rate",
        "points": [
            point(1.0, run(1.0, 200, 20), "rate-1"),
            point(2.0, run(2.0, 400, 30), "rate-2"),
            point(4.0, run(4.0, 900, 45), "rate-4"),
            point(8.0, run(8.0, 3000, 80), "rate-8"),
            failed_point(16.0, "rate-16", "server went away"),
        ],
        "stopped": None,
    }


def targets(**slo: Any) -> Any:
    return RoleConfig.model_validate({"slo": slo}).targets()


def test_seeds_from_a_sweep() -> None:
    slo = targets(ttft={"p90": "1s"}, tpot={"p90": "50ms"})
    assert from_sweep(sweep(), slo, prompt_tokens=3000) == (12000.0, 600.0)


def test_tighter_slo_smaller_seed() -> None:
    slo = targets(ttft={"p99": "500ms"}, tpot={"p99": "25ms"})
    assert from_sweep(sweep(), slo, prompt_tokens=3000) == (6000.0, 150.0)


def test_no_prompt_length_no_prefill_seed() -> None:
    assert from_sweep(sweep(), targets(ttft={"p90": "1s"}))[0] is None


def test_saturated_points_are_not_used() -> None:
    doc = sweep()
    doc["points"][2]["saturated"] = True
    slo = targets(tpot={"p90": "50ms"})
    assert from_sweep(doc, slo) == (None, 300.0)


def test_nothing_met() -> None:
    slo = targets(ttft={"p90": "10ms"}, tpot={"p90": "1ms"})
    assert from_sweep(sweep(), slo, prompt_tokens=3000) == (None, None)


def test_a_config_seeded_from_a_sweep() -> None:
    cfg = AutoscalerConfig.model_validate(
        {
            "roles": {
                "prefill": {"slo": {"ttft": {"p90": "1s"}}},
                "decode": {"slo": {"tpot": {"p90": "50ms"}}},
                "mixed": {"kind": "both", "slo": {"tpot": {"p90": "50ms"}}, "capacity": 5},
            }
        }
    )
    out = seeded(cfg, sweep(), prompt_tokens=3000)
    assert [out.roles[r].capacity for r in ("prefill", "decode", "mixed")] == [12000, 600, 5]
    assert seeded(cfg, sweep()).roles["prefill"].capacity is None  # no prompt length
