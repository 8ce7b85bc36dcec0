"""SIGTERM as Ctrl-C, and Ctrl-C heard however a command was started.

One rule for every command that measures (``llmbench run``/``sweep``, ``llmobs scrape``):
SIGTERM (a pod stopping, ``timeout``, ``kill``) stops it as Ctrl-C does, so what was measured
is printed and saved and the exit status is 130. The servers (``llmobs sim``, ``llmobs
exporter``) install their own handlers: a requested stop is how a server ends, exit 0.
"""

from __future__ import annotations

import contextlib
import signal
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
