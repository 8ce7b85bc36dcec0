"""Histogram math: PromQL's histogram_quantile, counter resets, merging."""

from __future__ import annotations

import math

import pytest

from llmobs.errors import IncompatibleBuckets
from llmobs.histogram import (
    Histogram,
    coarsen,
    counter_increase,
    increase,
    mean,
    merge,
    quantile,
)

INF = math.inf


def h(pairs: list[tuple[float, float]], total: float | None = None) -> Histogram:
    return Histogram.from_buckets(pairs, total=total)


def test_interpolates_inside_a_bucket() -> None:
    hist = h([(0.1, 10), (0.5, 30), (1.0, 40), (INF, 40)])
    assert quantile(0.5, hist) == pytest.approx(0.1 + 0.4 * (20 - 10) / 20)
    assert quantile(0.25, hist) == pytest.approx(0.1)
    # The first bucket interpolates from 0 when its bound is positive.
    assert quantile(0.1, hist) == pytest.approx(0.04)
    assert quantile(1.0, hist) == pytest.approx(1.0)


def test_rank_in_the_inf_bucket_gives_the_highest_finite_bound() -> None:
    assert quantile(0.1, h([(1, 0), (2, 0), (INF, 8)])) == 2


def test_first_bound_at_or_below_zero_is_returned() -> None:
    assert quantile(0.0, h([(-1, 1), (0, 2), (1, 3), (INF, 3)])) == -1


def test_empty_window_has_no_quantile() -> None:
    assert quantile(0.5, h([(1, 0), (INF, 0)])) is None
    assert quantile(0.5, None) is None
    assert mean(h([(1, 0), (INF, 0)], total=0)) is None


def test_q_zero_with_empty_first_bucket_is_nan_in_promql() -> None:
    assert quantile(0.0, h([(1, 0), (2, 4), (INF, 4)])) is None


def test_out_of_range_q_follows_promql() -> None:
    hist = h([(1, 1), (INF, 1)])
    assert quantile(-0.1, hist) == -INF
    assert quantile(1.1, hist) == INF
    assert quantile(math.nan, hist) is None


def test_only_an_inf_bucket_has_no_quantile() -> None:
    assert quantile(0.5, h([(INF, 5)])) is None


def test_non_monotonic_counts_take_the_envelope() -> None:
    hist = Histogram((1, 2, 3, INF), (6, 4, 8, 8), 8)
    assert quantile(0.9, hist) == pytest.approx(2.6)


def test_equal_bounds_are_coalesced() -> None:
    hist = h([(1.0, 2), (1.0, 3), (INF, 10)])
    assert hist.bounds == (1.0, INF) and hist.counts == (5, 10)


def test_missing_inf_bucket_is_an_error() -> None:
    with pytest.raises(IncompatibleBuckets):
        h([(1, 1)])


def test_bounds_must_ascend() -> None:
    with pytest.raises(IncompatibleBuckets, match="ascend"):
        Histogram((2, 1, INF), (1, 1, 1), 1)


def test_counter_increase_handles_resets_like_prometheus() -> None:
    assert counter_increase([5, 7, 10]) == 5
    assert counter_increase([5, 7, 2, 4]) == 6  # +2 to 7, restart counts its 2, then +2
    assert counter_increase([10, 3]) == 3
    with pytest.raises(ValueError, match="two"):
        counter_increase([1])


def test_increase_over_a_restart() -> None:
    before = Histogram((0.1, 1.0, INF), (5, 9, 10), 10, 4.0)
    later = Histogram((0.1, 1.0, INF), (7, 12, 14), 14, 6.0)
    restarted = Histogram((0.1, 1.0, INF), (1, 2, 2), 2, 0.5)
    window = increase([before, later, restarted])
    assert window.counts == (3, 5, 6)
    assert window.count == 6
    assert window.sum == pytest.approx(2.5)


def test_increase_across_changed_bounds_uses_shared_ones() -> None:
    old = Histogram((0.1, 0.5, 1.0, INF), (1, 2, 3, 4), 4, 1.0)
    new = Histogram((0.1, 1.0, 2.0, INF), (2, 5, 6, 7), 7, 3.0)
    window = increase([old, new])
    assert window.bounds == (0.1, 1.0, INF)
    assert window.counts == (1, 2, 3)


def test_merge_equal_bounds_adds_buckets() -> None:
    a = Histogram((1, INF), (1, 2), 2, 3.0)
    b = Histogram((1, INF), (4, 4), 4, 1.0)
    merged = merge([a, b])
    assert merged is not None
    assert merged.counts == (5, 6) and merged.count == 6 and merged.sum == 4.0
    assert merge([]) is None


def test_merge_different_bounds_coarsens_exactly() -> None:
    a = Histogram((0.5, 1, 2, INF), (1, 2, 3, 4), 4, None)
    b = Histogram((1, 5, INF), (10, 11, 12), 12, 2.0)
    merged = merge([a, b])
    assert merged is not None
    assert merged.bounds == (1, INF)
    assert merged.counts == (12, 16)
    assert merged.sum is None  # one side had no _sum: unknown, not 2.0


def test_coarsen_rejects_unknown_bounds() -> None:
    with pytest.raises(IncompatibleBuckets):
        coarsen(Histogram((1, INF), (1, 1), 1), (2, INF))


def test_nan_counts_follow_go_binary_search() -> None:
    # counts [2, NaN, 8], q=0: PromQL probes the middle first, NaN >= 0 is false -> highest
    # finite bound.
    hist = Histogram((1, 2, INF), (2, math.nan, 8), 8)
    assert quantile(0.0, hist) == 2
