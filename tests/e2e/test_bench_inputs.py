"""``llmbench``'s inputs and saved documents as a user meets them, bad ones included: every
case is a subprocess, its exit status and what it prints; every JSON it prints or writes is
read with a strict parser. Servers are emulators on 127.0.0.1."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from llmobs.sim.config import EngineSettings
from tests import strictjson
from tests.e2e.conftest import REPO, run_cli
from tests.fakeopenai import FakeOpenAI
from tests.servers import free_port, wait_until
from tests.simhost import SimHost

BENCH = "llmobs.cli.bench"
SMALL = ("--isl", "20", "--osl", "4")


def bench(*args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, module=BENCH, timeout=timeout)


def lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def usage_error(done: subprocess.CompletedProcess[str], *says: str) -> None:
    """Exit 2, a message that says what is wrong, no traceback."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    for text in says:
        assert text in done.stderr, done.stderr


def error_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The error message's lines (click puts its usage lines above)."""
    return [line for line in done.stderr.splitlines() if line.startswith("Error")]


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHost]:
    with SimHost(EngineSettings(fixed_ttft_ms=5, fixed_itl_ms=20)) as host:
        yield host


@pytest.fixture(scope="module")
def finished(sim: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 6 requests that finished."""
    out = tmp_path_factory.mktemp("finished") / "run"
    done = bench("run", "--base-url", sim.url, "-n", "6", *SMALL, "--out", str(out))
    assert done.returncode == 0, done.stderr
    return out


@pytest.fixture(scope="module")
def killed(sim: SimHost, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run SIGKILLed after a few requests: result.json still says running."""
    out = tmp_path_factory.mktemp("killed") / "run"
    args = ["run", "--base-url", sim.url, "-n", "500", "--request-rate", "20", *SMALL]
    proc = subprocess.Popen(
        [sys.executable, "-m", BENCH, *args, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:
        wait_until(lambda: lines(out / "records.jsonl") >= 4, 60, "four finished requests")
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert strictjson.load(out / "result.json")["state"] == "running"
    return out


def copy(run: Path, tmp_path: Path) -> Path:
    target = tmp_path / run.name
    shutil.copytree(run, target)
    return target


# -- item 7: report tells what happened to the run ----------------------------------------------
def test_a_killed_run_is_reported_as_killed_not_interrupted(killed: Path) -> None:
    done = bench("report", str(killed))
    assert done.returncode == 0, done.stderr
    assert "KILLED" in done.stdout and "INTERRUPTED" not in done.stdout
    assert "were cut off" not in done.stdout
    as_json = bench("report", str(killed), "--json")
    doc = strictjson.loads(as_json.stdout)
    assert doc["state"] == "killed" and doc["complete"] is False


def test_missing_records_are_warned_of_and_the_saved_summary_is_shown(
    finished: Path, tmp_path: Path
) -> None:
    run = copy(finished, tmp_path)
    (run / "records.jsonl").unlink()
    done = bench("report", str(run))
    assert done.returncode == 0, done.stderr
    assert "warning: cannot read" in done.stderr and "records.jsonl" in done.stderr
    assert "result.json's summary" in done.stderr
    assert re.search(r"Successful requests: +6\n", done.stdout), done.stdout


def test_a_bad_line_in_the_records_is_skipped_counted_and_named(
    killed: Path, tmp_path: Path
) -> None:
    run = copy(killed, tmp_path)
    records = (run / "records.jsonl").read_text().splitlines()
    good = [line for line in records if line.strip()]
    (run / "records.jsonl").write_text(
        "\n".join([good[0], good[1], "{not a record", good[2], '{"index": NaN}', *good[3:]]) + "\n"
    )
    done = bench("report", str(run), "--json")
    assert done.returncode == 0, done.stderr
    assert "skipped 2 line(s)" in done.stderr and "line 3, 5" in done.stderr
    doc = strictjson.loads(done.stdout)
    s = doc["summary"]
    assert s["completed"] + s["failed"] + s["cancelled"] == len(good)


def test_a_result_without_a_key_the_report_reads_names_it(finished: Path, tmp_path: Path) -> None:
    run = copy(finished, tmp_path)
    doc = strictjson.load(run / "result.json")
    del doc["config"]
    (run / "result.json").write_text(json.dumps(doc))
    usage_error(bench("report", str(run)), "has no 'config (a mapping)'", "result.json")
    del doc["summary"]["ttft_ms"]
    doc["config"] = {}
    (run / "result.json").write_text(json.dumps(doc))
    usage_error(bench("report", str(run)), "summary.ttft_ms")


def test_a_label_that_is_not_one_plain_name_is_refused(sim: SimHost, tmp_path: Path) -> None:
    for label in ("../../escape", "a/b", ".hidden", ""):
        usage_error(bench("run", "--base-url", sim.url, "-n", "1", "--label", label), "--label")
    assert not (REPO.parent / "escape").exists()


# -- item 14: a plot path that cannot be written ----------------------------------------------
def test_compare_to_an_unwritable_plot_is_a_message(finished: Path) -> None:
    done = bench("compare", str(finished), str(finished), "--plot", "/proc/x.png")
    usage_error(done, "--plot /proc/x.png: cannot write it")


def test_compare_json_is_strict(finished: Path, killed: Path) -> None:
    done = bench("compare", str(finished), str(killed), "--json")
    assert done.returncode == 0, done.stderr
    data = strictjson.loads(done.stdout)
    assert data["complete"] == [True, False]


# -- items 15, 16, 17: refused before anything is sent ----------------------------------------
@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--base-url", "ftp://127.0.0.1:8000"], "give http://HOST:PORT"),
        (["--base-url", "localhost:8000"], "give http://HOST:PORT"),
        (["--base-url", "http://127.0.0.1:70000"], "from 1 to 65535"),
        (["--slo", "ttft=1s,ttft=2s"], "ttft is given twice"),
        (["--slo", "ttft=1s,,tpot=5ms"], "an empty item"),
        (["--slo", "ttft=1s,"], "an empty item"),
        (["--isl", "20000000"], "--isl"),
    ],
)
def test_bad_options_are_refused_up_front(args: list[str], says: str) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    base = [] if "--base-url" in args else ["--base-url", gone]
    usage_error(bench("run", *base, "-n", "1", *args), says)


SEARCH = ("sweep", "--search", "--slo", "ttft=1s")
NOT_A_RATE = "'nan' is not a number: give one above 0, or inf"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ((*SEARCH, "--max-rate", "nan"), "'--max-rate': 'nan' is not a finite number"),
        ((*SEARCH, "--start-rate", "inf"), "'--start-rate': 'inf' is not a finite number"),
        ((*SEARCH, "--precision", "nan"), "'--precision': 'nan' is not a finite number"),
        ((*SEARCH, "--attainment", "nan"), "'--attainment': 'nan' is not a finite number"),
        (("run", "--request-rate", "nan"), f"'--request-rate': {NOT_A_RATE}"),
        (("run", "--burstiness", "nan"), f"'--burstiness': {NOT_A_RATE}"),
        (("run", "--range-ratio", "nan"), "'--range-ratio': 'nan' is not a finite number"),
        (("run", "--duration", "inf"), "'--duration': 'inf' is not a finite number"),
        (("run", "--scrape-interval", "inf"), "'--scrape-interval': 'inf' is not a finite number"),
    ],
)
def test_a_float_flag_that_is_not_a_finite_number_is_refused(
    tmp_path: Path, args: tuple[str, ...], says: str
) -> None:
    """click's FloatRange lets nan and inf through; every float flag is finite (a request rate
    or burstiness of inf has a meaning and is taken; nan is not). Nothing is sent."""
    with FakeOpenAI() as fake:
        done = bench(*args, "--base-url", fake.base_url, "--out", str(tmp_path / "o"))
        assert fake.bodies == []
    usage_error(done, says)
    assert error_lines(done) == [f"Error: Invalid value for {says}"]
    assert not (tmp_path / "o").exists()


