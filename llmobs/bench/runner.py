"""The open loop: send every request at its planned time, whatever happened to the others.

A request is dispatched at ``start + offset`` on the monotonic clock (absolute times, so a
late send never shifts the ones after it) and its lateness is recorded as schedule lag;
``--max-concurrency`` adds a client queue, recorded separately. The loop watches its own
health: how late its timers fire (event-loop lag) and how much CPU it burns. With
``workers > 1`` the schedule is dealt round-robin to processes that share the clock (Linux's
monotonic clock is system-wide) and send their records back to the parent, which writes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import multiprocessing
import os
import queue as queue_module
import resource
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from llmobs.bench.client import payload, send, sent_hook
from llmobs.bench.records import RequestRecord
from llmobs.bench.workload import RequestSpec

READ_BUFFER = 4 * 1024 * 1024  # aiohttp's 64 KiB default starves long streams (vllm 39963)


@dataclass(frozen=True)
class Target:
    url: str  # the full endpoint URL
    model: str
    chat: bool
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None


@dataclass
class Health:
    """The load generator's own state: how late its timers fired, how busy its CPU was."""

    loop_lag: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int = 1

    def merge(self, other: Health) -> None:
        self.loop_lag.extend(other.loop_lag)
        self.cpu_seconds += other.cpu_seconds
        self.wall_seconds = max(self.wall_seconds, other.wall_seconds)


Emit = Callable[[RequestRecord], None]


async def _sleep_until(when: float) -> None:
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    done = loop.create_future()
    handle = loop.call_at(when, done.set_result, None)
    try:
        await done
    finally:
        handle.cancel()


async def _watch_loop(health: Health, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        planned = loop.time() + 0.01
        await _sleep_until(planned)
        health.loop_lag.append(max(0.0, loop.time() - planned))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def run_load(
    specs: Sequence[RequestSpec],
    target: Target,
    *,
    start: float,
    emit: Emit,
    max_concurrency: int | None = None,
    worker: int = 0,
    stop: asyncio.Event | None = None,
    health: Health | None = None,
) -> Health:
    """Send ``specs`` (offsets from the monotonic time ``start``), emitting each record when
    it finishes. Returns the generator's health. Cancelling it cancels what is in flight;
    their records are emitted as cancelled. ``health`` is filled in even then."""
    health = health if health is not None else Health()
    cpu0, wall0 = _cpu(), time.monotonic()
    stop = stop or asyncio.Event()
    done_watching = asyncio.Event()
    connector = aiohttp.TCPConnector(
        limit=max_concurrency or 0, limit_per_host=0, keepalive_timeout=60
    )
    timeout = aiohttp.ClientTimeout(total=target.timeout_s, sock_connect=10)
    headers = {"Content-Type": "application/json", **target.headers}
    limit = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    tasks: set[asyncio.Task[None]] = set()

    def clock() -> float:
        return time.monotonic() - start

    async def one(session: aiohttp.ClientSession, spec: RequestSpec, record: RequestRecord) -> None:
        body = payload(target.model, spec.prompt, spec.max_tokens, target.chat)
        try:
            if limit is None:
                await send(session, target.url, body, headers, record, clock, target.chat)
            else:
                async with limit:
                    await send(session, target.url, body, headers, record, clock, target.chat)
        finally:
            if record.error_kind is None and not record.ok and record.sent is None:
                record.error, record.error_kind = "never sent (interrupted)", "cancelled"
            emit(record)

    watcher = asyncio.create_task(_watch_loop(health, done_watching))
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        read_bufsize=READ_BUFFER,
        trace_configs=[sent_hook(clock)],
    ) as session:
        try:
            for spec in sorted(specs, key=lambda s: s.offset):
                await _sleep_until(start + spec.offset)
                if stop.is_set():
                    break
                record = RequestRecord(
                    spec.index,
                    spec.offset,
                    spec.expected_prompt_tokens,
                    spec.max_tokens,
                    warmup=spec.warmup,
                    worker=worker,
                )
                record.dispatched = clock()
                task = asyncio.create_task(one(session, spec, record))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            while tasks:
                await asyncio.wait(set(tasks))
        except asyncio.CancelledError:
            for task in list(tasks):
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            done_watching.set()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            health.cpu_seconds = _cpu() - cpu0
            health.wall_seconds = time.monotonic() - wall0
    return health


# -- several processes --------------------------------------------------------------------
async def _orphan_watch(parent: int, stop: asyncio.Event) -> None:
    """A worker whose parent died (killed outright) stops sending new requests."""
    while not stop.is_set():
        await asyncio.sleep(0.5)
        if os.getppid() != parent:
            stop.set()


async def _worker_load(
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
    os.setpgrp()  # a terminal's Ctrl-C reaches the parent only; it interrupts the workers

    def emit(record: RequestRecord) -> None:
        out.put(("record", record.to_json()))

    health = Health()
    try:
        gc.freeze()  # the schedule is never garbage: keep collections short
        out.put(("ready", index))
        go.wait()  # every worker is up: the parent sets the shared start time
        asyncio.run(_worker_load(specs, target, start.value, emit, max_concurrency, index, health))
    except KeyboardInterrupt:
        pass
    finally:
        out.put(("health", (health.loop_lag, health.cpu_seconds, health.wall_seconds)))


class WorkerPool:
    """``n`` processes sharing one schedule; records come back through a queue."""

    def __init__(
        self, n: int, specs: Sequence[RequestSpec], target: Target, max_concurrency: int | None
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self.queue = context.Queue()
        self.start_time = context.Value("d", 0.0)
        self.go = context.Event()
        share = max(1, max_concurrency // n) if max_concurrency else None
        ordered = sorted(specs, key=lambda s: s.offset)
        self.processes = [
            context.Process(
                target=_worker_main,
                daemon=True,
                args=(k, ordered[k::n], target, self.start_time, self.go, share, self.queue),
            )
            for k in range(n)
        ]
        self.health = Health(workers=n)
        self._ready = 0
        self._reported = 0

    def start(self, timeout: float = 60.0) -> float:
        """Start the workers, wait until all are ready, and return the shared start time."""
        for process in self.processes:
            process.start()
        deadline = time.monotonic() + timeout
        while self._ready < len(self.processes):
            if time.monotonic() > deadline:
                raise TimeoutError("load-generator workers did not start")
            try:
                kind, _ = self.queue.get(timeout=0.5)
            except queue_module.Empty:
                continue
            if kind == "ready":
                self._ready += 1
        self.start_time.value = time.monotonic() + 0.05
        self.go.set()
        return float(self.start_time.value)

    def poll(self, emit: Emit, wait: float) -> bool:
        """Pass on what arrived (waiting up to ``wait`` s); False once every worker is done."""
        deadline = time.monotonic() + wait
        while self._reported < len(self.processes):
            try:
                kind, body = self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue_module.Empty:
                return True
            if kind == "record":
                emit(RequestRecord.from_json(body))
            elif kind == "health":
                lag, cpu, wall = body
                self.health.merge(Health(list(lag), cpu, wall))
                self._reported += 1
        return False

    def interrupt(self) -> None:
        """Ctrl-C for the workers (a SIGTERM to the parent does not reach them): they
        cancel what is in flight and send back what they measured."""
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGINT)

    def stop(self) -> None:
        for process in self.processes:
            if process.is_alive():
                process.terminate()
            process.join(timeout=10)
