"""The operator-facing assets under autoscaler/, checked as the cluster and KEDA would.

* Every Kubernetes object is walked field by field against the ``kubernetes`` client's
  models and built by its deserializer (the exporter's checker, tests/unit/exporter).
* KEDA's ScaledObject has no model there: ``KEDA_*`` below is one, written from KEDA's
  ScaledObject specification (keda.sh/docs reference/scaledobject-spec: scaleTargetRef,
  pollingInterval, cooldownPeriod, initialCooldownPeriod, idleReplicaCount, min/max
  ReplicaCount, fallback, advanced, triggers) and the external scaler's trigger metadata;
  the HPA behavior it passes through is checked against the client's HPA v2 model.
* The pieces agree: RBAC grants get/patch of exactly the scale subresources the ScaledObjects
  and the config name, plus the Lease; the Deployment, Service and KEDA's scalerAddress name
  the same ports; the RBG patch turns on the adapters the ScaledObjects target.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmobs.autoscaler.actuators import targets_for
from llmobs.autoscaler.app import Settings, load
from llmobs.autoscaler.hpa import EXACT_BEHAVIOR, behavior_yaml
from llmobs.autoscaler.sources.exporter import ExporterSourceConfig
from llmobs.config import validate
from llmobs.sim.scale import json_patch
from tests.unit.exporter.test_manifests import (
    MODELS,
    RBG,
    assert_keys,
    assert_model,
    check_rbg,
    documents,
    one,
)

ROOT = Path(__file__).resolve().parents[3]
AUTOSCALER = ROOT / "autoscaler"
KUBE = AUTOSCALER / "kubernetes"
KEDA = AUTOSCALER / "keda"
EXAMPLES = AUTOSCALER / "examples"
RBG_EXAMPLE = ROOT / "exporters" / "examples" / "workloads" / "rbg-pd.yaml"

NAMESPACE = "llmobs"
APP = "llmobs-autoscaler"
LEASE = "llmobs-autoscaler"
ADAPTER = "RoleBasedGroupScalingAdapter"
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"

Doc = dict[str, Any]

# ---------------------------------------------------------------------------------------
# KEDA's ScaledObject (keda.sh/v1alpha1), from its specification

KEDA_API = "keda.sh/v1alpha1"
KEDA_SPEC = {
    "scaleTargetRef",
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
    "fallback",
    "advanced",
    "triggers",
}
KEDA_INTS = {
    "pollingInterval",
    "cooldownPeriod",
    "initialCooldownPeriod",
    "idleReplicaCount",
    "minReplicaCount",
    "maxReplicaCount",
}
KEDA_TARGET = {"apiVersion", "kind", "name", "envSourceContainerName"}
KEDA_FALLBACK = {"failureThreshold", "replicas", "behavior"}
KEDA_FALLBACK_BEHAVIORS = {
    "static",
    "currentReplicas",
    "currentReplicasIfHigher",
    "currentReplicasIfLower",
}
KEDA_ADVANCED = {
    "restoreToOriginalReplicaCount",
    "horizontalPodAutoscalerConfig",
    "scalingModifiers",
}
KEDA_HPA_CONFIG = {"name", "behavior"}
KEDA_TRIGGER = {"type", "metadata", "name", "useCachedMetrics", "authenticationRef", "metricType"}
KEDA_METRIC_TYPES = {"AverageValue", "Value", "Utilization"}
# The external scalers' own metadata; every other key goes to the scaler as scalerMetadata.
EXTERNAL_TYPES = {"external", "external-push"}
EXTERNAL_METADATA = {"scalerAddress", "enableTLS", "unsafeSsl"}


def check_scaled_object(doc: Doc, where: str) -> None:
    assert doc["apiVersion"] == KEDA_API, f"{where}: apiVersion"
    assert_keys(doc, {"apiVersion", "kind", "metadata", "spec"}, where, {"metadata", "spec"})
    assert_model(doc["metadata"], "V1ObjectMeta", f"{where}: metadata")
    spec = doc["spec"]
    assert_keys(spec, KEDA_SPEC, f"{where}: spec", {"scaleTargetRef", "triggers"})
    for key in KEDA_INTS & spec.keys():
        assert type(spec[key]) is int and spec[key] >= 0, f"{where}: spec.{key}"
    assert spec.get("minReplicaCount", 0) <= spec.get("maxReplicaCount", 100), where
    assert_keys(spec["scaleTargetRef"], KEDA_TARGET, f"{where}: scaleTargetRef", {"name"})
    if "fallback" in spec:
        fallback = spec["fallback"]
        at = f"{where}: spec.fallback"
        assert_keys(fallback, KEDA_FALLBACK, at, {"failureThreshold", "replicas"})
        assert type(fallback["failureThreshold"]) is int and fallback["failureThreshold"] > 0
        assert type(fallback["replicas"]) is int and fallback["replicas"] >= 0
        assert fallback.get("behavior", "static") in KEDA_FALLBACK_BEHAVIORS, at
    advanced = spec.get("advanced", {})
    assert_keys(advanced, KEDA_ADVANCED, f"{where}: spec.advanced")
    hpa = advanced.get("horizontalPodAutoscalerConfig", {})
    assert_keys(hpa, KEDA_HPA_CONFIG, f"{where}: horizontalPodAutoscalerConfig")
    if "behavior" in hpa:
        assert_model(hpa["behavior"], "V2HorizontalPodAutoscalerBehavior", f"{where}: behavior")
    assert spec["triggers"], f"{where}: no triggers"
    for i, trigger in enumerate(spec["triggers"]):
        at = f"{where}: spec.triggers[{i}]"
        assert_keys(trigger, KEDA_TRIGGER, at, {"type", "metadata"})
        assert trigger.get("metricType", "AverageValue") in KEDA_METRIC_TYPES, at
        metadata = trigger["metadata"]
        assert isinstance(metadata, dict), at
        for key, value in metadata.items():
            assert isinstance(key, str) and isinstance(value, str), f"{at}.metadata.{key}"
        if trigger["type"] in EXTERNAL_TYPES:
            assert "scalerAddress" in metadata, f"{at}: an external trigger needs scalerAddress"


def test_the_keda_model_refuses_what_keda_would() -> None:
    base: Doc = {
        "apiVersion": KEDA_API,
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "triggers": [{"type": "external", "metadata": {"scalerAddress": "a:1"}}],
        },
    }
    check_scaled_object(base, "base")
    bad = [
        ("spec", "pollingIntervall", 15),
        ("spec", "minReplicaCount", "1"),
        ("spec", "fallback", {"replicas": 1}),
        ("spec", "advanced", {"horizontalPodAutoscalerConfig": {"behaviour": {}}}),
        (
            "spec",
            "advanced",
            {"horizontalPodAutoscalerConfig": {"behavior": {"scaleUp": {"window": 0}}}},
        ),
        ("spec", "triggers", [{"type": "external", "metadata": {"scalerAddress": 1}}]),
        ("spec", "triggers", [{"type": "external", "metadata": {"role": "decode"}}]),
        ("spec", "triggers", [{"type": "external", "metadata": {}, "metricType": "Avg"}]),
    ]
    for section, key, value in bad:
        doc = json.loads(json.dumps(base))
        doc[section][key] = value
        with pytest.raises(AssertionError):
            check_scaled_object(doc, f"{key}={value!r}")


# ---------------------------------------------------------------------------------------
# Reading


def kube_files() -> list[Path]:
    return sorted(KUBE.glob("*.yaml"))


def check(doc: Doc, where: str) -> None:
    key = (doc.get("apiVersion"), doc.get("kind"))
    if key in MODELS:
        assert_model(doc, MODELS[key], where)
    elif key == (KEDA_API, "ScaledObject"):
        check_scaled_object(doc, where)
    elif key == (KUSTOMIZE, "Kustomization"):
        assert_keys(doc, {"apiVersion", "kind", "resources"}, where, {"resources"})
    else:
        pytest.fail(f"{where}: no check for {key}")


@pytest.mark.parametrize(
    "path",
    [*kube_files(), *sorted(KEDA.glob("*.yaml")), *sorted(EXAMPLES.glob("*rbac*.yaml"))],
    ids=lambda p: str(p.relative_to(AUTOSCALER)),
)
def test_every_object_fits_its_model(path: Path) -> None:
    for i, doc in enumerate(documents(path)):
        check(doc, f"{path.relative_to(AUTOSCALER)}[{i}]")


def test_kustomization_lists_every_manifest() -> None:
    (kustomization,) = documents(KUBE / "kustomization.yaml")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in kube_files()} - {"kustomization.yaml"}
    assert "namespace" not in kustomization  # rbac.yaml grants in two namespaces


# ---------------------------------------------------------------------------------------
# The pieces agree


def scaled_objects() -> list[Doc]:
    return [d for d in documents(KEDA / "scaledobjects-rbg-pd.yaml") if d["kind"] == "ScaledObject"]


def rules(name: str) -> list[Doc]:
    roles = [d for d in documents(KUBE / "rbac.yaml") if d["kind"] == "Role"]
    (role,) = [r for r in roles if r["metadata"]["name"] == name]
    return list(role["rules"])


def test_rbac_grants_the_named_scale_subresources_and_the_lease_only() -> None:
    docs = documents(KUBE / "rbac.yaml")
    assert sorted(d["kind"] for d in docs) == ["Role", "Role", "RoleBinding", "RoleBinding"]
    account = one(KUBE / "serviceaccount.yaml", "ServiceAccount")["metadata"]
    subject = {"kind": "ServiceAccount", "name": account["name"], "namespace": NAMESPACE}
    for binding in (d for d in docs if d["kind"] == "RoleBinding"):
        assert binding["subjects"] == [subject]
        role = binding["roleRef"]["name"]
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": role,
        }
    targets = [s["spec"]["scaleTargetRef"]["name"] for s in scaled_objects()]
    namespaces = {s["metadata"]["namespace"] for s in scaled_objects()}
    (scale,) = rules("llmobs-autoscaler-scale")
    assert scale == {
        "apiGroups": ["workloads.x-k8s.io"],
        "resources": ["rolebasedgroupscalingadapters/scale"],
        "resourceNames": targets,
        "verbs": ["get", "patch"],
    }
    roles = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Role"}
    assert {roles["llmobs-autoscaler-scale"]["metadata"]["namespace"]} == namespaces
    assert roles["llmobs-autoscaler-lease"]["metadata"]["namespace"] == NAMESPACE
    lease = rules("llmobs-autoscaler-lease")
    assert lease == [
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [LEASE],
            "verbs": ["get", "update"],
        },
    ]


def autoscaler_pod() -> tuple[Doc, Doc]:
    template = one(KUBE / "deployment.yaml", "Deployment")["spec"]["template"]
    (container,) = template["spec"]["containers"]
    return template, container


def test_the_deployment_service_and_keda_agree_on_ports() -> None:
    template, container = autoscaler_pod()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 9401, "grpc": 9402}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["grpc"] == {"port": ports["grpc"]}
    assert container["args"] == ["autoscaler", "--config", "/etc/llmobs/autoscaler.yaml"]
    pod = template["spec"]
    account = one(KUBE / "serviceaccount.yaml", "ServiceAccount")["metadata"]["name"]
    assert pod["serviceAccountName"] == account
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True

    service = one(KUBE / "service.yaml", "Service")
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    by_name = {p["name"]: p for p in service["spec"]["ports"]}
    assert {n: p["port"] for n, p in by_name.items()} == ports
    assert all(p["targetPort"] == n for n, p in by_name.items())
    name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
    address = f"{name}.{namespace}.svc.cluster.local:{ports['grpc']}"
    for scaled in scaled_objects():
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["metadata"]["scalerAddress"] == address


def test_each_scaled_object_asks_for_one_role_of_the_group_exactly() -> None:
    (rbg,) = [d for d in documents(RBG_EXAMPLE) if d["kind"] == "RoleBasedGroup"]
    seen = set()
    for scaled in scaled_objects():
        spec = scaled["spec"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] in EXTERNAL_TYPES and trigger["metricType"] == "AverageValue"
        group, role = trigger["metadata"]["group"], trigger["metadata"]["role"]
        seen.add(role)
        assert group == rbg["metadata"]["name"]
        assert scaled["metadata"]["namespace"] == rbg["metadata"]["namespace"]
        assert spec["scaleTargetRef"] == {
            "apiVersion": RBG,
            "kind": ADAPTER,
            "name": f"{group}-{role}",  # the adapter the RBG controller names <rbg>-<role>
        }
        # The HPA computes ceil(value / 1) and changes nothing on its own: the behavior whose
        # arithmetic tests/unit/autoscaler/test_hpa.py proves exact, spelled in one place.
        behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
        assert behavior == behavior_yaml(EXACT_BEHAVIOR)
    assert seen == {"prefill", "decode"}


def test_the_rbg_patch_enables_the_adapters_the_scaled_objects_target() -> None:
    (rbg,) = [d for d in documents(RBG_EXAMPLE) if d["kind"] == "RoleBasedGroup"]
    patch = json.loads((KEDA / "rbg-scaling-adapters.json").read_text())
    patched = json_patch(rbg, patch)
    check_rbg(patched, "rbg-pd.yaml patched")
    enabled = {
        f"{patched['metadata']['name']}-{r['name']}"
        for r in patched["spec"]["roles"]
        if r.get("scalingAdapter", {}).get("enable") is True
    }
    assert enabled == {s["spec"]["scaleTargetRef"]["name"] for s in scaled_objects()}


def test_every_file_under_autoscaler_is_checked_here() -> None:
    checked = {
        *kube_files(),
        KEDA / "scaledobjects-rbg-pd.yaml",
        KEDA / "rbg-scaling-adapters.json",
        *EXAMPLES.glob("*.yaml"),
        AUTOSCALER / "README.md",
    }
    present = {p for p in AUTOSCALER.rglob("*") if p.is_file()}
    assert present == checked, sorted(str(p) for p in present - checked)


def test_the_readme_names_every_file() -> None:
    readme = (AUTOSCALER / "README.md").read_text()
    for path in AUTOSCALER.rglob("*"):
        if path.is_file() and path.name != "README.md":
            assert re.search(re.escape(path.name), readme), f"README.md: {path.name}"


# ---------------------------------------------------------------------------------------
# The configs: the ConfigMap's and the examples build, and agree with the manifests


def embedded_settings() -> Settings:
    configmap = one(KUBE / "configmap.yaml", "ConfigMap")
    data = yaml.safe_load(configmap["data"]["autoscaler.yaml"])
    return validate(Settings, data, "configmap.yaml autoscaler.yaml")


@pytest.mark.parametrize(
    "path",
    sorted(p for p in EXAMPLES.glob("*.yaml") if "rbac" not in p.name),
    ids=lambda p: p.name,
)
def test_example_configs_build(path: Path) -> None:
    load(path)


def test_the_configmap_config_is_what_keda_and_rbac_expect() -> None:
    settings = embedded_settings()
    assert settings.output.mode == "keda" and settings.grpc is not None
    _, container = autoscaler_pod()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert (settings.http.port, settings.grpc.port) == (ports["http"], ports["grpc"])
    election = settings.leader_election
    assert election is not None
    assert (election.namespace, election.lease) == (NAMESPACE, LEASE)
    env = {e["name"] for e in container["env"]}
    assert "POD_NAME" in env  # the Lease identity
    targets = targets_for(
        settings.policy.roles,
        settings.output.kind,
        settings.output.namespace,
        settings.output.names,
        settings.policy.group,
    )
    by_name = {s["spec"]["scaleTargetRef"]["name"]: s for s in scaled_objects()}
    assert {t.name for t in targets.values()} == set(by_name)
    (scale,) = rules("llmobs-autoscaler-scale")
    assert scale["resourceNames"] == [t.name for t in targets.values()]
    for role, target in targets.items():
        scaled = by_name[target.name]
        assert scaled["metadata"]["namespace"] == target.namespace
        assert scaled["spec"]["scaleTargetRef"]["kind"] == target.kind.value
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["metadata"] == trigger["metadata"] | {
            "role": role,
            "group": settings.policy.group,
        }
        bounds = settings.policy.roles[role]
        assert scaled["spec"]["minReplicaCount"] == bounds.min_replicas
        assert scaled["spec"]["maxReplicaCount"] == bounds.max_replicas
    assert isinstance(settings.source, ExporterSourceConfig)
    assert settings.source.url.startswith("http://llmobs-exporter.llmobs.svc.cluster.local:9400")


def test_the_direct_example_and_its_rbac_agree() -> None:
    settings = load(EXAMPLES / "direct-deployments.yaml")
    assert settings.output.mode == "direct" and settings.leader_election is not None
    targets = targets_for(
        settings.policy.roles,
        settings.output.kind,
        settings.output.namespace,
        settings.output.names,
        settings.policy.group,
    )
    role = one(EXAMPLES / "direct-deployments-rbac.yaml", "Role")
    assert role["metadata"]["namespace"] == settings.output.namespace
    scale = role["rules"][0]
    assert scale == {
        "apiGroups": ["apps"],
        "resources": ["deployments/scale"],
        "resourceNames": [t.name for t in targets.values()],
        "verbs": ["get", "patch"],
    }
