"""``llmobs autoscaler`` as a user runs it: against ``llmobs sim --pd 1P1D`` with the quick
start's targets and scale URL, the loop closed through the emulator's scale subresource (a
load the prefill TTFT SLO cannot meet grows prefill; decode, within its SLO, stays), dry run,
KEDA mode (a gRPC client polling as KEDA does gets the replicas; nothing is written), and bad
input (one line, exit 2)."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import openai
import yaml

from llmobs.autoscaler.proto import externalscaler_pb2 as pb
from llmobs.autoscaler.proto.service import ExternalScalerStub
from tests.e2e.conftest import CLIProcess, run_cli
from tests.kubeapi import FakeKubeAPI, make_pod
from tests.servers import wait_until

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def fetch(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def spec_replicas(sim: str, role: str) -> int:
    scale = fetch(f"{sim}/apis/apps/v1/namespaces/default/deployments/{role}/scale")
    return int(scale["spec"]["replicas"])


def config(tmp_path: Path, sim: str, ttft: str, tpot: str, **sections: Any) -> Path:
    targets = [{"url": t["targets"][0], **t["labels"]} for t in fetch(f"{sim}/sim/targets")]
    path = tmp_path / "autoscaler.yaml"
    document: dict[str, Any] = {
        "policy": {
            "interval_s": 0.5,
            "roles": {
                "prefill": {"slo": {"ttft": {"p90": ttft}}, "max_replicas": 3},
                "decode": {"slo": {"tpot": {"p90": tpot}}, "max_replicas": 3},
            },
        },
        "source": {"kind": "scrape", "targets": targets, "interval_s": 0.2, "window_s": 30},
        "output": {"api_url": sim},
        "http": {"host": "127.0.0.1", "port": 0},
    }
    for key, value in sections.items():
        document[key] = {**document.get(key, {}), **value}
    path.write_text(yaml.safe_dump(document))
    return path


def load(sim: str, count: int) -> None:
    with openai.OpenAI(base_url=sim + "/v1", api_key="x", max_retries=0) as client:
        for i in range(count):
            client.completions.create(model=MODEL, prompt=" the" * (400 + i), max_tokens=8)


def decisions(url: str, role: str) -> list[dict[str, Any]]:
    return list(fetch(url + "/v1/decisions")["roles"][role])


def test_the_loop_closes_on_the_emulator_one_role_at_a_time(tmp_path: Path) -> None:
    sim = CLIProcess("sim", "--pd", "1P1D", "--port", "0", "--cold-start-s", "0.5")
    scaler: CLIProcess | None = None
    try:
        sim_url = sim.read_until(r"proxy \(OpenAI API\) on (http://\S+);").group(1)
        path = config(tmp_path, sim_url, ttft="1ms", tpot="10s")  # TTFT unmeetable
        scaler = CLIProcess("autoscaler", "--config", str(path))
        url = scaler.read_until(r"llmobs autoscaler on (http://[\d.:]+) ").group(1)
        load(sim_url, 6)
        wait_until(lambda: spec_replicas(sim_url, "prefill") >= 2, 30, "prefill to grow")
        grew = [d for d in decisions(url, "prefill") if d["desired"] > d["current"]]
        assert grew and grew[0]["reason"] == "slo_breach" and grew[0]["applied"] is True
        assert grew[0]["inputs"]["ttft_p90_observed"] > grew[0]["inputs"]["ttft_p90_target"]
        assert spec_replicas(sim_url, "decode") == 1
        assert all(d["desired"] == 1 for d in decisions(url, "decode"))
        code, out = scaler.stop(signal.SIGTERM)
        assert code == 0, out
        assert out.rstrip().endswith("stopped")
    finally:
        if scaler is not None:
            scaler.stop()
        sim.stop()


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    sim = CLIProcess("sim", "--pd", "1P1D", "--port", "0")
    scaler: CLIProcess | None = None
    try:
        sim_url = sim.read_until(r"proxy \(OpenAI API\) on (http://\S+);").group(1)
        path = config(tmp_path, sim_url, ttft="1ms", tpot="1ms")
        scaler = CLIProcess("autoscaler", "--config", str(path), "--dry-run")
        url = scaler.read_until(r"llmobs autoscaler on (http://[\d.:]+) .*\(dry run\)").group(1)
        load(sim_url, 4)

        def wanted_more() -> bool:
            return any(d["desired"] > d["current"] for d in decisions(url, "prefill"))

        wait_until(wanted_more, 30, "a decision to grow prefill")
        grew = next(d for d in decisions(url, "prefill") if d["desired"] > d["current"])
        assert grew["reasons"][-1] == "dry_run" and grew["applied"] is False
        assert fetch(url + "/v1/decisions")["dry_run"] is True
        assert spec_replicas(sim_url, "prefill") == 1 and spec_replicas(sim_url, "decode") == 1
    finally:
        if scaler is not None:
            scaler.stop()
        sim.stop()


def keda_replicas(address: str, role: str) -> float:
    """One polling round as KEDA makes it: the metric spec, then the metric it names."""
    metadata = {"scalerAddress": address, "role": role, "group": "llmobs-sim"}
    ref = pb.ScaledObjectRef(name=f"sim-{role}", namespace="default", scalerMetadata=metadata)
    with grpc.insecure_channel(address) as channel:
        stub = ExternalScalerStub(channel)
        try:
            (spec,) = stub.GetMetricSpec(ref, timeout=5).metricSpecs
            request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=spec.metricName)
            (value,) = stub.GetMetrics(request, timeout=5).metricValues
        except grpc.RpcError:
            return 0.0  # no decision yet: KEDA retries at its next poll
    assert spec.targetSizeFloat == 1
    return float(value.metricValueFloat)


def test_keda_mode_answers_and_leaves_the_writing_to_keda(tmp_path: Path) -> None:
    sim = CLIProcess("sim", "--pd", "1P1D", "--port", "0")
    scaler: CLIProcess | None = None
    try:
        sim_url = sim.read_until(r"proxy \(OpenAI API\) on (http://\S+);").group(1)
        path = config(
            tmp_path,
            sim_url,
            ttft="1ms",
            tpot="10s",
            policy={"group": "llmobs-sim"},
            output={"mode": "keda"},
            grpc={"host": "127.0.0.1", "port": 0},
        )
        scaler = CLIProcess("autoscaler", "--config", str(path))
        port = scaler.read_until(r"KEDA external scaler on :(\d+)").group(1)
        address = f"127.0.0.1:{port}"
        load(sim_url, 6)
        wait_until(lambda: keda_replicas(address, "prefill") >= 2, 30, "KEDA told to grow")
        assert keda_replicas(address, "decode") == 1
        assert spec_replicas(sim_url, "prefill") == 1  # KEDA's HPA would write it, not us
    finally:
        if scaler is not None:
            scaler.stop()
        sim.stop()


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("policy: {roles: {decode: {min_replicas: 3, max_replicas: 2}}}\n")
    cases = [
        (["--config", str(bad)], "min_replicas 3 is above max_replicas 2"),
        (["--config", str(tmp_path / "missing.yaml")], "missing.yaml"),
        (["--slo", "prefill:ttft=1s"], "--slo 'prefill:ttft=1s'"),
        (["--min", "prefill=two", "--slo", "prefill:ttft_p90=1s"], "not a whole number"),
    ]
    prefill_only = ["--target", "127.0.0.1:1,role=prefill", "--slo", "decode:tpot_p90=1s"]
    for scale in (["--scale-url", "http://127.0.0.1:9"], []):  # no client is built first
        cases.append(([*prefill_only, *scale], "role(s) decode not found: no target has them"))
    for args, says in cases:
        result = run_cli("autoscaler", *args)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
        assert len(errors) == 1 and says in errors[0], result.stderr


def fast_config(folder: Path) -> Path:
    """A config file that only makes the loop fast: the quick-start flags give the rest."""
    fast = folder / "fast.yaml"
    fast.write_text(
        "policy: {interval_s: 0.5}\n"
        "source: {kind: scrape, interval_s: 0.2, window_s: 30}\n"
        "http: {host: 127.0.0.1, port: 0}\n"
    )
    return fast


def prefill_grows(url: str, found: str) -> None:
    """Wait for the dry-run autoscaler at ``url`` to want more prefill for the TTFT it
    observed over its target, decode staying at one replica."""

    def wanted_more() -> bool:
        return any(d["desired"] > d["current"] for d in decisions(url, "prefill"))

    wait_until(wanted_more, 60, f"a decision to grow prefill from {found}")
    grew = next(d for d in decisions(url, "prefill") if d["desired"] > d["current"])
    assert grew["inputs"]["ttft_p90_observed"] > grew["inputs"]["ttft_p90_target"]
    assert any(d["current"] == 1 for d in decisions(url, "decode"))


def test_the_quick_start_finds_the_engines_by_http_sd(tmp_path: Path) -> None:
    """``--http-sd`` alone names the engines: the file only makes the loop fast (its scrape
    source has no targets, so without the flag it is refused)."""
    sim = CLIProcess("sim", "--pd", "1P1D", "--port", "0")
    scaler: CLIProcess | None = None
    try:
        sim_url = sim.read_until(r"proxy \(OpenAI API\) on (http://\S+);").group(1)
        fast = fast_config(tmp_path)
        refused = run_cli("autoscaler", "--config", str(fast), "--slo", "prefill:ttft_p90=1ms")
        assert refused.returncode == 2 and "no targets" in refused.stderr, refused.stderr
        scaler = CLIProcess(
            *("autoscaler", "--config", str(fast), "--dry-run"),
            *("--http-sd", f"{sim_url}/sim/targets", "--scale-url", sim_url),
            *("--slo", "prefill:ttft_p90=1ms", "--slo", "decode:tpot_p90=10s"),
        )
        url = scaler.read_until(r"llmobs autoscaler on (http://[\d.:]+) .*\(dry run\)").group(1)
        scaler.follow()
        load(sim_url, 4)
        prefill_grows(url, "the discovered engines")
    finally:
        if scaler is not None:
            scaler.stop()
        sim.stop()


def test_the_quick_start_finds_the_engines_by_the_pod_watch(tmp_path: Path) -> None:
    """The exporter's pod-watch flags alone name the engines: pods on a loopback Kubernetes
    API server whose labels give the role and group, and whose named port is the emulated
    engine's, are scraped and sized."""
    sim = CLIProcess("sim", "--pd", "1P1D", "--port", "0")
    scaler: CLIProcess | None = None
    try:
        with FakeKubeAPI(bookmark_interval=0.2) as api:
            sim_url = sim.read_until(r"proxy \(OpenAI API\) on (http://\S+);").group(1)
            for target in fetch(f"{sim_url}/sim/targets"):
                labels = target["labels"]
                port = int(target["targets"][0].rpartition(":")[2])
                pod_labels = {"app": "llm", "rbg.workloads.x-k8s.io/role-name": labels["role"]}
                pod_labels["rbg.workloads.x-k8s.io/group-name"] = labels["group"]
                ports = [{"name": "http", "containerPort": port}]
                api.add_pod(make_pod(labels["pod"], labels=pod_labels, ports=ports))
            fast = fast_config(tmp_path)
            scaler = CLIProcess(
                *("autoscaler", "--config", str(fast), "--dry-run", "--scale-url", sim_url),
                *("--kubeconfig", str(api.kubeconfig(tmp_path / "kubeconfig"))),
                *("--namespace", "default", "--selector", "app=llm", "--port-name", "http"),
                *("--slo", "prefill:ttft_p90=1ms", "--slo", "decode:tpot_p90=10s"),
            )
            url = scaler.read_until(r"llmobs autoscaler on (http://[\d.:]+) .*dry run").group(1)
            scaler.follow()

            def watched() -> bool:  # both pods scraped before the load, so its rate is seen
                roles = fetch(url + "/v1/decisions")["roles"]
                found = [roles.get(role, [])[-1:] for role in ("prefill", "decode")]
                return all(d and d[0]["reason"] != "missing_data" for d in found)

            wait_until(watched, 60, "both pods found by the watch and scraped")
            load(sim_url, 4)
            prefill_grows(url, "the watched pods")
            code, out = scaler.stop(signal.SIGTERM)
            assert code == 0 and out.rstrip().endswith("stopped"), out[-2000:]
    finally:
        if scaler is not None:
            scaler.stop()
        sim.stop()
