"""PD disaggregation and scaling in real time: the proxy, the roles, the scale subresource
(driven by the official Kubernetes client) and discovery (read by a real Prometheus)."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from kubernetes import client as k8s

from llmobs import promql
from llmobs.engines import snapshot
from llmobs.errors import ConfigError
from llmobs.exposition.parser import parse
from llmobs.sim.cluster import Cluster
from llmobs.sim.config import EngineSettings, Resolved
from tests.prometheus import Prometheus
from tests.servers import wait_until
from tests.simhost import SimHost

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def get_json(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def instances(host: SimHost) -> list[dict[str, str]]:
    doc = get_json(host.url + "/sim/instances")
    assert isinstance(doc, dict)
    return list(doc["instances"])


def metrics_of(url: str) -> str:
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        return str(response.read().decode())


def replicas(scale: k8s.V1Scale) -> tuple[int | None, int | None]:
    """(spec.replicas, status.replicas) of a Scale object."""
    assert scale.spec is not None and scale.status is not None
    return scale.spec.replicas, scale.status.replicas


@pytest.fixture
def pd() -> Iterator[SimHost]:
    with SimHost(EngineSettings(), roles={"prefill": 1, "decode": 1}, cold_start_s=1.0) as host:
        yield host


def test_pd_end_to_end(pd: SimHost) -> None:
    client = openai.OpenAI(base_url=pd.url + "/v1", api_key="x", max_retries=0)
    for i in range(4):
        text = "".join(
            c.choices[0].text
            for c in client.completions.create(
                model=MODEL, prompt=" the" * (500 + i), max_tokens=20, stream=True
            )
        )
        assert text
    done = client.chat.completions.create(
        model=MODEL, max_tokens=5, messages=[{"role": "user", "content": "hi"}]
    )
    assert done.usage is not None and done.usage.completion_tokens == 5
    roles = {m["role"]: snapshot(parse(metrics_of(m["url"]))) for m in instances(pd)}
    prefill, decode = roles["prefill"], roles["decode"]
    assert prefill.counters["generation_tokens_total"] == 5  # one token per request
    assert decode.counters["generation_tokens_total"] == 4 * 20 + 5
    assert prefill.counters["prompt_tokens_total"] == decode.counters["prompt_tokens_total"]
    assert prefill.histograms["ttft_seconds"].count == decode.histograms["ttft_seconds"].count


def kube(host: SimHost) -> k8s.AppsV1Api:
    config = k8s.Configuration()
    config.host = host.url
    return k8s.AppsV1Api(k8s.ApiClient(config))


def test_scale_subresource_with_the_kubernetes_client(pd: SimHost) -> None:
    api = kube(pd)
    scale = api.read_namespaced_deployment_scale("decode", "default")
    assert (scale.kind, scale.api_version) == ("Scale", "autoscaling/v1")
    assert replicas(scale) == (1, 1)
    patched = api.patch_namespaced_deployment_scale("decode", "default", {"spec": {"replicas": 3}})
    assert replicas(patched) == (3, 1)  # the new ones are still starting
    wait_until(
        lambda: replicas(api.read_namespaced_deployment_scale("decode", "default")) == (3, 3),
        30,
        "the new decoders to finish their cold start",
    )
    replaced = api.replace_namespaced_deployment_scale(
        "decode",
        "default",
        k8s.V1Scale(metadata=k8s.V1ObjectMeta(name="decode"), spec=k8s.V1ScaleSpec(replicas=2)),
    )
    assert replicas(replaced)[0] == 2
    with pytest.raises(k8s.ApiException) as missing:
        api.read_namespaced_deployment_scale("nope", "default")
    assert missing.value.status == 404
    with pytest.raises(k8s.ApiException) as invalid:
        api.patch_namespaced_deployment_scale("decode", "default", {"spec": {"replicas": -1}})
    assert invalid.value.status == 422
    status = body_of(invalid.value)
    assert (status["kind"], status["status"], status["reason"]) == ("Status", "Failure", "Invalid")
    assert status["message"] == (
        'Scale.autoscaling "decode" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )


def body_of(error: k8s.ApiException) -> dict[str, Any]:
    """The Status object an API error carries."""
    assert error.body is not None
    status = json.loads(error.body)
    assert isinstance(status, dict)
    return status


def version(scale: k8s.V1Scale) -> str:
    assert scale.metadata is not None
    return str(scale.metadata.resource_version)


def test_optimistic_concurrency_as_the_api_server_does_it(pd: SimHost) -> None:
    """What an autoscaler's retry loop meets: a write from a stale read is a 409 Conflict;
    reading again and writing with the fresh resourceVersion succeeds."""
    api = kube(pd)
    first = api.read_namespaced_deployment_scale("prefill", "default")
    assert first.status is not None and first.status.selector == "group=llmobs-sim,role=prefill"
    assert version(api.read_namespaced_deployment_scale("prefill", "default")) == version(first)
    first.spec = k8s.V1ScaleSpec(replicas=2)
    written = api.replace_namespaced_deployment_scale("prefill", "default", first)
    assert replicas(written) == (2, 1) and version(written) != version(first)
    first.spec = k8s.V1ScaleSpec(replicas=3)  # the same stale read, written again
    with pytest.raises(k8s.ApiException) as stale:
        api.replace_namespaced_deployment_scale("prefill", "default", first)
    assert stale.value.status == 409
    assert body_of(stale.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'Operation cannot be fulfilled on deployments.apps "prefill": the object '
        "has been modified; please apply your changes to the latest version and try again",
        "reason": "Conflict",
        "details": {"name": "prefill", "group": "apps", "kind": "deployments"},
        "code": 409,
    }
    stale_patch = {"metadata": {"resourceVersion": version(first)}, "spec": {"replicas": 3}}
    with pytest.raises(k8s.ApiException) as patched:
        api.patch_namespaced_deployment_scale("prefill", "default", stale_patch)
    assert patched.value.status == 409
    assert replicas(api.read_namespaced_deployment_scale("prefill", "default"))[0] == 2
    fresh = api.read_namespaced_deployment_scale("prefill", "default")  # read, modify, write
    fresh.spec = k8s.V1ScaleSpec(replicas=1)
    assert replicas(api.replace_namespaced_deployment_scale("prefill", "default", fresh))[0] == 1
    json_patch: list[dict[str, Any]] = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": version(first)},
        {"op": "replace", "path": "/spec/replicas", "value": 4},
    ]
    with pytest.raises(k8s.ApiException) as failed_test:
        api.patch_namespaced_deployment_scale("prefill", "default", json_patch)
    assert failed_test.value.status == 422


def test_status_replicas_trail_spec_during_the_cold_start(pd: SimHost) -> None:
    api = kube(pd)
    patched = api.patch_namespaced_deployment_scale("decode", "default", {"spec": {"replicas": 2}})
    assert replicas(patched) == (2, 1)
    wait_until(
        lambda: replicas(api.read_namespaced_deployment_scale("decode", "default")) == (2, 2),
        30,
        "the new decoder to finish its cold start",
    )
    # the status change is a change of the object: the read before it is stale now
    patched.spec = k8s.V1ScaleSpec(replicas=1)
    with pytest.raises(k8s.ApiException) as stale:
        api.replace_namespaced_deployment_scale("decode", "default", patched)
    assert stale.value.status == 409


def test_the_namespace_in_the_path_counts(pd: SimHost) -> None:
    api = kube(pd)
    calls: list[tuple[str, Callable[[], object]]] = [
        ("decode", lambda: api.read_namespaced_deployment_scale("decode", "other")),
        (
            "decode",
            lambda: api.patch_namespaced_deployment_scale(
                "decode", "other", {"spec": {"replicas": 2}}
            ),
        ),
        ("both", lambda: api.read_namespaced_deployment_scale("both", "default")),
    ]
    for name, call in calls:
        with pytest.raises(k8s.ApiException) as missing:
            call()
        assert missing.value.status == 404
        status = body_of(missing.value)
        assert (status["reason"], status["message"]) == (
            "NotFound",
            f'deployments.apps "{name}" not found',
        )
    assert replicas(api.read_namespaced_deployment_scale("decode", "default")) == (1, 1)


def test_scale_down_drops_no_request() -> None:
    with SimHost(EngineSettings(), roles={"both": 2}) as host:
        results, drained = asyncio.run(_scale_down_under_load(host))
    assert results == [200] * 8  # every stream complete, the drained replica's included
    assert drained["state"] in ("draining", "stopped")


async def _running(session: aiohttp.ClientSession, url: str) -> float:
    async with session.get(url + "/metrics") as response:
        text = await response.text()
    return snapshot(parse(text)).gauges["requests_running"]


async def _scale_down_under_load(host: SimHost) -> tuple[list[int], dict[str, str]]:
    async def one(session: aiohttp.ClientSession) -> int:
        tokens = 0
        async with session.post(
            host.url + "/v1/completions",
            json={"model": MODEL, "prompt": "x", "max_tokens": 200, "stream": True},
        ) as response:
            async for line in response.content:
                tokens += line.startswith(b'data: {"id"')
        return tokens

    async with aiohttp.ClientSession() as session:
        tasks = [asyncio.create_task(one(session)) for _ in range(8)]
        members = instances(host)
        for _ in range(500):  # until both replicas are decoding (a condition, not a delay)
            if all([await _running(session, m["url"]) > 0 for m in members]):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("requests never reached both replicas")
        async with session.patch(
            host.url + "/apis/apps/v1/namespaces/default/deployments/both/scale",
            json={"spec": {"replicas": 1}},
            headers={"Content-Type": "application/merge-patch+json"},
        ) as answer:
            assert answer.status == 200
        drained = next(m for m in instances(host) if m["state"] != "ready")
        return list(await asyncio.gather(*tasks)), drained


def test_prometheus_discovers_instances_with_their_role(pd: SimHost, tmp_path: Path) -> None:
    config = (
        "global: {scrape_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: sim\n"
        "    http_sd_configs: [{url: '" + pd.url + "/sim/targets', refresh_interval: 1s}]\n"
    )
    prometheus = Prometheus(tmp_path, config).start()
    try:
        client = openai.OpenAI(base_url=pd.url + "/v1", api_key="x", max_retries=0)
        client.completions.create(model=MODEL, prompt="hello", max_tokens=3)

        def by_role() -> dict[str, float]:
            requests = promql.selector("vllm:request_success_total")
            result = prometheus.query(
                promql.aggregate(promql.Agg.SUM, requests, ("role",)),
                at=__import__("time").time(),
            )
            return {r["metric"]["role"]: float(r["value"][1]) for r in result}

        wait_until(
            lambda: by_role() == {"prefill": 1.0, "decode": 1.0},
            60,
            "Prometheus to scrape both roles",
        )
    finally:
        prometheus.stop()


def test_an_instance_port_already_taken_is_a_config_error_at_start() -> None:
    """What ``llmobs sim --pd`` turns into a message and a non-zero exit."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = int(taken.getsockname()[1])

    async def start() -> list[dict[str, Any]]:
        cluster = Cluster(Resolved(EngineSettings()), {"prefill": 1, "decode": 1},
                          instance_ports=[0, port])  # fmt: skip
        try:
            with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
                await cluster.start()
            return cluster.listing()
        finally:
            await cluster.close()

    try:
        listing = asyncio.run(start())
    finally:
        taken.close()
    assert [(m["role"], m["state"], m["url"] is None) for m in listing] == [
        ("prefill", "ready", False),
        ("decode", "starting", True),
    ]
