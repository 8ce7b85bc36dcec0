"""Cumulative histograms and the math on them, identical to Prometheus 2.42's PromQL.

``quantile`` is PromQL's ``histogram_quantile`` (``bucketQuantile``: sort, coalesce equal
bounds, force monotonic counts, binary search, linear interpolation inside a bucket, the
``+Inf`` bucket answered with the highest finite bound). ``increase`` is PromQL's counter
rule applied per bucket without extrapolation: a value lower than the previous one is a reset
and counts from zero, as ``rate()`` does. ``merge`` adds series with equal bounds, as
``sum by (le)`` does; series with different bounds are first cut down to the bounds they
share, which keeps every cumulative count exact.

Missing data is ``None``, never 0: an empty window has no quantile. Pure: no I/O.
"""

from __future__ import annotations

import functools
import math
import operator
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from llmobs.errors import IncompatibleBuckets

INF = math.inf


@functools.lru_cache(maxsize=256)
def _check_bounds(bounds: tuple[float, ...]) -> None:
    """Raise unless ``bounds`` ascend strictly to +Inf. Engines use a handful of bucket
    layouts, so each is checked once, not at every histogram built from it."""
    if bounds[-1] != INF:
        raise IncompatibleBuckets("a histogram's last bound must be +Inf")
    if not all(a < b for a, b in pairwise(bounds)):  # NaN fails too
        raise IncompatibleBuckets("histogram bounds must strictly ascend (see from_buckets)")


@dataclass(frozen=True, slots=True)
class Histogram:
    """``counts[i]`` observations were ``<= bounds[i]``; bounds ascend and end with +Inf.

    ``count`` is the ``_count`` sample (equal to the +Inf bucket in a consistent exposition)
    and ``sum`` the ``_sum`` sample, ``None`` when the exposition has none.
    """

    bounds: tuple[float, ...]
    counts: tuple[float, ...]
    count: float
    sum: float | None = None

    def __post_init__(self) -> None:
        if len(self.bounds) != len(self.counts) or not self.bounds:
            raise IncompatibleBuckets("a histogram needs one count per bound, and a bound")
        _check_bounds(self.bounds)

    @classmethod
    def from_buckets(
        cls,
        buckets: Iterable[tuple[float, float]],
        count: float | None = None,
        total: float | None = None,
    ) -> Histogram:
        """Build from ``(upper_bound, cumulative_count)`` pairs in any order.

        Equal bounds (``le="1"`` next to ``le="1.0"``) are added together, as PromQL's
        ``coalesceBuckets`` does. ``count`` defaults to the +Inf bucket.
        """
        merged: dict[float, float] = {}
        for bound, value in buckets:
            merged[bound] = merged.get(bound, 0.0) + value
        bounds = tuple(sorted(merged))
        counts = tuple(merged[b] for b in bounds)
        if not bounds or bounds[-1] != INF:
            raise IncompatibleBuckets('a histogram needs an le="+Inf" bucket')
        return cls(bounds, counts, counts[-1] if count is None else count, total)


def coarsen(histogram: Histogram, bounds: Sequence[float]) -> Histogram:
    """Keep only ``bounds`` (a subset of the histogram's, with +Inf); counts stay exact."""
    index = {b: i for i, b in enumerate(histogram.bounds)}
    try:
        counts = tuple(histogram.counts[index[b]] for b in bounds)
    except KeyError as exc:
        raise IncompatibleBuckets(f"bound {exc.args[0]} is not one of the histogram's") from None
    return Histogram(tuple(bounds), counts, histogram.count, histogram.sum)


def common_bounds(histograms: Sequence[Histogram]) -> tuple[float, ...]:
    """The bounds every histogram has (always includes +Inf)."""
    shared = set(histograms[0].bounds)
    for h in histograms[1:]:
        shared &= set(h.bounds)
    return tuple(sorted(shared))


def _aligned(histograms: Sequence[Histogram]) -> list[Histogram]:
    first = histograms[0].bounds
    if all(h.bounds == first for h in histograms):
        return list(histograms)
    bounds = common_bounds(histograms)
    return [coarsen(h, bounds) for h in histograms]


def merge(histograms: Iterable[Histogram]) -> Histogram | None:
    """Add histograms (pods of a role, engines of a pod); None for none.

    Equal bounds add bucket by bucket, as ``sum by (le)``. Different bounds are cut down to
    the shared ones first (+Inf is always shared), so the result is exact but coarser.
    """
    items = list(histograms)
    if not items:
        return None
    if len(items) == 1:
        return items[0]
    aligned = _aligned(items)
    counts = tuple(math.fsum(col) for col in zip(*(h.counts for h in aligned), strict=True))
    sums = [h.sum for h in aligned]
    total = None if any(s is None for s in sums) else math.fsum(s for s in sums if s is not None)
    return Histogram(aligned[0].bounds, counts, math.fsum(h.count for h in aligned), total)


