"""Counters that survive engine restarts: what the exporter exposes per target.

An engine that restarts starts its counters and histograms again from zero. The exporter
keeps an offset per series: when a value goes backwards, the value before it is added to the
offset, so the exposed series carries on from where it was (``raw + offset``), exactly as
PromQL's ``increase`` reads a reset. Each histogram bucket, ``_count`` and ``_sum`` is its own
series. A histogram whose bounds change (another engine version) starts over with its new
bounds. Because the exposed series never go backwards, the increase over any window is the
last value minus the first, which is what makes the role signals cheap. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from operator import add, ge

from llmobs.engines.catalog import EngineSnapshot
from llmobs.histogram import Histogram


@dataclass(frozen=True)
class Carry:
    """What continuity remembers of a target: the last raw values and the offsets."""

    counters: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # raw, offset
    histograms: Mapping[str, tuple[Histogram, Histogram]] = field(default_factory=dict)


def _zero(h: Histogram) -> Histogram:
    return Histogram(h.bounds, (0.0,) * len(h.bounds), 0.0, None if h.sum is None else 0.0)


def _series(previous: float, offset: float, raw: float) -> tuple[float, bool]:
    """The new offset of one series, and whether it was reset."""
    if raw < previous:
        return offset + previous, True
    return offset, False


def _histogram(
    before: tuple[Histogram, Histogram] | None, raw: Histogram
) -> tuple[Histogram, Histogram, bool]:
    """(exposed histogram, new offsets, reset?) for one histogram signal."""
    if before is None or before[0].bounds != raw.bounds:
        offsets = _zero(raw)
        return raw, offsets, before is not None
    previous, offsets = before
    sum_kept = raw.sum is None or (
        previous.sum is not None and offsets.sum is not None and raw.sum >= previous.sum
    )
    if sum_kept and raw.count >= previous.count and all(map(ge, raw.counts, previous.counts)):
        # Nothing went backwards (the common case): the offsets stay, in C-level calls.
        exposed = Histogram(
            raw.bounds,
            tuple(map(add, raw.counts, offsets.counts)),
            raw.count + offsets.count,
            None if raw.sum is None or offsets.sum is None else raw.sum + offsets.sum,
        )
        if raw.sum is not None or offsets.sum is None:
            return exposed, offsets, False
        return exposed, replace(offsets, sum=None), False
    reset = False
    counts = []
    for prev, off, now in zip(previous.counts, offsets.counts, raw.counts, strict=True):
        new, was = _series(prev, off, now)
        counts.append(new)
        reset |= was
    count, was = _series(previous.count, offsets.count, raw.count)
    reset |= was
    total: float | None = None
    if raw.sum is not None and previous.sum is not None and offsets.sum is not None:
        total, was = _series(previous.sum, offsets.sum, raw.sum)
        reset |= was
    elif raw.sum is not None:
        total = 0.0
    new_offsets = Histogram(raw.bounds, tuple(counts), count, total)
    exposed = Histogram(
        raw.bounds,
        tuple(c + o for c, o in zip(raw.counts, counts, strict=True)),
        raw.count + count,
        None if raw.sum is None or total is None else raw.sum + total,
    )
    return exposed, new_offsets, reset


def carry_on(carry: Carry, snapshot: EngineSnapshot) -> tuple[Carry, EngineSnapshot, bool]:
    """Apply ``carry`` to a new raw snapshot: the new carry, the exposed snapshot, and
    whether anything went backwards (a restart)."""
    reset = False
    counters: dict[str, tuple[float, float]] = {}
    exposed_counters: dict[str, float] = {}
    for name, raw in snapshot.counters.items():
        before = carry.counters.get(name)
        offset = 0.0
        if before is not None:
            offset, was = _series(before[0], before[1], raw)
            reset |= was
        counters[name] = (raw, offset)
        exposed_counters[name] = raw + offset
    histograms: dict[str, tuple[Histogram, Histogram]] = {}
    exposed_histograms: dict[str, Histogram] = {}
    for name, hist in snapshot.histograms.items():
        exposed, offsets, was = _histogram(carry.histograms.get(name), hist)
        reset |= was
        histograms[name] = (hist, offsets)
        exposed_histograms[name] = exposed
    exposed_snapshot = replace(snapshot, counters=exposed_counters, histograms=exposed_histograms)
    return Carry(counters, histograms), exposed_snapshot, reset
