"""vLLM's /metrics, as one vLLM version writes it, from an emulated engine's statistics.

Names, HELP strings, label names and histogram buckets are vLLM's own (``vllm/v1/metrics/
loggers.py`` and ``buckets.py``): ``0.32.0`` matches the real capture family for family
(tests/fixtures/expositions/vllm-0.32.0.txt); ``0.11.0`` is the last naming generation before
0.12 (``time_per_output_token_seconds`` next to ``inter_token_latency_seconds``, three finish
reasons, no by-source or MFU counters). Rendered through prometheus_client, vLLM's own
exposition library, so formatting (label order, ``le``, ``_created``) is identical.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from llmobs.sim.flavors.vllm_spec import (
    NEWEST,
    REASONS,
    VERSIONS,
    Instance,
    bounds,
    cache_config_labels,
)
from llmobs.sim.stats import EngineStats, Histo, LiveState, le


class VllmMetrics:
    """A prometheus_client collector: the vllm:* families of one engine, at scrape time."""

    def __init__(
        self, version: str, info: Instance, stats: EngineStats, live: Callable[[], LiveState]
    ) -> None:
        if version not in VERSIONS:
            raise ValueError(f"vLLM version {version} is not emulated; choose from {VERSIONS}")
        self.version = version
        self.info = info
        self.stats = stats
        self.live = live
        self.labels = ["engine", "model_name"]
        self.values = ["0", info.model_name]

    def describe(self) -> list[Metric]:
        return []  # no collect() at registration

    def _counter(
        self, name: str, doc: str, value: float, extra: tuple[str, str] | None = None
    ) -> CounterMetricFamily:
        family = CounterMetricFamily(name, doc, labels=self.labels + ([extra[0]] if extra else []))
        family.add_metric(
            self.values + ([extra[1]] if extra else []), value, created=self.stats.started_at
        )
        return family

    def _by(
        self, name: str, doc: str, label: str, values: dict[str, float], engine_label: bool = True
    ) -> CounterMetricFamily:
        labels = self.labels if engine_label else ["model_name"]
        family = CounterMetricFamily(name, doc, labels=[*labels, label])
        base = self.values if engine_label else [self.info.model_name]
        for key, value in values.items():
            family.add_metric([*base, key], value, created=self.stats.started_at)
        return family

    def _gauge(self, name: str, doc: str, value: float) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=self.labels)
        family.add_metric(self.values, value)
        return family

    def _histogram(self, name: str, doc: str, key: str) -> HistogramMetricFamily:
        histo: Histo = self.stats.histos[key]
        family = HistogramMetricFamily(name, doc, labels=self.labels)
        buckets = [(le(b), c) for b, c in zip(histo.bounds, histo.cumulative(), strict=False)]
        buckets.append(("+Inf", float(histo.count)))
        family.add_metric(self.values, buckets, histo.sum)
        family.add_sample(
            name + "_created",
            dict(zip(self.labels, self.values, strict=True)),
            self.stats.started_at,
        )
        return family

    def collect(self) -> Iterator[Metric]:
        new = self.version == "0.32.0"
        s = self.stats
        live = self.live()
        if new:
            doc = "(for Model Flops Utilization calculations)."
            yield self._counter(
                "vllm:estimated_flops_per_gpu",
                f"Estimated number of floating point operations per GPU {doc}",
                s.flops,
            )
            yield self._counter(
                "vllm:estimated_read_bytes_per_gpu",
                f"Estimated number of bytes read from memory per GPU {doc}",
                s.read_bytes,
            )
            yield self._counter(
                "vllm:estimated_write_bytes_per_gpu",
                f"Estimated number of bytes written to memory per GPU {doc}",
                s.write_bytes,
            )
        yield self._gauge(
            "vllm:num_requests_running",
            "Number of requests in model execution batches.",
            live.running,
        )
        yield self._gauge(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed.",
            live.waiting + live.fetching,
        )
        if new:
            by_reason = GaugeMetricFamily(
                "vllm:num_requests_waiting_by_reason",
                "Number of waiting requests by reason. Reason labels: 'capacity' = waiting for "
                "scheduling capacity; 'deferred' = deferred by transient constraints (LoRA "
                "budget, KV transfer, blocked status). Sum of all reasons equals "
                "vllm:num_requests_waiting.",
                labels=[*self.labels, "reason"],
            )
            by_reason.add_metric([*self.values, "capacity"], live.waiting)
            by_reason.add_metric([*self.values, "deferred"], live.fetching)
            yield by_reason
            sleep = GaugeMetricFamily(
                "vllm:engine_sleep_state",
                "Engine sleep state; awake = 0 means engine is sleeping; awake = 1 means engine "
                "is awake; weights_offloaded = 1 means sleep level 1; discard_all = 1 means "
                "sleep level 2.",
                labels=[*self.labels, "sleep_state"],
            )
            for state, value in (("awake", 1.0), ("weights_offloaded", 0.0), ("discard_all", 0.0)):
                sleep.add_metric([*self.values, state], value)
            yield sleep
        yield self._gauge(
            "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", live.kv_usage
        )
        yield self._counter(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            s.prefix_queries,
        )
        yield self._counter(
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            s.prefix_hits,
        )
        if new:
            yield self._counter(
                "vllm:external_prefix_cache_queries",
                "External prefix cache queries from KV connector cross-instance cache sharing, "
                "in terms of number of queried tokens.",
                0.0,
            )
            yield self._counter(
                "vllm:external_prefix_cache_hits",
                "External prefix cache hits from KV connector cross-instance cache sharing, in "
                "terms of number of cached tokens.",
                0.0,
            )
            yield self._counter(
                "vllm:mm_cache_queries",
                "Multi-modal cache queries, in terms of number of queried items.",
                0.0,
            )
            yield self._counter(
                "vllm:mm_cache_hits",
                "Multi-modal cache hits, in terms of number of cached items.",
                0.0,
            )
        yield self._counter(
            "vllm:num_preemptions",
            "Cumulative number of preemption from the engine.",
            s.preemptions,
        )
        yield self._counter(
            "vllm:prompt_tokens", "Number of prefill tokens processed.", s.prompt_tokens_prefilled
        )
        if new:
            yield self._by(
                "vllm:prompt_tokens_by_source",
                "Number of prompt tokens by source.",
                "source",
                {
                    "local_compute": s.prompt_local_compute,
                    "local_cache_hit": s.prompt_local_cache_hit,
                    "external_kv_transfer": s.prompt_external,
                },
            )
            yield self._counter(
                "vllm:prompt_tokens_cached",
                "Number of cached prompt tokens (local + external).",
                s.prompt_local_cache_hit,
            )
            yield self._by(
                "vllm:prompt_tokens_cached_by_source",
                "Prefix-cache hit tokens by the cache tier that supplied them: device (local "
                "HBM), host (offloaded to DRAM), disk, p2p (transferred from another vLLM "
                "instance) or external_unspecified. Counted at admission; sums to "
                "vllm:prefix_cache_hits + vllm:external_prefix_cache_hits.",
                "source",
                {
                    "device": s.prefix_hits,
                    "host": 0.0,
                    "p2p": 0.0,
                    "disk": 0.0,
                    "external_unspecified": 0.0,
                },
            )
        yield self._counter(
            "vllm:generation_tokens", "Number of generation tokens processed.", s.generation_tokens
        )
        yield self._by(
            "vllm:request_success",
            "Count of successfully processed requests.",
            "finished_reason",
            {r: float(s.finished.get(r, 0)) for r in REASONS[self.version]},
        )
        if new:
            yield self._by(
                "vllm:admission_rejections",
                "Number of admission attempts rejected by a queue limit, by reason.",
                "reason",
                {"max_num_queued_reqs": 0.0, "max_num_queued_tokens": 0.0},
                engine_label=False,
            )
        yield from self._histograms(new)
        info = GaugeMetricFamily(
            "vllm:cache_config_info",
            "Information of the LLMEngine CacheConfig",
            labels=list(cache_config_labels(self.info, self.version)),
        )
        info.add_metric(list(cache_config_labels(self.info, self.version).values()), 1.0)
        yield info

    def _histograms(self, new: bool) -> Iterator[Metric]:
        h = self._histogram
        yield h("vllm:request_prompt_tokens", "Number of prefill tokens processed.", "prompt_len")
        yield h(
            "vllm:request_generation_tokens",
            "Number of generation tokens processed.",
            "generation_len",
        )
        yield h(
            "vllm:iteration_tokens_total",
            "Histogram of number of tokens per engine_step.",
            "iteration_tokens",
        )
        yield h(
            "vllm:request_max_num_generation_tokens",
            "Histogram of maximum number of requested generation tokens.",
            "max_tokens",
        )
        yield h("vllm:request_params_n", "Histogram of the n request parameter.", "n")
        yield h(
            "vllm:request_params_max_tokens",
            "Histogram of the max_tokens request parameter.",
            "max_tokens",
        )
        yield h(
            "vllm:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            "ttft",
        )
        if not new:
            yield h(
                "vllm:time_per_output_token_seconds",
                "Histogram of time per output token in seconds.DEPRECATED: Use "
                "vllm:inter_token_latency_seconds instead.",
                "itl",
            )
        yield h(
            "vllm:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            "itl",
        )
        yield h(
            "vllm:request_time_per_output_token_seconds",
            "Histogram of time_per_output_token_seconds per request.",
            "tpot",
        )
        yield h(
            "vllm:e2e_request_latency_seconds",
            "Histogram of e2e request latency in seconds.",
            "e2e",
        )
        yield h(
            "vllm:request_queue_time_seconds",
            "Histogram of time spent in WAITING phase for request.",
            "queue",
        )
        yield h(
            "vllm:request_inference_time_seconds",
            "Histogram of time spent in RUNNING phase for request.",
            "inference",
        )
        yield h(
            "vllm:request_prefill_time_seconds",
            "Histogram of time spent in PREFILL phase for request.",
            "prefill",
        )
        yield h(
            "vllm:request_decode_time_seconds",
            "Histogram of time spent in DECODE phase for request.",
            "decode",
        )
        if new:
            yield h(
                "vllm:request_num_preemptions",
                "Histogram of the number of times a request was preempted.",
                "preemptions",
            )
            yield h(
                "vllm:request_prefill_kv_computed_tokens",
                "Histogram of new KV tokens computed during prefill (excluding cached tokens).",
                "prefill_computed",
            )


__all__ = ["NEWEST", "VERSIONS", "Instance", "VllmMetrics", "bounds"]
