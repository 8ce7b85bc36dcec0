"""The same engines in virtual time: a discrete-event simulation with no sockets.

``VirtualCluster`` holds replicas of roles (``both``, or ``prefill`` and ``decode`` for PD
disaggregation), each an ``Instance`` with the very ``EngineCore`` the HTTP server drives.
Requests arrive at their timestamps, a proxy picks the least-loaded ready replica (PD: prefill
with one output token, KV transfer, then decode, as vLLM's disaggregated proxy does), and
replicas are added (after a cold start) or drained (no request dropped) at any time. The
caller advances time with ``run_until`` and reads per-request ``records``, per-instance
``/metrics`` text (``snapshot``) and replica counts in between: what an autoscaler evaluation
needs. Decode-only stretches are jumped over (``EngineCore.advance_decode``) with results
identical to stepping, which is what makes an hour of traffic take seconds.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from llmobs.errors import ConfigError
from llmobs.sim.config import Resolved
from llmobs.sim.instance import Instance
from llmobs.sim.request import SimRequest, State

ROLES = ("both", "prefill", "decode")


@dataclass(frozen=True, slots=True)
class VirtualRequest:
    """One request of a workload: when it arrives and what it asks for."""

    id: str
    arrival: float
    prompt_tokens: int
    output_tokens: int
    block_hashes: tuple[int, ...] = ()


@dataclass(slots=True)
class RequestRecord:
    """What happened to one request, as its client saw it (seconds of virtual time)."""

    id: str
    arrival: float
    prompt_tokens: int
    output_tokens: int
    first_token: float | None = None
    finished: float | None = None
    cached_tokens: int = 0
    preemptions: int = 0
    instances: tuple[str, ...] = ()
    error: str | None = None

    @property
    def ttft(self) -> float | None:
        return None if self.first_token is None else self.first_token - self.arrival

    @property
    def e2e(self) -> float | None:
        return None if self.finished is None else self.finished - self.arrival

    @property
    def tpot(self) -> float | None:
        if self.finished is None or self.first_token is None or self.output_tokens < 2:
            return None
        return (self.finished - self.first_token) / (self.output_tokens - 1)


@dataclass(eq=False)
class Replica:
    role: str
    name: str
    instance: Instance
    ready_at: float
    draining: bool = False
    stopped: bool = False
    step_at: float | None = None  # when its pending event fires (step end or wake-up)
    plan: object = None

    @property
    def load(self) -> int:
        core = self.instance.core
        return len(core.running) + len(core.waiting) + len(core.fetching)


@dataclass(order=True)
class _Event:
    time: float
    seq: int
    kind: str = field(compare=False)
    target: object = field(compare=False)


class VirtualCluster:
    def __init__(
        self,
        resolved: Resolved,
        roles: dict[str, int],
        *,
        cold_start_s: float = 0.0,
        epoch: float = 1.8e9,
        jump_decode: bool = True,
    ) -> None:
        unknown = set(roles) - set(ROLES)
        if unknown or not roles:
            raise ConfigError(f"roles must be 'both', or 'prefill' and 'decode'; got {roles}")
        if "both" in roles and len(roles) > 1:
            raise ConfigError("a cluster is either aggregated ('both') or disaggregated")
        self.resolved = resolved
        self.cold_start_s = cold_start_s
        self.epoch = epoch
        self.jump_decode = jump_decode  # False steps one by one (same results, slower)
        self.now = 0.0
        self.records: dict[str, RequestRecord] = {}
        self.replicas: dict[str, list[Replica]] = {role: [] for role in roles}
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self._names = itertools.count()
        self._arrivals: list[VirtualRequest] = []
        self._next_arrival = 0
        self._rr = itertools.count()
        self._limit = math.inf  # run_until's target: no jump over decode steps may pass it
        for role, count in roles.items():
            for _ in range(count):
                self._add_replica(role, ready_at=0.0)

    # -- workload and scaling -----------------------------------------------------------------
    def submit(self, requests: Iterable[VirtualRequest]) -> None:
        """Add requests (any order); they arrive at their own times."""
        self._arrivals.extend(requests)
        self._arrivals[self._next_arrival :] = sorted(
            self._arrivals[self._next_arrival :], key=lambda r: r.arrival
        )

    def scale(self, role: str, replicas: int) -> None:
        """Set a role's replica count now: new replicas serve after the cold start, removed
        ones stop taking requests and leave when their last request is done."""
        if role not in self.replicas:
            raise ConfigError(f"no role {role!r} in this cluster ({', '.join(self.replicas)})")
        if replicas < 0:
            raise ConfigError("replicas cannot be negative")
        active = [r for r in self.replicas[role] if not r.draining and not r.stopped]
        for _ in range(replicas - len(active)):
            self._add_replica(role, ready_at=self.now + self.cold_start_s)
        for replica in sorted(active, key=lambda r: r.ready_at, reverse=True)[
            : max(0, len(active) - replicas)
        ]:
            replica.draining = True
            self._maybe_stop(replica)

    def replica_counts(self, role: str) -> dict[str, int]:
        """Like a Deployment's status: desired (spec), ready and draining replicas."""
        reps = [r for r in self.replicas[role] if not r.stopped]
        return {
            "spec": sum(not r.draining for r in reps),
            "ready": sum(not r.draining and r.ready_at <= self.now for r in reps),
            "draining": sum(r.draining for r in reps),
        }

    def _add_replica(self, role: str, ready_at: float) -> Replica:
        name = f"{role}-{next(self._names)}"
        instance = Instance(
            self.resolved,
            role=role,
            name=name,
            started_at=self.epoch + ready_at,
            now=lambda: self.epoch + self.now,
            process_metrics=False,
        )
        replica = Replica(role, name, instance, ready_at)
        self.replicas[role].append(replica)
        if ready_at > self.now:
            self._push(ready_at, "ready", replica)
        return replica

    def _maybe_stop(self, replica: Replica) -> None:
        if replica.draining and not replica.instance.core.has_work() and replica.plan is None:
            replica.stopped = True

    # -- reading ------------------------------------------------------------------------------
    def instances(self, include_draining: bool = True) -> list[Replica]:
        return [
            r
            for reps in self.replicas.values()
            for r in reps
            if not r.stopped and r.ready_at <= self.now and (include_draining or not r.draining)
        ]

    def snapshot(self) -> dict[str, tuple[str, bytes]]:
        """Each serving replica's /metrics body now: ``{name: (role, text)}``."""
        return {r.name: (r.role, r.instance.metrics_text()) for r in self.instances()}

    # -- the event loop -------------------------------------------------------------------------
    def _push(self, time: float, kind: str, target: object) -> None:
        heapq.heappush(self._events, _Event(time, next(self._seq), kind, target))

    def _pick(self, role: str) -> Replica | None:
        ready = [
            r
            for r in self.replicas[role]
            if not r.draining and not r.stopped and r.ready_at <= self.now
        ]
        if not ready:
            return None
        low = min(r.load for r in ready)
        tied = [r for r in ready if r.load == low]
        return tied[next(self._rr) % len(tied)]

    def _arrive(self, request: VirtualRequest) -> None:
        record = RequestRecord(
            request.id, request.arrival, request.prompt_tokens, request.output_tokens
        )
        self.records[request.id] = record
        limit = self.resolved.max_model_len
        if request.prompt_tokens + request.output_tokens > limit:
            record.error = f"prompt and output over max_model_len {limit}"
            return
        role = "both" if "both" in self.replicas else "prefill"
        replica = self._pick(role)
        if replica is None:
            record.error = f"no ready {role} replica"
            return
        sim = SimRequest(
            request.id,
            request.prompt_tokens,
            1 if role == "prefill" else request.output_tokens,
            self.now,
            block_hashes=request.block_hashes,
        )
        sim.payload = record
        self._start(replica, sim)

    def _start(self, replica: Replica, sim: SimRequest) -> None:
        record = sim.payload
        assert isinstance(record, RequestRecord)
        record.instances = (*record.instances, replica.name)
        replica.instance.core.submit(sim, self.now)
        if replica.plan is None:  # idle, or only waiting for a KV transfer: plan a step now
            self._schedule(replica)

    def _handoff(self, done: SimRequest) -> None:
        """PD: the prefill is done; the proxy sends the request to a decoder."""
        record = done.payload
        assert isinstance(record, RequestRecord)
        replica = self._pick("decode")
        if replica is None:
            record.error = "no ready decode replica"
            return
        s = self.resolved.settings
        sim = SimRequest(
            done.id,
            done.prompt_tokens,
            record.output_tokens,
            self.now,
            block_hashes=done.block_hashes,
            remote_prefill=True,
            transfer_s=self.resolved.perf.kv_transfer_time(
                done.prompt_tokens, s.kv_link_gbps, s.kv_link_latency_ms / 1000
            ),
        )
        sim.payload = record
        record.cached_tokens = done.cached_tokens
        self._start(replica, sim)

    def _horizon(self, replica: Replica) -> float:
        """The earliest moment something could reach ``replica``: an arrival, a replica
        becoming ready, or (for a decoder) a prefill finishing anywhere."""
        horizon = self._limit
        if self._next_arrival < len(self._arrivals):
            horizon = min(horizon, self._arrivals[self._next_arrival].arrival)
        for event in self._events:
            if event.kind == "ready" or (
                replica.role == "decode"
                and isinstance(event.target, Replica)
                and event.target.role == "prefill"
            ):
                horizon = min(horizon, event.time)
        return horizon

    def _schedule(self, replica: Replica) -> None:
        core = replica.instance.core
        if not core.has_work():
            replica.step_at = None
            self._maybe_stop(replica)
            return
        if (
            self.jump_decode
            and replica.role != "prefill"
            and not core.waiting
            and not (core.fetching)
        ):
            run = core.advance_decode(self.now, self._horizon(replica))
            if run is not None:
                end, emissions = run
                replica.plan = ("run", emissions)
                replica.step_at = end
                self._push(end, "step", replica)
                return
        plan = core.schedule(self.now)
        if plan is None:
            ready = core.next_fetch_ready()
            replica.step_at = ready
            if ready is not None:
                self._push(ready, "wake", replica)
            return
        replica.plan = plan
        replica.step_at = self.now + plan.duration
        self._push(replica.step_at, "step", replica)

    def _step_done(self, replica: Replica) -> None:
        plan = replica.plan
        replica.plan = None
        replica.step_at = None
        if isinstance(plan, tuple):
            emissions = plan[1]
        else:
            emissions = replica.instance.core.complete(plan, self.now)  # type: ignore[arg-type]
        for emission in emissions:
            request = emission.request
            record = request.payload
            if not isinstance(record, RequestRecord):
                continue
            if replica.role == "prefill":
                if emission.finished:
                    self._handoff(request)
                continue
            if record.first_token is None and request.first_token_ts is not None:
                record.first_token = request.first_token_ts
            if emission.finished:
                record.finished = request.finished_ts
                record.preemptions += request.preemptions
                if replica.role == "both":
                    record.cached_tokens = request.cached_tokens
        self._schedule(replica)

    def _next_time(self) -> float:
        arrivals = self._arrivals
        next_arrival = (
            arrivals[self._next_arrival].arrival if self._next_arrival < len(arrivals) else math.inf
        )
        return min(next_arrival, self._events[0].time if self._events else math.inf)

    def run_until(self, t: float) -> None:
        """Advance virtual time to ``t``, processing everything that happens until then."""
        self._limit = t
        arrivals = self._arrivals
        while True:
            next_arrival = (
                arrivals[self._next_arrival].arrival
                if self._next_arrival < len(arrivals)
                else math.inf
            )
            next_event = self._events[0].time if self._events else math.inf
            when = min(next_arrival, next_event)
            if when > t or when == math.inf:
                break
            self.now = when
            if next_arrival <= next_event:
                self._next_arrival += 1
                self._arrive(arrivals[self._next_arrival - 1])
                continue
            event = heapq.heappop(self._events)
            replica = event.target
            assert isinstance(replica, Replica)
            if event.kind == "step":
                self._step_done(replica)
            elif event.kind == "wake" and replica.plan is None:  # a KV transfer landed
                replica.step_at = None
                self._schedule(replica)
        if t != math.inf:
            self.now = max(self.now, t)

    def run(self) -> None:
        """Run until every submitted request is done."""
        self.run_until(math.inf)

    def pending(self) -> int:
        return sum(1 for r in self.records.values() if r.finished is None and r.error is None)

    def unfinished(self) -> list[SimRequest]:
        return [
            req
            for rep in self.instances()
            for req in (*rep.instance.core.running, *rep.instance.core.waiting)
            if req.state is not State.FINISHED
        ]
