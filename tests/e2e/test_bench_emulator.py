"""``llmbench run`` with no ``--base-url``: the built-in emulator runs in a process of its
own, so the README's first job is measured without the emulator taking the load
generator's CPU, and the emulator's process is gone when the run ends, however it ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO
from tests.servers import wait_until
from tests.strictjson import load

MARK = "LLMOBS_TEST_RUN"


def llmbench(out: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """``llmbench run ARGS --out OUT`` in the background, its processes marked in their
    environment so that this test finds its own emulator and no one else's."""
    mark = uuid.uuid4().hex
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmobs.cli.bench", "run", *args, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, MARK: mark},
    )
    return proc, mark


def emulators(mark: str, parent: int) -> list[int]:
    """Processes (other than ``parent``) carrying ``mark`` that run ``llmobs sim``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == parent:
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            command = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if f"{MARK}={mark}".encode() in environ and b"sim" in command:
            found.append(int(entry.name))
    return found


def test_the_readme_job_on_the_emulator_is_clean_and_leaves_nothing(tmp_path: Path) -> None:
    proc, mark = llmbench(tmp_path / "run", "--isl", "2500", "--osl", "100")
    wait_until(
        lambda: bool(emulators(mark, proc.pid)) or proc.poll() is not None, 60, "the emulator"
    )
    child = emulators(mark, proc.pid)
    assert child and proc.pid not in child  # a process of its own
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert "SATURATED" not in out + err and "Traceback" not in err
    assert "built-in EMULATOR" in err
    doc = load(tmp_path / "run" / "result.json")
    assert doc["client"]["saturated"] is False and doc["summary"]["failed"] == 0
    assert doc["summary"]["completed"] == 200
    assert emulators(mark, proc.pid) == []
    assert all(not Path(f"/proc/{pid}").exists() for pid in child)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("when", ["no --base-url", "sending"])
def test_a_stopped_run_stops_its_emulator(tmp_path: Path, sig: signal.Signals, when: str) -> None:
    """Stopped as the emulator answers (before the run's files exist, or as they are made) or
    as the run starts sending: exit 130, the emulator gone, and no result.json left
    ``running`` (a signal as the first request goes out once left it so)."""
    args = ("--isl", "100", "--osl", "50", "--request-rate", "5", "--duration", "120")
    proc, mark = llmbench(tmp_path / "run", *args)
    assert proc.stderr is not None
    for line in proc.stderr:  # the run says when the emulator is up, and when it sends
        if line.startswith(when):
            break
    child = emulators(mark, proc.pid)
    assert child
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    result = tmp_path / "run" / "result.json"
    if when == "sending" or result.exists():
        assert load(result)["state"] == "interrupted"
    assert emulators(mark, proc.pid) == []
    assert all(not Path(f"/proc/{pid}").exists() for pid in child)


def test_an_emulator_that_cannot_start_is_a_usage_error(tmp_path: Path) -> None:
    out = str(tmp_path / "run")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmobs.cli.bench",
            "run",
            "--sim-model",
            "Llama-3.1-70B",
            "--out",
            out,
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert done.returncode == 2 and "raise tensor_parallel_size" in done.stderr
    assert "Traceback" not in done.stderr
