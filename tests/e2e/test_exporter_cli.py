"""``llmobs exporter`` as a user runs it: against ``llmobs sim`` (the README's example), bad
input, and a real vLLM target end to end."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import openai

from llmobs.exposition.parser import parse
from tests.e2e.conftest import CLIProcess, run_cli
from tests.exporterhost import ExporterHost
from tests.servers import free_port, wait_until


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        body: bytes = response.read()
        return body


def sample(url: str, name: str, **labels: str) -> float | None:
    try:
        exposition = parse(fetch(url + "/metrics"))
    except OSError:
        return None
    for s in exposition.samples(name):
        if all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return None


def test_exporter_against_the_emulator_as_the_readme_shows() -> None:
    sim = CLIProcess("sim", "--port", "0")
    exporter: CLIProcess | None = None
    try:
        sim_url = sim.read_until(r"listening on (http://\S+)").group(1)
        exporter = CLIProcess(
            "exporter", "--target", sim_url, "--port", "0", "--interval", "0.5", "--window", "30"
        )
        url = exporter.read_until(r"llmobs exporter on (http://[\d.:]+)/metrics").group(1)
        wait_until(lambda: sample(url, "llmobs_target_up") == 1, 20, "the target to be up")
        with openai.OpenAI(base_url=sim_url + "/v1", api_key="x", max_retries=0) as client:
            for _ in range(3):
                client.completions.create(
                    model="Qwen/Qwen2.5-7B-Instruct", prompt="hello " * 50, max_tokens=10
                )
        wait_until(lambda: sample(url, "llmobs_requests_total") == 3, 20, "three requests exported")
        wait_until(
            lambda: sample(url, "llmobs_role_ttft_seconds", quantile="0.99") is not None,
            20,
            "the role TTFT p99",
        )
        roles = json.loads(fetch(url + "/v1/roles"))
        (role,) = roles["roles"]
        assert role["role"] == "both"
        assert role["model"] == "Qwen/Qwen2.5-7B-Instruct"
        assert role["latency"]["ttft_seconds"]["count"] == 3
        code, out = exporter.stop(signal.SIGTERM)
        assert code == 0, out
        assert "stopped" in out
    finally:
        if exporter is not None:
            exporter.stop()
        sim.stop()


def test_bad_input_is_a_clear_error_not_a_traceback(tmp_path: Path) -> None:
    cases = {
        (): "no targets",
        ("--target", "ftp://x"): "is not a metrics URL",
        ("--target", "127.0.0.1:1,rol=prefill"): "is not KEY=VALUE",
        ("--config", str(tmp_path / "missing.yaml")): "cannot read config",
        ("--target", "127.0.0.1:1", "--interval", "5", "--window", "6"): "window_s",
    }
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets: [{url: 127.0.0.1:8000}]\ninterval: 5\n")
    cases[("--config", str(bad))] = "interval: Extra inputs are not permitted"
    for args, message in cases.items():
        result = run_cli("exporter", *args, "--port", "0", timeout=60)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_port_in_use_is_a_clear_error() -> None:
    with ExporterHost({"targets": [{"url": f"127.0.0.1:{free_port()}"}]}) as host:
        result = run_cli("exporter", "--target", "127.0.0.1:1", "--port", str(host.port))
    assert result.returncode == 2
    assert f"cannot listen on 0.0.0.0:{host.port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_real_vllm_target(real_vllm: str) -> None:
    config = {
        "targets": [{"url": real_vllm, "role": "decode", "group": "tiny"}],
        "interval_s": 0.5,
        "window_s": 120,
    }
    with ExporterHost(config) as host:
        host.wait(lambda h: h.value("llmobs_target_up") == 1, "the real vLLM to be up")
        before = host.value("llmobs_requests_total") or 0.0
        tokens_before = host.value("llmobs_generation_tokens_total") or 0.0
        with openai.OpenAI(base_url=real_vllm + "/v1", api_key="x", max_retries=0) as client:
            made = [
                client.completions.create(
                    model="tiny",
                    prompt="the quick brown fox",
                    max_tokens=6,
                    extra_body={"ignore_eos": True},
                )
                for _ in range(3)
            ]
        generated = sum(r.usage.completion_tokens for r in made if r.usage is not None)
        host.wait(
            lambda h: h.value("llmobs_requests_total") == before + 3, "three requests exported", 60
        )
        host.wait(
            lambda h: h.value("llmobs_generation_tokens_total") == tokens_before + generated,
            "the generated tokens",
            60,
        )
        assert host.value("llmobs_target_up", engine="vllm", role="decode", model="tiny") == 1
        (role,) = host.roles()["roles"]
        assert (role["group"], role["role"], role["model"]) == ("tiny", "decode", "tiny")
        assert role["latency"]["ttft_seconds"]["count"] >= 3
        assert role["latency"]["ttft_seconds"]["quantiles"]["0.5"] is not None
        assert host.value("llmobs_kv_cache_usage_ratio") is not None
