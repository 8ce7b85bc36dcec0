"""The LLM serving board's rows below its latency: throughput, request shape, replicas
(per pod) and prefill/decode, with the label matchers the whole board shares. Pure.
"""

from __future__ import annotations

from llmobs import names, promql, signals
from llmobs.dashboards.panels import (
    COUNT,
    HIGH_IS_BAD_RATIO,
    NONE,
    PER_S,
    RATIO,
    REQUESTS_PER_S,
    Cell,
    Query,
    Section,
    bargauge,
    heatmap,
    table,
    timeseries,
)
from llmobs.engines import vllm
from llmobs.promql import vllm as vllm_q
from llmobs.promql.grafana import RATE_INTERVAL, matches, matching, one_of
from llmobs.promql.syntax import Agg, aggregate, eq, ratio

LABELS: tuple[str, ...] = (names.NAMESPACE, names.GROUP, names.MODEL, names.ROLE)
M = matching(LABELS)
# The autoscaler's series carry group and role only.
SCALER = (matches(names.GROUP), matches(names.ROLE))
# vLLM's own series carry the model as model_name (and namespace when scraped in a cluster).
ENGINE = (matches(names.NAMESPACE), matches(vllm.CATALOG.model_label, names.MODEL))
PREFILLS = one_of(names.ROLE, (names.ROLE_PREFILL, names.ROLE_BOTH))
DECODES = one_of(names.ROLE, (names.ROLE_DECODE, names.ROLE_BOTH))


def throughput() -> Section:
    by = (names.ROLE,)
    tokens = [
        Query(
            promql.counter_rate(signals.PROMPT_TOKENS.name, RATE_INTERVAL, *M, by=by),
            "{{role}} input",
        ),
        Query(
            promql.counter_rate(signals.GENERATION_TOKENS.name, RATE_INTERVAL, *M, by=by),
            "{{role}} output",
        ),
    ]
    requests = [
        Query(promql.counter_rate(signals.REQUESTS.name, RATE_INTERVAL, *M, by=by), "{{role}}")
    ]
    return Section(
        "Throughput",
        (
            Cell(
                timeseries(
                    "Tokens / s by role",
                    tokens,
                    PER_S,
                    "Prompt and generated tokens per second, per role.",
                ),
                12,
                8,
            ),
            Cell(
                timeseries(
                    "Requests / s by role",
                    requests,
                    REQUESTS_PER_S,
                    "Requests finished per second, per role.",
                ),
                12,
                8,
            ),
        ),
    )


def shape() -> Section:
    by = (names.ROLE,)
    mean_in = ratio(
        promql.counter_rate(signals.PROMPT_TOKENS.name, RATE_INTERVAL, *M, PREFILLS, by=by),
        promql.counter_rate(signals.REQUESTS.name, RATE_INTERVAL, *M, PREFILLS, by=by),
    )
    mean_out = ratio(
        promql.counter_rate(signals.GENERATION_TOKENS.name, RATE_INTERVAL, *M, DECODES, by=by),
        promql.counter_rate(signals.REQUESTS.name, RATE_INTERVAL, *M, DECODES, by=by),
    )
    return Section(
        "Request shape",
        (
            Cell(
                heatmap(
                    "Prompt length (vLLM)",
                    vllm_q.length_buckets("prompt", RATE_INTERVAL, *ENGINE),
                    COUNT,
                    "Requests per second by prompt tokens, from vLLM's own histogram.",
                ),
                8,
                8,
            ),
            Cell(
                heatmap(
                    "Output length (vLLM)",
                    vllm_q.length_buckets("generation", RATE_INTERVAL, *ENGINE),
                    COUNT,
                    "Requests per second by generated tokens, from vLLM's own histogram.",
                ),
                8,
                8,
            ),
            Cell(
                timeseries(
                    "Mean tokens per request",
                    [Query(mean_in, "{{role}} prompt"), Query(mean_out, "{{role}} output")],
                    COUNT,
                    "Tokens per finished request: prompt where the role prefills, "
                    "output where it decodes.",
                ),
                8,
                8,
            ),
        ),
    )


