"""The canonical signals: the one place their names, kinds, units and meanings are spelled.

Every engine catalog maps its own metric names onto these; the exporter, the autoscaler,
the dashboards and ``llmobs scrape --json`` speak only these names. Renaming one is a
breaking change of the product's contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    HISTOGRAM = "histogram"
    GAUGE = "gauge"
    COUNTER = "counter"
    DERIVED = "derived"


@dataclass(frozen=True)
class Signal:
    name: str
    kind: Kind
    unit: str
    help: str


TTFT = Signal(
    "ttft_seconds",
    Kind.HISTOGRAM,
    "seconds",
    "Time to first token, from arrival to the first output token.",
)
ITL = Signal(
    "itl_seconds",
    Kind.HISTOGRAM,
    "seconds",
    "Inter-token latency: the gap between consecutive output tokens (or engine steps).",
)
TPOT = Signal(
    "tpot_seconds",
    Kind.HISTOGRAM,
    "seconds",
    "Time per output token of each finished request, excluding the first token.",
)
E2E = Signal(
    "e2e_seconds",
    Kind.HISTOGRAM,
    "seconds",
    "End-to-end request latency, from arrival to the last token.",
)
QUEUE = Signal(
    "queue_seconds",
    Kind.HISTOGRAM,
    "seconds",
    "Time a request waited in the engine's queue before it was first scheduled.",
)
KV_CACHE_USAGE = Signal(
    "kv_cache_usage_ratio", Kind.GAUGE, "ratio", "Fraction of the KV cache in use, 0 to 1."
)
REQUESTS_RUNNING = Signal(
    "requests_running", Kind.GAUGE, "requests", "Requests in the running batch."
)
REQUESTS_WAITING = Signal(
    "requests_waiting", Kind.GAUGE, "requests", "Requests waiting to be scheduled."
)
PROMPT_TOKENS = Signal(
    "prompt_tokens_total", Kind.COUNTER, "tokens", "Prompt (prefill) tokens processed."
)
GENERATION_TOKENS = Signal(
    "generation_tokens_total", Kind.COUNTER, "tokens", "Output (generation) tokens produced."
)
REQUESTS = Signal(
    "requests_total", Kind.COUNTER, "requests", "Requests finished, whatever the reason."
)
PREFIX_CACHE_HIT_RATIO = Signal(
    "prefix_cache_hit_ratio",
    Kind.DERIVED,
    "ratio",
    "Prompt tokens served from the prefix cache over tokens queried.",
)
PREEMPTIONS = Signal(
    "preemptions_total",
    Kind.COUNTER,
    "preemptions",
    "Requests preempted (vLLM) or retracted (SGLang).",
)

ALL: tuple[Signal, ...] = (
    TTFT,
    ITL,
    TPOT,
    E2E,
    QUEUE,
    KV_CACHE_USAGE,
    REQUESTS_RUNNING,
    REQUESTS_WAITING,
    PROMPT_TOKENS,
    GENERATION_TOKENS,
    REQUESTS,
    PREFIX_CACHE_HIT_RATIO,
    PREEMPTIONS,
)
HISTOGRAMS: tuple[Signal, ...] = tuple(s for s in ALL if s.kind is Kind.HISTOGRAM)
GAUGES: tuple[Signal, ...] = tuple(s for s in ALL if s.kind is Kind.GAUGE)
COUNTERS: tuple[Signal, ...] = tuple(s for s in ALL if s.kind is Kind.COUNTER)

# Counters behind the derived prefix-cache ratio where an engine exposes hits and queries.
PREFIX_CACHE_HITS = "prefix_cache_hits_total"
PREFIX_CACHE_QUERIES = "prefix_cache_queries_total"
