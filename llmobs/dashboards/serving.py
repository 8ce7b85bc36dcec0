"""The LLM serving board (prefill/decode aware), from the llmobs exporter's series.

Quantiles are the exporter's own per-role values over its window (what ``/v1/roles``
says); means, rates per pod and distributions are computed by Prometheus from the per-target
series over ``$__rate_interval``. The request-shape row and the failed share read vLLM's own
series (the exporter carries no length histograms or finish reasons). Pure.
"""

from __future__ import annotations

from typing import Any

from llmobs import names, promql, signals
from llmobs.autoscaler.config import SLO_SIGNALS
from llmobs.dashboards.board import dashboard, query_variable
from llmobs.dashboards.panels import (
    ANY_IS_BAD,
    COUNT,
    HIGH_IS_BAD_RATIO,
    NONE,
    PER_S,
    RATIO,
    REQUESTS_PER_S,
    SECONDS,
    Cell,
    Query,
    Section,
    bargauge,
    heatmap,
    stat,
    table,
    timeseries,
)
from llmobs.engines import vllm
from llmobs.promql import autoscaler as scaler
from llmobs.promql import vllm as vllm_q
from llmobs.promql.grafana import RATE_INTERVAL, label_values, matches, matching, one_of
from llmobs.promql.syntax import Agg, aggregate, eq, ratio
from llmobs.window import DEFAULT_QUANTILES

UID = "llmobs-serving"
FILE = "llmobs-serving.json"
LABELS: tuple[str, ...] = (names.NAMESPACE, names.GROUP, names.MODEL, names.ROLE)
M = matching(LABELS)
# The autoscaler's series carry group and role only.
SCALER = (matches(names.GROUP), matches(names.ROLE))
# vLLM's own series carry the model as model_name (and namespace when scraped in a cluster).
ENGINE = (matches(names.NAMESPACE), matches(vllm.CATALOG.model_label, names.MODEL))
PREFILLS = one_of(names.ROLE, (names.ROLE_PREFILL, names.ROLE_BOTH))
DECODES = one_of(names.ROLE, (names.ROLE_DECODE, names.ROLE_BOTH))
SIGNAL_KEYS = {signal: key for key, signal in SLO_SIGNALS.items()}
LATENCY: tuple[tuple[signals.Signal, str], ...] = (
    (signals.TTFT, "Time to first token"),
    (signals.ITL, "Inter-token latency"),
    (signals.TPOT, "Time per output token"),
    (signals.E2E, "End-to-end latency"),
    (signals.QUEUE, "Queue time"),
)


def _sum(expr: Any) -> str:
    return aggregate(Agg.SUM, expr)


def variables() -> list[Any]:
    """namespace, group, model and role, each narrowed by the ones before it."""
    out = []
    for i, label in enumerate(LABELS):
        series = promql.selector(names.TARGET_UP.name, *M[:i])
        out.append(query_variable(label, label.capitalize(), label_values(series, label)))
    return out


def _p90(signal: signals.Signal) -> list[Query]:
    key = SIGNAL_KEYS[signal.name]
    return [
        Query(_max(promql.role_quantile(signal.name, 0.9, *M)), "p90"),
        Query(_max(scaler.slo_target(scaler.slo(key), *SCALER)), "SLO"),
    ]


def _max(expr: Any) -> str:
    return aggregate(Agg.MAX, expr)


