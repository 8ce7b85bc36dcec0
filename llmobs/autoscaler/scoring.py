"""How well a simulated run served its requests, and at what cost: per-request SLO
attainment (TTFT, TPOT, and both: every limit given, E2E included), latency percentiles,
GPU-hours. Pure functions.

A request is judged against each limit of the SLO on its own numbers (llmbench's per-request
rule: a one-token answer has no TPOT and meets that limit). A request the engine rejects (its
prompt and output longer than the model's context) is counted apart, never judged. A request
that failed (no replica took it) or did not finish is judged: it misses every limit.
Attainment is None when no request was judged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from llmobs.bench.metrics import Distribution, Slo, distribution
from llmobs.sim.virtual import RequestRecord

PERCENTILES = (50.0, 90.0, 99.0)


@dataclass(frozen=True, slots=True)
class Score:
    """One run's requests against one SLO. Latencies in seconds."""

    judged: int  # requests the engine accepted
    rejected: int  # longer than the model's context: refused as the engine would
    failed: int  # accepted but never finished (no replica took them, or the run ended)
    met_ttft: int
    met_tpot: int
    met_both: int
    ttft: Distribution
    tpot: Distribution

    def attainment(self, met: int) -> float | None:
        return None if self.judged == 0 else met / self.judged


def rejected(record: RequestRecord, max_model_len: int) -> bool:
    """The engine's own rule (``VirtualCluster``): prompt plus output over the context."""
    return record.prompt_tokens + record.output_tokens > max_model_len


def _meets(limit: float | None, value: float | None) -> bool:
    return limit is None or (value is not None and value <= limit)


def score(
    records: Iterable[RequestRecord],
    slo: Slo,
    max_model_len: int,
    ttft_per_1k: float | None = None,
) -> Score:
    """``records`` against ``slo``; with ``ttft_per_1k``, a request's TTFT limit grows by that
    many seconds per 1,000 prompt tokens (a long prompt may take longer to its first token)."""
    judged = refused = failed = met_ttft = met_tpot = met_both = 0
    ttfts: list[float] = []
    tpots: list[float] = []
    for record in records:
        if rejected(record, max_model_len):
            refused += 1
            continue
        judged += 1
        done = record.finished is not None and record.error is None
        if not done:
            failed += 1
            continue
        ttft = record.ttft
        tpot = 0.0 if record.output_tokens < 2 else record.tpot
        if ttft is not None:
            ttfts.append(ttft)
        if record.output_tokens >= 2 and tpot is not None:
            tpots.append(tpot)
        limit = slo.ttft
        if limit is not None and ttft_per_1k is not None:
            limit += ttft_per_1k * record.prompt_tokens / 1000
        ok_ttft, ok_tpot = _meets(limit, ttft), _meets(slo.tpot, tpot)
        met_ttft += ok_ttft
        met_tpot += ok_tpot
        met_both += ok_ttft and ok_tpot and _meets(slo.e2el, record.e2e)
    return Score(
        judged=judged,
        rejected=refused,
        failed=failed,
        met_ttft=met_ttft,
        met_tpot=met_tpot,
        met_both=met_both,
        ttft=distribution(ttfts, PERCENTILES),
        tpot=distribution(tpots, PERCENTILES),
    )


@dataclass(frozen=True, slots=True)
class Billed:
    """One replica's time on its GPUs: from when it was asked for (its cold start is billed)
    until it stopped, or ``None`` while it still runs."""

    role: str
    start: float
    stop: float | None


def gpu_hours(replicas: Iterable[Billed], gpus_per_replica: int, end: float) -> float:
    """GPU-hours of ``replicas`` up to ``end`` seconds (one still running is billed to it)."""
    seconds = sum(
        max(0.0, (end if r.stop is None else min(r.stop, end)) - r.start) for r in replicas
    )
    return seconds * gpus_per_replica / 3600.0


def percentile_json(dist: Distribution) -> dict[str, float | None]:
    """``{"p50": s, "p90": s, "p99": s, "mean": s}`` in seconds, None when nothing was measured."""
    out: dict[str, float | None] = {f"p{p:g}": dist.percentiles.get(p) for p in PERCENTILES}
    out["mean"] = dist.mean
    return out


def score_json(s: Score) -> dict[str, object]:
    return {
        "requests": s.judged,
        "rejected_over_context": s.rejected,
        "failed": s.failed,
        "attainment": {
            "ttft": s.attainment(s.met_ttft),
            "tpot": s.attainment(s.met_tpot),
            "both": s.attainment(s.met_both),
        },
        "ttft_seconds": percentile_json(s.ttft),
        "tpot_seconds": percentile_json(s.tpot),
    }
