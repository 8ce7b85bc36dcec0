"""Per-replica capacity, learned online from what is observed, or seeded from a sweep.

Capacity is the load one ready replica carries within its SLO: prompt tokens/s for a
prefill replica (within its TTFT SLO), generated tokens/s for a decode replica (within its
TPOT/ITL SLO). Each observation with traffic gives a bound: a window whose SLOs were met
proves the replica sustained its load (``sustained``, the highest such load); a window in
breach shows the load it could not carry (``breached``, the lowest such load). The estimate
is the seed (config or sweep) kept between those bounds, or the bound seen when there is no
seed. When a new bound contradicts the other (the workload changed: longer prompts), the
older bound is dropped. Pure: values in, values out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from llmobs.autoscaler.config import SloTarget


@dataclass(frozen=True, slots=True)
class Capacity:
    """What is known of one role's per-replica capacity."""

    seed: float | None = None
    sustained: float | None = None
    breached: float | None = None

    @property
    def estimate(self) -> float | None:
        """The best estimate (None when nothing is known)."""
        value = self.seed if self.seed is not None else self.sustained
        if value is None:
            return self.breached
        if self.sustained is not None:
            value = max(value, self.sustained)
        if self.breached is not None:
            value = min(value, self.breached)
        return value

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
        sustained: float | None = max(capacity.sustained or 0.0, per_replica_load)
        breached = capacity.breached
        if breached is not None and sustained is not None and breached <= sustained:
            breached = None
        return replace(capacity, sustained=sustained, breached=breached)
    if slo_ratio > 1.0 + tolerance:
        breached = min(capacity.breached or per_replica_load, per_replica_load)
        sustained = capacity.sustained
        if sustained is not None and sustained >= breached:
            sustained = None
        return replace(capacity, sustained=sustained, breached=breached)
    return capacity


# Seeding from llmbench sweep.json ------------------------------------------------------------


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _meets(point: Mapping[str, Any], targets: tuple[SloTarget, ...], signals: set[str]) -> bool:
    """Whether a sweep point met every target on ``signals``: the sweep records p50 and p99
    in ms; a percentile above 50 is checked against p99 (conservative), else p50."""
    for target in targets:
        if target.signal not in signals:
            continue
        base = target.signal.removesuffix("_seconds")
        key = f"{base}_{'p99' if target.quantile > 0.5 else 'p50'}"
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
            and _meets(point, targets, {"ttft_seconds"})
        ):
            prefill = max(prefill or 0.0, requests * prompt_tokens)
        if output is not None and _meets(point, targets, {"tpot_seconds", "itl_seconds"}):
            decode = max(decode or 0.0, output)
    return (prefill or None, decode or None)
