"""The Prometheus source's queries and how their answers become an ``Observation``. Pure.

A ``Query`` is one PromQL expression (always from ``llmobs.promql``) and the slot of
``RoleObservation`` it fills: ``("replicas", "ready")``, ``("latency", "ttft_seconds",
"0.9")``, ``("rate", "request_rate")``... Two plans: ``exporter_plan`` over the llmobs
exporter's series, ``engine_plan`` over an engine's own (vLLM, SGLang) for users with no
exporter. ``read`` turns the answers (prometheus-api-client's lists of ``{"metric": labels,
"value": [time, "text"]}``) into role observations: a series that is absent, or ``NaN``, is
None, never 0; a role is one whose replicas every plan reports; an answer of another shape
is a ``SourceError`` (``malformed``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmobs import names, promql, signals
from llmobs.autoscaler.model import SourceError
from llmobs.engines.catalog import Catalog
from llmobs.observation import (
    LATENCY_FIELDS,
    RATE_FIELDS,
    Latencies,
    Latency,
    Observation,
    Replicas,
    RoleKey,
    RoleObservation,
    Spread,
)

Slot = tuple[str, ...]
Answer = list[dict[str, Any]]
AGE: Slot = ("age",)
PREFIX: Slot = ("prefix_cache_hit_ratio",)
RUNNING: Slot = ("requests_running",)
WAITING: Slot = ("requests_waiting",)


@dataclass(frozen=True, slots=True)
class Query:
    slot: Slot
    expr: str


@dataclass(frozen=True, slots=True)
class Labels:
    """Which series label holds each part of a ``RoleKey`` (None: that part is ``""``)."""

    namespace: str | None = names.NAMESPACE
    group: str | None = names.GROUP
    role: str = names.ROLE
    model: str | None = names.MODEL

    @property
    def by(self) -> tuple[str, ...]:
        parts = (self.namespace, self.group, self.role, self.model)
        return tuple(label for label in parts if label is not None)

    def key(self, metric: Mapping[str, str]) -> RoleKey:
        def get(label: str | None) -> str:
            return "" if label is None else str(metric.get(label, ""))

        return RoleKey(get(self.namespace), get(self.group), get(self.role), get(self.model))


EXPORTER_LABELS = Labels()


def _q(q: float) -> str:
    return repr(float(q))


def exporter_plan(
    window_s: float, quantiles: Sequence[float], matchers: Sequence[promql.Matcher] = ()
) -> tuple[Query, ...]:
    """Every slot from the exporter's series: its replica gauges, Prometheus's own windowed
    histograms, rates and gauges over the per-target series, the exporter's prefix ratio."""
    m = tuple(matchers)
    plan = [Query(("replicas", s), str(promql.role_replicas(s, *m))) for s in names.REPLICA_STATES]
    plan.append(Query(AGE, promql.role_age(*m)))
    for signal in LATENCY_FIELDS:
        plan.append(Query(("latency", signal, "count"), promql.observations(signal, window_s, *m)))
        plan.append(Query(("latency", signal, "mean"), promql.mean(signal, window_s, *m)))
        plan += [
            Query(("latency", signal, _q(q)), promql.quantile(signal, q, window_s, *m))
            for q in quantiles
        ]
    plan += [
        Query(("rate", r.name), promql.counter_rate(r.counter, window_s, *m)) for r in RATE_FIELDS
    ]
    plan.append(Query(PREFIX, str(promql.role_prefix_cache_hit_ratio(*m))))
    plan += [
        Query(("kv", stat), promql.kv_cache_usage(stat, *m))
        for stat in (names.STAT_MEAN, names.STAT_MAX)
    ]
    plan.append(Query(RUNNING, promql.requests_running(*m)))
    plan.append(Query(WAITING, promql.requests_waiting(*m)))
    return tuple(plan)


def _has(sources: Sequence[Any], signal: str) -> bool:
    return any(source.signal == signal for source in sources)


def _prefix(
    catalog: Catalog, window_s: float, m: tuple[promql.Matcher, ...], by: Sequence[str]
) -> str | None:
    """Hits over queries where the engine counts them, else its own ratio gauge."""
    hits, queries = signals.PREFIX_CACHE_HITS, signals.PREFIX_CACHE_QUERIES
    if _has(catalog.counters, hits) and _has(catalog.counters, queries):
        return promql.ratio(
            promql.engine_rate(catalog, hits, window_s, *m, by=by),
            promql.engine_rate(catalog, queries, window_s, *m, by=by),
        )
    name = signals.PREFIX_CACHE_HIT_RATIO.name
    return promql.engine_gauge(catalog, name, *m, by=by) if _has(catalog.gauges, name) else None


