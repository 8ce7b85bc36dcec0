"""A scripted OpenAI-compatible server for tests: real HTTP and real SSE, with faults.

The prompt says what the server does, so one run can mix good and bad requests:

* ``ok``          stream ``max_tokens`` tokens, one a chunk, usage on every chunk, then a usage
                  chunk and ``[DONE]`` (vLLM's shape with ``continuous_usage_stats``)
* ``multi``       two tokens a chunk
* ``nousage``     no usage anywhere
* ``short``       stop after half the tokens asked for
* ``malformed``   one good chunk, then a ``data:`` line that is not JSON
* ``cut``         one good chunk, then hang up mid-event
* ``errorevent``  an ``{"error": ...}`` event in the stream (vLLM does this mid-stream)
* ``http500``     HTTP 500 with a JSON error body
* ``slow``        wait ``slow_s`` before the first token
* ``reasoning``   (chat) half the tokens as ``reasoning_content`` deltas, then the answer

``mode`` makes every request behave one way, whatever its prompt; ``models=False`` answers
``/v1/models`` with 404, as some gateways do. ``/tokenize`` counts words
plus ``tokenize_extra`` (like a BOS token), when enabled.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.servers import Handler, HTTPServer

MODEL = "fake-model"


def _chunk(
    text: str, chat: bool, usage: dict[str, int] | None = None, key: str = "content"
) -> bytes:
    choice: dict[str, Any] = (
        {"index": 0, "delta": {key: text}, "finish_reason": None}
        if chat
        else {"index": 0, "text": text, "finish_reason": None}
    )
    event: dict[str, Any] = {"id": "x", "object": "chunk", "model": MODEL, "choices": [choice]}
    if usage is not None:
        event["usage"] = usage
    return b"data: " + json.dumps(event).encode() + b"\n\n"


class FakeOpenAI(HTTPServer):
    def __init__(
        self,
        *,
        mode: str | None = None,
        models: bool = True,
        tokenize_extra: int | None = None,
        slow_s: float = 0.2,
        gap_s: float = 0.002,
    ) -> None:
        self.mode = mode
        self.serve_models = models
        self.tokenize_extra = tokenize_extra
        self.slow_s = slow_s
        self.gap_s = gap_s
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        super().__init__(self._routes())

    @property
    def base_url(self) -> str:
        return self.url("")

    def _routes(self) -> dict[str, Handler]:
        async def models(request: web.Request) -> web.StreamResponse:
            if not self.serve_models:
                return web.Response(status=404, text="404 page not found")
            return web.json_response({"object": "list", "data": [{"id": MODEL}]})

        async def tokenize(request: web.Request) -> web.StreamResponse:
            if self.tokenize_extra is None:
                return web.json_response({"detail": "Not Found"}, status=404)
            body = await request.json()
            count = len(str(body["prompt"]).split()) + self.tokenize_extra
            return web.json_response({"count": count, "tokens": list(range(count))})

        async def completions(request: web.Request) -> web.StreamResponse:
            return await self._generate(request, chat=False)

        async def chat(request: web.Request) -> web.StreamResponse:
            return await self._generate(request, chat=True)

        return {
            "/v1/models": models,
            "/tokenize": tokenize,
            "/v1/completions": completions,
            "/v1/chat/completions": chat,
        }

    async def _generate(self, request: web.Request, chat: bool) -> web.StreamResponse:
        body = await request.json()
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        prompt = body["messages"][0]["content"] if chat else body["prompt"]
        mode = self.mode or str(prompt).split()[0]
        wanted = int(body.get("max_completion_tokens") or body.get("max_tokens") or 4)
        prompt_tokens = len(str(prompt).split())
        if mode == "http500":
            return web.json_response(
                {"object": "error", "message": "engine exploded: KV cache full", "code": 500},
                status=500,
            )
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if chat:  # the role chunk a chat stream opens with: not a token
            role = {"index": 0, "delta": {"role": "assistant", "content": ""}}
            opening = {"id": "x", "model": MODEL, "choices": [role]}
            await response.write(b"data: " + json.dumps(opening).encode() + b"\n\n")
        if mode == "slow":
            await asyncio.sleep(self.slow_s)
        step = 2 if mode == "multi" else 1
        total = wanted // 2 if mode == "short" else wanted
        sent = 0
        while sent < total:
            n = min(step, total - sent)
            sent += n
            usage = (
                None
                if mode == "nousage"
                else {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": sent,
                    "total_tokens": prompt_tokens + sent,
                }
            )
            key = "reasoning_content" if mode == "reasoning" and sent <= total // 2 else "content"
            await response.write(_chunk(" tok" * n, chat, usage, key))
            if mode == "malformed":
                await response.write(b"data: {this is not json\n\n")
                return response
            if mode == "cut":
                await response.write(b'data: {"choices": [{"te')
                assert request.transport is not None
                request.transport.close()
                return response
            if mode == "errorevent":
                error = {"error": {"message": "decode failed", "code": 500}}
                await response.write(b"data: " + json.dumps(error).encode() + b"\n\n")
                return response
            await asyncio.sleep(self.gap_s)
        if mode != "nousage":
            final = {
                "id": "x",
                "model": MODEL,
                "choices": [],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": sent,
                    "total_tokens": prompt_tokens + sent,
                },
            }
            await response.write(b"data: " + json.dumps(final).encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response
