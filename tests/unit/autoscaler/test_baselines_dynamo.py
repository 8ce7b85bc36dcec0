"""Dynamo's v1 SLA planner and its load-based planner as tables computed by hand from the
published formulas (../shared/notes/autoscaling.md 1.1, 1.3): the ``min(1, .)`` prefill
clamp, the NaN skip, the GPU budget with Python's rounding, the consolidation checks."""

from __future__ import annotations

import math

import pytest

from llmobs.autoscaler.baselines.deployment import Deployment
from llmobs.autoscaler.baselines.dynamo_load import (
    DynamoLoadPolicy,
    LoadSettings,
    decode_decision,
    prefill_decision,
)
from llmobs.autoscaler.baselines.dynamo_profile import ConstantPredictor, StepTimes
from llmobs.autoscaler.baselines.dynamo_sla import DynamoSlaPolicy, SlaSettings, budget_fit
from llmobs.observation import Observation
from tests.unit.autoscaler.baseline_inputs import (
    DECODE,
    PREFILL,
    SLOW,
    STEPS,
    now,
    role,
    seen,
)

# Dynamo v1 SLA planner -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("itl", "expected"),
    [
        (0.05, 1000.0),  # every grid point within 50 ms: the highest, n = 100
        (0.012205, 220.0),  # n = 22 (12.2 ms) is the highest within 12.205 ms
        (0.009, 10.0),  # none within: the lowest grid point (n = 1), as Dynamo falls back
    ],
)
def test_dynamo_best_throughput_scans_from_high_kv_usage(itl: float, expected: float) -> None:
    assert DECODE.best_throughput_per_gpu(itl, 3075.0) == pytest.approx(expected)


def pd(
    *,
    rate: float = 11.0,
    ttft: float | None = 0.15,
    itl: float | None = 0.0635,
    e2e: float | None = 10.0,
    isl: float = 3000.0,
    osl: float = 150.0,
) -> Observation:
    return seen(
        role("prefill", request_rate=rate, prompt_rate=rate * isl, ttft=ttft),
        role("decode", request_rate=rate, generation_rate=rate * osl, itl=itl, e2e=e2e),
    )


def sla(budget: int | None = 20, **settings: object) -> DynamoSlaPolicy:
    return DynamoSlaPolicy(
        Deployment(gpu_budget=budget),
        PREFILL,
        DECODE,
        SlaSettings(**settings),  # type: ignore[arg-type]
    )


# num_req = 11 * 180 = 1980; prefill demand 1980 * 3000 / 180 = 33,000 tokens/s; decode
# demand 1980 * 150 / 180 = 1650 tokens/s; Little's law on 2 decode engines:
# 1980 / 2 * 10 s / 180 s = 55 sequences each, profiled ITL 0.0155 s.
@pytest.mark.parametrize(
    ("observed", "expected"),
    [
        # TTFT 0.15 / 0.3 -> p_correction 0.5: ceil(16,500 / 10,000) = 2. ITL 0.0635 / 0.0155
        # -> d_correction 4.097: ITL target 0.05 / 4.097 = 12.205 ms -> n = 22 -> 220 tokens/s
        # per GPU -> ceil(1650 / 220) = 8
        (pd(), {"prefill": 2, "decode": 8}),
        # TTFT 0.6 -> p_correction 2, clamped by min(1, .): ceil(33,000 / 10,000) = 4 (queueing
        # does not raise prefill, as published)
        (pd(ttft=0.6), {"prefill": 4, "decode": 8}),
        # ITL 0.0155 = profiled: d_correction 1, n = 100 -> 1000 tokens/s -> ceil(1.65) = 2
        (pd(itl=0.0155), {"prefill": 2, "decode": 2}),
    ],
)
def test_dynamo_sla_sizes_both_roles(observed: Observation, expected: dict[str, int]) -> None:
    assert sla().step(observed, now(1, 2), 180.0) == expected


def test_dynamo_sla_without_correction_uses_the_profile_alone() -> None:
    # p: ceil(33,000 / 10,000) = 4; d: ITL 50 ms -> n = 100 -> ceil(1650 / 1000) = 2
    assert sla(correction=False).step(pd(), now(1, 2), 180.0) == {"prefill": 4, "decode": 2}


def test_dynamo_sla_fits_the_default_budget_of_8_gpus() -> None:
    # (2, 8) is 10 GPUs > 8: scale 0.8 -> P = round(1.6) = 2, D = round((8 - 2) / 1) = 6
    assert sla(budget=None).step(pd(), now(1, 2), 180.0) == {"prefill": 2, "decode": 6}


