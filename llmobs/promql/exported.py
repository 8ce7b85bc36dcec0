"""PromQL over the series the llmobs exporter exports, by canonical signal name.

Two families. ``role_*`` read what the exporter already computed per role over its own
window (``llmobs_role_ttft_seconds{quantile="0.99"}``). The others have Prometheus compute
the same from the per-target series over any range, summed ``by`` the role labels unless
told otherwise: the recording rules, the dashboards and the autoscaler's Prometheus source
use them. Signals are named as in ``llmobs.signals`` (``"ttft_seconds"``, ``"requests_total"``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llmobs import names, signals
from llmobs.errors import ConfigError
from llmobs.promql.syntax import (
    Agg,
    Expr,
    Matcher,
    Selector,
    Window,
    aggregate,
    compare,
    eq,
    grouping,
    histogram_quantile,
    increase,
    quantile_label,
    rate,
    ratio,
    sample_age,
    selector,
)

BY_ROLE: tuple[str, ...] = names.ROLE_LABELS
LE = "le"

# Per-role rate gauges, by the counter they are the rate of.
ROLE_RATES: dict[str, names.Metric] = {
    signals.REQUESTS.name: names.ROLE_REQUEST_RATE,
    signals.PROMPT_TOKENS.name: names.ROLE_PROMPT_TOKENS_RATE,
    signals.GENERATION_TOKENS.name: names.ROLE_GENERATION_TOKENS_RATE,
    signals.PREEMPTIONS.name: names.ROLE_PREEMPTION_RATE,
}
# How the ``stat`` of KV-cache usage is taken over replicas in PromQL.
KV_STATS: dict[str, Agg] = {names.STAT_MEAN: Agg.AVG, names.STAT_MAX: Agg.MAX}


def exposed(metric: names.Metric) -> str:
    """The name a family's samples carry: counters gain ``_total`` when exposed."""
    return metric.name + "_total" if metric.type == "counter" else metric.name


def _pick(table: Mapping[str, names.Metric], signal: str, kind: str) -> names.Metric:
    metric = table.get(signal)
    if metric is None:
        raise ConfigError(f"{signal!r} is not a {kind} signal; one of {', '.join(table)}")
    return metric


def _choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{value!r} is not a {what}; one of {', '.join(allowed)}")
    return value


# ---------------------------------------------------------------------------------------
# Per role, as the exporter computed them


def role_quantile(signal: str, q: float, *matchers: Matcher) -> Selector:
    """``llmobs_role_<signal>{quantile="<q>"}``; ``q`` must be one the exporter is set to."""
    metric = _pick(names.ROLE_HISTOGRAM_QUANTILES, signal, "histogram")
    return selector(metric.name, eq(names.QUANTILE, quantile_label(q)), *matchers)


def role_rate(signal: str, *matchers: Matcher) -> Selector:
    """Per second over the exporter's window: requests, prompt or generation tokens, preemptions."""
    return selector(_pick(ROLE_RATES, signal, "role rate").name, *matchers)


def role_prefix_cache_hit_ratio(*matchers: Matcher) -> Selector:
    return selector(names.ROLE_PREFIX_CACHE_HIT_RATIO.name, *matchers)


def role_kv_cache_usage(stat: str, *matchers: Matcher) -> Selector:
    """Mean or max KV-cache usage over the role's replicas that are up."""
    stat = _choice(stat, tuple(KV_STATS), "KV-cache statistic")
    return selector(names.ROLE_KV_CACHE_USAGE.name, eq(names.STAT, stat), *matchers)


def role_requests_running(*matchers: Matcher) -> Selector:
    return selector(names.ROLE_REQUESTS_RUNNING.name, *matchers)


def role_requests_waiting(*matchers: Matcher) -> Selector:
    return selector(names.ROLE_REQUESTS_WAITING.name, *matchers)


def role_replicas(state: str, *matchers: Matcher) -> Selector:
    """Replicas ready, scraped or up."""
    state = _choice(state, names.REPLICA_STATES, "replica state")
    return selector(names.ROLE_REPLICAS.name, eq(names.STATE, state), *matchers)


def role_age(*matchers: Matcher) -> Expr:
    """Seconds since Prometheus last scraped each role's series from the exporter."""
    return aggregate(Agg.MIN, sample_age(role_replicas(names.REPLICAS_READY, *matchers)), BY_ROLE)


# ---------------------------------------------------------------------------------------
# From the per-target series, computed by Prometheus


