"""Emulators for tests: real sockets on 127.0.0.1, served from a background event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, Self, TypeVar

from aiohttp import web

from llmobs.sim.cluster import Cluster
from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.serve import Running, bind, start_instance

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running in a daemon thread; ``run`` executes a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class SimHost:
    """One emulated engine (``instance``) or a cluster behind its proxy (``cluster``)."""

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        roles: dict[str, int] | None = None,
        cold_start_s: float = 0.0,
    ) -> None:
        self.thread = LoopThread()
        self.resolved = Resolved(settings or EngineSettings())
        self.running: Running | None = None
        self.cluster: Cluster | None = None
        self._runner: web.AppRunner | None = None
        sock = bind("127.0.0.1", 0)
        self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        if roles is None:
            self.running = self.thread.run(start_instance(self.resolved, sock))
        else:
            self.cluster = Cluster(self.resolved, roles, cold_start_s=cold_start_s)
            self.thread.run(self._start_cluster(sock))

    async def _start_cluster(self, sock: Any) -> None:
        assert self.cluster is not None
        await self.cluster.start()
        self._runner = web.AppRunner(self.cluster.app(), access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()

    async def _stop(self) -> None:
        if self.running is not None:
            await self.running.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if self.cluster is not None:
            await self.cluster.close()

    def close(self) -> None:
        self.thread.run(self._stop())
        self.thread.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
