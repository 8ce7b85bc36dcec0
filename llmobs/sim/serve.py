"""Run emulated engines as HTTP servers until stopped: the shell around ``EngineServer``."""

from __future__ import annotations

import asyncio
import socket
import time

from aiohttp import web

from llmobs.errors import ConfigError
from llmobs.sim.config import Resolved
from llmobs.sim.instance import Instance
from llmobs.sim.realtime import RealtimeEngine
from llmobs.sim.server import EngineServer


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a ConfigError that says the port is taken (or no port)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as exc:
        sock.close()
        why = exc.strerror if isinstance(exc, OSError) else "no such port (0 to 65535)"
        raise ConfigError(f"cannot listen on {host}:{port}: {why}; pick another --port") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


class Running:
    """One instance served on a socket; ``close()`` stops it."""

    def __init__(self, server: EngineServer, runner: web.AppRunner, sock: socket.socket) -> None:
        self.server = server
        self.runner = runner
        self.sock = sock
        self.port = int(sock.getsockname()[1])  # read once: a closing server still has it

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_instance(
    resolved: Resolved, sock: socket.socket, *, role: str = "both", name: str = "engine-0"
) -> Running:
    loop = asyncio.get_running_loop()
    wall_offset = time.time() - loop.time()
    instance = Instance(
        resolved, role=role, name=name, started_at=time.time(), now=lambda: loop.time()
    )
    instance.stats.started_at = loop.time() + wall_offset
    host, port = sock.getsockname()[:2]
    server = EngineServer(instance, RealtimeEngine(instance), host, port)
    runner = web.AppRunner(
        server.app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
    )
    await runner.setup()
    await web.SockSite(runner, sock).start()
    return Running(server, runner, sock)
