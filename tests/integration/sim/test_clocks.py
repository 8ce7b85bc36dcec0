"""One model, two clocks: the HTTP emulator in real time and the discrete-event simulator in
virtual time give the same latencies for the same workload."""

from __future__ import annotations

import asyncio
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import pytest

from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.prefix import block_hashes
from llmobs.sim.tokenizer import BasicTokenizer
from llmobs.sim.virtual import VirtualCluster, VirtualRequest
from tests.servers import free_port, wait_until

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@dataclass
class Sent:
    offset: float  # seconds after the first send
    prompt: int
    output: int
    ttft: float
    e2e: float


@pytest.fixture(scope="module")
def sim_url() -> Iterator[str]:
    """``llmobs sim`` in its own process, so the client's timing is not the server's."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmobs", "sim", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            import urllib.request

            with urllib.request.urlopen(url + "/health", timeout=1):
                return True
        except OSError:
            return proc.poll() is not None

    try:
        wait_until(up, 60, "llmobs sim to answer")
        assert proc.poll() is None
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        assert proc.stdout is not None
        proc.stdout.close()


def workload(seed: int = 7, n: int = 40, rate: float = 6.0) -> list[tuple[float, int, int]]:
    rng = random.Random(seed)
    t = 0.0
    out = []
    for _ in range(n):
        t += rng.expovariate(rate)
        out.append((t, rng.randint(100, 3000), rng.randint(20, 120)))
    return out


def prompt_text(index: int, tokens: int) -> str:
    """``tokens`` basic tokens; requests 26 apart share their prefix, the others do not."""
    return chr(97 + index % 26) * 4 + " the" * (tokens - 1)


async def replay(url: str, plan: list[tuple[float, int, int]]) -> list[Sent]:
    async def one(
        session: aiohttp.ClientSession, index: int, at: float, prompt: int, output: int
    ) -> Sent:
        await asyncio.sleep(max(0.0, start + at - time.perf_counter()))
        sent = time.perf_counter()
        first = None
        async with session.post(
            url + "/v1/completions",
            json={
                "model": MODEL,
                "prompt": prompt_text(index, prompt),
                "max_tokens": output,
                "stream": True,
            },
        ) as response:
            async for line in response.content:
                if first is None and line.startswith(b'data: {"id"'):
                    first = time.perf_counter()
        end = time.perf_counter()
        assert first is not None
        return Sent(sent - start, prompt, output, first - sent, end - sent)

    async with aiohttp.ClientSession() as session:
        start = time.perf_counter()
        return list(await asyncio.gather(*(one(session, i, *p) for i, p in enumerate(plan))))


def test_real_time_and_virtual_time_agree(sim_url: str) -> None:
    sent = asyncio.run(replay(sim_url, workload()))
    tok = BasicTokenizer()
    cluster = VirtualCluster(Resolved(EngineSettings()), {"both": 1})
    cluster.submit(
        VirtualRequest(
            str(i),
            s.offset,
            s.prompt,
            s.output,
            block_hashes(tok.encode(prompt_text(i, s.prompt)), 16),
        )
        for i, s in enumerate(sent)
    )
    cluster.run()
    virtual = [cluster.records[str(i)] for i in range(len(sent))]
    for kind in ("ttft", "e2e"):
        real = [getattr(s, kind) for s in sent]
        model = [getattr(r, kind) for r in virtual]
        errors = [abs(a - b) for a, b in zip(real, model, strict=True)]
        # the client adds HTTP and streaming overhead of a few milliseconds per request
        assert statistics.median(errors) < 0.005 + 0.03 * statistics.median(model), kind
        assert statistics.fmean(real) == pytest.approx(
            statistics.fmean(model), rel=0.08, abs=0.004
        ), kind
