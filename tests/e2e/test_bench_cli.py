"""``llmbench`` as users run it: a subprocess, its exit status, what it prints and writes,
and what it keeps when it is stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmobs.sim.config import EngineSettings
from tests.e2e.conftest import REPO, run_cli
from tests.fakeopenai import FakeOpenAI
from tests.servers import wait_until
from tests.simhost import SimHost

BENCH = "llmobs.cli.bench"


def bench(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, module=BENCH, timeout=timeout)


@pytest.fixture(scope="module")
def slow() -> Iterator[SimHost]:
    """Fixed latency, slow tokens: a run lasts long enough to be stopped in the middle."""
    with SimHost(EngineSettings(fixed_ttft_ms=20, fixed_itl_ms=40)) as host:
        yield host


def test_run_without_a_server_benchmarks_the_emulator(tmp_path: Path) -> None:
    out, plots = tmp_path / "run", tmp_path / "plots"
    done = bench(
        "run",
        "-n",
        "20",
        "--isl",
        "200",
        "--osl",
        "10",
        "--request-rate",
        "40",
        "--out",
        str(out),
        "--plot",
        str(plots),
        "--label",
        "smoke",
    )
    assert done.returncode == 0, done.stderr
    assert "benchmarking the built-in EMULATOR" in done.stderr
    assert "Serving Benchmark Result" in done.stdout
    assert "Server side (scraped /metrics)" in done.stdout  # the emulator is scraped too
    doc = json.loads((out / "result.json").read_text())
    assert doc["summary"]["completed"] == 20 and doc["config"]["label"] == "smoke"
    assert len((out / "records.jsonl").read_text().splitlines()) == 20
    names = {p.name for p in plots.glob("*.png")}
    assert names == {
        "latency_cdf.png",
        "latency_over_time.png",
        "throughput_over_time.png",
        "schedule_lag.png",
        "server_kv_and_queue.png",
    }
    again = bench("report", str(out), "--plot", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert again.stdout == done.stdout
    assert {p.name for p in (tmp_path / "again").glob("*.png")} == names


def test_json_output_and_compare(slow: SimHost, tmp_path: Path) -> None:
    docs = []
    for label in ("a", "b"):
        done = bench(
            "run",
            "--base-url",
            slow.url,
            "-n",
            "6",
            "--isl",
            "20",
            "--osl",
            "3",
            "--request-rate",
            "30",
            "--out",
            str(tmp_path / label),
            "--json",
            "--label",
            label,
        )
        assert done.returncode == 0, done.stderr
        docs.append(json.loads(done.stdout))
    assert docs[0]["config"]["target"] == slow.url
    compared = bench(
        "compare",
        str(tmp_path / "a"),
        str(tmp_path / "b" / "result.json"),
        "--plot",
        str(tmp_path / "cmp.png"),
    )
    assert compared.returncode == 0, compared.stderr
    assert "vs a" in compared.stdout and "TTFT p99 (ms)" in compared.stdout
    assert (tmp_path / "cmp.png").stat().st_size > 1000


def test_sweep_over_rates_and_slo_search(slow: SimHost, tmp_path: Path) -> None:
    done = bench(
        "sweep",
        "--base-url",
        slow.url,
        "--rates",
        "10,20",
        "--duration",
        "0.6",  # as documented: each rate for a time
        "--isl",
        "20",
        "--osl",
        "3",
        "--out",
        str(tmp_path / "s"),
    )
    assert done.returncode == 0, done.stderr
    sweep = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert [p["x"] for p in sweep["points"]] == [10.0, 20.0]
    assert all(p["complete"] and p["failed"] == 0 for p in sweep["points"])
    assert (tmp_path / "s" / "curve.png").exists() and (tmp_path / "s" / "rate-10").is_dir()
    found = bench(
        "sweep",
        "--base-url",
        slow.url,
        "--search",
        "--slo",
        "ttft=5s",
        "--start-rate",
        "2",
        "--max-rate",
        "8",
        "-n",
        "6",
        "--isl",
        "20",
        "--osl",
        "2",
        "--out",
        str(tmp_path / "search"),
    )
    assert found.returncode == 0, found.stderr
    assert "highest rate meeting the SLO (ttft=5s) for 90% of requests: 8 req/s" in found.stdout
    assert "(the --max-rate) still meets the SLO" in found.stderr


def start(args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", BENCH, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGINT, "1"), (signal.SIGTERM, "2")])
def test_a_stopped_run_keeps_what_it_measured(
    slow: SimHost, tmp_path: Path, sig: signal.Signals, workers: str
) -> None:
    out = tmp_path / "run"
    proc = start(
        [
            "run",
            "--base-url",
            slow.url,
            "-n",
            "200",
            "--request-rate",
            "20",
            "--isl",
            "20",
            "--osl",
            "40",
            "--workers",
            workers,
            "--scrape",
            slow.url,
            "--scrape-interval",
            "0.5",
            "--out",
            str(out),
        ]
    )
    wait_until(lambda: lines(out / "records.jsonl") >= 5, 60, "five finished requests")
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert "INTERRUPTED" in stdout
    doc = json.loads((out / "result.json").read_text())
    s = doc["summary"]
    assert doc["complete"] is False and doc["state"] == "interrupted"
    assert s["completed"] >= 5 and s["failed"] == 0 and s["cancelled"] > 0
    assert lines(out / "records.jsonl") == s["completed"] + s["cancelled"]
    # the servers' side and the client's health survive the interrupt
    (server,) = doc["servers"]
    assert (server["observations"]["ttft"] or 0) >= s["completed"]
    assert doc["gap_ms"]["ttft"]["mean"] is not None
    assert doc["client"]["loop_lag_p99_ms"] is not None


def test_a_killed_run_is_summarised_from_its_records(slow: SimHost, tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = start(
        [
            "run",
            "--base-url",
            slow.url,
            "-n",
            "200",
            "--request-rate",
            "20",
            "--isl",
            "20",
            "--osl",
            "40",
            "--out",
            str(out),
        ]
    )
    wait_until(lambda: lines(out / "records.jsonl") >= 5, 60, "five finished requests")
    proc.kill()
    proc.communicate(timeout=30)
    assert json.loads((out / "result.json").read_text())["state"] == "running"
    done = bench("report", str(out), "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["state"] == "killed" and doc["summary"]["completed"] >= 5


def test_the_api_key_is_sent_but_never_shown_or_saved(tmp_path: Path) -> None:
    secret = "sk-do-not-leak-4242"
    with FakeOpenAI() as fake:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                BENCH,
                "run",
                "--base-url",
                fake.base_url,
                "-n",
                "3",
                "--isl",
                "5",
                "--osl",
                "2",
                "--out",
                str(tmp_path / "r"),
                "--json",
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
            env={**os.environ, "OPENAI_API_KEY": secret},
        )
        sent = [h.get("Authorization") for h in fake.headers]
    assert done.returncode == 0, done.stderr
    assert sent == [f"Bearer {secret}"] * 3
    saved = "".join(p.read_text() for p in (tmp_path / "r").iterdir())
    assert secret not in done.stdout + done.stderr + saved


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--dataset", "trace"], "--dataset trace needs a file"),
        (["run", "--request-rate", "0"], "--request-rate"),
        (["run", "--slo", "ttft=quick"], "not a duration"),
        (["run", "--duration", "5"], "--duration needs a finite --request-rate"),
        (["sweep", "--rates", "1,x"], "expected numbers"),
        (["sweep", "--search"], "--search needs --slo"),
        (["report", "/nonexistent"], "does not exist"),
        (["run", "--out", "/proc/llmbench-cannot-write"], "cannot create /proc/llmbench"),
        (["run", "--max-concurrency", "1", "--workers", "2"], "at least one per worker"),
    ],
)
def test_bad_usage_is_a_message_and_exit_2(args: list[str], message: str) -> None:
    done = bench(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr


def test_an_unreachable_server_fails_fast_with_exit_1(tmp_path: Path) -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    done = bench("run", "--base-url", url, "--out", str(tmp_path / "r"))
    assert done.returncode == 1
    assert "cannot reach" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "r").exists()


def test_failed_requests_exit_1_with_the_result_saved(tmp_path: Path) -> None:
    with FakeOpenAI(mode="malformed") as fake:
        done = bench(
            "run",
            "--base-url",
            fake.base_url,
            "-n",
            "3",
            "--isl",
            "5",
            "--osl",
            "4",
            "--out",
            str(tmp_path / "r"),
        )
    assert done.returncode == 1
    assert "3 request(s) failed (malformed_sse: 3)" in done.stdout
    assert json.loads((tmp_path / "r" / "result.json").read_text())["summary"]["failed"] == 3


def test_a_broken_tokenizer_folder_is_a_message(tmp_path: Path) -> None:
    (tmp_path / "tokenizer.json").write_text("{not json")
    done = bench("run", "-n", "2", "--tokenizer", str(tmp_path), "--out", str(tmp_path / "r"))
    assert done.returncode == 2, done.stderr
    assert "cannot read it" in done.stderr and "Traceback" not in done.stderr


def test_a_sweep_whose_server_goes_away_keeps_its_points(tmp_path: Path) -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    done = bench("sweep", "--base-url", url, "--rates", "5,10", "-n", "3", "--out",
                 str(tmp_path / "s"))  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "the sweep stopped early: rate 5 could not run" in done.stdout
    sweep = json.loads((tmp_path / "s" / "sweep.json").read_text())
    assert sweep["points"][0]["error"].startswith("cannot reach")
