"""The operator-facing assets under exporters/, checked as the cluster and Prometheus would.

* Every Kubernetes object is walked field by field against the installed ``kubernetes``
  client's models (its own deserializer drops unknown keys without a word, so a typo such
  as ``portz`` would otherwise pass), then built with that deserializer (required fields,
  strict types). Custom resources with no model (ServiceMonitor, PodMonitor,
  PrometheusRule, RoleBasedGroup, Kustomization) get the same walk for their Kubernetes
  parts and a hand check of the rest.
* The pieces agree: RBAC grants reading pods and nothing else; the Deployment, Service,
  monitors, ConfigMap and Prometheus jobs name the same port, labels and job; every
  exporter config builds; each example workload's pods are the ones its config selects,
  with the roles it expects.
* promtool checks the Prometheus configs and rules and runs the rules' unit tests.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes.client
import pytest
import yaml

from llmobs.exporter.config import ExporterConfig, KubernetesDiscovery, build, load
from tests.prometheus import binary

ROOT = Path(__file__).resolve().parents[3]
EXPORTERS = ROOT / "exporters"
KUBE = EXPORTERS / "kubernetes"
EXAMPLES = EXPORTERS / "examples"
WORKLOADS = EXAMPLES / "workloads"
PROMETHEUS = EXPORTERS / "prometheus"

NAMESPACE = "llmobs"
APP = "llmobs-exporter"  # app.kubernetes.io/name, the Service, the Prometheus job
METRICS_PORT = "metrics"

Doc = dict[str, Any]

MODELS: dict[tuple[str, str], str] = {
    ("v1", "Namespace"): "V1Namespace",
    ("v1", "ServiceAccount"): "V1ServiceAccount",
    ("v1", "ConfigMap"): "V1ConfigMap",
    ("v1", "Service"): "V1Service",
    ("apps/v1", "Deployment"): "V1Deployment",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "V1ClusterRole",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "V1ClusterRoleBinding",
    ("rbac.authorization.k8s.io/v1", "Role"): "V1Role",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "V1RoleBinding",
}
MONITORING = "monitoring.coreos.com/v1"
RBG = "workloads.x-k8s.io/v1alpha2"
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"

# Files of exporters/kubernetes that kustomization.yaml leaves out on purpose (see it).
OPT_IN = {"servicemonitor.yaml", "podmonitor.yaml", "prometheusrule.yaml", "rbac-namespaced.yaml"}

# The labels the RBG v1alpha2 controller puts on every pod of a group.
RBG_GROUP_LABEL = "rbg.workloads.x-k8s.io/group-name"
RBG_ROLE_LABEL = "rbg.workloads.x-k8s.io/role-name"


# ---------------------------------------------------------------------------------------
# Reading


def documents(path: Path) -> list[Doc]:
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    assert docs, f"{path.name}: no YAML documents"
    for doc in docs:
        assert isinstance(doc, dict), f"{path.name}: a document is not a mapping"
    return docs


def rel(path: Path) -> str:
    return str(path.relative_to(EXPORTERS))


def one(path: Path, kind: str) -> Doc:
    found = [d for d in documents(path) if d.get("kind") == kind]
    assert len(found) == 1, f"{rel(path)}: expected one {kind}, found {len(found)}"
    return found[0]


def kube_files() -> list[Path]:
    return sorted(KUBE.glob("*.yaml"))


def workload_files() -> list[Path]:
    return sorted(WORKLOADS.glob("*.yaml"))


def example_configs() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def embedded_config() -> ExporterConfig:
    data = yaml.safe_load(one(KUBE / "configmap.yaml", "ConfigMap")["data"]["exporter.yaml"])
    assert isinstance(data, dict)
    return build(data, "configmap.yaml exporter.yaml")


# ---------------------------------------------------------------------------------------
# Strict structural check against the kubernetes client's models


def _child(where: str, key: object) -> str:
    return f"{where}.{key}" if where else str(key)


def _inner(type_name: str, *prefixes: str) -> str | None:
    for prefix in prefixes:
        if type_name.startswith(prefix):
            return type_name[len(prefix) : -1]
    return None


def check_fields(value: Any, type_name: str, where: str = "") -> list[str]:
    """Problems of ``value`` read as the client's ``type_name``: ``path: what``, one a line.

    ``type_name`` is as in a model's ``openapi_types``: ``V1Container``, ``List[V1Container]``
    or ``list[V1Container]``, ``Dict[str, str]`` or ``dict(str, str)``, ``str``, ``int``,
    ``object`` (IntOrString, raw extensions: any value) and so on.
    """
    at = where or "(top level)"
    problems: list[str] = []
    if value is None:
        return []  # an explicit null is an absent field to the API server
    optional = _inner(type_name, "Optional[")
    if optional is not None:
        return check_fields(value, optional, where)
    item = _inner(type_name, "List[", "list[")
    if item is not None:
        if not isinstance(value, list):
            return [f"{at}: expected a list, got {type(value).__name__}"]
        return [p for i, v in enumerate(value) for p in check_fields(v, item, f"{at}[{i}]")]
    mapped = _inner(type_name, "Dict[str, ", "dict(str, ")
    if mapped is not None:
        if not isinstance(value, dict):
            return [f"{at}: expected a mapping, got {type(value).__name__}"]
        problems += [
            f"{_child(where, k)}: key is not a string" for k in value if type(k) is not str
        ]
        return problems + [
            p for k, v in value.items() for p in check_fields(v, mapped, _child(where, k))
        ]
    if type_name == "object":
        return []
    primitive: dict[str, tuple[type, ...]] = {
        "str": (str,),
        "int": (int,),
        "float": (int, float),
        "bool": (bool,),
        "datetime": (str,),
        "date": (str,),
        "bytes": (str,),
    }
    if type_name in primitive:
        wanted = primitive[type_name]
        if isinstance(value, bool) and bool not in wanted:
            return [f"{at}: expected {type_name}, got bool"]
        if not isinstance(value, wanted):
            return [f"{at}: expected {type_name}, got {type(value).__name__} {value!r}"]
        return []
    model = getattr(kubernetes.client, type_name, None)
    if model is None or not hasattr(model, "openapi_types"):
        return [f"{at}: the kubernetes client has no model {type_name}"]
    if not isinstance(value, dict):
        return [f"{at}: expected a {type_name} mapping, got {type(value).__name__}"]
    by_json_key = {key: attr for attr, key in model.attribute_map.items()}
    for key, sub in value.items():
        attr = by_json_key.get(key)
        if attr is None:
            problems.append(f"{_child(where, key)}: unknown field")
        else:
            problems += check_fields(sub, model.openapi_types[attr], _child(where, key))
    return problems


# The client's own reader of API answers (private, with no public equivalent that takes a
# mapping in every client version). A default keeps getattr from hiding a rename: None fails.
_DESERIALIZE = getattr(kubernetes.client.ApiClient(), "_ApiClient__deserialize", None)


def construct(doc: Doc, model: str) -> Any:
    """Build the client object the way the client reads an API answer (required fields,
    strict primitive types), raising on what it refuses."""
    assert callable(_DESERIALIZE), "kubernetes.client.ApiClient has no __deserialize"
    return _DESERIALIZE(doc, model)


def assert_model(doc: Doc, model: str, where: str) -> None:
    problems = check_fields(doc, model)
    assert not problems, "\n".join(f"{where}: {p}" for p in problems)
    built = construct(doc, model)
    assert built is not None, f"{where}: {model} did not build"


def assert_keys(
    mapping: Any, allowed: set[str], where: str, required: frozenset[str] | set[str] = frozenset()
) -> None:
    assert isinstance(mapping, dict), f"{where}: expected a mapping"
    unknown = sorted(set(mapping) - allowed)
    assert not unknown, f"{where}: unknown field(s) {unknown}"
    missing = sorted(required - set(mapping))
    assert not missing, f"{where}: missing field(s) {missing}"


# ---------------------------------------------------------------------------------------
# Custom resources: the Kubernetes parts through the models, the rest by hand

# Fields of the Prometheus Operator's monitoring.coreos.com/v1 types that these files may
# use (ServiceMonitorSpec, PodMonitorSpec, Endpoint, PodMetricsEndpoint, PrometheusRule).
MONITOR_SPEC = {
    "jobLabel",
    "targetLabels",
    "podTargetLabels",
    "selector",
    "namespaceSelector",
    "sampleLimit",
    "targetLimit",
    "attachMetadata",
    "scrapeClass",
}
ENDPOINT = {
    "port",
    "targetPort",
    "path",
    "scheme",
    "params",
    "interval",
    "scrapeTimeout",
    "honorLabels",
    "honorTimestamps",
    "relabelings",
    "metricRelabelings",
}
DURATION = re.compile(r"^(\d+(ms|s|m|h))+$")


def check_monitor(doc: Doc, where: str) -> None:
    assert doc["apiVersion"] == MONITORING, f"{where}: apiVersion"
    assert_keys(doc, {"apiVersion", "kind", "metadata", "spec"}, where, {"metadata", "spec"})
    assert_model(doc["metadata"], "V1ObjectMeta", f"{where}: metadata")
    endpoints_key = "endpoints" if doc["kind"] == "ServiceMonitor" else "podMetricsEndpoints"
    spec = doc["spec"]
    assert_keys(spec, MONITOR_SPEC | {endpoints_key}, f"{where}: spec", {"selector"})
    assert_model(spec["selector"], "V1LabelSelector", f"{where}: spec.selector")
    assert spec[endpoints_key], f"{where}: spec.{endpoints_key} is empty"
    for i, endpoint in enumerate(spec[endpoints_key]):
        at = f"{where}: spec.{endpoints_key}[{i}]"
        assert_keys(endpoint, ENDPOINT, at, {"port"})
        for key in ("interval", "scrapeTimeout"):
            if key in endpoint:
                assert DURATION.match(endpoint[key]), f"{at}.{key}: not a duration"


def check_prometheus_rule(doc: Doc, where: str) -> None:
    assert doc["apiVersion"] == MONITORING, f"{where}: apiVersion"
    assert_keys(doc, {"apiVersion", "kind", "metadata", "spec"}, where, {"metadata", "spec"})
    assert_model(doc["metadata"], "V1ObjectMeta", f"{where}: metadata")
    assert_keys(doc["spec"], {"groups"}, f"{where}: spec", {"groups"})


# RoleBasedGroup v1alpha2 (sgl-project/rbg api/workloads/v1alpha2/rolebasedgroup_types.go).
RBG_SPEC = {"roles", "roleTemplates"}
RBG_ROLE = {
    "name",
    "labels",
    "annotations",
    "replicas",
    "rolloutStrategy",
    "dependencies",
    "standalonePattern",
    "leaderWorkerPattern",
    "customComponentsPattern",
    "servicePorts",
    "engineRuntimes",
    "scalingAdapter",
    "minReadySeconds",
    "podManagementPolicy",
}


def check_rbg(doc: Doc, where: str) -> None:
    assert doc["apiVersion"] == RBG, f"{where}: apiVersion"
    assert_keys(doc, {"apiVersion", "kind", "metadata", "spec"}, where, {"metadata", "spec"})
    assert_model(doc["metadata"], "V1ObjectMeta", f"{where}: metadata")
    assert_keys(doc["spec"], RBG_SPEC, f"{where}: spec", {"roles"})
    names = [role.get("name") for role in doc["spec"]["roles"]]
    assert len(set(names)) == len(names), f"{where}: role names repeat: {names}"
    for i, role in enumerate(doc["spec"]["roles"]):
        at = f"{where}: spec.roles[{i}]"
        assert_keys(role, RBG_ROLE, at, {"name", "replicas", "standalonePattern"})
        assert isinstance(role["name"], str) and role["name"], f"{at}.name"
        assert type(role["replicas"]) is int and role["replicas"] >= 0, f"{at}.replicas"
        for dep in role.get("dependencies", []):
            assert dep in names, f"{at}.dependencies: no role {dep!r}"
        pattern = role["standalonePattern"]
        assert_keys(pattern, {"template"}, f"{at}.standalonePattern", {"template"})
        assert_model(pattern["template"], "V1PodTemplateSpec", f"{at}.standalonePattern.template")


def check_kustomization(doc: Doc, where: str) -> None:
    assert doc["apiVersion"] == KUSTOMIZE, f"{where}: apiVersion"
    assert_keys(doc, {"apiVersion", "kind", "namespace", "resources"}, where, {"resources"})


CUSTOM = {
    (MONITORING, "ServiceMonitor"): check_monitor,
    (MONITORING, "PodMonitor"): check_monitor,
    (MONITORING, "PrometheusRule"): check_prometheus_rule,
    (RBG, "RoleBasedGroup"): check_rbg,
    (KUSTOMIZE, "Kustomization"): check_kustomization,
}


def check_object(doc: dict[str, Any], where: str, models: dict[tuple[str, str], str]) -> None:
    """``doc`` against its Kubernetes model (``models``) or its custom check; an object of
    a kind neither knows fails."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    if key in models:
        assert_model(doc, models[key], where)
    elif key in CUSTOM:
        CUSTOM[key](doc, where)
    else:
        pytest.fail(f"{where}: no check for apiVersion {key[0]!r} kind {key[1]!r}")


