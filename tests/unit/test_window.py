"""Signals over a window from cumulative snapshots."""

from __future__ import annotations

import math

import pytest

from llmobs.engines.catalog import EngineSnapshot, Naming
from llmobs.histogram import Histogram
from llmobs.window import (
    counter_increase,
    group,
    histogram_increase,
    in_window,
    target,
    view,
)

INF = math.inf
NAMING = Naming("v1", "test")


def snap(
    ttft: tuple[float, float, float],
    prompt: float,
    hits: float,
    queries: float,
    running: float = 1.0,
) -> EngineSnapshot:
    return EngineSnapshot(
        engine="vllm",
        naming=NAMING,
        models=("m",),
        gauges={"requests_running": running, "kv_cache_usage_ratio": 0.5},
        counters={
            "prompt_tokens_total": prompt,
            "prefix_cache_hits_total": hits,
            "prefix_cache_queries_total": queries,
        },
        histograms={"ttft_seconds": Histogram((0.1, 1.0, INF), ttft, ttft[2], ttft[2] * 0.2)},
    )


def test_single_snapshot_is_cumulative() -> None:
    v = view([(100.0, snap((10, 20, 20), 500, 30, 100))])
    assert v.window_seconds is None
    assert v.rates == {}
    ttft = v.histograms["ttft_seconds"]
    assert ttft is not None and ttft.count == 20
    assert ttft.quantiles[0.5] == pytest.approx(0.1)
    assert v.prefix_cache_hit_ratio == pytest.approx(0.3)
    assert v.gauges["requests_running"] == 1.0
    assert v.gauges["requests_waiting"] is None  # absent, not 0
    assert v.histograms["itl_seconds"] is None


def test_window_is_the_difference() -> None:
    v = view(
        [
            (100.0, snap((10, 20, 20), 500, 30, 100)),
            (110.0, snap((10, 30, 30), 1500, 80, 200, running=4)),
        ]
    )
    assert v.window_seconds == 10.0
    assert v.rates["prompt_tokens_total"] == 100.0
    assert v.rates["requests_total"] is None  # not exposed: no rate, not 0
    ttft = v.histograms["ttft_seconds"]
    assert ttft is not None
    assert ttft.count == 10 and ttft.buckets == ((0.1, 0), (1.0, 10), (INF, 10))
    assert ttft.quantiles[0.5] == pytest.approx(0.55)
    assert v.prefix_cache_hit_ratio == pytest.approx(0.5)  # 50 hits of 100 queried tokens
    assert v.gauges["requests_running"] == 4
    assert v.counters["prompt_tokens_total"] == 1500


def test_empty_window_has_no_quantiles() -> None:
    same = snap((10, 20, 20), 500, 30, 100)
    v = view([(0.0, same), (5.0, same)])
    ttft = v.histograms["ttft_seconds"]
    assert ttft is not None and ttft.count == 0
    assert all(q is None for q in ttft.quantiles.values())
    assert ttft.mean is None
    assert v.rates["prompt_tokens_total"] == 0.0
    assert v.prefix_cache_hit_ratio is None  # nothing queried in the window


def test_restart_inside_the_window() -> None:
    v = view(
        [(0.0, snap((10, 20, 20), 500, 30, 100)), (5.0, snap((1, 2, 2), 40, 0, 10))]
    )  # the pod restarted: counters from zero
    ttft = v.histograms["ttft_seconds"]
    assert ttft is not None and ttft.count == 2
    assert v.rates["prompt_tokens_total"] == 8.0


def test_times_must_increase() -> None:
    s = snap((1, 1, 1), 1, 1, 1)
    with pytest.raises(ValueError, match="time order"):
        view([(5.0, s), (5.0, s)])
    with pytest.raises(ValueError, match="at least one"):
        view([])


def bare(**counters: float) -> EngineSnapshot:
    return EngineSnapshot("vllm", NAMING, ("m",), counters=counters)


def test_a_counter_that_appears_inside_the_window_counts_from_zero() -> None:
    points = [(0.0, bare()), (5.0, bare(requests_total=3.0)), (10.0, bare(requests_total=7.0))]
    assert counter_increase(points, "requests_total") == 7.0
    gone = [(0.0, bare(requests_total=3.0)), (5.0, bare())]
    assert counter_increase(gone, "requests_total") is None  # absent at the end: no value


def test_a_histogram_that_appears_inside_the_window_counts_from_zero() -> None:
    late = snap((1, 2, 3), 0, 0, 0)
    points = [(0.0, bare()), (5.0, late)]
    grown = histogram_increase(points, "ttft_seconds")
    assert grown is not None and grown.counts == (1, 2, 3) and grown.count == 3


def test_a_reset_between_two_growths_adds_both_sides() -> None:
    values = [10.0, 15.0, 2.0, 6.0]  # +5, restart (+2), +4
    points = [(float(i), bare(requests_total=v)) for i, v in enumerate(values)]
    assert counter_increase(points, "requests_total") == 11.0


def test_in_window_takes_the_baseline_before_the_start() -> None:
    points = [(float(t), bare()) for t in (0, 10, 20, 30)]
    assert [t for t, _ in in_window(points, now=30.0, window_s=15.0)] == [10.0, 20.0, 30.0]
    assert [t for t, _ in in_window(points, now=30.0, window_s=100.0)] == [0, 10, 20, 30]
    assert not in_window(points, now=100.0, window_s=30.0)
    assert not in_window([], now=0.0, window_s=30.0)


def test_a_group_adds_counters_merges_histograms_and_summarises_current_gauges() -> None:
    a = target([(0.0, snap((0, 0, 0), 0, 0, 0)), (10.0, snap((1, 2, 2), 100, 10, 20))])
    b = target([(0.0, snap((0, 0, 0), 0, 0, 0)), (5.0, snap((0, 1, 3), 50, 0, 20))])
    both = group([a, b], [{"kv_cache_usage_ratio": 0.2}, {"kv_cache_usage_ratio": 0.6}, {}])
    ttft = both.histograms["ttft_seconds"]
    assert ttft is not None and ttft.counts == (1, 3, 5)
    assert both.increases["prompt_tokens_total"] == 150
    assert both.rates["prompt_tokens_total"] == pytest.approx(100 / 10 + 50 / 5)
    assert both.prefix_cache_hit_ratio == pytest.approx(10 / 40)
    kv = both.gauges["kv_cache_usage_ratio"]
    assert kv is not None and (kv.mean, kv.max, kv.sum) == pytest.approx((0.4, 0.6, 0.8))
    assert both.gauges["requests_waiting"] is None
    assert both.increases["requests_total"] is None  # no member has it: None, never 0
    nobody = group([], [])
    assert nobody.histograms["ttft_seconds"] is None and nobody.rates["requests_total"] is None


def test_a_group_falls_back_on_the_engines_own_ratio_gauge() -> None:
    sglang = {"prefix_cache_hit_ratio": 0.3}
    assert group([], [sglang, {"prefix_cache_hit_ratio": 0.5}]).prefix_cache_hit_ratio == 0.4
