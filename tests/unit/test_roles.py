"""Role observations: merged quantiles, summed rates, gauges of replicas that are up, None
for no data; fed by plain timestamped snapshots (no scrapes, no exporter types)."""

from __future__ import annotations

import pytest

from llmobs.engines.catalog import EngineSnapshot, Naming
from llmobs.histogram import INF, Histogram, merge, quantile
from llmobs.observation import RoleKey
from llmobs.roles import Member, aggregate
from llmobs.window import Point, in_window

BOUNDS = (0.1, 0.5, 1.0, INF)


def snap(requests: float, ttft: tuple[float, ...], kv: float, running: float) -> EngineSnapshot:
    return EngineSnapshot(
        "vllm",
        Naming("v1", "test"),
        ("m",),
        gauges={"kv_cache_usage_ratio": kv, "requests_running": running},
        counters={"requests_total": requests, "prompt_tokens_total": requests * 100},
        histograms={"ttft_seconds": Histogram(BOUNDS, ttft, ttft[-1], ttft[-1] * 0.3)},
    )


def member(role: str, points: list[Point], up: bool = True, continuous: bool = True) -> Member:
    return Member(RoleKey("ns", "g", role, "m"), up, tuple(points), continuous)


def test_window_points_keep_one_baseline_before_the_window() -> None:
    points = [(float(t), snap(t, (0, 0, 0, 0), 0, 0)) for t in range(0, 100, 5)]
    inside = in_window(points, now=97.0, window_s=60.0)
    assert inside[0][0] == 35.0  # the last point at or before 37
    assert inside[-1][0] == 95.0
    assert not in_window(points, now=200.0, window_s=60.0)  # gone quiet


def test_quantiles_merge_replicas_rates_add_gauges_of_up_replicas() -> None:
    a = [(0.0, snap(0, (0, 0, 0, 0), 0.1, 1)), (60.0, snap(60, (30, 50, 60, 60), 0.5, 3))]
    b = [(0.0, snap(10, (0, 0, 0, 0), 0.2, 2)), (60.0, snap(40, (0, 10, 30, 30), 0.9, 5))]
    down = [(0.0, snap(0, (0, 0, 0, 0), 0.9, 9)), (60.0, snap(6, (0, 0, 6, 6), 1.0, 9))]
    observation = aggregate(
        [member("decode", a), member("decode", b), member("decode", down, up=False)],
        now=60.0,
        wall_time=1000.0,
        window_s=60.0,
        quantiles=(0.5, 0.99),
    )
    (role,) = observation.roles
    assert role.key == RoleKey("ns", "g", "decode", "m")
    assert (role.replicas.ready, role.replicas.scraped, role.replicas.up) == (3, 3, 2)
    merged = merge(
        [
            Histogram(BOUNDS, (30, 50, 60, 60), 60, 18),
            Histogram(BOUNDS, (0, 10, 30, 30), 30, 9),
            Histogram(BOUNDS, (0, 0, 6, 6), 6, 1.8),
        ]
    )
    latency = role.latency.ttft_seconds
    assert latency is not None
    assert latency.count == 96
    assert latency.quantiles[0.5] == quantile(0.5, merged)
    assert role.request_rate == (60 + 30 + 6) / 60
    assert role.prompt_tokens_rate == pytest.approx(9600 / 60)
    assert role.kv_cache_usage_ratio.mean == 0.7  # the down replica's gauges are not current
    assert role.kv_cache_usage_ratio.max == 0.9
    assert role.requests_running == 8
    assert role.latency.itl_seconds is None  # no replica exposes it here
    assert role.timestamp == 1000.0 and role.window_seconds == 60.0
    assert role.age_seconds == 0.0


def test_empty_window_has_no_quantiles_and_unmeasured_rates_are_none() -> None:
    quiet = [(0.0, snap(5, (1, 1, 1, 1), 0.0, 0)), (30.0, snap(5, (1, 1, 1, 1), 0.0, 0))]
    fresh = [(29.0, snap(0, (0, 0, 0, 0), 0.0, 0))]  # one point: no window yet
    observation = aggregate(
        [member("prefill", quiet), member("decode", fresh)],
        now=31.0,
        wall_time=1000.0,
        window_s=60.0,
        quantiles=(0.5,),
    )
    prefill = observation.find("prefill")
    decode = observation.find("decode")
    assert prefill is not None and decode is not None
    assert prefill.latency.ttft_seconds is not None
    assert prefill.latency.ttft_seconds.quantiles == {0.5: None}
    assert prefill.latency.ttft_seconds.mean is None
    assert prefill.request_rate == 0.0  # measured: nothing finished
    assert prefill.age_seconds == 1.0
    assert (decode.replicas.ready, decode.replicas.scraped, decode.replicas.up) == (1, 0, 1)
    assert decode.request_rate is None  # not measured yet: None, never 0
    assert decode.latency.ttft_seconds is None
    assert decode.kv_cache_usage_ratio.mean == 0.0  # a current gauge, even without a window


def test_a_role_with_no_snapshot_at_all_has_no_age_and_no_data() -> None:
    observation = aggregate(
        [member("decode", [], up=False)], now=5.0, wall_time=9.0, window_s=30.0, quantiles=(0.5,)
    )
    (role,) = observation.roles
    assert role.age_seconds is None
    assert role.request_rate is None
    assert role.kv_cache_usage_ratio.mean is None and role.requests_running is None


def test_counter_resets_inside_the_window_count_as_promql_does() -> None:
    """A replica that restarted (its counters went back) and was not made continuous: the
    increase is the growth before the restart plus everything after it, per series."""
    points = [
        (0.0, snap(100, (10, 20, 30, 40), 0.1, 1)),
        (10.0, snap(110, (12, 22, 32, 42), 0.1, 1)),
        (20.0, snap(5, (1, 2, 3, 5), 0.1, 1)),  # restarted
        (30.0, snap(8, (2, 3, 4, 8), 0.1, 1)),
    ]
    observation = aggregate(
        [member("both", points, continuous=False)],
        now=30.0,
        wall_time=0.0,
        window_s=30.0,
        quantiles=(0.5,),
    )
    (role,) = observation.roles
    assert role.request_rate == pytest.approx((10 + 8) / 30)
    ttft = role.latency.ttft_seconds
    assert ttft is not None and ttft.count == 2 + 8


def test_continuous_members_read_only_the_ends_of_the_window() -> None:
    """The exporter's counters never go back, so first-to-last is the whole increase: the
    same answer as reading every point."""
    points = [(float(t), snap(t * 2, (t, t, 2 * t, 3 * t), 0.5, 1)) for t in range(0, 61, 5)]
    both = [
        aggregate(
            [member("both", points, continuous=c)],
            now=60.0,
            wall_time=0.0,
            window_s=60.0,
            quantiles=(0.5, 0.9),
        )
        for c in (True, False)
    ]
    assert both[0] == both[1]


def test_a_replica_that_joins_mid_window_has_its_rate_over_its_own_span() -> None:
    old = [(0.0, snap(0, (0, 0, 0, 0), 0.5, 1)), (60.0, snap(10, (5, 5, 10, 10), 0.5, 1))]
    new = [(40.0, snap(4, (0, 2, 4, 4), 0.5, 1)), (60.0, snap(6, (0, 2, 6, 6), 0.5, 1))]
    (role,) = aggregate(
        [member("both", old), member("both", new)],
        now=60.0,
        wall_time=0.0,
        window_s=60.0,
        quantiles=(0.5,),
    ).roles
    assert role.replicas.scraped == 2
    assert role.request_rate == pytest.approx(10 / 60 + 2 / 20)