@pytest.mark.parametrize("path", kube_files() + workload_files(), ids=rel)
def test_objects_match_the_kubernetes_models(path: Path) -> None:
    for i, doc in enumerate(documents(path)):
        check_object(doc, f"{rel(path)} #{i} {doc.get('kind', '')}", MODELS)


def test_the_checker_names_unknown_fields_and_wrong_types() -> None:
    doc = one(KUBE / "deployment.yaml", "Deployment")
    container = doc["spec"]["template"]["spec"]["containers"][0]
    bad = {
        **doc,
        "spec": {
            **doc["spec"],
            "replicas": "1",
            "template": {
                **doc["spec"]["template"],
                "spec": {
                    **doc["spec"]["template"]["spec"],
                    "containers": [{**container, "portz": [{"containerPort": 9400}]}],
                    "automountServiceAccountToken": "true",
                },
            },
        },
        "metadata": {**doc["metadata"], "labels": {"n": 1}},
    }
    assert sorted(check_fields(bad, "V1Deployment")) == [
        "metadata.labels.n: expected str, got int 1",
        "spec.replicas: expected int, got str '1'",
        "spec.template.spec.automountServiceAccountToken: expected bool, got str 'true'",
        "spec.template.spec.containers[0].portz: unknown field",
    ]
    # What the checker exists for: the client alone builds the object and drops the typo.
    typo = {
        **doc,
        "spec": {
            **doc["spec"],
            "template": {
                **doc["spec"]["template"],
                "spec": {**doc["spec"]["template"]["spec"], "containerz": []},
            },
        },
    }
    assert construct(typo, "V1Deployment") is not None


