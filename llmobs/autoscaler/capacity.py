"""Per-replica capacity, learned online from what is observed, or seeded from a sweep.

Capacity is the load one ready replica carries within its SLO: prompt tokens/s for a
prefill replica (within its TTFT SLO), generated tokens/s for a decode replica (within its
TPOT/ITL SLO). Each observation with traffic gives a bound: a window whose SLOs were met
proves the replica sustained its load (``sustained``, the highest such load); a window in
breach shows the load it could not carry (``breached``, the lowest such load), each kept
with its SLO ratio. The estimate is the seed (config or sweep) kept between those bounds;
with no seed, where the line between the bounds reaches ratio 1, or the one bound seen.
When a new bound contradicts the other (the workload changed: longer prompts), the older
bound is dropped. Pure: values in, values out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from llmobs import names, signals
from llmobs.autoscaler.config import SLO_SIGNALS, AutoscalerConfig, SloTarget, slo_name

# A canonical latency signal -> its name in an SLO and in a sweep's keys (ttft_seconds -> ttft).
_WRITTEN = {canonical: written for written, canonical in SLO_SIGNALS.items()}


@dataclass(frozen=True, slots=True)
class Capacity:
    """What is known of one role's per-replica capacity: the seed, and the bounds seen with
    the SLO ratio (observed / target) each was seen at."""

    seed: float | None = None
    sustained: float | None = None
    breached: float | None = None
    sustained_ratio: float = 1.0
    breached_ratio: float = 1.0

    @property
    def estimate(self) -> float | None:
        """The best estimate (None when nothing is known): the seed kept within the bounds;
        with no seed and both bounds, where the line between them reaches ratio 1 (latency
        grows faster than linearly with load, so that line errs on the side of less)."""
        low, high = self.sustained, self.breached
        if self.seed is not None:
            value = self.seed if low is None else max(self.seed, low)
            return value if high is None else min(value, high)
        if low is None or high is None:
            return low if high is None else high
        rise = self.breached_ratio - self.sustained_ratio
        if rise <= 0:
            return low
        return low + (high - low) * min(max((1.0 - self.sustained_ratio) / rise, 0.0), 1.0)

    @property
    def known(self) -> bool:
        """Whether the estimate bounds the capacity from above (a seed or a breach seen): only
        then may it justify removing replicas; a load merely sustained is a lower bound."""
        return self.seed is not None or self.breached is not None


def learn(
    capacity: Capacity, per_replica_load: float | None, slo_ratio: float | None, tolerance: float
) -> Capacity:
    """``capacity`` after a window where each ready replica carried ``per_replica_load`` at
    SLO ratio ``slo_ratio`` (observed / target, the worst SLO). Nothing is learned without
    load or a ratio, or from a ratio inside the tolerance band above 1."""
    if per_replica_load is None or slo_ratio is None or per_replica_load <= 0:
        return capacity
    if slo_ratio <= 1.0:
        if capacity.sustained is not None and capacity.sustained >= per_replica_load:
            return capacity
        out = replace(capacity, sustained=per_replica_load, sustained_ratio=slo_ratio)
        if capacity.breached is not None and capacity.breached <= per_replica_load:
            out = replace(out, breached=None, breached_ratio=1.0)
        return out
    if slo_ratio > 1.0 + tolerance:
        if capacity.breached is not None and capacity.breached <= per_replica_load:
            return capacity
        out = replace(capacity, breached=per_replica_load, breached_ratio=slo_ratio)
        if capacity.sustained is not None and capacity.sustained >= per_replica_load:
            out = replace(out, sustained=None, sustained_ratio=1.0)
        return out
    return capacity


# Seeding from llmbench sweep.json ------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _meets(point: Mapping[str, Any], targets: tuple[SloTarget, ...], on: set[str]) -> bool:
    """Whether a sweep point met every target on the signals ``on``: the sweep records p50
    and p99 in ms (``ttft_p99``, as an SLO is named); a percentile above 50 is checked against
    p99 (conservative), else p50."""
    for target in targets:
        if target.signal not in on:
            continue
        key = slo_name(_WRITTEN[target.signal], "p99" if target.quantile > 0.5 else "p50")
        value = _number(point.get(key))
        if value is None or value / 1000 > target.seconds:
            return False
    return True


def _usable(point: object) -> bool:
    return (
        isinstance(point, Mapping)
        and not point.get("error")
        and not point.get("saturated")
        and point.get("complete") is not False
    )


def from_sweep(
    document: Mapping[str, Any],
    targets: tuple[SloTarget, ...],
    prompt_tokens: float | None = None,
) -> tuple[float | None, float | None]:
    """Seeds from an ``llmbench sweep`` document measured on one replica: ``(prefill prompt
    tokens/s, decode generated tokens/s)``, each at the heaviest point that met the
    targets on its signals (TTFT for prefill; TPOT and ITL for decode). Prefill needs the
    sweep's prompt length, which sweep.json does not record (None: no prefill seed).
    Saturated, failed and incomplete points are never used."""
    points = [p for p in document.get("points") or [] if _usable(p)]
    prefill: float | None = None
    decode: float | None = None
    for point in points:
        requests = _number(point.get("request_throughput"))
        output = _number(point.get("output_throughput"))
        if (
            prompt_tokens is not None
            and requests is not None
            and _meets(point, targets, {signals.TTFT.name})
        ):
            prefill = max(prefill or 0.0, requests * prompt_tokens)
        if output is not None and _meets(point, targets, {signals.TPOT.name, signals.ITL.name}):
            decode = max(decode or 0.0, output)
    return (prefill or None, decode or None)


def seeded(
    config: AutoscalerConfig, document: Mapping[str, Any], prompt_tokens: float | None = None
) -> AutoscalerConfig:
    """``config`` with each role's ``capacity`` seeded from an ``llmbench sweep`` document
    (a role that sets its own keeps it; one the sweep cannot seed stays unseeded)."""
    roles = {}
    for name, role in config.roles.items():
        prefill, decode = from_sweep(document, role.targets(), prompt_tokens)
        seed = prefill if config.kind(name) == names.ROLE_PREFILL else decode
        keep = role.capacity is not None or seed is None
        roles[name] = role if keep else role.model_copy(update={"capacity": seed})
    return config.model_copy(update={"roles": roles})
