"""Item 11 through the command line: ``llmbench sweep --search`` whose client really is
saturated. The test stops and continues the llmbench process (SIGSTOP, a short pause,
SIGCONT) again and again while a point runs: its event loop then runs late for real, as
on an overloaded machine, and the run's own verdict says CLIENT SATURATED. Such a point is
marked and never decides the search."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tests import strictjson
from tests.e2e.benchprocess import finished, llmbench
from tests.fakeopenai import FakeOpenAI

RATE = 6.0  # the search starts here, and it is also the --max-rate: at most two points
FROZEN_S = 0.1  # each stop: the event loop's timers fire this late after it (10 ms is enough)
RUNNING_S = 0.02  # between stops


def _sweep(base_url: str, out: Path) -> subprocess.Popen[str]:
    args = ("sweep", "--search", "--slo", "ttft=10s", "--base-url", base_url,
            "--isl", "5", "--osl", "4", "-n", "12", "--start-rate", f"{RATE:g}",
            "--max-rate", f"{RATE:g}", "--out", str(out))  # fmt: skip
    return llmbench(*args)


def _running(result: Path) -> bool:
    """The run of ``result`` has not ended (its file is missing or still says running)."""
    try:
        return bool(json.loads(result.read_text())["state"] == "running")
    except (OSError, ValueError):
        return True


@contextlib.contextmanager
def starved(pid: int, starting: Callable[[], bool], going: Callable[[], bool]) -> Iterator[None]:
    """From when ``starting()`` holds, stop and continue ``pid`` again and again while
    ``going()`` holds (checked before each stop) and the process lives; it is left running."""
    done = threading.Event()

    def starve() -> None:
        while not done.is_set() and not starting():
            done.wait(0.01)
        while not done.is_set() and going():
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                return
            try:
                time.sleep(FROZEN_S)  # the lag itself, not a wait for something
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)
            done.wait(RUNNING_S)

    thread = threading.Thread(target=starve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(10)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def _rows(stdout: str) -> list[str]:
    """The table's rows, one per point, in rate order."""
    return [line for line in stdout.splitlines() if line.split()[:1] == [f"{RATE:g}"]]


def test_a_point_measured_with_a_saturated_client_is_measured_again(tmp_path: Path) -> None:
    """The first point runs starved, the second does not: the first is marked saturated and
    the search measures the same rate again; only the second can decide."""
    out = tmp_path / "sweep"
    with FakeOpenAI() as fake:
        proc = _sweep(fake.base_url, out)
        first = out / f"rate-{RATE:g}" / "result.json"
        with starved(proc.pid, lambda: bool(fake.bodies), lambda: _running(first)):
            code, stdout, stderr = finished(proc, timeout=180)
    doc = strictjson.load(out / "sweep.json")
    starved_point, again = doc["points"]
    assert (starved_point["x"], starved_point["run"]) == (RATE, f"rate-{RATE:g}")
    assert starved_point["saturated"] is True
    assert any("lag" in reason for reason in starved_point["saturated_reasons"])
    assert starved_point["slo_attainment"] == 1.0  # it met the SLO, and still decided nothing
    assert f"rate {RATE:g}: the client was saturated" in stderr
    assert "does not decide the search; measuring it once more" in stderr
    assert (again["x"], again["run"]) == (RATE, f"rate-{RATE:g}-again")
    rows = _rows(stdout)
    assert len(rows) == 2 and "CLIENT SATURATED" in rows[0]
    # the second point was not starved; a machine busy enough to saturate it anyway is said
    # as such, and then nothing decides
    if again["saturated"]:
        assert code == 1 and "saturated twice" in doc["stopped"]
        assert doc["search"]["answer"] is None
    else:
        assert code == 0, stderr
        assert doc["stopped"] is None and doc["search"]["answer"] == RATE
        assert "CLIENT SATURATED" not in rows[1]


def test_a_search_whose_client_stays_saturated_stops_saying_why(tmp_path: Path) -> None:
    """Every point starved: the rate is measured twice, both saturated, and the search stops
    as a failure (exit 1) with what to change; it has no answer though the SLO was met."""
    out = tmp_path / "sweep"
    with FakeOpenAI() as fake:
        proc = _sweep(fake.base_url, out)
        with starved(proc.pid, lambda: bool(fake.bodies), lambda: True):
            code, stdout, stderr = finished(proc, timeout=180)
    assert code == 1, stderr
    doc = strictjson.load(out / "sweep.json")
    assert [(p["x"], p["saturated"], p["slo_attainment"]) for p in doc["points"]] == [
        (RATE, True, 1.0),
        (RATE, True, 1.0),
    ]
    assert doc["search"]["answer"] is None
    said = f"at {RATE:g} req/s the load generator was saturated twice"
    assert said in doc["stopped"] and "--workers" in doc["stopped"]
    assert f"error: {said}" in stderr
    assert f"the sweep stopped early: {said}" in stdout
    assert "highest rate meeting the SLO (ttft=10s) for 90% of requests: none" in stdout
    rows = _rows(stdout)
    assert len(rows) == 2 and all("CLIENT SATURATED" in row for row in rows)