def test_a_sweep_over_a_repeated_rate_is_refused_up_front(tmp_path: Path) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    done = bench("sweep", "--base-url", gone, "--rates", "2,2,2", "--out", str(tmp_path / "s"))
    usage_error(done, "--rates: 2 is given twice")
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())


@pytest.mark.parametrize(
    ("yaml", "says"),
    [
        (b"isl: true\n", "--isl"),
        (b"request_rate: yes\n", "--request-rate"),
        (b"request_rate: .nan\n", "--request-rate"),
        (b"num_prompts: '5'\n", "--num-prompts"),
        (b"percentiles: [50, true]\n", "--percentiles"),
        (b"label: ../up\n", "--label"),
        (b"slo: ttft=1s,ttft=1s\n", "given twice"),
        (b"isl: 5\nosl: \xff\xfe\x80\n", "scenario"),  # not UTF-8
        (bytes(range(256)), "scenario"),  # a binary file
    ],
)
def test_a_scenario_with_a_bad_value_is_refused(tmp_path: Path, yaml: bytes, says: str) -> None:
    config = tmp_path / "scenario.yaml"
    config.write_bytes(yaml)
    gone = f"http://127.0.0.1:{free_port()}"
    done = bench("run", "--base-url", gone, "--config", str(config))
    usage_error(done, says)
    (error,) = error_lines(done)  # one line, that names the file
    assert str(config) in error


