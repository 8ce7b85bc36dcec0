"""Virtual-time replay speed: the one-hour Mooncake trace in seconds of CPU (docs/benchmarks.md).

Replays ``shared/traces/mooncake-conversation.jsonl`` (12,031 requests, one hour) through
emulated clusters and reports CPU seconds and the speed-up over real time. The peer, measured
in the same run on the same first 10 minutes, is the same simulator stepping every decode step
one by one (``jump_decode=False``): the results are identical, the ratio is the gain.

    .venv/bin/python benchmarks/sim_replay.py [TRACE]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.trace import read_mooncake
from llmobs.sim.virtual import VirtualCluster

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "traces" / "mooncake-conversation.jsonl"


def replay(
    path: Path, roles: dict[str, int], *, jump: bool = True, until: float | None = None
) -> tuple[float, VirtualCluster]:
    resolved = Resolved(EngineSettings(model="Llama-3.1-8B", hardware="H100-80GB"))
    cluster = VirtualCluster(resolved, roles, jump_decode=jump)
    requests = [r for r in read_mooncake(path, block_size=16) if until is None or r.arrival < until]
    cluster.submit(requests)
    start = time.process_time()
    cluster.run()
    return time.process_time() - start, cluster


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    print("| cluster | replayed | requests | output tokens | CPU | faster than real time |")
    print("|---|---|---|---|---|---|")
    for roles in ({"both": 8}, {"prefill": 4, "decode": 4}):
        cpu, cluster = replay(path, roles)
        records = list(cluster.records.values())
        tokens = sum(r.output_tokens for r in records if r.finished is not None)
        name = " + ".join(f"{n} {role}" for role, n in roles.items())
        print(
            f"| {name} | {cluster.now / 60:.1f} min | {len(records):,} | {tokens:,} "
            f"| {cpu:.1f} s | {cluster.now / cpu:.0f}x |"
        )
    print("\nDecode jumps against stepping one by one, first 10 minutes, 8 aggregated replicas:\n")
    print("| simulator | CPU | ratio |")
    print("|---|---|---|")
    fast, a = replay(path, {"both": 8}, until=600)
    slow, b = replay(path, {"both": 8}, jump=False, until=600)
    same = all(a.records[k].finished == b.records[k].finished for k in a.records)
    print(f"| decode steps one by one | {slow:.1f} s | 1.0 |")
    print(f"| with decode jumps | {fast:.1f} s | {slow / fast:.1f}x faster |")
    print(f"\nidentical per-request results: {same}")


if __name__ == "__main__":
    main()
