"""The autoscaler's strict configuration: per role SLOs, bounds, steps, windows and limits,
and one GPU budget across roles.

A role's SLOs name a signal and a percentile with a duration, as llmbench's ``--slo`` spells
durations (``500ms``, ``1s``, ``0.5s``; a bare number is milliseconds)::

    roles:
      prefill: {slo: {ttft: {p90: 1s}}, min_replicas: 1, max_replicas: 8, queue_limit: 4}
      decode:  {slo: {tpot: {p90: 50ms}}, kv_usage_limit: 0.9, waiting_limit: 2}
    gpu_budget: 16

Every field is described; unknown keys, ``min_replicas > max_replicas``, a budget smaller
than the roles' minimums and an unparsable SLO are ``ConfigError``s naming the field.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    NonNegativeFloat,
    PlainSerializer,
    PositiveInt,
    model_validator,
)

from llmobs import names, signals
from llmobs.config import StrictModel, load_yaml
from llmobs.signals import Signal


def slo_signal(signal: Signal) -> str:
    """The name a config writes for a latency signal's SLO: ``ttft`` for ``ttft_seconds``."""
    return signal.name.removesuffix(f"_{signal.unit}")


def slo_name(signal: str, percentile: str) -> str:
    """One SLO's name as written and shown (``ttft_p90``): a config's signal, a percentile."""
    return f"{signal}_{percentile}"


def observed_input(name: str) -> str:
    """The decision-input key of an SLO's observed value (``ttft_p90_observed``)."""
    return f"{name}_observed"


def target_input(name: str) -> str:
    """The decision-input key of an SLO's target in seconds (``ttft_p90_target``)."""
    return f"{name}_target"


# SLO signal names as a user writes them -> the canonical latency signal of RoleObservation.
SLO_SIGNALS: dict[str, str] = {
    slo_signal(s): s.name
    for s in (signals.TTFT, signals.ITL, signals.TPOT, signals.E2E, signals.QUEUE)
}
ROLE_KINDS = (names.ROLE_PREFILL, names.ROLE_DECODE, names.ROLE_BOTH)
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s)?\s*\Z")
_PERCENTILE = re.compile(r"p([0-9]{1,2}(?:\.[0-9]+)?)\Z")


def parse_duration(value: object) -> float:
    """``"50ms"``, ``"1s"``, ``0.5s`` or a bare number of milliseconds -> seconds (> 0).

    Raises:
        ValueError: not a positive, finite duration (pydantic reports it on the field).
    """
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"{value!r} is not a duration like 500ms or 0.5s")
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a duration like 500ms or 0.5s")
    number = float(match.group(1))
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"{value!r} is no limit: give a positive duration")
    return number if match.group(2) == "s" else number / 1000


def parse_percentile(key: str) -> float:
    """``"p90"`` -> 0.9, ``"p99.9"`` -> 0.999 (strictly between 0 and 100)."""
    match = _PERCENTILE.match(key)
    if match is None or not 0 < float(match.group(1)) < 100:
        raise ValueError(f"{key!r} is not a percentile like p50, p90 or p99.9")
    return float(match.group(1)) / 100


Duration = Annotated[
    float,
    BeforeValidator(parse_duration),
    # Written back as seconds with their unit, so a dumped config reads back the same (a bare
    # number reads as milliseconds).
    PlainSerializer(lambda seconds: f"{seconds!r}s", return_type=str, when_used="json"),
]


@dataclass(frozen=True, slots=True)
class SloTarget:
    """One SLO: the ``quantile`` of latency ``signal`` (canonical name) at most ``seconds``."""

    name: str  # as written: ttft_p90
    signal: str
    quantile: float
    seconds: float


class PdRatio(StrictModel):
    """A band for prefill replicas over decode replicas."""

    min: float = Field(gt=0, description="Fewest prefill replicas per decode replica.")
    max: float = Field(gt=0, description="Most prefill replicas per decode replica.")

    @model_validator(mode="after")
    def _ordered(self) -> PdRatio:
        if self.min > self.max:
            raise ValueError(f"pd_ratio: min {self.min:g} is above max {self.max:g}")
        return self


