"""Making prompt lengths exact with the server's ``/tokenize`` or a local tokenizer.

First the prompt words that are one token each for this tokenizer are found (all of them for
the emulator's and most for real BPE vocabularies; a few for a small or byte-level one), and
the workload is written in those words. Then each prompt is counted: when a few are already
exact (one token a word) nothing more is sent; otherwise each prompt is cut by its measured
tokens per word and padded with one-token words until it has the tokens asked for (a BOS or
template token is taken off this way). A server without ``/tokenize`` (not vLLM) is told to
the user: the real lengths then come from ``usage.prompt_tokens``.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

import aiohttp

from llmobs.bench.workload import WORDS, RequestSpec
from llmobs.sim.tokenizer import Tokenizer

Count = Callable[[str], Awaitable[int]]
ROUNDS = 8
MIN_UNITS = 2  # fewer one-token words than this: prompts keep the whole list
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


async def unit_words(count: Count) -> list[str]:
    """The words that are one token each for this tokenizer, after another word."""
    anchor = " the"
    base = await count(anchor)
    sizes = await asyncio.gather(*(count(anchor + " " + w) for w in WORDS))
    return [w for w, n in zip(WORDS, sizes, strict=True) if n - base == 1]


async def _fit(spec: RequestSpec, count: Count, units: Sequence[str]) -> RequestSpec:
    """Drop words from the end while the prompt is too long (as many as the tokens per word
    seen so far suggest), pad with one-token words while it is too short."""
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
            pad = units or list(WORDS)
            prompt += "".join(" " + rng.choice(pad) for _ in range(diff))
            tail += diff
        else:
            per_word = max(1.0, measured / max(1, prompt.count(" ")))
            drop = min(tail, max(1, math.ceil(-diff / per_word)))
            if drop == 0:
                break  # the shared part alone is too long: keep what it is
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
    specs: list[RequestSpec], count: Count, units: Sequence[str], concurrency: int = 16
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
            return await _fit(spec, count, units)

    return list(await asyncio.gather(*(one(s) for s in specs)))
