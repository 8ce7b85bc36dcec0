"""Real-time capacity of one emulator process on one core (docs/benchmarks.md).

Starts ``llmobs sim`` pinned to CPU 0 and a load generator pinned to CPU 1, keeps
``--streams`` streamed completions open (closed loop) for ``--seconds``, and reports the
tokens/s the client received, the tokens/s the model says the engine produces for that
batch, and how late the emulator's steps completed against its model clock.

    .venv/bin/python benchmarks/sim_realtime.py --streams 200 --seconds 20
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import aiohttp

MODEL = "Qwen/Qwen2.5-7B-Instruct"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(url + "/health", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the emulator did not start")


async def load(
    url: str, streams: int, seconds: float, prompt: int, output: int
) -> dict[str, float]:
    tokens = 0
    requests = 0
    stop_at = time.monotonic() + seconds
    start = time.monotonic()

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal tokens, requests
        body = {
            "model": MODEL,
            "prompt": " the" * prompt,
            "max_tokens": output,
            "stream": True,
            "ignore_eos": True,
        }
        while time.monotonic() < stop_at:
            async with session.post(url + "/v1/completions", json=body) as response:
                async for line in response.content:
                    if line.startswith(b"data: {"):
                        tokens += 1
                    if time.monotonic() >= stop_at:
                        break
            requests += 1

    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(streams)))
    return {"tokens_per_s": tokens / (time.monotonic() - start), "requests": requests}


def metrics(url: str) -> dict[str, float]:
    from llmobs.engines import snapshot
    from llmobs.exposition.parser import parse

    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        snap = snapshot(parse(response.read()))
    itl = snap.histograms["itl_seconds"]
    return {
        "itl_count": itl.count,
        "itl_sum": itl.sum or 0.0,
        "running": snap.gauges.get("requests_running", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--prompt", type=int, default=100)
    parser.add_argument("--output", type=int, default=4000)
    parser.add_argument("--hardware", default="H200")
    args = parser.parse_args()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    pin = ["taskset", "-c", "0"] if os.cpu_count() and os.cpu_count() > 1 else []  # type: ignore[operator]
    server = subprocess.Popen(
        [
            *pin,
            sys.executable,
            "-m",
            "llmobs",
            "sim",
            "--port",
            str(port),
            "--hardware",
            args.hardware,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(url, server)
        if pin:
            os.sched_setaffinity(0, {1})
        before = metrics(url)
        cpu_before = _cpu(server.pid)
        wall = time.monotonic()
        result = asyncio.run(load(url, args.streams, args.seconds, args.prompt, args.output))
        wall = time.monotonic() - wall
        cpu = _cpu(server.pid) - cpu_before
        after = metrics(url)
        with urllib.request.urlopen(url + "/sim/lag", timeout=10) as response:
            lag = json.load(response)
    finally:
        server.terminate()
        server.wait(timeout=30)
    steps = after["itl_count"] - before["itl_count"]
    step_time = (after["itl_sum"] - before["itl_sum"]) / steps if steps else float("nan")
    model_rate = args.streams / step_time
    print(
        f"{args.streams} streams for {args.seconds:g}s, Qwen2.5-7B on {args.hardware}, "
        f"prompt {args.prompt}, output up to {args.output}\n"
    )
    print(
        "| streams | client tokens/s | model tokens/s at this batch | ratio | server CPU "
        "| step lag mean / p99 / worst | late steps (>1 ms) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| {args.streams} | {result['tokens_per_s']:,.0f} | {model_rate:,.0f} | "
        f"{result['tokens_per_s'] / model_rate:.3f} | {cpu / wall:.0%} of one core | "
        f"{lag['mean_s'] * 1e3:.2f} / {lag['p99_s'] * 1e3:.2f} / {lag['worst_s'] * 1e3:.1f} ms "
        f"| {lag['late_steps']} of {lag['steps']} |"
    )


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
