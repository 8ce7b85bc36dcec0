"""Role observations from engine snapshots: the pure core the exporter and autoscaler share.

A role's replicas are ``Member``\\ s: a ``RoleKey``, whether the last scrape succeeded, and
the replica's timestamped snapshots (``(seconds, EngineSnapshot)``, oldest first, on any
clock). ``aggregate`` groups members by key and reads each group over the window ending at
``now`` with the rules of ``llmobs.window``: histogram increases merged over the replicas
(PromQL's ``sum by (le) (increase(...))``) and their quantiles, rates summed, gauges over the
replicas that are up. A replica counts in its role from the start, up or not: one whose model
is not known yet (it has never answered) takes the model of its role's other replicas
(``settle_models``). It knows nothing of HTTP or Kubernetes: the exporter's scrape loops,
the virtual-time cluster and a test feed it the same way. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from llmobs import signals, window
from llmobs.engines.catalog import EngineSnapshot
from llmobs.histogram import Histogram, mean, quantile
from llmobs.observation import (
    RATE_FIELDS,
    Latencies,
    Latency,
    Observation,
    Replicas,
    RoleKey,
    RoleObservation,
    Spread,
)
from llmobs.window import Point


@dataclass(frozen=True, slots=True)
class Member:
    """One replica of a role, as much as the aggregation needs to know of it.

    ``continuous``: its counters never go back (the exporter carries them over restarts), so
    an increase is the last value minus the first and the points in between are not read.
    ``model_known``: False while its model is neither configured nor reported (``key.model``
    is then ``""``, a placeholder ``settle_models`` replaces).
    """

    key: RoleKey
    up: bool
    points: Sequence[Point]
    continuous: bool = False
    model_known: bool = True


def settle_models(members: Iterable[Member]) -> list[Member]:
    """``members`` with each one of unknown model keyed by the model of the other replicas
    of its ``namespace, group, role`` when they know exactly one (a replica that has never
    answered counts in its real role, not in a role of its own); with none or several, it
    stays ``""``: there is no telling which it serves."""
    listed = list(members)
    known: dict[tuple[str, str, str], set[str]] = {}
    for member in listed:
        if member.model_known:
            k = member.key
            known.setdefault((k.namespace, k.group, k.role), set()).add(k.model)
    settled = []
    for member in listed:
        k = member.key
        models = known.get((k.namespace, k.group, k.role), set())
        if not member.model_known and len(models) == 1:
            key = RoleKey(k.namespace, k.group, k.role, next(iter(models)))
            member = dataclasses.replace(member, key=key)
        settled.append(member)
    return settled


def _finite(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else value


def latency(histogram: Histogram | None, quantiles: Sequence[float]) -> Latency | None:
    """Count, mean and PromQL-identical quantiles of a window's histogram; None for none."""
    if histogram is None:
        return None
    return Latency(
        count=histogram.count,
        mean=_finite(mean(histogram)),
        quantiles={q: _finite(quantile(q, histogram)) for q in quantiles},
    )


def _member_window(member: Member, now: float, window_s: float) -> window.Window | None:
    points = window.in_window(member.points, now, window_s)
    if len(points) < 2:
        return None
    if member.continuous:
        points = (points[0], points[-1])
    return window.target(points)


def _spread(stat: window.Stat | None) -> Spread:
    return Spread() if stat is None else Spread(stat.mean, stat.max)


def _sum(stat: window.Stat | None) -> float | None:
    return None if stat is None else stat.sum


def observe_role(
    key: RoleKey,
    members: Sequence[Member],
    *,
    now: float,
    wall_time: float,
    window_s: float,
    quantiles: Sequence[float],
) -> RoleObservation:
    """One role over the window ending at ``now`` (the members' clock), stamped ``wall_time``."""
    windows = [w for m in members if (w := _member_window(m, now, window_s)) is not None]
    current: list[EngineSnapshot] = [m.points[-1][1] for m in members if m.up and m.points]
    combined = window.group(windows, [snap.gauges for snap in current])
    newest = max((m.points[-1][0] for m in members if m.points), default=None)
    return RoleObservation(
        key=key,
        replicas=Replicas(
            ready=len(members), scraped=len(windows), up=sum(1 for m in members if m.up)
        ),
        window_seconds=window_s,
        timestamp=wall_time,
        age_seconds=None if newest is None else max(now - newest, 0.0),
        latency=Latencies(
            **{
                s.name: latency(combined.histograms.get(s.name), quantiles)
                for s in signals.HISTOGRAMS
            }
        ),
        **{r.name: combined.rates.get(r.counter) for r in RATE_FIELDS},
        prefix_cache_hit_ratio=_finite(combined.prefix_cache_hit_ratio),
        kv_cache_usage_ratio=_spread(combined.gauges.get(signals.KV_CACHE_USAGE.name)),
        requests_running=_sum(combined.gauges.get(signals.REQUESTS_RUNNING.name)),
        requests_waiting=_sum(combined.gauges.get(signals.REQUESTS_WAITING.name)),
    )


def aggregate(
    members: Iterable[Member],
    *,
    now: float,
    wall_time: float,
    window_s: float,
    quantiles: Sequence[float],
) -> Observation:
    """Every role of ``members`` over the window ending at ``now``, sorted by key (a member
    of unknown model counted in its role: ``settle_models``)."""
    by_key: dict[RoleKey, list[Member]] = {}
    for member in settle_models(members):
        by_key.setdefault(member.key, []).append(member)
    roles = tuple(
        observe_role(
            key,
            by_key[key],
            now=now,
            wall_time=wall_time,
            window_s=window_s,
            quantiles=quantiles,
        )
        for key in sorted(by_key, key=RoleKey.labels)
    )
    return Observation(timestamp=wall_time, window_seconds=window_s, roles=roles)
