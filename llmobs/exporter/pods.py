"""Which pods are targets, and with which labels: a pure function over pod JSON.

A pod is scraped when it is Ready, has an IP and is not terminating. Its metrics port is the
configured number, else its container port named ``port_name``, else the
``prometheus.io/port`` annotation, else a container port named ``metrics``, else its only
declared container port. Its role, group and model come from the first configured label
present; a pod without a group label is grouped under its owning Deployment (the ReplicaSet's
name without the pod-template hash), StatefulSet or LeaderWorkerSet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llmobs.exporter.config import KubernetesDiscovery
from llmobs.exporter.state import Target
from llmobs.secrets import Credentials

KEY_PREFIX = "k8s:"
PORT_ANNOTATION = "prometheus.io/port"
PATH_ANNOTATION = "prometheus.io/path"
SCHEME_ANNOTATION = "prometheus.io/scheme"
TEMPLATE_HASH = "pod-template-hash"


def pod_key(namespace: str, name: str) -> str:
    return f"{KEY_PREFIX}{namespace}/{name}"


def is_ready(pod: Mapping[str, Any]) -> bool:
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if meta.get("deletionTimestamp") or not status.get("podIP"):
        return False
    if status.get("phase") not in (None, "Running"):
        return False
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _ports(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    ports: list[Mapping[str, Any]] = []
    for container in (pod.get("spec") or {}).get("containers") or []:
        ports.extend(container.get("ports") or [])
    return ports


def _named(ports: list[Mapping[str, Any]], name: str | None) -> int | None:
    for port in ports:
        if name is not None and port.get("name") == name and port.get("containerPort"):
            return int(port["containerPort"])
    return None


def metrics_port(pod: Mapping[str, Any], settings: KubernetesDiscovery) -> int | None:
    if settings.port is not None:
        return settings.port
    ports = _ports(pod)
    found = _named(ports, settings.port_name)
    if found is not None:
        return found
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    annotation = str(annotations.get(PORT_ANNOTATION, ""))
    if annotation.isdigit() and 0 < int(annotation) < 65536:
        return int(annotation)
    found = _named(ports, "metrics")
    if found is not None:
        return found
    if len(ports) == 1 and ports[0].get("containerPort"):
        return int(ports[0]["containerPort"])
    return None


def _first(labels: Mapping[str, str], keys: Sequence[str]) -> str | None:
    for key in keys:
        value = labels.get(key)
        if value:
            return value
    return None


def owner_group(pod: Mapping[str, Any]) -> str:
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    for owner in meta.get("ownerReferences") or []:
        name = str(owner.get("name", ""))
        if owner.get("kind") == "ReplicaSet":
            suffix = "-" + labels.get(TEMPLATE_HASH, "")
            if labels.get(TEMPLATE_HASH) and name.endswith(suffix):
                return name[: -len(suffix)]
            return name
        if name:
            return name
    return ""


def pod_target(
    pod: Mapping[str, Any],
    settings: KubernetesDiscovery,
    credentials: Credentials | None = None,
) -> Target | None:
    """The target a pod is, or None when it should not be scraped (not ready, no port).
    ``credentials`` (read from the settings' files at start) authenticate its scrapes."""
    if not is_ready(pod):
        return None
    port = metrics_port(pod, settings)
    if port is None:
        return None
    meta = pod.get("metadata") or {}
    labels: Mapping[str, str] = meta.get("labels") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    namespace, name = str(meta.get("namespace", "")), str(meta.get("name", ""))
    ip = str(pod["status"]["podIP"])
    host = f"[{ip}]" if ":" in ip else ip
    path = annotations.get(PATH_ANNOTATION) or settings.path
    scheme = annotations.get(SCHEME_ANNOTATION) or settings.scheme
    if scheme not in ("http", "https"):
        scheme = settings.scheme
    return Target(
        key=pod_key(namespace, name),
        url=f"{scheme}://{host}:{port}/{path.lstrip('/')}",
        namespace=namespace,
        pod=name,
        role=_first(labels, settings.role_labels) or settings.default_role,
        group=_first(labels, settings.group_labels) or owner_group(pod),
        model=_first(labels, settings.model_labels),
        engine=settings.engine,
        credentials=credentials,
    )
