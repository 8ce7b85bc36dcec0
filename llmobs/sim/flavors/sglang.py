"""SGLang 0.5's /metrics (``--enable-metrics``) from an emulated engine's statistics.

As SGLang 0.5.4 writes it through prometheus_client's multiprocess registry: tokenizer-side
histograms and counters with ``model_name`` (counted when a request finishes; ITL once per
token), scheduler-side gauges and the queue-time histogram with ``engine_type``,
``model_name``, ``pp_rank``, ``tp_rank`` (``pid`` too on the two default-mode gauges),
histograms laid out ``_sum``, buckets, ``_count``, no ``_created`` and no process metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import Metric

from llmobs.sim.stats import EngineStats, Histo, LiveState, le

VERSIONS = ("0.5.4",)
NEWEST = VERSIONS[0]

TTFT = (
    0.1,
    0.2,
    0.4,
    0.6,
    0.8,
    1.0,
    2.0,
    4.0,
    6.0,
    8.0,
    10.0,
    20.0,
    40.0,
    60.0,
    80.0,
    100.0,
    200.0,
    400.0,
)
ITL = (
    0.002,
    0.004,
    0.006,
    0.008,
    0.01,
    0.015,
    0.02,
    0.025,
    0.03,
    0.035,
    0.04,
    0.06,
    0.08,
    0.1,
    0.2,
    0.4,
    0.6,
    0.8,
    1.0,
    2.0,
    4.0,
    6.0,
    8.0,
)
E2E = (*TTFT, 600.0, 1200.0, 1800.0, 2400.0)
QUEUE = (
    0.0,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    3.0,
    4.0,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    70.0,
    80.0,
    90.0,
    100.0,
    200.0,
    300.0,
    400.0,
    500.0,
    600.0,
    700.0,
    800.0,
    900.0,
    1000.0,
    1200.0,
    1400.0,
    1600.0,
    1800.0,
    2000.0,
    2500.0,
    3000.0,
)


def bounds(max_model_len: int) -> dict[str, tuple[float, ...]]:
    return {"ttft": TTFT, "itl": ITL, "e2e": E2E, "queue": QUEUE}


class SglangMetrics:
    """prometheus_client collector: one SGLang scheduler (tp_rank 0) and its tokenizer."""

    def __init__(
        self,
        model_name: str,
        stats: EngineStats,
        live: Callable[[], LiveState],
        pid: int,
        now: Callable[[], float],
    ) -> None:
        self.model = model_name
        self.stats = stats
        self.live = live
        self.pid = str(pid)
        self.now = now
        self.scheduler = {
            "engine_type": "unified",
            "model_name": model_name,
            "pp_rank": "0",
            "tp_rank": "0",
        }

    def describe(self) -> list[Metric]:
        return []

    def _histogram(self, name: str, doc: str, histo: Histo, labels: dict[str, str]) -> Metric:
        family = Metric(name, doc, "histogram")
        family.add_sample(name + "_sum", labels, histo.sum)
        for bound, count in zip(histo.bounds, histo.cumulative(), strict=False):
            family.add_sample(name + "_bucket", {**labels, "le": le(bound)}, count)
        family.add_sample(name + "_bucket", {**labels, "le": "+Inf"}, float(histo.count))
        family.add_sample(name + "_count", labels, float(histo.count))
        return family

    def _single(
        self, name: str, doc: str, kind: str, value: float, labels: dict[str, str]
    ) -> Metric:
        family = Metric(name, doc, kind)
        family.add_sample(name + ("_total" if kind == "counter" else ""), labels, value)
        return family

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        live = self.live()
        model = {"model_name": self.model}
        yield self._histogram(
            "sglang:time_to_first_token_seconds",
            "Histogram of time to first token in seconds.",
            s.histos["ttft"],
            model,
        )
        yield self._histogram(
            "sglang:inter_token_latency_seconds",
            "Histogram of inter-token latency in seconds.",
            s.histos["itl"],
            model,
        )
        yield self._histogram(
            "sglang:e2e_request_latency_seconds",
            "Histogram of End-to-end request latency in seconds",
            s.histos["e2e"],
            model,
        )
        yield self._single(
            "sglang:prompt_tokens",
            "Number of prefill tokens processed.",
            "counter",
            s.prompt_tokens_finished,
            model,
        )
        yield self._single(
            "sglang:generation_tokens",
            "Number of generation tokens processed.",
            "counter",
            s.generation_tokens_finished,
            model,
        )
        yield self._single(
            "sglang:num_requests",
            "Number of requests processed.",
            "counter",
            float(sum(s.finished.values())),
            model,
        )
        sched = self.scheduler
        with_pid = {**sched, "pid": self.pid}
        usage = live.used_tokens / live.capacity_tokens if live.capacity_tokens else 0.0
        gauges: list[tuple[str, str, float, dict[str, str]]] = [
            ("num_retracted_reqs", "The number of retracted requests.", 0.0, with_pid),
            (
                "num_paused_reqs",
                "The number of paused requests by async weight sync.",
                0.0,
                with_pid,
            ),
            ("num_running_reqs", "The number of running requests.", live.running, sched),
            ("num_used_tokens", "The number of used tokens.", live.used_tokens, sched),
            ("token_usage", "The token usage.", usage, sched),
            (
                "pending_prealloc_token_usage",
                "The token usage for pending preallocated tokens (not preallocated yet).",
                0.0,
                sched,
            ),
            ("swa_token_usage", "The token usage for SWA layers.", 0.0, sched),
            (
                "gen_throughput",
                "The generation throughput (token/s).",
                s.generation_throughput(self.now()),
                sched,
            ),
            ("num_queue_reqs", "The number of requests in the waiting queue.", live.waiting, sched),
            (
                "num_grammar_queue_reqs",
                "The number of requests in the grammar waiting queue.",
                0.0,
                sched,
            ),
            (
                "num_running_reqs_offline_batch",
                "The number of running low-priority offline batch requests(label is 'batch').",
                0.0,
                sched,
            ),
            ("cache_hit_rate", "The prefix cache hit rate.", s.last_prefill_hit_rate, sched),
            (
                "spec_accept_length",
                "The average acceptance length of speculative decoding.",
                0.0,
                sched,
            ),
            (
                "spec_accept_rate",
                "The average acceptance rate of speculative decoding "
                "(`accepted tokens / total draft tokens` in batch).",
                0.0,
                sched,
            ),
            (
                "num_prefill_prealloc_queue_reqs",
                "The number of requests in the prefill prealloc queue.",
                0.0,
                sched,
            ),
            (
                "num_prefill_inflight_queue_reqs",
                "The number of requests in the prefill inflight queue.",
                0.0,
                sched,
            ),
            (
                "num_decode_prealloc_queue_reqs",
                "The number of requests in the decode prealloc queue.",
                0.0,
                sched,
            ),
            (
                "num_decode_transfer_queue_reqs",
                "The number of requests in the decode transfer queue.",
                live.fetching,
                sched,
            ),
            (
                "kv_transfer_speed_gb_s",
                "The transfer speed of the KV cache in GB/s.",
                (s.last_kv_transfer_bytes / 1e9 / s.last_kv_transfer_s)
                if s.last_kv_transfer_s
                else 0.0,
                sched,
            ),
            (
                "kv_transfer_latency_ms",
                "The transfer latency of the KV cache in ms.",
                s.last_kv_transfer_s * 1000,
                sched,
            ),
            ("utilization", "The utilization.", 1.0 if live.running else 0.0, sched),
            ("engine_startup_time", "The time taken for the engine to start up.", 0.0, sched),
            (
                "engine_load_weights_time",
                "The time taken for the engine to load weights.",
                0.0,
                sched,
            ),
            ("is_cuda_graph", "Whether the batch is using CUDA graph.", 0.0, sched),
        ]
        for name, doc, value, labels in gauges:
            yield self._single("sglang:" + name, doc, "gauge", float(value), labels)
        yield self._histogram(
            "sglang:queue_time_seconds",
            "Histogram of queueing time in seconds.",
            s.histos["queue"],
            sched,
        )
