"""One request against an OpenAI-compatible server, timed as it streams.

The request asks for a stream with usage (``include_usage``, ``continuous_usage_stats`` so
each chunk says how many tokens it carried) and ``ignore_eos``; every content chunk's arrival
is recorded. A chat stream's opening role chunk is not a token and is not counted (vLLM's own
client counts it, which adds a spurious interval: vllm PR 46652). Failures never raise: an
HTTP error, a broken connection or a malformed event fails this request only, with its kind
(``http_404``, ``connection``, ``malformed_sse``, ...) and a reason that names the cause on the
record. Whatever the server sends back, an API key in it (``Authorization`` echoed in an error
body or a stream error event) is redacted before it reaches the record: ``Failure`` is the one
place server text enters a record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp

from llmobs import strictjson
from llmobs.bench.records import RequestRecord
from llmobs.bench.sse import SSEError, SSEParser, decode
from llmobs.secrets import Redactor

Clock = Callable[[], float]
BODY_READ = 2000  # bytes of an error body read
SHOWN = 500  # characters of server text kept in a record's error
SHOWN_EVENT = 200  # bytes of a bad event quoted


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
    return strictjson.dumps(body).encode()


GENERATED = ("content", "reasoning_content", "reasoning", "tool_calls")


def _content(event: dict[str, Any], chat: bool) -> bool:
    """Whether a chunk carries generated output: text, reasoning (vLLM's reasoning parsers
    stream it apart from the answer) or tool calls, even a token that prints nothing. A
    chat stream's opening chunk (a role and empty content) is not."""
    choices = event.get("choices")
    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
        return False
    choice = choices[0]
    if not chat:
        return "text" in choice
    delta = choice.get("delta") or {}
    if not isinstance(delta, dict):
        return False
    if (
        delta.get("role")
        and not delta.get("content")
        and not any(delta.get(k) for k in GENERATED[1:])
    ):
        return False
    return any(delta.get(k) is not None for k in GENERATED)


class Failure:
    """Fills in a record's error: the one place server text enters a record. Every message
    is redacted (the API key, the whole ``Authorization`` value) before it is cut short."""

    def __init__(self, record: RequestRecord, secrets: tuple[str, ...]) -> None:
        self.record = record
        self.redactor = Redactor(secrets)
        self.needles = [n for s in secrets for n in (s, f"Bearer {s}")]

    def __call__(self, kind: str, message: str) -> None:
        self.record.error = self.redactor.text(message)[:SHOWN]
        self.record.error_kind = kind

    def body(self, raw: bytes, complete: bool) -> str:
        """A server's body as text, redacted; a body cut short first loses a tail that begins
        a secret (a secret cut in two would no longer be recognised)."""
        text = raw.decode("utf-8", "replace")
        if not complete:
            for needle in self.needles:
                cut = next((k for k in range(len(needle) - 1, 0, -1)
                            if text.endswith(needle[:k])), 0)  # fmt: skip
                text = text[: len(text) - cut]
        return self.redactor.text(text).strip()


def _timeout_reason(exc: TimeoutError, url: str, waited: float | None) -> str:
    after = f" after {waited:.1f}s" if waited is not None else ""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"timed out{after} connecting to {url}: the server did not accept the connection"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return f"timed out{after}: {url} accepted the request and then sent nothing"
    return f"timed out{after}: no complete answer from {url} within the time limit"


def reason(exc: BaseException, url: str, waited: float | None = None) -> tuple[str, str]:
    """``(kind, message)`` for a request that failed in the client, naming the cause: a
    timeout (and after how long), a redirect loop (from where), a refused connection."""
    if isinstance(exc, TimeoutError):
        return "timeout", _timeout_reason(exc, url, waited)
    if isinstance(exc, aiohttp.TooManyRedirects):
        hops = [str(r.headers.get("Location", r.url)) for r in exc.history]
        return "redirect_loop", (
            f"too many redirects: {url} was redirected {len(hops)} times"
            + (f" (last to {hops[-1]})" if hops else "")
            + "; is the URL right?"
        )
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "truncated", f"the stream was cut short: {exc}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connection", f"cannot connect to {url}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "connection", f"{url} closed the connection without answering"
    return "connection", f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _stream_type(response: aiohttp.ClientResponse) -> str | None:
    """The content type of a reply that is not an event stream (None when it is one, or
    says nothing): a 200 HTML page or plain JSON is not a stream cut short."""
    kind = response.headers.get("Content-Type", "")
    media = kind.split(";")[0].strip().lower()
    return None if media in ("", "text/event-stream") else kind


