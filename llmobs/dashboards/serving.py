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
    PER_S,
    RATIO,
    REQUESTS_PER_S,
    SECONDS,
    Cell,
    Query,
    Section,
    heatmap,
    stat,
    timeseries,
)
from llmobs.dashboards.serving_rows import (
    DECODES,
    ENGINE,
    LABELS,
    PREFILLS,
    SCALER,
    M,
    pd,
    pods,
    shape,
    throughput,
)
from llmobs.promql import autoscaler as scaler
from llmobs.promql import vllm as vllm_q
from llmobs.promql.grafana import RATE_INTERVAL, label_values
from llmobs.promql.syntax import Agg, aggregate
from llmobs.window import DEFAULT_QUANTILES

UID = "llmobs-serving"
FILE = "llmobs-serving.json"
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


def board() -> dict[str, Any]:
    return dashboard(
        title="llmobs / LLM serving",
        uid=UID,
        description="vLLM and SGLang serving, plain or prefill/decode-disaggregated, from "
        "the llmobs exporter: SLO latency per role, throughput, request shape, replicas.",
        tags=["llm"],
        variables=variables(),
        sections=[top(), latency(), throughput(), shape(), pods(), pd()],
    )
