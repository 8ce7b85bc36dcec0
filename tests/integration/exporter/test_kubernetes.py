"""Pod discovery through the real list/watch protocol (a loopback API server, the official
client): roles of both RoleBasedGroup versions, readiness, churn, relabels, dropped watches,
compaction, and an API server that refuses us."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.exporterhost import ExporterHost
from tests.fixtures.expositions import load
from tests.kubeapi import FakeKubeAPI, make_pod
from tests.targets import FakeTarget

TOKEN = "s3cret"


@pytest.fixture
def engines() -> Iterator[list[FakeTarget]]:
    servers = [FakeTarget([load("vllm-0.32.0.txt")]) for _ in range(4)]
    try:
        yield servers
    finally:
        for server in servers:
            server.close()


@pytest.fixture
def api() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(token=TOKEN, bookmark_interval=0.2) as server:
        yield server


def engine_pod(name: str, server: FakeTarget, labels: dict[str, str], **kw: Any) -> dict[str, Any]:
    ports = [{"name": "http", "containerPort": server.port}]
    return make_pod(name, namespace="llm", labels={"app": "vllm", **labels}, ports=ports, **kw)


V2 = {"rbg.workloads.x-k8s.io/role-name": "prefill", "rbg.workloads.x-k8s.io/group-name": "pd"}
V1 = {
    "rolebasedgroup.workloads.x-k8s.io/role": "decode",
    "rolebasedgroup.workloads.x-k8s.io/name": "pd",
}


def config(api: FakeKubeAPI, tmp_path: Path, **discovery: Any) -> dict[str, Any]:
    settings = {
        "kubeconfig": str(api.kubeconfig(tmp_path / "kubeconfig")),
        "namespaces": ["llm"],
        "label_selector": "app=vllm",
        "port_name": "http",
        **discovery,
    }
    return {"kubernetes": settings, "interval_s": 0.5, "window_s": 5}


def pods(host: ExporterHost) -> dict[str, dict[str, Any]]:
    return {p: t for p, t in host.targets().items() if t["up"]}


def series_of(host: ExporterHost, pod: str) -> int:
    return sum(
        1 for f in host.metrics().families.values() for s in f.samples if s.labels.get("pod") == pod
    )


def test_discovery_labels_readiness_and_churn(
    api: FakeKubeAPI, engines: list[FakeTarget], tmp_path: Path
) -> None:
    api.add_pod(engine_pod("prefill-0", engines[0], V2))
    api.add_pod(engine_pod("decode-0", engines[1], V1))
    api.add_pod(engine_pod("starting", engines[2], V2, ready=False))
    api.add_pod(engine_pod("no-ip", engines[2], V2, ip=None, ready=False, phase="Pending"))
    other = engine_pod("elsewhere", engines[3], V2)
    other["metadata"]["namespace"] = "other"
    api.add_pod(other)
    api.add_pod(engine_pod("not-selected", engines[3], {"app": "router"}))
    with ExporterHost(config(api, tmp_path)) as host:
        host.wait(lambda h: set(pods(h)) == {"prefill-0", "decode-0"}, "the two ready pods")
        listed = host.targets()
        assert set(listed) == {"prefill-0", "decode-0"}  # not-ready, other ns, unselected: no
        assert (listed["prefill-0"]["role"], listed["prefill-0"]["group"]) == ("prefill", "pd")
        assert (listed["decode-0"]["role"], listed["decode-0"]["group"]) == ("decode", "pd")
        assert listed["decode-0"]["namespace"] == "llm"
        assert listed["prefill-0"]["url"] == f"http://127.0.0.1:{engines[0].port}/metrics"

        def ready(pod: dict[str, Any]) -> None:
            for condition in pod["status"]["conditions"]:
                condition["status"] = "True"

        api.update_pod("llm", "starting", ready)
        host.wait(lambda h: "starting" in pods(h), "the pod that became ready")

        api.delete_pod("llm", "prefill-0")
        host.wait(lambda h: "prefill-0" not in h.targets(), "the deleted pod to go")
        assert series_of(host, "prefill-0") == 0  # its series went with it

        def relabel(pod: dict[str, Any]) -> None:
            pod["metadata"]["labels"]["rolebasedgroup.workloads.x-k8s.io/role"] = "prefill"

        api.update_pod("llm", "decode-0", relabel)
        host.wait(
            lambda h: h.targets().get("decode-0", {}).get("role") == "prefill", "the new role"
        )
        host.wait(lambda h: h.value("llmobs_target_up", pod="decode-0") == 1, "it scraped again")
        assert host.value("llmobs_target_up", pod="decode-0", role="decode") is None

        def unready(pod: dict[str, Any]) -> None:
            pod["status"]["conditions"][1]["status"] = "False"

        api.update_pod("llm", "decode-0", unready)
        host.wait(lambda h: "decode-0" not in h.targets(), "the pod that stopped being ready")
        replicas = [(r["role"], r["group"], r["replicas"]["ready"]) for r in host.roles()["roles"]]
        assert replicas == [("prefill", "pd", 1)]  # "starting", now ready
        assert api.list_calls == 1  # one LIST, then only the watch: no polling
        assert api.watch_calls >= 1


def test_dropped_and_expired_watches_relist(
    api: FakeKubeAPI, engines: list[FakeTarget], tmp_path: Path
) -> None:
    api.add_pod(engine_pod("a", engines[0], V2))
    api.add_pod(engine_pod("b", engines[1], V2))
    with ExporterHost(config(api, tmp_path)) as host:
        host.wait(lambda h: set(pods(h)) == {"a", "b"}, "both pods")
        host.wait(lambda h: api.open_watches == 1, "the watch")
        api.drop_watches("abort")
        host.wait(lambda h: api.list_calls == 2, "a relist after the cut")
        assert host.value("llmobs_exporter_discovery_errors_total") == 1
        api.add_pod(engine_pod("c", engines[2], V2))
        host.wait(lambda h: "c" in pods(h), "a pod added after the reconnect")

        host.wait(lambda h: api.open_watches == 1, "the new watch")
        api.compact()
        api.drop_watches("expired")
        host.wait(lambda h: api.list_calls == 3, "a relist after 410 Gone")
        api.delete_pod("llm", "b")
        host.wait(lambda h: "b" not in h.targets(), "a delete seen by the new watch")
        assert host.value("llmobs_exporter_discovery_errors_total") == 1  # 410 is routine


def test_refused_by_the_api_server_keeps_the_static_targets(
    api: FakeKubeAPI, engines: list[FakeTarget], tmp_path: Path
) -> None:
    api.add_pod(engine_pod("a", engines[0], V2))
    settings = config(api, tmp_path)
    path = Path(settings["kubernetes"]["kubeconfig"])
    path.write_text(path.read_text().replace(TOKEN, "wrong"))
    settings["targets"] = [{"url": engines[1].url("/metrics"), "pod": "static"}]
    with ExporterHost(settings) as host:
        host.wait(
            lambda h: (h.value("llmobs_exporter_discovery_errors_total") or 0) >= 1,
            "the refusal to be counted",
        )
        host.wait(lambda h: "static" in pods(h), "the static target")
        assert "a" not in host.targets()
