"""Exporter scale and cost: N targets every 5 s, beside Prometheus scraping the same N.

One purpose-made server process (CPU 1) listens on N ports and answers every ``GET /metrics``
with the real vLLM 0.32.0 capture (53 kB, 92 families). On CPU 0, at the same time:

* ``llmobs exporter`` with the N targets as static targets (interval 5 s), and
* the peer: Prometheus 2.42 scraping the same N targets every 5 s (what an operator would run
  anyway, and the reference for "cost per scrape"),

both measured over the same ``--cycles`` scrape intervals after a warm-up. Measured per
process from /proc: CPU seconds per 5 s cycle and resident memory at the end; for the
exporter, the scrapes it completed (keeping up means N per cycle), how long its own /metrics
takes to serve and how big it is. Then, in this process, the parts of one /metrics at N
targets built from the same body: the target views, the role aggregation and the text.
Printed as a Markdown table with the ratios (recorded in docs/benchmarks.md).

    .venv/bin/python benchmarks/exporter_scale.py --targets 1000 --cycles 12
"""

from __future__ import annotations

import argparse
import asyncio
import json
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


def start_exporter(ports: list[int], tmp: Path, port: int) -> subprocess.Popen[bytes]:
    config = {
        "targets": [{"url": f"127.0.0.1:{p}", "role": "decode", "group": "bench"} for p in ports],
        "interval_s": INTERVAL,
        "concurrency": 64,
        "host": "127.0.0.1",
        "port": port,
    }
    path = tmp / "exporter.yaml"
    path.write_text(yaml.safe_dump(config))
    return subprocess.Popen(
        ["taskset", "-c", "0", sys.executable, "-m", "llmobs", "exporter", "--config", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_prometheus(ports: list[int], tmp: Path, port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("prometheus")
    if binary is None:
        raise SystemExit("prometheus is not installed (apt-get install prometheus)")
    targets = ", ".join(f"'127.0.0.1:{p}'" for p in ports)
    (tmp / "prometheus.yml").write_text(
        f"global: {{scrape_interval: {INTERVAL:g}s, scrape_timeout: 4s}}\n"
        f"scrape_configs:\n  - job_name: engines\n    static_configs: [{{targets: [{targets}]}}]\n"
    )
    return subprocess.Popen(
        [
            "taskset", "-c", "0", binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def prometheus_up(url: str, count: int) -> bool:
    answer = json.loads(get(url + "/api/v1/query?query=count(up==1)"))
    result = answer["data"]["result"]
    return bool(result) and float(result[0]["value"][1]) >= count


def side_by_side(ports: list[int], cycles: int, tmp: Path, port: int) -> dict[str, float]:
    """Both processes at once, CPU over the same window."""
    exporter = start_exporter(ports, tmp, port)
    prometheus = start_prometheus(ports, tmp, port + 1)
    ours, theirs = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
    n = len(ports)
    try:
        wait_for(lambda: exporter_scrapes(ours) >= n, 120, "the exporter's first round")
        wait_for(lambda: prometheus_up(theirs, n), 120, "Prometheus's first round")
        time.sleep(2 * INTERVAL)
        before, t0 = exporter_scrapes(ours), time.monotonic()
        cpu0 = cpu_seconds(exporter.pid), cpu_seconds(prometheus.pid)
        time.sleep(cycles * INTERVAL)
        cpu1 = cpu_seconds(exporter.pid), cpu_seconds(prometheus.pid)
        elapsed = time.monotonic() - t0
        done = (exporter_scrapes(ours) - before) / (elapsed / INTERVAL)
        timings = []
        size = 0
        for _ in range(5):
            t = time.perf_counter()
            size = len(get(ours + "/metrics"))
            timings.append(time.perf_counter() - t)
        per_cycle = elapsed / INTERVAL
        return {
            "cpu": (cpu1[0] - cpu0[0]) / per_cycle,
            "peer_cpu": (cpu1[1] - cpu0[1]) / per_cycle,
            "rss": rss_mib(exporter.pid),
            "peer_rss": rss_mib(prometheus.pid),
            "scrapes_per_cycle": done,
            "metrics_ms": sorted(timings)[2] * 1000,
            "metrics_kb": size / 1024,
        }
    finally:
        for proc in (exporter, prometheus):
            proc.terminate()
        for proc in (exporter, prometheus):
            proc.wait(30)


def render_parts(count: int) -> dict[str, float]:
    """One /metrics at COUNT targets, in this process: views, role aggregation, text (ms)."""
    from llmobs import engines
    from llmobs.exporter.collector import Exported, render
    from llmobs.exporter.state import Target, TargetState
    from llmobs.exposition.parser import parse
    from llmobs.roles import aggregate
    from llmobs.scrape.fetch import ScrapeResult

    body = BODY.read_text()
    states = []
    for i in range(count):
        pod = f"127.0.0.1:{21000 + i}"
        target = Target(pod, f"http://{pod}/metrics", pod=pod, role="decode", group="bench")
        state = TargetState(target, 60.0)
        for at in (0.0, INTERVAL):
            exposition = parse(body, wanted=engines.WANTED)
            state.observe(ScrapeResult(target.url, 1.8e9 + at, at, 0.01, exposition, None))
        states.append(state)
    parts: dict[str, list[float]] = {"views": [], "roles": [], "text": []}
    for _ in range(5):
        t0 = time.perf_counter()
        views = tuple(state.view() for state in states)
        t1 = time.perf_counter()
        members = (view.member() for view in views)
        roles = aggregate(members, now=INTERVAL, wall_time=1.8e9, window_s=60.0, quantiles=(0.5,))
        t2 = time.perf_counter()
        render(Exported(views, roles, 0, 0)).encode()
        t3 = time.perf_counter()
        for key, value in (("views", t1 - t0), ("roles", t2 - t1), ("text", t3 - t2)):
            parts[key].append(value * 1000)
    return {key: sorted(values)[2] for key, values in parts.items()}


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
            r = side_by_side(ports, args.cycles, Path(tmp), args.first_port - 3)
    finally:
        server.terminate()
        server.wait(30)
    parts = render_parts(args.targets)
    n = args.targets
    print(f"{n} targets (real vLLM 0.32.0 body, 53 kB), every {INTERVAL:g}s, both on CPU 0\n")
    print("| process | CPU s per 5 s cycle | share of one core | memory (RSS) | scrapes/cycle |")
    print("|---|---|---|---|---|")
    print(
        f"| llmobs exporter | {r['cpu']:.2f} | {r['cpu'] / INTERVAL:.0%} | "
        f"{r['rss']:.0f} MiB | {r['scrapes_per_cycle']:.0f} of {n} |"
    )
    print(
        f"| Prometheus 2.42 (peer) | {r['peer_cpu']:.2f} | {r['peer_cpu'] / INTERVAL:.0%} | "
        f"{r['peer_rss']:.0f} MiB | (all) |"
    )
    print(
        f"\nexporter / Prometheus: CPU {r['cpu'] / r['peer_cpu']:.2f}x, "
        f"memory {r['rss'] / r['peer_rss']:.2f}x; the exporter's own /metrics: "
        f"{r['metrics_kb']:.0f} kB served in {r['metrics_ms']:.0f} ms (median of 5 GETs); "
        f"in-process at {n} targets: views {parts['views']:.1f} ms, role aggregation "
        f"{parts['roles']:.1f} ms, text {parts['text']:.1f} ms (medians of 5)"
    )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--serve-targets":
        serve_targets(int(sys.argv[2]), int(sys.argv[3]))
    else:
        main()
