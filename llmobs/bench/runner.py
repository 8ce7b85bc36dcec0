"""The open loop: send every request at its planned time, whatever happened to the others.

A request is dispatched at ``start + offset`` on the monotonic clock (absolute times, so a
late send never shifts the ones after it) and its lateness is recorded as schedule lag;
``--max-concurrency`` adds a client queue, recorded separately. The loop watches its own
health: how late its timers fire (event-loop lag) and how much CPU it burns. Several
processes are ``llmobs.bench.workers``.
"""

from __future__ import annotations

import asyncio
import contextlib
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import aiohttp

from llmobs.bench.client import payload, send, sent_hook
from llmobs.bench.records import RequestRecord
from llmobs.bench.workload import RequestSpec
from llmobs.clock import sleep_until

STALL_S = 600.0  # a stream silent this long fails as a timeout instead of hanging the run
READ_BUFFER = 4 * 1024 * 1024  # aiohttp's 64 KiB default starves long streams (vllm 39963)


@dataclass(frozen=True)
class Target:
    url: str  # the full endpoint URL
    model: str
    chat: bool
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    secrets: tuple[str, ...] = ()  # redacted from whatever the server sends back


@dataclass
class Health:
    """The load generator's own state: how late its timers fired, how busy its CPU was."""

    loop_lag: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    workers: int = 1
    problems: list[str] = field(default_factory=list)  # e.g. a worker process that died

    def merge(self, other: Health) -> None:
        self.loop_lag.extend(other.loop_lag)
        self.cpu_seconds += other.cpu_seconds
        self.wall_seconds = max(self.wall_seconds, other.wall_seconds)
        self.problems.extend(other.problems)


Emit = Callable[[RequestRecord], None]


async def _watch_loop(health: Health, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        planned = loop.time() + 0.01
        await sleep_until(planned)
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
    timeout = aiohttp.ClientTimeout(total=target.timeout_s, sock_connect=10, sock_read=STALL_S)
    headers = {"Content-Type": "application/json", **target.headers}
    limit = asyncio.Semaphore(max_concurrency) if max_concurrency else None
    tasks: set[asyncio.Task[None]] = set()

    def clock() -> float:
        return time.monotonic() - start

    async def one(session: aiohttp.ClientSession, spec: RequestSpec, record: RequestRecord) -> None:
        body = payload(target.model, spec.prompt, spec.max_tokens, target.chat)
        args = (session, target.url, body, headers, record, clock, target.chat, target.secrets)
        try:
            if limit is None:
                await send(*args)
            else:
                async with limit:
                    await send(*args)
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
                await sleep_until(start + spec.offset)
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
