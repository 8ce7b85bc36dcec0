"""``llmbench`` as a subprocess, as the e2e tests of its lifecycle run it: started through the
console script's entry point, its output read whole, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tests.e2e.conftest import REPO

ENTRY = "llmobs.cli.entry"  # the llmbench console script


def llmbench(*args: str, preexec: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", ENTRY, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        preexec_fn=preexec,
    )


def finished(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    """Its exit status, stdout and stderr, once it ends (killed if it outlives ``timeout``)."""
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stderr and "never retrieved" not in stderr, stderr
    return proc.returncode, stdout, stderr


def small(*args: str) -> list[str]:
    """``llmbench run`` with tiny requests."""
    return ["run", "--isl", "5", "--osl", "4", *args]
