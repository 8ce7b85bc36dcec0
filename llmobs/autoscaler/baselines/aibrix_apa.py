"""The ``aibrix-apa`` baseline: AIBrix's APA (``algorithm/apa.go``) with its published
defaults, one PodAutoscaler per role (StormService pooled mode), as an HPA-style policy.

Per metric, with ``N`` the role's current replicas and ``r = per-pod value / target``:
``r > 1 + upTol``: ``min(ceil(N*r), ceil(maxScaleUpRate*N))``; ``r < 1 - downTol``:
``max(ceil(N*r), floor(N/maxScaleDownRate))``; else ``N``; clamped to [min, max]. Several
metrics: the largest recommendation. Then AIBrix's stabilization
(``stabilizeRecommendation``): every recommendation is kept with its time; a recommendation
above ``N`` becomes the max of those newer than the scale-up cooldown (0 s: itself), one
below ``N`` the *min* of those newer than the scale-down cooldown (300 s), as AIBrix's code
does. Defaults (``context.go``): tolerances 0.1/0.1, rates 2/2, cooldowns 0 s/300 s, stable
window (``observeWindowSeconds``) 180 s.

Signals (AIBrix scrapes each pod and averages per collection, then over the window):
``kv_cache_usage`` is vLLM's ``kv_cache_usage_perc`` (``gpu_cache_usage_perc`` before), our
``RoleObservation.kv_cache_usage_ratio.mean`` (0..1); ``requests_waiting`` is vLLM's
``num_requests_waiting`` per pod that answered, our ``requests_waiting / replicas.up`` (the
sum is over the replicas up now, as ``collectFromPods`` averages the pods it fetched).
Defaults: prefill on the queue, target 10 per pod (AIBrix's pool sample:
``prefill_queue_length`` 10); decode on KV usage, target 0.5 (AIBrix's published experiment),
and the queue, 10. A metric without a sample in this collection gives no recommendation
(``collectFromPods`` errors when every pod fails, and ``computeReplicasForSingleMetric``
skips the metric before its window is read); with none, the role holds. A sample stays in
the window while its time is at least ``now - window`` (``TimeWindow.Record`` deletes the
buckets before the cutoff). ``interval_s`` is the controller's ``DefaultResyncInterval``,
10 s (``podautoscaler_controller.go``).

``N`` (``GetCurrentReplicasFromScale``; for a StormService role in pool mode
``getCurrentReplicasForRole``: the role status' ``Replicas``, every pod created, ready or
not) is the replicas the role's spec asks for: created pods are those asked for within
seconds, and a cold-starting pod counts in ``N`` but, not serving ``/metrics`` yet, not in
the average. This is why APA with its defaults runs to ``maxReplicas`` on a queue that grows
faster than one pod drains it (checked at aibrix ``e3e10f9``): vLLM's queue stays on the pod
it was sent to, so the per-pod queue stays above 2x its target for most of the 180 s window;
every 10 s resync then doubles ``N`` (up-cooldown 0 s), 1 to 64 in a minute, before the
first new pod is ready (30 s cold start). The scale-down then takes the smallest
recommendation of the last 300 s, which may predate the burst. That is the published
algorithm, not a bug of this port; ``tests/unit/autoscaler/test_baselines.py`` replays it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmobs.autoscaler.baselines.deployment import Deployment, desired, finite
from llmobs.autoscaler.model import Replicas
from llmobs.errors import ConfigError
from llmobs.observation import Observation, RoleObservation

KV_CACHE_USAGE = "kv_cache_usage"
REQUESTS_WAITING = "requests_waiting"
SIGNALS = (KV_CACHE_USAGE, REQUESTS_WAITING)


@dataclass(frozen=True, slots=True)
class ApaMetric:
    """One ``metricsSources`` entry: a per-pod signal and its ``targetValue``."""

    signal: str
    target: float

    def __post_init__(self) -> None:
        if self.signal not in SIGNALS:
            raise ConfigError(f"APA signal {self.signal!r} is not one of {', '.join(SIGNALS)}")
        if not (math.isfinite(self.target) and self.target > 0):
            raise ConfigError(f"APA target for {self.signal} must be > 0, got {self.target}")

    def read(self, item: RoleObservation) -> float | None:
        """The per-pod value of this signal in one observation (None: no data)."""
        if self.signal == KV_CACHE_USAGE:
            return finite(item.kv_cache_usage_ratio.mean)
        waiting = finite(item.requests_waiting)
        if waiting is None or item.replicas.up <= 0:
            return None
        return waiting / item.replicas.up


@dataclass(frozen=True, slots=True)
class ApaSettings:
    """AIBrix's annotations with their published defaults."""

    up_tolerance: float = 0.1
    down_tolerance: float = 0.1
    max_scale_up_rate: float = 2.0
    max_scale_down_rate: float = 2.0
    scale_up_cooldown_s: float = 0.0
    scale_down_cooldown_s: float = 300.0
    stable_window_s: float = 180.0
    interval_s: float = 10.0
    prefill_metrics: tuple[ApaMetric, ...] = (ApaMetric(REQUESTS_WAITING, 10.0),)
    decode_metrics: tuple[ApaMetric, ...] = (
        ApaMetric(KV_CACHE_USAGE, 0.5),
        ApaMetric(REQUESTS_WAITING, 10.0),
    )


