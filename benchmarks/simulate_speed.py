"""``llmobs simulate`` speed: one policy over the one-hour Mooncake trace, in CPU seconds
(docs/benchmarks.md; the issue's goal: under a minute).

The harness replays ``shared/traces/mooncake-conversation.jsonl`` (12,031 requests) through a
virtual cluster starting at 4P4D under each policy asked for (default: a fixed 4P4D, asked
every 60 s, and ours, ``llmobs``, the costliest: asked every 15 s), scraping every replica's
/metrics every 5 s with the exporter's code and building a role observation at each decision.
The peer, in the same run, is the bare replay of the same requests on the same cluster with
no scraping and no policy: the ratio is what watching the cluster as production does, and
deciding, costs.

    .venv/bin/python benchmarks/simulate_speed.py [TRACE] [--policy NAME ...]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from llmobs.autoscaler import registry, workloads
from llmobs.autoscaler.model import Policy
from llmobs.autoscaler.registry import FixedPolicy
from llmobs.autoscaler.simulate import Setup, simulate
from llmobs.bench.metrics import parse_slo
from llmobs.sim.virtual import VirtualCluster

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "traces" / "mooncake-conversation.jsonl"
ROLES = {"prefill": 4, "decode": 4}
SLO = "ttft=2s,tpot=50ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument(
        "--policy",
        action="append",
        help="fixed (4P4D) or a registered policy, repeatable [fixed, llmobs]",
    )
    args = parser.parse_args()
    requests = workloads.from_trace(args.trace, seed=0)
    setup = Setup(start=ROLES)
    slo = parse_slo(SLO)
    bare = VirtualCluster(setup.resolved(), dict(ROLES), cold_start_s=setup.cold_start_s)
    bare.submit(requests)
    start = time.process_time()
    bare.run()
    peer = time.process_time() - start
    print("| run | requests | simulated | replicas (peak P/D) | GPU-hours | CPU | ratio |")
    print("|---|---|---|---|---|---|---|")
    fixed = f"{ROLES['prefill']}/{ROLES['decode']}"
    gpu_hours = sum(ROLES.values()) * bare.now / 3600
    print(
        f"| bare replay (peer) | {len(requests):,} | {bare.now / 60:.1f} min | {fixed} "
        f"| {gpu_hours:.1f} | {peer:.1f} s | 1.0 |"
    )
    scenario = registry.Scenario(slo=slo, requests=requests, setup=setup)
    known = registry.registered()
    notes: list[str] = []
    for name in args.policy or ["fixed", "llmobs"]:
        policy: Policy = (
            FixedPolicy("fixed", dict(ROLES))
            if name == "fixed"
            else registry.build(name, scenario, known)
        )
        run = simulate(policy, requests, setup, slo, start=getattr(policy, "start", None))
        label = "fixed 4P4D" if name == "fixed" else f"{name} from 4P4D"
        print(
            f"| simulate, {label}, scrape 5 s, asked every {policy.interval_s:g} s "
            f"| {len(requests):,} | {run.end_s / 60:.1f} min "
            f"| {run.peak('prefill')}/{run.peak('decode')} | {run.gpu_hours:.1f} "
            f"| {run.cpu_s:.1f} s | {run.cpu_s / peer:.2f}x |"
        )
        if name == "fixed":
            same = all(bare.records[r.id].finished == r.finished for r in run.records)
            notes.append(f"fixed 4P4D: per-request results identical to the peer's: {same}")
    print("", *notes, sep="\n")


if __name__ == "__main__":
    main()
