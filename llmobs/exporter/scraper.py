"""The scrape loops: one asyncio task per target, a shared bound on scrapes in flight.

Each target is scraped at once when it appears, then at a random phase inside the first
interval, then every interval varied by ``jitter`` (absolute deadlines, so loops do not drift
and targets do not align). A scrape that fails marks only its own target down. Targets come
and go at run time (``put``/``remove``): a removed target's task is cancelled and its state,
with its series, is gone at once. ``exported`` builds the immutable picture the collector
and ``/v1/roles`` show.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable

import aiohttp

from llmobs import engines
from llmobs.clock import SYSTEM, Clock
from llmobs.exporter.collector import Exported
from llmobs.exporter.config import ExporterConfig
from llmobs.exporter.state import Target, TargetState
from llmobs.roles import aggregate
from llmobs.scrape.fetch import scrape


class Scraper:
    def __init__(
        self,
        config: ExporterConfig,
        rng: random.Random | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        self.config = config
        self.clock = clock
        self.states: dict[str, TargetState] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.scrapes = 0
        self.discovery_errors = 0
        self._rng = rng or random.Random()
        self._limit: asyncio.Semaphore | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._limit = asyncio.Semaphore(self.config.concurrency)
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=3 * self.config.interval_s)
        self._session = aiohttp.ClientSession(connector=connector)

    async def close(self) -> None:
        tasks = list(self.tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.tasks.clear()
        if self._session is not None:
            await self._session.close()

    def put(self, target: Target) -> None:
        """Scrape ``target`` from now on; a target with the same key but other details
        (labels, address) replaces the old one and its series."""
        state = self.states.get(target.key)
        if state is not None and state.target == target:
            return
        self.remove(target.key)
        self.states[target.key] = TargetState(target, self.config.window_s)
        self.tasks[target.key] = asyncio.create_task(
            self._loop(target.key), name=f"scrape {target.key}"
        )

    def remove(self, key: str) -> None:
        task = self.tasks.pop(key, None)
        if task is not None:
            task.cancel()
        self.states.pop(key, None)

    def replace_all(self, targets: Iterable[Target]) -> None:
        """Make the scraped set exactly ``targets``."""
        wanted = {t.key: t for t in targets}
        for key in list(self.states):
            if key not in wanted:
                self.remove(key)
        for target in wanted.values():
            self.put(target)

    def _next_gap(self) -> float:
        jitter = self.config.jitter
        return self.config.interval_s * (1 + self._rng.uniform(-jitter, jitter))

    async def _loop(self, key: str) -> None:
        assert self._session is not None
        assert self._limit is not None
        interval = self.config.interval_s
        deadline = self.clock.monotonic()
        first = True
        while True:
            state = self.states.get(key)
            if state is None:
                return
            async with self._limit:
                result = await scrape(
                    self._session,
                    state.target.url,
                    timeout_s=self.config.scrape_timeout_s,
                    max_bytes=self.config.max_bytes,
                    clock=self.clock,
                    wanted=engines.WANTED,  # only what the catalogs read
                    like=state.like(),
                    credentials=state.target.credentials,
                )
            if self.states.get(key) is not state:
                return  # removed or replaced while the scrape was in flight
            self.scrapes += 1
            state.observe(result)
            deadline += self._rng.uniform(0, interval) if first else self._next_gap()
            first = False
            now = self.clock.monotonic()
            while deadline < now:  # fell behind (a slow target): skip ticks, do not burst
                deadline += interval
            await asyncio.sleep(deadline - now)

    def exported(self) -> Exported:
        now, wall = self.clock.monotonic(), self.clock.wall()
        views = tuple(state.view() for state in self.states.values())
        roles = aggregate(
            (view.member() for view in views),
            now=now,
            wall_time=wall,
            window_s=self.config.window_s,
            quantiles=self.config.quantiles,
        )
        return Exported(views, roles, self.scrapes, self.discovery_errors)
