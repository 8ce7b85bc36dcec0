"""Targets that misbehave at the HTTP level, for scrape tests: real servers on 127.0.0.1.

``HostileTarget`` serves a body behind basic auth (its 401 echoes the Authorization header
it got, as careless servers do) and the faults a scrape must name: an HTML page with no
final newline, JSON, a body that is not the gzip it claims, a redirect loop, a request that
is never answered (``hanging`` says when one arrived). ``SilentPort``
is a socket that the kernel accepts connections on and nobody ever answers.
"""

from __future__ import annotations

import asyncio
import base64
import socket
import threading
from typing import Self

from aiohttp import web

from tests.servers import Handler, HTTPServer

USER = "admin"
PASSWORD = "s3cretPW"


class HostileTarget(HTTPServer):
    def __init__(self, body: str, user: str = USER, password: str = PASSWORD) -> None:
        self.body = body
        self.expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        self.authorizations: list[str | None] = []
        self.hanging = threading.Event()  # set once a request to /hang has arrived
        super().__init__(self._routes())

    def _routes(self) -> dict[str, Handler]:
        async def private(request: web.Request) -> web.StreamResponse:
            got = request.headers.get("Authorization")
            self.authorizations.append(got)
            if got != self.expected:
                return web.Response(
                    status=401,
                    text=f"unauthorized: you sent Authorization: {got}",
                    headers={"WWW-Authenticate": 'Basic realm="metrics"'},
                )
            return web.Response(text=self.body, content_type="text/plain")

        async def html(request: web.Request) -> web.StreamResponse:
            # A login page: its last line has no newline, which reads as a cut body.
            return web.Response(text="<html><body>Sign in</body></html>", content_type="text/html")

        async def as_json(request: web.Request) -> web.StreamResponse:
            return web.json_response({"status": "ok"})

        async def bad_gzip(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=b"this is not gzip at all\n" * 4,
                headers={"Content-Encoding": "gzip", "Content-Type": "text/plain"},
            )

        async def loop_a(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound("/loop-b")

        async def loop_b(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound("/loop-a")

        async def hang(request: web.Request) -> web.StreamResponse:
            self.hanging.set()
            await asyncio.Event().wait()  # never answers; cancelled when the server closes
            raise AssertionError("unreachable")

        return {
            "/metrics": private,
            "/hang": hang,
            "/login": html,
            "/json": as_json,
            "/bad-gzip": bad_gzip,
            "/loop-a": loop_a,
            "/loop-b": loop_b,
        }

    def url(self, path: str, userinfo: str | None = None) -> str:
        at = f"{userinfo}@" if userinfo is not None else ""
        return f"http://{at}127.0.0.1:{self.port}{path}"


class SilentPort:
    """A listening socket never accepted from: connections open (the kernel completes the
    handshake into the backlog) and no byte ever comes back."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port: int = self.sock.getsockname()[1]

    def url(self, path: str = "/metrics") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
