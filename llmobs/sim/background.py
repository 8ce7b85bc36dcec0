"""An emulator (one instance, or a cluster behind its proxy) served from a background
thread with its own event loop: what ``llmbench`` starts when given no server, and what
the tests run against. Real sockets on 127.0.0.1; ``close()`` stops everything."""

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
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="llmobs-sim")
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


class BackgroundSim:
    """``llmobs sim`` in this process: one instance, or ``roles`` behind the proxy."""

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        roles: dict[str, int] | None = None,
        cold_start_s: float = 0.0,
    ) -> None:
        self.resolved = Resolved(settings or EngineSettings())
        sock = bind(host, port)
        self.thread = LoopThread()
        self.port = int(sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        self.running: Running | None = None
        self.cluster: Cluster | None = None
        self._runner: web.AppRunner | None = None
        if roles is None:
            self.running = self.thread.run(start_instance(self.resolved, sock))
        else:
            self.cluster = Cluster(self.resolved, roles, host=host, cold_start_s=cold_start_s)
            self.thread.run(self._start_cluster(sock))

    def metrics_urls(self) -> list[str]:
        """Every instance's /metrics (the proxy has none of its own)."""
        if self.cluster is None:
            return [f"{self.url}/metrics"]
        return [m["metrics_url"] for m in self.cluster.listing() if m["metrics_url"]]

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
