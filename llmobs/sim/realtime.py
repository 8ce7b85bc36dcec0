"""Drives an emulated engine in real time on the asyncio loop, and hands tokens to streams.

Steps run back to back on the model's clock: a step planned at ``start`` with duration ``d``
completes at exactly ``start + d`` (the loop wakes with ``call_at``); tokens are handed to
their requests' ``Delivery`` then. When the process cannot keep up the lateness is measured
(``lag``), and after ``RESYNC_S`` of it the clock jumps to the wall instead of piling up
debt. Fixed-latency mode bypasses the scheduler: token k of every request comes exactly
``ttft + k * itl`` after its arrival, whatever the load.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field

from llmobs.clock import sleep_until
from llmobs.sim.instance import Instance
from llmobs.sim.request import SimRequest, State
from llmobs.sim.stats import LiveState

RESYNC_S = 0.05
ARRIVALS_KEPT = 1_000_000


class Delivery:
    """Tokens produced for one request and not yet written to its client."""

    __slots__ = ("event", "finished", "pending")

    def __init__(self) -> None:
        self.pending = 0
        self.finished = False
        self.event = asyncio.Event()

    def push(self, tokens: int, finished: bool) -> None:
        self.pending += tokens
        self.finished = self.finished or finished
        self.event.set()

    async def take(self) -> tuple[int, bool]:
        await self.event.wait()
        self.event.clear()
        tokens, self.pending = self.pending, 0
        return tokens, self.finished


@dataclass
class Lag:
    """How late steps completed compared with the model's clock."""

    steps: int = 0
    late_steps: int = 0  # later than 1 ms
    resyncs: int = 0
    worst: float = 0.0
    total: float = 0.0
    samples: list[float] = field(default_factory=list)

    def record(self, lag: float) -> None:
        self.steps += 1
        self.total += lag
        self.worst = max(self.worst, lag)
        if lag > 0.001:
            self.late_steps += 1
        if len(self.samples) < 100_000:
            self.samples.append(lag)


class RealtimeEngine:
    def __init__(self, instance: Instance) -> None:
        self.instance = instance
        self.core = instance.core
        self.lag = Lag()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._fixed: set[SimRequest] = set()
        # when each request arrived (loop clock): what a load generator's achieved rate is
        # checked against (GET /sim/arrivals)
        self.arrivals: deque[float] = deque(maxlen=ARRIVALS_KEPT)
        # fixed-latency mode: how long after its arrival each first token really went out
        # (the due time plus the loop's own lateness)
        self.first_tokens: deque[float] = deque(maxlen=ARRIVALS_KEPT)
        settings = instance.settings
        self._ttft = (settings.fixed_ttft_ms or 0) / 1000
        self._itl = (settings.fixed_itl_ms or 0) / 1000
        if settings.fixed_latency:
            instance.live = self._fixed_live

    @property
    def fixed(self) -> bool:
        return self.instance.settings.fixed_latency

    def start(self) -> None:
        if not self.fixed:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    def submit(self, request: SimRequest) -> Delivery:
        delivery = Delivery()
        request.payload = delivery
        self.arrivals.append(request.arrival)
        if self.fixed:
            self._fixed.add(request)
            self._fixed_request(request, delivery)
        else:
            self.core.submit(request, request.arrival)
            self._wake.set()
        return delivery

    def abort(self, request: SimRequest) -> None:
        if self.fixed:
            self._fixed.discard(request)
        if request.state is not State.FINISHED:
            self.core.abort(request, self.now())

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        core = self.core
        clock = loop.time()
        while True:
            if not core.has_work():
                self._wake.clear()
                await self._wake.wait()
                clock = loop.time()
                continue
            plan = core.schedule(clock)
            if plan is None:  # only KV transfers in flight: wait for the first to land
                ready = core.next_fetch_ready()
                self._wake.clear()
                timeout = None if ready is None else max(0.0, ready - loop.time())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                clock = loop.time()
                continue
            end = clock + plan.duration
            await sleep_until(end)
            late = loop.time() - end
            self.lag.record(max(late, 0.0))
            for emission in core.complete(plan, end):
                delivery = emission.request.payload
                if isinstance(delivery, Delivery):
                    delivery.push(emission.tokens, emission.finished)
            if late > RESYNC_S:
                self.lag.resyncs += 1
                clock = loop.time()
            else:
                clock = end

    # -- fixed-latency mode -----------------------------------------------------------------
    def _fixed_request(self, request: SimRequest, delivery: Delivery) -> None:
        """Token k at exactly ``arrival + ttft + k * itl``: a chain of timer callbacks, one
        per token (no task per request: cheap at tens of thousands of tokens a second)."""
        request.queued_ts = request.scheduled_ts = request.arrival
        request.state = State.RUNNING
        self._fixed_next(request, delivery, 0)

    def _fixed_next(self, request: SimRequest, delivery: Delivery, k: int) -> None:
        due = request.arrival + self._ttft + k * self._itl
        asyncio.get_running_loop().call_at(due, self._fixed_token, request, delivery, k, due)

    def _fixed_token(self, request: SimRequest, delivery: Delivery, k: int, due: float) -> None:
        now = asyncio.get_running_loop().time()
        self.lag.record(max(0.0, now - due))
        if k == 0:
            self.first_tokens.append(now - request.arrival)
        if request.state is State.FINISHED:  # aborted: the client went away
            self._fixed.discard(request)
            return
        stats = self.instance.stats
        if k == 0:
            request.first_token_ts = due
            stats.prefilled(request.prompt_tokens, 0, False)
            stats.observe("ttft", due - request.arrival)
        else:
            stats.observe("itl", self._itl)
        request.last_token_ts = due
        request.num_output = k + 1
        stats.step(due, 1, 1)
        last = k + 1 == request.max_tokens
        if last:
            request.state = State.FINISHED
            self._fixed.discard(request)
            stats.finish(
                request.finish_reason,
                arrival=request.arrival,
                queued=request.arrival,
                scheduled=request.arrival,
                first_token=request.first_token_ts,
                last_token=due,
                end=due,
                prompt_tokens=request.prompt_tokens,
                output_tokens=request.num_output,
                max_tokens=request.max_tokens,
                cached_tokens=0,
                preemptions=0,
            )
        delivery.push(1, last)
        if not last:
            self._fixed_next(request, delivery, k + 1)

    def _fixed_live(self) -> LiveState:
        """Gauges in fixed-latency mode: what the active requests would hold."""
        core_live = self.core.live()
        bs = core_live.block_size
        blocks = sum(-(-(r.prompt_tokens + r.num_output) // bs) for r in self._fixed)
        blocks = min(blocks, core_live.num_blocks)
        return LiveState(
            running=len(self._fixed),
            waiting=0,
            fetching=0,
            kv_usage=blocks / core_live.num_blocks,
            used_tokens=blocks * bs,
            capacity_tokens=core_live.capacity_tokens,
            block_size=bs,
            num_blocks=core_live.num_blocks,
        )
