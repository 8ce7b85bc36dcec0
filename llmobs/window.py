"""Signals over a window: what happened between scrapes, from cumulative snapshots.

Given one snapshot, everything is cumulative since the engine started. Given two or more
(oldest first, with the seconds at which each was taken), histograms and counters become
what was observed in between (counter resets handled per series, as PromQL's ``rate``),
counters get per-second rates, and gauges are the latest values. A window with no
observations has no quantiles: None, never 0. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from llmobs import signals
from llmobs.engines.catalog import EngineSnapshot
from llmobs.histogram import Histogram, counter_increase, increase, mean, quantile

DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)


@dataclass(frozen=True)
class HistogramView:
    """One latency signal: observations, their sum, mean, quantiles and cumulative buckets."""

    count: float
    sum: float | None
    mean: float | None
    quantiles: dict[float, float | None]
    buckets: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class SignalView:
    """A target's canonical signals, cumulative (``window_seconds`` None) or over a window."""

    engine: str
    naming: str
    models: tuple[str, ...]
    window_seconds: float | None
    gauges: dict[str, float | None]
    counters: dict[str, float | None]
    rates: dict[str, float | None]
    histograms: dict[str, HistogramView | None]
    prefix_cache_hit_ratio: float | None


def histogram_view(histogram: Histogram | None, qs: Sequence[float]) -> HistogramView | None:
    if histogram is None:
        return None
    return HistogramView(
        count=histogram.count,
        sum=histogram.sum,
        mean=mean(histogram),
        quantiles={q: quantile(q, histogram) for q in qs},
        buckets=tuple(zip(histogram.bounds, histogram.counts, strict=True)),
    )


def _counter_window(points: Sequence[tuple[float, EngineSnapshot]], name: str) -> float | None:
    values = [snap.counters.get(name) for _, snap in points]
    if any(v is None for v in values):
        return None
    return counter_increase([v for v in values if v is not None])


def _histogram_window(
    points: Sequence[tuple[float, EngineSnapshot]], name: str
) -> Histogram | None:
    found = [snap.histograms.get(name) for _, snap in points]
    if any(h is None for h in found):
        return None
    return increase([h for h in found if h is not None])


def _ratio(hits: float | None, queries: float | None) -> float | None:
    if hits is None or queries is None or queries <= 0:
        return None
    return hits / queries


def view(
    points: Sequence[tuple[float, EngineSnapshot]],
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> SignalView:
    """The signals of ``points`` (``(seconds, snapshot)``, oldest first, one or more).

    Raises:
        ValueError: no points, or timestamps that do not increase.
    """
    if not points:
        raise ValueError("view() needs at least one snapshot")
    at_end, last = points[-1]
    windowed = len(points) >= 2
    elapsed = at_end - points[0][0] if windowed else None
    if elapsed is not None and elapsed <= 0:
        raise ValueError("snapshots must be in time order, oldest first")
    counters: dict[str, float | None] = {
        s.name: last.counters.get(s.name) for s in signals.COUNTERS
    }
    rates: dict[str, float | None] = {}
    histograms: dict[str, HistogramView | None] = {}
    hits = last.counters.get(signals.PREFIX_CACHE_HITS)
    queries = last.counters.get(signals.PREFIX_CACHE_QUERIES)
    if windowed and elapsed is not None:
        for s in signals.COUNTERS:
            grown = _counter_window(points, s.name)
            rates[s.name] = None if grown is None else grown / elapsed
        for s in signals.HISTOGRAMS:
            histograms[s.name] = histogram_view(_histogram_window(points, s.name), quantiles)
        hits = _counter_window(points, signals.PREFIX_CACHE_HITS)
        queries = _counter_window(points, signals.PREFIX_CACHE_QUERIES)
    else:
        for s in signals.HISTOGRAMS:
            histograms[s.name] = histogram_view(last.histograms.get(s.name), quantiles)
    ratio = _ratio(hits, queries)
    if ratio is None:
        ratio = last.gauges.get(signals.PREFIX_CACHE_HIT_RATIO.name)
    return SignalView(
        engine=last.engine,
        naming=last.naming.id,
        models=last.models,
        window_seconds=elapsed,
        gauges={s.name: last.gauges.get(s.name) for s in signals.GAUGES},
        counters=counters,
        rates=rates,
        histograms=histograms,
        prefix_cache_hit_ratio=ratio,
    )
