"""``llmobs demo`` as a newcomer runs it: the whole stack on this machine under a load that
rises and falls, a report with PNGs in a folder it names, both roles sized; Ctrl-C and
SIGTERM stop every process it started (exit 130, the partial report kept); a child that
cannot start is named (exit 1) and the others are stopped."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path
from typing import Any

import pytest

from llmobs.dashboards import boards
from tests import strictjson

PNG = b"\x89PNG\r\n\x1a\n"


class Demo:
    """``python -m llmobs demo ARGS`` started in ``cwd``, its output read line by line."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "llmobs", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env=env,
        )
        self.lines: list[str] = []

    def read_until(self, pattern: str, count: int = 1) -> None:
        """Read lines until ``count`` of them matched (the demo says where it is)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            if re.search(pattern, line):
                count -= 1
                if count == 0:
                    return
        raise AssertionError(f"no line matched {pattern!r}:\n{self.output()}")

    def finish(self, timeout: float) -> tuple[int, str]:
        try:
            rest, _ = self.proc.communicate(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
        self.lines.append(rest or "")
        return self.proc.returncode, self.output()

    def output(self) -> str:
        return "".join(self.lines)


def on_a_terminal(cwd: Path, *args: str, timeout: float) -> tuple[int, str]:
    """``python -m llmobs demo ARGS`` with its output on a pseudo-terminal, as in a shell:
    its exit status and everything it drew."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 140, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmobs", "demo", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        cwd=cwd,
    )
    os.close(slave)
    drawn = bytearray()

    def read() -> None:
        with contextlib.suppress(OSError):  # EIO once the terminal's last writer is gone
            while chunk := os.read(master, 65536):
                drawn.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        code = proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=30)
        os.close(master)
    return code, drawn.decode("utf-8", "replace").replace("\r\n", "\n")


def run_folder(cwd: Path) -> Path:
    """The one timestamped folder the demo made under ./llmobs-demo/."""
    (folder,) = (cwd / "llmobs-demo").iterdir()
    return folder


def assert_no_child_left(
    result: dict[str, Any], started: tuple[str, ...] = ("emulator", "exporter", "autoscaler")
) -> None:
    """Every child ran in its own process group: none of those groups has a process left."""
    names = {p["name"] for p in result["processes"]}
    assert set(started) <= names, result["processes"]
    for process in result["processes"]:
        assert process["exit_status"] is not None, process
        with pytest.raises(ProcessLookupError):
            os.killpg(process["pid"], 0)


def assert_png(path: str | Path) -> None:
    data = Path(path).read_bytes()
    assert data.startswith(PNG) and len(data) > 10_000, path


def test_a_short_demo_sizes_both_roles_and_reports(tmp_path: Path) -> None:
    code, out = on_a_terminal(tmp_path, "--duration", "40", timeout=600)
    assert code == 0, out
    assert "Traceback" not in out
    redrawn = re.findall(r"\x1b\[(\d+)F\x1b\[J", out)  # the view redrawn in place
    assert len(redrawn) > 10 and "role     replicas" in out, out[-3000:]
    folder = run_folder(tmp_path)
    assert f"report: llmobs-demo/{folder.name}/report.md" in out
    result = strictjson.load(folder / "result.json")
    assert result["state"] == "finished" and result["error"] is None
    for role in ("prefill", "decode"):
        item = result["roles"][role]
        changed = [d for d in result["decisions"] if d["role"] == role]
        assert item["moved"] or changed, (role, item)
        assert item["decisions"] > 0
    assert result["roles"]["prefill"]["moved"], result["roles"]["prefill"]
    assert result["bench"]["completed"] == result["requests_planned"] > 0
    assert result["bench"]["failed"] == 0
    page = (folder / "report.md").read_text()
    assert "| prefill | ttft_p90 1500 ms |" in page and "| decode | tpot_p90 200 ms |" in page
    assert_png(folder / "replicas.png")
    assert len(result["files"]["plots"]) >= 3
    for path in result["files"]["plots"]:
        assert_png(folder / path)
    assert result["prometheus_url"] is not None  # the CI installs it
    previews = {Path(p).name for p in result["files"]["previews"]}
    assert previews == {Path(name).with_suffix(".png").name for name in boards()}, result["notes"]
    for path in result["files"]["previews"]:
        assert_png(folder / path)
    assert_no_child_left(result)


