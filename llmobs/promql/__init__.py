"""Every PromQL expression llmobs uses, spelled once, as text built from ``llmobs.names``
and the engine catalogs. Pure: nothing here talks to Prometheus.

* The language (``syntax``): ``string`` writes a label value as a PromQL string literal;
  ``duration``/``parse_duration``/``window`` handle ranges (seconds, ``"1m30s"`` or a Grafana
  variable such as ``"$__rate_interval"``); ``selector`` with ``eq``/``ne``/``re_``/``nre``
  matchers; ``rate``, ``increase``, ``aggregate``, ``histogram_quantile``, ``ratio``, ``compare``.
* The exporter's series (``exported``): per role as the exporter computed them
  (``role_quantile("ttft_seconds", 0.99)``, ``role_rate``, ``role_kv_cache_usage``,
  ``role_replicas``, ...) and computed by Prometheus from the per-target series over a range
  (``quantile``, ``mean``, ``attainment``, ``counter_rate``, ``kv_cache_usage``,
  ``requests_running``, ``targets_up``, ``target_down``, ``scrape_errors``, ...).
* An engine's own series (``engines``): ``engine_quantile``, ``engine_rate``, ``engine_gauge``.

``llmobs.rules`` builds the Prometheus recording and alerting rules from these. Invalid
input raises ``llmobs.errors.ConfigError``.
"""

from __future__ import annotations

from llmobs.promql.engines import engine_buckets, engine_gauge, engine_quantile, engine_rate
from llmobs.promql.exported import (
    BY_ROLE,
    LE,
    attainment,
    buckets,
    counter_rate,
    counter_resets,
    exposed,
    gauge,
    kv_cache_usage,
    mean,
    quantile,
    requests_running,
    requests_waiting,
    role_kv_cache_usage,
    role_prefix_cache_hit_ratio,
    role_quantile,
    role_rate,
    role_replicas,
    role_requests_running,
    role_requests_waiting,
    scrape_down,
    scrape_errors,
    target_down,
    targets,
    targets_up,
)
from llmobs.promql.syntax import (
    Agg,
    Expr,
    Matcher,
    Op,
    Selector,
    Window,
    aggregate,
    check_quantile,
    compare,
    duration,
    eq,
    histogram_quantile,
    increase,
    ne,
    nre,
    number,
    parse_duration,
    quantile_label,
    rate,
    ratio,
    re_,
    selector,
    string,
    window,
)

__all__ = [
    "BY_ROLE",
    "LE",
    "Agg",
    "Expr",
    "Matcher",
    "Op",
    "Selector",
    "Window",
    "aggregate",
    "attainment",
    "buckets",
    "check_quantile",
    "compare",
    "counter_rate",
    "counter_resets",
    "duration",
    "engine_buckets",
    "engine_gauge",
    "engine_quantile",
    "engine_rate",
    "eq",
    "exposed",
    "gauge",
    "histogram_quantile",
    "increase",
    "kv_cache_usage",
    "mean",
    "ne",
    "nre",
    "number",
    "parse_duration",
    "quantile",
    "quantile_label",
    "rate",
    "ratio",
    "re_",
    "requests_running",
    "requests_waiting",
    "role_kv_cache_usage",
    "role_prefix_cache_hit_ratio",
    "role_quantile",
    "role_rate",
    "role_replicas",
    "role_requests_running",
    "role_requests_waiting",
    "scrape_down",
    "scrape_errors",
    "selector",
    "string",
    "target_down",
    "targets",
    "targets_up",
    "window",
]