def top() -> Section:
    """The state of the service now, in twelve tiles."""
    rate = promql.role_rate
    tiles = [
        stat(
            "Requests / s",
            [Query(_sum(rate(signals.REQUESTS.name, *M, DECODES)))],
            REQUESTS_PER_S,
            "Requests finished per second by the roles that decode.",
        ),
        stat(
            "Input tokens / s",
            [Query(_sum(rate(signals.PROMPT_TOKENS.name, *M, PREFILLS)))],
            PER_S,
            "Prompt tokens per second by the roles that prefill.",
        ),
        stat(
            "Output tokens / s",
            [Query(_sum(rate(signals.GENERATION_TOKENS.name, *M, DECODES)))],
            PER_S,
            "Generated tokens per second by the roles that decode.",
        ),
        stat(
            "Failed requests",
            [Query(vllm_q.failed_share(RATE_INTERVAL, *ENGINE))],
            RATIO,
            "Share of finished requests aborted or failed (vLLM's finished_reason).",
            thresholds=(("green", None), ("orange", 0.001), ("red", 0.01)),
            max_value=1,
        ),
        stat(
            "TTFT p90",
            _p90(signals.TTFT),
            SECONDS,
            "The slowest selected role's p90 over the exporter's window, and its SLO.",
        ),
        stat(
            "TPOT p90",
            _p90(signals.TPOT),
            SECONDS,
            "The slowest selected role's p90 over the exporter's window, and its SLO.",
        ),
        stat(
            "KV cache, fullest replica",
            [Query(_max(promql.role_kv_cache_usage("max", *M)))],
            RATIO,
            "The highest KV-cache usage of any replica.",
            thresholds=HIGH_IS_BAD_RATIO,
            max_value=1,
        ),
        stat(
            "Waiting requests",
            [Query(_sum(promql.role_requests_waiting(*M)))],
            COUNT,
            "Requests queued in the engines.",
            thresholds=(("green", None), ("orange", 1.0)),
        ),
        stat(
            "Running requests",
            [Query(_sum(promql.role_requests_running(*M)))],
            COUNT,
            "Requests in the engines' running batches.",
        ),
        stat(
            "Replicas up",
            [Query(_sum(promql.role_replicas(names.REPLICAS_UP, *M)))],
            COUNT,
            "Replicas whose last scrape succeeded.",
        ),
        stat(
            "Targets down",
            [Query(promql.targets_down(*M))],
            COUNT,
            "Targets whose last scrape failed (0 when every one answered).",
            thresholds=ANY_IS_BAD,
        ),
        stat(
            "Preemptions / s",
            [Query(_sum(rate(signals.PREEMPTIONS.name, *M)))],
            PER_S,
            "Requests preempted (vLLM) or retracted (SGLang) per second.",
            thresholds=(("green", None), ("orange", 0.01)),
        ),
    ]
    return Section(None, tuple(Cell(t, 4, 4) for t in tiles))


def _latency(signal: signals.Signal, title: str) -> Cell:
    queries = [
        Query(str(promql.role_quantile(signal.name, q, *M)), f"{{{{role}}}} p{q * 100:g}")
        for q in DEFAULT_QUANTILES
    ]
    by_role = (names.ROLE,)
    queries.append(Query(promql.mean(signal.name, RATE_INTERVAL, *M, by=by_role), "{{role}} mean"))
    target = scaler.slo_target(scaler.slo(SIGNAL_KEYS[signal.name]), *SCALER)
    queries.append(Query(aggregate(Agg.MAX, target, ("role", "slo")), "{{role}} SLO {{slo}}"))
    description = (
        f"{signal.help} Quantiles per role over the exporter's window; the mean over "
        "$__rate_interval; the autoscaler's SLO target where one is set."
    )
    return Cell(timeseries(title, queries, SECONDS, description), 12, 8)


def latency() -> Section:
    cells = [_latency(signal, title) for signal, title in LATENCY]
    ttft = promql.buckets(signals.TTFT.name, RATE_INTERVAL, *M, by=())
    cells.append(
        Cell(
            heatmap(
                "TTFT distribution",
                ttft,
                SECONDS,
                "Requests per second by TTFT bucket, all selected roles.",
            ),
            12,
            8,
        )
    )
    return Section("SLO latency by role", tuple(cells))


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
                        Query(promql.kv_cache_usage("max", *M, by=by), "KV cache"),
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
    prefill = _sum(
        promql.role_replicas(names.REPLICAS_READY, *M[:3], eq(names.ROLE, names.ROLE_PREFILL))
    )
    decode = _sum(
        promql.role_replicas(names.REPLICAS_READY, *M[:3], eq(names.ROLE, names.ROLE_DECODE))
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


def board() -> dict[str, Any]:
    return dashboard(
        title="llmobs / LLM serving",
        uid=UID,
        description="vLLM and SGLang serving, plain or prefill/decode-disaggregated, from "
        "the llmobs exporter: SLO latency per role, throughput, request shape, replicas.",
        tags=["llmobs", "llm"],
        variables=variables(),
        sections=[top(), latency(), throughput(), shape(), pods(), pd()],
    )
