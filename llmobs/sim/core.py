"""The emulated engine: vLLM V1's continuous-batching scheduler over the roofline model.

Every step the scheduler gives running requests their next tokens first (a decode token, or
the next chunk of a prompt), preempting the most recently admitted request (recompute) when
KV blocks run out, then admits waiting requests in arrival order while the token budget
(``max_num_batched_tokens``), ``max_num_seqs`` and the KV cache allow, with prefix-cache hits
on full prompt blocks. The step lasts what ``PerfModel`` says; at its end every request
whose known tokens are all computed samples one token.

No clock and no I/O: a driver calls ``schedule(now)`` and, ``duration`` later,
``complete(plan, end)``. The HTTP server drives it in real time, ``llmobs.sim.virtual`` in
virtual time (where ``advance_decode`` also jumps over runs of identical decode steps).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from llmobs.sim.kvcache import BlockPool
from llmobs.sim.perf import PerfModel, StepCost, StepShape, blocks_for
from llmobs.sim.request import SimRequest, State
from llmobs.sim.stats import EngineStats, LiveState


@dataclass(frozen=True)
class CoreConfig:
    num_blocks: int
    block_size: int = 16
    max_num_seqs: int = 256
    max_num_batched_tokens: int = 8192
    enable_prefix_caching: bool = True


@dataclass(slots=True)
class Plan:
    """One scheduled step: (request, tokens to compute) pairs and how long it takes."""

    items: list[tuple[SimRequest, int]]
    duration: float
    start: float


@dataclass(slots=True)
class Emission:
    """What a step produced for one request: new output tokens, and whether it finished."""

    request: SimRequest
    tokens: int
    finished: bool


class EngineCore:
    def __init__(self, config: CoreConfig, perf: PerfModel, stats: EngineStats) -> None:
        self.config = config
        self.perf = perf
        self.stats = stats
        self.pool = BlockPool(config.num_blocks)
        self.waiting: deque[SimRequest] = deque()
        self.running: list[SimRequest] = []
        self.fetching: list[SimRequest] = []

    # -- state ------------------------------------------------------------------------------
    def submit(self, request: SimRequest, now: float) -> None:
        request.queued_ts = now
        request.state = State.WAITING
        self.waiting.append(request)

    def has_work(self) -> bool:
        return bool(self.running or self.waiting or self.fetching)

    def next_fetch_ready(self) -> float | None:
        """When the earliest KV transfer in flight completes (PD decode side)."""
        times = [r.fetch_ready_ts for r in self.fetching if r.fetch_ready_ts is not None]
        return min(times) if times else None

    def live(self) -> LiveState:
        bs = self.config.block_size
        return LiveState(
            running=len(self.running),
            waiting=len(self.waiting),
            fetching=len(self.fetching),
            kv_usage=self.pool.usage(),
            used_tokens=self.pool.used * bs,
            capacity_tokens=self.pool.total * bs,
            block_size=bs,
            num_blocks=self.pool.total,
        )

    # -- scheduling -------------------------------------------------------------------------
    def _release(self, request: SimRequest) -> None:
        self.pool.release(request.private_blocks, request.cached_blocks)
        request.private_blocks = 0
        request.cached_blocks = []

    def _preempt(self, request: SimRequest) -> None:
        """Recompute preemption: drop the request's KV, put it first in line again."""
        self._release(request)
        request.num_computed = 0
        request.prefix_looked_up = False
        request.state = State.WAITING
        request.preemptions += 1
        self.stats.preemptions += 1
        self.waiting.appendleft(request)

    def _grow(self, request: SimRequest, tokens: int) -> bool:
        """Make room for ``tokens`` more computed tokens; False if blocks ran out."""
        need = blocks_for(request.num_computed + tokens, self.config.block_size)
        need -= request.blocks_held
        if need <= 0:
            return True
        if not self.pool.allocate(need):
            return False
        request.private_blocks += need
        return True

    def _prefix_hit(self, request: SimRequest) -> None:
        """Look the prompt up in the prefix cache once per admission and share what hits."""
        request.prefix_looked_up = True
        if not self.config.enable_prefix_caching or not request.block_hashes:
            return
        bs = self.config.block_size
        # a full hit still recomputes the last prompt token, as vLLM does
        usable = min(len(request.block_hashes), (request.prompt_tokens - 1) // bs)
        hits = min(self.pool.cached_prefix(request.block_hashes), usable)
        for h in request.block_hashes[:hits]:
            self.pool.acquire(h)
        request.cached_blocks = list(request.block_hashes[:hits])
        request.num_computed = hits * bs
        request.cached_tokens = hits * bs

    def _drop_prefix(self, request: SimRequest) -> None:
        self._release(request)
        request.num_computed = 0
        request.cached_tokens = 0
        request.prefix_looked_up = False

    def _admit_fetched(self, now: float) -> None:
        ready = [
            r for r in self.fetching if r.fetch_ready_ts is not None and r.fetch_ready_ts <= now
        ]
        for request in ready:
            self.fetching.remove(request)
            request.state = State.RUNNING
            self.running.append(request)

    def schedule(self, now: float) -> Plan | None:
        """Plan the next step at ``now``; None when there is nothing to compute."""
        if self.fetching:
            self._admit_fetched(now)
        budget = self.config.max_num_batched_tokens
        items: list[tuple[SimRequest, int]] = []
        preempted = False
        running = self.running
        i = 0
        while i < len(running) and budget > 0:
            request = running[i]
            n = min(request.num_tokens - request.num_computed, budget)
            if n <= 0:
                i += 1
                continue
            while not self._grow(request, n):
                victim = running.pop()
                self._preempt(victim)
                preempted = True
                if victim is request:
                    break
            else:
                items.append((request, n))
                budget -= n
                i += 1
        if not preempted:
            budget = self._admit(now, budget, items)
        if not items:
            return None
        cost = self.perf.step_cost(self._shape(items))
        self.stats.flops += cost.flops
        self.stats.read_bytes += cost.read_bytes
        self.stats.write_bytes += cost.write_bytes
        return Plan(items, cost.seconds, now)

    def _admit(self, now: float, budget: int, items: list[tuple[SimRequest, int]]) -> int:
        waiting = self.waiting
        bs = self.config.block_size
        while waiting and budget > 0 and len(self.running) < self.config.max_num_seqs:
            request = waiting[0]
            if request.remote_prefill and request.num_output == 0:
                # PD decode side: blocks for the prompt now, its KV arrives after the transfer
                need = blocks_for(request.prompt_tokens, bs) - request.blocks_held
                if not self.pool.allocate(need):
                    break
                request.private_blocks += need
                waiting.popleft()
                request.num_computed = request.prompt_tokens - 1
                request.state = State.FETCHING
                request.fetch_ready_ts = now + request.transfer_s
                request.scheduled_ts = now
                self.fetching.append(request)
                continue
            fresh = not request.prefix_looked_up
            if fresh:
                self._prefix_hit(request)
            n = min(request.num_tokens - request.num_computed, budget)
            if not self._grow(request, n):
                if fresh:
                    self._drop_prefix(request)
                break
            waiting.popleft()
            if fresh and request.preemptions == 0:
                self.stats.prefix_queries += request.prompt_tokens
                self.stats.prefix_hits += request.cached_tokens
                self.stats.last_prefill_hit_rate = request.cached_tokens / request.prompt_tokens
            request.state = State.RUNNING
            if request.scheduled_ts is None:
                request.scheduled_ts = now
            self.running.append(request)
            items.append((request, n))
            budget -= n
        return budget

    @staticmethod
    def _shape(items: Iterable[tuple[SimRequest, int]]) -> StepShape:
        new = 0
        pairs = 0.0
        read = 0
        count = 0
        for request, n in items:
            ctx = request.num_computed
            new += n
            pairs += n * (ctx + (n + 1) / 2)
            read += ctx + n
            count += 1
        return StepShape(new, pairs, read, count)

    # -- completion -------------------------------------------------------------------------
    def _publish(self, request: SimRequest) -> None:
        """Full prompt blocks computed by this request join the prefix cache."""
        bs = self.config.block_size
        full = min(request.num_computed, request.prompt_tokens) // bs
        hashes = request.block_hashes
        done = len(request.cached_blocks)
        while done < full and done < len(hashes) and request.private_blocks > 0:
            if not self.pool.publish(hashes[done]):
                break
            request.cached_blocks.append(hashes[done])
            request.private_blocks -= 1
            done += 1

    def complete(self, plan: Plan, end: float) -> list[Emission]:
        """Apply a planned step that ended at ``end``: computed tokens, sampled tokens,
        finished requests, and the statistics they produce."""
        stats = self.stats
        caching = self.config.enable_prefix_caching
        out: list[Emission] = []
        computed = 0
        generated = 0
        finished_any = False
        for request, n in plan.items:
            request.num_computed += n
            computed += n
            if caching and len(request.cached_blocks) * self.config.block_size < min(
                request.num_computed, request.prompt_tokens
            ):
                self._publish(request)
            if request.num_computed < request.num_tokens:
                continue  # a prompt chunk that did not reach the end of the prompt
            request.num_output += 1
            generated += 1
            if request.first_token_ts is None:
                request.first_token_ts = end
                stats.prefilled(
                    request.prompt_tokens, request.cached_tokens, request.remote_prefill
                )
                stats.observe("ttft", end - request.arrival)
            elif request.last_token_ts is not None:
                stats.observe("itl", end - request.last_token_ts)
            request.last_token_ts = end
            done = request.num_output >= request.max_tokens
            if done:
                self._finish(request, end, request.finish_reason)
                finished_any = True
            out.append(Emission(request, 1, done))
        stats.step(end, computed, generated)
        if finished_any:
            self.running = [r for r in self.running if r.state is State.RUNNING]
        return out

    def _finish(self, request: SimRequest, end: float, reason: str) -> None:
        self._release(request)
        request.state = State.FINISHED
        request.finished_ts = end
        self.stats.finish(
            reason,
            arrival=request.arrival,
            queued=request.queued_ts,
            scheduled=request.scheduled_ts,
            first_token=request.first_token_ts,
            last_token=request.last_token_ts,
            end=end,
            prompt_tokens=request.prompt_tokens,
            output_tokens=request.num_output,
            max_tokens=request.max_tokens,
            cached_tokens=request.cached_tokens,
            preemptions=request.preemptions,
        )

    def abort(self, request: SimRequest, now: float) -> None:
        """The client went away: free the request and count it as aborted."""
        if request.state is State.FINISHED:
            return
        for queue in (self.running, self.fetching):
            if request in queue:
                queue.remove(request)
        if request in self.waiting:
            self.waiting.remove(request)
        self._finish(request, now, "abort")

    # -- virtual time: runs of identical decode steps ---------------------------------------
    def advance_decode(self, now: float, horizon: float) -> tuple[float, list[Emission]] | None:
        """Run, at once, the decode-only steps that would follow until ``horizon``.

        Only when nothing can change the batch in between: every running request is
        decoding (its first token out), nobody waiting can be admitted, no KV transfer lands
        and no request finishes before the last of these steps. Returns the end of the last
        step and what it emitted, or None when a plain ``schedule``/``complete`` is needed.
        The result is exactly that of the same steps taken one by one.
        """
        running = self.running
        if not running or self.fetching or len(running) > self.config.max_num_batched_tokens:
            return None
        for request in running:
            if request.first_token_ts is None or request.num_tokens - request.num_computed != 1:
                return None
        if self.waiting and self._could_admit():
            return None
        batch = len(running)
        steps_left = min(r.max_tokens - r.num_output for r in running)
        context = sum(r.num_computed for r in running)
        costs: list[StepCost] = []
        t = now
        while len(costs) < steps_left:
            j = len(costs)  # before step j every request has computed c_i + j tokens
            cost = self.perf.step_cost(
                StepShape(batch, context + batch * (j + 1.0), context + batch * (j + 1), batch)
            )
            if t + cost.seconds > horizon:
                break  # the run must end before anything else happens in the world
            costs.append(cost)
            t += cost.seconds
        k = self._steps_that_fit(len(costs))
        if k < 2:
            return None  # nothing to gain: the plain path takes one step
        del costs[k:]
        return self._apply_decode_run(now, costs)

    def _blocks_needed(self, steps: int) -> int:
        bs = self.config.block_size
        return sum(
            max(0, blocks_for(r.num_computed + steps, bs) - r.blocks_held) for r in self.running
        )

    def _steps_that_fit(self, steps: int) -> int:
        """The most of ``steps`` decode steps whose new KV blocks fit without preemption."""
        free = self.pool.free
        if self._blocks_needed(steps) <= free:
            return steps
        low, high = 0, steps  # need(low) <= free < need(high)
        while high - low > 1:
            mid = (low + high) // 2
            if self._blocks_needed(mid) <= free:
                low = mid
            else:
                high = mid
        return low

    def _could_admit(self) -> bool:
        """Whether the first waiting request might be admitted now (True when unsure)."""
        if len(self.running) >= self.config.max_num_seqs:
            return False
        budget = self.config.max_num_batched_tokens - len(self.running)
        if budget <= 0:
            return False
        request = self.waiting[0]
        bs = self.config.block_size
        hits = 0
        if self.config.enable_prefix_caching and request.block_hashes:
            hits = self.pool.cached_prefix(request.block_hashes)
        start = min(hits * bs, max(request.prompt_tokens - 1, 0))
        need = blocks_for(start + min(request.num_tokens - start, budget), bs) - start // bs
        return need <= self.pool.free

    def _apply_decode_run(self, now: float, costs: list[StepCost]) -> tuple[float, list[Emission]]:
        k = len(costs)
        stats = self.stats
        batch = len(self.running)
        bs = self.config.block_size
        t = now
        for cost in costs:
            t += cost.seconds
            stats.flops += cost.flops
            stats.read_bytes += cost.read_bytes
            stats.write_bytes += cost.write_bytes
            stats.observe("itl", cost.seconds, batch)
            stats.step(t, batch, batch)
        end = t
        out: list[Emission] = []
        finished_any = False
        for request in self.running:
            request.num_computed += k
            request.num_output += k
            need = blocks_for(request.num_computed, bs) - request.blocks_held
            if need > 0:
                self.pool.allocate(need)
                request.private_blocks += need
            request.last_token_ts = end
            done = request.num_output >= request.max_tokens
            if done:
                self._finish(request, end, request.finish_reason)
                finished_any = True
            out.append(Emission(request, k, done))
        if finished_any:
            self.running = [r for r in self.running if r.state is State.RUNNING]
        return end, out
