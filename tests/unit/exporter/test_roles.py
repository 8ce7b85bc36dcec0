"""Role signals over the window: merged quantiles, summed rates, None for no data."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from llmobs.engines.catalog import EngineSnapshot, Naming
from llmobs.exporter.collector import Exported, ExporterCollector
from llmobs.exporter.roles import aggregate, to_json, window_points
from llmobs.exporter.state import Point, Target, TargetView
from llmobs.exposition.parser import parse
from llmobs.histogram import INF, Histogram, merge, quantile

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


def view(pod: str, role: str, points: list[Point], up: bool = True) -> TargetView:
    target = Target(key=pod, url=f"http://{pod}/metrics", pod=pod, role=role, group="g")
    return TargetView(target, up, "vllm", "m", tuple(points), 0.01, 1.0, None, {}, 0)


def test_window_points_keep_one_baseline_before_the_window() -> None:
    points = [(float(t), snap(t, (0, 0, 0, 0), 0, 0)) for t in range(0, 100, 5)]
    inside = window_points(points, now=97.0, window_s=60.0)
    assert inside[0][0] == 35.0  # the last point at or before 37
    assert inside[-1][0] == 95.0
    assert window_points(points, now=200.0, window_s=60.0) == []  # gone quiet


def test_quantiles_merge_replicas_rates_add_gauges_of_up_replicas() -> None:
    a = [(0.0, snap(0, (0, 0, 0, 0), 0.1, 1)), (60.0, snap(60, (30, 50, 60, 60), 0.5, 3))]
    b = [(0.0, snap(10, (0, 0, 0, 0), 0.2, 2)), (60.0, snap(40, (0, 10, 30, 30), 0.9, 5))]
    down = [(0.0, snap(0, (0, 0, 0, 0), 0.9, 9)), (60.0, snap(6, (0, 0, 6, 6), 1.0, 9))]
    snapshot = aggregate(
        [view("a", "decode", a), view("b", "decode", b), view("c", "decode", down, up=False)],
        now=60.0,
        wall_time=1000.0,
        window_s=60.0,
        quantiles=(0.5, 0.99),
    )
    (role,) = snapshot.roles
    assert role.replicas == {"ready": 3, "scraped": 3, "up": 2}
    merged = merge(
        [
            Histogram(BOUNDS, (30, 50, 60, 60), 60, 18),
            Histogram(BOUNDS, (0, 10, 30, 30), 30, 9),
            Histogram(BOUNDS, (0, 0, 6, 6), 6, 1.8),
        ]
    )
    latency = role.latency["ttft_seconds"]
    assert latency is not None
    assert latency.count == 96
    assert latency.quantiles[0.5] == quantile(0.5, merged)
    assert role.rates["request_rate"] == (60 + 30 + 6) / 60
    assert role.kv_cache_usage_mean == 0.7  # the down replica's gauges are not current
    assert role.kv_cache_usage_max == 0.9
    assert role.requests_running == 8
    assert role.latency["itl_seconds"] is None  # no replica exposes it here


def test_empty_window_has_no_quantiles_and_no_series() -> None:
    quiet = [(0.0, snap(5, (1, 1, 1, 1), 0.0, 0)), (30.0, snap(5, (1, 1, 1, 1), 0.0, 0))]
    fresh = [(29.0, snap(0, (0, 0, 0, 0), 0.0, 0))]  # one point: no window yet
    snapshot = aggregate(
        [view("a", "prefill", quiet), view("b", "decode", fresh)],
        now=30.0,
        wall_time=1000.0,
        window_s=60.0,
        quantiles=(0.5,),
    )
    prefill = next(r for r in snapshot.roles if r.role == "prefill")
    decode = next(r for r in snapshot.roles if r.role == "decode")
    assert prefill.latency["ttft_seconds"] is not None
    assert prefill.latency["ttft_seconds"].quantiles == {0.5: None}
    assert prefill.rates["request_rate"] == 0.0  # measured: nothing finished
    assert decode.replicas == {"ready": 1, "scraped": 0, "up": 1}
    assert decode.rates["request_rate"] is None  # not measured yet: None, never 0
    document = to_json(snapshot)
    assert [r["request_rate"] for r in document["roles"]] == [None, 0.0]  # decode, prefill

    registry = CollectorRegistry()
    views = (view("a", "prefill", quiet), view("b", "decode", fresh))
    registry.register(ExporterCollector(lambda: Exported(views, snapshot, 3, 0)))
    exposition = parse(generate_latest(registry))
    assert exposition.samples("llmobs_role_ttft_seconds") == []
    rates = exposition.samples("llmobs_role_request_rate")
    assert [(s.labels["role"], s.value) for s in rates] == [("prefill", 0.0)]
    replicas = {
        (s.labels["role"], s.labels["state"]): s.value
        for s in exposition.samples("llmobs_role_replicas")
    }
    assert replicas[("decode", "scraped")] == 0
    assert exposition.samples("llmobs_exporter_scrapes_total")[0].value == 3
