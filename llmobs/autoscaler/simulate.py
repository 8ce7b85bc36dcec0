"""``llmobs simulate``'s engine: one policy driven over one workload in virtual time.

The workload runs through the emulator's ``VirtualCluster`` in PD mode (prefill and decode
roles, cold starts, draining). The policy sees only what it would see in production: every
``scrape_interval_s`` each serving replica's ``/metrics`` body is read by the exporter's own
code (``TargetState``: the engine catalog, counters carried over restarts, the role window),
and when the policy's ``interval_s`` comes round the exporter's role aggregation
(``roles.aggregate``) turns what was scraped into an ``Observation``. Every replica is
scraped at the same instant (no jitter), from when it serves (a pod watch listing ready
pods). The replicas a policy asks for are set at once and serve after the cold start;
removed ones drain. Time is the
cluster's: ``now`` given to a policy is wall time (the observation's clock), seconds since
the epoch of the virtual cluster. No I/O; one run takes CPU seconds, not the workload's time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from llmobs import engines
from llmobs.autoscaler.model import Policy, Replicas
from llmobs.autoscaler.scoring import Billed, Score, gpu_hours, score
from llmobs.bench.metrics import Slo
from llmobs.exporter.state import Target, TargetState
from llmobs.exposition.parser import parse
from llmobs.observation import Observation
from llmobs.roles import aggregate
from llmobs.scrape.fetch import ScrapeResult
from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.replicaset import Replica
from llmobs.sim.virtual import Engine, RequestRecord, VirtualCluster, VirtualRequest
from llmobs.window import DEFAULT_QUANTILES

ROLES = ("prefill", "decode")


@dataclass(frozen=True)
class Setup:
    """The simulated deployment and how it is watched (defaults: the exporter's)."""

    model: str = "Llama-3.1-8B"
    hardware: str = "H100-80GB"
    tp: int = 1  # GPUs per replica
    max_model_len: int | None = None  # default the model's context
    cold_start_s: float = 30.0  # from the scale request to serving
    scrape_interval_s: float = 5.0  # the exporter's default
    window_s: float = 60.0  # the role window, the exporter's default
    quantiles: tuple[float, ...] = DEFAULT_QUANTILES
    start: Mapping[str, int] = field(default_factory=lambda: {"prefill": 1, "decode": 1})
    max_replicas: int = 64  # per role; a policy asking for more gets this many
    gpu_budget: int | None = None  # GPUs both roles may hold together; None: no budget
    drain_s: float = 900.0  # after the last arrival, the most the run goes on

    def resolved(self) -> Resolved:
        return Resolved(
            EngineSettings(
                model=self.model,
                hardware=self.hardware,
                tensor_parallel_size=self.tp,
                max_model_len=self.max_model_len,
            )
        )


@dataclass(frozen=True, slots=True)
class Action:
    """One scale request: at ``t`` seconds, ``role`` from ``before`` to ``after`` replicas."""

    t: float
    role: str
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class Tick:
    """The cluster at one scrape: arrivals since the previous one, replicas per role, and
    GPUs held (starting, ready and draining replicas alike)."""

    t: float
    arrivals: int
    desired: dict[str, int]
    ready: dict[str, int]
    gpus: int


@dataclass
class Run:
    """One policy over one workload: its score, cost and what it did."""

    policy: str
    score: Score
    gpu_hours: float
    end_s: float  # when the run stopped (every request done, or the drain ran out)
    actions: list[Action]
    ticks: list[Tick]
    records: list[RequestRecord]
    decisions: int  # times the policy was asked
    blind: int  # of those, with no observation (nothing scraped yet)
    cpu_s: float  # CPU seconds the run took

    def peak(self, role: str) -> int:
        return max((t.desired.get(role, 0) for t in self.ticks), default=0)

    def over_budget_s(self, budget: int | None) -> float | None:
        """Seconds (at scrape resolution) holding more GPUs than ``budget``; None for none."""
        if budget is None:
            return None
        pairs = zip(self.ticks, self.ticks[1:], strict=False)
        return sum(b.t - a.t for a, b in pairs if a.gpus > budget)


class Watcher:
    """The exporter's view of the cluster: one ``TargetState`` per serving replica, fed the
    replica's ``/metrics`` body at each scrape; replicas that left are forgotten (a pod
    watch drops them)."""

    def __init__(self, setup: Setup, model: str) -> None:
        self.setup = setup
        self.model = model
        self.states: dict[str, TargetState] = {}

    def scrape(self, cluster: VirtualCluster) -> None:
        now, wall = cluster.now, cluster.clock.wall()
        bodies = cluster.snapshot()
        for gone in set(self.states) - set(bodies):
            del self.states[gone]
        for name, (role, text) in bodies.items():
            state = self.states.get(name)
            if state is None:
                target = Target(
                    key=name, url=f"virtual://{name}/metrics", pod=name, role=role, model=self.model
                )
                state = self.states[name] = TargetState(target, self.setup.window_s)
            exposition = parse(text, wanted=engines.WANTED, like=state.like())
            state.observe(ScrapeResult(state.target.url, wall, now, 0.0, exposition, None))

    def observe(self, cluster: VirtualCluster) -> Observation | None:
        if not self.states:
            return None
        return aggregate(
            (s.view().member() for s in self.states.values()),
            now=cluster.now,
            wall_time=cluster.clock.wall(),
            window_s=self.setup.window_s,
            quantiles=self.setup.quantiles,
        )


def _replicas(cluster: VirtualCluster) -> dict[str, Replicas]:
    out = {}
    for role in ROLES:
        counts = cluster.replica_counts(role)
        out[role] = Replicas(desired=counts["spec"], ready=counts["ready"])
    return out


def _bill(seen: dict[str, tuple[Replica[Engine], float]], cluster: VirtualCluster) -> None:
    for replica in cluster.replicas.replicas():
        if replica.name not in seen:
            started = cluster.now if replica.ready_at is None else replica.ready_at
            seen[replica.name] = (replica, min(started, cluster.now))


def _apply(
    cluster: VirtualCluster, wanted: Mapping[str, int], setup: Setup, actions: list[Action]
) -> None:
    for role, count in wanted.items():
        if role not in ROLES:
            raise ValueError(f"policy asked for role {role!r}; the cluster has {', '.join(ROLES)}")
        target = max(0, min(int(count), setup.max_replicas))
        before = cluster.replica_counts(role)["spec"]
        if target != before:
            cluster.scale(role, target)
            actions.append(Action(cluster.now, role, before, target))


def simulate(
    policy: Policy,
    requests: Sequence[VirtualRequest],
    setup: Setup,
    slo: Slo,
    *,
    start: Mapping[str, int] | None = None,
    ttft_per_1k: float | None = None,
) -> Run:
    """Run ``requests`` through a PD cluster (``start`` replicas, else the setup's) that
    ``policy`` resizes; score the requests against ``slo`` (the TTFT limit growing by
    ``ttft_per_1k`` seconds per 1,000 prompt tokens, when given) and bill the replicas."""
    cpu = time.process_time()
    resolved = setup.resolved()
    cluster = VirtualCluster(resolved, dict(start or setup.start), cold_start_s=setup.cold_start_s)
    cluster.submit(requests)
    watcher = Watcher(setup, resolved.settings.model)
    seen: dict[str, tuple[Replica[Engine], float]] = {}
    _bill(seen, cluster)
    last_arrival = max((r.arrival for r in requests), default=0.0)
    actions: list[Action] = []
    ticks: list[Tick] = []
    interval = policy.interval_s
    if not (math.isfinite(interval) and interval > 0):
        raise ValueError(
            f"policy {policy.name}: interval_s must be a positive number, got {interval}"
        )
    next_scrape, next_ask = 0.0, interval
    asked = blind = arrived = 0
    while True:
        t = min(next_scrape, next_ask)
        cluster.run_until(t)
        if t == next_scrape:
            watcher.scrape(cluster)
            counts = _replicas(cluster)
            total = len(cluster.records)
            ticks.append(
                Tick(
                    t,
                    total - arrived,
                    {r: c.desired for r, c in counts.items()},
                    {r: c.ready for r, c in counts.items()},
                    setup.tp * sum(1 for _ in cluster.replicas.replicas()),
                )
            )
            arrived = total
            next_scrape += setup.scrape_interval_s
            if t >= last_arrival and (cluster.pending() == 0 or t >= last_arrival + setup.drain_s):
                break
        if t == next_ask:
            observation = watcher.observe(cluster)
            asked += 1
            blind += observation is None
            wanted = policy.step(observation, _replicas(cluster), cluster.clock.wall())
            _apply(cluster, wanted, setup, actions)
            _bill(seen, cluster)
            next_ask += interval
    billed = [Billed(r.role, start_s, r.stopped_at) for r, start_s in seen.values()]
    records = list(cluster.records.values())
    return Run(
        policy=policy.name,
        score=score(records, slo, resolved.max_model_len, ttft_per_1k),
        gpu_hours=gpu_hours(billed, setup.tp, cluster.now),
        end_s=cluster.now,
        actions=actions,
        ticks=ticks,
        records=records,
        decisions=asked,
        blind=blind,
        cpu_s=time.process_time() - cpu,
    )
