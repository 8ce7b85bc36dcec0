"""Making prompt lengths exact: count each prompt with the server's ``/tokenize`` or a
local tokenizer, and add or drop words at its end until it has the tokens asked for.

Counting a few prompts first tells whether the words are one token each for this tokenizer
(they are for the emulator's); then nothing more is sent. A server without ``/tokenize``
(not vLLM) is told to the user: the real lengths then come from ``usage.prompt_tokens``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import replace

import aiohttp

from llmobs.bench.workload import RequestSpec, words
from llmobs.sim.tokenizer import Tokenizer

Count = Callable[[str], Awaitable[int]]
ROUNDS = 5
PROBE = 8


def local_counter(tokenizer: Tokenizer) -> Count:
    async def count(text: str) -> int:
        return len(tokenizer.encode(text))

    return count


async def server_counter(
    session: aiohttp.ClientSession, base_url: str, model: str, headers: dict[str, str]
) -> Count | None:
    """A counter over the server's ``/tokenize``, or None when it has none."""
    url = base_url.rstrip("/") + "/tokenize"

    async def count(text: str) -> int:
        async with session.post(
            url, json={"model": model, "prompt": text}, headers=headers
        ) as response:
            if response.status != 200:
                raise LookupError(f"/tokenize answered {response.status}")
            doc = await response.json()
            return int(doc["count"])

    try:
        await count(" the")
    except (LookupError, aiohttp.ClientError, ValueError, KeyError, TypeError):
        return None
    return count


async def _fit(spec: RequestSpec, count: Count) -> RequestSpec:
    target = spec.expected_prompt_tokens
    if target is None:
        return spec
    prompt, tail = spec.prompt, spec.tail_words
    rng = random.Random(f"fit-{spec.index}")
    measured = await count(prompt)
    for _ in range(ROUNDS):
        diff = target - measured
        if diff == 0:
            break
        if diff > 0:
            prompt += words(rng, diff)
            tail += diff
        else:
            drop = min(-diff, tail)
            if drop == 0:
                break
            prompt = prompt[: _cut(prompt, drop)]
            tail -= drop
        measured = await count(prompt)
    return replace(spec, prompt=prompt, tail_words=tail, expected_prompt_tokens=measured)


def _cut(text: str, words_to_drop: int) -> int:
    """Index that drops the last ``words_to_drop`` space-led words."""
    end = len(text)
    for _ in range(words_to_drop):
        end = text.rfind(" ", 0, end)
    return max(end, 0)


async def calibrate(
    specs: list[RequestSpec], count: Count, concurrency: int = 16
) -> list[RequestSpec]:
    """Specs whose prompts have exactly their expected token counts (as far as a few
    rounds of adding and dropping words get)."""
    probe = specs[:PROBE]
    checked = await asyncio.gather(*(count(s.prompt) for s in probe))
    if all(n == s.expected_prompt_tokens for n, s in zip(checked, probe, strict=True)):
        return specs  # one token a word: the lengths are already exact
    limit = asyncio.Semaphore(concurrency)

    async def one(spec: RequestSpec) -> RequestSpec:
        async with limit:
            return await _fit(spec, count)

    return list(await asyncio.gather(*(one(s) for s in specs)))
