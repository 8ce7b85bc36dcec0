"""The load generator against a scripted OpenAI server over real HTTP: every request's
record says what happened to it, and one bad request never spoils the others."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
from aiohttp import web

from llmobs.bench.records import RequestRecord
from llmobs.bench.runner import Target, run_load
from llmobs.bench.workload import RequestSpec
from tests.fakeopenai import MODEL, FakeOpenAI
from tests.servers import HTTPServer


@pytest.fixture(scope="module")
def server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def load(
    server: FakeOpenAI,
    modes: list[str],
    *,
    chat: bool = False,
    tokens: int = 6,
    headers: dict[str, str] | None = None,
    max_concurrency: int | None = None,
) -> dict[str, RequestRecord]:
    specs = [RequestSpec(i, 0.01 * i, f"{m} words here", 3, tokens) for i, m in enumerate(modes)]
    endpoint = "/v1/chat/completions" if chat else "/v1/completions"
    target = Target(server.url(endpoint), MODEL, chat, headers or {})
    out: list[RequestRecord] = []
    asyncio.run(
        run_load(
            specs, target, start=time.monotonic(), emit=out.append, max_concurrency=max_concurrency
        )
    )
    assert sorted(r.index for r in out) == list(range(len(modes)))
    return {modes[r.index]: r for r in out}


def test_good_streams_are_timed_chunk_by_chunk(server: FakeOpenAI) -> None:
    r = load(server, ["ok"])["ok"]
    assert r.ok and r.error is None and r.status == 200
    assert (r.prompt_tokens, r.output_tokens) == (3, 6)
    assert len(r.chunk_times) == 6 and list(r.chunk_tokens) == [1] * 6
    assert r.sent is not None and r.first_token is not None and r.end is not None
    assert r.sent <= r.first_token <= r.end == r.chunk_times[-1]
    body = server.bodies[-1]
    assert body["stream"] is True and body["ignore_eos"] is True and body["max_tokens"] == 6
    assert body["stream_options"] == {"include_usage": True, "continuous_usage_stats": True}


def test_chat_role_chunk_is_not_a_token(server: FakeOpenAI) -> None:
    r = load(server, ["ok"], chat=True)["ok"]
    assert r.ok and len(r.chunk_times) == 6 and r.output_tokens == 6
    assert server.bodies[-1]["max_completion_tokens"] == 6
    assert server.bodies[-1]["messages"] == [{"role": "user", "content": "ok words here"}]


def test_multi_token_chunks_are_counted_per_chunk(server: FakeOpenAI) -> None:
    r = load(server, ["multi"])["multi"]
    assert r.ok and r.output_tokens == 6 and list(r.chunk_tokens) == [2, 2, 2]


def test_without_usage_tokens_are_counted_from_chunks(server: FakeOpenAI) -> None:
    r = load(server, ["nousage"])["nousage"]
    assert r.ok and r.output_tokens == 6 and r.prompt_tokens is None
    assert len(r.chunk_tokens) == 0


def test_faults_fail_their_own_request_only(server: FakeOpenAI) -> None:
    modes = ["ok", "malformed", "http500", "cut", "errorevent", "short", "multi"]
    records = load(server, modes)
    assert records["ok"].ok and records["multi"].ok
    assert records["short"].ok and records["short"].output_tokens == 3  # flagged in summary
    assert records["malformed"].error_kind == "malformed_sse"
    assert "this is not json" in str(records["malformed"].error)
    assert records["http500"].error_kind == "http_500"
    assert "KV cache full" in str(records["http500"].error)  # the body is kept
    assert records["cut"].error_kind == "truncated"
    assert records["errorevent"].error_kind == "stream_error"
    assert "decode failed" in str(records["errorevent"].error)


def test_api_key_goes_in_the_header(server: FakeOpenAI) -> None:
    load(server, ["ok"], headers={"Authorization": "Bearer sk-test"})
    assert server.headers[-1]["Authorization"] == "Bearer sk-test"


def test_max_concurrency_queues_in_the_client(server: FakeOpenAI) -> None:
    records = load(server, ["slow"] * 4, max_concurrency=1)
    waits = sorted((r.sent or 0) - (r.dispatched or 0) for r in records.values())
    # with one slot, the 4 requests (sent 10 ms apart) wait for each other: the waits grow
    assert waits[-1] > 2 * server.slow_s
    assert all(r.ok for r in records.values())


def test_the_timeout_fails_the_request(server: FakeOpenAI) -> None:
    specs = [RequestSpec(0, 0.0, "slow words", 2, 3)]
    target = Target(server.url("/v1/completions"), MODEL, False, {}, timeout_s=0.05)
    out: list[RequestRecord] = []
    asyncio.run(run_load(specs, target, start=time.monotonic(), emit=out.append))
    assert out[0].error_kind == "timeout"


def test_a_closed_port_fails_each_request_as_connection() -> None:
    with FakeOpenAI() as gone:
        url = gone.url("/v1/completions")
    specs = [RequestSpec(0, 0.0, "ok", 1, 2)]
    out: list[RequestRecord] = []
    asyncio.run(run_load(specs, Target(url, MODEL, False), start=time.monotonic(), emit=out.append))
    assert out[0].error_kind == "connection" and not out[0].ok


def test_reasoning_tokens_are_tokens(server: FakeOpenAI) -> None:
    """A reasoning parser streams the thinking apart from the answer: TTFT is the first of
    either, and every token counts."""
    r = load(server, ["reasoning"], chat=True)["reasoning"]
    assert r.ok and len(r.chunk_times) == 6 and r.output_tokens == 6


def test_new_connections_are_timed_apart_from_ttft(server: FakeOpenAI) -> None:
    records = load(server, ["ok", "multi"])
    timed = [r for r in records.values() if r.connect is not None]
    assert timed and all(0 <= (r.connect or 0) < 1 for r in timed)
    assert all(r.sent is not None and r.done is not None and r.done >= r.sent
               for r in records.values())  # fmt: skip


@pytest.mark.parametrize("where", ["http_403", "malformed_sse"])
def test_a_long_key_cut_where_the_text_is_cut_leaves_no_fragment(where: str) -> None:
    """Echoed keys past what is read (an error body) or quoted (a bad event): the key cut in
    two must not survive as a first half that no longer matches the key."""
    key = "sk-" + "A" * 97
    echoed = (f"Bearer {key} ") * 40

    async def refuse(request: web.Request) -> web.StreamResponse:
        if where == "http_403":
            return web.Response(status=403, text=echoed)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(f"data: {{{echoed}\n\n".encode())
        return response

    with HTTPServer({"/v1/completions": refuse}) as server:
        target = Target(server.url("/v1/completions"), MODEL, False, {}, secrets=(key,))
        out: list[RequestRecord] = []
        specs = [RequestSpec(0, 0.0, "ok", 1, 2)]
        asyncio.run(run_load(specs, target, start=time.monotonic(), emit=out.append))
    (record,) = out
    assert record.error_kind == where
    assert record.error is not None and "<secret>" in record.error
    assert "sk-" not in record.error and "AAAA" not in record.error