@pytest.mark.parametrize(
    ("wanted", "deployment", "expected"),
    [
        ((0, 0), Deployment(gpu_budget=8), (1, 1)),  # min_endpoint floors
        ((4, 8), Deployment(gpu_budget=8), (3, 5)),  # scale 8/12: round(2.67) = 3, 8 - 3 = 5
        ((5, 3), Deployment(gpu_budget=4), (2, 2)),  # round(2.5) = 2: Python rounds halves to even
        ((3, 5), Deployment(gpu_budget=4), (2, 2)),  # round(1.5) = 2, round(2) = 2
        ((4, 4), Deployment(gpu_budget=8, prefill_gpus=2, decode_gpus=2), (2, 2)),
        # the floors win over the budget: 4 + 1 GPUs against 4, as the published code does
        ((10, 1), Deployment(gpu_budget=4), (4, 1)),
        ((3, 5), Deployment(gpu_budget=8), (3, 5)),  # exactly at the budget: unchanged
        # 15 GPUs against 9: P = round(1.8) = 2, D = round(7 / 2) = 4 -> 10 GPUs: the
        # published rounding overshoots the budget, and so does this baseline
        ((3, 6), Deployment(gpu_budget=9, decode_gpus=2), (2, 4)),
    ],
)
def test_dynamo_sla_budget(
    wanted: tuple[int, int], deployment: Deployment, expected: tuple[int, int]
) -> None:
    assert budget_fit(*wanted, deployment) == expected


@pytest.mark.parametrize(
    "observed",
    [
        None,
        seen(),
        pd(ttft=None),  # no TTFT in the interval
        pd(itl=math.nan),  # NaN average
        pd(rate=0.0),  # no requests: ISL and OSL are 0/0
    ],
)
def test_dynamo_sla_skips_intervals_with_missing_data(observed: Observation | None) -> None:
    # the published skip: nothing changes, even at 7P1D with no traffic (dynamo#6985)
    assert sla().step(observed, now(7, 1), 180.0) == {"prefill": 7, "decode": 1}


def test_dynamo_sla_skips_without_ready_decode_workers() -> None:
    assert sla().step(pd(), now(1, 2, d_ready=0), 180.0) == {"prefill": 1, "decode": 2}


def test_dynamo_sla_predicts_the_last_value() -> None:
    predictor = ConstantPredictor()
    assert predictor.predict() == 0.0
    predictor.add(5.0)
    assert predictor.predict() == 5.0
    predictor.add(math.nan)  # NaN enters as 0, as in Dynamo's predictors
    assert predictor.predict() == 0.0


# Dynamo load-based planner ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("workers", "queued", "floor", "expected"),
    [
        (2, 0.0, 1, 1),  # empty queues: 0.16 - 0.16 < 0.272: down
        # 3000 queued: estimate 0.31 s (under SLA); moved onto one engine 6000 + 3000 tokens
        # = 8192 + 808 -> 0.4196 + 0.0504 = 0.47 s, 0.31 over T_own >= 0.272: refused
        (2, 3000.0, 1, None),
        (1, 9000.0, 1, 2),  # 12,000 tokens: 0.4196 + 0.2004 = 0.62 s > 0.5 on every engine: up
        (3, 1500.0, 1, 2),  # x 3/2 = 2250 -> 0.2725 s, 0.1125 over T_own < 0.272: down
        (1, 0.0, 1, None),  # one engine never goes down
        (3, 0.0, 3, 3),  # down, but not under min_endpoint
    ],
)
def test_dynamo_load_prefill(workers: int, queued: float, floor: int, expected: int | None) -> None:
    assert prefill_decision(workers, queued, 3000.0, STEPS, LoadSettings(), floor) == expected


@pytest.mark.parametrize(
    ("model", "workers", "kv", "expected"),
    [
        # post 40,000 fits, ITL 0.01 + 43,075 / 1e7 = 0.0143 < 0.05 * 0.8: down
        (STEPS, 2, 20_000.0, 1),
        (STEPS, 2, 60_000.0, None),  # 120,000 on the survivor does not fit the cache
        (STEPS, 2, 50_000.0, None),  # 100,000: exactly the cache, still refused (>=)
        (STEPS, 1, 0.0, None),  # one engine never goes down
        (SLOW, 2, 20_000.0, None),  # post ITL 0.01 + 0.043075 = 0.053 >= 0.04: refused
        (SLOW, 2, 50_000.0, 3),  # ITL 0.01 + 0.053075 = 0.063 > 0.05: up
    ],
)
def test_dynamo_load_decode(
    model: StepTimes, workers: int, kv: float, expected: int | None
) -> None:
    assert decode_decision(workers, 10.0, kv, 3075.0, model, LoadSettings(), 1) == expected


