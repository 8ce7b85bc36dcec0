"""llmbench's accuracy against the emulator's fixed-latency mode, beside its peers.

The emulator (``llmobs sim --fixed-ttft-ms T --fixed-itl-ms I``) answers every request with
its first token exactly T ms after the request arrived and the next ones I ms apart, whatever
the load; it records when each request arrived (``GET /sim/arrivals``) and how late its own
tokens went out (``GET /sim/lag``). A fresh emulator runs pinned to CPU 0 for each tool; the
tool runs pinned to CPU 1. For each tool the script reports, from the server's side and the
tool's own per-request output:

* the achieved arrival rate at the server (``(n - 1) / span`` of the arrivals) against the
  nominal rate, and against the tool's own plan where it records one;
* client-added TTFT error: the TTFT the tool reports minus the fixed T, p50 / p99 / max;
* how late the emulator itself was (its share of any error);
* failures.

    .venv/bin/python benchmarks/bench_accuracy.py --scenario rate     # 500 req/s, short
    .venv/bin/python benchmarks/bench_accuracy.py --scenario ttft     # 200 req/s, 100 tokens
    .venv/bin/python benchmarks/bench_accuracy.py --tools llmbench,vllm,guidellm

Peers: ``vllm bench serve`` from the CPU vLLM venv (scripts/real-vllm/setup.sh) and guidellm
from its own venv (benchmarks/setup_peers.sh); a peer that is not installed is
reported as such and skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.peers import PEERS, ToolRun, model_dir, run_llmbench

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Scenario:
    name: str
    rate: float
    count: int
    isl: int
    osl: int
    ttft_ms: float
    itl_ms: float


SCENARIOS = {
    "rate": Scenario("rate", rate=500.0, count=10_000, isl=32, osl=4, ttft_ms=20, itl_ms=5),
    "ttft": Scenario("ttft", rate=200.0, count=4_000, isl=32, osl=100, ttft_ms=50, itl_ms=10),
    "ttft-50": Scenario("ttft-50", rate=50.0, count=1_500, isl=32, osl=100, ttft_ms=50, itl_ms=10),
}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


class Emulator:
    def __init__(self, scenario: Scenario, cpu: int | None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [
            str(REPO / ".venv/bin/llmobs"),
            "sim",
            "--port",
            str(self.port),
            "--fixed-ttft-ms",
            f"{scenario.ttft_ms:g}",
            "--fixed-itl-ms",
            f"{scenario.itl_ms:g}",
            "--served-model-name",
            "tiny",
            "--tokenizer",
            str(model_dir()),
        ]
        if cpu is not None:
            command = ["taskset", "-c", str(cpu), *command]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the emulator exited: {self.proc.stderr.read().decode()}")  # type: ignore[union-attr]
            try:
                urllib.request.urlopen(self.url + "/health", timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("the emulator did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def pct(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def shift(tool: list[float], server: list[float], q: float) -> float | None:
    """How much later the tool's q-th percentile is than the server's own."""
    a, b = pct(tool, q), pct(server, q)
    return None if a is None or b is None else a - b


def measure(
    tool_name: str, scenario: Scenario, work: Path, cpu: int | None, workers: int
) -> dict[str, Any]:
    sim = Emulator(scenario, 0 if cpu is not None else None)
    try:
        runner = run_llmbench if tool_name == "llmbench" else PEERS[tool_name]
        run: ToolRun = runner(
            sim.url,
            scenario.rate,
            scenario.count,
            scenario.isl,
            scenario.osl,
            0,
            work / tool_name,
            cpu,
            workers,
        )
        arrivals = get(sim.url + "/sim/arrivals")
        lag = get(sim.url + "/sim/lag")
    finally:
        sim.close()
    errors = [(t * 1000 - scenario.ttft_ms) for t in run.ttfts_s]
    server = [t * 1000 for t in arrivals["first_token_s"]]  # arrival to first token, ms
    tool = [t * 1000 for t in run.ttfts_s]
    out: dict[str, Any] = {
        "tool": tool_name,
        "version": run.version,
        "completed": run.completed,
        "failed": run.failed,
        "server_arrivals": arrivals["count"],
        "server_rate": arrivals["rate"],
        "rate_error_pct": (
            None if not arrivals["rate"] else 100 * (arrivals["rate"] / scenario.rate - 1)
        ),
        "planned_rate": run.planned_rate,
        "vs_plan_pct": (
            None
            if not run.planned_rate or not arrivals["rate"]
            else 100 * (arrivals["rate"] / run.planned_rate - 1)
        ),
        "ttft_error_ms": {
            "p50": pct(errors, 50),
            "p99": pct(errors, 99),
            "max": max(errors) if errors else None,
        },
        # the client's share: its TTFT quantiles minus the server's own (the emulator's
        # timer lateness taken out)
        "client_added_ms": {q: shift(tool, server, v) for q, v in (("p50", 50), ("p99", 99))},
        "server_lag_ms": {"p99": lag["p99_s"] * 1000, "worst": lag["worst_s"] * 1000},
        "tool_cpu_s": run.cpu_seconds,
        "wall_s": run.wall_seconds,
        "note": run.note,
    }
    return out


FLOOR_PROBE = """
import asyncio, json
async def main():
    loop = asyncio.get_running_loop()
    lags = []
    for _ in range(300):
        due = loop.time() + 0.01
        done = loop.create_future()
        loop.call_at(due, done.set_result, None)
        await done
        lags.append(loop.time() - due)
    print(json.dumps(sorted(lags)))
