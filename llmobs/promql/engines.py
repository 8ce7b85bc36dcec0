"""PromQL over an engine's own series (``vllm:...``, ``sglang:...``), from its catalog.

For a signal a catalog reads under several names (one per engine version, newest first),
the expression is the first name's aggregate ``or`` the next's: per label set, the newest
name present wins, as it does in ``llmobs.engines.catalog.read``. Aggregating first drops
the metric name, so a version that exposes both the old and the new name counts once.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmobs.engines.catalog import Catalog, Reduce, Source
from llmobs.errors import ConfigError
from llmobs.promql.syntax import (
    Agg,
    Expr,
    Matcher,
    Window,
    aggregate,
    eq,
    grouping,
    histogram_quantile,
    increase,
    rate,
    ratio,
    re_,
    sample_age,
    selector,
)

LE = "le"


def _one_copy(catalog: Catalog) -> tuple[Matcher, ...]:
    """Of series that are copies of one state (``Catalog.copy_labels``), the first: a matcher
    "0?" keeps copy 0 and the series that carry no such label at all."""
    return tuple(re_(label, "0?") for label in catalog.copy_labels)


def _gauge_total(catalog: Catalog) -> tuple[Matcher, ...]:
    """Only a gauge's total where the engine exposes one beside a breakdown."""
    return () if catalog.gauge_total is None else (eq(*catalog.gauge_total),)


_REDUCE: dict[Reduce, Agg] = {Reduce.SUM: Agg.SUM, Reduce.MEAN: Agg.AVG}


def _source(sources: tuple[Source, ...], catalog: Catalog, signal: str, kind: str) -> Source:
    for source in sources:
        if source.signal == signal:
            return source
    known = ", ".join(s.signal for s in sources) or "none"
    raise ConfigError(f"{catalog.engine} has no {kind} {signal!r}; its {kind}s: {known}")


def _first_present(parts: Sequence[Expr]) -> Expr:
    return parts[0] if len(parts) == 1 else "(" + " or ".join(parts) + ")"


def engine_buckets(
    catalog: Catalog, signal: str, over: Window, *matchers: Matcher, by: Sequence[str] = ()
) -> Expr:
    """The engine's histogram buckets, rated and summed ``by`` (and ``le``)."""
    source = _source(catalog.histograms, catalog, signal, "histogram")
    pinned = (*_one_copy(catalog), *matchers)
    return _first_present(
        [
            aggregate(Agg.SUM, rate(selector(name + "_bucket", *pinned), over), grouping(by, LE))
            for name in source.names
        ]
    )


def engine_quantile(
    catalog: Catalog,
    signal: str,
    q: float,
    over: Window,
    *matchers: Matcher,
    by: Sequence[str] = (),
) -> Expr:
    """``histogram_quantile`` of the engine's histogram for ``signal`` over the range."""
    return histogram_quantile(q, engine_buckets(catalog, signal, over, *matchers, by=by))


def engine_rate(
    catalog: Catalog, signal: str, over: Window, *matchers: Matcher, by: Sequence[str] = ()
) -> Expr:
    """Per second over the range, summed ``by``, of the engine's counter for ``signal``."""
    source = _source(catalog.counters, catalog, signal, "counter")
    pinned = (*_one_copy(catalog), *matchers)
    return _first_present(
        [aggregate(Agg.SUM, rate(selector(name, *pinned), over), by) for name in source.names]
    )


def engine_gauge(
    catalog: Catalog,
    signal: str,
    *matchers: Matcher,
    by: Sequence[str] = (),
    op: Agg | None = None,
) -> Expr:
    """The engine's gauge for ``signal`` now, summed or averaged as the catalog reduces it
    (or taken together with ``op``: ``Agg.MAX``, the fullest replica's KV cache)."""
    source = _source(catalog.gauges, catalog, signal, "gauge")
    pinned = (
        *_one_copy(catalog),
        *_gauge_total(catalog),
        *matchers,
    )
    op = _REDUCE[source.reduce] if op is None else op
    return _first_present([aggregate(op, selector(name, *pinned), by) for name in source.names])


def engine_count(
    catalog: Catalog, signal: str, over: Window, *matchers: Matcher, by: Sequence[str] = ()
) -> Expr:
    """Observations of the engine's histogram for ``signal`` over the range, summed ``by``."""
    source = _source(catalog.histograms, catalog, signal, "histogram")
    pinned = (*_one_copy(catalog), *matchers)
    return _first_present(
        [
            aggregate(Agg.SUM, increase(selector(name + "_count", *pinned), over), by)
            for name in source.names
        ]
    )


def engine_mean(
    catalog: Catalog, signal: str, over: Window, *matchers: Matcher, by: Sequence[str] = ()
) -> Expr:
    """Sum over count of the engine's histogram for ``signal`` over the range; no series
    where it took no observation."""
    source = _source(catalog.histograms, catalog, signal, "histogram")
    pinned = (*_one_copy(catalog), *matchers)
    return _first_present(
        [
            ratio(
                aggregate(Agg.SUM, rate(selector(name + "_sum", *pinned), over), by),
                aggregate(Agg.SUM, rate(selector(name + "_count", *pinned), over), by),
            )
            for name in source.names
        ]
    )


def engine_replicas(
    catalog: Catalog, signal: str, *matchers: Matcher, by: Sequence[str] = ()
) -> Expr:
    """Replicas exposing the engine's gauge for ``signal`` now, counted ``by``."""
    source = _source(catalog.gauges, catalog, signal, "gauge")
    pinned = (*_one_copy(catalog), *_gauge_total(catalog), *matchers)
    return _first_present(
        [aggregate(Agg.COUNT, selector(name, *pinned), by) for name in source.names]
    )


def engine_age(catalog: Catalog, signal: str, *matchers: Matcher, by: Sequence[str] = ()) -> Expr:
    """Seconds since Prometheus last scraped the engine's gauge for ``signal`` (the newest
    replica ``by`` group)."""
    source = _source(catalog.gauges, catalog, signal, "gauge")
    pinned = (*_one_copy(catalog), *_gauge_total(catalog), *matchers)
    return _first_present(
        [aggregate(Agg.MIN, sample_age(selector(name, *pinned)), by) for name in source.names]
    )
