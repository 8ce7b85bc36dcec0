"""Every `llmobs_` metric name, help text and label name, spelled once.

The exporter's collector, its ``/v1/roles`` JSON, the dashboards and the autoscaler import
these; nothing else spells an ``llmobs_`` name. Per-target series carry ``TARGET_LABELS``,
per-role series ``ROLE_LABELS``. Renaming anything here breaks users' queries and boards.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmobs import signals

PREFIX = "llmobs_"

# Label names.
NAMESPACE = "namespace"
POD = "pod"
ROLE = "role"
GROUP = "group"
MODEL = "model"
ENGINE = "engine"
QUANTILE = "quantile"
STAT = "stat"
STATE = "state"
REASON = "reason"
SLO = "slo"  # an autoscaler SLO as configured: ttft_p90

TARGET_LABELS: tuple[str, ...] = (NAMESPACE, POD, ROLE, GROUP, MODEL, ENGINE)
ROLE_LABELS: tuple[str, ...] = (NAMESPACE, GROUP, ROLE, MODEL)

# Role values when a pod says nothing of its role: it does both prefill and decode.
ROLE_BOTH = "both"
ROLE_PREFILL = "prefill"
ROLE_DECODE = "decode"

# Values of the ``stat`` and ``state`` labels.
STAT_MEAN = "mean"
STAT_MAX = "max"
REPLICAS_READY = "ready"
REPLICAS_SCRAPED = "scraped"
REPLICAS_UP = "up"
REPLICA_STATES: tuple[str, ...] = (REPLICAS_READY, REPLICAS_SCRAPED, REPLICAS_UP)


@dataclass(frozen=True)
class Metric:
    """One exposed family: its full name, Prometheus type, help text and label names."""

    name: str
    type: str
    help: str
    labels: tuple[str, ...]


def _target(signal: signals.Signal) -> Metric:
    kind = {"histogram": "histogram", "gauge": "gauge", "counter": "counter"}[signal.kind]
    name = PREFIX + (signal.name[: -len("_total")] if kind == "counter" else signal.name)
    return Metric(name, kind, signal.help + " Per target, as the engine reports it.", TARGET_LABELS)


# Per target: the engine's own series under canonical names. Counters are named without
# ``_total`` here, as prometheus_client wants, and exposed with it.
TARGET_HISTOGRAMS: dict[str, Metric] = {s.name: _target(s) for s in signals.HISTOGRAMS}
TARGET_GAUGES: dict[str, Metric] = {s.name: _target(s) for s in signals.GAUGES}
TARGET_COUNTERS: dict[str, Metric] = {s.name: _target(s) for s in signals.COUNTERS}

TARGET_UP = Metric(
    PREFIX + "target_up",
    "gauge",
    "1 if the last scrape of the target succeeded and was understood, else 0.",
    TARGET_LABELS,
)
TARGET_SCRAPE_DURATION = Metric(
    PREFIX + "target_scrape_duration_seconds",
    "gauge",
    "How long the last scrape of the target took, successful or not.",
    TARGET_LABELS,
)
TARGET_LAST_SUCCESS = Metric(
    PREFIX + "target_last_success_timestamp_seconds",
    "gauge",
    "Unix time of the target's last successful scrape.",
    TARGET_LABELS,
)
TARGET_SCRAPE_ERRORS = Metric(
    PREFIX + "target_scrape_errors",
    "counter",
    "Failed scrapes of the target by reason (unreachable, timeout, http_status, too_large, "
    "malformed, truncated, unknown_engine).",
    (*TARGET_LABELS, REASON),
)
TARGET_RESETS = Metric(
    PREFIX + "target_counter_resets",
    "counter",
    "Times the target's counters went backwards (an engine restart); the exported counters "
    "carry on from where they were.",
    TARGET_LABELS,
)

# Per role, over the sliding window.
ROLE_HISTOGRAM_QUANTILES: dict[str, Metric] = {
    s.name: Metric(
        PREFIX + "role_" + s.name,
        "gauge",
        f"{s.help} Quantiles over the role's replicas and the exporter's window; absent when "
        "the window saw no requests.",
        (*ROLE_LABELS, QUANTILE),
    )
    for s in signals.HISTOGRAMS
}
ROLE_REQUEST_RATE = Metric(
    PREFIX + "role_request_rate",
    "gauge",
    "Requests finished per second over the window, summed over the role's replicas.",
    ROLE_LABELS,
)
ROLE_PROMPT_TOKENS_RATE = Metric(
    PREFIX + "role_prompt_tokens_rate",
    "gauge",
    "Prompt tokens per second over the window, summed over the role's replicas.",
    ROLE_LABELS,
)
ROLE_GENERATION_TOKENS_RATE = Metric(
    PREFIX + "role_generation_tokens_rate",
    "gauge",
    "Generated tokens per second over the window, summed over the role's replicas.",
    ROLE_LABELS,
)
ROLE_PREEMPTION_RATE = Metric(
    PREFIX + "role_preemption_rate",
    "gauge",
    "Preemptions (vLLM) or retractions (SGLang) per second over the window.",
    ROLE_LABELS,
)
ROLE_PREFIX_CACHE_HIT_RATIO = Metric(
    PREFIX + "role_prefix_cache_hit_ratio",
    "gauge",
    "Prefix-cache hits over queries over the window, all replicas together.",
    ROLE_LABELS,
)
ROLE_KV_CACHE_USAGE = Metric(
    PREFIX + "role_kv_cache_usage_ratio",
    "gauge",
    "KV-cache usage of the role's replicas that are up: their mean and their max.",
    (*ROLE_LABELS, STAT),
)
ROLE_REQUESTS_RUNNING = Metric(
    PREFIX + "role_requests_running",
    "gauge",
    "Requests running, summed over the role's replicas that are up.",
    ROLE_LABELS,
)
ROLE_REQUESTS_WAITING = Metric(
    PREFIX + "role_requests_waiting",
    "gauge",
    "Requests waiting, summed over the role's replicas that are up.",
    ROLE_LABELS,
)
ROLE_REPLICAS = Metric(
    PREFIX + "role_replicas",
    "gauge",
    "Replicas of the role: ready (discovered, Ready pods or static targets), scraped "
    "(with data in the window) and up (last scrape succeeded).",
    (*ROLE_LABELS, STATE),
)

# The exporter itself.
EXPORTER_TARGETS = Metric(
    PREFIX + "exporter_targets", "gauge", "Targets the exporter is scraping.", ()
)
EXPORTER_SCRAPES = Metric(
    PREFIX + "exporter_scrapes",
    "counter",
    "Scrapes the exporter made, successful or not.",
    (),
)
EXPORTER_DISCOVERY_ERRORS = Metric(
    PREFIX + "exporter_discovery_errors",
    "counter",
    "Failed discovery calls: Kubernetes list or watch (the watch is restarted after each), "
    "HTTP SD reads (the last targets are kept).",
    (),
)

# The autoscaler, per role it sizes (``AUTOSCALER_LABELS``).
AUTOSCALER_LABELS: tuple[str, ...] = (GROUP, ROLE)
AUTOSCALER_DESIRED_REPLICAS = Metric(
    PREFIX + "autoscaler_desired_replicas",
    "gauge",
    "Replicas the autoscaler's latest decision wants for the role.",
    AUTOSCALER_LABELS,
)
AUTOSCALER_CURRENT_REPLICAS = Metric(
    PREFIX + "autoscaler_current_replicas",
    "gauge",
    "Replicas the role is asked to have (its spec) as the autoscaler last read them.",
    AUTOSCALER_LABELS,
)
AUTOSCALER_READY_REPLICAS = Metric(
    PREFIX + "autoscaler_ready_replicas",
    "gauge",
    "Replicas of the role that are ready, as the autoscaler last read them.",
    AUTOSCALER_LABELS,
)
AUTOSCALER_DECISIONS = Metric(
    PREFIX + "autoscaler_decisions",
    "counter",
    "Decisions by their deciding reason (slo_breach, kv_pressure, queue, predicted_load, "
    "within_slo, consolidate, zero_traffic, stale_data, missing_data, ...).",
    (*AUTOSCALER_LABELS, REASON),
)
AUTOSCALER_OBSERVED = Metric(
    PREFIX + "autoscaler_observed_seconds",
    "gauge",
    "The observed percentile of each SLO of the role at the latest decision; absent without data.",
    (*AUTOSCALER_LABELS, SLO),
)
AUTOSCALER_TARGET = Metric(
    PREFIX + "autoscaler_target_seconds",
    "gauge",
    "Each SLO's target as configured.",
    (*AUTOSCALER_LABELS, SLO),
)
AUTOSCALER_GPUS = Metric(
    PREFIX + "autoscaler_gpus",
    "gauge",
    "GPUs all sized roles hold after the latest decision (desired or ready replicas, the "
    "larger, times GPUs per replica).",
    (),
)
AUTOSCALER_GPU_BUDGET = Metric(
    PREFIX + "autoscaler_gpu_budget",
    "gauge",
    "The GPU budget across roles; absent when none is configured.",
    (),
)
