"""The baselines as tables computed by hand from their published formulas (see each module's
docstring and ../shared/notes/autoscaling.md sections 1, 2 and 5): inputs -> replicas,
with the corner cases their code has (clamps, NaN skip, tolerance edges, budget)."""

from __future__ import annotations

import math

import pytest

from llmobs.autoscaler.baselines import BASELINES, BaselineSetup, build
from llmobs.autoscaler.baselines.aibrix_apa import AibrixApaPolicy, ApaSettings, apa_replicas
from llmobs.autoscaler.baselines.deployment import Deployment
from llmobs.autoscaler.baselines.dynamo_load import (
    DynamoLoadPolicy,
    LoadSettings,
    decode_decision,
    prefill_decision,
)
from llmobs.autoscaler.baselines.dynamo_profile import (
    ConstantPredictor,
    DecodeProfile,
    PrefillProfile,
    StepTimes,
)
from llmobs.autoscaler.baselines.dynamo_sla import DynamoSlaPolicy, SlaSettings, budget_fit
from llmobs.autoscaler.baselines.static import StaticPolicy
from llmobs.autoscaler.model import Replicas
from llmobs.errors import ConfigError
from llmobs.observation import Latencies, Latency, Observation, RoleKey, RoleObservation, Spread
from llmobs.observation import Replicas as Counted


def _latency(mean: float | None) -> Latency | None:
    return None if mean is None else Latency(count=100.0, mean=mean, quantiles={})


def role(
    name: str,
    *,
    replicas: int = 2,
    scraped: int | None = None,
    request_rate: float | None = None,
    prompt_rate: float | None = None,
    generation_rate: float | None = None,
    ttft: float | None = None,
    itl: float | None = None,
    e2e: float | None = None,
    kv: float | None = None,
    running: float | None = None,
    waiting: float | None = None,
) -> RoleObservation:
    return RoleObservation(
        key=RoleKey("default", "g", name, "m"),
        replicas=Counted(replicas, replicas if scraped is None else scraped, replicas),
        window_seconds=180.0,
        timestamp=0.0,
        age_seconds=1.0,
        latency=Latencies(
            ttft_seconds=_latency(ttft), itl_seconds=_latency(itl), e2e_seconds=_latency(e2e)
        ),
        request_rate=request_rate,
        prompt_tokens_rate=prompt_rate,
        generation_tokens_rate=generation_rate,
        kv_cache_usage_ratio=Spread(kv, kv),
        requests_running=running,
        requests_waiting=waiting,
    )


def seen(*roles: RoleObservation) -> Observation:
    return Observation(timestamp=0.0, window_seconds=180.0, roles=roles)


def now(
    p: int, d: int, *, p_ready: int | None = None, d_ready: int | None = None
) -> dict[str, Replicas]:
    return {
        "prefill": Replicas(p, p if p_ready is None else p_ready),
        "decode": Replicas(d, d if d_ready is None else d_ready),
    }


# static ----------------------------------------------------------------------------------


def test_static_asks_for_its_xpyd_whatever_it_sees() -> None:
    policy = StaticPolicy(Deployment(), 3, 2)
    assert policy.name == "static-3p2d"
    assert policy.step(None, now(1, 1), 0.0) == {"prefill": 3, "decode": 2}
    busy = seen(role("prefill", waiting=500.0), role("decode", kv=1.0))
    assert policy.step(busy, now(5, 5), 60.0) == {"prefill": 3, "decode": 2}


def test_static_needs_at_least_one_replica_per_role() -> None:
    with pytest.raises(ConfigError, match="x, y >= 1"):
        StaticPolicy(Deployment(), 0, 2)


# registry --------------------------------------------------------------------------------


def test_registry_names_every_baseline() -> None:
    assert set(BASELINES) == {"static", "aibrix-apa", "dynamo-sla", "dynamo-load"}


