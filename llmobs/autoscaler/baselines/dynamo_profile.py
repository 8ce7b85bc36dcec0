"""What Dynamo's planners know about the engines before they run: the SLA planner's
pre-deployment profile (TTFT and throughput vs ISL for prefill; ITL and throughput vs
concurrency and context for decode) and the load planner's per-step wall-time model.

Dynamo gets them from its profiler (``raw_data.npz`` interpolated with scipy) or from
regressions fitted online on ForwardPassMetrics; the simulator injects them from the
emulator's own performance model (``llmobs.sim.perf.PerfModel``), i.e. an exact profile,
the best case for Dynamo. Also the load predictor. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from llmobs.errors import ConfigError


@dataclass(frozen=True, slots=True)
class PrefillProfile:
    """``PrefillInterpolator``: ``ttft_s(isl)`` of one request alone (batch 1), seconds;
    ``throughput_per_gpu(isl)`` prompt tokens/s per GPU a prefill engine sustains."""

    ttft_s: Callable[[float], float]
    throughput_per_gpu: Callable[[float], float]


@dataclass(frozen=True, slots=True)
class DecodeProfile:
    """``DecodeInterpolator``: ``itl_s(concurrency, context)`` and
    ``throughput_per_gpu(concurrency, context)`` (output tokens/s per GPU) of one decode
    engine with ``concurrency`` sequences of ``context`` tokens each; ``max_kv_tokens`` its
    KV cache. ``resolution`` is the grid size over KV usage (Dynamo: 100)."""

    itl_s: Callable[[float, float], float]
    throughput_per_gpu: Callable[[float, float], float]
    max_kv_tokens: int
    resolution: int = 100

    def __post_init__(self) -> None:
        if self.max_kv_tokens <= 0 or self.resolution < 2:
            raise ConfigError("a decode profile needs max_kv_tokens > 0 and resolution >= 2")

    def concurrency(self, kv_usage: float, context: float) -> float:
        """``kv_usage = concurrency * context_length / max_kv_tokens``, solved."""
        return kv_usage * self.max_kv_tokens / max(context, 1.0)

    def best_throughput_per_gpu(self, itl_s: float, context: float) -> float:
        """``find_best_throughput_per_gpu``: scan KV usage from high to low (the interpolated
        ITL need not be monotonic) and take the throughput of the first grid point whose ITL
        is within ``itl_s``; none is: the lowest point's throughput, as Dynamo does."""
        grid = [(i + 1) / self.resolution for i in range(self.resolution)]
        for kv_usage in reversed(grid):
            n = self.concurrency(kv_usage, context)
            if self.itl_s(n, context) <= itl_s:
                return self.throughput_per_gpu(n, context)
        return self.throughput_per_gpu(self.concurrency(grid[0], context), context)


@dataclass(frozen=True, slots=True)
class StepTimes:
    """The load planner's per-engine regressions, as exact functions: ``prefill_s(tokens)``
    is the wall time of a prefill step of ``tokens`` prompt tokens; ``decode_s(requests,
    kv_tokens)`` that of a decode step over ``requests`` sequences holding ``kv_tokens``.
    ``max_num_batched_tokens`` chunks a prefill; ``max_kv_tokens`` is a decode engine's cache."""

    prefill_s: Callable[[float], float]
    decode_s: Callable[[float, float], float]
    max_num_batched_tokens: int
    max_kv_tokens: int

    def __post_init__(self) -> None:
        if self.max_num_batched_tokens <= 0 or self.max_kv_tokens <= 0:
            raise ConfigError("step times need max_num_batched_tokens and max_kv_tokens > 0")

    def ttft_s(self, queued_tokens: float, isl: float) -> float:
        """``estimate_next_ttft``: the queue plus one average prompt, in chunks of
        ``max_num_batched_tokens``, each chunk a prefill step."""
        remaining = max(queued_tokens, 0.0) + isl
        total = 0.0
        while remaining > 0:
            chunk = min(remaining, float(self.max_num_batched_tokens))
            total += self.prefill_s(chunk)
            remaining -= chunk
        return total

    def itl_s(self, requests: float, kv_tokens: float, decode_len: float) -> float:
        """``estimate_next_itl``: one more sequence of the average decode length."""
        return self.decode_s(requests + 1, kv_tokens + decode_len)


@dataclass
class ConstantPredictor:
    """Dynamo's ``constant`` load predictor: the next value is the last one (NaN and
    infinities enter as 0, as in all of Dynamo's predictors). It is also what Dynamo's
    default ``arima`` predictor answers with fewer than 5 points and for a constant series."""

    last: float | None = field(default=None)

    def add(self, value: float | None) -> None:
        self.last = value if value is not None and math.isfinite(value) else 0.0

    def predict(self) -> float:
        return 0.0 if self.last is None else self.last
