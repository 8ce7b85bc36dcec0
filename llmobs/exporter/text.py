"""The exporter's ``/metrics`` text, written with ``llmobs.exposition.writer``.

A target's lines change only when it is scraped, so ``target_lines`` renders them then (one
string per family of ``TARGET_METRICS``) and ``exposition`` only concatenates, family by
family, each header and every target's ready lines. Role and self families are few and are
written at each scrape of the exporter. The result is byte for byte what prometheus_client
wrote for the same families (``tests/unit/exporter/test_text.py``). Absent values produce
no sample (never a 0). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache

from llmobs import names
from llmobs.engines.catalog import EngineSnapshot
from llmobs.exposition.writer import (
    Family,
    Sample,
    block,
    bound,
    header,
    number,
    split_block,
    write,
)
from llmobs.histogram import INF
from llmobs.observation import LATENCY_FIELDS, RATE_FIELDS, Observation

# The per-target families, in the order they are exposed.
TARGET_METRICS: tuple[names.Metric, ...] = (
    *names.TARGET_HISTOGRAMS.values(),
    *names.TARGET_GAUGES.values(),
    *names.TARGET_COUNTERS.values(),
    names.TARGET_UP,
    names.TARGET_SCRAPE_DURATION,
    names.TARGET_LAST_SUCCESS,
    names.TARGET_SCRAPE_ERRORS,
    names.TARGET_RESETS,
)
_HEADERS = tuple(header(m.name, m.type, m.help) for m in TARGET_METRICS)
_SLOT = {m.name: i for i, m in enumerate(TARGET_METRICS)}
_HIST_SLOTS = tuple((s, _SLOT[m.name], m.name) for s, m in names.TARGET_HISTOGRAMS.items())
_GAUGE_SLOTS = tuple((s, _SLOT[m.name], m.name) for s, m in names.TARGET_GAUGES.items())
_COUNTER_SLOTS = tuple((s, _SLOT[m.name], m.name) for s, m in names.TARGET_COUNTERS.items())


def _sample(name: str, labels: str, value: float) -> str:
    return f"{name}{labels} {number(value)}\n"


@lru_cache(maxsize=8192)
def _blocks(labels: tuple[str, ...]) -> tuple[str, str, str, str, str]:
    """A target's label block, and the halves around ``le`` and around ``reason``: the
    same at each of its scrapes."""
    pairs = tuple(zip(names.TARGET_LABELS, labels, strict=True))
    return (block(pairs), *split_block(pairs, "le"), *split_block(pairs, names.REASON))


def _counts(counts: tuple[float, ...]) -> Iterable[str]:
    """``number`` of each count; repr() itself when all are finite and under 1e6, where the
    two agree (the usual bucket counts), checked in C-level calls."""
    if max(counts) < 1e6 and min(counts) > -INF and sum(counts) == sum(counts):  # no NaN
        return map(repr, map(float, counts))
    return map(number, counts)


@lru_cache(maxsize=64)
def _le_pairs(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """``le="..."`` of each bound (engines use a handful of bucket layouts)."""
    return tuple(f'le="{bound(b)}"' for b in bounds)


def target_lines(
    labels: tuple[str, ...],
    *,
    up: bool,
    last_duration: float | None,
    last_success: float | None,
    errors: Mapping[str, int],
    resets: int,
    snapshot: EngineSnapshot | None,
) -> tuple[str, ...]:
    """One target's lines for each family of ``TARGET_METRICS`` ("" for none).

    ``labels`` are the values of ``names.TARGET_LABELS``; ``snapshot`` is the latest one
    (counters continuous over restarts). A down target's gauges are not current: not shown.
    """
    plain, before_le, after_le, before, after = _blocks(labels)
    out = [""] * len(TARGET_METRICS)
    out[_SLOT[names.TARGET_UP.name]] = _sample(names.TARGET_UP.name, plain, 1.0 if up else 0.0)
    if last_duration is not None:
        name = names.TARGET_SCRAPE_DURATION.name
        out[_SLOT[name]] = _sample(name, plain, last_duration)
    if last_success is not None:
        name = names.TARGET_LAST_SUCCESS.name
        out[_SLOT[name]] = _sample(name, plain, last_success)
    if errors:
        name = names.TARGET_SCRAPE_ERRORS.name
        out[_SLOT[name]] = "".join(
            f'{name}_total{before}{names.REASON}="{reason}"{after} {number(float(count))}\n'
            for reason, count in sorted(errors.items())
        )
    name = names.TARGET_RESETS.name
    out[_SLOT[name]] = _sample(name + "_total", plain, float(resets))
    if snapshot is None:
        return tuple(out)
    if up:
        for signal, slot, name in _GAUGE_SLOTS:
            value = snapshot.gauges.get(signal)
            if value is not None:
                out[slot] = _sample(name, plain, value)
    for signal, slot, name in _COUNTER_SLOTS:
        value = snapshot.counters.get(signal)
        if value is not None:
            out[slot] = _sample(name + "_total", plain, value)
    for signal, slot, name in _HIST_SLOTS:
        hist = snapshot.histograms.get(signal)
        if hist is None:
            continue
        head = name + "_bucket" + before_le
        tail = after_le + " "
        text = [
            f"{head}{le}{tail}{c}\n"
            for le, c in zip(_le_pairs(hist.bounds), _counts(hist.counts), strict=True)
        ]
        if hist.bounds[0] >= 0 and hist.sum is not None:
            text.append(_sample(name + "_count", plain, hist.counts[-1]))
            text.append(_sample(name + "_sum", plain, hist.sum))
        out[slot] = "".join(text)
    return tuple(out)


def _gauge(metric: names.Metric) -> Family:
    return Family(metric.name, "gauge", metric.help)


def _counter(metric: names.Metric) -> Family:
    return Family(metric.name, "counter", metric.help)


def role_families(observation: Observation) -> list[Family]:
    """The ``llmobs_role_*`` families of every role in ``observation``."""
    quantiles = {k: _gauge(m) for k, m in names.ROLE_HISTOGRAM_QUANTILES.items()}
    rates = {r.name: _gauge(r.metric) for r in RATE_FIELDS}
    hit = _gauge(names.ROLE_PREFIX_CACHE_HIT_RATIO)
    kv = _gauge(names.ROLE_KV_CACHE_USAGE)
    running = _gauge(names.ROLE_REQUESTS_RUNNING)
    waiting = _gauge(names.ROLE_REQUESTS_WAITING)
    replicas = _gauge(names.ROLE_REPLICAS)

    def add(family: Family, labels: dict[str, str], value: float | None) -> None:
        if value is not None:
            family.samples.append(Sample(family.name, labels, value))

    for role in observation.roles:
        labels = dict(zip(names.ROLE_LABELS, role.key.labels(), strict=True))
        for signal in LATENCY_FIELDS:
            latency = role.latency.get(signal)
            if latency is None or signal not in quantiles:
                continue
            for q, value in latency.quantiles.items():
                add(quantiles[signal], {**labels, names.QUANTILE: bound(q)}, value)
        for rate in RATE_FIELDS:
            add(rates[rate.name], labels, getattr(role, rate.name))
        add(hit, labels, role.prefix_cache_hit_ratio)
        add(kv, {**labels, names.STAT: names.STAT_MEAN}, role.kv_cache_usage_ratio.mean)
        add(kv, {**labels, names.STAT: names.STAT_MAX}, role.kv_cache_usage_ratio.max)
        add(running, labels, role.requests_running)
        add(waiting, labels, role.requests_waiting)
        for state in names.REPLICA_STATES:
            add(replicas, {**labels, names.STATE: state}, float(getattr(role.replicas, state)))
    return [*quantiles.values(), *rates.values(), hit, kv, running, waiting, replicas]


def self_families(targets: int, scrapes: int, discovery_errors: int) -> list[Family]:
    """The exporter's own families: targets known, scrapes done, discovery errors."""
    known = _gauge(names.EXPORTER_TARGETS)
    known.samples.append(Sample(known.name, {}, float(targets)))
    done = _counter(names.EXPORTER_SCRAPES)
    done.samples.append(Sample(done.name + "_total", {}, float(scrapes)))
    failed = _counter(names.EXPORTER_DISCOVERY_ERRORS)
    failed.samples.append(Sample(failed.name + "_total", {}, float(discovery_errors)))
    return [known, done, failed]


def exposition(
    targets: Iterable[tuple[str, ...]], roles: Observation, scrapes: int, discovery_errors: int
) -> str:
    """The whole ``/metrics`` text but the process families: every target family (each
    target's ready ``target_lines``), then the role and the exporter's own families."""
    rendered = list(targets)
    out: list[str] = []
    for slot, head in enumerate(_HEADERS):
        out.append(head)
        out.extend(lines[slot] for lines in rendered)
    out.append(write(role_families(roles)))
    out.append(write(self_families(len(rendered), scrapes, discovery_errors)))
    return "".join(out)
