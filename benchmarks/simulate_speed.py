"""``llmobs simulate`` speed: one policy over the one-hour Mooncake trace, in CPU seconds
(docs/benchmarks.md; the issue's goal: under a minute).

The harness replays ``shared/traces/mooncake-conversation.jsonl`` (12,031 requests) through a
virtual 4P4D cluster under a fixed policy, scraping every replica's /metrics every 5 s with
the exporter's code and building a role observation each minute. The peer, in the same run,
is the bare replay of the same requests on the same cluster with no scraping and no policy:
the ratio is what watching the cluster as production does costs.

    .venv/bin/python benchmarks/simulate_speed.py [TRACE]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from llmobs.autoscaler import workloads
from llmobs.autoscaler.registry import FixedPolicy
from llmobs.autoscaler.simulate import Setup, simulate
from llmobs.bench.metrics import parse_slo
from llmobs.sim.virtual import VirtualCluster

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "traces" / "mooncake-conversation.jsonl"
ROLES = {"prefill": 4, "decode": 4}


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    requests = workloads.from_trace(path, seed=0)
    setup = Setup(start=ROLES)
    bare = VirtualCluster(setup.resolved(), dict(ROLES), cold_start_s=setup.cold_start_s)
    bare.submit(requests)
    start = time.process_time()
    bare.run()
    peer = time.process_time() - start
    run = simulate(
        FixedPolicy("fixed", dict(ROLES)), requests, setup, parse_slo("ttft=2s,tpot=50ms")
    )
    print("| run | requests | simulated | CPU | ratio |")
    print("|---|---|---|---|---|")
    print(
        f"| bare replay (peer) | {len(requests):,} | {bare.now / 60:.1f} min | {peer:.1f} s | 1.0 |"
    )
    print(
        f"| simulate, fixed 4P4D, scrape 5 s, asked every 60 s | {len(requests):,} "
        f"| {run.end_s / 60:.1f} min | {run.cpu_s:.1f} s | {run.cpu_s / peer:.2f}x |"
    )
    same = all(bare.records[r.id].finished == r.finished for r in run.records)
    print(f"\nidentical per-request results: {same}")


if __name__ == "__main__":
    main()
