"""The demo's children as real processes: a child is ready when it says so, one that exits
or stays silent is named with its last lines, and ``stop`` leaves nothing of any child's
process group (its own children included, and one that ignores SIGTERM)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from llmobs.demo.stack import Stack, StackError
from tests.servers import wait_until

READY_TIMEOUT_S = 60.0  # a Python start on a busy machine
FOREVER = '__import__("threading").Event().wait()'  # until a signal ends it


def python(code: str) -> list[str]:
    return [sys.executable, "-u", "-c", code]


def alive(pid: int) -> bool:
    """A process that exists and is not a zombie waiting for its parent."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def test_a_child_is_ready_when_it_says_so_and_its_output_is_logged(tmp_path: Path) -> None:
    with Stack(tmp_path) as stack:
        code = f"print('starting'); print('ready on 1234'); {FOREVER}"
        found = stack.start("server", python(code), r"ready on (\d+)", READY_TIMEOUT_S)
        assert found.group(1) == "1234"
        (child,) = stack.children
        assert child.proc.poll() is None
    assert child.proc.returncode is not None
    assert child.log == tmp_path / "logs" / "server.log"
    assert child.log.read_text().splitlines()[:2] == ["starting", "ready on 1234"]
    (process,) = stack.processes()
    assert process == {"name": "server", "pid": child.pid, "exit_status": child.proc.returncode}


def test_a_child_that_exits_before_it_is_ready_is_named_with_its_last_lines(
    tmp_path: Path,
) -> None:
    code = "import sys; print('cannot bind port 80', file=sys.stderr); sys.exit(3)"
    with Stack(tmp_path) as stack, pytest.raises(StackError) as caught:
        stack.start("exporter", python(code), "listening", READY_TIMEOUT_S)
    message = str(caught.value)
    assert message.startswith("exporter exited with status 3 (log: ")
    assert message.endswith("its last lines:\ncannot bind port 80")


def test_a_child_that_never_says_it_is_ready_is_named_and_stopped(tmp_path: Path) -> None:
    with Stack(tmp_path) as stack:
        child = stack.spawn("quiet", python(f"print('hello'); {FOREVER}"))
        with pytest.raises(StackError, match=r"^quiet did not say it was ready within 0.5s"):
            stack.wait(child, 0.5)
    assert child.proc.returncode is not None


def test_stop_leaves_nothing_of_a_childs_group(tmp_path: Path) -> None:
    """The child starts a grandchild that ignores SIGTERM, and ignores it itself: stop
    kills both after its timeout."""
    code = (
        "import signal, subprocess, sys\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "grandchild = subprocess.Popen([sys.executable, '-c', "
        f"'import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); {FOREVER}'])\n"
        "print('grandchild', grandchild.pid)\n"
        f"{FOREVER}\n"
    )
    stack = Stack(tmp_path, stop_timeout_s=1.0)
    found = stack.start("stubborn", python(code), r"grandchild (\d+)", READY_TIMEOUT_S)
    grandchild = int(found.group(1))
    (child,) = stack.children
    assert alive(grandchild) and alive(child.pid)
    stack.stop()
    assert child.proc.returncode == -9
    assert not alive(child.pid)
    # SIGKILL cannot be ignored, but a process takes a moment to die of it
    wait_until(lambda: not alive(grandchild), 30, "the grandchild to die of SIGKILL")
    wait_until(lambda: not group_exists(child.pid), 30, "the group's last zombie to be reaped")


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
