"""A write the OS refuses ends a run as a failure, with what was written kept: the file-size
limit (RLIMIT_FSIZE, SIGXFSZ ignored, so a write past it is EFBIG) stands in for a full disk,
for the records, for a sweep's point, and for the final result.json."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests import strictjson
from tests.e2e.benchprocess import ENTRY, finished, llmbench, small
from tests.e2e.conftest import REPO
from tests.fakeopenai import FakeOpenAI

SIZE_LIMIT = 32 * 1024  # bytes a file may grow to: records outgrow it
RESULT_ROOM = 2048  # more than a placeholder result.json or 3 records, less than a result


def _limit_to(size: int) -> Callable[[], None]:
    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a refused write is EFBIG, not a kill
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


def test_a_refused_write_stops_sending_and_prints_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "run"
    planned = 3000
    with FakeOpenAI() as fake:
        args = small("--base-url", fake.base_url, "-n", str(planned), "--request-rate", "200",
                     "--osl", "20", "--out", str(out))  # fmt: skip
        code, stdout, stderr = finished(llmbench(*args, preexec=_limit_to(SIZE_LIMIT)))
    assert code == 1, stderr
    assert "Serving Benchmark Result" in stdout  # the summary, on the terminal
    assert f"error: the run failed: cannot write {out / 'records.jsonl'}: File too large" in (
        stderr
    )
    doc = strictjson.load(out / "result.json")
    assert doc["state"] == "failed" and doc["complete"] is False
    assert "records.jsonl: File too large" in doc["error"]
    s = doc["summary"]
    assert s["completed"] + s["failed"] + s["cancelled"] < planned  # sending stopped
    lines = (out / "records.jsonl").read_text().splitlines()
    assert 0 < len(lines) <= s["completed"] + s["failed"] + s["cancelled"]
    whole = [strictjson.loads(line) for line in lines[:-1]]  # the last may be cut by the limit
    assert {r["index"] for r in whole} <= set(range(planned))


def test_a_sweep_point_whose_run_failed_stops_the_sweep_as_a_failure(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    with FakeOpenAI() as fake:
        args = ("sweep", "--isl", "5", "--osl", "20", "--base-url", fake.base_url, "-n", "3000",
                "--rates", "200,400", "--out", str(out))  # fmt: skip
        code, stdout, stderr = finished(llmbench(*args, preexec=_limit_to(SIZE_LIMIT)))
    assert code == 1, stderr  # a failure, not an interrupt (130)
    records = out / "rate-200" / "records.jsonl"
    said = f"rate 200 failed: cannot write {records}: File too large"
    assert f"error: {said}" in stderr
    assert f"the sweep stopped early: {said}" in stdout
    assert "interrupted" not in (stdout + stderr).lower()
    doc = strictjson.load(out / "sweep.json")
    (point,) = doc["points"]  # rate 400 never ran
    assert doc["stopped"] == said
    assert point["x"] == 200 and f"{records}: File too large" in point["error"]
    assert "(FAILED)" in stdout
    assert not (out / "rate-400").exists()


def test_a_result_that_cannot_be_written_leaves_the_run_failed_not_running(
    tmp_path: Path,
) -> None:
    """Room for the placeholder (about 900 bytes) and 3 records, not for the whole result
    (about 4 KB): the OS refuses it, and the placeholder is rewritten in place as failed."""
    out = tmp_path / "run"
    with FakeOpenAI() as fake:
        args = small("--base-url", fake.base_url, "-n", "3", "--out", str(out))
        code, stdout, stderr = finished(llmbench(*args, preexec=_limit_to(RESULT_ROOM)))
    assert code == 1, stderr
    assert "Serving Benchmark Result" in stdout  # the summary, on the terminal
    said = f"cannot write {out / 'result.json'}: File too large"
    assert f"error: the run failed: {said}" in stderr
    assert f"what was written before the failure is in {out}" in stderr
    doc = strictjson.load(out / "result.json")
    assert doc["state"] == "failed" and doc["complete"] is False and doc["error"] == said
    assert doc["config"]["num_prompts"] == 3
    assert len(strictjson.load_lines(out / "records.jsonl")) == 3
    report = subprocess.run([sys.executable, "-m", ENTRY, "report", str(out)],
                            capture_output=True, text=True, cwd=REPO, timeout=60)  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert f"FAILED: {said}" in report.stdout and "Successful requests:" in report.stdout
