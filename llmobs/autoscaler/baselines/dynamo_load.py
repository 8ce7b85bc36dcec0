"""The ``dynamo-load`` baseline: Dynamo's load-based planner in SLA mode
(``core/load_scaling.py``, disagg), every 5 s, each role +1, -1 or unchanged.

Per engine it estimates the next request's latency from its state: prefill TTFT is the
queued prefill tokens plus one average prompt, chunked by ``max_num_batched_tokens``, each
chunk a prefill step; decode ITL is one step over the running sequences plus one, on their
KV plus the queued KV plus one average sequence. Up by 1 when *every* engine's estimate is
over the SLA. Down by 1 (to no fewer than ``min_endpoint``) only when the consolidation check
passes on every engine, with ``s = sensitivity / 100`` (0.8) and the load of N engines moved
onto N-1: prefill ``ttft(queued * N/(N-1)) - T_own < (TTFT_SLA - T_own) * s`` with
``T_own = ttft(queue 0)`` (never when ``T_own`` alone is over the SLA); decode
``(sched_kv + queued_kv) * N/(N-1) < max_kv_tokens`` and ``itl(that kv) < ITL_SLA * s``.
A role whose change is in progress (desired != ready) is only observed; engines reporting
!= ready workers (a worker-count mismatch) or no role data at all: nothing changes.
GPU budget (when the deployment has one): a leg that grows past it is held at its current
size, never reversed (``fit_directional_budget_pair``).

Signals: our observation is per role, not per engine, so each engine is the role's mean
(requests spread evenly): queued prefill tokens = ``requests_waiting / scraped * ISL``;
decode scheduled KV = ``kv_cache_usage_ratio.mean * max_kv_tokens``, queued KV =
``requests_waiting / scraped * ISL``, running = ``requests_running / scraped``. ISL and
OSL are running means kept from the last window with traffic (Dynamo's regressions keep
``avg_isl``); an average decode sequence holds ``ISL + OSL/2`` tokens. The step-time model
is injected (``StepTimes``): Dynamo fits it online from ForwardPassMetrics; the simulator
gives the emulator's exact one. No KV-hit-rate discount (our ratio is per role). Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from llmobs.autoscaler.baselines.deployment import (
    Deployment,
    desired,
    finite,
    hold,
    per_replica,
    per_request,
    ready,
)
from llmobs.autoscaler.baselines.dynamo_profile import StepTimes
from llmobs.autoscaler.model import Replicas
from llmobs.observation import Observation, RoleObservation


@dataclass(frozen=True, slots=True)
class LoadSettings:
    """Dynamo's defaults: 5 s ``load_adjustment_interval``, down sensitivity 80, and the
    planner's SLA targets (TTFT 500 ms, ITL 50 ms)."""

    ttft_target_s: float = 0.5
    itl_target_s: float = 0.05
    interval_s: float = 5.0
    down_sensitivity: float = 80.0


def prefill_decision(
    workers: int, queued: float, isl: float, model: StepTimes, settings: LoadSettings, floor: int
) -> int | None:
    """``_prefill_load_decision`` for engines that each hold ``queued`` prompt tokens: the
    new count, or None for no change."""
    if workers <= 0:
        return None
    sensitivity = settings.down_sensitivity / 100.0
    can_down = workers > 1
    if can_down:
        consolidation = workers / (workers - 1)
        t_own = model.ttft_s(0.0, isl)
        budget = (settings.ttft_target_s - t_own) * sensitivity
        post = model.ttft_s(float(int(queued * consolidation)), isl)
        can_down = budget > 0 and post - t_own < budget
    return _scale(model.ttft_s(queued, isl), settings.ttft_target_s, workers, can_down, floor)


def decode_decision(
    workers: int,
    running: float,
    kv_tokens: float,
    decode_len: float,
    model: StepTimes,
    settings: LoadSettings,
    floor: int,
) -> int | None:
    """``_decode_load_decision`` for engines that each run ``running`` sequences holding
    ``kv_tokens`` (scheduled plus queued): the new count, or None for no change."""
    if workers <= 0:
        return None
    sensitivity = settings.down_sensitivity / 100.0
    can_down = workers > 1
    if can_down:
        post = float(int(kv_tokens * workers / (workers - 1)))
        post_itl = model.itl_s(running, post, decode_len)
        can_down = post < model.max_kv_tokens and post_itl < settings.itl_target_s * sensitivity
    estimate = model.itl_s(running, kv_tokens, decode_len)
    return _scale(estimate, settings.itl_target_s, workers, can_down, floor)


