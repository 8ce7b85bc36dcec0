"""A real vLLM (CPU) under load, read by llmobs scrape.

Run ``.venv/bin/python scripts/real-vllm/demo.py`` (after scripts/setup).

Starts the CPU vLLM built by setup.sh on a free port, waits until it is healthy, opens a
20-second ``llmobs scrape --window`` while sending streamed completions, and prints what
llmobs measured; then stops the server.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def complete(url: str, i: int) -> None:
    body = json.dumps(
        {
            "model": "tiny",
            "prompt": "the model token prompt " * (20 + i % 50),
            "max_tokens": 64,
            "ignore_eos": True,
            "stream": True,
        }
    ).encode()
    request = urllib.request.Request(
        url + "/v1/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        for _ in response:  # read the SSE stream to the end
            pass


def main() -> int:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = Path(tempfile.mkdtemp(prefix="llmobs-demo-")) / "vllm.log"
    print(f"starting a real vLLM (CPU, tiny model) on {url}; log: {log}", flush=True)
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(REPO / "scripts/real-vllm/serve"), str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while not healthy(url):
            if server.poll() is not None or time.monotonic() > deadline:
                print(log.read_text()[-3000:], file=sys.stderr)
                print("vLLM did not become healthy", file=sys.stderr)
                return 1
            time.sleep(0.5)
        print(
            "vLLM is up; scraping over a 20 s window while sending 24 streamed requests\n",
            flush=True,
        )
        scrape = subprocess.Popen(
            [str(BIN / "llmobs"), "scrape", url + "/metrics", "--window", "20"],
            stderr=subprocess.PIPE,
            text=True,
        )
        assert scrape.stderr is not None
        scrape.stderr.readline()  # the first scrape is taken: start the load
        workers = [
            threading.Thread(target=lambda k=k: [complete(url, k * 6 + j) for j in range(6)])
            for k in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        return scrape.wait()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