def test_registry_builds_each_baseline_with_its_published_interval() -> None:
    setup = BaselineSetup(
        Deployment(),
        ttft_target_s=2.0,
        itl_target_s=0.04,
        static=(2, 2),
        prefill_profile=PREFILL,
        decode_profile=DECODE,
        step_times=STEPS,
    )
    intervals = {name: build(name, setup).interval_s for name in BASELINES}
    assert intervals == {
        "static": 60.0,
        "aibrix-apa": 15.0,
        "dynamo-sla": 180.0,
        "dynamo-load": 5.0,
    }
    sla = build("dynamo-sla", setup)
    assert isinstance(sla, DynamoSlaPolicy)
    assert sla.settings.itl_target_s == 0.04
    load = build("dynamo-load", setup)
    assert isinstance(load, DynamoLoadPolicy)
    assert (load.settings.ttft_target_s, load.settings.itl_target_s) == (2.0, 0.04)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("static", "xPyD"),
        ("dynamo-sla", "profiles"),
        ("dynamo-load", "step-time model"),
        ("hpa", "unknown baseline 'hpa'; known: static, aibrix-apa"),
    ],
)
def test_registry_says_what_is_missing(name: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build(name, BaselineSetup(Deployment()))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"prefill": "x", "decode": "x"}, "must differ"),
        ({"prefill_gpus": 0}, "at least 1"),
        ({"min_replicas": 3, "max_replicas": 2}, "min <= max"),
        ({"gpu_budget": 1}, "cannot hold"),
    ],
)
def test_deployment_is_checked_up_front(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Deployment(**kwargs)  # type: ignore[arg-type]


# AIBrix APA ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "ratio", "expected"),
    [
        (4, 1.1, 4),  # exactly 1 + upTol: inside the band
        (4, 1.11, 5),  # ceil(4.44)
        (4, 3.0, 8),  # ceil(12) capped at ceil(2 * 4)
        (3, 1.5, 5),  # ceil(4.5), under the cap of 6
        (4, 0.9, 4),  # exactly 1 - downTol: inside the band
        (4, 0.89, 4),  # ceil(3.56) = 4: a ratio just below the band changes nothing
        (4, 0.5, 2),  # ceil(2)
        (4, 0.1, 2),  # ceil(0.4) = 1, floored at floor(4 / 2)
        (5, 0.0, 2),  # floor(5 / 2)
        (1, 0.0, 0),  # floor(1 / 2); the min/max clamp comes after
        (0, 5.0, 0),  # nothing to multiply: ceil(0) and ceil(2 * 0)
    ],
)
def test_apa_formula(current: int, ratio: float, expected: int) -> None:
    assert apa_replicas(current, ratio, ApaSettings()) == expected


def apa(**settings: float) -> AibrixApaPolicy:
    return AibrixApaPolicy(Deployment(max_replicas=10), ApaSettings(**settings))  # type: ignore[arg-type]


def test_apa_decode_takes_the_larger_of_kv_and_queue() -> None:
    # kv 0.8 / 0.5 = 1.6: ceil(2 * 1.6) = 4 (cap 4); queue 0: floor(2 / 2) = 1; max -> 4
    # prefill: 30 waiting per pod / 10 = 3: ceil(6) capped at 4
    observed = seen(role("prefill", waiting=60.0), role("decode", kv=0.8, waiting=0.0))
    assert apa().step(observed, now(2, 2), 0.0) == {"prefill": 4, "decode": 4}


def test_apa_averages_over_its_180_s_stable_window() -> None:
    policy = apa()
    high = seen(role("prefill", waiting=0.0), role("decode", kv=0.8, waiting=0.0))
    low = seen(role("prefill", waiting=0.0), role("decode", kv=0.2, waiting=0.0))
    assert policy.step(high, now(1, 4), 0.0)["decode"] == 7  # 0.8/0.5=1.6: ceil(6.4)
    # (0.8 + 0.2) / 2 = 0.5: ratio 1, in band (4); the queue (0) says floor(4/2) = 2; max 4
    assert policy.step(low, now(1, 4), 15.0)["decode"] == 4
    # at 181 s the 0.8 sample has left the window: 0.2 / 0.5 = 0.4 -> ceil(1.6) = 2, and the
    # scale-down is the min over the 300 s cooldown of [7, 4, 2]: 2
    assert policy.step(low, now(1, 4), 181.0)["decode"] == 2


