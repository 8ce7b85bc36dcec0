"""``llmobs exporter`` in this process for tests: real sockets, its own event loop thread.

Readiness is always a condition on what the exporter serves (a series present, a target up),
never a sleep.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web

from llmobs.clock import SYSTEM, Clock
from llmobs.exporter.config import ExporterConfig, build
from llmobs.exporter.service import Exporter
from llmobs.exposition.model import Exposition
from llmobs.exposition.parser import parse
from tests.servers import wait_until
from tests.simhost import LoopThread, SimHost


class ExporterHost:
    def __init__(self, config: ExporterConfig | dict[str, Any], clock: Clock = SYSTEM) -> None:
        self.config = config if isinstance(config, ExporterConfig) else build(config)
        self.thread = LoopThread()
        self.exporter = Exporter(self.config, clock)
        self._runner: web.AppRunner | None = None
        self.port = self.thread.run(self._start())
        self.url = f"http://127.0.0.1:{self.port}"

    async def _start(self) -> int:
        self._runner = web.AppRunner(self.exporter.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        await self.exporter.start()
        return int(self._runner.addresses[0][1])

    async def _stop(self) -> None:
        await self.exporter.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(self.url + path, timeout=10) as response:
            body: bytes = response.read()
            return body

    def metrics(self) -> Exposition:
        return parse(self.get("/metrics"))

    def roles(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.get("/v1/roles"))
        return document

    def targets(self) -> dict[str, dict[str, Any]]:
        """Targets by pod label."""
        return {t["pod"]: t for t in json.loads(self.get("/v1/targets"))["targets"]}

    def wait(self, predicate: Callable[[Self], bool], what: str, timeout: float = 20) -> None:
        wait_until(lambda: predicate(self), timeout, what)

    def value(self, name: str, **labels: str) -> float | None:
        """The one sample of ``name`` whose labels include ``labels``; None if there is none."""
        found = [
            s.value
            for s in self.metrics().samples(name)
            if all(s.labels.get(k) == v for k, v in labels.items())
        ]
        assert len(found) <= 1, f"{name}{labels} matches {len(found)} series"
        return found[0] if found else None

    def close(self) -> None:
        self.thread.run(self._stop())
        self.thread.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def all_up(host: ExporterHost) -> bool:
    """Every target the exporter knows was scraped successfully last time."""
    targets = host.targets()
    return bool(targets) and all(t["up"] for t in targets.values())


def cluster_targets(sim: SimHost, group: str) -> list[dict[str, str]]:
    """Static targets for every instance of an emulated cluster, with their roles."""
    assert sim.cluster is not None
    return [
        {"url": m["metrics_url"], "role": m["role"], "pod": m["name"], "group": group}
        for m in sim.cluster.listing()
        if m["metrics_url"]
    ]
