"""vLLM's metrics (V0 and V1 engines, 0.8.5 to 0.33) as canonical signals.

Names and their history: ``shared/notes/engine-metrics.md`` section 2, checked against the
vLLM wheels. Every V1 series carries ``model_name`` and ``engine`` (one series per
data-parallel engine of the API server): counts and histograms add up over engines, KV usage
is averaged (vLLM's own dashboards show avg and max, never a sum). ITL is observed once per
request per engine step.
"""

from __future__ import annotations

from llmobs import signals
from llmobs.engines.catalog import Catalog, Naming, Reduce, Source
from llmobs.exposition.model import Exposition

V0 = Naming(
    "v0",
    "vLLM V0 engine (0.11 and older): model_name only, gpu_cache_usage_perc, "
    "time_per_output_token_seconds",
)
V1_LEGACY = Naming(
    "v1-legacy",
    "vLLM V1 engine 0.8.5 to 0.11: still emits the deprecated "
    "gpu_cache_usage_perc / gpu_prefix_cache_* / "
    "time_per_output_token_seconds names",
)
V1 = Naming(
    "v1",
    "vLLM V1 engine 0.12 or newer: kv_cache_usage_perc, "
    "inter_token_latency_seconds, prefix_cache_*",
)

_LEGACY_NAMES = (
    "vllm:gpu_cache_usage_perc",
    "vllm:gpu_prefix_cache_queries_total",
    "vllm:time_per_output_token_seconds_count",
)


def naming(exposition: Exposition) -> Naming:
    # The first vLLM family with a sample tells V0 from V1 (every V1 series has "engine");
    # in a selective parse that is the first one the catalog reads, which says the same.
    if not any(exposition.samples(name) for name in _LEGACY_NAMES):
        return V1
    for family in exposition.families.values():
        if family.name.startswith("vllm:"):
            for sample in family.samples:
                return V1_LEGACY if "engine" in sample.labels else V0
    return V0


CATALOG = Catalog(
    engine="vllm",
    prefix="vllm:",
    model_label="model_name",
    histograms=(
        Source(signals.TTFT.name, ("vllm:time_to_first_token_seconds",)),
        Source(
            signals.ITL.name,
            ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        ),
        Source(signals.TPOT.name, ("vllm:request_time_per_output_token_seconds",)),
        Source(signals.E2E.name, ("vllm:e2e_request_latency_seconds",)),
        Source(signals.QUEUE.name, ("vllm:request_queue_time_seconds",)),
    ),
    gauges=(
        Source(
            signals.KV_CACHE_USAGE.name,
            ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
            Reduce.MEAN,
        ),
        Source(signals.REQUESTS_RUNNING.name, ("vllm:num_requests_running",)),
        Source(signals.REQUESTS_WAITING.name, ("vllm:num_requests_waiting",)),
        # V0 only (hidden from 0.9): the engine's own running hit rate.
        Source(
            signals.PREFIX_CACHE_HIT_RATIO.name, ("vllm:gpu_prefix_cache_hit_rate",), Reduce.MEAN
        ),
    ),
    counters=(
        Source(signals.PROMPT_TOKENS.name, ("vllm:prompt_tokens_total",)),
        Source(signals.GENERATION_TOKENS.name, ("vllm:generation_tokens_total",)),
        Source(signals.REQUESTS.name, ("vllm:request_success_total",)),
        Source(signals.PREEMPTIONS.name, ("vllm:num_preemptions_total",)),
        Source(
            signals.PREFIX_CACHE_HITS,
            ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
        ),
        Source(
            signals.PREFIX_CACHE_QUERIES,
            ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
        ),
    ),
    naming=naming,
    naming_reads=_LEGACY_NAMES,
)

# Series the catalog reads as no signal, which the dashboards show: the request shape (tokens
# per prompt and per answer, histograms) and why requests finished (``request_success_total``'s
# label, with the reasons that mean the request failed).
PROMPT_LENGTH = "vllm:request_prompt_tokens"
GENERATION_LENGTH = "vllm:request_generation_tokens"
FINISHED_REASON = "finished_reason"
FAILED_REASONS: tuple[str, ...] = ("abort", "error")
