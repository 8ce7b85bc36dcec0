"""What the commands import: ``--help`` and the emulator leave the heavy libraries alone.

Each command runs as a subprocess under ``python -X importtime``, which names every module
the process imports (at start-up or later); the assertions are on those names, not on time
(benchmarks/startup.py measures the time).
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from tests.e2e.conftest import REPO

# Libraries no --help needs. pydantic is allowed for llmbench: its options are RunConfig's.
HEAVY = frozenset(
    {"kubernetes", "matplotlib", "numpy", "aiohttp", "prometheus_client", "tokenizers"}
)
# The emulator renders /metrics with prometheus_client, as the engines do.
HEAVY_FOR_THE_EMULATOR = frozenset({"kubernetes", "matplotlib", "tokenizers"})


def imported(importtime: str) -> set[str]:
    """Top-level packages named in ``-X importtime`` output."""
    names = set()
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


def run(*args: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names = imported(done.stderr)
    assert {"click", "llmobs"} <= names  # the output was read
    return names


@pytest.mark.parametrize(
    "args",
    [
        ("-m", "llmobs", "--help"),
        ("-m", "llmobs", "sim", "--help"),
        ("-m", "llmobs", "exporter", "--help"),
        ("-m", "llmobs", "scrape", "--help"),
        ("-m", "llmobs", "simulate", "--help"),
        ("-m", "llmobs.cli.bench", "--help"),
        ("-m", "llmobs.cli.bench", "run", "--help"),
        ("-m", "llmobs.cli.bench", "sweep", "--help"),
    ],
    ids=" ".join,
)
def test_help_imports_no_heavy_library(args: tuple[str, ...]) -> None:
    assert run(*args) & HEAVY == set()


@pytest.mark.parametrize("layout", [(), ("--pd", "1P1D")], ids=["one instance", "PD"])
def test_the_emulator_does_not_import_kubernetes(layout: tuple[str, ...]) -> None:
    """``llmobs sim`` serving (PD too), up to its first answer: its whole import path."""
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "llmobs", "sim", "--port", "0", *layout],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "listening on" in line or "proxy (OpenAI API) on" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    output = "".join(lines) + rest
    assert proc.returncode == 0 and "stopped" in output, output[-3000:]
    names = imported(output)
    assert "aiohttp" in names  # it did serve
    assert names & HEAVY_FOR_THE_EMULATOR == set()
