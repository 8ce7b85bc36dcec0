"""Group an exposition's samples into series: plain values and histograms, by label set.

Pure helpers between the parser and the engine catalogs; they know the Prometheus naming
conventions (``_bucket``/``_count``/``_sum``, ``le``) and nothing about any engine.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmobs.exposition.lines import BUCKETS, bucket
from llmobs.exposition.model import Exposition
from llmobs.histogram import INF, Histogram

LabelKey = tuple[tuple[str, str], ...]


def label_key(labels: Mapping[str, str], drop: frozenset[str] = frozenset()) -> LabelKey:
    """A hashable, order-independent identity for a label set, without ``drop``."""
    if not drop:
        return tuple(sorted(labels.items()))
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def _histogram(
    pairs: list[tuple[float, float]], count: float | None, total: float | None
) -> Histogram:
    bounds, counts = zip(*pairs, strict=True)
    if bounds[-1] == INF and len(set(bounds)) == len(bounds) and sorted(bounds) == list(bounds):
        # As client libraries write them: ascending, distinct, +Inf last (the common case,
        # checked in C-level calls); anything else is sorted and coalesced by from_buckets.
        return Histogram(bounds, counts, counts[-1] if count is None else count, total)
    return Histogram.from_buckets(pairs, count, total)


def histograms(exposition: Exposition, name: str) -> list[tuple[LabelKey, Histogram]]:
    """Every histogram series of family ``name`` (``name_bucket``, ``_count``, ``_sum``).

    The parser has already checked that each series has its ``+Inf`` bucket.
    """
    buckets: dict[LabelKey, list[tuple[float, float]]] = {}
    memo = BUCKETS  # each bucket label set read once (``lines.bucket``)
    last: LabelKey | None = None
    pairs: list[tuple[float, float]] = []
    for sample in exposition.samples(name + "_bucket"):
        labels = sample.labels
        known = memo.get(id(labels))
        if known is None or known[0] is not labels:
            known = bucket(labels, sample.name)
        _, key, le = known
        if key != last:  # a series' buckets follow one another
            pairs = buckets.setdefault(key, [])
            last = key
        pairs.append((le, sample.value))
    if not buckets:
        return []
    counts = {label_key(s.labels): s.value for s in exposition.samples(name + "_count")}
    sums = {label_key(s.labels): s.value for s in exposition.samples(name + "_sum")}
    return [
        (key, _histogram(pairs, counts.get(key), sums.get(key))) for key, pairs in buckets.items()
    ]
