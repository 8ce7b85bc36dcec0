"""Exporter scale and cost: N targets every 5 s from one process on one core, beside Prometheus.

One purpose-made server process (CPU 1) listens on N ports and answers every ``GET /metrics``
with the real vLLM 0.32.0 capture (53 kB, 92 families). Then, one after the other, on CPU 0:

* ``llmobs exporter`` with the N targets as static targets (interval 5 s), and
* the peer: Prometheus 2.42 scraping the same N targets every 5 s (what an operator would run
  anyway, and the reference for "cost per scrape"),

each for a warm-up and then ``--cycles`` scrape intervals. Measured per process from /proc:
CPU seconds per 5 s cycle, resident memory at the end, and, for the exporter, the scrapes it
completed (keeping up means N per cycle), how long its own /metrics takes to serve and how big
it is. Printed as a Markdown table with the ratios (recorded in docs/benchmarks.md).

    .venv/bin/python benchmarks/exporter_scale.py --targets 1000 --cycles 12
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BODY = REPO / "tests" / "fixtures" / "expositions" / "vllm-0.32.0.txt"
INTERVAL = 5.0
TICKS = os.sysconf("SC_CLK_TCK")


def serve_targets(count: int, first_port: int) -> None:
    """The target server (run in a child process): COUNT ports from FIRST_PORT."""
    from aiohttp import web

    body = BODY.read_bytes()

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/metrics", metrics)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        for port in range(first_port, first_port + count):
            await web.TCPSite(runner, "127.0.0.1", port, backlog=128).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        body: bytes = response.read()
        return body


def wait_for(predicate: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


def exporter_scrapes(url: str) -> float:
    for line in get(url + "/metrics").decode().splitlines():
        if line.startswith("llmobs_exporter_scrapes_total "):
            return float(line.split()[1])
    return 0.0


def measure(pid: int, warmup: float, cycles: int) -> tuple[float, float]:
    time.sleep(warmup)
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(cycles * INTERVAL)
    used, elapsed = cpu_seconds(pid) - start_cpu, time.monotonic() - start
    return used / (elapsed / INTERVAL), rss_mib(pid)


def run_exporter(ports: list[int], cycles: int, tmp: Path, port: int) -> dict[str, float]:
    config = {
        "targets": [{"url": f"127.0.0.1:{p}", "role": "decode", "group": "bench"} for p in ports],
        "interval_s": INTERVAL,
        "concurrency": 64,
        "host": "127.0.0.1",
        "port": port,
    }
    path = tmp / "exporter.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "llmobs", "exporter", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: exporter_scrapes(url) >= len(ports), 120, "the exporter's first round")
        time.sleep(INTERVAL)
        before, t0 = exporter_scrapes(url), time.monotonic()
        per_cycle, rss = measure(proc.pid, 0.0, cycles)
        done = (exporter_scrapes(url) - before) / ((time.monotonic() - t0) / INTERVAL)
        timings = []
        size = 0
        for _ in range(5):
            t = time.perf_counter()
            size = len(get(url + "/metrics"))
            timings.append(time.perf_counter() - t)
        return {
            "cpu": per_cycle,
            "rss": rss,
            "scrapes_per_cycle": done,
            "metrics_ms": sorted(timings)[2] * 1000,
            "metrics_kb": size / 1024,
        }
    finally:
        proc.terminate()
        proc.wait(30)


def run_prometheus(ports: list[int], cycles: int, tmp: Path, port: int) -> dict[str, float]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is not installed (apt-get install prometheus)")
    targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports)
    (tmp / "prometheus.yml").write_text(
        f"global: {{scrape_interval: {INTERVAL:g}s, scrape_timeout: 4s}}\n"
        f"scrape_configs:\n  - job_name: engines\n    static_configs: [{{targets: [{targets}]}}]\n"
    )
    proc = subprocess.Popen(
        [
            "taskset", "-c", "0", binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: b"success" in get(url + "/api/v1/query?query=up"), 60, "Prometheus")
        per_cycle, rss = measure(proc.pid, 2 * INTERVAL, cycles)
        return {"cpu": per_cycle, "rss": rss}
    finally:
        proc.terminate()
        proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--first-port", type=int, default=21000)
    args = parser.parse_args()
    ports = list(range(args.first_port, args.first_port + args.targets))
    server = subprocess.Popen(
        ["taskset", "-c", "1", sys.executable, __file__, "--serve-targets",
         str(args.targets), str(args.first_port)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "ready":
            raise SystemExit("the target server did not start")
        with tempfile.TemporaryDirectory() as tmp:
            ours = run_exporter(ports, args.cycles, Path(tmp), args.first_port - 2)
            theirs = run_prometheus(ports, args.cycles, Path(tmp), args.first_port - 1)
    finally:
        server.terminate()
        server.wait(30)
    n = args.targets
    print(f"{n} targets (real vLLM 0.32.0 body, 53 kB), every {INTERVAL:g}s, one core each\n")
    print("| process | CPU s per 5 s cycle | share of one core | memory (RSS) | scrapes/cycle |")
    print("|---|---|---|---|---|")
    print(
        f"| llmobs exporter | {ours['cpu']:.2f} | {ours['cpu'] / INTERVAL:.0%} | "
        f"{ours['rss']:.0f} MiB | {ours['scrapes_per_cycle']:.0f} of {n} |"
    )
    print(
        f"| Prometheus 2.42 (peer) | {theirs['cpu']:.2f} | {theirs['cpu'] / INTERVAL:.0%} | "
        f"{theirs['rss']:.0f} MiB | (all) |"
    )
    print(
        f"\nexporter / Prometheus: CPU {ours['cpu'] / theirs['cpu']:.2f}x, "
        f"memory {ours['rss'] / theirs['rss']:.2f}x; the exporter's own /metrics: "
        f"{ours['metrics_kb']:.0f} kB in {ours['metrics_ms']:.0f} ms (median of 5)"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-targets":
        serve_targets(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
