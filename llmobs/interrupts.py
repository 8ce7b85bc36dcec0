"""SIGTERM as Ctrl-C, Ctrl-C heard however a command was started, and a quiet end after one.

One rule for every command that measures (``llmbench run``/``sweep``, ``llmobs scrape``):
SIGTERM (a pod stopping, ``timeout``, ``kill``) stops it as Ctrl-C does, so what was measured
is printed and saved and the exit status is 130. The servers (``llmobs sim``, ``llmobs
exporter``) install their own handlers: a requested stop is how a server ends, exit 0.

An interrupt lands between any two bytecodes, also inside ``asyncio.run`` building or closing
its loop; the half-built objects it leaves complain as they are collected ("Exception ignored
in ... BaseEventLoop.__del__", "coroutine ... was never awaited"). Whoever catches the
``KeyboardInterrupt`` calls ``noted()`` first: from then on those complaints are not printed,
since the process is ending and the user was told why in one line.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import warnings
from collections.abc import Iterator
from types import FrameType


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM ends the command as Ctrl-C does.

    SIGINT is heard however we were started: a non-interactive shell starts ``cmd ... &``
    with SIGINT ignored, and asyncio only takes over SIGINT from Python's default handler.
    SIGTERM calls whatever handles SIGINT at that moment (Python's, which raises
    ``KeyboardInterrupt``; asyncio's, which cancels the main task; nothing while a result is
    being written)."""

    def handler(signum: int, frame: FrameType | None) -> None:
        noted()
        current = signal.getsignal(signal.SIGINT)
        if callable(current):
            current(signal.SIGINT, frame)

    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def _silent(unraisable: sys.UnraisableHookArgs) -> None:
    """Objects collected after an interrupt: nothing to say."""


def noted() -> None:
    """The process was interrupted and is ending: objects the interrupt cut off half-built
    are collected without printing (``sys.unraisablehook``, never-awaited coroutines)."""
    sys.unraisablehook = _silent
    warnings.filterwarnings("ignore", message="coroutine .* was never awaited")
