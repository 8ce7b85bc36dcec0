"""Start-up time of the commands: ``llmobs --help``, ``llmbench --help``, ``llmobs sim --help``.

Wall time of each command as a fresh process, the median of N runs, with peers measured in
the same run, interleaved round by round so that they share the machine's noise:

* the bare interpreter (``python -c pass``), the floor every command pays;
* ``python -c "import kubernetes"``, what the Kubernetes client alone costs;
* every module the commands use imported up front (the exporter's service, the emulator's
  PD cluster, the benchmark and its plots): what ``--help`` cost when the command modules
  imported their components at the top.

    .venv/bin/python benchmarks/startup.py [--runs 21]

Prints a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PY = sys.executable
EAGER = (
    "import llmobs.cli.main, llmobs.cli.bench, llmobs.exporter.service, llmobs.sim.cluster, "
    "llmobs.sim.serve, llmobs.bench.harness, llmobs.bench.plots, llmobs.bench.sweeprun"
)

COMMANDS: tuple[tuple[str, list[str]], ...] = (
    ("python -c pass (the floor)", [PY, "-c", "pass"]),
    ('python -c "import kubernetes"', [PY, "-c", "import kubernetes"]),
    ("every component imported up front", [PY, "-c", EAGER]),
    ("llmobs --help", [PY, "-m", "llmobs", "--help"]),
    ("llmobs sim --help", [PY, "-m", "llmobs", "sim", "--help"]),
    ("llmbench --help", [PY, "-m", "llmobs.cli.bench", "--help"]),
)


def once(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=REPO)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    for _, argv in COMMANDS:  # warm the file cache and the bytecode
        once(argv)
    times: dict[str, list[float]] = {name: [] for name, _ in COMMANDS}
    for _ in range(args.runs):
        for name, argv in COMMANDS:
            times[name].append(once(argv))
    medians = {name: statistics.median(values) for name, values in times.items()}
    floor = medians[COMMANDS[0][0]]
    eager = medians[COMMANDS[2][0]]
    print(f"median of {args.runs} runs each, interleaved; Python {sys.version.split()[0]}\n")
    print("| process | median wall time | x the bare interpreter | share of the eager import |")
    print("|---|---:|---:|---:|")
    for name, _ in COMMANDS:
        m = medians[name]
        print(f"| `{name}` | {m * 1000:.0f} ms | {m / floor:.1f}x | {m / eager:.0%} |")


if __name__ == "__main__":
    main()
