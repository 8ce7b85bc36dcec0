"""``llmobs sim`` as a user starts it: a subprocess, its output, its ports, Ctrl-C."""

from __future__ import annotations

import json
import signal
import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import CLIProcess, run_cli
from tests.servers import free_port, free_port_run


class SimProcess(CLIProcess):
    def __init__(self, *args: str) -> None:
        super().__init__("sim", *args)


def get(url: str) -> object:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def post(url: str, body: object) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def test_no_flags_emulates_qwen_on_h100_at_port_8000() -> None:
    sim = SimProcess()
    try:
        said = sim.read_until(r"listening on (http://\S+)")
        assert said.group(1) == "http://127.0.0.1:8000"
        assert "vLLM 0.32.0 serving Qwen/Qwen2.5-7B-Instruct on 1 x H100-80GB" in sim.lines[0]
        models = get("http://127.0.0.1:8000/v1/models")
        assert isinstance(models, dict) and models["data"][0]["id"] == "Qwen/Qwen2.5-7B-Instruct"
    finally:
        code, output = sim.stop()
    assert code == 0 and "stopped" in output and "Traceback" not in output


@pytest.fixture
def pd_sim() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    port = free_port_run(3)  # the proxy and its two instances
    sim = SimProcess("--pd", "1P1D", "--port", str(port), "--engine", "sglang", "--enable-metrics")
    try:
        sim.read_until(r"proxy \(OpenAI API\) on")
        members = [sim.read_until(r"(prefill|decode)\s+\S+\s+(http://\S+)") for _ in range(2)]
        yield f"http://127.0.0.1:{port}", [(m.group(1), m.group(2)) for m in members]
    finally:
        sim.stop()


def test_pd_instances_are_scrapable_by_role(pd_sim: tuple[str, list[tuple[str, str]]]) -> None:
    proxy, members = pd_sim
    done = post(
        proxy + "/v1/completions",
        {"model": "Qwen/Qwen2.5-7B-Instruct", "prompt": "hi", "max_tokens": 6},
    )
    assert isinstance(done, dict) and done["usage"]["completion_tokens"] == 6
    scraped = run_cli("scrape", *(url for _, url in members), "--json")
    assert scraped.returncode == 0, scraped.stdout
    targets = json.loads(scraped.stdout)["targets"]
    roles = dict(zip((role for role, _ in members), targets, strict=True))
    assert all(t["engine"] == "sglang" and t["naming"] == "0.5" for t in targets)
    # SGLang counts tokens when a request finishes: one on the prefill side, six on decode
    assert roles["prefill"]["signals"]["generation_tokens_total"] == 1
    assert roles["decode"]["signals"]["generation_tokens_total"] == 6
    listed = get(proxy + "/sim/instances")
    assert isinstance(listed, dict) and {m["role"] for m in listed["instances"]} == {
        "prefill",
        "decode",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "nope"], "unknown model 'nope'"),
        (["--pd", "0P1D"], "expected xPyD"),
        (["--pd", "1P1D", "--replicas", "2"], "exclude each other"),
        (["--model", "Llama-3.1-70B"], "raise tensor_parallel_size"),
        (["--fixed-ttft-ms", "10"], "both fixed_ttft_ms and fixed_itl_ms"),
        (
            ["-tp", "3"],
            "Total number of attention heads (28) must be divisible by tensor parallel size (3).",
        ),
        (
            ["-tp", "1024"],
            "Total number of attention heads (28) must be divisible by tensor parallel size (1024)",
        ),
        (["--pd", "65P1D"], "prefill: 65 replicas is over the most of 64 per role"),
        (["--replicas", "3", "--max-replicas", "2"], "over the most of 2 per role"),
    ],
)
def test_bad_usage(args: list[str], message: str) -> None:
    done = run_cli("sim", "--port", str(free_port()), *args)
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
    assert "listening" not in done.stdout


@pytest.mark.parametrize("port", ["65535", "65534"])
def test_instance_ports_past_the_last_port_are_a_usage_error(port: str) -> None:
    done = run_cli("sim", "--pd", "1P1D", "--port", port)
    assert done.returncode == 2, done.stderr
    assert f"--port {port}: its 2 instances would listen on ports" in done.stderr
    assert "past 65535" in done.stderr and "Traceback" not in done.stderr
    assert "Unclosed" not in done.stderr


def test_a_tokenizer_folder_without_a_tokenizer_is_refused_before_listening(
    tmp_path: Path,
) -> None:
    done = run_cli("sim", "--port", str(free_port()), "--tokenizer", str(tmp_path))
    assert done.returncode == 2
    assert f"{tmp_path} has no tokenizer.json" in done.stderr
    assert "listening" not in done.stdout and "Traceback" not in done.stderr


def test_sigterm_stops_it_as_ctrl_c_does() -> None:
    sim = SimProcess("--port", "0")
    sim.read_until("listening on")
    code, output = sim.stop(signal.SIGTERM)
    assert code == 0 and "stopped" in output and "Traceback" not in output


def test_port_in_use() -> None:
    port = free_port()
    first = SimProcess("--port", str(port))
    try:
        first.read_until("listening on")
        done = run_cli("sim", "--port", str(port))
        assert done.returncode == 2 and "cannot listen" in done.stderr
    finally:
        first.stop()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: [Qwen2.5-7B\n", "is not valid YAML: line 2, column 1"),
        ("- model\n", "must be a mapping of settings (key: value lines), not a list"),
        ("modle: Qwen2.5-7B\n", "modle: Extra inputs are not permitted"),
        ("model: Qwen2.5-7B\nmodel: Llama-3.1-8B\n", "the key 'model' is given twice"),
        ("efficiency: {decode_mbu: 2}\n", "efficiency.decode_mbu: Input should be less than"),
        ("model: nope\n", "unknown model 'nope'"),
    ],
)
def test_a_bad_config_file_is_named_not_a_traceback(
    tmp_path: Path, text: str, message: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    done = run_cli("sim", "--config", str(config), "--port", str(free_port()))
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    if "YAML" in message or "mapping" in message or "twice" in message:
        assert str(config) in done.stderr


@pytest.mark.parametrize(
    "content",
    [bytes(range(256)), b"\x89PNG\r\n\x1a\n\x00\x00", b"\xff\xfe\x00m\x00o"],
)
def test_a_binary_config_file_is_named_not_a_traceback(tmp_path: Path, content: bytes) -> None:
    config = tmp_path / "settings.yaml"
    config.write_bytes(content)
    done = run_cli("sim", "--config", str(config), "--port", str(free_port()))
    assert done.returncode == 2, done.stderr
    assert str(config) in done.stderr and "Traceback" not in done.stderr
    assert "listening" not in done.stdout


def test_a_missing_config_file() -> None:
    done = run_cli("sim", "--config", "no-such.yaml", "--port", str(free_port()))
    assert done.returncode == 2 and "does not exist" in done.stderr


def ports_in_a_row() -> tuple[int, socket.socket]:
    """A free port and a listening socket on the port after it."""
    while True:
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1] - 1
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                taken.close()
                continue
        return port, taken


def test_pd_instance_port_in_use_is_an_error_like_the_exporters() -> None:
    port, taken = ports_in_a_row()
    with taken:
        done = run_cli("sim", "--pd", "1P1D", "--port", str(port))
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert f"error: cannot listen on 127.0.0.1:{port + 1}: Address already in use" in done.stderr
    assert "the instances listen on the ports after --port" in done.stderr
    assert "stopped" not in done.stdout and "Traceback" not in done.stderr
