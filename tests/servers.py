"""Real HTTP servers on 127.0.0.1 for tests: aiohttp in a background thread.

Each server binds its own socket on port 0 (no port race) and serves until closed. Handlers
are real aiohttp handlers, so clients talk real HTTP: status codes, chunking, gzip, resets.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from pathlib import Path
from typing import Self

import pytest
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def free_port() -> int:
    """A port that was free a moment ago, for external programs that need a number.

    In-process servers bind port 0 themselves instead (see ``HTTPServer``).
    """
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def free_port_run(count: int) -> int:
    """The first of ``count`` consecutive ports that were all free a moment ago (for
    ``llmobs sim --pd``, whose instances listen on the ports after its own)."""
    for _ in range(50):
        base = free_port()
        socks = []
        try:
            for offset in range(count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                socks.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError(f"no run of {count} free ports found on 127.0.0.1")


def wait_until(
    predicate: Callable[[], bool], timeout: float, what: str, log: Path | None = None
) -> None:
    """Poll ``predicate`` until it is true; fail with ``what`` (and the log's end) at the
    deadline. Readiness is always a condition, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    tail = log.read_text(errors="replace")[-3000:] if log is not None and log.exists() else ""
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{tail}")


class HTTPServer:
    """An aiohttp app on 127.0.0.1 in its own thread and event loop.

    Give ``routes`` (path to handler) or a ready ``app``; ``make_app`` builds one inside the
    server's loop, for apps whose objects must be created there.
    """

    def __init__(
        self, routes: dict[str, Handler] | None = None, app: web.Application | None = None
    ) -> None:
        if app is None:
            app = web.Application()
            for path, handler in (routes or {}).items():
                app.router.add_route("*", path, handler)
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port: int = self.sock.getsockname()[1]
        self.runner = web.AppRunner(
            self.app, handle_signals=False, shutdown_timeout=0.5, access_log=None
        )
        self.stopping = asyncio.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        started = threading.Event()
        self._started = started
        self.thread.start()
        if not started.wait(10):
            raise RuntimeError("test HTTP server did not start")

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        await self.runner.setup()
        site = web.SockSite(self.runner, self.sock)
        await site.start()
        self._started.set()
        await self.stopping.wait()
        await self.runner.cleanup()
        # handlers still waiting (a target that never answers) are cancelled, not abandoned
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.stopping.set)
        self.thread.join(10)
        self.loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