# ---------------------------------------------------------------------------------------
# The install: RBAC, Deployment, Service, monitors, ConfigMap, kustomization


def test_kustomization_lists_every_install_file_once() -> None:
    kustomization = documents(KUBE / "kustomization.yaml")[0]
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources)), "a resource is listed twice"
    for name in resources:
        assert (KUBE / name).is_file(), f"kustomization.yaml: {name} does not exist"
    files = {p.name for p in kube_files()} - {"kustomization.yaml"}
    assert set(resources) == files - OPT_IN
    assert kustomization["namespace"] == NAMESPACE


def test_everything_installs_into_one_namespace() -> None:
    for path in kube_files():
        if path.name in {"kustomization.yaml", "rbac-namespaced.yaml"}:
            continue
        for doc in documents(path):
            if doc["kind"] in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
                assert "namespace" not in doc["metadata"], f"{path.name}: cluster-scoped"
            else:
                assert doc["metadata"].get("namespace") == NAMESPACE, f"{path.name} {doc['kind']}"
    assert one(KUBE / "namespace.yaml", "Namespace")["metadata"]["name"] == NAMESPACE


READ_PODS = [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]}]


@pytest.mark.parametrize(
    ("file", "role_kind", "binding_kind"),
    [
        ("rbac.yaml", "ClusterRole", "ClusterRoleBinding"),
        ("rbac-namespaced.yaml", "Role", "RoleBinding"),
    ],
)
def test_rbac_grants_reading_pods_and_nothing_else(
    file: str, role_kind: str, binding_kind: str
) -> None:
    docs = documents(KUBE / file)
    assert sorted(d["kind"] for d in docs) == sorted([role_kind, binding_kind])
    role = one(KUBE / file, role_kind)
    binding = one(KUBE / file, binding_kind)
    assert role["rules"] == READ_PODS
    assert "aggregationRule" not in role
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": role_kind,
        "name": role["metadata"]["name"],
    }
    account = one(KUBE / "serviceaccount.yaml", "ServiceAccount")["metadata"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    if role_kind == "Role":
        # A Role grants its own namespace: the one the engines run in, not the exporter's.
        assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] != NAMESPACE


