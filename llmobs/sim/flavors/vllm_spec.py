"""What one vLLM version exposes, as data: its versions, buckets and configuration labels.

Bucket bounds are vLLM's (``vllm/v1/metrics/buckets.py``, unchanged from 0.8.5 to 0.33);
``cache_config_info`` carries the CacheConfig fields of each version as labels. The collector
in ``vllm.py`` renders these with an engine's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

VERSIONS = ("0.32.0", "0.11.0")
NEWEST = VERSIONS[0]

TTFT = (
    0.001,
    0.005,
    0.01,
    0.02,
    0.04,
    0.06,
    0.08,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
    160.0,
    640.0,
    2560.0,
)
ITL = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.4,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
    20.0,
    40.0,
    80.0,
)
REQUEST = (
    0.3,
    0.5,
    0.8,
    1.0,
    1.5,
    2.0,
    2.5,
    5.0,
    10.0,
    15.0,
    20.0,
    30.0,
    40.0,
    50.0,
    60.0,
    120.0,
    240.0,
    480.0,
    960.0,
    1920.0,
    7680.0,
)
ITERATION = (1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
N = (1, 2, 5, 10, 20)
PREEMPTIONS = (1, 2, 3, 4, 5, 10, 20)
REASONS = {
    "0.32.0": ("stop", "length", "abort", "error", "repetition"),
    "0.11.0": ("stop", "length", "abort"),
}


def tokens_buckets(max_value: int) -> tuple[int, ...]:
    """vLLM's ``build_1_2_5_buckets``: 1, 2, 5, 10, 20, 50, ... up to ``max_value``."""
    out: list[int] = []
    exponent = 0
    while True:
        for mantissa in (1, 2, 5):
            value = mantissa * 10**exponent
            if value > max_value:
                return tuple(out)
            out.append(value)
        exponent += 1


def bounds(max_model_len: int) -> dict[str, tuple[float, ...]]:
    """Histogram bounds for ``EngineStats``, keyed by the stats' histogram names."""
    tokens = tuple(float(b) for b in tokens_buckets(max_model_len))
    return {
        "ttft": TTFT,
        "itl": ITL,
        "tpot": ITL,
        "e2e": REQUEST,
        "queue": REQUEST,
        "prefill": REQUEST,
        "decode": REQUEST,
        "inference": REQUEST,
        "prompt_len": tokens,
        "generation_len": tokens,
        "max_tokens": tokens,
        "n": tuple(float(b) for b in N),
        "iteration_tokens": tuple(float(b) for b in ITERATION),
        "preemptions": tuple(float(b) for b in PREEMPTIONS),
        "prefill_computed": tokens,
    }


@dataclass(frozen=True)
class Instance:
    """What /metrics says about the engine's configuration."""

    model_name: str
    max_model_len: int
    block_size: int
    num_blocks: int
    gpu_memory_utilization: float
    enable_prefix_caching: bool
    max_num_seqs: int


def cache_config_labels(info: Instance, version: str) -> dict[str, str]:
    kv_tokens = info.num_blocks * info.block_size
    common = {
        "block_size": str(info.block_size),
        "cache_dtype": "auto",
        "enable_prefix_caching": str(info.enable_prefix_caching),
        "gpu_memory_utilization": str(info.gpu_memory_utilization),
        "is_attention_free": "False",
        "kv_sharing_fast_prefill": "False",
        "mamba_cache_dtype": "auto",
        "mamba_ssm_cache_dtype": "float32",
        "num_cpu_blocks": "None",
        "num_gpu_blocks": str(info.num_blocks),
        "num_gpu_blocks_override": "None",
        "prefix_caching_hash_algo": "sha256",
        "sliding_window": "None",
        "engine": "0",
    }
    if version == "0.11.0":
        return {**common, "calculate_kv_scales": "False", "cpu_offload_gb": "0", "swap_space": "4"}
    return {
        **common,
        "_block_size_resolved": "True",
        "cache_hit_alignment_tokens": "None",
        "effective_attention_block_size": str(info.block_size),
        "enable_mamba_shared_prefix_checkpoint": "False",
        "hash_block_size": "None",
        "kv_cache_dtype_skip_layers": "[]",
        "kv_cache_layout": "None",
        "kv_cache_max_concurrency": str(round(kv_tokens / info.max_model_len, 2)),
        "kv_cache_memory_bytes": "None",
        "kv_cache_size_tokens": str(kv_tokens),
        "kv_offloading_backend": "native",
        "kv_offloading_size": "None",
        "mamba_block_size": "None",
        "mamba_cache_mode": "none",
        "mamba_page_size_padded": "None",
        "prefix_cache_retention_interval": "0",
        "prefix_match_unit": "None",
        "replayssm_buffer_len": "16",
        "skip_page_size_padded": "None",
        "swa_bounded_replay": "True",
        "use_kda_recoverssm": "False",
        "use_replayssm": "False",
        "user_specified_block_size": "False",
    }
