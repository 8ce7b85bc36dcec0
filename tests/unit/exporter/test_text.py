"""The exporter's /metrics text is byte for byte what its prometheus_client collector wrote.

``reference`` below is that collector (prometheus_client metric families built from the same
views, written by ``generate_latest``), kept here as the oracle. The states are built by
``TargetState.observe`` from real parsed bodies: up, down, never scraped, restarted, SGLang
beside vLLM, label values that need escaping.
"""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from llmobs import names
from llmobs.engines import WANTED
from llmobs.errors import TargetTimeout, TruncatedExposition
from llmobs.exporter.collector import Exported, render
from llmobs.exporter.state import Target, TargetState, TargetView
from llmobs.exposition.parser import parse
from llmobs.exposition.writer import bound
from llmobs.observation import LATENCY_FIELDS, RATE_FIELDS, Observation
from llmobs.roles import aggregate
from llmobs.scrape.fetch import ScrapeResult
from tests.fixtures.expositions import load


def _gauge(metric: names.Metric) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)


def _counter(metric: names.Metric) -> CounterMetricFamily:
    return CounterMetricFamily(metric.name, metric.help, labels=metric.labels)


def _targets(views: tuple[TargetView, ...]) -> Iterator[Metric]:
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
            if name in gauges and view.up:
                gauges[name].add_metric(labels, value)
        for name, value in snapshot.counters.items():
            if name in counters:
                counters[name].add_metric(labels, value)
        for name, hist in snapshot.histograms.items():
            if name in hists:
                buckets = [(bound(b), c) for b, c in zip(hist.bounds, hist.counts, strict=True)]
                hists[name].add_metric(labels, buckets, hist.sum)
    yield from hists.values()
    yield from gauges.values()
    yield from counters.values()
    yield from (up, duration, success, errors, resets)


def _roles(observation: Observation) -> Iterator[Metric]:
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
                    quantiles[signal].add_metric([*labels, bound(q)], value)
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


class _OldCollector(Collector):
    def __init__(self, exported: Exported) -> None:
        self.exported = exported

    def collect(self) -> Iterator[Metric]:
        exported = self.exported
        yield from _targets(exported.targets)
        yield from _roles(exported.roles)
        targets = _gauge(names.EXPORTER_TARGETS)
        targets.add_metric([], float(len(exported.targets)))
        scrapes = _counter(names.EXPORTER_SCRAPES)
        scrapes.add_metric([], float(exported.scrapes))
        discovery = _counter(names.EXPORTER_DISCOVERY_ERRORS)
        discovery.add_metric([], float(exported.discovery_errors))
        yield from (targets, scrapes, discovery)


def reference(exported: Exported) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_OldCollector(exported))
    return generate_latest(registry).decode()


def result(body: str | None, at: float, error: Exception | None = None) -> ScrapeResult:
    exposition = parse(body, wanted=WANTED) if body is not None else None
    return ScrapeResult("u", 1.79e9 + at, at, 0.0123 + at / 1e4, exposition, error)  # type: ignore[arg-type]


def scaled(body: str, factor: float) -> str:
    """The body with every counter and bucket multiplied (a later scrape of the same engine)."""
    out = []
    for line in body.splitlines():
        if line.startswith("#") or not line:
            out.append(line)
            continue
        head, _, value = line.rpartition(" ")
        out.append(f"{head} {float(value) * factor!r}")
    return "\n".join(out) + "\n"


def states() -> list[TargetState]:
    vllm, sglang = load("vllm-0.32.0.txt"), load("sglang-0.5.23-dp2-priority.txt")
    odd = Target("odd", "http://odd/metrics", namespace='n"s', pod="p\\1\nx", role="prefill")
    made = [
        TargetState(Target("a", "http://a/metrics", pod="a", role="decode", group="g"), 60.0),
        TargetState(Target("b", "http://b/metrics", pod="b", group="g", model="M"), 60.0),
        TargetState(Target("c", "http://c/metrics", pod="c", engine="sglang"), 60.0),
        TargetState(odd, 60.0),
        TargetState(Target("never", "http://never/metrics", pod="never"), 60.0),
    ]
    a, b, c, o, _ = made
    a.observe(result(vllm, 0.0))
    a.observe(result(scaled(vllm, 3.0), 10.0))
    b.observe(result(vllm, 0.0))
    b.observe(result(None, 10.0, TargetTimeout("slow")))
    b.observe(result(None, 15.0, TruncatedExposition("cut")))
    b.observe(result(None, 20.0, TargetTimeout("slow")))
    c.observe(result(sglang, 0.0))
    c.observe(result(scaled(sglang, 0.5), 10.0))  # a restart: counters carry on
    o.observe(result(vllm, 5.0))
    return made


def exported(made: list[TargetState], scrapes: int = 7) -> Exported:
    views = tuple(s.view() for s in made)
    observation = aggregate(
        (v.member() for v in views),
        now=10.0,
        wall_time=1.79e9,
        window_s=60.0,
        quantiles=(0.5, 0.99),
    )
    return Exported(views, observation, scrapes, 2)


def test_the_exposition_is_what_prometheus_client_wrote() -> None:
    made = exported(states())
    assert render(made) == reference(made)
    assert 'llmobs_role_ttft_seconds{group="g"' in render(made)


def test_no_targets_and_no_roles() -> None:
    empty = Exported((), Observation(1.0, 60.0, ()), 0, 0)
    assert render(empty) == reference(empty)


def test_lines_are_rendered_when_the_target_is_scraped() -> None:
    made = states()
    before = exported(made)
    made[0].observe(result(scaled(load("vllm-0.32.0.txt"), 4.0), 20.0))
    after = exported(made)
    assert render(after) != render(before)
    assert render(after) == reference(after)
    # A view carries the lines of its moment: an older picture still renders as it was.
    assert render(before) == reference(before)


@settings(max_examples=25, deadline=None)
@given(st.one_of(st.floats(0.0, 1e12), st.sampled_from([1e6 / 3.0, 1e16, float("inf")])))
def test_any_counts_are_written_as_prometheus_client_wrote_them(factor: float) -> None:
    """Bucket counts large enough for Go's exponent form, huge or infinite, as small ones."""
    state = TargetState(Target("a", "http://a/metrics", pod="a", group="g"), 60.0)
    state.observe(result(scaled(load("vllm-0.32.0.txt"), factor), 0.0))
    made = exported([state])
    assert render(made) == reference(made)
