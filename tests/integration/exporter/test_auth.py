"""Scrapes that authenticate, for discovered pods as for static targets: the secret is read
from its file at start, sent in the Authorization header, and never served back."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from tests.exporterhost import ExporterHost
from tests.fixtures.expositions import load
from tests.kubeapi import FakeKubeAPI, make_pod
from tests.servers import HTTPServer

TOKEN = "p0dTOKEN"


class BearerTarget(HTTPServer):
    """An engine that serves /metrics to ``Bearer TOKEN`` only; anything else gets 401."""

    def __init__(self) -> None:
        self.seen: list[str] = []

        async def metrics(request: web.Request) -> web.StreamResponse:
            self.seen.append(request.headers.get("Authorization", ""))
            if self.seen[-1] != f"Bearer {TOKEN}":
                return web.Response(status=401, text=f"got {self.seen[-1]!r}")
            return web.Response(text=load("vllm-0.32.0.txt"), content_type="text/plain")

        super().__init__({"/metrics": metrics})


def test_discovered_pods_are_scraped_with_the_token_file(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    with BearerTarget() as engine, FakeKubeAPI(token="api-token") as api:
        ports = [{"name": "http", "containerPort": engine.port}]
        api.add_pod(make_pod("vllm-0", namespace="llm", labels={"app": "vllm"}, ports=ports))
        discovery = {
            "kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig")),
            "namespaces": ["llm"],
            "label_selector": "app=vllm",
            "port_name": "http",
            "bearer_token_file": str(token_file),
        }
        config = {"kubernetes": discovery, "interval_s": 0.5, "window_s": 5}
        with ExporterHost(config) as host:
            host.wait(lambda h: bool(h.targets().get("vllm-0", {}).get("up")), "the pod scraped")
            assert host.targets()["vllm-0"]["auth"] == "bearer"
            for path in ("/metrics", "/v1/targets", "/v1/roles"):
                assert TOKEN not in host.get(path).decode(), path
        assert set(engine.seen) == {f"Bearer {TOKEN}"}
