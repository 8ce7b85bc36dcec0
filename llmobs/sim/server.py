"""The HTTP face of one emulated engine: vLLM's OpenAI server, route for route.

``/v1/models``, ``/v1/completions``, ``/v1/chat/completions`` (SSE and plain),
``/tokenize``, ``/detokenize``, ``/health``, ``/ping``, ``/version``, ``/load`` and
``/metrics``, with vLLM's status codes, error bodies and headers. With the ``kv_transfer_params``
of vLLM's disaggregated serving, a prefill instance hands out its KV cache and a decode
instance pulls it before decoding.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from llmobs import strictjson
from llmobs.sim import openai_api as api
from llmobs.sim.httpmetrics import middleware as http_metrics
from llmobs.sim.instance import Instance
from llmobs.sim.openai_request import (
    ApiError,
    Generation,
    check_model,
    decode_body,
    parse_generation,
    token_ids,
)
from llmobs.sim.prefix import block_hashes
from llmobs.sim.realtime import Delivery, RealtimeEngine
from llmobs.sim.request import SimRequest

JSON = "application/json"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(body: object, status: int = 200) -> web.Response:
    text = (
        body
        if isinstance(body, str)
        else strictjson.dumps(body, ensure_ascii=False, separators=(",", ":"))
    )
    return web.Response(body=text.encode(), status=status, headers={"Content-Type": JSON})


@web.middleware
async def engine_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """vLLM's (FastAPI's) error bodies and headers instead of aiohttp's."""
    try:
        response = await handler(request)
    except ApiError as exc:
        response = json_response(exc.body(), exc.status)
    except web.HTTPMethodNotAllowed as exc:
        response = json_response({"detail": "Method Not Allowed"}, 405)
        response.headers["allow"] = ", ".join(sorted(exc.allowed_methods))
    except web.HTTPNotFound:
        response = json_response({"detail": "Not Found"}, 404)
    response.headers["Server"] = "uvicorn"
    response.headers["vary"] = "Origin"
    return response


