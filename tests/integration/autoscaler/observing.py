"""What the source tests share: load on the PD emulator, polling a source until what it
observes passes a test (a condition, never a sleep), the checks every source must pass on
the emulator, and handlers of fake servers that fail."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import openai
import pytest
from aiohttp import web

from llmobs.autoscaler.model import SourceError
from llmobs.observation import Observation
from tests.servers import wait_until
from tests.simhost import LoopThread, SimHost

MODEL = "Qwen/Qwen2.5-7B-Instruct"
REQUESTS = 6


def load(sim: SimHost, count: int = REQUESTS) -> None:
    with openai.OpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0) as client:
        for i in range(count):
            client.completions.create(model=MODEL, prompt=" the" * (100 + 20 * i), max_tokens=6)


def observed(loop: LoopThread, source: Any) -> Callable[[], Observation | None]:
    """``source.observe()`` now, None while it fails."""

    def attempt() -> Observation | None:
        try:
            result: Observation = loop.run(source.observe())
            return result
        except SourceError:
            return None

    return attempt


def failure(loop: LoopThread, source: Any) -> SourceError:
    with pytest.raises(SourceError) as caught:
        loop.run(source.observe())
    return caught.value


def until(
    get: Callable[[], Observation | None], test: Callable[[Observation], bool], what: str
) -> Observation:
    found: list[Observation] = []

    def ready() -> bool:
        result = get()
        if result is not None and test(result):
            found.append(result)
            return True
        return False

    wait_until(ready, 60, what)
    return found[-1]


def loaded(at_least: float) -> Callable[[Observation], bool]:
    """The source saw the load: ``at_least`` prefill TTFTs, and tokens on both roles (the
    roles are scraped apart, so one can be seen before the other)."""

    def test(obs: Observation) -> bool:
        prefill, decode = obs.find("prefill"), obs.find("decode")
        if prefill is None or decode is None:
            return False
        ttft = prefill.latency.ttft_seconds
        return (
            ttft is not None
            and ttft.count >= at_least
            and (prefill.prompt_tokens_rate or 0) > 0
            and (decode.generation_tokens_rate or 0) > 0
        )

    return test


def both_roles(obs: Observation) -> bool:
    return obs.find("prefill") is not None and obs.find("decode") is not None


def check_pd(obs: Observation, now: float) -> None:
    """What every source must see of the PD emulator after ``load``."""
    prefill, decode = obs.find("prefill"), obs.find("decode")
    assert prefill is not None and decode is not None
    for item in (prefill, decode):
        assert (item.replicas.ready, item.replicas.up) == (1, 1)
        assert item.age_seconds is not None and 0 <= item.age_seconds < 30
        assert abs(item.timestamp - now) < 30
    ttft = prefill.latency.ttft_seconds
    assert ttft is not None and ttft.quantiles[0.9] is not None and ttft.quantiles[0.9] > 0
    assert prefill.prompt_tokens_rate is not None and prefill.prompt_tokens_rate > 0
    assert decode.generation_tokens_rate is not None and decode.generation_tokens_rate > 0
    assert decode.kv_cache_usage_ratio.max is not None


async def hang(request: web.Request) -> web.Response:
    await asyncio.Event().wait()
    raise AssertionError("unreachable")


def fixed(status: int, body: str, content_type: str = "application/json") -> Any:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=status, text=body, content_type=content_type)

    return handler