asyncio.run(main())
"""


def floor(cpu: int | None) -> dict[str, float]:
    """How late an idle event loop's 10 ms timers fire on the tool's CPU while the other CPU
    is busy: the machine's own jitter, below which no client can measure."""
    spin = subprocess.Popen(
        [
            *(["taskset", "-c", "0"] if cpu is not None else []),
            sys.executable,
            "-c",
            "import time\nend = time.monotonic() + 4\nwhile time.monotonic() < end: pass",
        ]
    )
    try:
        done = subprocess.run(
            [
                *(["taskset", "-c", str(cpu)] if cpu is not None else []),
                sys.executable,
                "-c",
                FLOOR_PROBE,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        spin.wait()
    lags = json.loads(done.stdout)
    return {
        "p50": 1000 * lags[len(lags) // 2],
        "p99": 1000 * lags[int(0.99 * (len(lags) - 1))],
        "max": 1000 * lags[-1],
    }


def row(r: dict[str, Any]) -> str:
    def f(v: float | None, digits: int = 2) -> str:
        return "-" if v is None else f"{v:.{digits}f}"

    e, c = r["ttft_error_ms"], r["client_added_ms"]
    return (
        f"| {r['tool']} {r['version'] or ''} | {r['completed']} / {r['failed']} | "
        f"{f(r['server_rate'], 1)} | {f(r['rate_error_pct'])}% | {f(r['vs_plan_pct'])}% | "
        f"{f(e['p50'])} / {f(e['p99'])} / {f(e['max'])} | {f(c['p50'])} / {f(c['p99'])} | "
        f"{f(r['server_lag_ms']['p99'])} | {f(r['tool_cpu_s'], 1)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument("--tools", default="llmbench,vllm,guidellm")
    parser.add_argument("--count", type=int, help="Requests per run (default per scenario).")
    parser.add_argument("--workers", type=int, default=1, help="llmbench --workers.")
    parser.add_argument("--no-pin", action="store_true", help="Do not pin to CPUs 0 and 1.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args()
    cpu = None if args.no_pin or (os.cpu_count() or 1) < 2 else 1
    names = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    noise = floor(cpu)
    print(
        f"machine floor: an idle loop's 10 ms timers on the tool's CPU fire late by "
        f"p50 {noise['p50']:.2f} / p99 {noise['p99']:.2f} / max {noise['max']:.2f} ms "
        "while the other CPU is busy"
    )
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-accuracy-") as tmp:
        for name in names:
            scenario = SCENARIOS[name]
            if args.count:
                scenario = Scenario(**{**scenario.__dict__, "count": args.count})
            print(
                f"\n{name}: {scenario.rate:g} req/s Poisson, {scenario.count} requests, "
                f"ISL {scenario.isl}, OSL {scenario.osl}, fixed TTFT {scenario.ttft_ms:g} ms, "
                f"ITL {scenario.itl_ms:g} ms"
            )
            print(
                "| tool | completed / failed | server req/s | vs nominal | vs own plan | "
                "TTFT error p50 / p99 / max (ms) | client-added p50 / p99 (ms) | "
                "emulator lag p99 (ms) | tool CPU s |"
            )
            print("|---|---|---|---|---|---|---|---|---|")
            for tool in args.tools.split(","):
                try:
                    r = measure(tool, scenario, Path(tmp) / name, cpu, args.workers)
                except FileNotFoundError as exc:
                    print(f"| {tool} | not installed: {exc} |")
                    continue
                r["scenario"] = name
                results.append(r)
                print(row(r), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"floor_ms": noise, "runs": results}, indent=2))


if __name__ == "__main__":
    main()
