"""PD disaggregation and scaling in real time: the proxy, the roles, the scale subresource
(driven by the official Kubernetes client) and discovery (read by a real Prometheus)."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import openai
import pytest
from kubernetes import client as k8s

from llmobs import promql
from llmobs.engines import snapshot
from llmobs.exposition.parser import parse
from llmobs.sim.config import EngineSettings
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
