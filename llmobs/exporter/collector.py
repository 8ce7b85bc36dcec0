"""The exporter's ``/metrics``: a prometheus_client custom collector over ready-made state.

``collect`` reads an immutable ``Exported`` picture (target views and the role snapshot) and
turns it into metric families named in ``names``. It does no I/O and never waits on a
target: a scrape of the exporter costs the same whether the engines are fast, slow or gone.
Absent values produce no sample (never a 0).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from llmobs import names
from llmobs.exporter.state import TargetView
from llmobs.observation import LATENCY_FIELDS, RATE_FIELDS, Observation


@dataclass(frozen=True)
class Exported:
    """Everything one exposition shows, taken at one moment."""

    targets: tuple[TargetView, ...]
    roles: Observation
    scrapes: int
    discovery_errors: int


def _float(value: float) -> str:
    """A label value for a bound or quantile, as prometheus_client writes them."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _gauge(metric: names.Metric) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)


def _counter(metric: names.Metric) -> CounterMetricFamily:
    return CounterMetricFamily(metric.name, metric.help, labels=metric.labels)


def target_families(views: tuple[TargetView, ...]) -> Iterator[Metric]:
    hists = {
        k: HistogramMetricFamily(m.name, m.help, labels=m.labels)
        for k, m in names.TARGET_HISTOGRAMS.items()
    }
    gauges = {k: _gauge(m) for k, m in names.TARGET_GAUGES.items()}
    counters = {k: _counter(m) for k, m in names.TARGET_COUNTERS.items()}
    up = _gauge(names.TARGET_UP)
    duration = _gauge(names.TARGET_SCRAPE_DURATION)
    success = _gauge(names.TARGET_LAST_SUCCESS)
    errors = _counter(names.TARGET_SCRAPE_ERRORS)
    resets = _counter(names.TARGET_RESETS)
    for view in views:
        labels = list(view.labels())
        up.add_metric(labels, 1.0 if view.up else 0.0)
        if view.last_duration is not None:
            duration.add_metric(labels, view.last_duration)
        if view.last_success is not None:
            success.add_metric(labels, view.last_success)
        for reason, count in sorted(view.errors.items()):
            errors.add_metric([*labels, reason], float(count))
        resets.add_metric(labels, float(view.resets))
        snapshot = view.latest
        if snapshot is None:
            continue
        for name, value in snapshot.gauges.items():
            if name in gauges and view.up:  # a down target's gauges are not current
                gauges[name].add_metric(labels, value)
        for name, value in snapshot.counters.items():
            if name in counters:
                counters[name].add_metric(labels, value)
        for name, hist in snapshot.histograms.items():
            if name in hists:
                buckets = [(_float(b), c) for b, c in zip(hist.bounds, hist.counts, strict=True)]
                hists[name].add_metric(labels, buckets, hist.sum)
    yield from hists.values()
    yield from gauges.values()
    yield from counters.values()
    yield from (up, duration, success, errors, resets)


def role_families(observation: Observation) -> Iterator[Metric]:
    quantiles = {k: _gauge(m) for k, m in names.ROLE_HISTOGRAM_QUANTILES.items()}
    rates = {r.name: _gauge(r.metric) for r in RATE_FIELDS}
    hit = _gauge(names.ROLE_PREFIX_CACHE_HIT_RATIO)
    kv = _gauge(names.ROLE_KV_CACHE_USAGE)
    running = _gauge(names.ROLE_REQUESTS_RUNNING)
    waiting = _gauge(names.ROLE_REQUESTS_WAITING)
    replicas = _gauge(names.ROLE_REPLICAS)
    for role in observation.roles:
        labels = list(role.key.labels())
        for signal in LATENCY_FIELDS:
            latency = role.latency.get(signal)
            if latency is None or signal not in quantiles:
                continue
            for q, value in latency.quantiles.items():
                if value is not None:
                    quantiles[signal].add_metric([*labels, _float(q)], value)
        for rate in RATE_FIELDS:
            value = getattr(role, rate.name)
            if value is not None:
                rates[rate.name].add_metric(labels, value)
        if role.prefix_cache_hit_ratio is not None:
            hit.add_metric(labels, role.prefix_cache_hit_ratio)
        for stat, value in (
            (names.STAT_MEAN, role.kv_cache_usage_ratio.mean),
            (names.STAT_MAX, role.kv_cache_usage_ratio.max),
        ):
            if value is not None:
                kv.add_metric([*labels, stat], value)
        if role.requests_running is not None:
            running.add_metric(labels, role.requests_running)
        if role.requests_waiting is not None:
            waiting.add_metric(labels, role.requests_waiting)
        for state in names.REPLICA_STATES:
            replicas.add_metric([*labels, state], float(getattr(role.replicas, state)))
    yield from quantiles.values()
    yield from rates.values()
    yield from (hit, kv, running, waiting, replicas)


class ExporterCollector(Collector):
    """Collects whatever ``current()`` returns; ``current`` must not block or do I/O."""

    def __init__(self, current: Callable[[], Exported]) -> None:
        self._current = current

    def collect(self) -> Iterator[Metric]:
        exported = self._current()
        yield from target_families(exported.targets)
        yield from role_families(exported.roles)
        targets = _gauge(names.EXPORTER_TARGETS)
        targets.add_metric([], float(len(exported.targets)))
        scrapes = _counter(names.EXPORTER_SCRAPES)
        scrapes.add_metric([], float(exported.scrapes))
        discovery = _counter(names.EXPORTER_DISCOVERY_ERRORS)
        discovery.add_metric([], float(exported.discovery_errors))
        yield from (targets, scrapes, discovery)
