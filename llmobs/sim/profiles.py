"""Hardware and model profiles: the numbers the roofline needs, read from data files.

``profiles/hardware.yaml`` (vendor datasheets) and ``profiles/models.yaml`` (Hugging Face
configs) ship with the package; this module validates and serves them. Loaded on first use.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

import yaml
from pydantic import Field, PositiveFloat, PositiveInt

from llmobs.config import StrictModel, validate
from llmobs.errors import ConfigError

BYTES_PER_PARAM = 2  # BF16 weights
BYTES_PER_KV_ELEMENT = 2  # BF16 KV cache


class Hardware(StrictModel):
    description: str = Field(description="What the accelerator is.")
    bf16_tflops: PositiveFloat = Field(description="Peak dense BF16 tensor throughput, TFLOP/s.")
    memory_gb: PositiveFloat = Field(description="Accelerator memory, GB (10^9 bytes).")
    memory_usable_gib: PositiveFloat = Field(
        description="Memory the driver reports, GiB: what vLLM's gpu_memory_utilization scales."
    )
    memory_bandwidth_gbps: PositiveFloat = Field(description="Memory bandwidth, GB/s.")
    interconnect_gbps: PositiveFloat = Field(
        description="GPU-to-GPU bandwidth per GPU and direction, GB/s (NVLink, else PCIe)."
    )
    source: str = Field(description="Where the numbers come from.")


class ModelProfile(StrictModel):
    hf_name: str = Field(description="The Hugging Face model id, served as the model name.")
    parameters: PositiveInt = Field(description="Total parameters.")
    layers: PositiveInt = Field(description="Transformer layers.")
    hidden_size: PositiveInt = Field(description="Model width.")
    intermediate_size: PositiveInt = Field(description="MLP width.")
    attention_heads: PositiveInt = Field(description="Query heads.")
    kv_heads: PositiveInt = Field(description="Key/value heads (grouped-query attention).")
    head_dim: PositiveInt = Field(description="Size of one attention head.")
    vocab_size: PositiveInt = Field(description="Vocabulary size.")
    max_position_embeddings: PositiveInt = Field(description="Longest context supported.")

    @property
    def weight_bytes(self) -> int:
        return self.parameters * BYTES_PER_PARAM

    @property
    def kv_bytes_per_token(self) -> int:
        """KV cache bytes one token occupies over all layers (K and V, BF16)."""
        return 2 * self.layers * self.kv_heads * self.head_dim * BYTES_PER_KV_ELEMENT


def _load(filename: str) -> dict[str, Any]:
    text = resources.files("llmobs.sim").joinpath("profiles", filename).read_text()
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"{filename} must map profile names to profiles")
    return data


@cache
def hardware_profiles() -> dict[str, Hardware]:
    return {
        name: validate(Hardware, body, f"hardware profile {name}")
        for name, body in _load("hardware.yaml").items()
    }


@cache
def model_profiles() -> dict[str, ModelProfile]:
    return {
        name: validate(ModelProfile, body, f"model profile {name}")
        for name, body in _load("models.yaml").items()
    }


def hardware(name: str) -> Hardware:
    profiles = hardware_profiles()
    if name not in profiles:
        raise ConfigError(f"unknown hardware {name!r}; known: {', '.join(profiles)}")
    return profiles[name]


def model(name: str) -> ModelProfile:
    profiles = model_profiles()
    if name not in profiles:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(profiles)}")
    return profiles[name]
