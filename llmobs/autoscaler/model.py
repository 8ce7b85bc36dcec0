"""The autoscaler's contract: what a decision is and says, and what the parts around the
pure policy must provide (an observation source, an actuator), plus the one interface every
policy (ours and the baselines) offers the simulator. Data only; no I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from llmobs.errors import LlmobsError
from llmobs.observation import Observation


class Reason(enum.StrEnum):
    """Why a role's replicas are what the decision says: one per outcome, machine-readable
    (the ``reason`` label of ``llmobs_autoscaler_decisions_total``)."""

    SLO_BREACH = "slo_breach"  # an SLO percentile over its target (beyond tolerance): up
    KV_PRESSURE = "kv_pressure"  # decode KV-cache usage over its limit: up
    QUEUE = "queue"  # waiting requests over the limit: up
    PREDICTED_LOAD = "predicted_load"  # the forecast load needs more (or fewer) replicas
    WITHIN_SLO = "within_slo"  # everything fine, nothing to change: hold
    CONSOLIDATE = "consolidate"  # fewer replicas would carry the load within SLO: down
    ZERO_TRAFFIC = "zero_traffic"  # no traffic for the down window: down to min
    STALE_DATA = "stale_data"  # the observation is older than allowed: hold
    MISSING_DATA = "missing_data"  # no observation, or no signal the SLO needs: hold
    TOO_FEW_REPLICAS = "too_few_replicas"  # fewer replicas reported than are ready: hold
    COLD_START_PENDING = "cold_start_pending"  # a change in progress (desired != ready): wait
    STABILIZATION = "stabilization"  # the stabilization window holds the change back
    BUDGET = "budget"  # the GPU budget across roles caps the change
    BOUNDS = "bounds"  # min/max replicas cap the change
    STEP_LIMIT = "step_limit"  # the per-decision step limit caps the change
    RATIO = "pd_ratio"  # the P:D ratio band raises the lagging role
    SOURCE_FAILED = "source_failed"  # the observation source failed: hold
    ACTUATOR_FAILED = "actuator_failed"  # the replicas could not be read or set: hold
    DRY_RUN = "dry_run"  # decided, not applied


@dataclass(frozen=True, slots=True)
class Replicas:
    """A role's replicas as the cluster reports them: asked for (spec) and ready (status)."""

    desired: int
    ready: int


@dataclass(frozen=True, slots=True)
class Decision:
    """One role's decision: from ``current`` to ``desired`` replicas and why (both None in a
    hold for a role whose replicas could not be read yet: unknown, never 0).

    ``reasons`` lists every reason that shaped it, the deciding one first (a breach capped by
    the budget is ``(SLO_BREACH, BUDGET)``); ``detail`` says it in one line for logs;
    ``inputs`` holds the observed and target values it used (strict-JSON numbers or None).
    """

    role: str
    group: str
    current: int | None
    desired: int | None
    reasons: tuple[Reason, ...]
    detail: str
    timestamp: float
    inputs: Mapping[str, float | int | str | None] = field(default_factory=dict)

    @property
    def reason(self) -> Reason:
        return self.reasons[0]

    @property
    def direction(self) -> str:
        if self.desired is None or self.current is None:
            return "hold"
        if self.desired > self.current:
            return "up"
        return "down" if self.desired < self.current else "hold"


class SourceError(LlmobsError):
    """An observation source failed (unreachable, bad answer): the autoscaler holds.

    ``cause`` names what failed, as the scrape errors do: ``unreachable``, ``timeout``,
    ``http_status``, ``too_large``, ``malformed``, ``no_data``; the message says it in words.
    """

    reason = "source_failed"

    def __init__(self, message: str, cause: str = "error") -> None:
        super().__init__(message)
        self.cause = cause


class ActuatorError(LlmobsError):
    """Replicas could not be read or set (403 names the missing permission, 404 the missing
    object, a timeout its length): the autoscaler holds and says why."""

    reason = "actuator_failed"


class Source(Protocol):
    """Where role observations come from: in-process scraping, an exporter's ``/v1/roles``,
    Prometheus, or the virtual cluster."""

    async def observe(self) -> Observation:
        """The newest observation of every role (raises ``SourceError``)."""
        ...

    async def close(self) -> None: ...


class Actuator(Protocol):
    """What sets a role's replicas: the Kubernetes scale subresource (Deployment,
    StatefulSet, LeaderWorkerSet, RoleBasedGroupScalingAdapter) or the emulator's."""

    async def get(self, role: str) -> Replicas:
        """The role's replicas now (raises ``ActuatorError``)."""
        ...

    async def set(self, role: str, replicas: int) -> None:
        """Ask for ``replicas`` (raises ``ActuatorError``)."""
        ...

    async def close(self) -> None: ...


class Policy(Protocol):
    """Any autoscaling policy as the simulator drives it: given what it can see (the latest
    observation, or None when its source failed) and the roles' replicas, the replicas it
    wants per role. Ours wraps ``policy.decide``; each baseline implements its published
    algorithm. ``interval_s`` is how often it is asked (Dynamo's SLA planner: 180 s)."""

    name: str
    interval_s: float

    def step(
        self, observation: Observation | None, replicas: Mapping[str, Replicas], now: float
    ) -> dict[str, int]: ...
