"""What the Kubernetes HPA that KEDA makes computes from our KEDA answer: pure arithmetic, no
I/O. It exists to state (and test) exactly when our desired replicas come out unchanged.

The chain, as the HPA controller runs it each sync period (15 s) for an ``External`` metric
with ``metricType: AverageValue`` (what our ScaledObjects use):

1. ``recommend``: usage ratio ``value / (target * current)``; inside the tolerance band
   ``[1 - down, 1 + up]`` (0.1 each by default) the HPA keeps ``current``, else it wants
   ``ceil(value / target)``. With target 1 that is our number.
2. ``stabilize``: the highest recommendation of the scale-down window (default 300 s) caps a
   decrease, the lowest of the scale-up window (default 0 s) caps an increase.
3. ``rate_limit``: the behavior's policies (default up: max(+4 pods, +100 %) per 15 s;
   down: -100 % per 15 s), then ``minReplicaCount``/``maxReplicaCount``.

**The tolerance hides small steps at 10 replicas or more**: from ``current`` >= 10, our
``current + 1`` or ``current - 1`` is a ratio within 0.9-1.1 and the HPA does nothing. No choice
of value or target avoids it (any ratio past 1.1 makes ``ceil(value / target)`` > 1.1 x current).
So for exact answers set, in the ScaledObject, ``EXACT_BEHAVIOR`` (``behavior_yaml``) under
``spec.advanced.horizontalPodAutoscalerConfig.behavior``:

* ``tolerance: 0`` for scale-up and scale-down (Kubernetes >= 1.33 with the feature gate
  ``HPAConfigurableTolerance``, KEP-4951); where the cluster lacks it, the controller-wide flag
  ``--horizontal-pod-autoscaler-tolerance=0`` of kube-controller-manager does the same for every
  HPA; where neither can be set, steps smaller than ``smallest_step`` are not carried out;
* ``stabilizationWindowSeconds: 0`` both ways (our policy stabilizes already; the HPA's 300 s
  down window would add to ours);
* policies that allow any step our policy takes (it limits its own steps).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True, slots=True)
class Tolerance:
    """The band around ratio 1 where the HPA does not act (``behavior.scaleUp.tolerance``,
    ``behavior.scaleDown.tolerance``; cluster default 0.1 each)."""

    up: float = 0.1
    down: float = 0.1

    def within(self, ratio: float) -> bool:
        return 1.0 - self.down <= ratio <= 1.0 + self.up


@dataclass(frozen=True, slots=True)
class ScalingPolicy:
    """One HPA scaling policy: at most ``value`` pods, or ``value`` percent of the replicas at
    the start of the period, per ``period_s``."""

    kind: Literal["Pods", "Percent"]
    value: int
    period_s: int = 15


@dataclass(frozen=True, slots=True)
class Rules:
    """``behavior.scaleUp`` or ``behavior.scaleDown`` (selectPolicy Max: the policy allowing
    the largest change wins)."""

    stabilization_s: int
    policies: tuple[ScalingPolicy, ...]
    tolerance: float = 0.1


@dataclass(frozen=True, slots=True)
class Behavior:
    """An HPA's ``behavior``; the defaults are Kubernetes' own."""

    up: Rules = field(
        default_factory=lambda: Rules(0, (ScalingPolicy("Percent", 100), ScalingPolicy("Pods", 4)))
    )
    down: Rules = field(default_factory=lambda: Rules(300, (ScalingPolicy("Percent", 100),)))

    @property
    def tolerance(self) -> Tolerance:
        return Tolerance(self.up.tolerance, self.down.tolerance)


DEFAULT_BEHAVIOR = Behavior()
# What our ScaledObjects set so the HPA carries out our number unchanged: no tolerance, no
# stabilization of its own, and rate policies wider than any step our policy takes (x11 up).
EXACT_BEHAVIOR = Behavior(
    up=Rules(0, (ScalingPolicy("Percent", 1000),), tolerance=0.0),
    down=Rules(0, (ScalingPolicy("Percent", 100),), tolerance=0.0),
)


def behavior_yaml(behavior: Behavior) -> dict[str, Any]:
    """``behavior`` as the HPA (and KEDA's ``advanced.horizontalPodAutoscalerConfig``) spell
    it; tolerances are Kubernetes quantities (strings)."""

    def rules(r: Rules) -> dict[str, Any]:
        return {
            "stabilizationWindowSeconds": r.stabilization_s,
            "selectPolicy": "Max",
            "policies": [
                {"type": p.kind, "value": p.value, "periodSeconds": p.period_s} for p in r.policies
            ],
            "tolerance": f"{r.tolerance:g}",
        }

    return {"scaleUp": rules(behavior.up), "scaleDown": rules(behavior.down)}


def recommend(value: float, target: float, current: int, tolerance: Tolerance) -> int:
    """The HPA's replica count for an ``AverageValue`` external metric of total ``value`` and
    per-pod ``target`` at ``current`` replicas (>= 1): unchanged inside the tolerance band
    (bounds included, as Kubernetes >= 1.33 compares), else ``ceil(value / target)``."""
    if current < 1 or target <= 0:
        raise ValueError(f"need current >= 1 and target > 0, got {current} and {target}")
    if tolerance.within(value / (target * current)):
        return current
    return math.ceil(value / target)


@dataclass(frozen=True, slots=True)
class Recommendation:
    """A past recommendation (before stabilization) and when it was made (seconds)."""

    at: float
    replicas: int


def stabilize(
    recommendation: int,
    current: int,
    past: Sequence[Recommendation],
    now: float,
    behavior: Behavior,
) -> int:
    """The stabilized recommendation: a decrease goes no lower than the highest
    recommendation of the scale-down window, an increase no higher than the lowest of the
    scale-up window (both windows include ``recommendation`` itself)."""
    up = down = recommendation
    for rec in past:
        if rec.at > now - behavior.up.stabilization_s:
            up = min(up, rec.replicas)
        if rec.at > now - behavior.down.stabilization_s:
            down = max(down, rec.replicas)
    return min(max(current, up), down)


def rate_limit(desired: int, current: int, behavior: Behavior) -> int:
    """``desired`` within the behavior's policies, taking the replicas at the start of each
    period as ``current`` (no other scale event in the period)."""
    if desired > current:
        limits = [
            current + p.value if p.kind == "Pods" else math.ceil(current * (1 + p.value / 100))
            for p in behavior.up.policies
        ]
        return min(desired, max(limits))
    if desired < current:
        floors = [
            current - p.value if p.kind == "Pods" else int(current * (1 - p.value / 100))
            for p in behavior.down.policies
        ]
        return max(desired, min(floors))
    return desired


def hpa_replicas(
    value: float,
    target: float,
    current: int,
    bounds: tuple[int, int],
    behavior: Behavior = DEFAULT_BEHAVIOR,
    past: Sequence[Recommendation] = (),
    now: float = 0.0,
) -> int:
    """The replicas the HPA sets for one sync: recommend, stabilize, rate-limit, then clamp
    to ``bounds`` (``minReplicaCount``, ``maxReplicaCount``)."""
    raw = recommend(value, target, current, behavior.tolerance)
    stable = stabilize(raw, current, past, now, behavior)
    low, high = bounds
    return max(low, min(high, rate_limit(stable, current, behavior)))


def smallest_step(current: int, tolerance: Tolerance) -> tuple[int, int]:
    """The smallest increase and decrease (in replicas, from ``current`` >= 1) that the HPA
    carries out with target 1; smaller steps are held by the tolerance."""
    up = next(n for n in range(current + 1, 2 * current + 3) if n / current > 1 + tolerance.up)
    downs = [n for n in range(current - 1, -1, -1) if n / current < 1 - tolerance.down]
    return up - current, current - downs[0] if downs else current