class EngineServer:
    """Routes of one instance, bound to its real-time engine."""

    def __init__(
        self, instance: Instance, engine: RealtimeEngine, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.instance = instance
        self.engine = engine
        self.host = host
        self.port = port
        self.in_flight = 0
        self.idle = asyncio.Event()  # set whenever no request is in flight
        self.idle.set()

    def app(self) -> web.Application:
        app = web.Application(
            middlewares=[http_metrics(self.instance.http), engine_errors],
            client_max_size=64 * 1024 * 1024,
        )
        get, post = app.router.add_get, app.router.add_post
        get("/health", self.health)
        get("/ping", self.health)
        post("/ping", self.health)
        get("/version", self.version)
        get("/load", self.load)
        get("/v1/models", self.models)
        post("/v1/completions", self.completions)
        post("/v1/chat/completions", self.chat)
        post("/tokenize", self.tokenize)
        post("/detokenize", self.detokenize)
        get("/metrics", self.metrics)
        get("/sim/lag", self.lag)
        get("/sim/arrivals", self.arrivals)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        self.engine.start()

    async def _stop(self, app: web.Application) -> None:
        await self.engine.stop()

    # -- small routes -----------------------------------------------------------------------
    async def health(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def version(self, request: web.Request) -> web.Response:
        return json_response({"version": self.instance.settings.version})

    async def load(self, request: web.Request) -> web.Response:
        return json_response({"server_load": 0})

    async def models(self, request: web.Request) -> web.Response:
        now = int(time.time())
        r = self.instance.resolved
        return json_response(
            {
                "object": "list",
                "data": [
                    {
                        "id": r.served_name,
                        "object": "model",
                        "created": now,
                        "owned_by": "vllm",
                        "root": r.model.hf_name,
                        "parent": None,
                        "max_model_len": r.max_model_len,
                        "permission": [
                            {
                                "id": f"modelperm-{secrets.token_hex(8)}",
                                "object": "model_permission",
                                "created": now,
                                "allow_create_engine": False,
                                "allow_sampling": True,
                                "allow_logprobs": True,
                                "allow_search_indices": False,
                                "allow_view": True,
                                "allow_fine_tuning": False,
                                "organization": "*",
                                "group": None,
                                "is_blocking": False,
                            }
                        ],
                    }
                ],
            }
        )

    async def metrics(self, request: web.Request) -> web.Response:
        if not self.instance.serves_metrics:
            raise web.HTTPNotFound()  # SGLang without --enable-metrics has no such route
        return web.Response(
            body=self.instance.metrics_text(), headers={"Content-Type": self.instance.content_type}
        )

    async def lag(self, request: web.Request) -> web.Response:
        """The emulator's own health: how late its steps completed against the model clock
        (not an engine route; what benchmarks/sim_realtime.py reads)."""
        lag = self.engine.lag
        ordered = sorted(lag.samples)
        p99 = ordered[int(0.99 * (len(ordered) - 1))] if ordered else 0.0
        return json_response(
            {
                "steps": lag.steps,
                "late_steps": lag.late_steps,
                "resyncs": lag.resyncs,
                "worst_s": lag.worst,
                "mean_s": lag.total / lag.steps if lag.steps else 0.0,
                "p99_s": p99,
            }
        )

    async def arrivals(self, request: web.Request) -> web.Response:
        """When requests arrived, in seconds after the first (the emulator's monotonic clock):
        the server-side truth a load generator's achieved rate is checked against; and, in
        fixed-latency mode, how long after its arrival each first token really went out."""
        times = list(self.engine.arrivals)
        first = times[0] if times else 0.0
        span = times[-1] - first if len(times) > 1 else None
        return json_response(
            {
                "count": len(times),
                "span_s": span,
                "rate": (len(times) - 1) / span if span else None,
                "times": [round(t - first, 6) for t in times],
                "first_token_s": [round(t, 6) for t in self.engine.first_tokens],
            }
        )

    async def _body(self, request: web.Request) -> dict[str, Any]:
        return decode_body(await request.read(), request.headers.get("Content-Type"))

    async def tokenize(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        check_model(body, self.instance.resolved.served_name)
        tok = self.instance.tokenizer
        if "messages" in body and isinstance(body["messages"], list):
            ids = tok.encode(tok.render_chat(body["messages"]), special=False)
        elif isinstance(body.get("prompt"), str):
            ids = tok.encode(body["prompt"])
        else:
            raise ApiError(
                400,
                "1 validation error:\n  {'type': 'missing', 'loc': "
                "'body.prompt', 'msg': 'Field required'}",
                "Bad Request",
                "body.prompt",
            )
        return json_response(
            {
                "count": len(ids),
                "max_model_len": self.instance.resolved.max_model_len,
                "tokens": ids,
                "token_strs": None,
            }
        )

    async def detokenize(self, request: web.Request) -> web.Response:
        body = await self._body(request)
        if not isinstance(body.get("tokens"), list):
            raise ApiError(
                400,
                "1 validation error:\n  {'type': 'missing', 'loc': "
                "'body.tokens', 'msg': 'Field required'}",
                "Bad Request",
                "body.tokens",
            )
        tok = self.instance.tokenizer
        vocab_max = max(tok.max_token_id, self.instance.resolved.model.vocab_size - 1)
        ids = token_ids(body["tokens"], vocab_max)
        decode = getattr(tok, "decode", None)
        text = decode(ids) if callable(decode) else ""
        return json_response({"prompt": text})

    # -- generation -------------------------------------------------------------------------
    async def completions(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=False)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self._generate(request, chat=True)

    def _request(self, g: Generation) -> SimRequest:
        inst = self.instance
        s = inst.settings
        req = SimRequest(
            id=g.request_id,
            prompt_tokens=len(g.prompt_ids),
            max_tokens=g.max_tokens,
            arrival=self.engine.now(),
            block_hashes=block_hashes(g.prompt_ids, s.block_size),
            finish_reason=g.finish_reason,
            model=g.model,
        )
        kv = g.kv_transfer_params
        if kv and kv.get("do_remote_prefill"):
            req.remote_prefill = True
            req.transfer_s = inst.resolved.perf.kv_transfer_time(
                len(g.prompt_ids), s.kv_link_gbps, s.kv_link_latency_ms / 1000
            )
            inst.stats.last_kv_transfer_s = req.transfer_s
            inst.stats.last_kv_transfer_bytes = (
                len(g.prompt_ids) * inst.resolved.model.kv_bytes_per_token
            )
        return req

    def _kv_handout(self, g: Generation) -> dict[str, Any] | None:
        """What a prefill instance answers for vLLM's P/D proxy to pass to the decoder."""
        kv = g.kv_transfer_params
        if not kv or not kv.get("do_remote_decode"):
            return None
        blocks = -(-len(g.prompt_ids) // self.instance.settings.block_size)
        return {
            "do_remote_prefill": True,
            "do_remote_decode": False,
            "remote_block_ids": list(range(blocks)),
            "remote_engine_id": self.instance.name,
            "remote_host": self.host,
            "remote_port": self.port,
            "tp_size": self.instance.settings.tensor_parallel_size,
        }

    async def _generate(self, request: web.Request, chat: bool) -> web.StreamResponse:
        inst = self.instance
        body = await self._body(request)
        g = parse_generation(
            body,
            chat=chat,
            served=inst.resolved.served_name,
            max_model_len=inst.resolved.max_model_len,
            tokenizer=inst.tokenizer,
            default_output_tokens=inst.settings.default_output_tokens,
            request_id=request.headers.get("X-Request-Id"),
        )
        req = self._request(g)
        self.in_flight += 1
        self.idle.clear()
        try:
            delivery = self.engine.submit(req)
            if g.stream:
                return await self._stream(request, g, req, delivery)
            return await self._whole(g, req, delivery)
        finally:
            self.in_flight -= 1
            if self.in_flight == 0:
                self.idle.set()

    async def _whole(self, g: Generation, req: SimRequest, delivery: Delivery) -> web.Response:
        try:
            while True:
                _, finished = await delivery.take()
                if finished:
                    break
        except asyncio.CancelledError:
            self.engine.abort(req)
            raise
        text = "".join(self.instance.tokenizer.output_text(0, req.num_output))
        return web.Response(
            body=api.completion_json(
                g,
                text,
                req.prompt_tokens,
                req.num_output,
                req.finish_reason,
                self.instance.settings.version,
                self._kv_handout(g),
            ).encode(),
            headers={"Content-Type": JSON},
        )

    async def _stream(
        self, request: web.Request, g: Generation, req: SimRequest, delivery: Delivery
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
        response.enable_chunked_encoding()
        stream = api.Stream(g, req.prompt_tokens, self.instance.settings.version)
        output = self.instance.tokenizer.output_text
        try:
            await response.prepare(request)
            first = stream.start()
            if first:
                await response.write(first)
            sent = 0
            while True:
                tokens, finished = await delivery.take()
                if tokens:
                    texts = output(sent, tokens)
                    sent += tokens
                    await response.write(
                        stream.tokens(texts, req.finish_reason if finished else None)
                    )
                elif finished:
                    await response.write(stream.tokens([], req.finish_reason))
                if finished:
                    break
            await response.write_eof()
        except ConnectionResetError:
            self.engine.abort(req)  # the client went away: vLLM aborts the request
        except asyncio.CancelledError:
            self.engine.abort(req)
            raise
        return response
