"""What every baseline is told about the deployment it sizes: the two role names, GPUs per
replica, the GPU budget and the replica bounds, plus the small readings of a
``RoleObservation`` that several baselines share (ISL, OSL, per-replica means). Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from llmobs.autoscaler.model import Replicas
from llmobs.errors import ConfigError
from llmobs.observation import Observation, RoleObservation


@dataclass(frozen=True, slots=True)
class Deployment:
    """A prefill/decode deployment as a baseline sees it.

    ``gpu_budget`` is the most GPUs both roles may hold together (None: no budget; Dynamo's
    own default is 8, which its planners apply when given None). ``min_replicas`` is Dynamo's
    ``min_endpoint`` and AIBrix's ``minReplicas``; ``max_replicas`` AIBrix's ``maxReplicas``.
    """

    prefill: str = "prefill"
    decode: str = "decode"
    group: str | None = None
    prefill_gpus: int = 1
    decode_gpus: int = 1
    gpu_budget: int | None = None
    min_replicas: int = 1
    max_replicas: int = 64

    def __post_init__(self) -> None:
        if self.prefill == self.decode:
            raise ConfigError(f"prefill and decode roles must differ, both are {self.prefill!r}")
        if self.prefill_gpus < 1 or self.decode_gpus < 1:
            raise ConfigError("GPUs per replica must be at least 1")
        if self.min_replicas < 0 or self.max_replicas < max(self.min_replicas, 1):
            raise ConfigError(
                f"replica bounds must satisfy 0 <= min <= max and max >= 1, "
                f"got min {self.min_replicas}, max {self.max_replicas}"
            )
        if self.gpu_budget is not None and self.gpu_budget < self.prefill_gpus + self.decode_gpus:
            raise ConfigError(
                f"a GPU budget of {self.gpu_budget} cannot hold one prefill and one decode replica"
            )

    @property
    def roles(self) -> tuple[str, str]:
        return (self.prefill, self.decode)

    def gpus(self, role: str) -> int:
        return self.prefill_gpus if role == self.prefill else self.decode_gpus

    def find(self, observation: Observation | None, role: str) -> RoleObservation | None:
        return None if observation is None else observation.find(role, self.group)


def finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else None (NaN and infinities are no data)."""
    return value if value is not None and math.isfinite(value) else None


def desired(replicas: Mapping[str, Replicas], role: str) -> int:
    """The replicas asked for now (0 for a role the cluster does not report)."""
    current = replicas.get(role)
    return 0 if current is None else current.desired


def ready(replicas: Mapping[str, Replicas], role: str) -> int:
    current = replicas.get(role)
    return 0 if current is None else current.ready


def hold(deployment: Deployment, replicas: Mapping[str, Replicas]) -> dict[str, int]:
    """No change: every role keeps the replicas it asked for."""
    return {role: desired(replicas, role) for role in deployment.roles}


def per_request(total_rate: float | None, request_rate: float | None) -> float | None:
    """Tokens per request from two rates (ISL from prompt tokens, OSL from generated ones);
    None without traffic: 0/0 is no data."""
    total, requests = finite(total_rate), finite(request_rate)
    if total is None or requests is None or requests <= 0:
        return None
    return total / requests


def per_replica(total: float | None, item: RoleObservation) -> float | None:
    """A role-summed gauge (running, waiting) per replica that reported it."""
    value = finite(total)
    if value is None or item.replicas.scraped <= 0:
        return None
    return value / item.replicas.scraped
