"""What an emulated engine counts: the raw material of its /metrics, engine-neutral.

``EngineStats`` accumulates counters and histograms as the core reports events (a step, a
first token, a finished request, a preemption); a flavour module (``flavors/``) renders them
with one engine version's names, labels and buckets. Histogram bounds come from the flavour,
so observations land in the engine's own buckets. Pure.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client.utils import floatToGoString


def le(bound: float) -> str:
    """A bucket bound as prometheus_client writes it (``0.1``, ``1.0``, ``+Inf``)."""
    return str(floatToGoString(bound))  # type: ignore[no-untyped-call]


# Histograms every flavour may fill; each flavour gives their bounds.
HISTOGRAMS = (
    "ttft",
    "itl",
    "tpot",
    "e2e",
    "queue",
    "prefill",
    "decode",
    "inference",
    "prompt_len",
    "generation_len",
    "max_tokens",
    "n",
    "iteration_tokens",
    "preemptions",
    "prefill_computed",
)


class Histo:
    """Per-bucket counts (``counts[i]`` for ``bounds[i-1] < v <= bounds[i]``, the last for
    +Inf), sum and count; ``cumulative()`` gives what /metrics prints."""

    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float, times: int = 1) -> None:
        # bisect_left: a value equal to a bound falls in that bound's bucket (le is <=)
        self.counts[bisect_left(self.bounds, value)] += times
        self.sum += value * times
        self.count += times

    def cumulative(self) -> list[float]:
        out: list[float] = []
        total = 0
        for c in self.counts:
            total += c
            out.append(float(total))
        return out


@dataclass
class EngineStats:
    """Cumulative counters and histograms of one engine since it started."""

    bounds: Mapping[str, Sequence[float]]
    started_at: float = 0.0
    histos: dict[str, Histo] = field(init=False)
    prompt_tokens_prefilled: int = 0  # vLLM: counted when a request's prefill completes
    prompt_local_compute: int = 0  # ...of which computed here
    prompt_local_cache_hit: int = 0  # ...served by the prefix cache
    prompt_external: int = 0  # ...received from a prefill instance (PD)
    prompt_tokens_finished: int = 0  # SGLang: counted when a request finishes
    generation_tokens: int = 0  # counted every step
    generation_tokens_finished: int = 0
    prefix_queries: int = 0
    prefix_hits: int = 0
    preemptions: int = 0
    finished: dict[str, int] = field(default_factory=dict)
    last_prefill_hit_rate: float = 0.0
    flops: float = 0.0  # per GPU, as vLLM's estimated_*_per_gpu counters
    read_bytes: float = 0.0
    write_bytes: float = 0.0
    last_kv_transfer_s: float = 0.0
    last_kv_transfer_bytes: float = 0.0
    _recent: deque[tuple[float, int]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.histos = {name: Histo(self.bounds[name]) for name in HISTOGRAMS if name in self.bounds}

    def observe(self, name: str, value: float, times: int = 1) -> None:
        histo = self.histos.get(name)
        if histo is not None:
            histo.observe(value, times)

    def prefilled(self, prompt_tokens: int, cached_tokens: int, external: bool) -> None:
        """A request's prompt is in the KV cache: count its tokens by where they came from."""
        self.prompt_tokens_prefilled += prompt_tokens
        if external:
            self.prompt_external += prompt_tokens
        else:
            self.prompt_local_cache_hit += cached_tokens
            self.prompt_local_compute += prompt_tokens - cached_tokens

    def step(self, end: float, computed_tokens: int, generated: int) -> None:
        self.generation_tokens += generated
        self.observe("iteration_tokens", computed_tokens)
        if generated:
            recent = self._recent
            recent.append((end, generated))
            while recent and recent[0][0] < end - 10.0:
                recent.popleft()

    def generation_throughput(self, now: float) -> float:
        """Output tokens per second over the last 10 seconds (SGLang's gen_throughput)."""
        window = [n for t, n in self._recent if t >= now - 10.0]
        return sum(window) / 10.0 if window else 0.0

    def finish(
        self,
        reason: str,
        *,
        arrival: float,
        queued: float | None,
        scheduled: float | None,
        first_token: float | None,
        last_token: float | None,
        end: float,
        prompt_tokens: int,
        output_tokens: int,
        max_tokens: int,
        cached_tokens: int,
        preemptions: int,
    ) -> None:
        self.finished[reason] = self.finished.get(reason, 0) + 1
        self.prompt_tokens_finished += prompt_tokens
        self.generation_tokens_finished += output_tokens
        self.observe("e2e", end - arrival)
        if queued is not None and scheduled is not None:
            self.observe("queue", scheduled - queued)
        if scheduled is not None and first_token is not None:
            self.observe("prefill", first_token - scheduled)
        if scheduled is not None and last_token is not None:
            self.observe("inference", last_token - scheduled)
        if first_token is not None and last_token is not None:
            decode = last_token - first_token
            self.observe("decode", decode)
            self.observe("tpot", decode / (output_tokens - 1) if output_tokens > 1 else 0.0)
        self.observe("prompt_len", prompt_tokens)
        self.observe("generation_len", output_tokens)
        self.observe("max_tokens", max_tokens)
        self.observe("n", 1)
        self.observe("preemptions", preemptions)
        self.observe("prefill_computed", prompt_tokens - cached_tokens)


@dataclass(frozen=True)
class LiveState:
    """An engine's gauges at one instant."""

    running: int
    waiting: int
    fetching: int
    kv_usage: float
    used_tokens: int
    capacity_tokens: int
    block_size: int
    num_blocks: int
