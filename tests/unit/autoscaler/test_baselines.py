"""The baselines as tables computed by hand from their published formulas (see each module's
docstring and ../shared/notes/autoscaling.md sections 1, 2 and 5): inputs -> replicas,
with the corner cases their code has (tolerance band edges, bounds, missing data).
The Dynamo planners are in test_baselines_dynamo.py."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler.baselines import BASELINES, BaselineSetup, build
from llmobs.autoscaler.baselines.aibrix_apa import AibrixApaPolicy, ApaSettings, apa_replicas
from llmobs.autoscaler.baselines.deployment import Deployment
from llmobs.autoscaler.baselines.dynamo_load import DynamoLoadPolicy
from llmobs.autoscaler.baselines.dynamo_sla import DynamoSlaPolicy
from llmobs.autoscaler.baselines.perf_profiles import EngineShape, dynamo_profiles
from llmobs.autoscaler.baselines.static import StaticPolicy
from llmobs.errors import ConfigError
from llmobs.observation import Observation
from llmobs.sim import profiles
from llmobs.sim.perf import PerfModel
from tests.unit.autoscaler.baseline_inputs import DECODE, PREFILL, STEPS, now, role, seen

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
        "aibrix-apa": 10.0,
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


@given(current=st.integers(0, 10_000), ratio=st.floats(0.0, 1e3))
def test_apa_moves_only_out_of_band_and_within_its_rates(current: int, ratio: float) -> None:
    got = apa_replicas(current, ratio, ApaSettings())
    assert current // 2 <= got <= 2 * current
    if 0.9 <= ratio <= 1.1:
        assert got == current
    elif ratio > 1.1:
        assert got >= current
    else:
        assert got <= current


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


def test_apa_skips_a_metric_whose_collection_failed() -> None:
    # collectFromPods errors when every pod fails; computeReplicasForSingleMetric then skips
    # the metric before its window is read, so a failed collection holds, window or not
    policy = apa()
    busy = seen(role("prefill", waiting=0.0), role("decode", kv=1.0, waiting=0.0))
    assert policy.step(busy, now(1, 2), 0.0)["decode"] == 4
    assert policy.step(None, now(1, 4), 15.0)["decode"] == 4
    # the window kept the 1.0: with 0.0 now the mean is 0.5, in band
    idle = seen(role("prefill", waiting=0.0), role("decode", kv=0.0, waiting=0.0))
    assert policy.step(idle, now(1, 4), 20.0)["decode"] == 4


def test_apa_window_keeps_a_sample_exactly_its_span_old() -> None:
    # TimeWindow.Record deletes buckets before now - duration: the one at the cutoff stays
    policy = apa(stable_window_s=10.0, scale_down_cooldown_s=0.0)
    high = seen(role("prefill", waiting=0.0), role("decode", kv=1.0, waiting=0.0))
    low = seen(role("prefill", waiting=0.0), role("decode", kv=0.0, waiting=0.0))
    assert policy.step(high, now(1, 4), 0.0)["decode"] == 8
    assert policy.step(low, now(1, 4), 10.0)["decode"] == 4  # (1.0 + 0.0) / 2: in band
    assert policy.step(low, now(1, 4), 10.5)["decode"] == 2  # the 1.0 left: floor(4 / 2)


def test_apa_averages_the_queue_over_the_pods_that_answered() -> None:
    # 40 waiting on 2 pods up (a third starting, in N but not scraped): 20 per pod, r = 2
    observed = seen(role("prefill", replicas=2, scraped=1, waiting=40.0), role("decode"))
    assert apa().step(observed, now(3, 1, p_ready=2), 0.0)["prefill"] == 6  # ceil(3 * 2)


@pytest.mark.parametrize(
    ("p", "expected"),
    [(0, 0), (12, 10), (1, 2)],  # 0: scaling disabled; over max: max; else the metric (x2)
)
def test_apa_boundary_checks_come_before_the_metrics(p: int, expected: int) -> None:
    # computeScaleDecision: current 0 with min != 0 holds; current > max goes to max
    observed = seen(role("prefill", waiting=1000.0), role("decode", kv=0.5, waiting=0.0))
    assert apa().step(observed, now(p, 1), 0.0)["prefill"] == expected


# AIBrix's own table: algorithm/apa_test.go, TestAPAAlgorithm_ComputeTargetReplicas
# (computeTargetReplicas), target 30, tolerances 0.1/0.1
@pytest.mark.parametrize(
    ("name", "pods", "use_per_pod", "up_rate", "down_rate", "expected"),
    [
        ("basic_scale_up", 2, 45.0, 2.0, 2.0, 3),
        ("scale_up_upto_ceiling", 2, 35.0, 2.0, 2.0, 3),
        ("scale_up_upto_max_scale_up", 2, 90.0, 2.0, 2.0, 4),
        ("scale_up_upto_max_scale_up_ceiling", 2, 90.0, 2.5, 2.0, 5),
        ("basic_scale_down", 6, 20.0, 2.0, 2.0, 4),
        ("scale_down_upto_ceiling", 6, 18.0, 2.0, 2.0, 4),
        ("scale_down_upto_max_scale_down", 6, 10.0, 2.0, 2.0, 3),
        ("scale_down_upto_max_scale_down_floor", 6, 5.0, 2.0, 2.5, 2),
        ("no_scaling_as_within_up_tolerance", 2, 33.0, 2.0, 2.0, 2),
        ("no_scaling_as_within_down_tolerance", 2, 27.0, 2.0, 2.0, 2),
    ],
)
def test_apa_matches_aibrix_own_table(
    name: str, pods: int, use_per_pod: float, up_rate: float, down_rate: float, expected: int
) -> None:
    settings = ApaSettings(max_scale_up_rate=up_rate, max_scale_down_rate=down_rate)
    assert apa_replicas(pods, use_per_pod / 30.0, settings) == expected, name


def test_apa_doubles_every_resync_while_the_queue_stays_on_the_old_pod() -> None:
    # The published dynamics behind a run to maxReplicas: a backlog of 30 per pod (r = 3)
    # on the one pod that answers while the new ones cold-start; N is every pod created
    policy = AibrixApaPolicy(Deployment(max_replicas=64), ApaSettings())
    backlog = seen(role("prefill", replicas=1, waiting=30.0), role("decode", kv=0.5))
    n, path = 1, []
    for tick in range(7):
        n = policy.step(backlog, now(n, 1, p_ready=1), 10.0 * tick)["prefill"]
        path.append(n)
    assert path == [2, 4, 8, 16, 32, 64, 64]


# Dynamo's inputs from the emulator's performance model -----------------------------------


def test_perf_profiles_price_steps_as_the_emulator_does() -> None:
    perf = PerfModel(profiles.hardware("H100-80GB"), profiles.model("Llama-3.1-8B"))
    prefill, decode, steps = dynamo_profiles(
        perf, EngineShape(kv_tokens=400_000, max_num_batched_tokens=2048)
    )
    # a 3000-token prompt alone is two chunks (2048 + 952), as the engine runs it
    assert prefill.ttft_s(3000) > steps.prefill_s(2048) + steps.prefill_s(952)
    assert prefill.throughput_per_gpu(3000) == pytest.approx(3000 / prefill.ttft_s(3000))
    # decode slows with concurrency; the best throughput within an ITL is the most sequences
    # within it that the KV cache holds (400,000 / 3075 = 130), to the grid's 1% of the cache
    assert decode.itl_s(1, 3075) < decode.itl_s(64, 3075) < decode.itl_s(256, 3075)
    best = decode.best_throughput_per_gpu(0.03, 3075)
    within = [n for n in range(1, 131) if decode.itl_s(n, 3075) <= 0.03]
    assert best == pytest.approx(max(n / decode.itl_s(n, 3075) for n in within), rel=0.02)
    assert steps.ttft_s(0, 3000) == pytest.approx(steps.prefill_s(2048) + steps.prefill_s(952))