def buckets(signal: str, over: Window, *matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    """``sum by (by..., le) (rate(llmobs_<signal>_bucket[over]))``: the merged histogram."""
    metric = _pick(names.TARGET_HISTOGRAMS, signal, "histogram")
    series = selector(metric.name + "_bucket", *matchers)
    return aggregate(Agg.SUM, rate(series, over), grouping(by, LE))


def quantile(
    signal: str, q: float, over: Window, *matchers: Matcher, by: Sequence[str] = BY_ROLE
) -> Expr:
    """PromQL's ``histogram_quantile`` of the replicas' buckets summed ``by``."""
    return histogram_quantile(q, buckets(signal, over, *matchers, by=by))


def mean(signal: str, over: Window, *matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    """Sum over count of the observations in the range; no series where there were none."""
    name = _pick(names.TARGET_HISTOGRAMS, signal, "histogram").name
    total, count = (
        aggregate(Agg.SUM, rate(selector(name + part, *matchers), over), by)
        for part in ("_sum", "_count")
    )
    return ratio(total, count)


def observations(
    signal: str, over: Window, *matchers: Matcher, by: Sequence[str] = BY_ROLE
) -> Expr:
    """How many observations the replicas' histograms took over the range, summed ``by``."""
    name = _pick(names.TARGET_HISTOGRAMS, signal, "histogram").name
    return aggregate(Agg.SUM, increase(selector(name + "_count", *matchers), over), by)


def attainment(
    signal: str, bound: str, over: Window, *matchers: Matcher, by: Sequence[str] = BY_ROLE
) -> Expr:
    """The share of observations at or under ``bound``, an ``le`` value of the buckets
    as exposed (``"0.5"``, ``"2.5"``): an SLO's attainment over the range."""
    name = _pick(names.TARGET_HISTOGRAMS, signal, "histogram").name
    good = rate(selector(name + "_bucket", *matchers, eq(LE, bound)), over)
    every = rate(selector(name + "_count", *matchers), over)
    return ratio(aggregate(Agg.SUM, good, by), aggregate(Agg.SUM, every, by))


def counter_rate(
    signal: str, over: Window, *matchers: Matcher, by: Sequence[str] = BY_ROLE
) -> Expr:
    """Per second over the range, summed ``by``: requests, tokens, preemptions."""
    metric = _pick(names.TARGET_COUNTERS, signal, "counter")
    return aggregate(Agg.SUM, rate(selector(exposed(metric), *matchers), over), by)


def gauge(signal: str, op: Agg, *matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    """A gauge of the replicas taken together with ``op``, now."""
    metric = _pick(names.TARGET_GAUGES, signal, "gauge")
    return aggregate(op, selector(metric.name, *matchers), by)


def kv_cache_usage(stat: str, *matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    """Mean (``avg``) or ``max`` KV-cache usage of the replicas."""
    op = KV_STATS[_choice(stat, tuple(KV_STATS), "KV-cache statistic")]
    return gauge(signals.KV_CACHE_USAGE.name, op, *matchers, by=by)


def requests_running(*matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    return gauge(signals.REQUESTS_RUNNING.name, Agg.SUM, *matchers, by=by)


def requests_waiting(*matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    return gauge(signals.REQUESTS_WAITING.name, Agg.SUM, *matchers, by=by)


def targets_up(*matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    """Replicas whose last scrape succeeded (``llmobs_target_up`` summed)."""
    return aggregate(Agg.SUM, selector(names.TARGET_UP.name, *matchers), by)


def targets(*matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    """Replicas the exporter scrapes, up or not."""
    return aggregate(Agg.COUNT, selector(names.TARGET_UP.name, *matchers), by)


def targets_down(*matchers: Matcher, by: Sequence[str] = ()) -> Expr:
    """Targets whose last scrape failed, counted ``by``: 0 when every one answered, no
    series when there is no target."""
    return aggregate(Agg.SUM, f"1 - {selector(names.TARGET_UP.name, *matchers)}", by)


def target_down(*matchers: Matcher) -> Expr:
    """Each target whose last scrape failed: ``llmobs_target_up == 0``."""
    return compare(selector(names.TARGET_UP.name, *matchers), "==", 0)


def scrape_errors(
    over: Window,
    *matchers: Matcher,
    by: Sequence[str] = (*BY_ROLE, names.REASON),
) -> Expr:
    """Failed scrapes per second by reason."""
    name = exposed(names.TARGET_SCRAPE_ERRORS)
    return aggregate(Agg.SUM, rate(selector(name, *matchers), over), by)


def counter_resets(over: Window, *matchers: Matcher, by: Sequence[str] = BY_ROLE) -> Expr:
    """Engine restarts (counters going backwards) per second."""
    name = exposed(names.TARGET_RESETS)
    return aggregate(Agg.SUM, rate(selector(name, *matchers), over), by)


def scrape_down(job: str) -> Expr:
    """Prometheus's own ``up`` of a scrape job at 0: ``up{job="<job>"} == 0``."""
    return compare(selector("up", eq("job", job)), "==", 0)
