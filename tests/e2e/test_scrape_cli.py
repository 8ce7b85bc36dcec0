"""``llmobs scrape`` as a user runs it: a subprocess against HTTP targets on 127.0.0.1."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmobs.sim.flavors.vllm_spec import ITL as VLLM_ITL
from llmobs.sim.flavors.vllm_spec import TTFT as VLLM_TTFT
from tests.e2e.conftest import run_cli, start_window_scrape
from tests.fixtures.expositions import load
from tests.fixtures.expositions.build import Body
from tests.servers import free_port
from tests.targets import FakeTarget


def vllm_body(ttft: list[float], generated: float) -> str:
    """A vLLM 0.32-style body with the given TTFT observations and token counter."""
    body = Body("python")
    labels = {"engine": "0", "model_name": "tiny"}
    body.gauge(
        "vllm:num_requests_running", "Number of requests in model execution batches.", [(labels, 2)]
    )
    body.gauge(
        "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", [(labels, 0.41)]
    )
    body.counter(
        "vllm:generation_tokens", "Number of generation tokens processed.", [(labels, generated)]
    )
    body.histogram(
        "vllm:time_to_first_token_seconds",
        "Histogram of time to first token in seconds.",
        VLLM_TTFT,
        [(labels, ttft)],
    )
    body.histogram(
        "vllm:inter_token_latency_seconds",
        "Histogram of inter-token latency in seconds.",
        VLLM_ITL,
        [(labels, [])],
    )
    return "\n".join(body.lines) + "\n"


@pytest.fixture
def target() -> Iterator[FakeTarget]:
    with FakeTarget([load("vllm-0.32.0.txt")]) as server:
        yield server


def test_table(target: FakeTarget) -> None:
    done = run_cli("scrape", target.url("/metrics"))
    assert done.returncode == 0, done.stderr
    assert "vllm (naming v1)  model tiny  UP" in done.stdout
    assert "cumulative since the engine started" in done.stdout
    assert "ttft_seconds" in done.stdout and "prompt_tokens_total" in done.stdout
    assert "Traceback" not in done.stderr


def test_json_with_a_down_target(target: FakeTarget) -> None:
    down = f"127.0.0.1:{free_port()}"
    done = run_cli("scrape", target.url("/metrics"), down, target.url("/html"), "--json")
    assert done.returncode == 1
    doc = json.loads(done.stdout)
    first, second, third = doc["targets"]
    assert first["up"] and first["engine"] == "vllm" and first["naming"] == "v1"
    assert first["signals"]["ttft_seconds"]["count"] == 21
    assert first["signals"]["generation_tokens_total"] == 2020
    assert (second["up"], second["reason"], second["url"]) == (
        False,
        "unreachable",
        f"http://{down}/metrics",
    )
    assert (third["up"], third["reason"]) == (False, "malformed")
    assert "line 1" in third["error"]


def test_window_rates_and_quantiles() -> None:
    before = vllm_body([0.05] * 10, generated=1000)
    after = vllm_body([0.05] * 10 + [0.3] * 4 + [0.7] * 4, generated=1800)
    with FakeTarget([before, after]) as server:
        done = run_cli("scrape", server.url("/metrics"), "--window", "0.5", "--json")
    assert done.returncode == 0, done.stderr
    (t,) = json.loads(done.stdout)["targets"]
    window = t["window_seconds"]
    assert 0.5 <= window < 5
    assert t["rates"]["generation_tokens_per_second"] == pytest.approx(800 / window)
    ttft = t["signals"]["ttft_seconds"]
    assert ttft["count"] == 8  # only what arrived inside the window
    assert ttft["p50"] == pytest.approx(0.5)  # PromQL: le 0.25..0.5 holds ranks 1-4
    assert t["signals"]["itl_seconds"]["p50"] is None  # no ITL observed: None, not 0
    assert t["signals"]["kv_cache_usage_ratio"] == 0.41
    assert "scraping again in 0.5s" in done.stderr


def test_ctrl_c_during_the_window_keeps_the_first_scrape(target: FakeTarget) -> None:
    proc = start_window_scrape(target.url("/metrics"), 300)  # returns inside the window
    assert target.requests == 1
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    doc = json.loads(out)
    assert doc["interrupted"] is True
    assert doc["targets"][0]["signals"]["ttft_seconds"]["count"] == 21
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["sglang-0.5.23-dp2-priority.txt", "dynamo-frontend.txt"])
def test_other_engines(name: str) -> None:
    with FakeTarget([load(name)]) as server:
        done = run_cli("scrape", server.url("/metrics"), "--json")
    assert done.returncode == 0, done.stderr
    (t,) = json.loads(done.stdout)["targets"]
    assert t["engine"] in ("sglang", "dynamo")
    assert t["signals"]["ttft_seconds"]["count"] in (7, 4)


def test_not_an_engine() -> None:
    with FakeTarget(["# TYPE node_load1 gauge\nnode_load1 0.5\n"]) as server:
        done = run_cli("scrape", server.url("/metrics"))
    assert done.returncode == 1
    assert "no vLLM, SGLang or Dynamo metrics" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scrape", "ftp://host/metrics"], "not a metrics URL"),
        (["scrape", "127.0.0.1:8000", "--window", "-1"], "--window"),
        (["scrape"], "Missing argument"),
        (["scrape", "127.0.0.1:8000", "--engine", "tgi"], "--engine"),
    ],
)
def test_bad_usage(args: list[str], message: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_console_scripts_are_installed() -> None:
    bin_dir = Path(sys.executable).parent
    llmbench = subprocess.run(
        [str(bin_dir / "llmbench"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert llmbench.returncode == 0
    assert all(command in llmbench.stdout for command in ("run", "sweep", "compare", "report"))
    llmobs = subprocess.run(
        [str(bin_dir / "llmobs"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert llmobs.returncode == 0 and "scrape" in llmobs.stdout
