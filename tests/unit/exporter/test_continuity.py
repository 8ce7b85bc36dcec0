"""Exported counters carry on over engine restarts; each series resets on its own."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

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


_COUNTS = st.lists(st.integers(0, 6), min_size=3, max_size=3).map(
    lambda c: tuple(float(x) for x in itertools.accumulate(c))
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_COUNTS, st.integers(0, 9)), min_size=1, max_size=8), st.booleans())
def test_each_series_carries_on_as_promql_reads_a_reset(
    scrapes: list[tuple[tuple[float, ...], int]], with_sum: bool
) -> None:
    """Each bucket, ``_count`` and ``_sum`` on its own: exposed = raw + the values seen just
    before each of its resets (the rule, written out per series)."""
    carry = Carry()
    raw_before: list[float] | None = None
    offsets = [0.0] * 5
    for counts, total in scrapes:
        raw = Histogram((0.1, 1.0, INF), counts, counts[-1], total / 2 if with_sum else None)
        values = [*counts, raw.count, raw.sum if raw.sum is not None else 0.0]
        went_back = False
        if raw_before is not None:
            for i, (was, now) in enumerate(zip(raw_before, values, strict=True)):
                if now < was:
                    offsets[i] += was
                    went_back = True
        raw_before = values
        snapshot = EngineSnapshot("vllm", NAMING, ("m",), histograms={"ttft_seconds": raw})
        carry, exposed, reset = carry_on(carry, snapshot)
        hist = exposed.histograms["ttft_seconds"]
        assert reset == went_back
        assert hist.counts == tuple(v + o for v, o in zip(counts, offsets, strict=False))
        assert hist.count == raw.count + offsets[3]
        assert hist.sum == (raw.sum + offsets[4] if raw.sum is not None else None)
