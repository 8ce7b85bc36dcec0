"""Signals over a window from cumulative snapshots."""

from __future__ import annotations

import math

import pytest

from llmobs.engines.catalog import EngineSnapshot, Naming
from llmobs.histogram import Histogram
from llmobs.window import view

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
