"""The autoscaler evaluation table (docs/autoscaling.md): every registered policy over every
workload in virtual time, as ``llmobs simulate`` runs them.

Workloads: each synthetic pattern (``llmobs simulate --list``; ``dynamo`` is Dynamo's planner
benchmark, where the fixed 2P2D it was compared with joins) and the one-hour Mooncake trace.
Per policy: attainment of both SLOs, TTFT/TPOT p99, GPU-hours, scale actions, peak replicas.
Then the goal, per workload: ours (``llmobs``) at >= 99% of both SLOs with fewer GPU-hours
than every baseline that also reaches it; a baseline that misses, by how much.

    .venv/bin/python benchmarks/autoscaling_eval.py [--quick] [--only NAME] [--trace F] [--json F]
        [--doc docs/autoscaling.md]

``--quick`` takes the first 10 minutes of each workload (minutes of CPU instead of an hour).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from llmobs import strictjson
from llmobs.autoscaler import registry, simreport, workloads
from llmobs.autoscaler.simulate import Run, Setup, simulate
from llmobs.bench.metrics import parse_slo
from llmobs.sim.virtual import VirtualRequest

TRACE = Path(__file__).resolve().parents[2] / "shared" / "traces" / "mooncake-conversation.jsonl"
SLO = parse_slo("ttft=2s,tpot=50ms")
OURS = "llmobs"
# The trace's prompts run to 126k tokens (mean 12k): a flat 2 s TTFT is out of reach for its
# longest ones on any number of replicas, so its TTFT limit grows with the prompt.
MOONCAKE_TTFT_PER_1K = 0.1
GOAL = 0.99


def both(run: Run) -> float:
    return run.score.attainment(run.score.met_both) or 0.0


def evaluate(
    name: str,
    requests: list[VirtualRequest],
    setup: Setup,
    extra: list[str],
    ttft_per_1k: float | None = None,
) -> list[Run]:
    known = registry.registered()
    scenario = registry.Scenario(slo=SLO, requests=requests, setup=setup, ttft_per_1k=ttft_per_1k)
    runs = []
    for policy_name in [*sorted(p for p in known if p != registry.FIXED), *extra]:
        policy = registry.build(policy_name, scenario, known)
        print(f"  {name}: {policy.name} ...", flush=True)
        start = getattr(policy, "start", None)
        runs.append(simulate(policy, requests, setup, SLO, start=start, ttft_per_1k=ttft_per_1k))
    return runs


def verdict(runs: list[Run]) -> str:
    ours = next((r for r in runs if r.policy == OURS), None)
    if ours is None:
        return "ours not registered"
    met = [r for r in runs if r is not ours and both(r) >= GOAL]
    lines = []
    if both(ours) < GOAL:
        lines.append(f"ours MISSES: {both(ours):.1%} of both SLOs")
    cheaper = [r for r in met if r.gpu_hours <= ours.gpu_hours]
    if cheaper:
        listed = ", ".join(f"{r.policy} ({r.gpu_hours:.2f})" for r in cheaper)
        lines.append(f"as cheap or cheaper and meeting 99%: {listed}")
    elif both(ours) >= GOAL:
        lines.append("ours is the cheapest that meets 99%")
    for r in runs:
        if r is not ours and both(r) < GOAL:
            lines.append(f"{r.policy} misses by {(GOAL - both(r)) * 100:.1f} points")
    return "; ".join(lines)


def markdown(name: str, runs: list[Run]) -> str:
    out = [
        f"### {name}",
        "",
        "| policy | both SLOs | TTFT p99 | TPOT p99 | GPU-h | actions | peak P/D |",
    ]
    out.append("|---|---|---|---|---|---|---|")
    for r in runs:
        ttft, tpot = r.score.ttft.percentiles.get(99.0), r.score.tpot.percentiles.get(99.0)
        out.append(
            f"| {r.policy} | {both(r):.1%} | {'-' if ttft is None else f'{ttft:.2f} s'} "
            f"| {'-' if tpot is None else f'{tpot * 1000:.0f} ms'} | {r.gpu_hours:.2f} "
            f"| {len(r.actions)} | {r.peak('prefill')}/{r.peak('decode')} |"
        )
    out += ["", verdict(runs), ""]
    return "\n".join(out)


BEGIN, END = "<!-- autoscaling_eval: begin -->", "<!-- autoscaling_eval: end -->"


def splice(doc: Path, tables: str) -> None:
    """Replace what lies between the markers in ``doc`` with ``tables``."""
    text = doc.read_text(encoding="utf-8")
    head, found, rest = text.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise SystemExit(f"{doc}: no {BEGIN} ... {END} section to fill")
    doc.write_text(f"{head}{BEGIN}\n{tables}\n{END}{tail}", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="the first 10 minutes of each")
    parser.add_argument("--trace", type=Path, default=TRACE)
    parser.add_argument("--json", type=Path, default=None, help="also write every run here")
    parser.add_argument("--only", default=None, help="one workload: a pattern or 'mooncake'")
    parser.add_argument(
        "--doc", type=Path, default=None, help="also put the tables into this file's marked section"
    )
    args = parser.parse_args()
    duration = 600.0 if args.quick else None
    setup = Setup()
    docs: dict[str, Any] = {}
    sections = []
    for spec in workloads.PATTERNS.values():
        if args.only not in (None, spec.name):
            continue
        requests = workloads.synthesize(spec, seed=0, duration_s=duration)
        extra = ["fixed:2P2D"] if spec.name == "dynamo" else []
        runs = evaluate(spec.name, requests, setup, extra)
        sections.append(markdown(f"{spec.name}: {spec.description}", runs))
        docs[spec.name] = [simreport.run_json(r) for r in runs]
    if args.only in (None, "mooncake"):
        requests = workloads.from_trace(args.trace, seed=0, duration_s=duration)
        runs = evaluate("mooncake", requests, setup, [], MOONCAKE_TTFT_PER_1K)
        title = (
            f"Mooncake conversation trace ({len(requests):,} requests; TTFT limit 2 s + "
            f"{MOONCAKE_TTFT_PER_1K:g} s per 1,000 prompt tokens)"
        )
        sections.append(markdown(title, runs))
        docs["mooncake"] = [simreport.run_json(r) for r in runs]
    print("\n".join(sections))
    if args.doc is not None:
        splice(args.doc, "\n".join(sections))
    if args.json is not None:
        strictjson.write(args.json, docs)


if __name__ == "__main__":
    main()
