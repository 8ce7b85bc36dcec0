"""The policies ``llmobs simulate`` compares ours against, each its published algorithm with
its published defaults: ``static`` (a fixed xPyD), ``aibrix-apa``, ``dynamo-sla`` (Dynamo's v1
SLA planner) and ``dynamo-load`` (Dynamo's load-based planner). ``BASELINES`` maps each name
to a factory that builds it from one ``BaselineSetup``. Pure: no I/O, nothing at import.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from llmobs.autoscaler.baselines.aibrix_apa import AibrixApaPolicy
from llmobs.autoscaler.baselines.deployment import Deployment
from llmobs.autoscaler.baselines.dynamo_load import DynamoLoadPolicy, LoadSettings
from llmobs.autoscaler.baselines.dynamo_profile import DecodeProfile, PrefillProfile, StepTimes
from llmobs.autoscaler.baselines.dynamo_sla import DynamoSlaPolicy, SlaSettings
from llmobs.autoscaler.baselines.static import StaticPolicy
from llmobs.autoscaler.model import Policy
from llmobs.errors import ConfigError


@dataclass(frozen=True, slots=True)
class BaselineSetup:
    """Everything a baseline may need; each factory takes what its algorithm uses.

    ``ttft_target_s``/``itl_target_s``: the SLOs a user would give Dynamo's planners (None:
    Dynamo's defaults, 0.5 s and 0.05 s). ``static``: the (x, y) of the fixed xPyD.
    ``prefill_profile``/``decode_profile``: the SLA planner's pre-deployment profile;
    ``step_times``: the load planner's per-step model (both from ``llmobs.sim.perf``).
    """

    deployment: Deployment
    ttft_target_s: float | None = None
    itl_target_s: float | None = None
    static: tuple[int, int] | None = None
    prefill_profile: PrefillProfile | None = None
    decode_profile: DecodeProfile | None = None
    step_times: StepTimes | None = None


def _static(setup: BaselineSetup) -> Policy:
    if setup.static is None:
        raise ConfigError("the static baseline needs its xPyD (static=(x, y))")
    return StaticPolicy(setup.deployment, *setup.static)


def _aibrix_apa(setup: BaselineSetup) -> Policy:
    return AibrixApaPolicy(setup.deployment)


def _dynamo_sla(setup: BaselineSetup) -> Policy:
    if setup.prefill_profile is None or setup.decode_profile is None:
        raise ConfigError("dynamo-sla needs the prefill and decode profiles")
    settings = SlaSettings()
    if setup.itl_target_s is not None:
        settings = replace(settings, itl_target_s=setup.itl_target_s)
    return DynamoSlaPolicy(setup.deployment, setup.prefill_profile, setup.decode_profile, settings)


def _dynamo_load(setup: BaselineSetup) -> Policy:
    if setup.step_times is None:
        raise ConfigError("dynamo-load needs the step-time model (step_times)")
    settings = LoadSettings()
    if setup.ttft_target_s is not None:
        settings = replace(settings, ttft_target_s=setup.ttft_target_s)
    if setup.itl_target_s is not None:
        settings = replace(settings, itl_target_s=setup.itl_target_s)
    return DynamoLoadPolicy(setup.deployment, setup.step_times, settings)


BASELINES: Mapping[str, Callable[[BaselineSetup], Policy]] = {
    "static": _static,
    "aibrix-apa": _aibrix_apa,
    "dynamo-sla": _dynamo_sla,
    "dynamo-load": _dynamo_load,
}


def build(name: str, setup: BaselineSetup) -> Policy:
    """The baseline called ``name`` (raises ``ConfigError`` naming the known ones)."""
    factory = BASELINES.get(name)
    if factory is None:
        raise ConfigError(f"unknown baseline {name!r}; known: {', '.join(BASELINES)}")
    return factory(setup)


__all__ = [
    "BASELINES",
    "BaselineSetup",
    "DecodeProfile",
    "Deployment",
    "PrefillProfile",
    "StepTimes",
    "build",
]
