"""Dynamo's inputs drawn from the emulator's performance model: the SLA planner's
pre-deployment profile and the load planner's step times, computed from
``llmobs.sim.perf.PerfModel`` exactly as the emulator prices each step (what Dynamo's
profiler would measure on that engine, without noise). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmobs.autoscaler.baselines.dynamo_profile import DecodeProfile, PrefillProfile, StepTimes
from llmobs.sim.perf import PerfModel, StepShape, attention_pairs


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
