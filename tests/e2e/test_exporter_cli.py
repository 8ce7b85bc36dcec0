"""``llmobs exporter`` as a user runs it: against ``llmobs sim`` (the README's example), bad
input, targets behind authentication, and a real vLLM target end to end."""

from __future__ import annotations

import base64
import json
import signal
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest
from aiohttp import web

from llmobs.exposition.parser import parse
from tests import strictjson
from tests.e2e.conftest import CLIProcess, run_cli
from tests.exporterhost import ExporterHost
from tests.fixtures.expositions import load
from tests.servers import HTTPServer, free_port, wait_until


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


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class AuthTarget(HTTPServer):
    """An engine behind authentication: each path serves its body to one Authorization
    value, and answers anything else 401 with the header it got echoed in the body (as a
    careless proxy does), so a leak through an error would show."""

    def __init__(self, accepted: dict[str, str]) -> None:
        self.accepted = accepted
        self.body = load("vllm-0.32.0.txt")

        async def handle(request: web.Request) -> web.StreamResponse:
            got = request.headers.get("Authorization", "")
            if got != self.accepted.get(request.path):
                return web.Response(status=401, text=f"unauthorized: Authorization: {got}")
            return web.Response(text=self.body, content_type="text/plain")

        super().__init__({path: handle for path in accepted})


SECRETS = ("s3cretPW", "tok3nSECRET", "f1lePW", "wr0ngPW")


def shows_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        for spelling in (secret, base64.b64encode(secret.encode()).decode()):
            assert spelling not in text, f"{where} shows {spelling!r}"
    for user, password in (("admin", "s3cretPW"), ("reader", "f1lePW"), ("admin", "wr0ngPW")):
        assert basic(user, password) not in text, f"{where} shows the Authorization value"