def apa_replicas(current: int, ratio: float, settings: ApaSettings) -> int:
    """``computeTargetReplicas`` of ``apa.go`` (before the min/max clamp)."""
    if ratio > 1 + settings.up_tolerance:
        expected = math.ceil(current * ratio)
        return min(expected, math.ceil(settings.max_scale_up_rate * current))
    if ratio < 1 - settings.down_tolerance:
        expected = math.ceil(current * ratio)
        return max(expected, math.floor(current / settings.max_scale_down_rate))
    return current


@dataclass
class _Window:
    """Per-pod samples of one signal, one per collection, kept for the stable window."""

    samples: deque[tuple[float, float]] = field(default_factory=deque)

    def add(self, now: float, value: float, span: float) -> float:
        """``TimeWindow.Record`` then ``Avg``: the mean of the samples no older than ``span``."""
        self.samples.append((now, value))
        while self.samples and self.samples[0][0] < now - span:
            self.samples.popleft()
        return sum(v for _, v in self.samples) / len(self.samples)


@dataclass
class AibrixApaPolicy:
    """One APA PodAutoscaler per role; its state is the metric windows and the history of
    recommendations the cooldown windows choose from."""

    deployment: Deployment
    settings: ApaSettings = field(default_factory=ApaSettings)
    interval_s: float = field(init=False)
    name: str = "aibrix-apa"
    _windows: dict[tuple[str, str], _Window] = field(default_factory=dict, repr=False)
    _history: dict[str, list[tuple[float, int]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.interval_s = self.settings.interval_s

    def step(
        self, observation: Observation | None, replicas: Mapping[str, Replicas], now: float
    ) -> dict[str, int]:
        return {
            role: self._role(role, metrics, observation, desired(replicas, role), now)
            for role, metrics in (
                (self.deployment.prefill, self.settings.prefill_metrics),
                (self.deployment.decode, self.settings.decode_metrics),
            )
        }

    def _role(
        self,
        role: str,
        metrics: tuple[ApaMetric, ...],
        observation: Observation | None,
        current: int,
        now: float,
    ) -> int:
        low, high = self.deployment.min_replicas, self.deployment.max_replicas
        if current == 0 and low != 0:  # computeScaleDecision: "scaling disabled"
            return current
        if not low <= current <= high:  # its boundary checks, before any metric is read
            return min(max(current, low), high)
        item = self.deployment.find(observation, role)
        recommendations = []
        for metric in metrics:
            window = self._windows.setdefault((role, metric.signal), _Window())
            value = None if item is None else metric.read(item)
            if value is None:  # every pod's fetch failed: this metric is skipped
                continue
            average = window.add(now, value, self.settings.stable_window_s)
            wanted = apa_replicas(current, average / metric.target, self.settings)
            recommendations.append(self._bounded(wanted))
        if not recommendations:
            return current
        return self._stabilize(role, max(recommendations), current, now)

    def _bounded(self, replicas: int) -> int:
        return min(max(replicas, self.deployment.min_replicas), self.deployment.max_replicas)

    def _stabilize(self, role: str, recommendation: int, current: int, now: float) -> int:
        """``stabilizeRecommendation`` of AIBrix's PodAutoscaler controller."""
        up, down = self.settings.scale_up_cooldown_s, self.settings.scale_down_cooldown_s
        history = self._history.setdefault(role, [])
        history.append((now, recommendation))
        history[:] = [(t, r) for t, r in history if t > now - max(up, down)]
        if recommendation == current:
            return current
        span, pick = (up, max) if recommendation > current else (down, min)
        recent = [r for t, r in history if t > now - span]
        return pick(recent) if recent else recommendation
