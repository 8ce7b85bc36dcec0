"""``llmobs simulate`` as a user runs it: a subprocess over a trace slice and a pattern."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests import strictjson
from tests.e2e.conftest import REPO, CLIProcess, run_cli

TRACE = REPO / "tests" / "fixtures" / "traces" / "mooncake-conversation-head.jsonl"


def test_table_over_a_trace_slice_with_two_policies(tmp_path: Path) -> None:
    done = run_cli(
        "simulate", "--trace", str(TRACE), "--policy", "fixed", "--policy", "fixed:2P2D",
        "--max-model-len", "8192", "--gpu-budget", "3", "--out", str(tmp_path / "out"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["policy", "TTFT", "ok", "TPOT"]
    assert lines[1].startswith("fixed ") and lines[2].startswith("fixed:2P2D ")
    assert "longer than the model's context rejected" in done.stdout
    doc = strictjson.load(tmp_path / "out" / "result.json")
    assert [p["policy"] for p in doc["policies"]] == ["fixed", "fixed:2P2D"]
    fixed, bigger = doc["policies"]
    assert fixed["rejected_over_context"] == bigger["rejected_over_context"] > 0
    assert fixed["requests"] + fixed["rejected_over_context"] == doc["workload"]["requests"] == 100
    assert bigger["peak_replicas"] == {"prefill": 2, "decode": 2}
    assert bigger["gpu_hours"] > fixed["gpu_hours"]
    assert fixed["time_over_budget_seconds"] == 0  # 2 GPUs of 3
    assert bigger["time_over_budget_seconds"] == pytest.approx(bigger["end_seconds"], abs=5)
    pngs = sorted(p.name for p in (tmp_path / "out").glob("*.png"))
    assert pngs == ["compare.png", "policy-fixed.png", "policy-fixed_2P2D.png"]


def test_json_is_strict_and_deterministic_with_a_seed() -> None:
    args = ("simulate", "--pattern", "bursts", "--duration", "120", "--seed", "5", "--json")
    first, second = run_cli(*args, "--policy", "fixed"), run_cli(*args, "--policy", "fixed")
    assert first.returncode == second.returncode == 0, first.stderr
    a, b = strictjson.loads(first.stdout), strictjson.loads(second.stdout)
    for doc in (a, b):
        for policy in doc["policies"]:
            del policy["cpu_seconds"]
    assert a == b
    assert a["slo"] == {"ttft_seconds": 2.0, "tpot_seconds": 0.05}
    (run,) = a["policies"]
    assert set(run["attainment"]) == {"ttft", "tpot", "both"}
    assert set(run["ttft_seconds"]) == {"p50", "p90", "p99", "mean"}


def test_list_names_patterns_and_policies() -> None:
    done = run_cli("simulate", "--list")
    assert done.returncode == 0, done.stderr
    assert "dynamo" in done.stdout and "fixed:xPyD" in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --trace FILE or --pattern NAME"),
        (("--pattern", "nope"), "unknown pattern 'nope'"),
        (("--pattern", "steps", "--slo", "itl=5ms"), "itl is not measured"),
        (("--pattern", "steps", "--slo", "ttft=fast"), "not a duration"),
        (("--pattern", "steps", "--policy", "nope"), "unknown policy 'nope'"),
        (("--pattern", "steps", "--policy", "fixed:2X"), "fixed:xPyD"),
        (("--pattern", "steps", "--start", "0P1D"), "--start '0P1D'"),
        (("--pattern", "steps", "--model", "GPT-9"), "unknown model 'GPT-9'"),
        (("--trace", "/nonexistent/trace.jsonl"), "cannot read trace"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    done = run_cli("simulate", *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_mid_run_is_an_interrupt(sig: int) -> None:
    process = CLIProcess("simulate", "--pattern", "dynamo", "--policy", "fixed")
    process.read_until("simulating fixed")
    code, output = process.stop(sig)
    assert code == 130, output
    assert "interrupted" in output and "Traceback" not in output
