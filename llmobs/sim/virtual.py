"""The same engines in virtual time: a discrete-event simulation with no sockets.

``VirtualCluster`` holds replicas of roles (``both``, or ``prefill`` and ``decode`` for PD
disaggregation), each an ``Instance`` with the very ``EngineCore`` the HTTP server drives.
Requests arrive at their timestamps, a proxy picks the least-loaded ready replica (PD: prefill
with one output token, KV transfer, then decode, as vLLM's disaggregated proxy does), and
replicas are added (after a cold start) or drained (no request dropped) at any time, by the
same ``ReplicaSet`` policy as the real-time cluster's, on a ``VirtualClock``. The
caller advances time with ``run_until`` and reads per-request ``records``, per-instance
``/metrics`` text (``snapshot``) and replica counts in between: what an autoscaler evaluation
needs. Decode-only stretches are jumped over (``EngineCore.advance_decode``) with results
identical to stepping, which is what makes an hour of traffic take seconds.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from llmobs.clock import VirtualClock
from llmobs.sim.config import Resolved
from llmobs.sim.core import Emission, Plan
from llmobs.sim.instance import Instance
from llmobs.sim.replicaset import Phase, Replica, ReplicaSet
from llmobs.sim.request import SimRequest


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


@dataclass(frozen=True, slots=True)
class DecodeRun:
    """Decode-only steps computed at once (``EngineCore.advance_decode``): when the last one
    ends and the tokens they emit."""

    end: float
    emissions: list[Emission]


@dataclass(eq=False, slots=True)
class Engine:
    """What the virtual cluster keeps of a replica: its engine, and the step in progress."""

    instance: Instance
    step_at: float | None = None  # when its pending event fires (step end or wake-up)
    plan: Plan | DecodeRun | None = None


def _load(engine: Engine) -> int:
    core = engine.instance.core
    return len(core.running) + len(core.waiting) + len(core.fetching)


@dataclass(order=True)
class _Event:
    time: float
    seq: int
    kind: str = field(compare=False)
    target: Replica[Engine] = field(compare=False)


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
        self.clock = VirtualClock(epoch=epoch)  # wall(): the instances' timestamps
        self.replicas: ReplicaSet[Engine] = ReplicaSet(
            roles, clock=self.clock, cold_start_s=cold_start_s
        )
        self.resolved = resolved
        self.epoch = epoch
        self.jump_decode = jump_decode  # False steps one by one (same results, slower)
        self.records: dict[str, RequestRecord] = {}
        self._events: list[_Event] = []
        self._seq = itertools.count()
        self._arrivals: list[VirtualRequest] = []
        self._next_arrival = 0
        self._limit = math.inf  # run_until's target: no jump over decode steps may pass it
        for role, count in self.replicas.initial.items():
            for _ in range(count):
                self.replicas.mark_ready(
                    self.replicas.add(role, self._engine(role, 0.0), cold=False)
                )

    @property
    def now(self) -> float:
        """Seconds of virtual time since the start."""
        return self.clock.monotonic()

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
        change = self.replicas.scale(
            role, replicas, self._engine(role, self.now + self.replicas.cold_start_s)
        )
        for replica in change.added:
            self._push(replica.due_at, "ready", replica)
        for replica in change.removed:
            self._maybe_stop(replica)

    def replica_counts(self, role: str) -> dict[str, int]:
        """Like a Deployment's status: desired (spec), ready and draining replicas."""
        counts = self.replicas.counts(role)
        return {"spec": counts.desired, "ready": counts.ready, "draining": counts.draining}

    def _engine(self, role: str, ready_at: float) -> Callable[[str], Engine]:
        def make(name: str) -> Engine:
            instance = Instance(
                self.resolved,
                role=role,
                name=name,
                started_at=self.epoch + ready_at,
                now=self.clock.wall,
                process_metrics=False,
            )
            return Engine(instance)

        return make

    def _maybe_stop(self, replica: Replica[Engine]) -> None:
        engine = replica.handle
        if (
            replica.phase is Phase.DRAINING
            and not engine.instance.core.has_work()
            and engine.plan is None
        ):
            self.replicas.mark_stopped(replica)

    # -- reading ------------------------------------------------------------------------------
    def instances(self, include_draining: bool = True) -> list[Replica[Engine]]:
        """The replicas that serve (and, with ``include_draining``, those finishing up)."""
        serving = (Phase.READY, Phase.DRAINING) if include_draining else (Phase.READY,)
        return [r for r in self.replicas.replicas() if r.phase in serving]

    def snapshot(self) -> dict[str, tuple[str, bytes]]:
        """Each serving replica's /metrics body now: ``{name: (role, text)}``."""
        return {r.name: (r.role, r.handle.instance.metrics_text()) for r in self.instances()}

    # -- the event loop -------------------------------------------------------------------------
    def _push(self, time: float, kind: str, target: Replica[Engine]) -> None:
        heapq.heappush(self._events, _Event(time, next(self._seq), kind, target))

    def _pick(self, role: str) -> Replica[Engine] | None:
        return self.replicas.pick(role, _load)

    def _arrive(self, request: VirtualRequest) -> None:
        record = RequestRecord(
            request.id, request.arrival, request.prompt_tokens, request.output_tokens
        )
        self.records[request.id] = record
        limit = self.resolved.max_model_len
        if request.prompt_tokens + request.output_tokens > limit:
            record.error = f"prompt and output over max_model_len {limit}"
            return
        role = "both" if "both" in self.replicas.roles else "prefill"
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

    def _start(self, replica: Replica[Engine], sim: SimRequest) -> None:
        record = sim.payload
        assert isinstance(record, RequestRecord)
        record.instances = (*record.instances, replica.name)
        replica.handle.instance.core.submit(sim, self.now)
        if replica.handle.plan is None:  # idle, or only waiting for a KV transfer: plan a step now
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

    def _horizon(self, replica: Replica[Engine]) -> float:
        """The earliest moment something could reach ``replica``: an arrival, a replica
        becoming ready, or (for a decoder) a prefill finishing anywhere."""
        horizon = self._limit
        if self._next_arrival < len(self._arrivals):
            horizon = min(horizon, self._arrivals[self._next_arrival].arrival)
        for event in self._events:
            if event.kind == "ready" or (
                replica.role == "decode" and event.target.role == "prefill"
            ):
                horizon = min(horizon, event.time)
        return horizon

    def _schedule(self, replica: Replica[Engine]) -> None:
        engine = replica.handle
        core = engine.instance.core
        if not core.has_work():
            engine.step_at = None
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
                engine.plan = DecodeRun(*run)
                engine.step_at = run[0]
                self._push(run[0], "step", replica)
                return
        plan = core.schedule(self.now)
        if plan is None:
            ready = core.next_fetch_ready()
            engine.step_at = ready
            if ready is not None:
                self._push(ready, "wake", replica)
            return
        engine.plan = plan
        engine.step_at = self.now + plan.duration
        self._push(engine.step_at, "step", replica)

    def _step_done(self, replica: Replica[Engine]) -> None:
        engine = replica.handle
        plan = engine.plan
        engine.plan = None
        engine.step_at = None
        assert plan is not None  # a step event is pushed with its plan
        if isinstance(plan, DecodeRun):
            emissions = plan.emissions
        else:
            emissions = engine.instance.core.complete(plan, self.now)
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
            self.clock.set(when)
            # an arrival goes first, but for a replica that becomes ready at that instant
            if next_arrival < next_event or (
                next_arrival == next_event and self._events[0].kind != "ready"
            ):
                self._next_arrival += 1
                self._arrive(arrivals[self._next_arrival - 1])
                continue
            event = heapq.heappop(self._events)
            replica = event.target
            if event.kind == "ready":
                self.replicas.mark_ready(replica)  # False if it was removed while starting
            elif event.kind == "step":
                self._step_done(replica)
            elif event.kind == "wake" and replica.handle.plan is None:  # a KV transfer landed
                replica.handle.step_at = None
                self._schedule(replica)
        if t != math.inf:
            self.clock.set(max(self.now, t))

    def run(self) -> None:
        """Run until every submitted request is done."""
        self.run_until(math.inf)

    def pending(self) -> int:
        return sum(1 for r in self.records.values() if r.finished is None and r.error is None)
