"""The emulator over real HTTP: the OpenAI client, raw SSE bytes, errors and /metrics."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import aiohttp
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from llmobs.engines import snapshot
from llmobs.exposition.parser import parse
from llmobs.sim.config import EngineSettings
from llmobs.sim.tokenizer import BasicTokenizer
from tests.fixtures.expositions import load
from tests.simhost import SimHost

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHost]:
    with SimHost(EngineSettings(max_model_len=4096)) as host:
        yield host


@pytest.fixture
def client(sim: SimHost) -> openai.OpenAI:
    return openai.OpenAI(base_url=sim.url + "/v1", api_key="unused", max_retries=0)


def test_openai_client_completions(client: openai.OpenAI) -> None:
    [model] = client.models.list().data
    assert model.id == MODEL
    done = client.completions.create(model=MODEL, prompt=" the" * 50, max_tokens=7)
    assert done.usage is not None
    assert (done.usage.prompt_tokens, done.usage.completion_tokens) == (50, 7)
    assert done.choices[0].finish_reason == "length"
    assert BasicTokenizer().count(done.choices[0].text) == 7


def test_openai_client_streams(client: openai.OpenAI) -> None:
    pieces = []
    usage = None
    for chunk in client.completions.create(
        model=MODEL,
        prompt="hello",
        max_tokens=12,
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.choices:
            pieces.append(chunk.choices[0].text)
        if chunk.usage is not None:
            usage = chunk.usage
    assert len(pieces) == 12  # one event per token, as vLLM
    assert usage is not None and usage.completion_tokens == 12


def test_openai_client_chat(client: openai.OpenAI) -> None:
    messages: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    done = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=4)
    assert done.choices[0].message.role == "assistant"
    assert done.usage is not None and done.usage.prompt_tokens == 11  # ChatML around "hi"
    stream = client.chat.completions.create(
        model=MODEL, messages=messages, max_tokens=5, stream=True
    )
    deltas = [chunk.choices[0].delta for chunk in stream]
    assert deltas[0].role == "assistant"
    assert sum(1 for d in deltas if d.content) == 5


def test_openai_client_errors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as missing:
        client.completions.create(model="gpt-4", prompt="x", max_tokens=1)
    assert "does not exist" in str(missing.value)
    with pytest.raises(openai.BadRequestError) as long:
        client.completions.create(model=MODEL, prompt=" the" * 5000, max_tokens=1)
    assert "maximum context length is 4096 tokens" in str(long.value)


async def test_raw_sse_bytes(sim: SimHost) -> None:
    body = {"model": MODEL, "prompt": "x", "max_tokens": 3, "stream": True}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            sim.url + "/v1/completions", json=body, headers={"X-Request-Id": "my-id"}
        ) as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/event-stream; charset=utf-8"
        assert response.headers["Transfer-Encoding"] == "chunked"
        raw = await response.read()
    events = raw.decode().split("\n\n")
    assert events[-1] == "" and events[-2] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-2]]
    assert [c["id"] for c in chunks] == ["cmpl-my-id"] * 3
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, "length"]


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "expect"),
    [
        ("GET", "/nope", None, {}, 404, {"detail": "Not Found"}),
        ("GET", "/v1/completions", None, {}, 405, {"detail": "Method Not Allowed"}),
        (
            "POST",
            "/v1/completions",
            b'{"prompt":',
            {"Content-Type": "application/json"},
            400,
            "body.10",
        ),
        (
            "POST",
            "/v1/completions",
            b"{}",
            {"Content-Type": "text/plain"},
            400,
            "Unsupported Media Type",
        ),
        (
            "POST",
            "/v1/completions",
            json.dumps({"model": "x", "prompt": "a", "stream": True}),
            {"Content-Type": "application/json"},
            404,
            "NotFoundError",
        ),
    ],
)
async def test_http_errors(
    sim: SimHost,
    method: str,
    path: str,
    body: object,
    headers: dict[str, str],
    status: int,
    expect: dict[str, str] | str,
) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sim.url + path, data=body, headers=headers) as response,
    ):
        assert response.status == status
        assert response.headers["Content-Type"] == "application/json"
        assert response.headers["Server"] == "uvicorn"
        doc = await response.json()
    if isinstance(expect, dict):
        assert doc == expect
    else:
        assert expect in json.dumps(doc)


async def test_small_routes(sim: SimHost) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.url + "/health") as health:
            assert health.status == 200 and await health.read() == b""
        async with session.get(sim.url + "/version") as version:
            assert await version.json() == {"version": "0.32.0"}
        async with session.post(
            sim.url + "/tokenize", json={"model": MODEL, "prompt": " the the"}
        ) as tok:
            doc = await tok.json()
        assert doc["count"] == 2 and doc["max_model_len"] == 4096 and doc["token_strs"] is None


async def test_client_going_away_aborts_the_request(sim: SimHost) -> None:
    before = snapshot(parse(await _metrics(sim))).counters.get("requests_total", 0)
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            sim.url + "/v1/completions",
            json={"model": MODEL, "prompt": "x", "max_tokens": 3000, "stream": True},
        )
        await response.content.readline()  # the stream has started
        response.close()  # hang up
    deadline = time.monotonic() + 30
    while True:  # wait until the server noticed (its next write fails)
        text = await _metrics(sim)
        aborted = [
            s.value
            for s in parse(text).samples("vllm:request_success_total")
            if s.labels["finished_reason"] == "abort"
        ]
        if aborted == [1.0] or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    assert aborted == [1.0]
    snap = snapshot(parse(text))
    assert snap.counters["requests_total"] == before + 1
    assert snap.gauges["requests_running"] == 0


async def _metrics(sim: SimHost) -> str:
    async with aiohttp.ClientSession() as session, session.get(sim.url + "/metrics") as r:
        assert r.headers["Content-Type"] == "text/plain; version=1.0.0; charset=utf-8"
        return await r.text()


async def test_metrics_conform_to_the_real_capture(sim: SimHost) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(sim.url + "/v1/models"):
            pass
        async with session.post(sim.url + "/tokenize", json={"prompt": "a"}):
            pass
        async with session.post(
            sim.url + "/v1/completions", json={"model": MODEL, "prompt": "a", "max_tokens": 2}
        ):
            pass
    ours = parse(await _metrics(sim))
    real = parse(load("vllm-0.32.0.txt"))
    assert set(ours.families) == set(real.families)
    for name, family in real.families.items():
        assert ours.families[name].type == family.type, name
    handlers = {
        (s.labels["handler"], s.labels["status"]) for s in ours.samples("http_requests_total")
    }
    assert ("/v1/completions", "2xx") in handlers and ("none", "4xx") in handlers
    assert not any(h == "/metrics" or h == "/health" for h, _ in handlers)


def test_sglang_metrics_only_when_enabled() -> None:
    with SimHost(EngineSettings(engine="sglang")) as plain:
        client = openai.OpenAI(base_url=plain.url + "/v1", api_key="x", max_retries=0)
        client.completions.create(model=MODEL, prompt="hi", max_tokens=2)
        missing = asyncio.run(_status(plain.url + "/metrics"))
        assert missing == 404
    with SimHost(EngineSettings(engine="sglang", enable_metrics=True)) as enabled:
        text = asyncio.run(_text(enabled.url + "/metrics"))
        assert snapshot(parse(text)).engine == "sglang"


async def _status(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status


async def _text(url: str) -> str:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.text()


def test_fixed_latency_mode_is_exact_under_load() -> None:
    settings = EngineSettings(fixed_ttft_ms=40, fixed_itl_ms=5)
    with SimHost(settings) as host:
        ttfts, lasts = asyncio.run(_fixed_load(host.url, concurrent=30))
        snap = snapshot(parse(asyncio.run(_text(host.url + "/metrics"))))
        arrivals = json.loads(asyncio.run(_text(host.url + "/sim/arrivals")))
        lag = json.loads(asyncio.run(_text(host.url + "/sim/lag")))
    # the server's own clock: exactly the fixed values, whatever the load
    ttft, itl = snap.histograms["ttft_seconds"], snap.histograms["itl_seconds"]
    assert ttft.count == 30 and ttft.sum == pytest.approx(30 * 0.040)
    assert itl.count == 30 * 19 and itl.sum == pytest.approx(30 * 19 * 0.005)
    # the client (sharing this process with the server) never sees a token early: neither the
    # first nor the last (19 gaps after it); how late depends on how busy the machine is
    # (late tokens then come in bunches), which the server-side figures above exclude
    assert min(ttfts) >= 0.040, ttfts
    assert min(lasts) >= 0.040 + 19 * 0.005, lasts
    # the emulator's own record: every arrival, and how late its tokens went out
    assert arrivals["count"] == 30 and arrivals["times"][0] == 0.0
    assert arrivals["times"] == sorted(arrivals["times"])
    assert lag["steps"] == 30 * 20  # one per token in fixed-latency mode
    assert len(arrivals["first_token_s"]) == 30
    assert all(0.040 <= t < 0.2 for t in arrivals["first_token_s"])


async def _fixed_load(url: str, concurrent: int) -> tuple[list[float], list[float]]:
    """Each request's first and last token, in seconds after it was sent."""

    async def one(session: aiohttp.ClientSession) -> tuple[float, float]:
        start = time.perf_counter()
        times = []
        async with session.post(
            url + "/v1/completions",
            json={"model": MODEL, "prompt": "x", "max_tokens": 20, "stream": True},
        ) as response:
            async for line in response.content:
                if line.startswith(b"data: {"):
                    times.append(time.perf_counter())
        return times[0] - start, times[-1] - start

    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(one(session) for _ in range(concurrent)))
    return [r[0] for r in results], [r[1] for r in results]
