"""The running exporter: scrape loops, discovery and the HTTP endpoints, wired together.

Endpoints: ``/metrics`` (the collector), ``/v1/roles`` (the role snapshot as JSON, what the
autoscaler reads), ``/v1/targets`` (every target with its health and last error) and
``/healthz``. Every JSON body is strict (``llmobs.strictjson``: a non-finite number is
``null``), and no URL or error it serves holds a credential. ``serve`` runs until cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.process_collector import ProcessCollector

from llmobs import observation, strictjson
from llmobs.clock import SYSTEM, Clock
from llmobs.errors import ConfigError
from llmobs.exporter import discovery, httpsd
from llmobs.exporter.collector import render
from llmobs.exporter.config import ExporterConfig
from llmobs.exporter.pods import KEY_PREFIX
from llmobs.exporter.scraper import Scraper
from llmobs.exporter.state import Target
from llmobs.exporter.targets import credentials, static_targets
from llmobs.exposition.writer import CONTENT_TYPE

log = logging.getLogger(__name__)


class Exporter:
    def __init__(self, config: ExporterConfig, clock: Clock = SYSTEM) -> None:
        """Raises ConfigError: two static targets share an identity, or a secret file
        cannot be read (both are read here, before anything is served)."""
        self.config = config
        self.static = static_targets(config)
        kube = config.kubernetes
        self.pod_credentials = credentials(kube, "kubernetes") if kube is not None else None
        self.scraper = Scraper(config, clock=clock)
        # The process_* families, as prometheus_client writes them; ours come from render.
        self.process = CollectorRegistry(auto_describe=False)
        ProcessCollector(registry=self.process)
        self._watchers: list[discovery.PodWatcher] = []
        self._http_sd: httpsd.HttpSdPoller | None = None

    def sync_http_sd(self, targets: list[Target]) -> None:
        """After a read of the HTTP SD endpoint: its targets are exactly these."""
        wanted = {t.key for t in targets}
        for key in list(self.scraper.states):
            if key.startswith(httpsd.KEY_PREFIX) and key not in wanted:
                self.scraper.remove(key)
        for target in targets:
            self.scraper.put(target)

    def sync(self, namespace: str | None, targets: list[Target]) -> None:
        """After a LIST: the discovered targets of ``namespace`` (None: all) are exactly these."""
        scope = KEY_PREFIX if namespace is None else f"{KEY_PREFIX}{namespace}/"
        wanted = {t.key for t in targets}
        for key in list(self.scraper.states):
            if key.startswith(scope) and key not in wanted:
                self.scraper.remove(key)
        for target in targets:
            self.scraper.put(target)

    def _discovery_error(self) -> None:
        self.scraper.discovery_errors += 1

    async def start(self) -> None:
        await self.scraper.start()
        self.scraper.replace_all(self.static)
        settings = self.config.kubernetes
        if settings is not None:
            api = discovery.api_client(settings)
            loop = asyncio.get_running_loop()

            def post(action: Callable[[], None]) -> None:
                with contextlib.suppress(RuntimeError):  # the loop closed at shutdown
                    loop.call_soon_threadsafe(action)

            sink = discovery.Sink(
                self.scraper.put, self.scraper.remove, self.sync, self._discovery_error, post
            )
            self._watchers = discovery.watchers(settings, api, sink, self.pod_credentials)
            for watcher in self._watchers:
                watcher.start()
        if self.config.http_sd is not None:
            self._http_sd = httpsd.HttpSdPoller(
                self.config.http_sd, self.sync_http_sd, self._discovery_error
            )
            self._http_sd.start()

    async def stop(self) -> None:
        for watcher in self._watchers:
            watcher.stop()
        if self._http_sd is not None:
            await self._http_sd.stop()
        await self.scraper.close()

    def targets_json(self) -> dict[str, Any]:
        items = []
        for view in (state.view() for state in self.scraper.states.values()):
            t = view.target
            items.append(
                {
                    "url": t.url,
                    "auth": t.auth,
                    "namespace": t.namespace,
                    "pod": t.pod,
                    "role": t.role,
                    "group": t.group,
                    "model": view.model,
                    "engine": view.engine,
                    "up": view.up,
                    "last_success": view.last_success,
                    "last_scrape_duration_seconds": view.last_duration,
                    "last_error": view.last_error,
                    "errors": view.errors,
                    "counter_resets": view.resets,
                }
            )
        return {"targets": items}

    def metrics(self) -> bytes:
        """The ``/metrics`` body: text format 0.0.4, which Prometheus accepts whatever it
        asks for first (prometheus_client answers the same to a client asking for no other)."""
        return render(self.scraper.exported()).encode() + generate_latest(self.process)

    def app(self) -> web.Application:
        async def metrics(request: web.Request) -> web.Response:
            return web.Response(body=self.metrics(), headers={"Content-Type": CONTENT_TYPE})

        async def role_snapshot(request: web.Request) -> web.Response:
            document = observation.to_json(self.scraper.exported().roles)
            return web.json_response(document, dumps=strictjson.dumps)

        async def targets(request: web.Request) -> web.Response:
            return web.json_response(self.targets_json(), dumps=strictjson.dumps)

        async def healthz(request: web.Request) -> web.Response:
            return web.Response(text="ok\n")

        app = web.Application()
        app.router.add_get("/metrics", metrics)
        app.router.add_get("/v1/roles", role_snapshot)
        app.router.add_get("/v1/targets", targets)
        app.router.add_get("/healthz", healthz)
        return app


async def serve(config: ExporterConfig, ready: Callable[[str, int], None] | None = None) -> None:
    """Run the exporter until cancelled; ``ready(host, port)`` once it listens."""
    exporter = Exporter(config)  # reads the secret files: a ConfigError before listening
    runner = web.AppRunner(exporter.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, config.host, config.port)
        try:
            await site.start()
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}; "
                "pick another --port"
            ) from None
        port = int(runner.addresses[0][1]) if runner.addresses else config.port
        await exporter.start()
        if ready is not None:
            ready(config.host, port)
        await asyncio.Event().wait()
    finally:
        await exporter.stop()
        await runner.cleanup()
