"""``llmobs scrape`` as a user runs it: a subprocess against HTTP targets on 127.0.0.1."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmobs.sim.flavors.vllm_spec import ITL as VLLM_ITL
from llmobs.sim.flavors.vllm_spec import TTFT as VLLM_TTFT
from tests import strictjson
from tests.e2e.conftest import CLIProcess, run_cli, start_window_scrape
from tests.fixtures.expositions import load
from tests.fixtures.expositions.build import Body
from tests.hostile import PASSWORD, USER, HostileTarget, SilentPort
from tests.servers import free_port, wait_until
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
    assert "Content-Type 'text/html" in third["error"]


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


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_during_the_window_keeps_the_first_scrape(
    target: FakeTarget, sig: signal.Signals
) -> None:
    """SIGTERM (kill, timeout, a pod stopping) is Ctrl-C: what was measured prints, 130."""
    proc = start_window_scrape(target.url("/metrics"), 300)  # returns inside the window
    assert target.requests == 1
    proc.send_signal(sig)
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
        (["scrape", "http://[::1"], "is not a metrics URL: Invalid IPv6 URL"),
        (["scrape", "http://admin:s3cretPW@[::1/metrics"], "admin:<secret>@[::1/metrics' is not"),
        (["scrape", "http://admin:s3cretPW@h:99999/"], "admin:<secret>@h:99999/'"),
        (["scrape", "http://\ufffd/metrics"], "is not a metrics URL"),
    ],
)
def test_bad_usage(args: list[str], message: str) -> None:
    done = run_cli(*args)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "s3cretPW" not in done.stderr + done.stdout


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


# -- secrets, non-finite values, reasons: through the command as a user runs it ----------------

SMALL = (
    "# TYPE vllm:num_requests_running gauge\n"
    'vllm:num_requests_running{engine="0",model_name="tiny"} 2\n'
)


def test_a_password_in_the_url_is_used_and_never_shown() -> None:
    with HostileTarget(SMALL) as server:
        good = server.url("/metrics", f"{USER}:{PASSWORD}")
        wrong = server.url("/metrics", f"{USER}:not-{PASSWORD}")
        table = run_cli("scrape", good)
        as_json = run_cli("scrape", good, wrong, "--json")
    assert table.returncode == 0, table.stderr
    assert f"http://{USER}:<secret>@127.0.0.1:{server.port}/metrics  vllm" in table.stdout
    assert as_json.returncode == 1
    ok, refused = strictjson.loads(as_json.stdout)["targets"]
    assert ok["up"] and ok["url"] == server.url("/metrics", f"{USER}:<secret>")
    assert ok["signals"]["requests_running"] == 2
    assert (refused["up"], refused["reason"]) == (False, "http_status")
    assert refused["error"].startswith("HTTP 401 Unauthorized from http://admin:<secret>@")
    assert "Authorization: <secret>" in refused["error"]  # the server's echo, redacted
    for done in (table, as_json):
        assert PASSWORD not in done.stdout + done.stderr


def test_a_password_never_shows_in_the_reasons_of_a_failed_scrape() -> None:
    with SilentPort() as silent, HostileTarget(SMALL) as server:
        userinfo = f"{USER}:{PASSWORD}"
        urls = [
            f"http://{userinfo}@127.0.0.1:{free_port()}/metrics",
            f"http://{userinfo}@127.0.0.1:{silent.port}/metrics",
            server.url("/loop-a", userinfo),
            server.url("/login", userinfo),
            server.url("/bad-gzip", userinfo),
        ]
        table = run_cli("scrape", *urls, "--timeout", "0.5")
        as_json = run_cli("scrape", *urls, "--timeout", "0.5", "--json")
    assert (table.returncode, as_json.returncode) == (1, 1)
    reasons = [t["reason"] for t in strictjson.loads(as_json.stdout)["targets"]]
    assert reasons == ["unreachable", "timeout", "http_status", "malformed", "malformed"]
    assert table.stdout.count("<secret>") >= len(urls) * 2  # each heading and each reason
    for done in (table, as_json):
        assert PASSWORD not in done.stdout + done.stderr
        assert "Traceback" not in done.stderr


NON_FINITE = """\
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{engine="0",model_name="tiny"} +Inf
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{engine="0",model_name="tiny"} NaN
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} -Inf
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total{engine="0",model_name="tiny"} +Inf
# TYPE vllm:time_to_first_token_seconds histogram
vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="tiny"} 1.0
vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 2.0
vllm:time_to_first_token_seconds_count{engine="0",model_name="tiny"} 2.0
vllm:time_to_first_token_seconds_sum{engine="0",model_name="tiny"} +Inf
# TYPE vllm:e2e_request_latency_seconds histogram
vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="tiny"} 1.0
vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} 3.0
vllm:e2e_request_latency_seconds_count{engine="0",model_name="tiny"} 3.0
vllm:e2e_request_latency_seconds_sum{engine="0",model_name="tiny"} NaN
# TYPE vllm:inter_token_latency_seconds histogram
vllm:inter_token_latency_seconds_bucket{engine="0",le="0.01",model_name="tiny"} +Inf
vllm:inter_token_latency_seconds_bucket{engine="0",le="+Inf",model_name="tiny"} +Inf
vllm:inter_token_latency_seconds_count{engine="0",model_name="tiny"} +Inf
vllm:inter_token_latency_seconds_sum{engine="0",model_name="tiny"} +Inf
"""


def _row(table: str, signal: str) -> list[str]:
    (line,) = [ln for ln in table.splitlines() if re.match(rf"\s+{signal}\s", ln)]
    return line.split()[1:]


def test_non_finite_values_print_and_are_null_in_strict_json() -> None:
    with FakeTarget([NON_FINITE]) as server:
        table = run_cli("scrape", server.url("/metrics"))
        as_json = run_cli("scrape", server.url("/metrics"), "--json")
    assert table.returncode == 0, table.stderr
    assert "Traceback" not in table.stderr
    assert _row(table.stdout, "requests_running") == ["+Inf"]
    assert _row(table.stdout, "requests_waiting") == ["-"]  # a NaN gauge reads as no value
    assert _row(table.stdout, "kv_cache_usage_ratio") == ["-Inf"]
    assert _row(table.stdout, "generation_tokens_total") == ["+Inf"]
    assert _row(table.stdout, "ttft_seconds")[:2] == ["2", "+Inf"]  # count, mean
    assert _row(table.stdout, "e2e_seconds")[:2] == ["3", "NaN"]
    assert _row(table.stdout, "itl_seconds")[:2] == ["+Inf", "NaN"]  # +Inf / +Inf
    assert as_json.returncode == 0, as_json.stderr
    (t,) = strictjson.loads(as_json.stdout)["targets"]  # no NaN, no Infinity
    sig = t["signals"]
    assert sig["requests_running"] is None and sig["requests_waiting"] is None
    assert sig["kv_cache_usage_ratio"] is None and sig["generation_tokens_total"] is None
    assert (sig["ttft_seconds"]["count"], sig["ttft_seconds"]["sum"]) == (2, None)
    assert sig["ttft_seconds"]["mean"] is None
    assert sig["ttft_seconds"]["buckets"] == [[0.1, 1], ["+Inf", 2]]
    assert sig["e2e_seconds"]["sum"] is None
    assert sig["itl_seconds"]["count"] is None
    assert sig["itl_seconds"]["buckets"] == [[0.01, None], ["+Inf", None]]


def test_reasons_name_the_cause() -> None:
    with SilentPort() as silent, HostileTarget(SMALL) as server:
        urls = [silent.url(), server.url("/login"), server.url("/bad-gzip"), server.url("/loop-a")]
        done = run_cli("scrape", *urls, "--timeout", "0.5", "--json")
    assert done.returncode == 1
    errors = [t["error"] for t in strictjson.loads(done.stdout)["targets"]]
    assert errors[0] == f"{silent.url()} timed out: no complete answer within 0.5s"
    assert "answered with Content-Type 'text/html; charset=utf-8', not a metrics page" in errors[1]
    assert "does not decode as its Content-Encoding 'gzip'" in errors[2]
    assert errors[3].startswith(f"too many redirects from {server.url('/loop-a')}")
    assert not any("cut short" in e or "truncated" in e for e in errors)


def test_ctrl_c_before_the_targets_answer_exits_130() -> None:
    with HostileTarget(SMALL) as server:
        cli = CLIProcess("scrape", server.url("/hang"))
        wait_until(server.hanging.is_set, 60, "the scrape's request to arrive")
        code, output = cli.stop(signal.SIGINT)
    assert code == 130
    assert "interrupted before the targets answered" in output
    assert "Traceback" not in output and "Aborted" not in output
