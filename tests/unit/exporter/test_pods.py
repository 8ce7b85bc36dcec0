"""Which pods become targets, and their labels: both RoleBasedGroup versions, llm-d, owners."""

from __future__ import annotations

from typing import Any

import pytest

from llmobs.exporter.config import KubernetesDiscovery
from llmobs.exporter.pods import pod_target


def pod(
    labels: dict[str, str] | None = None,
    *,
    ready: bool = True,
    ip: str | None = "10.0.0.7",
    ports: list[dict[str, Any]] | None = None,
    annotations: dict[str, str] | None = None,
    owner: dict[str, str] | None = None,
    deleting: bool = False,
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": "vllm-0",
        "namespace": "llm",
        "labels": labels or {},
        "annotations": annotations or {},
    }
    if owner is not None:
        meta["ownerReferences"] = [owner]
    if deleting:
        meta["deletionTimestamp"] = "2026-11-23T10:00:00Z"
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "engine", "ports": ports or []}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


SETTINGS = KubernetesDiscovery(port=8000)


def test_rbg_v1alpha2_labels() -> None:
    labels = {
        "rbg.workloads.x-k8s.io/role-name": "prefill",
        "rbg.workloads.x-k8s.io/group-name": "qwen-pd",
    }
    target = pod_target(pod(labels), SETTINGS)
    assert target is not None
    assert (target.role, target.group, target.namespace, target.pod) == (
        "prefill",
        "qwen-pd",
        "llm",
        "vllm-0",
    )
    assert target.url == "http://10.0.0.7:8000/metrics"
    assert target.key == "k8s:llm/vllm-0"


def test_rbg_v1alpha1_labels() -> None:
    labels = {
        "rolebasedgroup.workloads.x-k8s.io/role": "decode",
        "rolebasedgroup.workloads.x-k8s.io/name": "old-rbg",
    }
    target = pod_target(pod(labels), SETTINGS)
    assert target is not None
    assert (target.role, target.group) == ("decode", "old-rbg")


def test_llm_d_role_and_configured_labels_first_present_wins() -> None:
    target = pod_target(pod({"llm-d.ai/role": "decode", "llm-d.ai/model": "qwen"}), SETTINGS)
    assert target is not None
    assert (target.role, target.model) == ("decode", "qwen")
    mine = KubernetesDiscovery(port=8000, role_labels=["my/role"], default_role="mixed")
    target = pod_target(pod({"llm-d.ai/role": "decode"}), mine)
    assert target is not None
    assert target.role == "mixed"


def test_no_role_label_is_both_and_deployment_group_from_owner() -> None:
    owner = {"kind": "ReplicaSet", "name": "vllm-7d9c8f6b5"}
    target = pod_target(pod({"pod-template-hash": "7d9c8f6b5"}, owner=owner), SETTINGS)
    assert target is not None
    assert (target.role, target.group) == ("both", "vllm")
    sts = pod_target(pod(owner={"kind": "StatefulSet", "name": "sglang"}), SETTINGS)
    assert sts is not None
    assert sts.group == "sglang"


@pytest.mark.parametrize(
    "change",
    [
        {"ready": False},
        {"ip": None},
        {"deleting": True},
    ],
)
def test_only_ready_pods_with_an_ip_that_are_not_terminating(change: dict[str, Any]) -> None:
    assert pod_target(pod(**change), SETTINGS) is None


def test_metrics_port_choice() -> None:
    ports = [{"name": "http", "containerPort": 8000}, {"name": "metrics", "containerPort": 9090}]
    auto = KubernetesDiscovery()
    named = KubernetesDiscovery(port_name="http")

    def url(p: dict[str, Any], settings: KubernetesDiscovery) -> str | None:
        target = pod_target(p, settings)
        return None if target is None else target.url

    assert url(pod(ports=ports), named) == "http://10.0.0.7:8000/metrics"
    annotated = pod(ports=ports, annotations={"prometheus.io/port": "8123"})
    assert url(annotated, auto) == "http://10.0.0.7:8123/metrics"
    assert url(pod(ports=ports), auto) == "http://10.0.0.7:9090/metrics"
    only = pod(ports=[{"containerPort": 30000}])
    assert url(only, auto) == "http://10.0.0.7:30000/metrics"
    two_unnamed = pod(ports=[{"containerPort": 1}, {"containerPort": 2}])
    assert url(two_unnamed, auto) is None  # ambiguous: not guessed
    path = pod(ports=ports, annotations={"prometheus.io/path": "/engine/metrics"})
    assert url(path, named) == "http://10.0.0.7:8000/engine/metrics"
    v6 = pod(ip="fd00::7")
    assert url(v6, SETTINGS) == "http://[fd00::7]:8000/metrics"