def counter_increase(values: Sequence[float]) -> float:
    """How much a counter grew over consecutive samples, resets counted as PromQL does.

    A sample lower than the one before is a restart: the counter grew by its whole new value.
    Needs at least two samples.
    """
    if len(values) < 2:
        raise ValueError("an increase needs at least two samples")
    result = values[-1] - values[0]
    previous = values[0]
    for current in values[1:]:
        if current < previous:
            result += previous
        previous = current
    return result


def increase(snapshots: Sequence[Histogram]) -> Histogram:
    """The histogram of what was observed between the first and the last snapshot.

    Each bucket, ``_count`` and ``_sum`` is an independent counter (as in PromQL's
    ``rate(x_bucket[w])``), so a pod restart inside the window is handled per series. When
    the bounds changed (an engine restarted with other buckets) the shared bounds are used.
    """
    if len(snapshots) < 2:
        raise ValueError("an increase needs at least two snapshots")
    aligned = _aligned(snapshots)
    if len(aligned) == 2:  # the common case (a window's two ends), in one C-level pass
        before, after = aligned[0].counts, aligned[1].counts
        counts = tuple(map(operator.sub, after, before))
        if counts and min(counts) < 0:  # a reset: that bucket grew by its whole new value
            counts = tuple(d + a if d < 0 else d for a, d in zip(before, counts, strict=True))
    else:
        counts = tuple(
            counter_increase(column) for column in zip(*(h.counts for h in aligned), strict=True)
        )
    count = counter_increase([h.count for h in aligned])
    sums = [h.sum for h in aligned]
    total = (
        None
        if any(s is None for s in sums)
        else counter_increase([s for s in sums if s is not None])
    )
    return Histogram(aligned[0].bounds, counts, count, total)


def _search(n: int, predicate_true_at: Sequence[bool]) -> int:
    """Go's ``sort.Search(n, f)``: binary search, probing in Go's order (matters for NaN)."""
    i, j = 0, n
    while i < j:
        h = (i + j) >> 1
        if not predicate_true_at[h]:
            i = h + 1
        else:
            j = h
    return i


def quantile(q: float, histogram: Histogram | None) -> float | None:
    """PromQL ``histogram_quantile(q, ...)`` over one histogram; None where PromQL gives NaN.

    None means no answer: no histogram, no observations (an empty window), or a degenerate
    histogram. ``q < 0`` gives -Inf and ``q > 1`` +Inf, as in PromQL.
    """
    if histogram is None or math.isnan(q):
        return None
    if q < 0:
        return -INF
    if q > 1:
        return INF
    # Bounds are sorted and distinct (Histogram guarantees it): PromQL's sort and
    # coalesceBuckets have nothing left to do.
    cb = histogram.bounds
    cc = list(histogram.counts)
    # ensureMonotonic (2.42): comparisons with NaN are false, so NaN stays where it is
    top = cc[0]
    for i in range(1, len(cc)):
        if cc[i] > top:
            top = cc[i]
        elif cc[i] < top:
            cc[i] = top
    if len(cb) < 2:
        return None
    observations = cc[-1]
    if observations == 0 or math.isnan(observations):
        return None
    rank = q * observations
    b = _search(len(cb) - 1, [c >= rank for c in cc[: len(cb) - 1]])
    if b == len(cb) - 1:
        return cb[-2]
    if b == 0 and cb[0] <= 0:
        return cb[0]
    start = 0.0
    end = cb[b]
    count = cc[b]
    if b > 0:
        start = cb[b - 1]
        count -= cc[b - 1]
        rank -= cc[b - 1]
    if count == 0:
        return None  # 0/0 in Go: NaN
    result = start + (end - start) * (rank / count)
    return None if math.isnan(result) else result


def mean(histogram: Histogram | None) -> float | None:
    """``_sum / _count``; None without observations or without a ``_sum``."""
    if histogram is None or histogram.sum is None or histogram.count <= 0:
        return None
    return histogram.sum / histogram.count


def observe(values: Iterable[float], bounds: Sequence[float]) -> Histogram:
    """The histogram a Prometheus client with these bucket ``bounds`` would have after
    observing ``values`` (``le`` is inclusive); +Inf is added when missing."""
    upper = tuple(sorted(set(bounds) | {INF}))
    ordered = sorted(values)
    counts = tuple(float(bisect_right(ordered, b)) for b in upper)
    return Histogram(upper, counts, float(len(ordered)), float(sum(ordered)))