def test_apa_scale_down_takes_the_min_of_the_cooldown_window_as_aibrix_does() -> None:
    policy = apa(stable_window_s=1.0)
    half = seen(role("prefill", waiting=0.0), role("decode", kv=0.25, waiting=0.0))
    most = seen(role("prefill", waiting=0.0), role("decode", kv=0.375, waiting=0.0))
    assert policy.step(half, now(1, 4), 0.0)["decode"] == 2  # ceil(4 * 0.5)
    assert policy.step(most, now(1, 4), 15.0)["decode"] == 2  # ceil(3), min of [2, 3]
    assert policy.step(most, now(1, 4), 301.0)["decode"] == 3  # the 2 is 301 s old


def test_apa_scale_up_is_not_held_back() -> None:
    policy = apa(stable_window_s=1.0)
    low = seen(role("prefill", waiting=0.0), role("decode", kv=0.25, waiting=0.0))
    high = seen(role("prefill", waiting=0.0), role("decode", kv=0.75, waiting=0.0))
    assert policy.step(low, now(1, 4), 0.0)["decode"] == 2
    assert policy.step(high, now(1, 2), 15.0)["decode"] == 3  # ceil(2 * 1.5), cooldown 0 s


def test_apa_clamps_to_its_bounds() -> None:
    policy = AibrixApaPolicy(Deployment(min_replicas=2, max_replicas=5), ApaSettings())
    observed = seen(role("prefill", waiting=0.0), role("decode", kv=1.0, waiting=0.0))
    # prefill: queue 0 -> floor(4 / 2) = 2 -> min 2; decode: 1.0/0.5 = 2 -> 8 -> max 5
    assert policy.step(observed, now(4, 4), 0.0) == {"prefill": 2, "decode": 5}


@pytest.mark.parametrize(
    "observed",
    [
        None,
        seen(),
        seen(role("prefill"), role("decode")),
        seen(role("prefill", waiting=math.nan), role("decode", kv=math.nan)),
    ],
)
def test_apa_without_metrics_does_not_scale(observed: Observation | None) -> None:
    assert apa().step(observed, now(3, 5), 0.0) == {"prefill": 3, "decode": 5}


def test_apa_uses_the_window_when_a_collection_fails() -> None:
    policy = apa()
    busy = seen(role("prefill", waiting=0.0), role("decode", kv=1.0, waiting=0.0))
    assert policy.step(busy, now(1, 2), 0.0)["decode"] == 4
    assert policy.step(None, now(1, 4), 15.0)["decode"] == 8  # 1.0 still in the window


# Dynamo v1 SLA planner -------------------------------------------------------------------

# Profiles with hand-checkable numbers: a prefill of ISL tokens alone takes ISL / 10k s and
# an engine does 10k prompt tokens/s per GPU; a decode engine with n sequences has ITL
# 0.01 + 0.0001 n s (any context) and does 10 n tokens/s per GPU; its KV cache holds
# 307,500 tokens, so at ISL 3000, OSL 150 (context 3075) the grid's KV usage k is n = 100 k.
PREFILL = PrefillProfile(ttft_s=lambda isl: isl / 10_000, throughput_per_gpu=lambda isl: 10_000.0)
DECODE = DecodeProfile(
    itl_s=lambda n, ctx: 0.01 + 0.0001 * n,
    throughput_per_gpu=lambda n, ctx: 10.0 * n,
    max_kv_tokens=307_500,
)


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

# A prefill step of t tokens takes 0.01 + t / 20,000 s (chunks of 8192); a decode step over
# kv tokens 0.01 + kv / 1e7 s (SLOW: kv / 1e6); 100,000 KV tokens per decode engine. With
# ISL 3000 the own-prefill time T_own is 0.16 s, and with the TTFT SLA 0.5 s and sensitivity
# 0.8 the queue budget is (0.5 - 0.16) * 0.8 = 0.272 s. A decode sequence holds 3000 + 75.
STEPS = StepTimes(
    prefill_s=lambda tokens: 0.01 + tokens / 20_000,
    decode_s=lambda requests, kv: 0.01 + kv / 1e7,
    max_num_batched_tokens=8192,
    max_kv_tokens=100_000,
)
SLOW = StepTimes(
    prefill_s=STEPS.prefill_s,
    decode_s=lambda requests, kv: 0.01 + kv / 1e6,
    max_num_batched_tokens=8192,
    max_kv_tokens=100_000,
)


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
