"""The policies ``llmobs simulate`` can run, by name, and what their factories are told.

A policy module offers ``REGISTRY: Mapping[str, Callable[[Scenario], Policy]]``:
``llmobs.autoscaler.baselines`` (the planners users would pick instead) and
``llmobs.autoscaler.policy`` (ours) are read when present. The baselines' own table
(``BASELINES``, factories of a ``BaselineSetup``) is adapted here: their deployment, targets
and Dynamo's profiles drawn from the scenario's engine (``perf_profiles``), and ``static``'s
xPyD searched in hindsight over the scenario's workload (``hindsight``), starting there.
One policy is built in: ``fixed`` holds the replicas the run starts with, and ``fixed:2P2D``
holds 2 prefill and 2 decode replicas from the start (Dynamo's planner benchmark compares
against a fixed 2P2D). Modules
are imported when a list is asked for, never for ``--help``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmobs.autoscaler.model import Policy, Replicas
from llmobs.bench.metrics import Slo
from llmobs.errors import ConfigError
from llmobs.observation import Observation
from llmobs.sim.virtual import VirtualRequest

if TYPE_CHECKING:
    from llmobs.autoscaler.simulate import Setup

POLICY_MODULES = ("llmobs.autoscaler.baselines", "llmobs.autoscaler.policy")
FIXED = "fixed"


def _default_setup() -> Setup:
    from llmobs.autoscaler.simulate import Setup  # the engine: not for --help

    return Setup()


@dataclass(frozen=True)
class Scenario:
    """What a policy's factory may know before the run: the SLO, the simulated deployment
    (the replicas it starts from, its GPUs, cold start and limits: ``setup``) and the workload
    itself (for a policy chosen in hindsight)."""

    slo: Slo
    requests: Sequence[VirtualRequest] = field(repr=False)
    setup: Setup = field(default_factory=_default_setup)
    seed: int = 0
    ttft_per_1k: float | None = None  # the TTFT limit grows this much per 1,000 prompt tokens

    @property
    def start(self) -> Mapping[str, int]:
        """Replicas per role at t = 0."""
        return self.setup.start

    @property
    def gpus_per_replica(self) -> int:
        return self.setup.tp

    @property
    def cold_start_s(self) -> float:
        return self.setup.cold_start_s

    @property
    def max_replicas(self) -> int:
        """Per role: the cluster refuses more."""
        return self.setup.max_replicas


PolicyFactory = Callable[[Scenario], Policy]


@dataclass
class FixedPolicy:
    """Always the same replicas; ``start`` makes the run begin there (no cold start)."""

    name: str
    counts: dict[str, int]
    interval_s: float = 60.0

    @property
    def start(self) -> dict[str, int]:
        return dict(self.counts)

    def step(
        self, observation: Observation | None, replicas: Mapping[str, Replicas], now: float
    ) -> dict[str, int]:
        return dict(self.counts)


def _fixed(name: str, spec: str, scenario: Scenario) -> FixedPolicy:
    if not spec:
        return FixedPolicy(name, dict(scenario.start))
    from llmobs.sim.cluster import parse_pd

    try:
        return FixedPolicy(name, parse_pd(spec))
    except ConfigError:
        raise ConfigError(f"policy {name!r}: expected fixed:xPyD, for example fixed:2P2D") from None


class StartsAt:
    """``policy``, with the run starting at ``start`` (a fixed deployment has no cold start)."""

    def __init__(self, policy: Policy, start: dict[str, int]) -> None:
        self.policy = policy
        self.start = start
        self.name = policy.name
        self.interval_s = policy.interval_s

    def step(
        self, observation: Observation | None, replicas: Mapping[str, Replicas], now: float
    ) -> dict[str, int]:
        return self.policy.step(observation, replicas, now)


def baseline(name: str, scenario: Scenario) -> Policy:
    """The baseline ``name`` of ``llmobs.autoscaler.baselines`` for ``scenario``."""
    from llmobs.autoscaler import baselines
    from llmobs.autoscaler.baselines.perf_profiles import dynamo_profiles, engine_shape
    from llmobs.autoscaler.hindsight import cheapest_fixed

    setup = scenario.setup
    resolved = setup.resolved()
    engine = engine_shape(resolved, setup.tp)
    prefill, decode, steps = dynamo_profiles(resolved.perf, engine)
    static = cheapest_fixed(scenario, setup) if name == "static" else None
    policy = baselines.build(
        name,
        baselines.BaselineSetup(
            deployment=baselines.Deployment(
                prefill_gpus=setup.tp,
                decode_gpus=setup.tp,
                max_replicas=scenario.max_replicas,
                gpu_budget=setup.gpu_budget,
            ),
            ttft_target_s=scenario.slo.ttft,
            itl_target_s=scenario.slo.tpot,
            static=static,
            prefill_profile=prefill,
            decode_profile=decode,
            step_times=steps,
        ),
    )
    if static is None:
        return policy
    return StartsAt(policy, {"prefill": static[0], "decode": static[1]})


def _adapted(module: object) -> dict[str, PolicyFactory]:
    def factory(name: str) -> PolicyFactory:
        return lambda scenario: baseline(name, scenario)

    return {name: factory(name) for name in getattr(module, "BASELINES", {})}


def registered() -> dict[str, PolicyFactory]:
    """Every policy name known now: ``fixed`` and each module's ``REGISTRY``."""
    found: dict[str, PolicyFactory] = {FIXED: lambda s: _fixed(FIXED, "", s)}
    for module_name in POLICY_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # not written (yet): nothing registered there
            raise
        found.update(getattr(module, "REGISTRY", None) or _adapted(module))
    return found


def build(name: str, scenario: Scenario, known: Mapping[str, PolicyFactory]) -> Policy:
    """The policy ``name`` (``fixed:xPyD`` included) for ``scenario``."""
    base, _, spec = name.partition(":")
    if base == FIXED:
        return _fixed(name, spec, scenario)
    if name not in known:
        raise ConfigError(f"unknown policy {name!r}; known: {', '.join(sorted(known))}, fixed:xPyD")
    return known[name](scenario)