def pods() -> Section:
    by = (names.ROLE, names.POD)
    per_pod = "{{role}} {{pod}}"
    kv = promql.kv_cache_usage("max", *M, by=by)
    return Section(
        "Replicas",
        (
            Cell(
                timeseries(
                    "KV cache usage by pod",
                    [Query(kv, per_pod)],
                    RATIO,
                    "KV-cache usage of each replica: an imbalanced replica stands out.",
                    max_value=1,
                    thresholds=HIGH_IS_BAD_RATIO,
                ),
                12,
                8,
            ),
            Cell(
                bargauge(
                    "KV cache usage now",
                    [Query(kv, per_pod)],
                    RATIO,
                    "Each replica's latest KV-cache usage.",
                    max_value=1,
                    thresholds=HIGH_IS_BAD_RATIO,
                ),
                12,
                8,
            ),
            Cell(
                timeseries(
                    "Running requests by pod",
                    [Query(promql.requests_running(*M, by=by), per_pod)],
                    COUNT,
                    "Requests in each replica's running batch.",
                ),
                8,
                8,
            ),
            Cell(
                timeseries(
                    "Waiting requests by pod",
                    [Query(promql.requests_waiting(*M, by=by), per_pod)],
                    COUNT,
                    "Requests queued in each replica.",
                ),
                8,
                8,
            ),
            Cell(
                timeseries(
                    "Preemptions / s by pod",
                    [
                        Query(
                            promql.counter_rate(signals.PREEMPTIONS.name, RATE_INTERVAL, *M, by=by),
                            per_pod,
                        )
                    ],
                    PER_S,
                    "Preemptions (vLLM) or retractions (SGLang) per second.",
                ),
                8,
                8,
            ),
            Cell(
                timeseries(
                    "Prefix-cache hit ratio by role",
                    [Query(str(promql.role_prefix_cache_hit_ratio(*M)), "{{role}}")],
                    RATIO,
                    "Prompt tokens served from the prefix cache over tokens queried, per "
                    "role over the exporter's window.",
                    max_value=1,
                ),
                12,
                8,
            ),
            Cell(
                table(
                    "Targets",
                    [
                        Query(
                            aggregate(Agg.MAX, promql.selector(names.TARGET_UP.name, *M), by), "up"
                        ),
                        Query(promql.kv_cache_usage("max", *M, by=by), "KV cache", unit=RATIO),
                    ],
                    "Each replica: up (1) or not, and its KV-cache usage.",
                ),
                12,
                8,
            ),
        ),
    )


def pd() -> Section:
    by = (names.ROLE,)
    ready = promql.role_replicas(names.REPLICAS_READY, *M[:3])
    prefill = aggregate(
        Agg.SUM,
        promql.role_replicas(names.REPLICAS_READY, *M[:3], eq(names.ROLE, names.ROLE_PREFILL)),
    )
    decode = aggregate(
        Agg.SUM,
        promql.role_replicas(names.REPLICAS_READY, *M[:3], eq(names.ROLE, names.ROLE_DECODE)),
    )
    load = [
        Query(aggregate(Agg.SUM, promql.role_requests_running(*M), by), "{{role}} running"),
        Query(aggregate(Agg.SUM, promql.role_requests_waiting(*M), by), "{{role}} waiting"),
    ]
    return Section(
        "Prefill / decode",
        (
            Cell(
                timeseries(
                    "Prefill vs decode load",
                    load,
                    COUNT,
                    "Requests running and waiting in each role.",
                ),
                8,
                8,
            ),
            Cell(
                timeseries(
                    "Ready replicas by role",
                    [Query(aggregate(Agg.SUM, ready, by), "{{role}}")],
                    COUNT,
                    "Replicas of each role that are ready.",
                ),
                8,
                8,
            ),
            Cell(
                timeseries(
                    "P:D ratio",
                    [Query(ratio(prefill, decode), "prefill per decode")],
                    NONE,
                    "Ready prefill replicas per ready decode replica.",
                ),
                8,
                8,
            ),
        ),
    )