class RoleConfig(StrictModel):
    """How one role is sized."""

    kind: Literal["prefill", "decode", "both"] | None = Field(
        None,
        description="prefill, decode or both; by default the role's name when it is one of those.",
    )
    slo: dict[str, dict[str, Duration]] = Field(
        default_factory=dict,
        description=(
            "Latency SLOs: signal (ttft, itl, tpot, e2e, queue) -> percentile -> duration, "
            "e.g. {ttft: {p90: 1s}}."
        ),
    )
    min_replicas: int = Field(1, ge=0, description="Fewest replicas while there is traffic.")
    max_replicas: PositiveInt = Field(8, description="Most replicas.")
    max_step_up: PositiveInt = Field(4, description="Most replicas added by one decision.")
    max_step_down: PositiveInt = Field(1, description="Most replicas removed by one decision.")
    scale_up_stabilization_s: NonNegativeFloat = Field(
        0.0, description="Scale up to the lowest recommendation of this window (HPA: 0 s)."
    )
    scale_down_stabilization_s: NonNegativeFloat = Field(
        300.0, description="Scale down to the highest recommendation of this window (HPA: 300 s)."
    )
    tolerance: float = Field(
        0.1, ge=0, lt=1, description="SLO ratios within 1 +/- tolerance change nothing."
    )
    scale_down_margin: float = Field(
        0.8,
        gt=0,
        le=1,
        description=(
            "Scale down only when the fewer replicas, carrying the whole load, are predicted "
            "at or below this fraction of the SLO (and of the KV and queue limits)."
        ),
    )
    cold_start_s: NonNegativeFloat = Field(
        60.0, description="Seconds from asking for a replica to its being ready: forecast over it."
    )
    change_timeout_s: NonNegativeFloat = Field(
        900.0,
        description="Wait at most this long for a change in progress before the next one.",
    )
    gpus_per_replica: PositiveInt = Field(1, description="GPUs one replica holds.")
    kv_usage_limit: float | None = Field(
        0.8, gt=0, le=1, description="Decode: mean KV-cache usage above this scales up."
    )
    waiting_limit: NonNegativeFloat | None = Field(
        None, description="Decode: waiting requests per replica above this scale up."
    )
    queue_limit: NonNegativeFloat | None = Field(
        None, description="Prefill: waiting requests per replica above this scale up."
    )
    capacity: float | None = Field(
        None,
        gt=0,
        description=(
            "Per-replica capacity to start from (else learned): prompt tokens/s for prefill, "
            "generated tokens/s for decode and both."
        ),
    )
    scale_to_zero: bool = Field(
        False, description="No traffic for the scale-down window takes the role to 0 replicas."
    )

    @model_validator(mode="after")
    def _check(self) -> RoleConfig:
        if self.min_replicas > self.max_replicas:
            raise ValueError(
                f"min_replicas {self.min_replicas} is above max_replicas {self.max_replicas}"
            )
        for signal, percentiles in self.slo.items():
            if signal not in SLO_SIGNALS:
                raise ValueError(f"slo: {signal!r} is not one of {', '.join(SLO_SIGNALS)}")
            if not percentiles:
                raise ValueError(f"slo.{signal}: give a percentile, e.g. {{p90: 1s}}")
            for key in percentiles:
                parse_percentile(key)
        return self

    def targets(self) -> tuple[SloTarget, ...]:
        """The SLOs as targets, in the order written."""
        return tuple(
            SloTarget(slo_name(signal, key), SLO_SIGNALS[signal], parse_percentile(key), seconds)
            for signal, percentiles in self.slo.items()
            for key, seconds in percentiles.items()
        )


class AutoscalerConfig(StrictModel):
    """The autoscaler's policy configuration."""

    group: str | None = Field(
        None, description="The role group (RoleBasedGroup) to size; any group when unset."
    )
    roles: dict[str, RoleConfig] = Field(
        min_length=1, description="Each role to size, by its role label (prefill, decode, ...)."
    )
    gpu_budget: PositiveInt | None = Field(
        None, description="GPUs all roles together may hold, never exceeded even transiently."
    )
    pd_ratio: PdRatio | None = Field(
        None, description="Optional band for prefill replicas per decode replica."
    )
    max_observation_age_s: float = Field(
        60.0, gt=0, description="Observations older than this are stale: hold."
    )
    interval_s: float = Field(15.0, gt=0, description="Seconds between decisions.")
    forecaster: Literal["last", "holt"] = Field(
        "holt", description="Load forecaster: last value, or Holt's trend-following one."
    )

    @model_validator(mode="after")
    def _check(self) -> AutoscalerConfig:
        for name, role in self.roles.items():
            if role.kind is None and name not in ROLE_KINDS:
                raise ValueError(f"roles.{name}: give its kind (prefill, decode or both)")
        if self.gpu_budget is not None:
            floor = sum(r.min_replicas * r.gpus_per_replica for r in self.roles.values())
            if floor > self.gpu_budget:
                raise ValueError(
                    f"gpu_budget {self.gpu_budget} is below the {floor} GPUs the roles' "
                    "min_replicas hold"
                )
        if self.pd_ratio is not None:
            kinds = {self.kind(name) for name in self.roles}
            if not {names.ROLE_PREFILL, names.ROLE_DECODE} <= kinds:
                raise ValueError("pd_ratio needs a prefill and a decode role")
        return self

    def kind(self, role: str) -> str:
        """The role's kind: prefill, decode or both."""
        return self.roles[role].kind or role

    def quantiles(self) -> tuple[float, ...]:
        """Every quantile the roles' SLOs need, sorted (what a source must compute)."""
        return tuple(sorted({t.quantile for r in self.roles.values() for t in r.targets()}))


def load(path: str | Path) -> AutoscalerConfig:
    """The autoscaler config in a YAML file (raises ``ConfigError`` saying what to fix)."""
    return load_yaml(path, AutoscalerConfig, "autoscaler config")