def test_credentials_are_used_and_never_shown(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("tok3nSECRET\n")
    password_file = tmp_path / "password"
    password_file.write_text("f1lePW")
    accepted = {
        "/url": basic("admin", "s3cretPW"),
        "/bearer": "Bearer tok3nSECRET",
        "/file": basic("reader", "f1lePW"),
        "/wrong": basic("admin", "s3cretPW"),
    }
    with AuthTarget(accepted) as engine:
        host = f"127.0.0.1:{engine.port}"
        config = tmp_path / "exporter.yaml"
        config.write_text(
            f"targets:\n"
            f"  - {{url: 'http://{host}/bearer', bearer_token_file: '{token_file}'}}\n"
            f"  - url: http://{host}/file\n"
            f"    basic_auth: {{username: reader, password_file: '{password_file}'}}\n"
        )
        exporter = CLIProcess(
            "exporter",
            "--config", str(config),
            "--target", f"http://admin:s3cretPW@{host}/url",
            "--target", f"http://admin:wr0ngPW@{host}/wrong",
            "--port", "0", "--interval", "0.5", "--window", "30",
        )  # fmt: skip
        try:
            url = exporter.read_until(r"llmobs exporter on (http://[\d.:]+)/metrics").group(1)

            def targets() -> dict[str, Any]:
                listed = strictjson.loads(fetch(url + "/v1/targets"))["targets"]
                return {t["url"].rsplit("/", 1)[1]: t for t in listed}

            def settled() -> bool:
                found = targets()
                return bool(found.get("wrong", {}).get("last_error")) and all(
                    found.get(name, {}).get("up") for name in ("url", "bearer", "file")
                )

            wait_until(settled, 20, "three targets up and the wrong password refused")
            found = targets()
            assert "401" in found["wrong"]["last_error"]
            assert "<secret>" in found["wrong"]["last_error"]  # the echo, redacted
            assert {name: t["auth"] for name, t in found.items()} == {
                "url": "basic", "bearer": "bearer", "file": "basic", "wrong": "basic"
            }  # fmt: skip
            assert {t["pod"] for t in found.values()} == {
                f"{host}/{name}" for name in ("url", "bearer", "file", "wrong")
            }
            assert sample(url, "llmobs_target_up", pod=f"{host}/url") == 1
            for path in ("/metrics", "/v1/targets", "/v1/roles"):
                shows_no_secret(fetch(url + path).decode(), path)
            code, out = exporter.stop(signal.SIGTERM)
            assert code == 0, out
            shows_no_secret(out, "the exporter's output")
        finally:
            exporter.stop()


def test_secret_files_are_read_at_start(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    cases = {
        f"bearer_token_file: '{tmp_path / 'missing'}'": "targets.0.bearer_token_file",
        f"bearer_token_file: '{empty}'": "is empty",
        f"basic_auth: {{username: u, password_file: '{tmp_path}'}}": "Is a directory",
        "basic_auth: {username: u, password: p, password_file: x}": "not both",
        "bearer_token_file: x, basic_auth: {username: u}": "not both",
    }
    for fields, message in cases.items():
        config = tmp_path / "exporter.yaml"
        config.write_text(f"targets: [{{url: '127.0.0.1:1', {fields}}}]\n")
        result = run_cli("exporter", "--config", str(config), "--port", "0", timeout=60)
        assert result.returncode == 2, (fields, result.stdout, result.stderr)
        assert message in result.stderr, (fields, result.stderr)
        assert "Traceback" not in result.stderr
        assert "llmobs exporter on" not in result.stdout  # refused before serving


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


BAD_WINDOWS = {
    "inf": "'inf' is not a finite number",  # the flag; a config's window_s: llmobs.config
    "nan": "'nan' is not a finite number",
    "-inf": "'-inf' is not a finite number",
    "-1": "window_s: Input should be greater than 0",
    "0": "window_s: Input should be greater than 0",
    "1e9": "window_s holds at most 10000 scrape intervals",
}


@pytest.mark.parametrize("window", list(BAD_WINDOWS))
def test_a_window_that_is_not_finite_or_not_bounded_is_refused(window: str) -> None:
    result = run_cli("exporter", "--target", "127.0.0.1:1", "--window", window, "--port", "0")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert BAD_WINDOWS[window] in result.stderr
    assert "Traceback" not in result.stderr


def bad_config(tmp_path: Path, name: str) -> tuple[Path, str]:
    path = tmp_path / name
    if name == "binary":
        path.write_bytes(bytes(range(256)) * 4)
        return path, "is not valid YAML"
    if name == "utf16":
        path.write_bytes(b"\xff\xfe" + "targets: []\n".encode("utf-16-le") + b"\x00")
        return path, "is not valid YAML"
    if name == "yaml":
        path.write_text("targets: [{url: 127.0.0.1:1}\n")
        return path, "is not valid YAML: line 2, column 1"
    if name == "directory":
        path.mkdir()
        return path, "Is a directory"
    if name == "inf":
        path.write_text("targets: [{url: 127.0.0.1:1}]\nquantiles: [0.5, .nan]\n")
        return path, "quantiles.1: Input should be a finite number"
    return path, "No such file or directory"  # missing


@pytest.mark.parametrize("name", ["binary", "utf16", "yaml", "directory", "missing", "inf"])
def test_a_config_that_is_not_a_config_is_one_line_and_exit_2(tmp_path: Path, name: str) -> None:
    path, message = bad_config(tmp_path, name)
    result = run_cli("exporter", "--config", str(path), "--port", "0")
    assert result.returncode == 2, (result.stdout, result.stderr)
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert str(path) in error and message in error, result.stderr
    assert "Traceback" not in result.stderr


def test_target_flags_are_strict(tmp_path: Path) -> None:
    cases = {
        "127.0.0.1:1,role=bogus": "role 'bogus' is not one of both, prefill, decode",
        "127.0.0.1:1,role=prefill,role=decode": "role is given twice",
        "127.0.0.1:1,role=": "role must not be empty",
        "http://u:s3cretPW@127.0.0.1:1,pod=a,pod=b": "--target 'http://u:<secret>@127.0.0.1:1'",
    }
    for flag, message in cases.items():
        result = run_cli("exporter", "--target", flag, "--port", "0")
        assert result.returncode == 2, (flag, result.stdout, result.stderr)
        assert message in result.stderr, (flag, result.stderr)
        assert "s3cretPW" not in result.stderr + result.stdout
    # a role of one's own is a config entry away
    config = tmp_path / "roles.yaml"
    config.write_text("roles: [both, prefill, decode, router]\n")
    ok = f"127.0.0.1:{free_port()},role=router"
    exporter = CLIProcess("exporter", "--config", str(config), "--target", ok, "--port", "0")
    try:
        exporter.read_until(r"llmobs exporter on")
    finally:
        exporter.stop()


def test_two_targets_as_one_series_are_refused() -> None:
    result = run_cli(
        "exporter",
        "--target", "127.0.0.1:1/a,pod=engine",
        "--target", "127.0.0.1:1/b,pod=engine",
        "--port", "0",
    )  # fmt: skip
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "would both be pod='engine'" in result.stderr
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
