"""Exported counters carry on over engine restarts; each series resets on its own."""

from __future__ import annotations

from llmobs.engines.catalog import EngineSnapshot, Naming
from llmobs.exporter.continuity import Carry, carry_on
from llmobs.histogram import INF, Histogram

NAMING = Naming("v1", "test")


def snap(
    requests: float, counts: tuple[float, ...], bounds: tuple[float, ...] = (0.1, 1.0, INF)
) -> EngineSnapshot:
    hist = Histogram(bounds, counts, counts[-1], sum(counts) / 10)
    return EngineSnapshot(
        "vllm",
        NAMING,
        ("m",),
        counters={"requests_total": requests},
        histograms={"ttft_seconds": hist},
    )


def test_no_reset_passes_values_through() -> None:
    carry, _, reset = carry_on(Carry(), snap(5, (1, 2, 3)))
    assert not reset
    carry, second, reset = carry_on(carry, snap(9, (2, 4, 6)))
    assert not reset
    assert second.counters["requests_total"] == 9
    assert second.histograms["ttft_seconds"].counts == (2, 4, 6)


def test_restart_continues_from_the_last_value() -> None:
    carry, _, _ = carry_on(Carry(), snap(100, (10, 20, 30)))
    carry, after, reset = carry_on(carry, snap(4, (1, 2, 3)))
    assert reset
    assert after.counters["requests_total"] == 104
    hist = after.histograms["ttft_seconds"]
    assert hist.counts == (11, 22, 33)
    assert hist.count == 33
    carry, later, reset = carry_on(carry, snap(6, (1, 3, 5)))
    assert not reset
    assert later.counters["requests_total"] == 106
    assert later.histograms["ttft_seconds"].counts == (11, 23, 35)


def test_new_bounds_start_over() -> None:
    carry, _, _ = carry_on(Carry(), snap(1, (1, 2, 3)))
    _, after, reset = carry_on(carry, snap(2, (1, 1), bounds=(0.5, INF)))
    assert reset
    assert after.histograms["ttft_seconds"].bounds == (0.5, INF)
    assert after.histograms["ttft_seconds"].counts == (1, 1)
