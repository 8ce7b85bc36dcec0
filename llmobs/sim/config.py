"""The emulator's configuration: one engine's settings, strict and described.

Defaults are vLLM's where vLLM has one (block size 16, 90% of memory, and the OpenAI
server's max_num_seqs / max_num_batched_tokens: 1024 and 8192 on GPUs with 70 GiB or more
that are not A100s, else 256 and 2048). ``Resolved`` checks everything up front (profiles
exist, the tensor-parallel size divides the attention heads as vLLM demands, the model fits,
the KV cache holds one full-length sequence) and raises ``ConfigError`` messages that say
what to change.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, PositiveFloat, PositiveInt, model_validator

from llmobs.config import StrictModel
from llmobs.errors import ConfigError
from llmobs.sim import profiles
from llmobs.sim.flavors import sglang as sglang_flavor
from llmobs.sim.flavors import vllm as vllm_flavor
from llmobs.sim.perf import Efficiency, PerfModel


class EfficiencySettings(StrictModel):
    prefill_mfu: float = Field(
        0.55,
        gt=0,
        le=1,
        description=("Fraction of peak BF16 FLOP/s that prefill-heavy steps reach."),
    )
    decode_mbu: float = Field(
        0.80, gt=0, le=1, description=("Fraction of peak memory bandwidth that decode steps reach.")
    )
    step_overhead_ms: float = Field(
        2.5,
        ge=0,
        description=("Fixed cost of every engine step: scheduling, sampling, kernel launches."),
    )


class EngineSettings(StrictModel):
    engine: Literal["vllm", "sglang"] = Field("vllm", description="Whose API and /metrics.")
    engine_version: str | None = Field(
        None,
        description=(
            "Which version's metric names: vLLM 0.32.0 (default) or 0.11.0; SGLang 0.5.4."
        ),
    )
    model: str = Field("Qwen2.5-7B", description="Model profile (llmobs/sim/profiles).")
    served_model_name: str | None = Field(
        None, description=("Name the API serves; default the profile's Hugging Face id.")
    )
    hardware: str = Field("H100-80GB", description="Accelerator profile.")
    tensor_parallel_size: PositiveInt = Field(1, description="GPUs per instance.")
    max_model_len: PositiveInt | None = Field(
        None, description=("Longest prompt plus output; default the model's maximum context.")
    )
    max_num_seqs: PositiveInt | None = Field(
        None, description=("Most requests in one batch; default vLLM's for the hardware.")
    )
    max_num_batched_tokens: PositiveInt | None = Field(
        None,
        description=(
            "Token budget of one step (chunked prefill); default vLLM's for the hardware."
        ),
    )
    block_size: PositiveInt = Field(16, description="Tokens per KV-cache block.")
    gpu_memory_utilization: float = Field(
        0.9,
        gt=0,
        le=1,
        description=("Fraction of accelerator memory for weights, activations and KV cache."),
    )
    enable_prefix_caching: bool = Field(True, description="Share full prompt blocks.")
    enable_metrics: bool = Field(
        False,
        description=("SGLang only: serve /metrics (SGLang's --enable-metrics); vLLM always does."),
    )
    tokenizer: str | None = Field(
        None,
        description=(
            "Local Hugging Face tokenizer folder; default the built-in llmobs-basic tokenizer."
        ),
    )
    default_output_tokens: PositiveInt = Field(
        256,
        description=("Output length when a request sets no max_tokens (where a model would stop)."),
    )
    fixed_ttft_ms: PositiveFloat | None = Field(
        None, description=("Fixed-latency mode: every first token exactly this long after arrival.")
    )
    fixed_itl_ms: PositiveFloat | None = Field(
        None,
        description=(
            "Fixed-latency mode: every later token exactly this long after the one before."
        ),
    )
    efficiency: EfficiencySettings = Field(
        EfficiencySettings(),
        description=("How close the engine gets to the datasheet (calibration, docs/sim.md)."),
    )
    kv_link_gbps: PositiveFloat = Field(
        25.0, description=("PD: bandwidth of the KV-cache transfer between instances, GB/s.")
    )
    kv_link_latency_ms: float = Field(1.0, ge=0, description="PD: fixed cost of one transfer.")
    max_replicas: PositiveInt = Field(
        64,
        description=(
            "Clusters (--pd, --replicas): the most replicas of one role, at start and through "
            "the scale endpoint (more is a 422); each replica is a server with its own sockets."
        ),
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        if (self.fixed_ttft_ms is None) != (self.fixed_itl_ms is None):
            raise ValueError("fixed-latency mode needs both fixed_ttft_ms and fixed_itl_ms")
        versions = vllm_flavor.VERSIONS if self.engine == "vllm" else sglang_flavor.VERSIONS
        if self.engine_version is not None and self.engine_version not in versions:
            raise ValueError(
                f"{self.engine} {self.engine_version} is not emulated; choose "
                f"from {', '.join(versions)}"
            )
        return self

    @property
    def version(self) -> str:
        if self.engine_version is not None:
            return self.engine_version
        return vllm_flavor.NEWEST if self.engine == "vllm" else sglang_flavor.NEWEST

    @property
    def fixed_latency(self) -> bool:
        return self.fixed_ttft_ms is not None


class Resolved:
    """Settings with every default filled in and the capacity worked out."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.hardware = profiles.hardware(settings.hardware)
        self.model = profiles.model(settings.model)
        heads, tp = self.model.attention_heads, settings.tensor_parallel_size
        if heads % tp:
            raise ConfigError(  # vLLM's words, and what to give instead
                f"Total number of attention heads ({heads}) must be divisible by tensor "
                f"parallel size ({tp}). Give a tensor_parallel_size that divides {heads}: "
                + ", ".join(str(n) for n in range(1, heads + 1) if heads % n == 0)
            )
        eff = settings.efficiency
        self.perf = PerfModel(
            self.hardware,
            self.model,
            settings.tensor_parallel_size,
            Efficiency(
                prefill_mfu=eff.prefill_mfu,
                decode_mbu=eff.decode_mbu,
                step_overhead_s=eff.step_overhead_ms / 1000,
            ),
        )
        big = self.hardware.memory_usable_gib >= 70 and "A100" not in settings.hardware.upper()
        self.max_num_seqs = settings.max_num_seqs or (1024 if big else 256)
        self.max_num_batched_tokens = settings.max_num_batched_tokens or (8192 if big else 2048)
        self.max_model_len = settings.max_model_len or self.model.max_position_embeddings
        if self.max_model_len > self.model.max_position_embeddings:
            raise ConfigError(
                f"max_model_len {self.max_model_len} is over {settings.model}'s context of "
                f"{self.model.max_position_embeddings} tokens"
            )
        tokens = self.perf.kv_cache_tokens(settings.gpu_memory_utilization)
        self.num_blocks = tokens // settings.block_size
        if self.num_blocks <= 0:
            raise ConfigError(
                f"{settings.model} does not fit on {settings.tensor_parallel_size} x "
                f"{settings.hardware} at gpu_memory_utilization "
                f"{settings.gpu_memory_utilization}: raise tensor_parallel_size"
            )
        capacity = self.num_blocks * settings.block_size
        if capacity < self.max_model_len and settings.max_model_len is None:
            self.max_model_len = capacity  # vLLM would refuse; a smaller default is kinder
        elif capacity < self.max_model_len:
            raise ConfigError(
                f"The model's max seq len ({self.max_model_len}) is larger than the maximum "
                f"number of tokens that can be stored in KV cache ({capacity}). Try "
                "increasing gpu_memory_utilization or decreasing max_model_len"
            )
        self.served_name = settings.served_model_name or self.model.hf_name


def describe(resolved: Resolved) -> str:
    s = resolved.settings
    engine = f"{'vLLM' if s.engine == 'vllm' else 'SGLang'} {s.version}"
    tokens = resolved.num_blocks * s.block_size
    mode = (
        f", fixed latency: TTFT {s.fixed_ttft_ms:g} ms, ITL {s.fixed_itl_ms:g} ms"
        if s.fixed_latency
        else ""
    )
    return (
        f"{engine} serving {resolved.served_name} on {s.tensor_parallel_size} x "
        f"{s.hardware} (KV cache {tokens:,} tokens, max_model_len "
        f"{resolved.max_model_len:,}{mode})"
    )
