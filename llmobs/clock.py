"""Time, read through one seam: a real clock for servers, a virtual one for simulations.

The scrape loops, the exporter and the role core never call ``time`` themselves; they ask a
``Clock``. ``SystemClock`` reads the machine's monotonic and wall clocks; ``VirtualClock`` is
moved by its owner (the virtual-time cluster, a test), so the same code runs an hour of
traffic in seconds and gives the same answers.

``sleep_until`` waits for an absolute time on the event loop's monotonic clock:
``asyncio.sleep(delay)`` computes its deadline when it is called; a schedule kept in absolute
times (the emulator's model clock, llmbench's send times) wants the deadline itself, so that
lateness never accumulates from one wait to the next.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol


class Clock(Protocol):
    """Monotonic seconds (for intervals and windows) and Unix seconds (for timestamps)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back; only differences mean anything."""
        ...

    def wall(self) -> float:
        """Unix time in seconds, for timestamps that leave the process."""
        ...


class SystemClock:
    """The machine's clocks."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()


class VirtualClock:
    """A clock that moves only when told to: ``advance`` or ``set``.

    ``wall`` is ``epoch`` plus the monotonic reading, so both move together.
    """

    def __init__(self, start: float = 0.0, epoch: float = 0.0) -> None:
        self._now = start
        self._epoch = epoch

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._epoch + self._now

    def advance(self, seconds: float) -> float:
        """Move forward by ``seconds`` (not negative); returns the new reading."""
        if seconds < 0:
            raise ValueError(f"a clock does not go back: advance({seconds})")
        self._now += seconds
        return self._now

    def set(self, now: float) -> None:
        """Move to ``now``, which must not be earlier than the current reading."""
        if now < self._now:
            raise ValueError(f"a clock does not go back: {now} < {self._now}")
        self._now = now


SYSTEM = SystemClock()


async def sleep_until(when: float) -> None:
    """Return at ``when`` (``loop.time()`` seconds), or at once if it has passed."""
    loop = asyncio.get_running_loop()
    if when <= loop.time():
        return
    done = loop.create_future()
    handle = loop.call_at(when, done.set_result, None)
    try:
        await done
    finally:
        handle.cancel()
