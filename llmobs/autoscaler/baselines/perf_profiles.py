"""Dynamo's inputs drawn from the emulator's performance model: the SLA planner's
pre-deployment profile and the load planner's step times, computed from
``llmobs.sim.perf.PerfModel`` exactly as the emulator prices each step (what Dynamo's
profiler would measure on that engine, without noise). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmobs.autoscaler.baselines.dynamo_profile import DecodeProfile, PrefillProfile, StepTimes
from llmobs.sim.perf import PerfModel, StepShape, attention_pairs

if TYPE_CHECKING:
    from llmobs.sim.config import Resolved

# The share of a profiled peak a replica is seeded with: an open loop's queueing (Poisson
# arrivals) needs headroom below the peak for a p99 within the SLO.
SEED_UTILIZATION = 0.85


@dataclass(frozen=True, slots=True)
class EngineShape:
    """The engine the profile is of: its KV cache (tokens), prefill chunk and GPUs."""

    kv_tokens: int
    max_num_batched_tokens: int
    gpus: int = 1


def _count(value: float) -> int:
    return max(1, round(value))


@dataclass(frozen=True, slots=True)
class PerfProfiles:
    """The three Dynamo inputs for one engine; see ``dynamo_profiles``."""

    perf: PerfModel
    engine: EngineShape

    def prefill_alone_s(self, isl: float) -> float:
        """One prompt of ``isl`` tokens alone, in chunks: the profiler's batch-1 TTFT."""
        total, done, tokens = 0.0, 0, _count(isl)
        while done < tokens:
            n = min(self.engine.max_num_batched_tokens, tokens - done)
            total += self.perf.step_time(StepShape(n, attention_pairs(n, done), done + n, 1))
            done += n
        return total

    def prefill_throughput_per_gpu(self, isl: float) -> float:
        return _count(isl) / self.prefill_alone_s(isl) / self.engine.gpus

    def decode_step_s(self, requests: float, kv_tokens: float) -> float:
        """One decode step over ``requests`` sequences holding ``kv_tokens`` in all."""
        n, kv = _count(requests), max(0, int(kv_tokens))
        return self.perf.step_time(StepShape(n, kv + float(n), kv + n, n))

    def decode_itl_s(self, concurrency: float, context: float) -> float:
        n = _count(concurrency)
        return self.decode_step_s(n, n * context)

    def decode_throughput_per_gpu(self, concurrency: float, context: float) -> float:
        n = _count(concurrency)
        return n / self.decode_itl_s(n, context) / self.engine.gpus

    def prefill_step_s(self, tokens: float) -> float:
        n = _count(tokens)
        return self.perf.step_time(StepShape(n, attention_pairs(n, 0), n, 1))


def engine_shape(resolved: Resolved, gpus: int) -> EngineShape:
    """The shape of the engine ``resolved`` describes, on ``gpus`` GPUs per replica."""
    return EngineShape(
        kv_tokens=resolved.num_blocks * resolved.settings.block_size,
        max_num_batched_tokens=resolved.max_num_batched_tokens,
        gpus=gpus,
    )


def capacity_seeds(
    model: PerfProfiles, isl: float, osl: float, tpot_s: float | None, kv_limit: float = 0.8
) -> tuple[float, float]:
    """What a one-replica ``llmbench sweep`` would seed: ``(prompt tokens/s of a prefill
    replica, generated tokens/s of a decode replica)``, each ``SEED_UTILIZATION`` of the
    profiled peak. Prefill's peak is its chunked throughput at ``isl``; decode's, the most
    sequences whose step stays within ``tpot_s`` at the mean context (``isl`` + half of
    ``osl``) and whose KV fits in ``kv_limit`` of the cache."""
    gpus = model.engine.gpus
    prefill = model.prefill_throughput_per_gpu(isl) * gpus
    context = isl + osl / 2
    fits = max(1, int(model.engine.kv_tokens * kv_limit / max(isl + osl, 1.0)))
    best = 1
    for n in range(1, fits + 1):
        if tpot_s is not None and model.decode_itl_s(n, context) > tpot_s:
            break
        best = n
    decode = model.decode_throughput_per_gpu(best, context) * gpus
    return prefill * SEED_UTILIZATION, decode * SEED_UTILIZATION


def dynamo_profiles(
    perf: PerfModel, engine: EngineShape
) -> tuple[PrefillProfile, DecodeProfile, StepTimes]:
    """The SLA planner's prefill and decode profiles and the load planner's step times."""
    model = PerfProfiles(perf, engine)
    return (
        PrefillProfile(model.prefill_alone_s, model.prefill_throughput_per_gpu),
        DecodeProfile(model.decode_itl_s, model.decode_throughput_per_gpu, engine.kv_tokens),
        StepTimes(
            model.prefill_step_s,
            model.decode_step_s,
            engine.max_num_batched_tokens,
            engine.kv_tokens,
        ),
    )
