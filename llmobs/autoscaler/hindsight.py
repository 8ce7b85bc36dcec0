"""The ``static`` baseline's xPyD, searched in hindsight: the cheapest fixed deployment whose
runs of the very workload meet both SLOs for at least ``target`` of the requests (99%).

Prefill replicas set TTFT and decode replicas TPOT, almost independently (a starved decoder
does not slow the prefill; a starved prefill only thins the decoders' load). So the search
is a bisection per role, the other role held large: the fewest prefill replicas meeting the
TTFT target, then the fewest decode replicas meeting the TPOT target beside them; then the
pair is checked as a whole and the role further from its target grows until both are met or
a role reaches ``limit`` (then the best found is returned: a static deployment that misses
is reported as missing, not hidden). Each probe is a full simulated run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from llmobs.autoscaler.registry import FixedPolicy, Scenario
from llmobs.autoscaler.scoring import Score
from llmobs.autoscaler.simulate import Setup, simulate

TARGET = 0.99


@dataclass(frozen=True, slots=True)
class Probe:
    prefill: int
    decode: int
    ttft: float
    tpot: float
    both: float


def _fewest(ok: Callable[[int], bool], limit: int) -> int:
    """The smallest n in 1..limit with ``ok(n)`` (``ok`` monotone), else ``limit``."""
    low, high = 1, limit
    while low < high:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid + 1
    return low


def cheapest_fixed(
    scenario: Scenario, setup: Setup, *, target: float = TARGET, limit: int = 16
) -> tuple[int, int]:
    """(prefill, decode) replicas: the cheapest fixed deployment meeting ``target``."""
    probes: dict[tuple[int, int], Probe] = {}

    def probe(p: int, d: int) -> Probe:
        if (p, d) not in probes:
            counts = {"prefill": p, "decode": d}
            run = simulate(
                FixedPolicy(f"{p}P{d}D", counts),
                scenario.requests,
                setup,
                scenario.slo,
                start=counts,
            )
            score = run.score
            probes[p, d] = Probe(
                p,
                d,
                _rate(score, score.met_ttft),
                _rate(score, score.met_tpot),
                _rate(score, score.met_both),
            )
        return probes[p, d]

    prefill = _fewest(lambda p: probe(p, limit).ttft >= target, limit)
    decode = _fewest(lambda d: probe(prefill, d).tpot >= target, limit)
    while True:
        found = probe(prefill, decode)
        if found.both >= target:
            return prefill, decode
        grow_prefill = found.ttft <= found.tpot
        if grow_prefill and prefill < limit:
            prefill += 1
        elif decode < limit:
            decode += 1
        elif prefill < limit:
            prefill += 1
        else:
            return prefill, decode


def _rate(score: Score, met: int) -> float:
    attained = score.attainment(met)
    return 1.0 if attained is None else attained
