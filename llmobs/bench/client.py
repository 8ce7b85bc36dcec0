"""One request against an OpenAI-compatible server, timed as it streams.

The request asks for a stream with usage (``include_usage``, ``continuous_usage_stats`` so
each chunk says how many tokens it carried) and ``ignore_eos``; every content chunk's arrival
is recorded. A chat stream's opening role chunk is not a token and is not counted (vLLM's own
client counts it, which adds a spurious interval: vllm PR 46652). Failures never raise: an
HTTP error, a broken connection or a malformed event fails this request only, with its kind
(``http_404``, ``connection``, ``malformed_sse``, ...) on the record.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import aiohttp

from llmobs.bench.records import RequestRecord
from llmobs.bench.sse import SSEParser

Clock = Callable[[], float]


def payload(
    model: str,
    prompt: str | list[int],
    max_tokens: int,
    chat: bool,
    extra: dict[str, Any] | None = None,
) -> bytes:
    body: dict[str, Any] = {
        "model": model,
        "stream": True,
        "ignore_eos": True,
        "stream_options": {"include_usage": True, "continuous_usage_stats": True},
    }
    if chat:
        body["messages"] = [{"role": "user", "content": prompt}]
        body["max_completion_tokens"] = max_tokens
    else:
        body["prompt"] = prompt
        body["max_tokens"] = max_tokens
    if extra:
        body.update(extra)
    return json.dumps(body).encode()


GENERATED = ("content", "reasoning_content", "reasoning", "tool_calls")


def _content(event: dict[str, Any], chat: bool) -> bool:
    """Whether a chunk carries generated output: text, reasoning (vLLM's reasoning parsers
    stream it apart from the answer) or tool calls, even a token that prints nothing. A
    chat stream's opening chunk (a role and empty content) is not."""
    choices = event.get("choices")
    if not choices:
        return False
    choice = choices[0]
    if not chat:
        return "text" in choice
    delta = choice.get("delta") or {}
    if (
        delta.get("role")
        and not delta.get("content")
        and not any(delta.get(k) for k in GENERATED[1:])
    ):
        return False
    return any(delta.get(k) is not None for k in GENERATED)


async def send(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    record: RequestRecord,
    clock: Clock,
    chat: bool,
) -> None:
    """Send one request and fill ``record`` in; never raises for the request's failures.

    ``record.sent`` is taken when the body has been written to the socket (``sent_hook``,
    on the session's trace config); until then it holds the time the request was started, so
    a request that never got written still has one."""
    record.sent = clock()
    try:
        async with session.post(
            url, data=body, headers=headers, trace_request_ctx=record
        ) as response:
            record.status = response.status
            if response.status != 200:
                text = (await response.content.read(2000)).decode("utf-8", "replace")
                record.error = f"HTTP {response.status}: {text.strip()[:500]}"
                record.error_kind = f"http_{response.status}"
                return
            await _read_stream(response, record, clock, chat)
    except asyncio.CancelledError:
        record.error = "cancelled before it finished (the run was interrupted)"
        record.error_kind = "cancelled"
        raise
    except TimeoutError:
        record.error = "timed out"
        record.error_kind = "timeout"
    except aiohttp.ClientPayloadError as exc:
        record.error = f"the stream was cut short: {exc}"
        record.error_kind = "truncated"
    except aiohttp.ClientError as exc:
        record.error = f"{type(exc).__name__}: {exc}"
        record.error_kind = "connection"
    finally:
        record.done = clock()


def sent_hook(clock: Clock) -> aiohttp.TraceConfig:
    """Stamps ``record.sent`` when the request body is on the wire (building the request in
    the client, about 0.35 ms and up to 1 ms in aiohttp, is not the server's latency), and
    ``record.connect`` with the time spent opening a new connection, when one was opened."""

    async def written(
        session: aiohttp.ClientSession,
        context: Any,
        params: aiohttp.TraceRequestChunkSentParams,
    ) -> None:
        record = context.trace_request_ctx
        if isinstance(record, RequestRecord):
            record.sent = clock()

    async def connecting(
        session: aiohttp.ClientSession,
        context: Any,
        params: aiohttp.TraceConnectionCreateStartParams,
    ) -> None:
        record = context.trace_request_ctx
        if isinstance(record, RequestRecord):
            record.connect = -clock()

    async def connected(
        session: aiohttp.ClientSession,
        context: Any,
        params: aiohttp.TraceConnectionCreateEndParams,
    ) -> None:
        record = context.trace_request_ctx
        if isinstance(record, RequestRecord) and record.connect is not None:
            record.connect += clock()

    config = aiohttp.TraceConfig()
    config.on_request_chunk_sent.append(written)
    config.on_connection_create_start.append(connecting)
    config.on_connection_create_end.append(connected)
    return config


async def _read_stream(
    response: aiohttp.ClientResponse, record: RequestRecord, clock: Clock, chat: bool
) -> None:
    parser = SSEParser()
    tokens_seen = 0
    done = False
    async for data in response.content.iter_any():
        now = clock()
        for raw in parser.feed(data):
            if raw == b"[DONE]":
                done = True
                continue
            try:
                event = json.loads(raw)
            except ValueError:
                record.error = f"malformed SSE event: {raw[:200].decode('utf-8', 'replace')!r}"
                record.error_kind = "malformed_sse"
                return
            if not isinstance(event, dict):
                record.error = f"unexpected SSE event: {raw[:200].decode('utf-8', 'replace')!r}"
                record.error_kind = "malformed_sse"
                return
            if "error" in event and not event.get("choices"):
                record.error = f"error in the stream: {json.dumps(event['error'])[:500]}"
                record.error_kind = "stream_error"
                return
            usage = event.get("usage")
            if _content(event, chat):
                if record.first_token is None:
                    record.first_token = now
                record.chunk_times.append(now)
                record.end = now
                if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
                    record.chunk_tokens.append(usage["completion_tokens"] - tokens_seen)
                    tokens_seen = usage["completion_tokens"]
                    if isinstance(usage.get("prompt_tokens"), int):
                        record.prompt_tokens = usage["prompt_tokens"]
            if isinstance(usage, dict) and not event.get("choices"):
                record.prompt_tokens = usage.get("prompt_tokens")
                record.output_tokens = usage.get("completion_tokens")
    if parser.pending.strip():
        record.error = "the stream ended inside an event"
        record.error_kind = "truncated"
    elif record.first_token is None:
        record.error = "the stream carried no output" + ("" if done else " and no [DONE]")
        record.error_kind = "empty_response"
    elif record.output_tokens is None:
        # no final usage: count tokens from per-chunk usage, else one per chunk
        record.output_tokens = tokens_seen or len(record.chunk_times)
    if len(record.chunk_tokens) != len(record.chunk_times):
        del record.chunk_tokens[:]  # partial usage is no usage
