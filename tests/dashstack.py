"""The whole observed stack for the dashboard checks, on 127.0.0.1: three emulated PD
deployments (vLLM of both naming generations and SGLang), the exporter scraping them, the
autoscaler sizing one of them through its scale subresource, and a real Prometheus scraping
the exporter, the autoscaler and every engine (with the labels Kubernetes discovery gives).

Readiness is always a condition on what a server serves (targets up, a series present, a
window filled), never a sleep.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import openai
import yaml

from llmobs import names, promql
from llmobs.autoscaler.app import Settings, serve
from llmobs.config import validate
from llmobs.sim.config import EngineSettings
from tests.exporterhost import ExporterHost, all_up, cluster_targets
from tests.prometheus import Prometheus
from tests.servers import wait_until
from tests.simhost import LoopThread, SimHost

NAMESPACE = "llm"
WINDOW = 40.0  # the exporter's window; the checks set $__rate_interval to it
SCRAPE = 1.0  # Prometheus's scrape interval, the data source's "scrape interval"
EXPORTER_INTERVAL = 0.5  # the exporter's scrape interval
MODEL = "Qwen/Qwen2.5-7B-Instruct"
# Deployments by group: both vLLM naming generations and SGLang, each 1 prefill + 1 decode.
ENGINES: dict[str, EngineSettings] = {
    "vllm": EngineSettings(engine="vllm"),
    "vllm-v011": EngineSettings(engine="vllm", engine_version="0.11.0"),
    "sglang": EngineSettings(engine="sglang", enable_metrics=True),
}
SCALED = "vllm"  # the group the autoscaler sizes
GPU_BUDGET = 8
REQUESTS = 8  # per deployment, each to completion
HELD = 3  # per deployment, long requests decoding through the checks
HELD_TOKENS = 6000  # each held request's prompt and answer: minutes of decoding


@dataclass
class Stack:
    sims: dict[str, SimHost]
    exporter: ExporterHost
    prometheus: Prometheus
    autoscaler_url: str
    targets: list[dict[str, str]]
    clients: LoopThread  # the held requests' streams: closing it cancels them
    sent: dict[str, int] = field(default_factory=dict)
    held: list[asyncio.Task[None]] = field(default_factory=list)

    def query(self, expr: str) -> list[dict[str, Any]]:
        return self.prometheus.query(expr, time.time())


def _targets(sims: dict[str, SimHost]) -> list[dict[str, str]]:
    """Static exporter targets, pods named per deployment (two share no namespace and pod)."""
    out = []
    for group, sim in sims.items():
        for target in cluster_targets(sim, group):
            out.append({**target, "pod": f"{group}-{target['pod']}", "namespace": NAMESPACE})
    return out


def _prometheus_config(
    exporter: str, autoscaler: str, targets: list[dict[str, str]]
) -> dict[str, Any]:
    engines = [
        {
            "targets": [t["url"].removeprefix("http://").removesuffix("/metrics")],
            "labels": {k: t[k] for k in (names.NAMESPACE, names.POD, names.ROLE, names.GROUP)},
        }
        for t in targets
    ]
    return {
        "global": {"scrape_interval": f"{SCRAPE:g}s", "evaluation_interval": f"{SCRAPE:g}s"},
        "scrape_configs": [
            {"job_name": "llmobs-exporter", "static_configs": [{"targets": [exporter]}]},
            {"job_name": "llmobs-autoscaler", "static_configs": [{"targets": [autoscaler]}]},
            {"job_name": "engines", "static_configs": engines},
        ],
    }


def _autoscaler_settings(exporter_url: str, api_url: str) -> Settings:
    """Loose SLOs on every signal (each draws its line on the boards): the loop decides every
    second and holds, so the replicas stay those the exporter scrapes."""
    document = {
        "policy": {
            "interval_s": 1.0,
            "group": SCALED,
            "gpu_budget": GPU_BUDGET,
            "roles": {
                "prefill": {"slo": {"ttft": {"p90": "30s"}, "queue": {"p90": "30s"}}},
                "decode": {
                    "slo": {"tpot": {"p90": "10s"}, "itl": {"p90": "10s"}, "e2e": {"p90": "60s"}}
                },
            },
        },
        "source": {"kind": "exporter", "url": exporter_url},
        "output": {"api_url": api_url},
        "http": {"host": "127.0.0.1", "port": 0},
    }
    return validate(Settings, document, "autoscaler settings")


def _start_autoscaler(thread: LoopThread, settings: Settings) -> str:
    port: concurrent.futures.Future[int] = concurrent.futures.Future()

    def ready(http_port: int, _grpc: int | None) -> None:
        port.set_result(http_port)

    async def start() -> None:
        asyncio.get_running_loop().create_task(
            serve(settings, dry_run=False, ready=ready, log=lambda _line: None)
        )

    thread.run(start())
    return f"127.0.0.1:{port.result(60)}"


def _up(stack_prometheus: Prometheus, expected: int) -> bool:
    found = stack_prometheus.query("count(up == 1)", time.time())
    return bool(found) and float(found[0]["value"][1]) == expected


@dataclass
class Running:
    """What a started stack needs closed, in reverse order."""

    sims: dict[str, SimHost] = field(default_factory=dict)
    exporter: ExporterHost | None = None
    thread: LoopThread | None = None
    prometheus: Prometheus | None = None
    clients: LoopThread = field(default_factory=LoopThread)

    def close(self) -> None:
        self.clients.close()  # the held streams end first: the engines then stop at once
        if self.prometheus is not None:
            self.prometheus.stop()
        if self.thread is not None:
            self.thread.close()  # cancels the autoscaler, which closes its sessions
        if self.exporter is not None:
            self.exporter.close()
        for sim in self.sims.values():
            sim.close()


@contextlib.contextmanager
def started(root: Path) -> Iterator[Stack]:
    """The stack, every scrape target up; closed when the generator is."""
    running = Running()
    try:
        for group, engine in ENGINES.items():
            running.sims[group] = SimHost(engine, roles={"prefill": 1, "decode": 1})
        targets = _targets(running.sims)
        running.exporter = ExporterHost(
            {"targets": targets, "interval_s": EXPORTER_INTERVAL, "window_s": WINDOW}
        )
        running.exporter.wait(all_up, "the exporter's targets up", timeout=60)
        running.thread = LoopThread()
        settings = _autoscaler_settings(running.exporter.url, running.sims[SCALED].url)
        autoscaler = _start_autoscaler(running.thread, settings)
        config = _prometheus_config(
            running.exporter.url.removeprefix("http://"), autoscaler, targets
        )
        running.prometheus = Prometheus(root, yaml.safe_dump(config)).start()
        prometheus = running.prometheus
        wait_until(lambda: _up(prometheus, 2 + len(targets)), 60, "every scrape target up")
        yield Stack(
            running.sims, running.exporter, prometheus, autoscaler, targets, running.clients
        )
    finally:
        running.close()


def window_filled(stack: Stack) -> bool:
    """Prometheus and the exporter both hold a full window of history before any load."""
    roles = stack.exporter.roles()["roles"]
    if len(roles) != 2 * len(ENGINES) or any(r["window_seconds"] < WINDOW for r in roles):
        return False
    samples = f"count_over_time({names.TARGET_UP.name}[{promql.duration(WINDOW + 5)}])"
    found = stack.query(f"min({samples})")
    return bool(found) and float(found[0]["value"][1]) >= WINDOW + 2


def load(stack: Stack) -> None:
    """REQUESTS completions through each deployment's proxy, prompts of several lengths."""
    for group, sim in stack.sims.items():
        with openai.OpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0) as client:
            for i in range(REQUESTS):
                client.completions.create(
                    model=MODEL, prompt=" the" * (300 + 97 * i), max_tokens=6 + 3 * i
                )
        stack.sent[group] = REQUESTS


