"""The autoscaler's observation sources against real servers on 127.0.0.1: the emulator
(prefill and decode instances, static or found by the pod watch), a real exporter, and
fake servers that fail each way a source meets.
Every failure is a ``SourceError`` whose cause says what happened; never a zero.
Prometheus has its own module (``test_source_prometheus``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from llmobs import observation, strictjson
from llmobs.autoscaler.model import SourceError
from llmobs.autoscaler.sources import (
    ExporterSource,
    ExporterSourceConfig,
    ScrapeSource,
    ScrapeSourceConfig,
)
from llmobs.errors import ConfigError
from llmobs.observation import Observation
from llmobs.sim.config import EngineSettings
from tests.exporterhost import ExporterHost, all_up, cluster_targets
from tests.integration.autoscaler.observing import (
    REQUESTS,
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
from tests.kubeapi import FakeKubeAPI, make_pod
from tests.servers import HTTPServer, free_port, wait_until
from tests.simhost import LoopThread, SimHost

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


# In-process scraping ----------------------------------------------------------------------


def test_scrape_source_sees_prefill_and_decode(pd: SimHost, loop: LoopThread) -> None:
    config = ScrapeSourceConfig.model_validate(
        {"targets": cluster_targets(pd, "pd"), "interval_s": 0.2, "window_s": 60}
    )
    source = ScrapeSource(config)
    try:
        until(observed(loop, source), both_roles, "both roles scraped")
        load(pd)
        obs = until(observed(loop, source), loaded(REQUESTS), "the load to be seen")
        check_pd(obs, source.clock.wall())
        assert obs.find("prefill").latency.ttft_seconds.count == REQUESTS  # type: ignore[union-attr]
        assert source.last_success is not None
    finally:
        loop.run(source.close())


def test_scrape_source_with_every_target_down_fails_with_thecause_of(loop: LoopThread) -> None:
    url = f"http://127.0.0.1:{free_port()}/metrics"
    config = ScrapeSourceConfig.model_validate({"targets": [{"url": url, "role": "decode"}]})
    source = ScrapeSource(config)
    try:
        wait_until(
            lambda: cause_of(loop, source) == "unreachable", 30, "the scrape to fail as unreachable"
        )
        error = failure(loop, source)
        assert "every target is down" in str(error) and "127.0.0.1" in str(error)
    finally:
        loop.run(source.close())


def cause_of(loop: LoopThread, source: Any) -> str | None:
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
            obs = until(observed(loop, source), loaded(REQUESTS), "the load to be seen")
            check_pd(obs, source.clock.wall())
            served = observation.from_json(host.roles())
            assert [r.key for r in obs.roles] == [r.key for r in served.roles]
        finally:
            loop.run(source.close())


async def _echo_token(request: web.Request) -> web.Response:
    """A 401 that echoes the Authorization header back, as careless proxies do."""
    return web.Response(status=401, text=f"bad {request.headers.get('Authorization')}")


GOOD = strictjson.dumps({"schema_version": 1, "timestamp": 1.0, "window_seconds": 60, "roles": []})


@pytest.fixture(scope="module")
def fakes() -> Iterator[HTTPServer]:
    routes = {
        "/ok/v1/roles": fixed(200, GOOD),
        "/500/v1/roles": fixed(500, "internal error"),
        "/json/v1/roles": fixed(200, '{"schema_version": 1, "roles": [tru'),
        "/nan/v1/roles": fixed(200, GOOD.replace("60", "NaN")),
        "/schema/v1/roles": fixed(200, '{"schema_version": 2, "roles": []}'),
        "/hang/v1/roles": hang,
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
            obs = until(observed(loop, source), loaded(REQUESTS), "the load to be seen")
            check_pd(obs, source.clock.wall())
        finally:
            loop.run(source.close())
