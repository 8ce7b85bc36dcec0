"""The roofline: how long one engine step takes, and how much KV cache fits.

A step costs the larger of its compute time (every new token through all weights, plus
attention's quadratic term) at a fraction of peak FLOP/s, and its memory time (all weights
once, plus every KV byte the attention reads) at a fraction of peak bandwidth, plus a fixed
per-step overhead and, with tensor parallelism, two all-reduces per layer. Prefill-heavy
steps come out compute-bound and decode steps memory-bound, as on real GPUs. Pure.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from llmobs.sim.profiles import Hardware, ModelProfile

GB = 1e9
GIB = 2**30


@dataclass(frozen=True)
class Efficiency:
    """How close a real engine gets to the datasheet; calibrated in docs/sim.md."""

    prefill_mfu: float = 0.55
    decode_mbu: float = 0.80
    step_overhead_s: float = 0.0025
    allreduce_latency_s: float = 25e-6
    activation_reserve_gib: float = 2.0  # peak activations of vLLM's profiling forward pass
    non_torch_gib: float = 0.1  # NCCL and other memory outside PyTorch


@dataclass(frozen=True, slots=True)
class StepShape:
    """What one step computes, summed over the sequences in the batch.

    ``new_tokens``: tokens pushed through the model (prefill chunk lengths, 1 per decode).
    ``attention_pairs``: query-key pairs of causal attention, sum of ``n * (ctx + (n+1)/2)``
    for ``n`` new tokens after ``ctx`` tokens of context. ``context_read``: KV tokens the
    attention reads (``ctx + n`` per sequence).
    """

    new_tokens: int
    attention_pairs: float
    context_read: int
    sequences: int


@dataclass(frozen=True, slots=True)
class StepCost:
    seconds: float
    flops: float
    read_bytes: float
    write_bytes: float


def attention_pairs(new: int, context: int) -> float:
    return new * (context + (new + 1) / 2)


class PerfModel:
    def __init__(
        self,
        hardware: Hardware,
        model: ModelProfile,
        tensor_parallel: int = 1,
        efficiency: Efficiency | None = None,
    ) -> None:
        self.hardware = hardware
        self.model = model
        self.tp = tensor_parallel
        self.eff = efficiency or Efficiency()
        self._flops = hardware.bf16_tflops * 1e12 * tensor_parallel * self.eff.prefill_mfu
        self._bandwidth = (
            hardware.memory_bandwidth_gbps * GB * tensor_parallel * self.eff.decode_mbu
        )
        self._linear_flops_per_token = 2.0 * model.parameters
        self._attention_flops_per_pair = 4.0 * model.layers * model.attention_heads * model.head_dim
        self._weights = float(model.weight_bytes)
        self._kv_per_token = float(model.kv_bytes_per_token)
        self._allreduce_bytes_per_token = model.hidden_size * 2.0
        self._link = hardware.interconnect_gbps * GB

    def step_cost(self, shape: StepShape) -> StepCost:
        """Seconds one step takes, and the FLOPs and bytes per GPU it moves (what vLLM's
        estimated_*_per_gpu counters report). Zero for an empty step."""
        if shape.sequences == 0:
            return StepCost(0.0, 0.0, 0.0, 0.0)
        flops = (
            self._linear_flops_per_token * shape.new_tokens
            + self._attention_flops_per_pair * shape.attention_pairs
        )
        read = self._weights + self._kv_per_token * shape.context_read
        compute = flops / self._flops
        memory = read / self._bandwidth
        seconds = self.eff.step_overhead_s + max(compute, memory)
        if self.tp > 1:
            # ring all-reduce after attention and after the MLP of every layer
            volume = (
                self._allreduce_bytes_per_token * shape.new_tokens * 2 * (self.tp - 1) / self.tp
            )
            seconds += 2 * self.model.layers * (self.eff.allreduce_latency_s + volume / self._link)
        write = self._kv_per_token * shape.new_tokens
        return StepCost(seconds, flops / self.tp, read / self.tp, write / self.tp)

    def step_time(self, shape: StepShape) -> float:
        """Seconds one step takes; 0 for an empty step."""
        return self.step_cost(shape).seconds

    def kv_cache_tokens(self, gpu_memory_utilization: float) -> int:
        """Tokens of KV cache that fit: memory left on each GPU after weights and a reserve
        for activations, as vLLM's memory profiling leaves it."""
        per_gpu = self.hardware.memory_usable_gib * GIB * gpu_memory_utilization
        reserve = (self.eff.activation_reserve_gib + self.eff.non_torch_gib) * GIB
        free = per_gpu - self._weights / self.tp - reserve
        if free <= 0:
            return 0
        # KV heads are split across TP ranks (replicated when there are fewer heads than ranks)
        shards = min(self.tp, self.model.kv_heads)
        per_token_per_gpu = self._kv_per_token / shards
        return int(free // per_token_per_gpu)

    def kv_transfer_time(self, tokens: int, link_gbps: float, latency_s: float) -> float:
        """Seconds to move ``tokens`` of KV cache between instances over a ``link_gbps`` link."""
        return latency_s + tokens * self._kv_per_token / (link_gbps * GB)


def blocks_for(tokens: int, block_size: int) -> int:
    return math.ceil(tokens / block_size)
