"""The policy across roles (GPU budget, P:D band), its predictive part (capacity times the
forecast over the cold start) and closed loops against a small latency model: no flapping."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from llmobs.autoscaler.config import AutoscalerConfig
from llmobs.autoscaler.forecast import Series
from llmobs.autoscaler.model import Reason, Replicas
from llmobs.autoscaler.policy import OurPolicy, decide
from llmobs.autoscaler.registry import Scenario, registered
from llmobs.autoscaler.simulate import Setup
from llmobs.bench.metrics import Slo
from tests.unit.autoscaler.build import T0, config, observation, replicas, role
from tests.unit.autoscaler.test_policy import D, P, aged, run

R = Reason


def held(got: dict[str, Any], reps: dict[str, Replicas], cfg: AutoscalerConfig) -> int:
    """GPUs held after the decisions: a role's desired or ready replicas, the larger."""
    return sum(
        max(got[name].desired, reps[name].ready) * cfg.roles[name].gpus_per_replica for name in reps
    )


def test_budget_shrink_first_then_grow_within_what_is_free() -> None:
    cfg = config(gpu_budget=6)
    grow, shrink = {"ttft": 2.0}, {"tpot": 0.01, "kv": 0.2, "ready": 4}
    reps = replicas(p=(2, 2), d=(4, 4))
    got, state = run(observation(P(**grow), D(**shrink)), reps, cfg)
    assert (got["decode"].desired, got["decode"].reason) == (3, R.CONSOLIDATE)
    assert (got["prefill"].desired, got["prefill"].reasons) == (2, (R.BUDGET, R.SLO_BREACH))
    assert held(got, reps, cfg) == 6 == got["prefill"].inputs["gpus_in_use"]
    reps = replicas(p=(2, 2), d=(3, 3))  # the decode replica is gone
    obs = observation(P(t=T0 + 15, **grow), D(t=T0 + 15, **shrink | {"ready": 3}), t=T0 + 15)
    got, _ = run(obs, reps, cfg, T0 + 15, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (3, (R.SLO_BREACH, R.BUDGET))
    assert held(got, reps, cfg) <= 6


def test_budget_serves_the_breach_first() -> None:
    cfg = config(gpu_budget=5)
    got, _ = run(observation(P(ttft=2.0), D(kv=0.95)), replicas(), cfg)
    assert (got["prefill"].desired, got["prefill"].reasons) == (3, (R.SLO_BREACH, R.BUDGET))
    assert (got["decode"].desired, got["decode"].reasons) == (2, (R.BUDGET, R.KV_PRESSURE))


def test_budget_counts_gpus_per_replica() -> None:
    cfg = config(prefill={"gpus_per_replica": 2}, decode={"gpus_per_replica": 4}, gpu_budget=16)
    got, _ = run(observation(P(ttft=2.0), D(kv=0.95)), replicas(), cfg)
    # 2x2 + 2x4 = 12 held; 4 free: prefill (2 GPUs each) takes 2 more, decode none.
    assert (got["prefill"].desired, got["decode"].desired) == (4, 2)


def test_no_growth_under_a_budget_while_a_role_is_unknown() -> None:
    cfg = config(gpu_budget=100)
    got, _ = run(observation(P(ttft=2.0), D()), {"prefill": Replicas(2, 2)}, cfg)
    assert (got["prefill"].desired, got["prefill"].reason) == (2, R.BUDGET)


def test_pd_ratio_band_raises_the_lagging_role() -> None:
    cfg = config(pd_ratio={"min": 0.5, "max": 1.0})
    got, _ = run(observation(P(ttft=2.0), D()), replicas(), cfg)
    assert (got["prefill"].desired, got["decode"].desired) == (4, 4)
    assert got["decode"].reasons == (R.RATIO, R.WITHIN_SLO)
    got, _ = run(observation(P(), D(tpot=0.2)), replicas(), cfg)
    assert (got["prefill"].desired, got["decode"].desired) == (3, 6)  # 6 decode: 3 prefill
    got, _ = run(observation(P(), D(tpot=0.2, ready=4)), replicas(d=(4, 4)), cfg)
    assert got["prefill"].reasons == (R.RATIO, R.WITHIN_SLO)
    assert got["prefill"].desired == 4  # 4 decode breaching go to 8, which need 4 prefill


def rising(cfg: AutoscalerConfig) -> dict[str, Any]:
    """Prefill at 1.0, 1.2, 1.4 req/s of 1000 prompt tokens, 15 s apart, within SLO."""
    state = aged(cfg)
    got: dict[str, Any] = {}
    for i, rate in enumerate((1.0, 1.2, 1.4)):
        now = T0 + 15 * i
        prefill = P(t=now, rate=rate, prompt=rate * 1000)
        got, state = run(observation(prefill, D(t=now), t=now), replicas(), cfg, now, state)
    return got


def test_predicted_load_scales_ahead_by_the_cold_start() -> None:
    got = rising(config(prefill={"capacity": 1000, "cold_start_s": 60}))
    assert (got["prefill"].desired, got["prefill"].reason) == (3, R.PREDICTED_LOAD)
    assert got["prefill"].inputs["predicted_replicas"] == 3


def test_no_cold_start_no_early_scale() -> None:
    got = rising(config(prefill={"capacity": 1000, "cold_start_s": 0}))
    assert (got["prefill"].desired, got["prefill"].reason) == (2, R.WITHIN_SLO)


def test_last_value_forecast_does_not_extrapolate() -> None:
    got = rising(config(prefill={"capacity": 1000, "cold_start_s": 60}, forecaster="last"))
    assert got["prefill"].desired == 2


def test_capacity_learned_from_a_breach_sizes_the_next_decisions() -> None:
    cfg = config()
    steady = aged(cfg, rate=Series(10.0, 0.0, T0 - 15, 1))  # 10 req/s seen 15 s before
    got, state = run(observation(P(ttft=2.0, prompt=3000.0), D()), replicas(), cfg, T0, steady)
    # the breach bounds the capacity at 1500/s a replica: one more replica, not 2 x ratio 2
    assert (got["prefill"].desired, got["prefill"].reason) == (3, R.SLO_BREACH)
    assert state.roles["prefill"].capacity.breached == 1500.0
    calm = {"ttft": 0.5, "prompt": 3000.0, "ready": 3}
    obs = observation(P(t=T0 + 15, **calm), D(t=T0 + 15), t=T0 + 15)
    got, state = run(obs, replicas(p=(3, 3)), cfg, T0 + 15, state)
    # 3000/s over 3 within SLO: 1000/s sustained at ratio 0.5, 1500/s breached at ratio 2;
    # the line between reaches ratio 1 at 1000 + 500/3
    assert got["prefill"].inputs["capacity"] == pytest.approx(1000 + 500 / 3)
    assert (got["prefill"].desired, got["prefill"].reason) == (3, R.WITHIN_SLO)


def decode_plant(load: float, n: int, capacity: float = 1000.0) -> dict[str, float]:
    """A decode role's signals at ``load`` generated tokens/s over ``n`` replicas: TPOT grows
    with the square of utilization (60 ms at full), KV usage with utilization."""
    util = load / (n * capacity)
    return {"tpot": 0.02 + 0.04 * util**2, "kv": min(0.8 * util, 1.0), "generated": load}


def loop(cfg: AutoscalerConfig, loads: list[float], start: int) -> list[int]:
    """Decode replicas over a closed loop (new replicas ready at the next decision)."""
    policy = OurPolicy(cfg)
    n, history = start, [start]
    for i, load in enumerate(loads):
        now = T0 + cfg.interval_s * i
        signals: dict[str, Any] = decode_plant(load, n)
        obs = observation(
            P(t=now), role("decode", t=now, ready=n, rate=load / 100, **signals), t=now
        )
        n = policy.step(obs, replicas(d=(n, n)), now)["decode"]
        history.append(n)
    return history


def turns(history: list[int]) -> list[str]:
    """The directions of the changes, in order."""
    steps = [b - a for a, b in itertools.pairwise(history) if b != a]
    return ["up" if s > 0 else "down" for s in steps]


def test_no_two_one_two_oscillation_at_steady_load() -> None:
    cfg = config(decode={"scale_down_stabilization_s": 0})
    assert turns(loop(cfg, [1500.0] * 60, start=2)) == []
    history = loop(cfg, [1500.0] * 60, start=1)
    assert turns(history) == ["up"] and history[-1] >= 2


def test_no_flapping_under_noisy_load() -> None:
    rng = random.Random(7)
    loads = [1400.0 * rng.uniform(0.8, 1.2) for _ in range(200)]
    cfg = config(decode={"scale_down_stabilization_s": 60})
    history = loop(cfg, loads, start=2)
    assert "down" not in turns(history)


def test_falling_load_is_followed_down_and_rising_load_up() -> None:
    cfg = config(decode={"scale_down_stabilization_s": 60, "capacity": 1000})
    loads = [4000.0] * 40 + [800.0] * 60 + [4000.0] * 40
    history = loop(cfg, loads, start=2)
    # 4000 tokens/s: 5 replicas at the 0.8 margin; 800: one. Down one step at a time.
    assert (history[40], history[100], history[-1]) == (5, 1, 5)
    fall = turns(history[:101])
    assert fall[fall.index("down") :] == ["down"] * 4 and "down" not in fall[: fall.index("down")]
    # The step up overshoots while the trend follows it, then settles: never up again.
    rise = turns(history[100:])
    assert "up" not in rise[rise.index("down") :]


def test_decide_is_pure() -> None:
    cfg = config(gpu_budget=6)
    obs, reps, state = observation(P(ttft=2.0), D(tpot=0.01)), replicas(d=(4, 4)), aged(cfg)
    first = decide(obs, reps, state, cfg, T0)
    assert decide(obs, reps, state, cfg, T0) == first
    assert state == aged(cfg)


def test_our_policy_for_the_simulator_and_the_service() -> None:
    scenario = Scenario(
        slo=Slo(ttft=2.0, tpot=0.05),
        requests=(),
        setup=Setup(tp=2, cold_start_s=30.0, max_replicas=16),
    )
    policy = registered()["llmobs"](scenario)
    assert isinstance(policy, OurPolicy)
    prefill = policy.config.roles["prefill"]
    assert prefill.targets()[0].seconds == pytest.approx(2.0 / 1.1, rel=1e-6)
    assert (prefill.cold_start_s, prefill.gpus_per_replica, prefill.max_replicas) == (30, 2, 16)
    obs = observation(P(ttft=4.0), D())
    assert policy.step(obs, replicas(), T0) == {"prefill": 5, "decode": 2}  # 2 x 4 / 1.82
    decisions = policy(obs, replicas(), T0 + 15)  # the service's Decide: the decisions
    assert [d.role for d in decisions] == ["prefill", "decode"]
