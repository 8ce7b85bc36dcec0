"""The whole install as the cluster gets it: the top-level kustomization.yaml, built.

* ``build`` reads a kustomization as kustomize does for the fields these files use
  (resources as files or folders, ``namespace``, ``configMapGenerator`` over files with
  ``generatorOptions``) and refuses any other field, so it never reads one wrong silently.
  (Checked against kustomize v5.5's own ``kubectl kustomize .``: the same objects.)
* Every object it yields is walked against the ``kubernetes`` client's models and built by
  its deserializer (tests/unit/exporter/test_manifests.py); custom resources as there.
* The parts agree: one image with both commands (Dockerfile, pyproject's scripts) runs the
  exporter, the autoscaler and the llmbench Job; the Job's command line, with the scenarios
  ConfigMap mounted where the Job mounts it, is one ``llmbench run`` accepts; its server is
  the RoleBasedGroup PD example's router; every board in dashboards/ is one ConfigMap
  labelled for Grafana's sidecar holding that file's bytes (generated from the file, not a
  copy).
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from llmobs.cli.bench_options import build_config, given
from llmobs.cli.bench_run import run
from tests.unit.exporter.test_manifests import (
    MODELS,
    assert_keys,
    check_object,
    documents,
)

ROOT = Path(__file__).resolve().parents[2]
KUSTOMIZE = "kustomize.config.k8s.io/v1beta1"
NAMESPACE = "llmobs"
SIDECAR_LABEL = ("grafana_dashboard", "1")
# kubectl apply (client side) keeps the whole object in an annotation, and the API server
# refuses more than 256 KiB of annotations on one object.
LAST_APPLIED_LIMIT = 256 * 1024

Doc = dict[str, Any]

# Objects without a namespace (kustomize's `namespace:` leaves them alone).
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding"}
KUSTOMIZATION = {
    "apiVersion",
    "kind",
    "namespace",
    "resources",
    "configMapGenerator",
    "generatorOptions",
}
GENERATOR = {"name", "files"}
GENERATOR_OPTIONS = {"disableNameSuffixHash", "labels", "annotations"}


# ---------------------------------------------------------------------------------------
# Reading a kustomization


def _generated(entry: Doc, root: Path, options: Doc, where: str) -> Doc:
    assert_keys(entry, GENERATOR, where, GENERATOR)
    data: dict[str, str] = {}
    for spec in entry["files"]:
        key, _, name = spec.rpartition("=")
        path = (root / name).resolve()
        assert path.is_relative_to(root.resolve()), (
            f"{where}: {name} is outside {root} (kustomize refuses)"
        )
        key = key or path.name
        assert key not in data, f"{where}: key {key} twice"
        data[key] = path.read_text(encoding="utf-8")
    metadata: Doc = {"name": entry["name"]}
    for field in ("labels", "annotations"):
        if field in options:
            metadata[field] = dict(options[field])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data}


def build(root: Path) -> list[Doc]:
    """The objects ``kubectl kustomize ROOT`` makes, for the fields these files use."""
    file = root / "kustomization.yaml"
    where = str(file.relative_to(ROOT) if file.is_relative_to(ROOT) else file)
    (kustomization,) = documents(file)
    assert kustomization["apiVersion"] == KUSTOMIZE, where
    assert_keys(kustomization, KUSTOMIZATION, where, {"apiVersion", "kind"})
    docs: list[Doc] = []
    for name in kustomization.get("resources", []):
        path = root / name
        docs += build(path) if path.is_dir() else documents(path)
    options = kustomization.get("generatorOptions", {})
    assert_keys(options, GENERATOR_OPTIONS, f"{where}: generatorOptions")
    generators = kustomization.get("configMapGenerator", [])
    if generators:
        # Without it the names get a hash of the content, which this reader does not make.
        assert options.get("disableNameSuffixHash") is True, f"{where}: name suffix hashes"
    docs += [_generated(g, root, options, f"{where}: {g.get('name')}") for g in generators]
    if "namespace" in kustomization:
        for doc in docs:
            if doc["kind"] not in CLUSTER_SCOPED:
                doc["metadata"]["namespace"] = kustomization["namespace"]
    return docs


def ident(doc: Doc) -> tuple[str, str, str, str]:
    return (doc["apiVersion"], doc["kind"], doc["metadata"].get("namespace", ""), name(doc))


def name(doc: Doc) -> str:
    return str(doc["metadata"]["name"])


def installed() -> list[Doc]:
    return build(ROOT)


def only(docs: list[Doc], kind: str, named: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and name(d) == named]
    assert len(found) == 1, f"expected one {kind} {named}, found {len(found)}"
    return found[0]


# ---------------------------------------------------------------------------------------
# The reader itself


def test_the_reader_refuses_what_it_does_not_read(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text(
        f"apiVersion: {KUSTOMIZE}\nkind: Kustomization\ncommonLabels: {{a: b}}\n"
    )
    with pytest.raises(AssertionError, match=r"unknown field\(s\) \['commonLabels'\]"):
        build(tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"apiVersion: {KUSTOMIZE}\nkind: Kustomization\n"
        "configMapGenerator: [{name: x, files: [../outside.json]}]\n"
        "generatorOptions: {disableNameSuffixHash: true}\n"
    )
    with pytest.raises(AssertionError, match="outside"):
        build(tmp_path)


def test_the_reader_generates_and_moves_as_kustomize_does(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"x": 1}\n')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "kustomization.yaml").write_text(
        f"apiVersion: {KUSTOMIZE}\nkind: Kustomization\nresources: [role.yaml]\n"
    )
    (tmp_path / "sub" / "role.yaml").write_text(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\n"
    )
    (tmp_path / "kustomization.yaml").write_text(
        f"apiVersion: {KUSTOMIZE}\nkind: Kustomization\nnamespace: ns\nresources: [sub]\n"
        "configMapGenerator: [{name: c, files: [a.json, b=a.json]}]\n"
        "generatorOptions: {disableNameSuffixHash: true, labels: {l: '1'}}\n"
    )
    role, config = build(tmp_path)
    assert role["metadata"] == {"name": "r"}
    assert config == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "labels": {"l": "1"}, "namespace": "ns"},
        "data": {"a.json": '{"x": 1}\n', "b": '{"x": 1}\n'},
    }


# ---------------------------------------------------------------------------------------
# Everything together

MODELS_HERE = {**MODELS, ("batch/v1", "Job"): "V1Job"}


def test_every_object_matches_the_kubernetes_models() -> None:
    for doc in installed():
        check_object(doc, f"{doc.get('kind', '')} {name(doc)}", MODELS_HERE)


def test_the_top_level_holds_each_part_once() -> None:
    docs = installed()
    idents = [ident(d) for d in docs]
    assert len(idents) == len(set(idents)), "an object is installed twice"
    parts = [
        build(ROOT / "exporters" / "kubernetes"),
        build(ROOT / "autoscaler" / "kubernetes"),
        build(ROOT / "bench"),
        build(ROOT / "dashboards"),
    ]
    assert set(idents) == {ident(d) for part in parts for d in part}
    assert [d for d in docs if d["kind"] == "Namespace"] == [
        d for d in parts[0] if d["kind"] == "Namespace"
    ]


def test_the_autoscaler_files_are_its_kustomizations_less_the_shared_namespace() -> None:
    """The autoscaler's kustomization makes the namespace the exporter's already makes
    (kustomize refuses an object twice), so the top level lists its other files: the same
    ones, in the same order."""
    (top,) = documents(ROOT / "kustomization.yaml")
    (own,) = documents(ROOT / "autoscaler" / "kubernetes" / "kustomization.yaml")
    prefix = "autoscaler/kubernetes/"
    listed = [r.removeprefix(prefix) for r in top["resources"] if r.startswith(prefix)]
    assert listed == [r for r in own["resources"] if r != "namespace.yaml"]
    assert set(own) <= {"apiVersion", "kind", "resources"}, "it gained fields to carry over"


def test_namespaced_objects_are_in_llmobs_or_the_workloads() -> None:
    for doc in installed():
        namespace = doc["metadata"].get("namespace")
        if doc["kind"] in CLUSTER_SCOPED:
            assert namespace is None, f"{doc['kind']} {name(doc)}"
        else:
            # The autoscaler's scale grant lives where the workloads are (autoscaler/README.md).
            assert namespace in {NAMESPACE, "llm"}, f"{doc['kind']} {name(doc)}: {namespace}"


# ---------------------------------------------------------------------------------------
# Dashboards for Grafana's sidecar


def board_files() -> list[Path]:
    return sorted((ROOT / "dashboards").glob("*.json"))


def test_every_board_is_one_configmap_for_grafanas_sidecar() -> None:
    configmaps = [d for d in build(ROOT / "dashboards") if d["kind"] == "ConfigMap"]
    files = board_files()
    assert files, "dashboards/ holds no board"
    by_key = {key: cm for cm in configmaps for key in cm["data"]}
    assert sorted(by_key) == [p.name for p in files], "a board without a ConfigMap, or twice"
    uids = set()
    for path in files:
        configmap = by_key[path.name]
        where = f"ConfigMap {name(configmap)}"
        assert list(configmap["data"]) == [path.name], f"{where}: one board each"
        assert configmap["data"][path.name] == path.read_text(encoding="utf-8"), where
        labels = configmap["metadata"]["labels"]
        assert labels[SIDECAR_LABEL[0]] == SIDECAR_LABEL[1], f"{where}: the sidecar's label"
        assert configmap["metadata"]["namespace"] == NAMESPACE, where
        size = len(json.dumps(configmap, separators=(",", ":")).encode())
        assert size < LAST_APPLIED_LIMIT, f"{where}: {size} bytes: too big for kubectl apply"
        uids.add(json.loads(path.read_text())["uid"])
    assert len(uids) == len(files), "two boards share a uid: the sidecar would keep one"


def test_the_boards_are_generated_from_the_files_not_copied() -> None:
    (kustomization,) = documents(ROOT / "dashboards" / "kustomization.yaml")
    listed = [f for g in kustomization["configMapGenerator"] for f in g["files"]]
    assert sorted(listed) == [p.name for p in board_files()]
    assert set(kustomization) == {
        "apiVersion",
        "kind",
        "namespace",
        "configMapGenerator",
        "generatorOptions",
    }, "the ConfigMaps come from the files only"


# ---------------------------------------------------------------------------------------
# One image, both commands; the llmbench Job


def scripts() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(project["project"]["scripts"])


def test_the_image_installs_both_commands() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    lines = [line.split("#")[0].strip() for line in dockerfile.splitlines()]
    assert "COPY pyproject.toml README.md ./" in lines
    assert "COPY llmobs ./llmobs" in lines
    assert any(re.match(r"RUN pip install --no-cache-dir \. ", line) for line in lines)
    (entrypoint,) = [
        json.loads(line.split(None, 1)[1]) for line in lines if line.startswith("ENTRYPOINT")
    ]
    assert {"llmobs", "llmbench"} <= set(scripts())
    assert entrypoint == ["llmobs"]


def containers() -> list[tuple[Doc, Doc]]:
    """(object, container) for each container of every workload installed."""
    found = []
    for doc in installed():
        if doc["kind"] in {"Deployment", "Job"}:
            for container in doc["spec"]["template"]["spec"]["containers"]:
                found.append((doc, container))
    return found


def test_every_workload_runs_the_one_image_and_one_of_its_commands() -> None:
    images = {c["image"] for _, c in containers()}
    assert len(images) == 1, f"several images: {images}"
    for doc, container in containers():
        command = container.get("command", ["llmobs"])  # the image's ENTRYPOINT
        assert command[0] in scripts(), f"{doc['kind']} {name(doc)}: {command}"
    kinds = {
        (doc["kind"], container.get("command", ["llmobs"])[0]) for doc, container in containers()
    }
    assert ("Job", "llmbench") in kinds and ("Deployment", "llmobs") in kinds


def job() -> tuple[Doc, Doc]:
    docs = installed()
    (doc,) = [d for d in docs if d["kind"] == "Job"]
    (container,) = doc["spec"]["template"]["spec"]["containers"]
    return doc, container


def mounted_scenarios(tmp_path: Path) -> tuple[str, Path]:
    """Where the Job mounts its scenarios, and a folder holding what is mounted there."""
    doc, container = job()
    volumes = {v["name"]: v for v in doc["spec"]["template"]["spec"]["volumes"]}
    configmaps = [v for v in container["volumeMounts"] if "configMap" in volumes[v["name"]]]
    (mount,) = configmaps
    configmap = only(installed(), "ConfigMap", volumes[mount["name"]]["configMap"]["name"])
    assert configmap["metadata"]["namespace"] == doc["metadata"]["namespace"]
    for key, text in configmap["data"].items():
        (tmp_path / key).write_text(text)
    return str(mount["mountPath"]), tmp_path


def parse(args: list[str]) -> Any:
    """``llmbench run ARGS`` as the command reads them, up to the RunConfig (nothing runs)."""
    ctx = run.make_context("run", list(args))
    options = {
        k: v for k, v in ctx.params.items() if k not in {"dataset_file", "out", "plot", "as_json"}
    }
    config, _ = build_config(given(ctx, options), ctx.params["dataset_file"])
    return config, ctx.params


def test_the_jobs_command_line_is_a_run_llmbench_accepts(tmp_path: Path) -> None:
    _, container = job()
    assert container["command"] == ["llmbench"]
    args = list(container["args"])
    assert args[0] == "run"
    where, folder = mounted_scenarios(tmp_path)
    local = [a.replace(where, str(folder), 1) if a.startswith(where + "/") else a for a in args]
    config, params = parse(local[1:])
    assert config.base_url is not None
    assert config.isl == 2500 and config.osl == 100  # the quickstart scenario, read
    # What it writes goes to a writable mount: the root file system is read-only.
    writable = {m["mountPath"] for m in container["volumeMounts"] if not m.get("readOnly", False)}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    for path in (str(params["out"]), container["workingDir"]):
        assert any(path == w or path.startswith(w + "/") for w in writable), path
    home = {e["name"]: e.get("value") for e in container["env"]}["HOME"]
    assert home in writable


def test_every_scenario_the_job_mounts_builds(tmp_path: Path) -> None:
    where, folder = mounted_scenarios(tmp_path)
    _, container = job()
    base_url = container["args"][container["args"].index("--base-url") + 1]
    files = sorted(folder.glob("*.yaml"))
    assert "quickstart.yaml" in {f.name for f in files}
    for file in files:
        # Byte for byte the repository's scenario: generated from it.
        assert file.read_text() == (ROOT / "bench" / "scenarios" / file.name).read_text()
        config, _ = parse(["--config", str(file), "--base-url", base_url])
        assert config.base_url == base_url, file.name
    assert where.startswith("/")


def test_the_job_loads_the_pd_examples_router() -> None:
    _, container = job()
    url = urlsplit(container["args"][container["args"].index("--base-url") + 1])
    assert url.hostname is not None
    service, namespace, *_ = url.hostname.split(".")
    workloads = documents(ROOT / "exporters" / "examples" / "workloads" / "rbg-pd.yaml")
    (router,) = [
        d
        for d in workloads
        if d["kind"] == "Service" and name(d) == service and d["metadata"]["namespace"] == namespace
    ]
    assert url.port in {p["port"] for p in router["spec"]["ports"]}


def test_the_job_runs_once_and_cleans_up() -> None:
    doc, _ = job()
    spec = doc["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    assert spec["ttlSecondsAfterFinished"] > 0 and spec["activeDeadlineSeconds"] > 0
    assert spec["template"]["spec"]["automountServiceAccountToken"] is False
