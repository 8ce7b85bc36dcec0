"""How an engine's exposition maps onto the canonical signals, and reading it.

A ``Catalog`` is data: for each signal, the engine's metric names (newest first; the first
present wins, which is how one catalog covers every version) and how the series of one body
are combined. ``read`` applies a catalog to a parsed exposition and returns an
``EngineSnapshot``. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from llmobs.exposition import series
from llmobs.exposition.model import Exposition
from llmobs.histogram import Histogram, merge


class Reduce(StrEnum):
    """How the selected series of one gauge or counter become one value."""

    SUM = "sum"
    MEAN = "mean"


@dataclass(frozen=True)
class Source:
    """Where one signal comes from: exposed names in order of preference, and the reduction."""

    signal: str
    names: tuple[str, ...]
    reduce: Reduce = Reduce.SUM


# The samples of a histogram that ``exposition.series.histograms`` reads.
_HISTOGRAM_SAMPLES = ("_bucket", "_count", "_sum")


class SeriesKind(StrEnum):
    GAUGE = "gauge"
    COUNTER = "counter"
    HISTOGRAM = "histogram"


# Given the kind of metric and the label sets of its series, which series count (indices).
Selector = Callable[[SeriesKind, Sequence[Mapping[str, str]]], list[int]]


def every_series(kind: SeriesKind, labels: Sequence[Mapping[str, str]]) -> list[int]:
    """The default rule: every series is a disjoint part (an engine index, a label value)."""
    return list(range(len(labels)))


@dataclass(frozen=True)
class Naming:
    """A naming generation: which set of metric names an engine version exposes."""

    id: str
    description: str


@dataclass(frozen=True)
class Catalog:
    engine: str
    prefix: str
    model_label: str
    histograms: tuple[Source, ...]
    gauges: tuple[Source, ...]
    counters: tuple[Source, ...]
    naming: Callable[[Exposition], Naming]
    select: Selector = every_series
    # Exposed names ``naming`` reads besides the signals' own (markers of a generation).
    naming_reads: tuple[str, ...] = ()
    # Labels whose values tell copies of one state apart (SGLang's TP/PP/EP ranks): of series
    # that differ only in these, one counts (``select`` keeps the lowest; PromQL pins 0).
    copy_labels: tuple[str, ...] = ()
    # A label and the value that marks a gauge's total beside its breakdown (SGLang's
    # ``priority=""``): where the total is exposed, only it counts.
    gauge_total: tuple[str, str] | None = None

    def present(self, exposition: Exposition) -> bool:
        return any(name.startswith(self.prefix) for name in exposition.names())

    def wanted(self) -> frozenset[str]:
        """Every exposed sample name ``read`` and ``naming`` look at: what a selective parse
        (``parse(..., wanted=...)``) must keep for this catalog to read a body as in full."""
        names = set(self.naming_reads)
        for source in (*self.gauges, *self.counters):
            names.update(source.names)
        for source in self.histograms:
            names.update(n + suffix for n in source.names for suffix in _HISTOGRAM_SAMPLES)
        return frozenset(names)


@dataclass(frozen=True)
class EngineSnapshot:
    """One target's canonical signals at one scrape (cumulative values, as exposed).

    A signal the body does not carry is absent from its mapping (read it as None); a NaN
    value counts as absent. ``sources`` says which exposed name each signal came from.
    """

    engine: str
    naming: Naming
    models: tuple[str, ...]
    gauges: Mapping[str, float] = field(default_factory=dict)
    counters: Mapping[str, float] = field(default_factory=dict)
    histograms: Mapping[str, Histogram] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)


def _reduce(values: list[float], how: Reduce) -> float | None:
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return None
    total = math.fsum(values)
    return total if how is Reduce.SUM else total / len(values)


def _models(catalog: Catalog, label_sets: Iterable[Mapping[str, str]]) -> set[str]:
    return {labels[catalog.model_label] for labels in label_sets if catalog.model_label in labels}


def _scalar(
    exposition: Exposition, catalog: Catalog, source: Source, kind: SeriesKind
) -> tuple[float, str, set[str]] | None:
    """The reduced value of the first of the source's names present, that name, its models."""
    for name in source.names:
        rows = exposition.samples(name)
        if not rows:
            continue
        chosen = [rows[i] for i in catalog.select(kind, [r.labels for r in rows])]
        value = _reduce([r.value for r in chosen], source.reduce)
        if value is None:
            return None
        return value, name, _models(catalog, (r.labels for r in chosen))
    return None


def _histogram(
    exposition: Exposition, catalog: Catalog, source: Source
) -> tuple[Histogram, str, set[str]] | None:
    """The merged histogram of the first of the source's names present, that name, models."""
    for name in source.names:
        found = series.histograms(exposition, name)
        if not found:
            continue
        label_sets = [dict(key) for key, _ in found]
        chosen = catalog.select(SeriesKind.HISTOGRAM, label_sets)
        merged = merge(found[i][1] for i in chosen)
        if merged is None:
            return None
        return merged, name, _models(catalog, (label_sets[i] for i in chosen))
    return None


def read(exposition: Exposition, catalog: Catalog) -> EngineSnapshot:
    """Apply ``catalog`` to ``exposition``: the engine's canonical signals at this scrape."""
    models: set[str] = set()
    sources: dict[str, str] = {}
    gauges: dict[str, float] = {}
    counters: dict[str, float] = {}
    histograms: dict[str, Histogram] = {}
    for kind, wanted, into in (
        (SeriesKind.GAUGE, catalog.gauges, gauges),
        (SeriesKind.COUNTER, catalog.counters, counters),
    ):
        for source in wanted:
            found = _scalar(exposition, catalog, source, kind)
            if found is not None:
                into[source.signal], sources[source.signal], seen = found
                models |= seen
    for source in catalog.histograms:
        hist = _histogram(exposition, catalog, source)
        if hist is not None:
            histograms[source.signal], sources[source.signal], seen = hist
            models |= seen
    return EngineSnapshot(
        engine=catalog.engine,
        naming=catalog.naming(exposition),
        models=tuple(sorted(models)),
        gauges=gauges,
        counters=counters,
        histograms=histograms,
        sources=sources,
    )
