"""The exporter's llmobs_role_* series: written from the RoleObservation, absent for no data."""

from __future__ import annotations

from llmobs.engines.catalog import EngineSnapshot, Naming
from llmobs.exporter.collector import Exported, render
from llmobs.exporter.state import Target, TargetState, TargetView
from llmobs.exposition.parser import parse
from llmobs.histogram import INF, Histogram
from llmobs.roles import aggregate
from llmobs.window import Point

BOUNDS = (0.1, 0.5, 1.0, INF)


def snap(requests: float, ttft: tuple[float, ...]) -> EngineSnapshot:
    return EngineSnapshot(
        "vllm",
        Naming("v1", "test"),
        ("m",),
        gauges={"kv_cache_usage_ratio": 0.0, "requests_running": 0.0},
        counters={"requests_total": requests},
        histograms={"ttft_seconds": Histogram(BOUNDS, ttft, ttft[-1], ttft[-1] * 0.3)},
    )


def view(pod: str, role: str, points: list[Point]) -> TargetView:
    """A target that was scraped at ``points`` (snapshots already read and continuous)."""
    target = Target(key=pod, url=f"http://{pod}/metrics", pod=pod, role=role, group="g")
    state = TargetState(target, 60.0, up=True, engine="vllm", models=("m",))
    state.points.extend(points)
    state.render()
    return state.view()


def test_quiet_and_fresh_roles_export_only_what_was_measured() -> None:
    quiet = [(0.0, snap(5, (1, 1, 1, 1))), (30.0, snap(5, (1, 1, 1, 1)))]
    fresh = [(29.0, snap(0, (0, 0, 0, 0)))]  # one point: no window yet
    views = (view("a", "prefill", quiet), view("b", "decode", fresh))
    observation = aggregate(
        (v.member() for v in views), now=30.0, wall_time=1000.0, window_s=60.0, quantiles=(0.5,)
    )
    exposition = parse(render(Exported(views, observation, 3, 0)))
    assert exposition.samples("llmobs_role_ttft_seconds") == []  # no quantile for no requests
    rates = exposition.samples("llmobs_role_request_rate")
    assert [(s.labels["role"], s.value) for s in rates] == [("prefill", 0.0)]
    replicas = {
        (s.labels["role"], s.labels["state"]): s.value
        for s in exposition.samples("llmobs_role_replicas")
    }
    assert replicas[("decode", "scraped")] == 0
    assert replicas[("prefill", "scraped")] == 1
    assert exposition.samples("llmobs_exporter_scrapes_total")[0].value == 3
