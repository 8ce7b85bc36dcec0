"""The sweep loop without the command line: points run against the emulator on 127.0.0.1,
``sweep.json`` on disk is the document returned, and a point that cannot run ends the sweep
with the points so far."""

from __future__ import annotations

import contextlib
import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmobs.bench.config import RunConfig
from llmobs.bench.harness import Run, benchmark
from llmobs.bench.sweep import Search, sweep_table
from llmobs.bench.sweeprun import SWEEP_FILE, Plan, point_config, run_sweep
from llmobs.errors import ConfigError
from llmobs.sim.config import EngineSettings
from tests import strictjson
from tests.servers import free_port
from tests.simhost import SimHost

BASE = RunConfig(num_prompts=4, isl=20, osl=2, request_rate=10.0, seed=7)


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHost]:
    with SimHost(EngineSettings(fixed_ttft_ms=5, fixed_itl_ms=5)) as host:
        yield host


def test_a_sweep_over_rates_writes_what_it_returns(sim: SimHost, tmp_path: Path) -> None:
    said: list[str] = []
    doc = run_sweep(
        BASE,
        Plan("rate", (5.0, 10.0)),
        lambda cfg, folder: benchmark(cfg, sim.url, None, folder, said.append),
        tmp_path,
        said.append,
    )
    assert strictjson.load(tmp_path / SWEEP_FILE) == doc
    assert (doc["version"], doc["tool"], doc["kind"], doc["stopped"]) == (
        1,
        "llmbench-sweep",
        "rate",
        None,
    )
    assert [(p["x"], p["run"], p["complete"]) for p in doc["points"]] == [
        (5.0, "rate-5", True),
        (10.0, "rate-10", True),
    ]
    configs = [json.loads((tmp_path / p["run"] / "result.json").read_text()) for p in doc["points"]]
    assert [c["config"]["seed"] for c in configs] == [7, 8]  # no prompt repeats across points
    assert "-- rate 5 --" in said and "search" not in doc


def test_a_search_records_its_answer_and_why_it_ended(sim: SimHost, tmp_path: Path) -> None:
    cfg = BASE.model_copy(update={"slo": "ttft=5s"})
    search = Search(0.9, start=2.0, max_rate=4.0)
    doc = run_sweep(
        cfg,
        Plan("rate", search=search),
        lambda point, folder: benchmark(point, sim.url, None, folder, lambda _: None),
        tmp_path,
        lambda _: None,
    )
    assert [p["x"] for p in doc["points"]] == [2.0, 4.0]
    assert doc["search"] == {
        "slo": "ttft=5s",
        "attainment": 0.9,
        "answer": 4.0,
        "reason": "4 req/s (the --max-rate) still meets the SLO",
    }


def test_a_point_that_cannot_run_ends_the_sweep(tmp_path: Path) -> None:
    gone = f"http://127.0.0.1:{free_port()}"
    doc = run_sweep(
        BASE,
        Plan("concurrency", (1.0, 2.0)),
        lambda point, folder: benchmark(point, gone, None, folder, lambda _: None),
        tmp_path,
        lambda _: None,
    )
    (failed,) = doc["points"]
    assert failed["x"] == 1.0 and failed["error"] and failed["ttft_p50"] is None
    assert doc["stopped"].startswith("concurrency 1 could not run: ")
    assert strictjson.load(tmp_path / SWEEP_FILE) == doc


def test_a_sweep_json_that_cannot_be_written_stops_the_sweep_saying_so(
    sim: SimHost, tmp_path: Path
) -> None:
    (tmp_path / SWEEP_FILE / "in-the-way").mkdir(parents=True)  # a folder: the write fails
    said: list[str] = []
    doc = run_sweep(
        BASE,
        Plan("rate", (5.0, 10.0)),
        lambda point, folder: benchmark(point, sim.url, None, folder, lambda _: None),
        tmp_path,
        said.append,
    )
    assert [p["x"] for p in doc["points"]] == [5.0]  # the sweep stopped after the first
    assert doc["stopped"] == f"cannot write {tmp_path / SWEEP_FILE}: Is a directory"
    assert f"error: {doc['stopped']}" in said
    assert not (tmp_path / "rate-10").exists()


def test_a_point_whose_config_is_invalid_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="at concurrency 1: "):
        point_config(BASE.model_copy(update={"workers": 2}), "concurrency", 1.0, 0)


@contextlib.contextmanager
def starved_client() -> Iterator[None]:
    """This process's CPU taken by a busy thread that keeps the GIL for 50 ms at a time: the
    load generator's timers fire late, as on a client machine that cannot keep up."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(10_000))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(0.05)
    busy = threading.Thread(target=spin)
    busy.start()
    try:
        yield
    finally:
        stop.set()
        busy.join()
        sys.setswitchinterval(interval)


def search_with(sim: SimHost, tmp_path: Path, starve: int) -> dict[str, Any]:
    """A search from 2 req/s whose first ``starve`` points run with a saturated client."""
    runs = 0

    def run_point(point: RunConfig, folder: Path) -> Run:
        nonlocal runs
        runs += 1
        with starved_client() if runs <= starve else contextlib.nullcontext():
            return benchmark(point, sim.url, None, folder, lambda _: None)

    cfg = BASE.model_copy(update={"slo": "ttft=5s"})
    return run_sweep(
        cfg,
        Plan("rate", search=Search(0.9, start=2.0, max_rate=4.0)),
        run_point,
        tmp_path,
        lambda _: None,
    )


def test_a_saturated_point_is_measured_again_and_decides_nothing(
    sim: SimHost, tmp_path: Path
) -> None:
    doc = search_with(sim, tmp_path, starve=1)
    first, again = doc["points"][:2]
    assert (first["x"], first["run"], first["saturated"]) == (2.0, "rate-2", True)
    assert any("event-loop lag" in r for r in first["saturated_reasons"])
    assert (again["x"], again["run"]) == (2.0, "rate-2-again")
    clean = [p["x"] for p in doc["points"] if not p["saturated"] and p["slo_attainment"] == 1.0]
    assert doc["search"]["answer"] == (max(clean) if clean else None)
    assert strictjson.load(tmp_path / SWEEP_FILE) == doc
    assert "CLIENT SATURATED" in sweep_table(doc["points"], "rate")


def test_a_point_saturated_twice_stops_the_search_with_why(sim: SimHost, tmp_path: Path) -> None:
    doc = search_with(sim, tmp_path, starve=2)
    assert [(p["x"], p["saturated"]) for p in doc["points"]] == [(2.0, True), (2.0, True)]
    assert doc["search"]["answer"] is None  # met the SLO, but measured the client
    assert "saturated twice" in doc["stopped"] and "--workers" in doc["stopped"]
