"""Waiting for an absolute time on the event loop's monotonic clock.

``asyncio.sleep(delay)`` computes its deadline when it is called; a schedule kept in absolute
times (the emulator's model clock, llmbench's send times) wants the deadline itself, so that
lateness never accumulates from one wait to the next.
"""

from __future__ import annotations

import asyncio


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
