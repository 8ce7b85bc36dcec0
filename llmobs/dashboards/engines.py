"""The engine-native board: vLLM's and SGLang's own series, for users who run Prometheus
and no llmobs exporter.

Every query comes from the engine catalogs through ``llmobs.promql.engines``: where a
signal has had several names across versions (vLLM V0, V1 before 0.12, V1; SGLang 0.4 and
0.5), the query reads the newest name present, so one board covers every naming generation.
SGLang's rank copies are pinned to rank 0 and its priority breakdown to the total. Pure.
"""

from __future__ import annotations

from typing import Any

from llmobs import signals
from llmobs.dashboards.board import dashboard, query_variable
from llmobs.dashboards.panels import (
    COUNT,
    HIGH_IS_BAD_RATIO,
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
    timeseries,
)
from llmobs.engines import sglang, vllm
from llmobs.engines.catalog import Catalog
from llmobs.promql import engines as q
from llmobs.promql import vllm as vllm_q
from llmobs.promql.grafana import RATE_INTERVAL, label_values, matches
from llmobs.promql.syntax import Agg, Matcher, ratio, selector

UID = "llmobs-engines"
FILE = "llmobs-engines.json"
# Prometheus's own labels of a scrape target, and its series of whether the scrape worked.
JOB = "job"
INSTANCE = "instance"
UP = "up"
MODEL = "model"
TITLES = {vllm.CATALOG.engine: "vLLM", sglang.CATALOG.engine: "SGLang"}
QUANTILES = (0.5, 0.9, 0.99)
LATENCY: tuple[tuple[signals.Signal, str], ...] = (
    (signals.TTFT, "time to first token"),
    (signals.ITL, "inter-token latency"),
    (signals.TPOT, "time per output token"),
    (signals.E2E, "end-to-end latency"),
    (signals.QUEUE, "queue time"),
)


def _matchers(catalog: Catalog) -> tuple[Matcher, ...]:
    return (matches(JOB), matches(INSTANCE), matches(catalog.model_label, MODEL))


def variables() -> list[Any]:
    """job and instance (Prometheus's scrape labels), model (the engines' model_name)."""
    up = selector(UP)
    return [
        query_variable(JOB, "Job", label_values(up, JOB)),
        query_variable(INSTANCE, "Instance", label_values(up.where(matches(JOB)), INSTANCE)),
        query_variable(MODEL, "Model", label_values(None, vllm.CATALOG.model_label)),
    ]


def _has(sources: tuple[Any, ...], signal: str) -> bool:
    return any(s.signal == signal for s in sources)


def _overview(catalog: Catalog, title: str) -> list[Cell]:
    m = _matchers(catalog)
    over = RATE_INTERVAL
    tiles = [
        stat(
            f"{title} engines",
            [Query(q.engine_replicas(catalog, signals.REQUESTS_RUNNING.name, *m))],
            COUNT,
            f"{title} servers whose series Prometheus has now.",
        ),
        stat(
            f"{title} requests / s",
            [Query(q.engine_rate(catalog, signals.REQUESTS.name, over, *m))],
            REQUESTS_PER_S,
            "Requests finished per second.",
        ),
        stat(
            f"{title} output tokens / s",
            [Query(q.engine_rate(catalog, signals.GENERATION_TOKENS.name, over, *m))],
            PER_S,
            "Generated tokens per second.",
        ),
        stat(
            f"{title} TTFT p90",
            [Query(q.engine_quantile(catalog, signals.TTFT.name, 0.9, over, *m))],
            SECONDS,
            "Time to first token, 90th percentile over $__rate_interval.",
        ),
        stat(
            f"{title} waiting",
            [Query(q.engine_gauge(catalog, signals.REQUESTS_WAITING.name, *m))],
            COUNT,
            "Requests waiting to be scheduled, all servers.",
            thresholds=(("green", None), ("orange", 1.0)),
        ),
        stat(
            f"{title} KV cache, fullest",
            [Query(q.engine_gauge(catalog, signals.KV_CACHE_USAGE.name, *m, op=Agg.MAX))],
            RATIO,
            "The highest KV-cache usage of any server.",
            thresholds=HIGH_IS_BAD_RATIO,
            max_value=1,
        ),
    ]
    return [Cell(t, 4, 4) for t in tiles]


def _latency(catalog: Catalog, title: str, signal: signals.Signal, what: str) -> Cell:
    m = _matchers(catalog)
    queries = [
        Query(q.engine_quantile(catalog, signal.name, p, RATE_INTERVAL, *m), f"p{p * 100:g}")
        for p in QUANTILES
    ]
    queries.append(Query(q.engine_mean(catalog, signal.name, RATE_INTERVAL, *m), "mean"))
    return Cell(timeseries(f"{title} {what}", queries, SECONDS, signal.help), 8, 8)


