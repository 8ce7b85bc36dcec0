"""The autoscaler's observation sources against real servers on 127.0.0.1: the emulator
(prefill and decode instances), a real exporter, a real Prometheus 2.42 (scraping the
exporter, or the engines directly), and fake servers that fail each way a source meets.
Every failure is a ``SourceError`` whose cause says what happened; never a zero."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from llmobs import observation, strictjson
from llmobs.autoscaler.model import SourceError
from llmobs.autoscaler.sources import (
    ExporterSource,
    ExporterSourceConfig,
    PrometheusSource,
    PrometheusSourceConfig,
    ScrapeSource,
    ScrapeSourceConfig,
)
from llmobs.errors import ConfigError
from llmobs.observation import Observation
from llmobs.sim.config import EngineSettings
from tests.exporterhost import ExporterHost, all_up, cluster_targets
from tests.kubeapi import FakeKubeAPI, make_pod
from tests.prometheus import Prometheus
from tests.servers import HTTPServer, free_port, wait_until
from tests.simhost import LoopThread, SimHost

MODEL = "Qwen/Qwen2.5-7B-Instruct"
REQUESTS = 6
TOKEN = "s3cr3t-t0ken"


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


def load(sim: SimHost, count: int = REQUESTS) -> None:
    with openai.OpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0) as client:
        for i in range(count):
            client.completions.create(model=MODEL, prompt=" the" * (100 + 20 * i), max_tokens=6)


def observed(loop: LoopThread, source: Any) -> Callable[[], Observation | None]:
    """``source.observe()`` now, None while it fails."""

    def attempt() -> Observation | None:
        try:
            result: Observation = loop.run(source.observe())
            return result
        except SourceError:
            return None

    return attempt


def failure(loop: LoopThread, source: Any) -> SourceError:
    with pytest.raises(SourceError) as caught:
        loop.run(source.observe())
    return caught.value


def until(
    get: Callable[[], Observation | None], test: Callable[[Observation], bool], what: str
) -> Observation:
    found: list[Observation] = []

    def ready() -> bool:
        result = get()
        if result is not None and test(result):
            found.append(result)
            return True
        return False

    wait_until(ready, 60, what)
    return found[-1]


def counted(signal: str, role: str, at_least: float) -> Callable[[Observation], bool]:
    def test(obs: Observation) -> bool:
        item = obs.find(role)
        lat = item.latency.get(signal) if item is not None else None
        return lat is not None and lat.count >= at_least

    return test


def both_roles(obs: Observation) -> bool:
    return obs.find("prefill") is not None and obs.find("decode") is not None


def check_pd(obs: Observation, now: float) -> None:
    """What every source must see of the PD emulator after ``load``."""
    prefill, decode = obs.find("prefill"), obs.find("decode")
    assert prefill is not None and decode is not None
    for item in (prefill, decode):
        assert (item.replicas.ready, item.replicas.up) == (1, 1)
        assert item.age_seconds is not None and 0 <= item.age_seconds < 30
        assert abs(item.timestamp - now) < 30
    ttft = prefill.latency.ttft_seconds
    assert ttft is not None and ttft.quantiles[0.9] is not None and ttft.quantiles[0.9] > 0
    assert prefill.prompt_tokens_rate is not None and prefill.prompt_tokens_rate > 0
    assert decode.generation_tokens_rate is not None and decode.generation_tokens_rate > 0
    assert decode.kv_cache_usage_ratio.max is not None


# In-process scraping ----------------------------------------------------------------------


def test_scrape_source_sees_prefill_and_decode(pd: SimHost, loop: LoopThread) -> None:
    config = ScrapeSourceConfig.model_validate(
        {"targets": cluster_targets(pd, "pd"), "interval_s": 0.2, "window_s": 60}
    )
    source = ScrapeSource(config)
    try:
        until(observed(loop, source), both_roles, "both roles scraped")
        load(pd)
        obs = until(observed(loop, source), counted("ttft_seconds", "prefill", REQUESTS), "ttft")
        check_pd(obs, source.clock.wall())
        assert obs.find("prefill").latency.ttft_seconds.count == REQUESTS  # type: ignore[union-attr]
        assert source.last_success is not None
    finally:
        loop.run(source.close())


def test_scrape_source_with_every_target_down_fails_with_the_cause(loop: LoopThread) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    config = ScrapeSourceConfig.model_validate({"targets": [{"url": url, "role": "decode"}]})
    source = ScrapeSource(config)
    try:
        wait_until(
            lambda: _cause(loop, source) == "unreachable", 30, "the scrape to fail as unreachable"
        )
        error = failure(loop, source)
        assert "every target is down" in str(error) and "127.0.0.1" in str(error)
    finally:
        loop.run(source.close())


def _cause(loop: LoopThread, source: Any) -> str | None:
    try:
        loop.run(source.observe())
    except SourceError as exc:
        return exc.cause
    return None


def test_scrape_source_config_serves_nothing() -> None:
    with pytest.raises(ValueError, match="serves nothing"):
        ScrapeSourceConfig.model_validate({"targets": [{"url": "h:1"}], "port": 9400})


# An exporter's /v1/roles ------------------------------------------------------------------


def test_exporter_source_reads_a_real_exporter(pd: SimHost, loop: LoopThread) -> None:
    config = {"targets": cluster_targets(pd, "pd"), "interval_s": 0.2, "window_s": 60}
    with ExporterHost(config) as host:
        host.wait(all_up, "targets up")
        load(pd)
        source = ExporterSource(ExporterSourceConfig(url=host.url))
        try:
            obs = until(
                observed(loop, source), counted("ttft_seconds", "prefill", REQUESTS), "ttft"
            )
            check_pd(obs, source.clock.wall())
            served = observation.from_json(host.roles())
            assert [r.key for r in obs.roles] == [r.key for r in served.roles]
        finally:
            loop.run(source.close())


async def _hang(request: web.Request) -> web.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def _fixed(status: int, body: str, content_type: str = "application/json") -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    return handler


async def _echo_token(request: web.Request) -> web.Response:
    """A 401 that echoes the Authorization header back, as careless proxies do."""
    return web.Response(status=401, text=f"bad {request.headers.get('Authorization')}")


GOOD = strictjson.dumps({"schema_version": 1, "timestamp": 1.0, "window_seconds": 60, "roles": []})


@pytest.fixture(scope="module")
def fakes() -> Iterator[HTTPServer]:
    routes = {
        "/ok/v1/roles": _fixed(200, GOOD),
        "/500/v1/roles": _fixed(500, "internal error"),
        "/json/v1/roles": _fixed(200, '{"schema_version": 1, "roles": [tru'),
        "/nan/v1/roles": _fixed(200, GOOD.replace("60", "NaN")),
        "/schema/v1/roles": _fixed(200, '{"schema_version": 2, "roles": []}'),
        "/hang/v1/roles": _hang,
        "/echo/v1/roles": _echo_token,
    }
    with HTTPServer(routes) as server:
        yield server


@pytest.mark.parametrize(
    ("path", "cause", "words"),
    [
        ("/500/v1/roles", "http_status", "HTTP 500"),
        ("/json/v1/roles", "malformed", "no role document"),
        ("/nan/v1/roles", "malformed", "NaN"),
        ("/schema/v1/roles", "malformed", "schema_version"),
        ("/hang/v1/roles", "timeout", "within 0.3s"),
        ("/echo/v1/roles", "http_status", "HTTP 401"),
    ],
)
def test_exporter_source_failures(
    fakes: HTTPServer, loop: LoopThread, tmp_path: Path, path: str, cause: str, words: str
) -> None:
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    config = ExporterSourceConfig(url=fakes.url(path), timeout_s=0.3, bearer_token_file=str(token))
    source = ExporterSource(config)
    try:
        error = failure(loop, source)
        assert error.cause == cause, error
        assert words in str(error) and fakes.url(path) in str(error)
        assert TOKEN not in str(error)
    finally:
        loop.run(source.close())


def test_exporter_source_unreachable_and_userinfo_hidden(loop: LoopThread) -> None:
    url = f"http://user:pw-secret@127.0.0.1:{free_port()}"
    source = ExporterSource(ExporterSourceConfig(url=url))
    try:
        error = failure(loop, source)
        assert error.cause == "unreachable"
        assert "pw-secret" not in str(error) and "user:<secret>@" in str(error)
    finally:
        loop.run(source.close())


def test_exporter_source_reads_a_good_document_and_refuses_bad_urls(
    fakes: HTTPServer, loop: LoopThread
) -> None:
    source = ExporterSource(ExporterSourceConfig(url=fakes.url("/ok/v1/roles")))
    try:
        assert loop.run(source.observe()) == Observation(1.0, 60.0, ())
    finally:
        loop.run(source.close())
    small = ExporterSource(ExporterSourceConfig(url=fakes.url("/ok/v1/roles"), max_bytes=10))
    try:
        error = failure(loop, small)
        assert error.cause == "too_large" and "more than 10 bytes" in str(error)
    finally:
        loop.run(small.close())
    with pytest.raises(ValueError, match="not an exporter URL"):
        ExporterSourceConfig(url="ftp://x:1")
    with pytest.raises(ConfigError, match="missing"):
        ExporterSource(ExporterSourceConfig(url="http://h:1", bearer_token_file="/missing"))


# Prometheus -------------------------------------------------------------------------------


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
            obs = until(observed(loop, source), counted("ttft_seconds", "prefill", 1), "ttft")
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
        obs = until(observed(loop, source), counted("ttft_seconds", "prefill", 1), "ttft")
        check_pd(obs, source.clock.wall())
        assert obs.find("prefill").key.model == MODEL  # type: ignore[union-attr]
    finally:
        prometheus.stop()
        loop.run(source.close())
        loop.run(plain.close())


@pytest.fixture(scope="module")
def fake_prometheus() -> Iterator[HTTPServer]:
    routes = {
        "/500/api/v1/query": _fixed(500, '{"status":"error","error":"overloaded"}'),
        "/html/api/v1/query": _fixed(200, "<html>login</html>", "text/html"),
        "/shape/api/v1/query": _fixed(
            200, '{"status":"success","data":{"result":[{"metric":{},"value":"x"}]}}'
        ),
        "/hang/api/v1/query": _hang,
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


def test_scrape_source_finds_the_roles_with_the_pod_watch(
    pd: SimHost, loop: LoopThread, tmp_path: Path
) -> None:
    role_labels = {
        "prefill": {"rbg.workloads.x-k8s.io/role-name": "prefill"},
        "decode": {"rbg.workloads.x-k8s.io/role-name": "decode"},
    }
    with FakeKubeAPI(token="kube-token", bookmark_interval=0.2) as api:
        for t in cluster_targets(pd, "pd"):
            port = int(t["url"].removesuffix("/metrics").rpartition(":")[2])
            labels = {"app": "llm", "rbg.workloads.x-k8s.io/group-name": "pd"}
            ports = [{"name": "http", "containerPort": port}]
            labels |= role_labels[t["role"]]
            api.add_pod(make_pod(t["pod"], namespace="llm", labels=labels, ports=ports))
        kube = {
            "kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig")),
            "namespaces": ["llm"],
            "label_selector": "app=llm",
            "port_name": "http",
        }
        config = ScrapeSourceConfig.model_validate(
            {"kubernetes": kube, "interval_s": 0.2, "window_s": 60}
        )
        source = ScrapeSource(config)
        try:
            obs = until(observed(loop, source), both_roles, "both pods discovered and scraped")
            assert {(r.key.namespace, r.key.group, r.key.role) for r in obs.roles} == {
                ("llm", "pd", "prefill"),
                ("llm", "pd", "decode"),
            }
            load(pd)
            obs = until(
                observed(loop, source), counted("ttft_seconds", "prefill", REQUESTS), "ttft"
            )
            check_pd(obs, source.clock.wall())
        finally:
            loop.run(source.close())
