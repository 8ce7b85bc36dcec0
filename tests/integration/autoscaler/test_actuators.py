"""The direct actuator over real HTTP: the official Kubernetes client against the loopback API
server (all four kinds, conflicts, 403/404/500, a timeout, a bearer token) and against the
emulator's own scale subresource (``llmobs sim --pd 1P1D``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler.actuators import (
    RESOURCES,
    Kind,
    KubeScale,
    ReadyFrom,
    ScaleTarget,
    adapter_target,
    api_client,
    deployment_target,
    replicas_of,
    scale_patch,
    targets_for,
)
from llmobs.autoscaler.model import ActuatorError, Replicas
from llmobs.sim.config import EngineSettings
from tests.kubescale import FakeKubeCluster, Key
from tests.servers import free_port, wait_until
from tests.simhost import SimHost

NS = "inference"
TARGETS = {
    Kind.DEPLOYMENT: ScaleTarget(Kind.DEPLOYMENT, NS, "decode"),
    Kind.STATEFULSET: ScaleTarget(Kind.STATEFULSET, NS, "decode"),
    Kind.LEADERWORKERSET: ScaleTarget(Kind.LEADERWORKERSET, NS, "decode"),
    Kind.SCALING_ADAPTER: adapter_target("my-rbg", "decode", NS),
}


@pytest.fixture
def kube() -> Iterator[FakeKubeCluster]:
    with FakeKubeCluster() as server:
        yield server


def key_of(target: ScaleTarget) -> Key:
    res = target.resource
    return (res.group, res.plural, target.namespace, target.name)


def put(kube: FakeKubeCluster, target: ScaleTarget, spec: int, **status: Any) -> None:
    """The object with ``spec.replicas`` = ``spec`` and these status fields."""
    kube.put_object(*key_of(target), spec, status)


def actuator(kube: FakeKubeCluster, target: ScaleTarget, **options: Any) -> KubeScale:
    return KubeScale(api_client(kube.url("")), {"decode": target}, **options)


def spec_replicas(kube: FakeKubeCluster, target: ScaleTarget) -> int:
    obj = kube.get_object(*key_of(target))
    assert obj is not None
    return int(obj["spec"]["replicas"])


def error_of(coro: Any) -> str:
    with pytest.raises(ActuatorError) as caught:
        asyncio.run(coro)
    return str(caught.value)


async def set_then_get(scale: KubeScale, replicas: int) -> Replicas:
    try:
        await scale.set("decode", replicas)
        return await scale.get("decode")
    finally:
        await scale.close()


@pytest.mark.parametrize("kind", list(Kind))
def test_read_modify_write_for_every_kind(kube: FakeKubeCluster, kind: Kind) -> None:
    target = TARGETS[kind]
    put(kube, target, 1, replicas=1, readyReplicas=1)
    assert asyncio.run(set_then_get(actuator(kube, target), 3)) == Replicas(3, 1)
    assert spec_replicas(kube, target) == 3
    plural = RESOURCES[kind].plural
    assert kube.requests == [(verb, f"{plural}/scale") for verb in ("get", "patch", "get")]


def test_asking_for_what_is_asked_writes_nothing(kube: FakeKubeCluster) -> None:
    target = TARGETS[Kind.DEPLOYMENT]
    put(kube, target, 2, replicas=2)
    asyncio.run(actuator(kube, target).set("decode", 2))
    assert kube.requests == [("get", "deployments/scale")]


def test_targets_for_roles() -> None:
    roles = ("prefill", "decode")
    adapters = targets_for(roles, Kind.SCALING_ADAPTER, NS, group="my-rbg")
    assert adapters["decode"] == adapter_target("my-rbg", "decode", NS)
    named = targets_for(roles, Kind.DEPLOYMENT, "llm", {"prefill": "vllm-prefill"})
    assert named == {
        "prefill": ScaleTarget(Kind.DEPLOYMENT, "llm", "vllm-prefill"),
        "decode": deployment_target("decode", "llm"),
    }
    with pytest.raises(ValueError, match="unknown roles: both"):
        targets_for(roles, Kind.STATEFULSET, NS, {"both": "x"})


def test_adapter_is_named_after_group_and_role() -> None:
    target = adapter_target("my-rbg", "prefill")
    assert (target.kind, target.namespace, target.name) == (
        Kind.SCALING_ADAPTER,
        "default",
        "my-rbg-prefill",
    )
    assert target.describe() == (
        'rolebasedgroupscalingadapters.workloads.x-k8s.io "my-rbg-prefill" in namespace "default"'
    )


@pytest.mark.parametrize(("ready_from", "ready"), [("scale", 3), ("object", 2)])
def test_ready_from_the_scale_or_the_object(
    kube: FakeKubeCluster, ready_from: ReadyFrom, ready: int
) -> None:
    target = TARGETS[Kind.LEADERWORKERSET]
    put(kube, target, 4, replicas=3, readyReplicas=2)
    scale = actuator(kube, target, ready_from=ready_from)
    assert asyncio.run(scale.get("decode")) == Replicas(4, ready)


def test_zero_replicas_omitted_by_the_api_read_as_zero(kube: FakeKubeCluster) -> None:
    target = TARGETS[Kind.DEPLOYMENT]
    put(kube, target, 0)
    assert asyncio.run(actuator(kube, target).get("decode")) == Replicas(0, 0)


def test_a_conflict_is_read_again_and_retried(kube: FakeKubeCluster) -> None:
    target = TARGETS[Kind.SCALING_ADAPTER]
    put(kube, target, 1, replicas=1)
    kube.interfere(key_of(target), 5)  # another writer lands between our read and our write
    asyncio.run(actuator(kube, target).set("decode", 2))
    assert spec_replicas(kube, target) == 2
    patches = [r for r in kube.requests if r[0] == "patch"]
    assert len(patches) == 2  # the first one was refused with a 409


def test_conflicts_beyond_the_retries_are_an_error(kube: FakeKubeCluster) -> None:
    target = TARGETS[Kind.STATEFULSET]
    put(kube, target, 1)
    kube.fail("patch", "statefulsets/scale", 409, times=3)
    message = error_of(actuator(kube, target, conflict_retries=2).set("decode", 2))
    assert "kept changing" in message and "3 attempts" in message
    assert spec_replicas(kube, target) == 1


@pytest.mark.parametrize(
    ("verb", "kind", "resource", "group"),
    [
        ("patch", Kind.DEPLOYMENT, "deployments/scale", "apps"),
        ("get", Kind.SCALING_ADAPTER, "rolebasedgroupscalingadapters/scale", "workloads.x-k8s.io"),
    ],
)
def test_forbidden_names_the_missing_permission(
    kube: FakeKubeCluster, verb: str, kind: Kind, resource: str, group: str
) -> None:
    target = TARGETS[kind]
    put(kube, target, 1)
    kube.fail(verb, resource, 403)
    message = error_of(actuator(kube, target).set("decode", 2))
    rule = f'apiGroups: ["{group}"], resources: ["{resource}"], verbs: ["{verb}"]'
    assert rule in message and f'namespace "{NS}"' in message
    assert message.startswith(f"forbidden: the autoscaler's identity may not {verb} {resource}")


def test_missing_object_is_named(kube: FakeKubeCluster) -> None:
    message = error_of(actuator(kube, TARGETS[Kind.SCALING_ADAPTER]).get("decode"))
    assert message.startswith(
        'rolebasedgroupscalingadapters.workloads.x-k8s.io "my-rbg-decode" in namespace '
        f'"{NS}" not found'
    )


def test_server_error_gives_its_reason(kube: FakeKubeCluster) -> None:
    target = TARGETS[Kind.DEPLOYMENT]
    put(kube, target, 1)
    kube.fail("patch", "deployments/scale", 500)
    message = error_of(actuator(kube, target).set("decode", 2))
    assert "HTTP 500" in message and "etcd timeout" in message


def test_timeout_is_named(kube: FakeKubeCluster) -> None:
    target = TARGETS[Kind.DEPLOYMENT]
    put(kube, target, 1)
    kube.hang("get", "deployments/scale")
    message = error_of(actuator(kube, target, timeout_s=0.3).get("decode"))
    assert message.startswith("timed out after 0.3s waiting for the API server to get")


def test_unreachable_server_is_named() -> None:
    scale = KubeScale(
        api_client(f"http://127.0.0.1:{free_port()}"), {"decode": TARGETS[Kind.DEPLOYMENT]}
    )
    message = error_of(scale.set("decode", 2))
    assert (
        message
        == "cannot reach the API server to get deployments/scale: connection refused or failed"
    )


def test_unknown_role_is_an_error(kube: FakeKubeCluster) -> None:
    message = error_of(actuator(kube, TARGETS[Kind.DEPLOYMENT]).get("prefill"))
    assert message == "role 'prefill' has no scale target (known roles: decode)"


def test_kubeconfig_token_is_sent_and_never_shown(tmp_path: Path) -> None:
    with FakeKubeCluster(token="s3cret-token") as kube:
        target = TARGETS[Kind.DEPLOYMENT]
        put(kube, target, 1)
        good = KubeScale(
            api_client(kubeconfig=str(kube.kubeconfig(tmp_path / "k"))), {"decode": target}
        )
        assert asyncio.run(good.get("decode")) == Replicas(1, 0)
        bad = KubeScale(api_client(kube.url(""), token="wrong-token"), {"decode": target})
        message = error_of(bad.get("decode"))
        assert message.startswith("unauthorized") and "token" not in message


def test_against_the_emulator_scale_endpoint() -> None:
    with SimHost(EngineSettings(), roles={"prefill": 1, "decode": 1}, cold_start_s=0.5) as sim:
        scale = KubeScale(
            api_client(sim.url), {r: deployment_target(r) for r in ("prefill", "decode")}
        )
        assert asyncio.run(scale.get("decode")) == Replicas(1, 1)
        assert asyncio.run(set_then_get(scale, 2)).desired == 2
        wait_until(
            lambda: asyncio.run(scale.get("decode")) == Replicas(2, 2),
            30,
            "the second decoder to finish its cold start",
        )
        assert asyncio.run(scale.get("prefill")) == Replicas(1, 1)
        message = error_of(
            KubeScale(api_client(sim.url), {"decode": deployment_target("d")}).get("decode")
        )
        assert 'deployments.apps "d" in namespace "default" not found' in message


counts = st.one_of(st.none(), st.integers(-3, 2**31), st.booleans(), st.text(max_size=3))


@given(spec=counts, status=counts, version=st.one_of(st.none(), st.text(max_size=5)))
def test_scale_parsing_and_patch(spec: object, status: object, version: str | None) -> None:
    scale: dict[str, Any] = {"metadata": {} if version is None else {"resourceVersion": version}}
    scale["spec"] = {} if spec is None else {"replicas": spec}
    scale["status"] = {} if status is None else {"replicas": status}
    valid = [v for v in (spec, status) if v is not None]
    target = TARGETS[Kind.DEPLOYMENT]
    if all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in valid):
        assert replicas_of(scale, None, target) == Replicas(
            0 if spec is None else int(spec),  # type: ignore[call-overload]
            0 if status is None else int(status),  # type: ignore[call-overload]
        )
    else:
        with pytest.raises(ActuatorError, match="not a replica count"):
            replicas_of(scale, None, target)
    patch = scale_patch(scale, 7)
    assert patch["spec"] == {"replicas": 7}
    assert patch.get("metadata") == ({"resourceVersion": version} if version else None)
