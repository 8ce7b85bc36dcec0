"""The Prometheus source against a real Prometheus 2.42: over the exporter's series, over
the engines' own series when there is no exporter, and failing with its cause when
Prometheus goes away, answers 500 or HTML, sends another shape, or hangs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from llmobs.autoscaler.sources import PrometheusSource, PrometheusSourceConfig
from llmobs.sim.config import EngineSettings
from tests.exporterhost import ExporterHost, all_up, cluster_targets
from tests.integration.autoscaler.observing import (
    MODEL,
    both_roles,
    check_pd,
    failure,
    fixed,
    hang,
    load,
    loaded,
    observed,
    until,
)
from tests.prometheus import Prometheus
from tests.servers import HTTPServer
from tests.simhost import LoopThread, SimHost


@pytest.fixture
def loop() -> Iterator[LoopThread]:
    thread = LoopThread()
    try:
        yield thread
    finally:
        thread.close()


@pytest.fixture
def pd() -> Iterator[SimHost]:
    with SimHost(EngineSettings(), roles={"prefill": 1, "decode": 1}) as sim:
        yield sim


def _prometheus(root: Path, jobs: str) -> Prometheus:
    config = "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n" + jobs
    return Prometheus(root, config).start()


def test_prometheus_source_over_the_exporters_series(
    pd: SimHost, loop: LoopThread, tmp_path: Path
) -> None:
    config = {"targets": cluster_targets(pd, "pd"), "interval_s": 0.2, "window_s": 60}
    with ExporterHost(config) as host:
        host.wait(all_up, "targets up")
        target = host.url.removeprefix("http://")
        job = f"  - job_name: llmobs\n    static_configs: [{{targets: ['{target}']}}]\n"
        prometheus = _prometheus(tmp_path, job)
        source = PrometheusSource(PrometheusSourceConfig(url=prometheus.url, window_s=30))
        try:
            until(observed(loop, source), both_roles, "Prometheus to hold both roles")
            load(pd)
            obs = until(observed(loop, source), loaded(1), "the load to be seen")
            check_pd(obs, source.clock.wall())
            assert obs.find("prefill").replicas.scraped == 1  # type: ignore[union-attr]
            prometheus.stop()
            error = failure(loop, source)
            assert error.cause == "unreachable" and prometheus.url in str(error)
        finally:
            prometheus.stop()
            loop.run(source.close())


def test_prometheus_source_falls_back_to_the_engines_series(
    pd: SimHost, loop: LoopThread, tmp_path: Path
) -> None:
    jobs = "  - job_name: vllm\n    static_configs:\n"
    for t in cluster_targets(pd, "pd"):
        address = t["url"].removeprefix("http://").removesuffix("/metrics")
        jobs += f"      - {{targets: ['{address}'], labels: {{role: {t['role']}}}}}\n"
    prometheus = _prometheus(tmp_path, jobs)
    plain = PrometheusSource(PrometheusSourceConfig(url=prometheus.url))
    config = PrometheusSourceConfig(
        url=prometheus.url, window_s=30, engine_series={"engine": "vllm"}
    )
    source = PrometheusSource(config)
    try:
        until(observed(loop, source), both_roles, "Prometheus to hold both engines")
        error = failure(loop, plain)  # no exporter series and no fallback: said, not zero
        assert error.cause == "no_data" and "engine_series" in str(error)
        load(pd)
        obs = until(observed(loop, source), loaded(1), "the load to be seen")
        check_pd(obs, source.clock.wall())
        assert obs.find("prefill").key.model == MODEL  # type: ignore[union-attr]
    finally:
        prometheus.stop()
        loop.run(source.close())
        loop.run(plain.close())


TOKEN = "prom-t0ken"


async def guarded(request: web.Request) -> web.Response:
    """Empty results for the right bearer token; else a 401 echoing what it was sent."""
    sent = request.headers.get("Authorization", "")
    if sent == f"Bearer {TOKEN}":
        return web.json_response({"status": "success", "data": {"result": []}})
    return web.Response(status=401, text=f"unauthorized: {sent}")


@pytest.fixture(scope="module")
def fake_prometheus() -> Iterator[HTTPServer]:
    routes = {
        "/500/api/v1/query": fixed(500, '{"status":"error","error":"overloaded"}'),
        "/html/api/v1/query": fixed(200, "<html>login</html>", "text/html"),
        "/shape/api/v1/query": fixed(
            200, '{"status":"success","data":{"result":[{"metric":{},"value":"x"}]}}'
        ),
        "/hang/api/v1/query": hang,
        "/auth/api/v1/query": guarded,
    }
    with HTTPServer(routes) as server:
        yield server


@pytest.mark.parametrize(
    ("path", "cause", "words"),
    [
        ("/500", "http_status", "500"),
        ("/html", "malformed", "no query result"),
        ("/shape", "malformed", '[time, "value"]'),
        ("/hang", "timeout", "within 0.3s"),
    ],
)
def test_prometheus_source_failures(
    fake_prometheus: HTTPServer, loop: LoopThread, path: str, cause: str, words: str
) -> None:
    source = PrometheusSource(PrometheusSourceConfig(url=fake_prometheus.url(path), timeout_s=0.3))
    try:
        error = failure(loop, source)
        assert error.cause == cause, error
        assert words in str(error)
    finally:
        loop.run(source.close())


@pytest.mark.parametrize(("token", "cause"), [(TOKEN, "no_data"), ("wrong-t0ken", "http_status")])
def test_prometheus_source_sends_credentials_and_never_shows_them(
    fake_prometheus: HTTPServer, loop: LoopThread, tmp_path: Path, token: str, cause: str
) -> None:
    secret = tmp_path / "token"
    secret.write_text(token)
    url = fake_prometheus.url("/auth")
    source = PrometheusSource(PrometheusSourceConfig(url=url, bearer_token_file=str(secret)))
    try:
        error = failure(loop, source)  # an empty Prometheus is no_data, not zero replicas
        assert error.cause == cause, error
        assert token not in str(error) and url in str(error)
    finally:
        loop.run(source.close())
