"""Per-replica capacity: learned from observations, seeded from an llmbench sweep.json."""

from __future__ import annotations

from typing import Any

import pytest

from llmobs.autoscaler.baselines.perf_profiles import (
    SEED_UTILIZATION,
    PerfProfiles,
    capacity_seeds,
    engine_shape,
)
from llmobs.autoscaler.capacity import Capacity, from_sweep, learn, seeded
from llmobs.autoscaler.config import AutoscalerConfig, RoleConfig
from llmobs.autoscaler.policy import scenario_config
from llmobs.autoscaler.registry import Scenario
from llmobs.autoscaler.simulate import Setup
from llmobs.bench.metrics import Slo
from llmobs.bench.sweep import failed_point, point
from llmobs.sim.virtual import VirtualRequest


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


def _profile() -> PerfProfiles:
    resolved = Setup().resolved()
    return PerfProfiles(resolved.perf, engine_shape(resolved, 1))


def test_seeds_from_the_engine_profile() -> None:
    """What a one-replica sweep would seed: prefill at its chunked peak, decode at the most
    sequences whose step meets the TPOT target; each at SEED_UTILIZATION of it."""
    model = _profile()
    prefill, decode = capacity_seeds(model, 2000, 200, 0.045)
    assert prefill == pytest.approx(model.prefill_throughput_per_gpu(2000) * SEED_UTILIZATION)
    context, fits = 2000 + 100, int(model.engine.kv_tokens * 0.8 / 2200)
    best = max(n for n in range(1, fits + 1) if model.decode_itl_s(n, context) <= 0.045)
    expected = model.decode_throughput_per_gpu(best, context) * SEED_UTILIZATION
    assert decode == pytest.approx(expected)
    # a tighter TPOT target seeds less; no target: as many as fit in the KV limit
    assert capacity_seeds(model, 2000, 200, 0.02)[1] < decode
    loose = model.decode_throughput_per_gpu(fits, context) * SEED_UTILIZATION
    assert capacity_seeds(model, 2000, 200, None)[1] == pytest.approx(loose)


def test_a_scenario_seeds_ours_at_its_mean_lengths() -> None:
    requests = [VirtualRequest(str(i), float(i), 1000 + 2000 * (i % 2), 200) for i in range(10)]
    scenario = Scenario(slo=Slo(ttft=2.0, tpot=0.05), requests=requests)
    cfg = scenario_config(scenario)
    prefill, decode = capacity_seeds(_profile(), 2000, 200, 0.05 / 1.1)
    assert cfg.roles["prefill"].capacity == pytest.approx(prefill)
    assert cfg.roles["decode"].capacity == pytest.approx(decode)
    assert cfg.roles["prefill"].targets()[0].seconds == pytest.approx(2.0 / 1.1)
    assert (
        scenario_config(Scenario(slo=Slo(ttft=2.0), requests=[])).roles["prefill"].capacity is None
    )
