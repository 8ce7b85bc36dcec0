"""``--workers N``: the open loop in N processes, for rates one process cannot carry.

The schedule is dealt round-robin to N spawned processes. Each reports ready; the parent
then sets one start time on the monotonic clock (system-wide on Linux) and lets them go.
Records come back through a queue as they finish, and the parent writes them. Workers run
in their own process group: a terminal's Ctrl-C reaches the parent, which interrupts them
(so does a SIGTERM to the parent); interrupted, they cancel what is in flight and send back
what they measured. A worker that dies or raises is reported, never waited for forever; a
worker whose parent died stops sending.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import queue as queue_module
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from llmobs.bench.records import RequestRecord
from llmobs.bench.runner import Emit, Health, Target, run_load
from llmobs.bench.workload import RequestSpec
from llmobs.errors import LlmobsError

# a record, and its JSON line as the worker wrote it (the parent writes it as it is)
EmitLine = Callable[[RequestRecord, str], None]
START_TIMEOUT_S = 60.0
POLL_S = 0.02


def _ended(code: int | None) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it)."""
    if code is not None and code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def shares(total: int | None, n: int) -> list[int | None]:
    """``--max-concurrency`` split over ``n`` workers: whole, the remainder to the first."""
    if total is None:
        return [None] * n
    return [total // n + (1 if k < total % n else 0) for k in range(n)]


async def _orphan_watch(parent: int, stop: asyncio.Event) -> None:
    while not stop.is_set():
        await asyncio.sleep(0.5)
        if os.getppid() != parent:
            stop.set()


async def _load(
    specs: list[RequestSpec],
    target: Target,
    start: float,
    emit: Emit,
    max_concurrency: int | None,
    index: int,
    health: Health,
) -> None:
    stop = asyncio.Event()
    watch = asyncio.create_task(_orphan_watch(os.getppid(), stop))
    try:
        await run_load(
            specs,
            target,
            start=start,
            emit=emit,
            max_concurrency=max_concurrency,
            worker=index,
            stop=stop,
            health=health,
        )
    finally:
        watch.cancel()


def _worker_main(
    index: int,
    specs: list[RequestSpec],
    target: Target,
    start: Any,
    go: Any,
    max_concurrency: int | None,
    out: Any,
) -> None:
    os.setpgrp()

    def emit(record: RequestRecord) -> None:
        out.put(("record", index, record.to_json()))

    health = Health()
    try:
        # the parent stops a worker with SIGINT, so it must be heard, even when the parent was
        # started with it ignored (``cmd &`` in a script); it was blocked while this process
        # started (``WorkerPool.launch``), and one sent meanwhile arrives here
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
        gc.freeze()  # the schedule is never garbage: keep collections short
        out.put(("ready", index, None))
        go.wait()
        asyncio.run(_load(specs, target, start.value, emit, max_concurrency, index, health))
    except KeyboardInterrupt:
        pass
    except Exception:  # noqa: BLE001 - whatever it is, the parent reports it in the result
        out.put(("crashed", index, traceback.format_exc()[-1500:]))
    finally:
        out.put(("health", index, (health.loop_lag, health.cpu_seconds, health.wall_seconds)))


class WorkerPool:
    def __init__(
        self,
        n: int,
        specs: Sequence[RequestSpec],
        target: Target,
        max_concurrency: int | None,
        health: Health | None = None,
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.start_time = context.Value("d", 0.0)
        self.go = context.Event()
        ordered = sorted(specs, key=lambda s: s.offset)
        limits = shares(max_concurrency, n)
        self.processes = [
            context.Process(
                target=_worker_main,
                daemon=True,
                args=(k, ordered[k::n], target, self.start_time, self.go, limits[k], self.queue),
            )
            for k in range(n)
        ]
        self.health = health if health is not None else Health(workers=n)
        self.health.workers = n
        self.ready: set[int] = set()
        self.reported: set[int] = set()

    @property
    def done(self) -> bool:
        return len(self.reported) == len(self.processes)

    def launch(self) -> None:
        """Start the workers with SIGINT blocked (the mask is inherited, and survives exec):
        a Ctrl-C or an ``interrupt`` while a worker is still importing waits until it can be
        heard as an interrupt (``_worker_main``) instead of killing it with a traceback. A
        SIGINT to this process meanwhile arrives once they are started."""
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            for process in self.processes:
                process.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)

    def begin(self) -> float:
        """Every worker is ready: set the shared start time and let them go."""
        self.start_time.value = time.monotonic() + 0.05
        self.go.set()
        return float(self.start_time.value)

    def drain(self, emit: EmitLine) -> None:
        """Pass on everything that has arrived, without waiting."""
        while True:
            try:
                kind, index, body = self.queue.get_nowait()
            except queue_module.Empty:
                break
            if kind == "record":
                emit(RequestRecord.from_json(body), body)
            elif kind == "ready":
                self.ready.add(index)
            elif kind == "crashed":
                self.health.problems.append(f"load-generator worker {index} failed: {body}")
            elif kind == "health":
                lag, cpu, wall = body
                self.health.merge(Health(list(lag), cpu, wall))
                self.reported.add(index)

    def check(self) -> None:
        """A worker that is gone without reporting (killed, out of memory) is not waited for."""
        for index, process in enumerate(self.processes):
            if index not in self.reported and not process.is_alive():
                self.reported.add(index)
                self.health.problems.append(
                    f"load-generator worker {index} (pid {process.pid}) {_ended(process.exitcode)} "
                    "before reporting: its unfinished requests are missing"
                )

    def interrupt(self) -> None:
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGINT)

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)


async def run_pool(
    specs: Sequence[RequestSpec],
    target: Target,
    workers: int,
    max_concurrency: int | None,
    emit: EmitLine,
    on_start: Callable[[float], None],
    health: Health,
) -> None:
    """Run the schedule in ``workers`` processes, their health merged into ``health``;
    ``on_start`` gets the shared start time. Cancelled (Ctrl-C), it interrupts the workers
    and collects what they send back."""
    pool = WorkerPool(workers, specs, target, max_concurrency, health)
    try:
        pool.launch()
        deadline = time.monotonic() + START_TIMEOUT_S
        while len(pool.ready) < workers:
            pool.drain(emit)
            pool.check()
            if pool.reported:
                raise LlmobsError("; ".join(pool.health.problems) or "a worker did not start")
            if time.monotonic() > deadline:
                raise LlmobsError(f"load-generator workers did not start in {START_TIMEOUT_S}s")
            await asyncio.sleep(POLL_S)
        on_start(pool.begin())
        while not pool.done:
            pool.drain(emit)
            pool.check()
            await asyncio.sleep(POLL_S)
        pool.drain(emit)
    except asyncio.CancelledError:
        if not pool.go.is_set():
            raise  # none has sent anything: they are stopped (``finally``), not waited for
        pool.interrupt()
        deadline = time.monotonic() + 10
        while not pool.done and time.monotonic() < deadline:
            pool.drain(emit)
            pool.check()
            await asyncio.sleep(POLL_S)
        pool.drain(emit)
        raise
    finally:
        pool.stop()