@pytest.mark.parametrize(
    ("sig", "after", "count"),
    [
        (signal.SIGINT, r"^\s*\d+s load ", 2),  # Ctrl-C mid-run: the view has been shown twice
        (signal.SIGTERM, r"^exporter: ", 1),  # SIGTERM while the stack starts
    ],
)
def test_an_interrupt_stops_everything_and_keeps_the_partial_report(
    tmp_path: Path, sig: int, after: str, count: int
) -> None:
    demo = Demo(tmp_path, "--duration", "120", "--out", "run")
    demo.read_until(after, count)
    demo.proc.send_signal(sig)
    code, out = demo.finish(timeout=180)
    assert code == 130, out
    assert "Traceback" not in out
    assert "\x1b" not in out  # not a terminal: plain lines
    assert "interrupted: every process stopped" in out
    result = strictjson.load(tmp_path / "run" / "result.json")
    assert result["state"] == "interrupted"
    assert (tmp_path / "run" / "report.md").is_file()
    assert_no_child_left(result, ("emulator", "exporter"))
    if sig == signal.SIGINT:  # llmbench was running: its partial result is kept
        bench = strictjson.load(tmp_path / "run" / "bench" / "result.json")
        assert bench["complete"] is False
        assert result["samples"]


def test_a_child_that_cannot_start_is_named_and_the_others_stopped(tmp_path: Path) -> None:
    fake = tmp_path / "bin"
    fake.mkdir()
    prometheus = fake / "prometheus"
    prometheus.write_text("#!/bin/sh\necho 'bad storage path' >&2\nexit 3\n")
    prometheus.chmod(0o755)
    env = {**os.environ, "PATH": f"{fake}{os.pathsep}{os.environ.get('PATH', '')}"}
    code, out = Demo(tmp_path, "--duration", "30", "--out", "run", env=env).finish(timeout=300)
    assert code == 1, out
    assert "Traceback" not in out
    assert "error: prometheus exited with status 3" in out
    assert "bad storage path" in out
    result = strictjson.load(tmp_path / "run" / "result.json")
    assert result["state"] == "failed" and "prometheus" in result["error"]
    assert_no_child_left(result)


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    for args, says in (
        (["--duration", "5"], "--duration"),
        (["--duration", "nan"], "--duration"),
        (["--out", "full"], "not empty"),
        (["--out", "full/x/run"], "cannot make it"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "llmobs", "demo", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=60,
            check=False,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and says in done.stderr


def test_without_prometheus_the_report_says_so_and_draws_no_previews(tmp_path: Path) -> None:
    """PATH has every command but ``prometheus``: the demo runs, and its report notes why it
    has no board previews."""
    commands = tmp_path / "bin"
    commands.mkdir()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = commands / entry.name
            if entry.name != "prometheus" and not os.path.lexists(link):
                link.symlink_to(entry.path)
    env = {**os.environ, "PATH": str(commands)}
    assert shutil.which("prometheus", path=env["PATH"]) is None
    code, out = Demo(tmp_path, "--duration", "20", "--out", "run", env=env).finish(timeout=400)
    assert code == 0, out
    assert "Traceback" not in out
    result = strictjson.load(tmp_path / "run" / "result.json")
    assert result["state"] == "finished" and result["prometheus_url"] is None
    assert result["files"]["previews"] == [] and not (tmp_path / "run" / "previews").exists()
    note = "Prometheus: not installed (scripts/setup installs it): no board previews"
    assert note in result["notes"]
    assert f"Note: {note}" in (tmp_path / "run" / "report.md").read_text()
    assert_no_child_left(result)
