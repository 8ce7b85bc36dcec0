"""A fake engine target for tests: real HTTP, real bodies, and every fault a scrape can meet.

``/metrics`` serves the given bodies one per request (the last one repeats), so a test can
script what two scrapes a window apart see. The other paths misbehave on purpose.
"""

from __future__ import annotations

import asyncio
import gzip

from aiohttp import web

from tests.servers import Handler, HTTPServer


class FakeTarget(HTTPServer):
    def __init__(self, bodies: list[str], content_type: str = "text/plain; version=0.0.4") -> None:
        self.bodies = list(bodies)
        self.content_type = content_type
        self.requests = 0
        self.accept_headers: list[str] = []
        super().__init__(self._routes())

    def _routes(self) -> dict[str, Handler]:
        async def metrics(request: web.Request) -> web.StreamResponse:
            self.accept_headers.append(request.headers.get("Accept", ""))
            body = self.bodies[min(self.requests, len(self.bodies) - 1)]
            self.requests += 1
            return web.Response(body=body.encode(), headers={"Content-Type": self.content_type})

        async def status500(request: web.Request) -> web.StreamResponse:
            return web.Response(status=500, text="engine exploded")

        async def slow(request: web.Request) -> web.StreamResponse:
            await asyncio.Event().wait()  # never answers; cancelled when the server closes
            raise AssertionError("unreachable")

        async def html(request: web.Request) -> web.StreamResponse:
            return web.Response(
                text="<!DOCTYPE html><html><body>Grafana</body></html>\n", content_type="text/html"
            )

        async def truncated(request: web.Request) -> web.StreamResponse:
            body = self.bodies[0].encode()
            response = web.StreamResponse(headers={"Content-Length": str(len(body))})
            await response.prepare(request)
            await response.write(body[: len(body) // 2])
            assert request.transport is not None
            request.transport.close()  # hang up with half the promised bytes sent
            return response

        async def huge(request: web.Request) -> web.StreamResponse:
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            line = b"# filler comment to make the body large\n" * 1000
            for _ in range(400):  # about 16 MB, chunked: no Content-Length to refuse early
                await response.write(line)
            await response.write_eof()
            return response

        async def gzipped(request: web.Request) -> web.StreamResponse:
            return web.Response(
                body=gzip.compress(self.bodies[0].encode()),
                headers={"Content-Encoding": "gzip", "Content-Type": "text/plain; version=0.0.4"},
            )

        async def redirect(request: web.Request) -> web.StreamResponse:
            raise web.HTTPFound("/metrics")

        return {
            "/metrics": metrics,
            "/status500": status500,
            "/slow": slow,
            "/html": html,
            "/truncated": truncated,
            "/huge": huge,
            "/gzip": gzipped,
            "/redirect": redirect,
        }