def _prefix_cache(catalog: Catalog, title: str) -> Cell:
    m = _matchers(catalog)
    queries = []
    if _has(catalog.counters, signals.PREFIX_CACHE_HITS):
        hits = q.engine_rate(catalog, signals.PREFIX_CACHE_HITS, RATE_INTERVAL, *m)
        queried = q.engine_rate(catalog, signals.PREFIX_CACHE_QUERIES, RATE_INTERVAL, *m)
        queries.append(Query(ratio(hits, queried), "hits / queries"))
    if _has(catalog.gauges, signals.PREFIX_CACHE_HIT_RATIO.name):
        gauge = q.engine_gauge(catalog, signals.PREFIX_CACHE_HIT_RATIO.name, *m)
        queries.append(Query(gauge, "engine's hit rate"))
    return Cell(
        timeseries(
            f"{title} prefix-cache hit ratio",
            queries,
            RATIO,
            signals.PREFIX_CACHE_HIT_RATIO.help + " (the engine's own gauge where it has one).",
            max_value=1,
        ),
        8,
        8,
    )


def section(catalog: Catalog) -> Section:
    """One engine's row: overview tiles, latency, throughput, replicas."""
    title = TITLES[catalog.engine]
    m = _matchers(catalog)
    over = RATE_INTERVAL
    per = (INSTANCE,)
    cells = _overview(catalog, title)
    cells += [
        _latency(catalog, title, s, what) for s, what in LATENCY if _has(catalog.histograms, s.name)
    ]
    tokens = [
        Query(q.engine_rate(catalog, signals.PROMPT_TOKENS.name, over, *m), "input"),
        Query(q.engine_rate(catalog, signals.GENERATION_TOKENS.name, over, *m), "output"),
    ]
    kv = q.engine_gauge(catalog, signals.KV_CACHE_USAGE.name, *m, by=per, op=Agg.MAX)
    queue = [
        Query(
            q.engine_gauge(catalog, signals.REQUESTS_RUNNING.name, *m, by=per),
            "{{instance}} running",
        ),
        Query(
            q.engine_gauge(catalog, signals.REQUESTS_WAITING.name, *m, by=per),
            "{{instance}} waiting",
        ),
    ]
    cells += [
        Cell(
            timeseries(
                f"{title} tokens / s", tokens, PER_S, "Prompt and generated tokens per second."
            ),
            8,
            8,
        ),
        Cell(
            timeseries(
                f"{title} running and waiting",
                queue,
                COUNT,
                "Requests running and waiting, per server.",
            ),
            8,
            8,
        ),
        Cell(
            timeseries(
                f"{title} KV cache by instance",
                [Query(kv, "{{instance}}")],
                RATIO,
                signals.KV_CACHE_USAGE.help,
                max_value=1,
                thresholds=HIGH_IS_BAD_RATIO,
            ),
            8,
            8,
        ),
        Cell(
            bargauge(
                f"{title} KV cache now",
                [Query(kv, "{{instance}}")],
                RATIO,
                "Each server's latest KV-cache usage.",
                max_value=1,
                thresholds=HIGH_IS_BAD_RATIO,
            ),
            8,
            8,
        ),
        _prefix_cache(catalog, title),
        Cell(
            heatmap(
                f"{title} TTFT distribution",
                q.engine_buckets(catalog, signals.TTFT.name, over, *m),
                SECONDS,
                "Requests per second by time-to-first-token bucket.",
            ),
            8,
            8,
        ),
    ]
    if _has(catalog.counters, signals.PREEMPTIONS.name):
        preempted = q.engine_rate(catalog, signals.PREEMPTIONS.name, over, *m, by=per)
        cells.append(
            Cell(
                timeseries(
                    f"{title} preemptions / s",
                    [Query(preempted, "{{instance}}")],
                    PER_S,
                    signals.PREEMPTIONS.help,
                ),
                8,
                8,
            )
        )
    if catalog is vllm.CATALOG:
        for kind, what in (("prompt", "Prompt"), ("generation", "Output")):
            buckets = vllm_q.length_buckets(kind, over, *m)
            cells.append(
                Cell(
                    heatmap(
                        f"{title} {what.lower()} length",
                        buckets,
                        COUNT,
                        f"Requests per second by {what.lower()} tokens.",
                    ),
                    8,
                    8,
                )
            )
    return Section(title, tuple(cells))


def board() -> dict[str, Any]:
    return dashboard(
        title="llmobs / Engines (native metrics)",
        uid=UID,
        description="vLLM (V0, V1 of every naming generation) and SGLang (0.4, 0.5) from their "
        "own /metrics, with no llmobs exporter: latency, throughput, queues, KV cache.",
        tags=["vllm", "sglang"],
        variables=variables(),
        sections=[section(vllm.CATALOG), section(sglang.CATALOG)],
    )