async def send(
    session: aiohttp.ClientSession,
    url: str,
    body: bytes,
    headers: dict[str, str],
    record: RequestRecord,
    clock: Clock,
    chat: bool,
    secrets: tuple[str, ...] = (),
) -> None:
    """Send one request and fill ``record`` in; never raises for the request's failures.

    ``record.sent`` is taken when the body has been written to the socket (``sent_hook``,
    on the session's trace config); until then it holds the time the request was started, so
    a request that never got written still has one. ``secrets`` (the API key) are
    redacted from anything the server sends back."""
    fail = Failure(record, secrets)
    record.sent = clock()
    try:
        async with session.post(
            url, data=body, headers=headers, trace_request_ctx=record
        ) as response:
            record.status = response.status
            if response.status != 200:
                raw = await response.content.read(BODY_READ)
                text = fail.body(raw, response.content.at_eof())
                fail(f"http_{response.status}", f"HTTP {response.status}: {text}")
                return
            other = _stream_type(response)
            if other is not None:
                raw = await response.content.read(BODY_READ)
                text = fail.body(raw, response.content.at_eof())[:200]
                fail("not_a_stream", f"HTTP 200 with Content-Type {other}, not an event stream: "
                     f"{text!r}")  # fmt: skip
                return
            await _read_stream(response, record, clock, chat, fail)
    except asyncio.CancelledError:
        fail("cancelled", "cancelled before it finished (the run was interrupted)")
        raise
    except (aiohttp.ClientError, TimeoutError) as exc:
        waited = clock() - record.sent if record.sent is not None else None
        fail(*reason(exc, url, waited))
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
    response: aiohttp.ClientResponse,
    record: RequestRecord,
    clock: Clock,
    chat: bool,
    fail: Failure,
) -> None:
    parser = SSEParser()
    tokens_seen = 0
    done = False
    async for data in response.content.iter_any():
        now = clock()
        try:
            raws = parser.feed(data)
            for raw in raws:
                if raw == b"[DONE]":
                    done = True
                    continue
                event = decode(raw)
                if "error" in event and not event.get("choices"):
                    said = strictjson.dumps(event["error"], ensure_ascii=False)
                    fail("stream_error", f"error in the stream: {said}")
                    return
                tokens_seen = _take(event, record, now, chat, tokens_seen)
        except SSEError as exc:
            quoted = fail.body(exc.payload[:SHOWN_EVENT], len(exc.payload) <= SHOWN_EVENT)
            fail("malformed_sse", f"{exc.what}: {quoted!r}")
            return
    if parser.pending.strip():
        fail("truncated", "the stream ended inside an event")
    elif record.first_token is None:
        fail("empty_response", "the stream carried no output" + ("" if done else " and no [DONE]"))
    elif record.output_tokens is None:
        # no final usage: count tokens from per-chunk usage, else one per chunk
        record.output_tokens = tokens_seen or len(record.chunk_times)
    if len(record.chunk_tokens) != len(record.chunk_times):
        del record.chunk_tokens[:]  # partial usage is no usage


def _take(
    event: dict[str, Any], record: RequestRecord, now: float, chat: bool, tokens_seen: int
) -> int:
    """Record one event's content and usage; returns the tokens counted so far."""
    usage = event.get("usage")
    if _content(event, chat):
        if record.first_token is None:
            record.first_token = now
        record.chunk_times.append(now)
        record.end = now
        if isinstance(usage, dict) and _count(usage.get("completion_tokens")):
            record.chunk_tokens.append(usage["completion_tokens"] - tokens_seen)
            tokens_seen = usage["completion_tokens"]
            if _count(usage.get("prompt_tokens")):
                record.prompt_tokens = usage["prompt_tokens"]
    if isinstance(usage, dict) and not event.get("choices"):
        prompt, output = usage.get("prompt_tokens"), usage.get("completion_tokens")
        record.prompt_tokens = prompt if _count(prompt) else None
        record.output_tokens = output if _count(output) else None
    return tokens_seen


def _count(value: Any) -> bool:
    """A token count as a server must send it (a bool or float is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**62