async def _stream(url: str) -> None:
    """One long streamed completion, read until it ends or is cancelled."""
    body = {"model": MODEL, "prompt": " the" * HELD_TOKENS, "max_tokens": HELD_TOKENS}
    async with aiohttp.ClientSession() as session:
        try:
            async with session.post(url + "/v1/completions", json={**body, "stream": True}) as r:
                async for _chunk in r.content.iter_any():
                    pass
        except aiohttp.ClientError:
            return  # the engine went away first


def hold(stack: Stack) -> None:
    """HELD long requests into each deployment, streaming in the background."""

    async def start() -> None:
        loop = asyncio.get_running_loop()
        for sim in stack.sims.values():
            stack.held += [loop.create_task(_stream(sim.url)) for _ in range(HELD)]

    stack.clients.run(start())


def _held_in_place(stack: Stack) -> bool:
    """Each deployment's held requests are decoding, as the exporter and as Prometheus last
    saw them."""
    expected = {
        (group, role): float(HELD if role == names.ROLE_DECODE else 0)
        for group in ENGINES
        for role in (names.ROLE_PREFILL, names.ROLE_DECODE)
    }
    by = (names.GROUP, names.ROLE)
    stored = stack.query(promql.aggregate(promql.Agg.SUM, names.ROLE_REQUESTS_RUNNING.name, by))
    if {
        (s["metric"][names.GROUP], s["metric"][names.ROLE]): float(s["value"][1]) for s in stored
    } != expected:
        return False
    return all(
        r["requests_running"] == expected[r["group"], r["role"]]
        for r in stack.exporter.roles()["roles"]
    )


def settled(stack: Stack) -> bool:
    """Every request reached the exporter's window and Prometheus's copy of its series, and
    the held ones are in place."""
    if not _held_in_place(stack):
        return False
    signal = names.TARGET_HISTOGRAMS["e2e_seconds"].name + "_count"
    stored = stack.query(
        promql.aggregate(promql.Agg.SUM, promql.selector(signal), (names.GROUP, names.ROLE))
    )
    counts = {(s["metric"][names.GROUP], s["metric"][names.ROLE]): s["value"][1] for s in stored}
    for role in stack.exporter.roles()["roles"]:
        key = (role["group"], role["role"])
        e2e = role["latency"]["e2e_seconds"]
        sent = stack.sent.get(role["group"])
        # A held request has finished at its prefill replica once it decodes.
        want = None if sent is None else sent + (HELD if role["role"] == names.ROLE_PREFILL else 0)
        if e2e is None or e2e["count"] != want or counts.get(key) != str(want):
            return False
    return True


def scraped_since(stack: Stack, moment: float) -> bool:
    """Prometheus has scraped every target (the engines too) since ``moment``."""
    found = stack.query("min(timestamp(up))")
    return bool(found) and float(found[0]["value"][1]) > moment


def close_to(ours: float | None, theirs: float | None, rel: float) -> bool:
    """Equal within ``rel`` relative (absolute near 0); None only with None."""
    if ours is None or theirs is None:
        return ours is None and theirs is None
    return math.isclose(ours, theirs, rel_tol=rel, abs_tol=1e-9)