def engine_plan(
    catalog: Catalog,
    labels: Labels,
    window_s: float,
    quantiles: Sequence[float],
    matchers: Sequence[promql.Matcher] = (),
) -> tuple[Query, ...]:
    """Every slot an engine's own series give, grouped by the labels that name the role:
    replicas are the series of its running-requests gauge (ready, scraped and up alike)."""
    m, by = tuple(matchers), labels.by
    running = signals.REQUESTS_RUNNING.name
    replicas = promql.engine_replicas(catalog, running, *m, by=by)
    plan = [Query(("replicas", s), replicas) for s in names.REPLICA_STATES]
    plan.append(Query(AGE, promql.engine_age(catalog, running, *m, by=by)))
    for signal in LATENCY_FIELDS:
        if not _has(catalog.histograms, signal):
            continue
        plan.append(
            Query(
                ("latency", signal, "count"),
                promql.engine_count(catalog, signal, window_s, *m, by=by),
            )
        )
        plan.append(
            Query(
                ("latency", signal, "mean"),
                promql.engine_mean(catalog, signal, window_s, *m, by=by),
            )
        )
        plan += [
            Query(
                ("latency", signal, _q(q)),
                promql.engine_quantile(catalog, signal, q, window_s, *m, by=by),
            )
            for q in quantiles
        ]
    plan += [
        Query(("rate", r.name), promql.engine_rate(catalog, r.counter, window_s, *m, by=by))
        for r in RATE_FIELDS
        if _has(catalog.counters, r.counter)
    ]
    prefix = _prefix(catalog, window_s, m, by)
    if prefix is not None:
        plan.append(Query(PREFIX, prefix))
    kv = signals.KV_CACHE_USAGE.name
    if _has(catalog.gauges, kv):
        plan.append(
            Query(
                ("kv", names.STAT_MEAN),
                promql.engine_gauge(catalog, kv, *m, by=by, op=promql.Agg.AVG),
            )
        )
        plan.append(
            Query(
                ("kv", names.STAT_MAX),
                promql.engine_gauge(catalog, kv, *m, by=by, op=promql.Agg.MAX),
            )
        )
    for slot, signal in ((RUNNING, running), (WAITING, signals.REQUESTS_WAITING.name)):
        if _has(catalog.gauges, signal):
            plan.append(Query(slot, promql.engine_gauge(catalog, signal, *m, by=by)))
    return tuple(plan)


def _malformed(expr: str, what: str) -> SourceError:
    return SourceError(f"Prometheus answered {expr!r} with {what}", cause="malformed")


def _value(item: object, expr: str) -> tuple[Mapping[str, str], float | None]:
    """One sample's labels and value (NaN and infinities, Prometheus's no-data, are None)."""
    if not isinstance(item, Mapping):
        raise _malformed(expr, f"a sample that is not an object: {item!r:.80}")
    metric, value = item.get("metric"), item.get("value")
    if not isinstance(metric, Mapping) or not all(isinstance(v, str) for v in metric.values()):
        raise _malformed(expr, f"a sample without string labels: {item!r:.80}")
    if not isinstance(value, list | tuple) or len(value) != 2 or not isinstance(value[1], str):
        raise _malformed(expr, f'a sample without a [time, "value"] pair: {item!r:.80}')
    try:
        number = float(value[1])
    except ValueError:
        raise _malformed(expr, f"the value {value[1]!r:.40}, not a number") from None
    return metric, number if math.isfinite(number) else None


def _by_role(
    answers: Mapping[Slot, object], plan: Sequence[Query], labels: Labels
) -> dict[RoleKey, dict[Slot, float | None]]:
    found: dict[RoleKey, dict[Slot, float | None]] = {}
    for query in plan:
        answer = answers.get(query.slot)
        if answer is None:
            continue
        if not isinstance(answer, list):
            raise _malformed(query.expr, f"{type(answer).__name__}, not a list of samples")
        for item in answer:
            metric, value = _value(item, query.expr)
            found.setdefault(labels.key(metric), {})[query.slot] = value
    return found


def _role(
    key: RoleKey,
    slots: Mapping[Slot, float | None],
    quantiles: Sequence[float],
    window_s: float,
    timestamp: float,
) -> RoleObservation | None:
    counts = [slots.get(("replicas", state)) for state in names.REPLICA_STATES]
    if any(count is None for count in counts):
        return None  # not every replica count is known: the role is missing, not zero
    ready, scraped, up = (round(count or 0.0) for count in counts)
    latencies: dict[str, Latency | None] = {}
    for signal in LATENCY_FIELDS:
        count = slots.get(("latency", signal, "count"))
        latencies[signal] = (
            None
            if count is None
            else Latency(
                count,
                slots.get(("latency", signal, "mean")),
                {q: slots.get(("latency", signal, _q(q))) for q in quantiles},
            )
        )
    return RoleObservation(
        key=key,
        replicas=Replicas(ready, scraped, up),
        window_seconds=window_s,
        timestamp=timestamp,
        age_seconds=slots.get(AGE),
        latency=Latencies(**latencies),
        **{r.name: slots.get(("rate", r.name)) for r in RATE_FIELDS},
        prefix_cache_hit_ratio=slots.get(PREFIX),
        kv_cache_usage_ratio=Spread(
            slots.get(("kv", names.STAT_MEAN)), slots.get(("kv", names.STAT_MAX))
        ),
        requests_running=slots.get(RUNNING),
        requests_waiting=slots.get(WAITING),
    )


def read(
    answers: Mapping[Slot, object],
    plan: Sequence[Query],
    labels: Labels,
    *,
    quantiles: Sequence[float],
    window_s: float,
    timestamp: float,
) -> Observation:
    """The observation the answers to ``plan`` hold (raises ``SourceError``: malformed)."""
    found = _by_role(answers, plan, labels)
    roles = (_role(key, slots, quantiles, window_s, timestamp) for key, slots in found.items())
    ordered = sorted((r for r in roles if r is not None), key=lambda r: r.key.labels())
    return Observation(timestamp, window_s, tuple(ordered))
