"""llmbench's server-side view of a run reads the servers with the window core's rules."""

from __future__ import annotations

import pytest

from llmobs.bench.serverside import ServerWatch, views
from llmobs.engines.catalog import EngineSnapshot, Naming
from llmobs.histogram import INF, Histogram

BOUNDS = (0.1, 1.0, INF)


def snap(ttft: tuple[float, float, float], kv: float, waiting: float) -> EngineSnapshot:
    return EngineSnapshot(
        "vllm",
        Naming("v1", "test"),
        ("m",),
        gauges={"kv_cache_usage_ratio": kv, "requests_waiting": waiting},
        histograms={"ttft_seconds": Histogram(BOUNDS, ttft, ttft[-1], ttft[-1] * 0.5)},
    )


def watch(*series: list[tuple[float, EngineSnapshot]]) -> ServerWatch:
    out = ServerWatch([f"http://s{i}/metrics" for i in range(len(series))], start=0.0)
    for target, points in zip(out.series, series, strict=True):
        for at, s in points:
            target.add(at, s)
    return out


def test_a_server_restart_during_the_run_counts_as_promql_counts_it() -> None:
    restarted = [
        (0.0, snap((10, 20, 20), 0.1, 0)),
        (5.0, snap((12, 25, 25), 0.3, 4)),  # 5 requests
        (10.0, snap((1, 2, 2), 0.5, 2)),  # restarted: 2 more
        (15.0, snap((2, 4, 4), 0.1, 0)),  # 2 more
    ]
    steady = [(0.0, snap((0, 0, 0), 0.2, 0)), (15.0, snap((3, 3, 3), 0.2, 1))]
    (one, two), together = views(watch(restarted, steady), (0.5,))
    assert one.counts["ttft_seconds"] == 5 + 2 + 2
    assert two.counts["ttft_seconds"] == 3
    assert together.counts["ttft_seconds"] == 12
    assert one.kv_usage_mean == pytest.approx(0.25) and one.kv_usage_max == 0.5
    assert one.waiting_max == 4
    assert together.kv_usage_mean == pytest.approx((0.25 + 0.2) / 2)
    assert together.kv_usage_max == 0.5 and together.waiting_max == 4
    assert one.counts["itl_seconds"] is None  # not exposed: no count, not 0


def test_one_scrape_is_no_window() -> None:
    (one,), together = views(watch([(0.0, snap((1, 1, 1), 0.1, 0))]), (0.5,))
    assert one.counts["ttft_seconds"] is None
    assert one.quantiles["ttft_seconds"] == {0.5: None}
    assert together.counts["ttft_seconds"] is None