def exporter_pod() -> tuple[Doc, Doc]:
    """The Deployment's pod template and its one container."""
    template = one(KUBE / "deployment.yaml", "Deployment")["spec"]["template"]
    (container,) = template["spec"]["containers"]
    return template, container


def test_the_deployment_runs_the_exporter_on_the_configmap() -> None:
    deployment = one(KUBE / "deployment.yaml", "Deployment")
    template, container = exporter_pod()
    pod = template["spec"]
    assert deployment["spec"]["replicas"] == 1
    assert (
        deployment["spec"]["selector"]["matchLabels"].items()
        <= template["metadata"]["labels"].items()
    )
    assert template["metadata"]["labels"]["app.kubernetes.io/name"] == APP
    assert container["image"] == "ghcr.io/llmobs/llmobs:0.1.0"

    # exporter --config PATH, and PATH is the ConfigMap's key mounted read-only.
    assert container["args"][:2] == ["exporter", "--config"]
    config_path = Path(container["args"][2])
    assert len(container["args"]) == 3
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == str(config_path.parent)]
    assert mount.get("readOnly") is True
    (volume,) = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    configmap = one(KUBE / "configmap.yaml", "ConfigMap")
    assert volume["configMap"]["name"] == configmap["metadata"]["name"]
    items = {i["path"]: i["key"] for i in volume["configMap"].get("items", [])}
    key = items.get(config_path.name, config_path.name)
    assert key in configmap["data"]

    # Its identity: the ServiceAccount the RBAC binds, with its token mounted.
    account = one(KUBE / "serviceaccount.yaml", "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True

    # Non-root, read-only, no privileges; a writable /tmp only.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/tmp"}
    assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
    assert "memory" in container["resources"]["limits"]


def test_port_probes_service_and_monitors_agree() -> None:
    config = embedded_config()
    template, container = exporter_pod()
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {METRICS_PORT: config.port} and config.port == 9400
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": METRICS_PORT}

    service = one(KUBE / "service.yaml", "Service")
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    (port,) = service["spec"]["ports"]
    assert port["name"] == METRICS_PORT
    assert port["targetPort"] in (METRICS_PORT, config.port)
    assert port["port"] == config.port

    monitor = one(KUBE / "servicemonitor.yaml", "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    assert "namespaceSelector" not in monitor["spec"]  # its own namespace, wherever it goes
    selector = monitor["spec"]["selector"]
    assert selector.keys() == {"matchLabels"}
    assert selector["matchLabels"].items() <= service["metadata"]["labels"].items()
    service_ports = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in service_ports
        assert endpoint["path"] == "/metrics"
        assert endpoint["honorLabels"] is True
    # The job label comes from the Service's app.kubernetes.io/name: the job of prometheus.yml.
    assert service["metadata"]["labels"][monitor["spec"]["jobLabel"]] == APP

    podmonitor = one(KUBE / "podmonitor.yaml", "PodMonitor")
    assert podmonitor["metadata"]["namespace"] == NAMESPACE
    assert "namespaceSelector" not in podmonitor["spec"]
    selector = podmonitor["spec"]["selector"]
    assert selector.keys() == {"matchLabels"}
    assert selector["matchLabels"].items() <= template["metadata"]["labels"].items()
    for endpoint in podmonitor["spec"]["podMetricsEndpoints"]:
        assert endpoint["port"] in ports
        assert endpoint["path"] == "/metrics"
        assert endpoint["honorLabels"] is True
    assert template["metadata"]["labels"][podmonitor["spec"]["jobLabel"]] == APP


def test_the_configmap_holds_a_cluster_wide_exporter_config() -> None:
    config = embedded_config()
    assert config.host == "0.0.0.0"
    assert config.kubernetes is not None and config.targets == []
    # Every namespace: what rbac.yaml's ClusterRole (in kustomization.yaml) allows.
    assert config.kubernetes.namespaces == []
    assert "rbac.yaml" in documents(KUBE / "kustomization.yaml")[0]["resources"]
    assert config.kubernetes.label_selector, "cluster-wide discovery must select its pods"


# ---------------------------------------------------------------------------------------
# Examples: exporter configs and the workloads they point at


@pytest.mark.parametrize("path", example_configs(), ids=rel)
def test_example_configs_build(path: Path) -> None:
    build(load(path), rel(path))


def test_static_example_is_one_prefill_and_one_decode() -> None:
    config = build(load(EXAMPLES / "static.yaml"))
    assert config.kubernetes is None
    assert sorted(t.role for t in config.targets) == ["decode", "prefill"]
    assert len({t.group for t in config.targets}) == 1


_REQUIREMENT = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<absent>[\w./-]+)"
    r"|(?P<key>[\w./-]+)\s*(?:(?P<op>==|!=|=)\s*(?P<value>[\w.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*$"
)


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Does a Kubernetes label selector (``a=b,c!=d,e in (f,g),h,!i``) select ``labels``?"""
    parts: list[str] = []
    depth, start = 0, 0
    for i, ch in enumerate(selector):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(selector[start:i])
            start = i + 1
    parts.append(selector[start:])
    for part in filter(str.strip, parts):
        m = _REQUIREMENT.match(part)
        assert m, f"not a label selector requirement: {part!r}"
        if m["absent"]:
            if m["absent"] in labels:
                return False
            continue
        key = m["key"]
        if m["op"] in ("=", "=="):
            ok = labels.get(key) == m["value"]
        elif m["op"] == "!=":
            ok = labels.get(key) != m["value"]
        elif m["setop"]:
            values = {v.strip() for v in m["values"].split(",")}
            ok = (
                (labels.get(key) in values) == (m["setop"] == "in")
                if key in labels
                else (m["setop"] == "notin")
            )
        else:
            ok = key in labels
        if not ok:
            return False
    return True


def test_the_selector_reader() -> None:
    labels = {"a": "1", "b": "x"}
    assert selector_matches("a=1,b in (x, y),!c,b", labels)
    assert selector_matches("a==1,c notin (z),c!=2", labels)
    assert not selector_matches("a=1,b notin (x,y)", labels)
    assert not selector_matches("c in (x)", labels)
    assert not selector_matches("!a", labels)


@dataclass(frozen=True)
class Pod:
    """A pod a workload makes: where it runs, its labels, its containers."""

    source: str
    namespace: str
    labels: dict[str, str]
    containers: list[Doc]


def pods(path: Path) -> Iterator[Pod]:
    for doc in documents(path):
        namespace = doc["metadata"].get("namespace", "default")
        name = doc["metadata"]["name"]
        if doc["kind"] == "Deployment":
            template = doc["spec"]["template"]
            yield Pod(
                f"Deployment {name}",
                namespace,
                dict(template["metadata"].get("labels", {})),
                template["spec"]["containers"],
            )
        elif doc["kind"] == "RoleBasedGroup":
            for role in doc["spec"]["roles"]:
                template = role["standalonePattern"]["template"]
                labels = dict(template.get("metadata", {}).get("labels", {}))
                # What the RBG controller adds to every pod it creates.
                labels |= {RBG_GROUP_LABEL: name, RBG_ROLE_LABEL: role["name"]}
                yield Pod(
                    f"RoleBasedGroup {name} role {role['name']}",
                    namespace,
                    labels,
                    template["spec"]["containers"],
                )


def selected(discovery: KubernetesDiscovery, pod: Pod) -> bool:
    in_namespace = not discovery.namespaces or pod.namespace in discovery.namespaces
    return in_namespace and selector_matches(discovery.label_selector, pod.labels)


def first_label(labels: dict[str, str], keys: list[str]) -> str | None:
    return next((labels[k] for k in keys if k in labels), None)


def metrics_port(discovery: KubernetesDiscovery, pod: Pod) -> int | None:
    """The port the exporter would scrape on ``pod``, if any container has it."""
    for container in pod.containers:
        for port in container.get("ports", []):
            if discovery.port is not None and port["containerPort"] == discovery.port:
                return int(port["containerPort"])
            if discovery.port is None and port.get("name") == discovery.port_name:
                return int(port["containerPort"])
    return None


def engine_of(pod: Pod) -> str | None:
    words = [
        w for c in pod.containers for w in [c["image"], *c.get("command", []), *c.get("args", [])]
    ]
    if any("sglang.launch_server" in w for w in words):
        assert "--enable-metrics" in words, f"{pod.source}: SGLang without --enable-metrics"
        return "sglang"
    if any(w.startswith("vllm/") for w in words):
        return "vllm"
    return None


# config, workload, {role: group} of the pods it must select, metrics port
EXAMPLE_PAIRS = [
    ("rbg-pd.yaml", "rbg-pd.yaml", {"prefill": "vllm-pd", "decode": "vllm-pd"}, 8000),
    ("vllm-deployment.yaml", "vllm-deployment.yaml", {"both": "vllm-qwen3"}, 8000),
    ("sglang.yaml", "sglang-deployment.yaml", {"both": "sglang-qwen3"}, 30000),
]


@pytest.mark.parametrize(("config_file", "workload_file", "roles", "port"), EXAMPLE_PAIRS)
def test_each_example_config_selects_its_workloads_engine_pods(
    config_file: str, workload_file: str, roles: dict[str, str], port: int
) -> None:
    config = build(load(EXAMPLES / config_file))
    discovery = config.kubernetes
    assert discovery is not None
    all_pods = list(pods(WORKLOADS / workload_file))
    chosen = [p for p in all_pods if selected(discovery, p)]
    assert chosen, f"{config_file} selects no pod of workloads/{workload_file}"
    found: dict[str, str | None] = {}
    for pod in chosen:
        role = first_label(pod.labels, discovery.role_labels) or discovery.default_role
        found[role] = first_label(pod.labels, discovery.group_labels)
        assert metrics_port(discovery, pod) == port, f"{pod.source}: no metrics port {port}"
        assert engine_of(pod) == discovery.engine, f"{pod.source}: engine"
    assert found == roles
    # What is left out is not an engine (the PD router).
    for pod in all_pods:
        if pod not in chosen:
            assert engine_of(pod) is None, f"{config_file} misses the engine pod {pod.source}"


def test_the_cluster_wide_config_finds_every_example_engine() -> None:
    discovery = embedded_config().kubernetes
    assert discovery is not None
    for path in workload_files():
        for pod in pods(path):
            engine = engine_of(pod)
            assert selected(discovery, pod) == (engine is not None), pod.source
            if engine is not None:
                assert metrics_port(discovery, pod) is not None, pod.source


@pytest.mark.parametrize("path", workload_files(), ids=rel)
def test_workload_services_and_selectors_find_their_pods(path: Path) -> None:
    made = list(pods(path))
    for doc in documents(path):
        if doc["kind"] == "Deployment":
            match = doc["spec"]["selector"]["matchLabels"]
            template_labels = doc["spec"]["template"]["metadata"]["labels"]
            assert match.items() <= template_labels.items(), f"{rel(path)}: Deployment selector"
        if doc["kind"] == "Service":
            selector = doc["spec"]["selector"]
            targets = [p for p in made if selector.items() <= p.labels.items()]
            assert targets, f"{rel(path)}: Service {doc['metadata']['name']} selects no pod"
            names = {port.get("name") for p in targets for c in p.containers for port in c["ports"]}
            for port in doc["spec"]["ports"]:
                assert port["targetPort"] in names, f"{rel(path)}: targetPort {port['targetPort']}"


# ---------------------------------------------------------------------------------------
# Prometheus: promtool


@pytest.fixture(scope="module")
def promtool() -> str:
    return binary("promtool")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)


def test_prometheus_config_passes_promtool(promtool: str) -> None:
    result = run(promtool, "check", "config", str(PROMETHEUS / "prometheus.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


# Fields of Prometheus' kubernetes_sd_config this file may use.
KUBERNETES_SD = {"role", "namespaces", "selectors", "api_server", "kubeconfig_file"}


def test_prometheus_kubernetes_config_passes_promtool(promtool: str, tmp_path: Path) -> None:
    """Debian's Prometheus is built without Kubernetes service discovery, so its promtool
    rejects ``kubernetes_sd_configs`` and nothing else may be wrong; the rest is checked by
    promtool with that block taken out, and the block by hand."""
    source = PROMETHEUS / "prometheus-kubernetes.yml"
    result = run(promtool, "check", "config", str(source))
    if result.returncode != 0:
        output = result.stdout + result.stderr
        complaints = [
            line.strip() for line in output.splitlines() if re.match(r"\s+line \d+:", line)
        ]
        assert complaints, output
        for line in complaints:
            assert "field kubernetes_sd_configs not found" in line, output
        config = yaml.safe_load(source.read_text())
        for job in config["scrape_configs"]:
            for sd in job.pop("kubernetes_sd_configs", []):
                assert_keys(sd, KUBERNETES_SD, f"{job['job_name']}: kubernetes_sd_configs")
                assert sd["role"] in {"pod", "service", "endpoints", "endpointslice", "node"}
                assert_keys(sd.get("namespaces", {}), {"names", "own_namespace"}, "namespaces")
                for selector in sd.get("selectors", []):
                    assert_keys(selector, {"role", "label", "field"}, "selectors")
        stripped = tmp_path / source.name
        stripped.write_text(yaml.safe_dump(config))
        shutil.copy(PROMETHEUS / "rules.yml", tmp_path / "rules.yml")
        result = run(promtool, "check", "config", str(stripped))
    assert result.returncode == 0, result.stdout + result.stderr


def test_both_prometheus_configs_scrape_the_exporter_alike() -> None:
    for name in ("prometheus.yml", "prometheus-kubernetes.yml"):
        config = yaml.safe_load((PROMETHEUS / name).read_text())
        (job,) = config["scrape_configs"]
        assert job["job_name"] == APP, name
        assert job["honor_labels"] is True, name  # the engine pod's namespace and pod win
        assert job["metrics_path"] == "/metrics", name
        assert config["rule_files"] == ["rules.yml"], name
    keep = yaml.safe_load((PROMETHEUS / "prometheus-kubernetes.yml").read_text())
    relabel = keep["scrape_configs"][0]["relabel_configs"]
    template, _ = exporter_pod()
    wanted = {
        "__meta_kubernetes_pod_label_app_kubernetes_io_name": template["metadata"]["labels"][
            "app.kubernetes.io/name"
        ],
        "__meta_kubernetes_pod_container_port_name": METRICS_PORT,
    }
    kept = {r["source_labels"][0]: r["regex"] for r in relabel if r.get("action") == "keep"}
    assert kept == wanted


def test_rules_pass_promtool_and_their_tests(promtool: str) -> None:
    result = run(promtool, "check", "rules", str(PROMETHEUS / "rules.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    result = run(promtool, "test", "rules", str(PROMETHEUS / "rules_test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_prometheusrule_holds_the_same_rules() -> None:
    rules = yaml.safe_load((PROMETHEUS / "rules.yml").read_text())
    assert one(KUBE / "prometheusrule.yaml", "PrometheusRule")["spec"]["groups"] == rules["groups"]


# ---------------------------------------------------------------------------------------


def test_every_file_under_exporters_is_checked_here() -> None:
    checked = {
        *kube_files(),
        *workload_files(),
        *example_configs(),
        PROMETHEUS / "prometheus.yml",
        PROMETHEUS / "prometheus-kubernetes.yml",
        PROMETHEUS / "rules.yml",
        PROMETHEUS / "rules_test.yml",
        EXPORTERS / "README.md",
    }
    present = {p for p in EXPORTERS.rglob("*") if p.is_file()}
    assert present == checked, f"unchecked: {sorted(map(rel, present - checked))}"
