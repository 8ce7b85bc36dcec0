"""Signals over a window: the one set of rules for every reader of cumulative snapshots.

``llmobs scrape --window``, the exporter's role signals, the autoscaler and llmbench's
server-side numbers all read engines the same way, through this module:

- A target's *points* are ``(seconds, EngineSnapshot)`` pairs, oldest first, on any clock
  (monotonic, virtual). One point is cumulative since the engine started; two or more are a
  window: what happened between the first and the last.
- Counters and each histogram bucket, ``_count`` and ``_sum`` grow by PromQL's rule: a value
  lower than the one before is a restart and counts from zero (``increase``/``rate``). A
  series that appears inside the window counts from zero (the engine created it when its
  first observation came); one that is gone at the end has no value.
- Rates are the increase over the target's own span of points.
- A group of targets (a role) adds its members' increases and rates, merges their histograms
  (``sum by (le)``), and takes gauges (mean, max, sum) over the members that are up.
- The prefix-cache hit ratio is hits over queries over the window, or the engine's own ratio
  gauge where it has no counters.

Missing data is None, never 0: a window that saw no requests has no quantiles. Pure: no I/O.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from llmobs import signals
from llmobs.engines.catalog import EngineSnapshot
from llmobs.histogram import Histogram, increase, mean, merge, quantile
from llmobs.histogram import counter_increase as _counter_rule

DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)

Point = tuple[float, EngineSnapshot]
T = TypeVar("T")

# The counters every window reads: the canonical ones and those behind the prefix ratio.
COUNTERS: tuple[str, ...] = (
    *(s.name for s in signals.COUNTERS),
    signals.PREFIX_CACHE_HITS,
    signals.PREFIX_CACHE_QUERIES,
)


def in_window(points: Sequence[Point], now: float, window_s: float) -> Sequence[Point]:
    """The points of the window ending ``now``: those inside it and the last one before it
    (the baseline). Empty when the newest point is older than the window (gone quiet)."""
    start = now - window_s
    if not points or points[-1][0] < start:
        return ()
    first = 0
    for i in range(len(points) - 1, -1, -1):
        if points[i][0] <= start:
            first = i
            break
    return points[first:]


def _from_zero(found: list[T | None], zero: Callable[[T], T]) -> list[T] | None:
    """The values of a series over a window, as PromQL's increase reads them: None when it is
    gone at the end; the values it has, after a ``zero`` of its first one when it appeared
    inside the window (the engine created it at its first observation)."""
    if found[-1] is None:
        return None
    present = [v for v in found if v is not None]
    if found[0] is None:
        present.insert(0, zero(present[0]))
    return present


def counter_increase(points: Sequence[Point], name: str) -> float | None:
    """How much counter ``name`` grew over ``points`` (two or more), resets as PromQL."""
    values = _from_zero([snap.counters.get(name) for _, snap in points], lambda _: 0.0)
    return None if values is None else _counter_rule(values)


def _zero(first: Histogram) -> Histogram:
    return Histogram(
        first.bounds, (0.0,) * len(first.bounds), 0.0, None if first.sum is None else 0.0
    )


def histogram_increase(points: Sequence[Point], name: str) -> Histogram | None:
    """What histogram ``name`` observed over ``points`` (two or more), per series as PromQL."""
    found = _from_zero([snap.histograms.get(name) for _, snap in points], _zero)
    return None if found is None else increase(found)


def hit_ratio(hits: float | None, queries: float | None) -> float | None:
    """Hits over queries; None when nothing was queried."""
    if hits is None or queries is None or queries <= 0:
        return None
    return hits / queries


@dataclass(frozen=True, slots=True)
class Stat:
    """Mean, max and sum of the values that are known."""

    mean: float
    max: float
    sum: float


def stat(values: Iterable[float | None]) -> Stat | None:
    """The statistics of the known values; None when none is known."""
    known = [v for v in values if v is not None and not math.isnan(v)]
    if not known:
        return None
    total = math.fsum(known)
    return Stat(total / len(known), max(known), total)


def total(values: Iterable[float | None]) -> float | None:
    """The sum of the known values; None when none is known (never 0 for no data)."""
    known = [v for v in values if v is not None]
    return math.fsum(known) if known else None


@dataclass(frozen=True)
class Window:
    """One target's signals: cumulative (``seconds`` None, one point) or over a window.

    ``histograms`` and ``increases`` are what was observed in the window (or cumulative
    totals for one point); ``rates`` are per second (empty for one point); ``gauges`` are
    the latest values.
    """

    seconds: float | None
    histograms: Mapping[str, Histogram | None]
    increases: Mapping[str, float | None]
    rates: Mapping[str, float | None]
    gauges: Mapping[str, float | None]
    prefix_cache_hit_ratio: float | None


def target(points: Sequence[Point]) -> Window:
    """The signals of one target's ``points`` (oldest first, one or more).

    Raises:
        ValueError: no points, or timestamps that do not increase.
    """
    if not points:
        raise ValueError("a window needs at least one snapshot")
    last = points[-1][1]
    gauges = {s.name: last.gauges.get(s.name) for s in signals.GAUGES}
    own_ratio = last.gauges.get(signals.PREFIX_CACHE_HIT_RATIO.name)
    if len(points) == 1:
        counters = {name: last.counters.get(name) for name in COUNTERS}
        histograms = {s.name: last.histograms.get(s.name) for s in signals.HISTOGRAMS}
        ratio = hit_ratio(
            counters[signals.PREFIX_CACHE_HITS], counters[signals.PREFIX_CACHE_QUERIES]
        )
        return Window(None, histograms, counters, {}, gauges, own_ratio if ratio is None else ratio)
    elapsed = points[-1][0] - points[0][0]
    if not elapsed > 0 or any(b[0] <= a[0] for a, b in itertools.pairwise(points)):
        raise ValueError("snapshots must be in time order, oldest first")
    increases = {name: counter_increase(points, name) for name in COUNTERS}
    rates = {name: None if v is None else v / elapsed for name, v in increases.items()}
    histograms = {s.name: histogram_increase(points, s.name) for s in signals.HISTOGRAMS}
    ratio = hit_ratio(increases[signals.PREFIX_CACHE_HITS], increases[signals.PREFIX_CACHE_QUERIES])
    return Window(
        elapsed, histograms, increases, rates, gauges, own_ratio if ratio is None else ratio
    )


@dataclass(frozen=True)
class Group:
    """A group of targets (a role's replicas) over one window."""

    histograms: Mapping[str, Histogram | None]
    increases: Mapping[str, float | None]
    rates: Mapping[str, float | None]
    gauges: Mapping[str, Stat | None]
    prefix_cache_hit_ratio: float | None


def group(windows: Sequence[Window], current: Sequence[Mapping[str, float]]) -> Group:
    """Combine the members' ``windows`` and the latest ``current`` gauges of those up.

    Histograms merge, increases and rates add (None when no member has the signal), gauges
    are summarised over the members that are up; the hit ratio is the members' hits over
    their queries, or the mean of their own ratio gauges.
    """
    histograms = {
        s.name: merge(h for w in windows if (h := w.histograms.get(s.name)) is not None)
        for s in signals.HISTOGRAMS
    }
    increases = {name: total(w.increases.get(name) for w in windows) for name in COUNTERS}
    rates = {name: total(w.rates.get(name) for w in windows) for name in COUNTERS}
    gauges = {s.name: stat(g.get(s.name) for g in current) for s in signals.GAUGES}
    ratio = hit_ratio(increases[signals.PREFIX_CACHE_HITS], increases[signals.PREFIX_CACHE_QUERIES])
    if ratio is None:
        own = stat(g.get(signals.PREFIX_CACHE_HIT_RATIO.name) for g in current)
        ratio = None if own is None else own.mean
    return Group(histograms, increases, rates, gauges, ratio)


@dataclass(frozen=True)
class HistogramView:
    """One latency signal: observations, their sum, mean, quantiles and cumulative buckets."""

    count: float
    sum: float | None
    mean: float | None
    quantiles: dict[float, float | None]
    buckets: tuple[tuple[float, float], ...]


def histogram_view(histogram: Histogram | None, qs: Sequence[float]) -> HistogramView | None:
    """Count, mean and PromQL-identical quantiles of ``histogram``; None for none."""
    if histogram is None:
        return None
    return HistogramView(
        count=histogram.count,
        sum=histogram.sum,
        mean=mean(histogram),
        quantiles={q: quantile(q, histogram) for q in qs},
        buckets=tuple(zip(histogram.bounds, histogram.counts, strict=True)),
    )


@dataclass(frozen=True)
class SignalView:
    """A target's canonical signals as ``llmobs scrape`` shows them."""

    engine: str
    naming: str
    models: tuple[str, ...]
    window_seconds: float | None
    gauges: dict[str, float | None]
    counters: dict[str, float | None]
    rates: dict[str, float | None]
    histograms: dict[str, HistogramView | None]
    prefix_cache_hit_ratio: float | None


def view(points: Sequence[Point], quantiles: Sequence[float] = DEFAULT_QUANTILES) -> SignalView:
    """``llmobs scrape``'s view of one target's ``points`` (cumulative totals of the
    counters, their rates over the window, histograms with quantiles).

    Raises:
        ValueError: no points, or timestamps that do not increase.
    """
    window = target(points)
    last = points[-1][1]
    canonical = [s.name for s in signals.COUNTERS]
    return SignalView(
        engine=last.engine,
        naming=last.naming.id,
        models=last.models,
        window_seconds=window.seconds,
        gauges=dict(window.gauges),
        counters={name: last.counters.get(name) for name in canonical},
        rates={name: window.rates[name] for name in canonical} if window.rates else {},
        histograms={name: histogram_view(h, quantiles) for name, h in window.histograms.items()},
        prefix_cache_hit_ratio=window.prefix_cache_hit_ratio,
    )
