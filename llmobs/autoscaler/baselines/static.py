"""The ``static`` baseline: a fixed xPyD that never changes, whatever it observes.

Which x and y is the simulator's question (the cheapest fixed pair that meets the SLOs in
hindsight, searched); this module only holds the answer. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from llmobs.autoscaler.baselines.deployment import Deployment
from llmobs.autoscaler.model import Replicas
from llmobs.errors import ConfigError
from llmobs.observation import Observation


@dataclass
class StaticPolicy:
    """``prefill`` prefill and ``decode`` decode replicas, always (asked every ``interval_s``
    so that a replica lost outside the policy is asked for again)."""

    deployment: Deployment
    prefill: int
    decode: int
    interval_s: float = 60.0
    name: str = "static"

    def __post_init__(self) -> None:
        if self.prefill < 1 or self.decode < 1:
            raise ConfigError(f"static xPyD needs x, y >= 1, got {self.prefill}P{self.decode}D")
        self.name = f"static-{self.prefill}p{self.decode}d"

    def step(
        self, observation: Observation | None, replicas: Mapping[str, Replicas], now: float
    ) -> dict[str, int]:
        return {self.deployment.prefill: self.prefill, self.deployment.decode: self.decode}
