"""The SLO search is a pure decision with a reason for each step: it brackets the highest
rate that meets the SLO and narrows the bracket to the asked precision."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from llmobs.bench.sweep import Search, bracket, next_rate, point, sweep_table


def attainment_at(capacity: float) -> Callable[[float], float]:
    """A server that meets the SLO for everyone below ``capacity`` req/s, then degrades."""

    def attain(rate: float) -> float:
        return 1.0 if rate <= capacity else max(0.0, 1 - (rate - capacity) / capacity)

    return attain


def search(capacity: float, plan: Search) -> tuple[list[tuple[float, float | None]], str]:
    attain = attainment_at(capacity)
    tried: list[tuple[float, float | None]] = []
    while True:
        step = next_rate(plan, tried)
        if step.rate is None:
            return tried, step.reason
        tried.append((step.rate, attain(step.rate)))


@pytest.mark.parametrize("capacity", [0.3, 3.0, 13.7, 250.0])
def test_search_finds_the_highest_rate_within_precision(capacity: float) -> None:
    plan = Search(attainment=0.9, start=1.0, max_rate=1000, precision=0.05, max_runs=30)
    tried, reason = search(capacity, plan)
    low, high = bracket(plan, tried)
    limit = capacity / 0.9  # attainment 0.9 is reached at 1.111 x capacity
    assert low is not None and high is not None
    assert low <= limit < high
    assert (high - low) / low <= 0.05
    assert "meets the SLO" in reason


def test_search_steps_say_why() -> None:
    plan = Search(start=2.0)
    assert next_rate(plan, []).reason == "start at 2 req/s"
    step = next_rate(plan, [(2.0, 1.0)])
    assert (step.rate, step.reason) == (4.0, "2 req/s met the SLO: doubling")
    step = next_rate(plan, [(2.0, 0.5)])
    assert (step.rate, step.reason) == (1.0, "2 req/s missed the SLO: halving")
    step = next_rate(plan, [(2.0, 1.0), (4.0, 0.2)])
    assert step.rate == 3.0 and "bisecting" in step.reason


def test_no_data_is_a_miss_not_a_pass() -> None:
    plan = Search(start=1.0)
    step = next_rate(plan, [(1.0, None)])  # nothing completed: attainment unknown
    assert step.rate == 0.5


def test_search_stops_at_its_limits() -> None:
    plan = Search(start=1.0, max_rate=4.0, max_runs=10)
    tried, reason = search(1000.0, plan)
    assert [r for r, _ in tried] == [1.0, 2.0, 4.0]
    assert reason == "4 req/s (the --max-rate) still meets the SLO"
    plan = Search(start=1.0, min_rate=0.25)
    _, reason = search(0.0001, plan)
    assert reason == "even 0.25 req/s misses the SLO"
    plan = Search(start=1.0, max_runs=3)
    tried, reason = search(100.0, plan)
    assert len(tried) == 3 and reason.startswith("stopped after 3 runs")


def test_points_and_table() -> None:
    doc = {
        "complete": True,
        "summary": {
            "achieved_rate": 3.9,
            "request_throughput": 3.8,
            "output_throughput": 380.0,
            "goodput": 3.0,
            "slo_attainment": 0.79,
            "ttft_ms": {"p50": 40.0, "p99": 90.0},
            "tpot_ms": {"p50": 12.0, "p99": 15.5},
            "itl_ms": {"p99": 20.0},
            "e2el_ms": {"p50": 1300.0},
            "failed": 0,
        },
    }
    p = point(4.0, doc, "rate-4")
    assert p["x"] == 4.0 and p["ttft_p99"] == 90.0 and p["slo_attainment"] == 0.79
    text = sweep_table([p], "rate")
    assert "79.0%" in text and "380.00" in text
