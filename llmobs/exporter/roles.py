"""Role-level signals over a sliding window: the pure core of what the autoscaler reads.

Targets are grouped by ``(namespace, group, role, model)``. For each role, over the window:
latency quantiles from the merged histogram increases of its replicas, request and token
rates summed over them, KV-cache usage (mean and max) and queue depths of the replicas that
are up, and replica counts. A window that saw no requests has no quantiles (None), and a role
with no data has None rates: never 0. The same ``RoleSnapshot`` becomes the exporter's
``llmobs_role_*`` series and its ``/v1/roles`` JSON. Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from llmobs import signals
from llmobs.engines.catalog import EngineSnapshot
from llmobs import names
from llmobs.exporter.state import Point, TargetView
from llmobs.histogram import Histogram, increase, mean, merge, quantile

SCHEMA_VERSION = 1

RATES: dict[str, str] = {  # role field -> counter signal
    "request_rate": signals.REQUESTS.name,
    "prompt_tokens_rate": signals.PROMPT_TOKENS.name,
    "generation_tokens_rate": signals.GENERATION_TOKENS.name,
    "preemption_rate": signals.PREEMPTIONS.name,
}


@dataclass(frozen=True)
class Latency:
    """One latency signal of a role over the window."""

    count: float
    mean: float | None
    quantiles: dict[float, float | None]


@dataclass(frozen=True)
class RoleSignals:
    namespace: str
    group: str
    role: str
    model: str
    replicas: dict[str, int]  # ready, scraped, up
    latency: dict[str, Latency | None]  # None: no replica has the signal in the window
    rates: dict[str, float | None]
    prefix_cache_hit_ratio: float | None
    kv_cache_usage_mean: float | None
    kv_cache_usage_max: float | None
    requests_running: float | None
    requests_waiting: float | None

    def labels(self) -> tuple[str, ...]:
        return (self.namespace, self.group, self.role, self.model)


@dataclass(frozen=True)
class RoleSnapshot:
    timestamp: float  # Unix time the snapshot was computed
    window_seconds: float
    roles: tuple[RoleSignals, ...]


def window_points(points: Sequence[Point], now: float, window_s: float) -> list[Point]:
    """The points of the window ending ``now``: those inside it and the last one before it.

    Empty when the newest point is older than the window (a target gone quiet).
    """
    start = now - window_s
    if not points or points[-1][0] < start:
        return []
    first = 0
    for i in range(len(points) - 1, -1, -1):
        if points[i][0] <= start:
            first = i
            break
    return list(points[first:])


def _increase(found: list[Histogram | None]) -> Histogram | None:
    """Increase of a continuous (never decreasing) histogram; absent early means zero."""
    present = [h for h in found if h is not None]
    if not present:
        return None
    last = present[-1]
    if found[0] is None:
        first = Histogram(last.bounds, (0.0,) * len(last.bounds), 0.0, None)
    else:
        first = found[0]
    if first.bounds != last.bounds:  # the engine changed its buckets inside the window
        return increase(present) if len(present) >= 2 else None
    return Histogram(
        last.bounds,
        tuple(b - a for a, b in zip(first.counts, last.counts, strict=True)),
        last.count - first.count,
        None if last.sum is None else last.sum - (first.sum or 0.0),
    )


def _counter(snaps: list[EngineSnapshot], name: str) -> float | None:
    values = [s.counters.get(name) for s in snaps]
    last = values[-1]
    if last is None:
        return None
    first = values[0] if values[0] is not None else 0.0
    return max(last - first, 0.0)


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return math.fsum(present) if present else None


def _role(
    key: tuple[str, ...],
    members: list[TargetView],
    now: float,
    window_s: float,
    qs: Sequence[float],
) -> RoleSignals:
    windows = [(m, window_points(m.points, now, window_s)) for m in members]
    scraped = [(m, w) for m, w in windows if len(w) >= 2]
    latency: dict[str, Latency | None] = {}
    for s in signals.HISTOGRAMS:
        parts = [_increase([snap.histograms.get(s.name) for _, snap in w]) for _, w in scraped]
        merged = merge(p for p in parts if p is not None)
        latency[s.name] = (
            None
            if merged is None
            else Latency(merged.count, mean(merged), {q: quantile(q, merged) for q in qs})
        )
    rates: dict[str, float | None] = {}
    for field_name, counter in RATES.items():
        per_target = []
        for _, w in scraped:
            grown = _counter([snap for _, snap in w], counter)
            per_target.append(None if grown is None else grown / (w[-1][0] - w[0][0]))
        rates[field_name] = _sum(per_target)
    hits = _sum(_counter([s for _, s in w], signals.PREFIX_CACHE_HITS) for _, w in scraped)
    queries = _sum(_counter([s for _, s in w], signals.PREFIX_CACHE_QUERIES) for _, w in scraped)
    up = [m.latest for m in members if m.up and m.latest is not None]
    kv = [v for v in (s.gauges.get(signals.KV_CACHE_USAGE.name) for s in up) if v is not None]
    return RoleSignals(
        namespace=key[0],
        group=key[1],
        role=key[2],
        model=key[3],
        replicas={
            names.REPLICAS_READY: len(members),
            names.REPLICAS_SCRAPED: len(scraped),
            names.REPLICAS_UP: sum(1 for m in members if m.up),
        },
        latency=latency,
        rates=rates,
        prefix_cache_hit_ratio=None if not queries or hits is None else hits / queries,
        kv_cache_usage_mean=math.fsum(kv) / len(kv) if kv else None,
        kv_cache_usage_max=max(kv) if kv else None,
        requests_running=_sum(s.gauges.get(signals.REQUESTS_RUNNING.name) for s in up),
        requests_waiting=_sum(s.gauges.get(signals.REQUESTS_WAITING.name) for s in up),
    )


def aggregate(
    views: Iterable[TargetView],
    *,
    now: float,
    wall_time: float,
    window_s: float,
    quantiles: Sequence[float],
) -> RoleSnapshot:
    """The role signals of ``views`` over the window ending at monotonic ``now``."""
    by_role: dict[tuple[str, ...], list[TargetView]] = {}
    for view in views:
        by_role.setdefault(view.role_key(), []).append(view)
    roles = tuple(
        _role(key, members, now, window_s, quantiles) for key, members in sorted(by_role.items())
    )
    return RoleSnapshot(timestamp=wall_time, window_seconds=window_s, roles=roles)


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def to_json(snapshot: RoleSnapshot) -> dict[str, Any]:
    """The ``/v1/roles`` document (schema version 1); absent data is ``null``."""
    roles = []
    for r in snapshot.roles:
        latency: dict[str, Any] = {}
        for name, lat in r.latency.items():
            latency[name] = (
                None
                if lat is None
                else {
                    "count": lat.count,
                    "mean": _number(lat.mean),
                    "quantiles": {f"{q:g}": _number(v) for q, v in lat.quantiles.items()},
                }
            )
        roles.append(
            {
                "namespace": r.namespace,
                "group": r.group,
                "role": r.role,
                "model": r.model,
                "replicas": dict(r.replicas),
                "latency": latency,
                **{k: _number(v) for k, v in r.rates.items()},
                "prefix_cache_hit_ratio": _number(r.prefix_cache_hit_ratio),
                "kv_cache_usage_ratio": {
                    names.STAT_MEAN: _number(r.kv_cache_usage_mean),
                    names.STAT_MAX: _number(r.kv_cache_usage_max),
                },
                "requests_running": _number(r.requests_running),
                "requests_waiting": _number(r.requests_waiting),
            }
        )
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": snapshot.timestamp,
        "window_seconds": snapshot.window_seconds,
        "roles": roles,
    }
