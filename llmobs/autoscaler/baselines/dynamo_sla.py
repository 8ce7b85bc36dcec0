"""The ``dynamo-sla`` baseline: Dynamo's v1 SLA planner (``planner_core.py``) as published.

Every ``adjustment_interval`` (180 s) it observes the interval's averages and sizes both
roles from the pre-deployment profile, corrected by what it observes:
``p_correction = ttft / ttft_profile(isl)``; ``concurrency = num_req / decode_workers *
request_duration / interval`` (Little's law); ``d_correction = itl / itl_profile(concurrency,
isl + osl/2)``; ``P = ceil(num_req * isl / interval * min(1, p_correction) /
thpt_per_gpu(isl) / p_gpus)``; ``D = ceil(num_req * osl / interval / best_thpt_per_gpu(itl_target
/ d_correction, isl + osl/2) / d_gpus)`` (the target itself when ``d_correction <= 0``); both
at least ``min_endpoint``; over the GPU budget both shrink by ``budget / total`` (Python's
``round``), keeping ``min_endpoint``. If any of TTFT, ITL, ISL, OSL is missing (NaN: no
request in the interval) it skips the interval and changes nothing, as published: it stays
where it is when traffic stops (ai-dynamo/dynamo#6985).

Signals (Dynamo reads its frontend's averages over the interval from Prometheus): TTFT is
the prefill role's ``latency.ttft_seconds.mean``, ITL the decode role's
``latency.itl_seconds.mean``, request duration the decode role's ``e2e_seconds.mean``,
ISL ``prompt_tokens_rate / request_rate`` of the prefill role, OSL
``generation_tokens_rate / request_rate`` of the decode role, ``num_req`` the prefill
role's ``request_rate * interval``; decode workers are the ready decode replicas (with none
it skips: Dynamo would divide by zero). The simulator should hand it an observation whose
window is the adjustment interval. Predictor: Dynamo's default is ``arima``
(pmdarima); we run ``constant`` (last value), Dynamo's own alternative and ARIMA's answer
below 5 points and on constant series; we do not depend on pmdarima. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from llmobs.autoscaler.baselines.deployment import (
    Deployment,
    finite,
    hold,
    per_request,
    ready,
)
from llmobs.autoscaler.baselines.dynamo_profile import (
    ConstantPredictor,
    DecodeProfile,
    PrefillProfile,
)
from llmobs.autoscaler.model import Replicas
from llmobs.observation import Latency, Observation

DEFAULT_GPU_BUDGET = 8  # Dynamo's max_gpu_budget, used when the deployment names none


@dataclass(frozen=True, slots=True)
class SlaSettings:
    """Dynamo's v1 defaults: ``adjustment_interval`` 180 s, ITL target 50 ms, corrections on
    (``--no-correction`` turns them off). The TTFT target is not in v1's formula."""

    itl_target_s: float = 0.05
    adjustment_interval_s: float = 180.0
    correction: bool = True


@dataclass(frozen=True, slots=True)
class Load:
    """The predicted next interval: requests in it, mean ISL and OSL (tokens)."""

    num_req: float
    isl: float
    osl: float


def budget_fit(p: int, d: int, deployment: Deployment) -> tuple[int, int]:
    """Floors, then the GPU budget exactly as v1 (Python's ``round``: halves to even)."""
    floor = deployment.min_replicas
    budget = deployment.gpu_budget if deployment.gpu_budget is not None else DEFAULT_GPU_BUDGET
    p_gpu, d_gpu = deployment.prefill_gpus, deployment.decode_gpus
    p, d = max(p, floor), max(d, floor)
    total = p * p_gpu + d * d_gpu
    if total > budget:
        scale = budget / total
        p = max(floor, round(p * scale))
        d = max(floor, round((budget - p * p_gpu) / d_gpu))
    return p, d


def replicas_for(
    load: Load,
    p_correction: float,
    d_correction: float,
    prefill: PrefillProfile,
    decode: DecodeProfile,
    settings: SlaSettings,
    deployment: Deployment,
) -> tuple[int, int]:
    """``_compute_replica_requirements``: (prefill, decode) replicas for ``load``."""
    interval = settings.adjustment_interval_s
    prefill_tps = load.num_req * load.isl / interval * min(1.0, p_correction)
    p = math.ceil(prefill_tps / prefill.throughput_per_gpu(load.isl) / deployment.prefill_gpus)
    itl = settings.itl_target_s if d_correction <= 0 else settings.itl_target_s / d_correction
    per_gpu = decode.best_throughput_per_gpu(itl, load.isl + load.osl / 2)
    decode_tps = load.num_req * load.osl / interval
    d = math.ceil(decode_tps / per_gpu / deployment.decode_gpus)
    return budget_fit(p, d, deployment)


def _mean(latency: Latency | None) -> float | None:
    return None if latency is None else finite(latency.mean)


@dataclass
class DynamoSlaPolicy:
    """The v1 SLA planner over both roles; its state is the three load predictors."""

    deployment: Deployment
    prefill_profile: PrefillProfile
    decode_profile: DecodeProfile
    settings: SlaSettings = field(default_factory=SlaSettings)
    interval_s: float = field(init=False)
    name: str = "dynamo-sla"
    _num_req: ConstantPredictor = field(default_factory=ConstantPredictor, repr=False)
    _isl: ConstantPredictor = field(default_factory=ConstantPredictor, repr=False)
    _osl: ConstantPredictor = field(default_factory=ConstantPredictor, repr=False)

    def __post_init__(self) -> None:
        self.interval_s = self.settings.adjustment_interval_s

    def step(
        self, observation: Observation | None, replicas: Mapping[str, Replicas], now: float
    ) -> dict[str, int]:
        p_item = self.deployment.find(observation, self.deployment.prefill)
        d_item = self.deployment.find(observation, self.deployment.decode)
        if p_item is None or d_item is None:  # Prometheus answered nothing: no metrics
            return hold(self.deployment, replicas)
        ttft, itl = _mean(p_item.latency.ttft_seconds), _mean(d_item.latency.itl_seconds)
        duration = _mean(d_item.latency.e2e_seconds)
        isl = per_request(p_item.prompt_tokens_rate, p_item.request_rate)
        osl = per_request(d_item.generation_tokens_rate, d_item.request_rate)
        rate = finite(p_item.request_rate)
        num_req = None if rate is None else rate * self.settings.adjustment_interval_s
        self._num_req.add(num_req)
        self._isl.add(isl)
        self._osl.add(osl)
        if ttft is None or itl is None or isl is None or osl is None:
            return hold(self.deployment, replicas)  # v1's NaN skip
        p_corr, d_corr = 1.0, 1.0
        if self.settings.correction:
            workers = ready(replicas, self.deployment.decode)
            if workers <= 0 or duration is None or num_req is None:
                return hold(self.deployment, replicas)
            p_corr = ttft / self.prefill_profile.ttft_s(isl)
            concurrency = num_req / workers * duration / self.settings.adjustment_interval_s
            d_corr = itl / self.decode_profile.itl_s(concurrency, isl + osl / 2)
        load = Load(self._num_req.predict(), self._isl.predict(), self._osl.predict())
        p, d = replicas_for(
            load,
            p_corr,
            d_corr,
            self.prefill_profile,
            self.decode_profile,
            self.settings,
            self.deployment,
        )
        return {self.deployment.prefill: p, self.deployment.decode: d}
