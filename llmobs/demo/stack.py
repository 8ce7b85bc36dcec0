"""The demo's child processes: started in their own process groups, read until they say they
are ready, and stopped together so that none is left behind.

Each child runs in a new session (its own process group): Ctrl-C at the terminal reaches the
demo only, which stops the children in order, and a child's own children (a process group
is inherited) go with it. Its output (stdout and stderr) is copied line by line into its log
file in the run folder by a reader thread, which also watches for the line that says the
child is ready. ``stop`` sends SIGTERM to every group (the llmobs servers stop on it with exit
0, llmbench writes its partial result and exits 130, Prometheus shuts down), waits, and kills
what is still there.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from llmobs.errors import LlmobsError

STOP_TIMEOUT_S = 30.0  # llmbench writes its records and plots before it exits
TAIL_LINES = 8
EXIT_WAIT_S = 10.0  # from a child's output ending to its exit status


class StackError(LlmobsError):
    """A child that could not start: the message names it and quotes its last lines."""

    reason = "demo_child"


@dataclass(eq=False)
class Child:
    """One child process and what it said."""

    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[str]
    pattern: re.Pattern[str] | None
    match: re.Match[str] | None = None
    lines: list[str] = field(default_factory=list)
    said: threading.Event = field(default_factory=threading.Event)  # ready, or its output ended

    @property
    def pid(self) -> int:
        return self.proc.pid

    def tail(self) -> str:
        return "".join(self.lines[-TAIL_LINES:]).rstrip()


def llmobs_argv(*args: str) -> list[str]:
    """``llmobs ARGS`` run by this Python."""
    return [sys.executable, "-m", "llmobs", *args]


def llmbench_argv(*args: str) -> list[str]:
    """``llmbench ARGS`` run by this Python (the console script's entry module)."""
    return [sys.executable, "-m", "llmobs.cli.entry", *args]


def _copy(child: Child, stream: IO[str], log: IO[str]) -> None:
    """The reader thread: every line into the log; the first that matches marks it ready."""
    with log, stream:
        for line in stream:
            log.write(line)
            log.flush()
            child.lines.append(line)
            del child.lines[:-100]
            if child.match is None and child.pattern is not None:
                child.match = child.pattern.search(line)
                if child.match is not None:
                    child.said.set()
    child.said.set()


class Stack:
    """The children of one demo run, stopped together (also as a context manager)."""

    def __init__(self, folder: Path, stop_timeout_s: float = STOP_TIMEOUT_S) -> None:
        self.folder = folder
        self.stop_timeout_s = stop_timeout_s  # how long a child may take to stop on SIGTERM
        self.children: list[Child] = []

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spawn(self, name: str, argv: list[str], ready: str | None = None) -> Child:
        """Start ``argv`` as ``name`` (its log is ``folder/logs/NAME.log``); ``ready`` is a
        regular expression for the line that says it is up (see ``wait``).

        Raises:
            StackError: the program cannot be run.
        """
        logs = self.folder / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        path = logs / f"{name}.log"
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        except OSError as exc:
            raise StackError(f"cannot start {name} ({argv[0]}): {exc.strerror or exc}") from None
        child = Child(name, argv, path, proc, re.compile(ready) if ready else None)
        self.children.append(child)
        assert proc.stdout is not None
        log = path.open("w", encoding="utf-8")
        threading.Thread(
            target=_copy, args=(child, proc.stdout, log), name=f"log {name}", daemon=True
        ).start()
        return child

    def wait(self, child: Child, timeout: float) -> re.Match[str]:
        """The ready line's match, once ``child`` prints it.

        Raises:
            StackError: it exited or did not say it was ready within ``timeout`` seconds.
        """
        if not child.said.wait(timeout) or child.match is None:
            if child.said.is_set():  # its output ended: it is exiting, its status follows
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.proc.wait(timeout=EXIT_WAIT_S)
            how = (
                f"exited with status {child.proc.returncode}"
                if child.proc.returncode is not None
                else f"did not say it was ready within {timeout:g}s"
            )
            said = child.tail()
            quoted = f"; its last lines:\n{said}" if said else ""
            raise StackError(f"{child.name} {how} (log: {child.log}){quoted}")
        return child.match

    def start(self, name: str, argv: list[str], ready: str, timeout: float) -> re.Match[str]:
        """``spawn`` then ``wait``. Raises StackError."""
        return self.wait(self.spawn(name, argv, ready), timeout)

    def stop(self) -> None:
        """Stop every child: all are signalled at once, then each is waited for."""
        for child in self.children:
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for child in self.children:
            try:
                child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)

    def processes(self) -> list[dict[str, object]]:
        """Each child's name, pid (its process group) and exit status (None: running)."""
        return [{"name": c.name, "pid": c.pid, "exit_status": c.proc.poll()} for c in self.children]
