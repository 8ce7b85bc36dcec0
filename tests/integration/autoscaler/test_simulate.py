"""``llmobs simulate``'s engine: policies drive a virtual PD cluster through the Policy
protocol, seeing the exporter's role observations of the replicas' /metrics at the scrape
interval, with cold starts; runs are scored per request and billed per replica."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler import registry, workloads
from llmobs.autoscaler.model import Replicas
from llmobs.autoscaler.registry import FixedPolicy, Scenario
from llmobs.autoscaler.simreport import run_json
from llmobs.autoscaler.simulate import Run, Setup, simulate
from llmobs.bench.metrics import parse_slo
from llmobs.observation import Observation
from llmobs.trace import TraceRow

TRACE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "traces" / "mooncake-conversation-head.jsonl"
)
SLO = parse_slo("ttft=2s,tpot=50ms")
SETUP = Setup(cold_start_s=20.0, scrape_interval_s=5.0, window_s=30.0)


@dataclasses.dataclass
class Seen:
    now: float
    replicas: dict[str, Replicas]
    observation: Observation | None


@dataclasses.dataclass
class QueuePolicy:
    """A reactive test policy: one more prefill replica while prefill requests wait (what
    it reads is what the exporter's /v1/roles would say); records what it saw."""

    name: str = "queue"
    interval_s: float = 10.0
    seen: list[Seen] = dataclasses.field(default_factory=list)

    def step(
        self, observation: Observation | None, replicas: Mapping[str, Replicas], now: float
    ) -> dict[str, int]:
        self.seen.append(Seen(now, dict(replicas), observation))
        prefill = None if observation is None else observation.find("prefill")
        waiting = None if prefill is None else prefill.requests_waiting
        current = replicas["prefill"].desired
        if waiting is not None and waiting > 2 and replicas["prefill"].ready == current:
            return {"prefill": current + 1}
        return {}


def summary(run: Run) -> dict[str, object]:
    doc = run_json(run)
    del doc["cpu_seconds"]
    return doc


def test_a_trace_slice_through_two_policies() -> None:
    requests = workloads.from_trace(TRACE, seed=1)
    assert len(requests) == 100
    fixed = simulate(FixedPolicy("fixed", {"prefill": 1, "decode": 1}), requests, SETUP, SLO)
    queue = QueuePolicy()
    reactive = simulate(queue, requests, SETUP, SLO)
    for run in (fixed, reactive):
        assert run.score.judged + run.score.rejected == 100
        assert run.score.failed == 0  # every request finished
    assert fixed.actions == [] and fixed.peak("prefill") == 1
    # 12k-token prompts at 3 req/s swamp one prefill replica: the queue policy adds some
    assert reactive.actions and all(a.role == "prefill" for a in reactive.actions)
    assert reactive.peak("prefill") > 1
    slow, fast = fixed.score.ttft.percentiles[90.0], reactive.score.ttft.percentiles[90.0]
    assert slow is not None and fast is not None and fast < slow
    assert reactive.gpu_hours > fixed.gpu_hours
    # it saw both roles, as the exporter aggregates them, stamped with its clock
    observed = [(s.now, s.observation) for s in queue.seen if s.observation is not None]
    assert observed and {r.key.role for r in observed[-1][1].roles} == {"prefill", "decode"}
    assert all(o.timestamp == now for now, o in observed)


def test_new_replicas_count_only_after_the_cold_start() -> None:
    requests = workloads.from_trace(TRACE, seed=1)
    queue = QueuePolicy()
    run = simulate(queue, requests, SETUP, SLO)
    first = run.actions[0]
    epoch = queue.seen[0].now - queue.interval_s
    for s in queue.seen:
        t = s.now - epoch
        prefill = s.observation.find("prefill") if s.observation else None
        if first.t < t < first.t + SETUP.cold_start_s:
            assert s.replicas["prefill"] == Replicas(desired=first.after, ready=first.before)
            assert prefill is not None and prefill.replicas.ready == first.before
    later = [s for s in queue.seen if s.now - epoch >= first.t + SETUP.cold_start_s + 5]
    assert later[0].replicas["prefill"].ready >= first.after
    # the cold start is billed: each added replica from its scale request to the end
    assert all(a.after == a.before + 1 for a in run.actions)  # this policy only adds
    billed = 2 * run.end_s + sum(run.end_s - a.t for a in run.actions)
    assert run.gpu_hours == pytest.approx(billed / 3600)


def test_a_synthetic_pattern_through_two_policies_is_deterministic() -> None:
    spec = workloads.pattern("steps")
    requests = workloads.synthesize(spec, seed=7, duration_s=400.0)
    again = workloads.synthesize(spec, seed=7, duration_s=400.0)
    other = workloads.synthesize(spec, seed=8, duration_s=400.0)
    assert requests == again and requests != other
    rate = len([r for r in requests if r.arrival < 300]) / 300
    assert 3.5 < rate < 4.5  # the first step: 4 req/s
    assert all(r.prompt_tokens == spec.isl and r.output_tokens == spec.osl for r in requests)
    runs = [
        simulate(FixedPolicy("fixed", {"prefill": 1, "decode": 1}), requests, SETUP, SLO),
        simulate(QueuePolicy(), requests, SETUP, SLO),
    ]
    twice = [
        simulate(FixedPolicy("fixed", {"prefill": 1, "decode": 1}), again, SETUP, SLO),
        simulate(QueuePolicy(), again, SETUP, SLO),
    ]
    assert [summary(r) for r in runs] == [summary(r) for r in twice]
    assert runs[0].score.judged == len(requests)


def test_requests_longer_than_the_context_are_rejected_and_reported_apart() -> None:
    requests = workloads.from_trace(TRACE, seed=1)
    setup = dataclasses.replace(SETUP, max_model_len=8192)
    over = [r for r in requests if r.prompt_tokens + r.output_tokens > 8192]
    assert 0 < len(over) < len(requests)
    run = simulate(FixedPolicy("fixed", {"prefill": 2, "decode": 1}), requests, setup, SLO)
    assert run.score.rejected == len(over)
    assert run.score.judged == len(requests) - len(over)
    assert run.score.ttft.count == run.score.judged  # the rejected are in no percentile
    assert run_json(run)["rejected_over_context"] == len(over)


def test_trace_time_and_rate_scaling() -> None:
    rows = workloads.from_trace(TRACE, seed=3)
    fast = workloads.from_trace(TRACE, seed=3, time_scale=0.5)
    assert [r.arrival / 2 for r in rows] == pytest.approx([r.arrival for r in fast])
    thin = workloads.from_trace(TRACE, seed=3, rate_scale=0.5)
    assert thin == workloads.from_trace(TRACE, seed=3, rate_scale=0.5)
    assert 25 < len(thin) < 75 and {r.id for r in thin} <= {r.id for r in rows}
    double = workloads.from_trace(TRACE, seed=3, rate_scale=2.0)
    assert len(double) == 200 and len({r.id for r in double}) == 200
    copy = next(r for r in double if r.id.endswith("-copy1"))
    original = next(r for r in double if r.id == copy.id.removesuffix("-copy1"))
    assert not set(copy.block_hashes) & set(original.block_hashes)  # no faked prefix hits
    assert 0 <= copy.arrival - original.arrival <= workloads.COPY_JITTER_S
    short = workloads.from_trace(TRACE, seed=3, duration_s=10.0)
    assert short and all(r.arrival < 10.0 for r in short) and len(short) < len(rows)


@given(
    st.lists(st.floats(0, 1000, allow_nan=False), max_size=40),
    st.floats(0.05, 4.0),
    st.integers(0, 2**32),
)
def test_rate_scaling_keeps_between_floor_and_ceiling_copies(
    arrivals: list[float], factor: float, seed: int
) -> None:
    rows = [TraceRow(i + 1, t, 10, 5, (i,)) for i, t in enumerate(sorted(arrivals))]
    scaled = workloads.scale_rows(rows, factor, seed)
    assert int(factor) * len(rows) <= len(scaled) <= (int(factor) + 1) * len(rows)
    assert [r.arrival for r in scaled] == sorted(r.arrival for r in scaled)
    assert scaled == workloads.scale_rows(rows, factor, seed)


def test_the_static_baseline_is_the_cheapest_fixed_deployment_in_hindsight() -> None:
    steady = workloads.Pattern("steady", "", workloads.steps([(0, 14.0)]), 14.0, 3000, 150, 60.0)
    requests = workloads.synthesize(steady, seed=2)
    scenario = Scenario(slo=SLO, requests=requests, setup=SETUP)
    policy = registry.build("static", scenario, registry.registered())  # searched at build
    start = getattr(policy, "start", None)
    assert start is not None and policy.step(None, {}, 0.0) == start  # starts there, stays
    prefill, decode = start["prefill"], start["decode"]

    def both(p: int, d: int) -> float | None:
        counts = {"prefill": p, "decode": d}
        run = simulate(FixedPolicy("f", counts), requests, SETUP, SLO, start=counts)
        return run.score.attainment(run.score.met_both)

    assert prefill > 1  # 14 req/s of 3000-token prompts is more than one prefill replica
    assert (both(prefill, decode) or 0) >= 0.99
    assert (both(prefill - 1, decode) or 0) < 0.99
    if decode > 1:
        assert (both(prefill, decode - 1) or 0) < 0.99


def test_a_ttft_limit_per_1k_prompt_tokens_judges_each_request_by_its_length() -> None:
    requests = workloads.from_trace(TRACE, seed=1)
    fixed = FixedPolicy("fixed", {"prefill": 2, "decode": 1})
    flat = simulate(fixed, requests, SETUP, SLO)
    grown = simulate(fixed, requests, SETUP, SLO, ttft_per_1k=0.5)
    expected = sum(
        1
        for r in grown.records
        if r.ttft is not None and r.ttft <= 2.0 + 0.5 * r.prompt_tokens / 1000
    )
    assert grown.score.met_ttft == expected > flat.score.met_ttft
    assert grown.score.met_tpot == flat.score.met_tpot


@given(st.floats(0, 50), st.floats(0, 50), st.floats(1, 5000), st.floats(0, 1e5))
def test_a_sinusoid_starts_at_its_low_and_stays_within_its_band(
    a: float, b: float, period: float, t: float
) -> None:
    low, high = min(a, b), max(a, b)
    rate = workloads.sinusoid(low, high, period)
    assert rate(0.0) == pytest.approx(low)
    assert rate(period / 2) == pytest.approx(high)
    assert low - 1e-9 <= rate(t) <= high + 1e-9


def test_steps_and_ramps_are_their_tables() -> None:
    step = workloads.steps([(0, 2.0), (10, 5.0)])
    assert (step(0), step(9.9), step(10), step(1e6)) == (2.0, 2.0, 5.0, 5.0)
    up = workloads.ramp([(0, 1.0), (10, 11.0), (20, 11.0)])
    assert (up(-1), up(5), up(15), up(99)) == (1.0, 6.0, 11.0, 11.0)
    for spec in workloads.PATTERNS.values():  # the thinning bound holds
        assert all(spec.rate(t) <= spec.peak for t in range(0, int(spec.duration_s), 7))
