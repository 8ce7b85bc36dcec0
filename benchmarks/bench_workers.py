"""How far one llmbench process goes, and what ``--workers`` adds.

The server must cost next to nothing, or it measures itself: nginx (C, one worker process)
answers every ``POST /v1/completions`` with the same complete SSE stream (``--osl`` content
chunks with usage, a usage chunk, ``[DONE]``) and ``/v1/models`` with the model. For each
worker count, the script raises the request rate until llmbench stops keeping up: the
achieved rate more than 1% off, a request failing, or schedule lag p99 over 10 ms (what
llmbench itself reports as CLIENT SATURATED). The highest rate that kept up is the capacity.

    .venv/bin/python benchmarks/bench_workers.py --workers 1,2 --osl 16

Needs nginx (``benchmarks/setup_peers.sh`` installs Debian's nginx-light). Scaling needs a
core per worker: on an N-core machine, workers beyond N - 1 (nginx takes some of one) cannot
add capacity.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stream(osl: int, prompt_tokens: int) -> str:
    events = []
    for k in range(1, osl + 1):
        chunk = {
            "id": "cmpl-bench",
            "object": "text_completion",
            "model": "tiny",
            "choices": [{"index": 0, "text": " tok", "logprobs": None, "finish_reason": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": k,
                "total_tokens": prompt_tokens + k,
            },
        }
        events.append("data: " + json.dumps(chunk))
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": osl,
        "total_tokens": prompt_tokens + osl,
    }
    events.append("data: " + json.dumps({"id": "cmpl-bench", "choices": [], "usage": usage}))
    events.append("data: [DONE]")
    return "".join(e + "\n\n" for e in events)


def nginx_conf(port: int, root: Path, body: str) -> str:
    models = json.dumps({"object": "list", "data": [{"id": "tiny", "object": "model"}]})
    quoted = body.replace("\\", "\\\\").replace("'", "\\'")
    return f"""
worker_processes 1;
daemon off;
error_log {root}/error.log warn;
pid {root}/nginx.pid;
events {{ worker_connections 16384; }}
http {{
    access_log off;
    client_body_temp_path {root};
    proxy_temp_path {root};
    fastcgi_temp_path {root};
    uwsgi_temp_path {root};
    scgi_temp_path {root};
    keepalive_requests 1000000;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /v1/models {{ default_type application/json; return 200 '{models}'; }}
        location = /v1/completions {{ default_type text/event-stream; return 200 '{quoted}'; }}
        location / {{ return 404; }}
    }}
}}
"""


class Nginx:
    def __init__(self, osl: int, isl: int, cpu: int | None) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise SystemExit("nginx is not installed: run benchmarks/setup_peers.sh")
        self.dir = Path(tempfile.mkdtemp(prefix="bench-nginx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = self.dir / "nginx.conf"
        conf.write_text(nginx_conf(self.port, self.dir, stream(osl, isl)))
        command = [binary, "-c", str(conf), "-e", str(self.dir / "error.log")]
        if cpu is not None:
            command = ["taskset", "-c", str(cpu), *command]
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(self.url + "/v1/models", timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(self.proc.stderr.read().decode()) from None  # type: ignore[union-attr]
                time.sleep(0.05)
        raise SystemExit("nginx did not start")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def run(url: str, rate: float, seconds: float, isl: int, osl: int, workers: int) -> dict[str, Any]:
    count = max(200, int(rate * seconds))
    with tempfile.TemporaryDirectory(prefix="bench-workers-") as out:
        done = subprocess.run(
            [
                str(REPO / ".venv/bin/llmbench"), "run", "--base-url", url, "--model", "tiny",
                "--request-rate", f"{rate:g}", "-n", str(count), "--isl", str(isl),
                "--osl", str(osl), "--workers", str(workers), "--out", out, "--json",
            ],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if done.returncode not in (0, 1):
            raise SystemExit(done.stderr[-2000:])
        doc: dict[str, Any] = json.loads(done.stdout)
    s, client = doc["summary"], doc["client"]
    achieved = s["achieved_rate"] or 0.0
    lag = s["schedule_lag_ms"]["p99"] or 0.0
    kept_up = s["failed"] == 0 and abs(achieved / rate - 1) <= 0.01 and lag <= 10.0
    return {
        "rate": rate,
        "workers": workers,
        "achieved": achieved,
        "schedule_lag_p99_ms": lag,
        "failed": s["failed"],
        "cpu_utilization": client["cpu_utilization"],
        "ttft_p99_ms": s["ttft_ms"]["p99"],
        "kept_up": kept_up,
    }


def capacity(
    url: str, workers: int, args: argparse.Namespace
) -> tuple[float, list[dict[str, Any]]]:
    rate, best, rows = args.start, 0.0, []
    while rate <= args.max_rate:
        row = run(url, rate, args.seconds, args.isl, args.osl, workers)
        rows.append(row)
        print(
            f"  workers {workers}  {rate:7.0f} req/s -> achieved {row['achieved']:8.1f}, "
            f"schedule lag p99 {row['schedule_lag_p99_ms']:7.2f} ms, failed {row['failed']}, "
            f"CPU {row['cpu_utilization']:.0%}" + ("" if row["kept_up"] else "  (fell behind)"),
            flush=True,
        )
        if not row["kept_up"]:
            break
        best = rate
        rate *= args.step
    return best, rows


SPIN = (
    "import time\nend = time.monotonic() + 3\nn = 0\nwhile time.monotonic() < end: n += 1\nprint(n)"
)


def machine_scaling(processes: int) -> float:
    """How much more CPU-bound work ``processes`` spinning processes get done than one: what
    the machine itself gives a second process (a VM's vCPUs need not be whole cores)."""

    def spin(n: int) -> int:
        procs = [
            subprocess.Popen([sys.executable, "-c", SPIN], stdout=subprocess.PIPE, text=True)
            for _ in range(n)
        ]
        return sum(int(p.communicate()[0]) for p in procs)

    return spin(processes) / spin(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--osl", type=int, default=16, help="Chunks per stream.")
    parser.add_argument("--isl", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of each run.")
    parser.add_argument("--start", type=float, default=200.0)
    parser.add_argument("--step", type=float, default=1.25)
    parser.add_argument("--max-rate", type=float, default=20000.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    nginx = Nginx(args.osl, args.isl, 0 if cores >= 2 else None)
    results: dict[int, float] = {}
    runs: dict[int, list[dict[str, Any]]] = {}
    try:
        print(f"{cores} cores; nginx on CPU 0; streams of {args.osl} chunks")
        for workers in (int(w) for w in args.workers.split(",")):
            results[workers], runs[workers] = capacity(nginx.url, workers, args)
    finally:
        nginx.close()
    base = results[min(results)] or None
    print(
        "\n| workers | capacity (req/s) | chunks/s | vs 1 worker "
        "| the machine: N CPU-bound processes vs 1 |"
    )
    print("|---|---|---|---|---|")
    for workers, best in sorted(results.items()):
        ratio = f"{best / base:.2f}x" if base else "-"
        machine = machine_scaling(workers) if workers > 1 else 1.0
        print(f"| {workers} | {best:.0f} | {best * args.osl:.0f} | {ratio} | {machine:.2f}x |")
    if args.json:
        args.json.write_text(json.dumps({"capacity": results, "runs": runs}, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
