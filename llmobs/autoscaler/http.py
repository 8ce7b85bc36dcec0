"""The autoscaler's HTTP surface: ``/metrics``, ``/v1/decisions`` and ``/healthz``.

``/metrics`` shows what the loop saw and did, per role: the replicas it wants (the latest
decision), the replicas it found (asked for and ready) and every decision counted by its
deciding reason; a role whose replicas were never read has no current/ready sample (missing
is absent, never 0). ``/v1/decisions`` is the last decisions of every role with their inputs,
strict JSON. Every name comes from ``llmobs.names``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from llmobs import names, strictjson
from llmobs.autoscaler.config import AutoscalerConfig, observed_input
from llmobs.autoscaler.service import Autoscaler
from llmobs.errors import ConfigError

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _gauge(metric: names.Metric) -> GaugeMetricFamily:
    return GaugeMetricFamily(metric.name, metric.help, labels=metric.labels)


class Decisions(Collector):
    """The loop's state as Prometheus families, read at each scrape; with the policy's
    ``config``, also each SLO's observed and target values and the GPUs against the budget."""

    def __init__(self, scaler: Autoscaler, config: AutoscalerConfig | None = None) -> None:
        self.scaler = scaler
        self.config = config

    def _slos(self) -> Iterator[Metric]:
        observed = _gauge(names.AUTOSCALER_OBSERVED)
        target = _gauge(names.AUTOSCALER_TARGET)
        gpus: int | None = 0
        assert self.config is not None
        for role in self.scaler.roles:
            settings = self.config.roles.get(role.role)
            if settings is None:
                continue
            decision = self.scaler.latest.get(role.role)
            for slo in settings.targets():
                labels = [role.group, role.role, slo.name]
                target.add_metric(labels, slo.seconds)
                value = decision.inputs.get(observed_input(slo.name)) if decision else None
                if isinstance(value, int | float) and math.isfinite(value):
                    observed.add_metric(labels, value)
            replicas = self.scaler.replicas.get(role.role)
            if decision is None or decision.desired is None or replicas is None or gpus is None:
                gpus = None  # unknown for one role: unknown in all
            else:
                gpus += max(decision.desired, replicas.ready) * settings.gpus_per_replica
        yield from (observed, target)
        if gpus is not None:
            family = _gauge(names.AUTOSCALER_GPUS)
            family.add_metric([], gpus)
            yield family
        if self.config.gpu_budget is not None:
            family = _gauge(names.AUTOSCALER_GPU_BUDGET)
            family.add_metric([], self.config.gpu_budget)
            yield family

    def collect(self) -> Iterator[Metric]:
        desired = _gauge(names.AUTOSCALER_DESIRED_REPLICAS)
        current = _gauge(names.AUTOSCALER_CURRENT_REPLICAS)
        ready = _gauge(names.AUTOSCALER_READY_REPLICAS)
        for role in self.scaler.roles:
            labels = [role.group, role.role]
            decision = self.scaler.latest.get(role.role)
            if decision is not None and decision.desired is not None:
                desired.add_metric(labels, decision.desired)
            replicas = self.scaler.replicas.get(role.role)
            if replicas is not None:
                current.add_metric(labels, replicas.desired)
                ready.add_metric(labels, replicas.ready)
        spec = names.AUTOSCALER_DECISIONS
        counted = CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
        groups = {r.role: r.group for r in self.scaler.roles}
        for (name, reason), count in sorted(self.scaler.counts.items()):
            counted.add_metric([groups.get(name, ""), name, reason.value], count)
        yield from (desired, current, ready, counted)
        if self.config is not None:
            yield from self._slos()


def app(scaler: Autoscaler, config: AutoscalerConfig | None = None) -> web.Application:
    """The aiohttp application serving ``scaler``'s state (``config``: the policy's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Decisions(scaler, config))
    registry.register(ProcessCollector(registry=None))

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE})

    async def decisions(request: web.Request) -> web.Response:
        return web.json_response(scaler.decisions_json(), dumps=strictjson.dumps)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    application = web.Application()
    application.router.add_get("/metrics", metrics)
    application.router.add_get("/v1/decisions", decisions)
    application.router.add_get("/healthz", healthz)
    return application


async def listen(
    scaler: Autoscaler,
    host: str,
    port: int,
    config: AutoscalerConfig | None = None,
    ready: Callable[[int], None] | None = None,
) -> web.AppRunner:
    """Serve ``scaler`` on ``host:port`` (0 picks a free port); the caller cleans the runner
    up. ``ready(port)`` once it listens. A port in use is a ``ConfigError``."""
    runner = web.AppRunner(app(scaler, config), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another --port"
        ) from None
    bound = int(runner.addresses[0][1]) if runner.addresses else port
    if ready is not None:
        ready(bound)
    return runner