def _scale(estimate: float, sla: float, workers: int, can_down: bool, floor: int) -> int | None:
    """``_scale_decision``: up when over the SLA (every engine: here, the mean one)."""
    if estimate > sla:
        return workers + 1
    if workers > 1 and can_down:
        return max(workers - 1, floor)
    return None


@dataclass
class DynamoLoadPolicy:
    """The load planner over both roles; remembers the last ISL and OSL it saw."""

    deployment: Deployment
    model: StepTimes
    settings: LoadSettings = field(default_factory=LoadSettings)
    interval_s: float = field(init=False)
    name: str = "dynamo-load"
    _isl: float | None = field(default=None, repr=False)
    _osl: float | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.interval_s = self.settings.interval_s

    def step(
        self, observation: Observation | None, replicas: Mapping[str, Replicas], now: float
    ) -> dict[str, int]:
        dep = self.deployment
        p_item, d_item = dep.find(observation, dep.prefill), dep.find(observation, dep.decode)
        if p_item is not None:
            isl = per_request(p_item.prompt_tokens_rate, p_item.request_rate)
            self._isl = self._isl if isl is None else isl
        if d_item is not None:
            osl = per_request(d_item.generation_tokens_rate, d_item.request_rate)
            self._osl = self._osl if osl is None else osl
        if p_item is None and d_item is None:
            return hold(dep, replicas)  # no forward-pass metrics at all
        for role, item in ((dep.prefill, p_item), (dep.decode, d_item)):
            if item is not None and item.replicas.scraped != ready(replicas, role):
                return hold(dep, replicas)  # worker-count mismatch
        p = self._prefill(p_item, replicas)
        d = self._decode(d_item, replicas)
        final = {
            dep.prefill: max(desired(replicas, dep.prefill) if p is None else p, dep.min_replicas),
            dep.decode: max(desired(replicas, dep.decode) if d is None else d, dep.min_replicas),
        }
        return self._budget(final, replicas)

    def _in_progress(self, replicas: Mapping[str, Replicas], role: str) -> bool:
        return desired(replicas, role) != ready(replicas, role)

    def _prefill(
        self, item: RoleObservation | None, replicas: Mapping[str, Replicas]
    ) -> int | None:
        role = self.deployment.prefill
        if item is None or self._isl is None or self._in_progress(replicas, role):
            return None
        waiting = per_replica(item.requests_waiting, item)
        if waiting is None:
            return None
        return prefill_decision(
            ready(replicas, role),
            waiting * self._isl,
            self._isl,
            self.model,
            self.settings,
            self.deployment.min_replicas,
        )

    def _decode(self, item: RoleObservation | None, replicas: Mapping[str, Replicas]) -> int | None:
        role = self.deployment.decode
        if item is None or self._isl is None or self._in_progress(replicas, role):
            return None
        usage = finite(item.kv_cache_usage_ratio.mean)
        waiting = per_replica(item.requests_waiting, item)
        running = per_replica(item.requests_running, item)
        if usage is None or waiting is None or running is None:
            return None
        kv = usage * self.model.max_kv_tokens + waiting * self._isl
        return decode_decision(
            ready(replicas, role),
            running,
            kv,
            self._isl + (self._osl or 0.0) / 2,
            self.model,
            self.settings,
            self.deployment.min_replicas,
        )

    def _budget(self, final: dict[str, int], replicas: Mapping[str, Replicas]) -> dict[str, int]:
        budget = self.deployment.gpu_budget
        if budget is None:
            return final
        gpus = sum(n * self.deployment.gpus(role) for role, n in final.items())
        if gpus <= budget:
            return final
        return {role: min(n, desired(replicas, role)) for role, n in final.items()}  # no growth