# -- item 13: datasets with non-finite numbers --------------------------------------------------
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_a_trace_with_a_non_finite_timestamp_is_refused_with_its_line(
    sim: SimHost, tmp_path: Path, token: str
) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"timestamp": 0, "input_length": 5, "output_length": 2}\n'
        f'{{"timestamp": {token}, "input_length": 5, "output_length": 2}}\n'
    )
    usage_error(
        bench("run", "--base-url", sim.url, "--dataset", "trace", str(trace)),
        f"{trace}:2:",
        f"{token.lstrip('-')} is not valid JSON",
    )


def test_a_sharegpt_file_with_nan_is_refused(sim: SimHost, tmp_path: Path) -> None:
    data = tmp_path / "sharegpt.json"
    data.write_text('[{"conversations": [{"value": "hello there"}], "score": NaN}]')
    usage_error(
        bench("run", "--base-url", sim.url, "--dataset", "sharegpt", str(data)),
        "NaN is not valid JSON",
    )


# -- input errors come before the server is contacted -----------------------------------------
@pytest.mark.parametrize("what", ["trace", "sharegpt", "tokenizer"])
def test_a_bad_input_file_is_exit_2_even_when_no_server_listens(tmp_path: Path, what: str) -> None:
    bad = tmp_path / "bad"
    args: tuple[str, ...]
    if what == "tokenizer":
        bad.mkdir()  # a folder with no tokenizer in it
        args = ("--tokenizer", str(bad))
    else:
        bad.write_text('{"timestamp": 0, "input_length": 5}\n' if what == "trace" else "[1, ")
        args = ("--dataset", what, str(bad))
    gone = f"http://127.0.0.1:{free_port()}"
    done = bench("run", "--base-url", gone, *args, "--out", str(tmp_path / "run"))
    usage_error(done, str(bad))
    assert "cannot reach" not in done.stderr


# -- item 1: a password in a URL is used, never shown ------------------------------------------
def test_passwords_in_the_scrape_and_base_urls_are_never_shown(
    sim: SimHost, tmp_path: Path
) -> None:
    password = "s3cretPW"
    url = sim.url.replace("://", f"://admin:{password}@")
    out = tmp_path / "run"
    done = bench("run", "--base-url", url, "--scrape", url, "-n", "4", *SMALL, "--out", str(out))
    assert done.returncode == 0, done.stderr
    doc = strictjson.load(out / "result.json")
    (server,) = doc["servers"]
    shown = sim.url.replace("://", "://admin:<secret>@")
    assert server["url"] == f"{shown}/metrics" and doc["server_series"][0]["url"] == server["url"]
    assert server["engine"] == "vllm" and server["observations"]["ttft"] == 4  # it scraped
    assert doc["config"]["scrape"] == [shown]
    assert doc["config"]["target"] == doc["config"]["base_url"] == shown
    assert len(strictjson.load_lines(out / "records.jsonl")) == 4
    written = "".join(p.read_text() for p in out.iterdir())
    assert password not in done.stdout + done.stderr + written
    assert "<secret>" in done.stdout  # the table names the scraped server
