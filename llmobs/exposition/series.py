"""Group an exposition's samples into series: plain values and histograms, by label set.

Pure helpers between the parser and the engine catalogs; they know the Prometheus naming
conventions (``_bucket``/``_count``/``_sum``, ``le``) and nothing about any engine.
"""

from __future__ import annotations

from collections.abc import Mapping

from llmobs.exposition.model import Exposition
from llmobs.histogram import Histogram

LabelKey = tuple[tuple[str, str], ...]


def label_key(labels: Mapping[str, str], drop: frozenset[str] = frozenset()) -> LabelKey:
    """A hashable, order-independent identity for a label set, without ``drop``."""
    if not drop:
        return tuple(sorted(labels.items()))
    return tuple(sorted((k, v) for k, v in labels.items() if k not in drop))


def _without_le(labels: Mapping[str, str]) -> LabelKey:
    # label_key(labels, {"le"}) in C-level calls only: this runs once per bucket sample.
    rest = dict(labels)
    del rest["le"]
    return tuple(sorted(rest.items()))


def histograms(exposition: Exposition, name: str) -> list[tuple[LabelKey, Histogram]]:
    """Every histogram series of family ``name`` (``name_bucket``, ``_count``, ``_sum``).

    The parser has already checked that each series has its ``+Inf`` bucket.
    """
    buckets: dict[LabelKey, list[tuple[float, float]]] = {}
    for sample in exposition.samples(name + "_bucket"):
        key = _without_le(sample.labels)
        buckets.setdefault(key, []).append((float(sample.labels["le"]), sample.value))
    if not buckets:
        return []
    counts = {label_key(s.labels): s.value for s in exposition.samples(name + "_count")}
    sums = {label_key(s.labels): s.value for s in exposition.samples(name + "_sum")}
    return [
        (key, Histogram.from_buckets(pairs, counts.get(key), sums.get(key)))
        for key, pairs in buckets.items()
    ]