def load(model: StepTimes = STEPS, budget: int | None = None) -> DynamoLoadPolicy:
    return DynamoLoadPolicy(Deployment(gpu_budget=budget), model)


def engines(
    *,
    rate: float = 2.0,
    waiting: float = 0.0,
    kv: float = 0.2,
    d_waiting: float = 0.0,
    scraped: int = 2,
) -> Observation:
    """Two prefill and two decode engines; ``waiting``/``kv`` per engine."""
    return seen(
        role(
            "prefill",
            request_rate=rate,
            prompt_rate=rate * 3000,
            waiting=waiting * 2,
            scraped=scraped,
        ),
        role(
            "decode",
            request_rate=rate,
            generation_rate=rate * 150,
            kv=kv,
            running=20.0,
            waiting=d_waiting * 2,
        ),
    )


def test_dynamo_load_consolidates_an_idle_pair() -> None:
    assert load().step(engines(), now(2, 2), 0.0) == {"prefill": 1, "decode": 1}


def test_dynamo_load_counts_queued_decode_kv() -> None:
    # 0.2 * 100,000 + 2 waiting * 3000 = 26,000 per engine: post 52,000 fits, ITL 0.0155: down
    assert load().step(engines(d_waiting=2.0), now(2, 2), 0.0)["decode"] == 1
    # 0.4 * 100,000 + 4 * 3000 = 52,000: post 104,000 does not fit: stays
    assert load().step(engines(kv=0.4, d_waiting=4.0), now(2, 2), 0.0)["decode"] == 2


def test_dynamo_load_observes_only_while_a_role_is_scaling() -> None:
    # prefill asked for 3 and has 2 ready: it waits; decode decides
    observed = engines()
    assert load().step(observed, now(3, 2, p_ready=2), 0.0) == {"prefill": 3, "decode": 1}


def test_dynamo_load_skips_on_a_worker_count_mismatch() -> None:
    assert load().step(engines(scraped=1), now(2, 2), 0.0) == {"prefill": 2, "decode": 2}


@pytest.mark.parametrize("observed", [None, seen()])
def test_dynamo_load_without_metrics_does_nothing(observed: Observation | None) -> None:
    assert load().step(observed, now(3, 3), 0.0) == {"prefill": 3, "decode": 3}


def test_dynamo_load_needs_to_have_seen_traffic() -> None:
    idle = engines(rate=0.0, kv=0.0)
    assert load().step(idle, now(3, 3), 0.0) == {"prefill": 3, "decode": 3}


def test_dynamo_load_steps_down_one_at_a_time_when_traffic_stops() -> None:
    policy = load()
    # with traffic: prefill's 3000 queued per engine keep 2 (0.47 s after consolidation is
    # over budget); decode's 30,000 KV per engine consolidate (60,000, ITL 0.0163 s)
    assert policy.step(engines(waiting=1.0, kv=0.3), now(2, 2), 0.0) == {"prefill": 2, "decode": 1}
    idle = seen(
        role("prefill", request_rate=0.0, prompt_rate=0.0, waiting=0.0),
        role(
            "decode",
            replicas=1,
            request_rate=0.0,
            generation_rate=0.0,
            kv=0.0,
            running=0.0,
            waiting=0.0,
        ),
    )
    # no traffic: the ISL it learnt still sizes T_own; the empty queue consolidates
    assert policy.step(idle, now(2, 1), 5.0) == {"prefill": 1, "decode": 1}


@pytest.mark.parametrize(("budget", "expected"), [(4, 2), (5, 3)])
def test_dynamo_load_never_grows_past_the_budget(budget: int, expected: int) -> None:
    # 3 waiting per prefill engine: 9000 queued, TTFT 0.62 s > 0.5: up, if the budget allows
    decode_idle_but_kept = engines(waiting=3.0, kv=0.5)  # 100,000 post: decode stays at 2
    policy = load(budget=budget)
    assert policy.step(decode_idle_but_kept, now(2, 2), 0.0) == {"prefill": expected, "decode": 2}
