"""The scheduler's invariants, step by step, on workloads built to stress them."""

from __future__ import annotations

import random

import pytest

from llmobs.sim import profiles
from llmobs.sim.core import CoreConfig, EngineCore
from llmobs.sim.flavors import vllm as flavor
from llmobs.sim.perf import PerfModel
from llmobs.sim.prefix import block_hashes
from llmobs.sim.request import SimRequest, State
from llmobs.sim.stats import EngineStats

PERF = PerfModel(profiles.hardware("H100-80GB"), profiles.model("Qwen2.5-7B"))


def workload(n: int, seed: int, shared_prefix: int = 0) -> list[SimRequest]:
    rng = random.Random(seed)
    t = 0.0
    out = []
    for i in range(n):
        t += rng.expovariate(20.0)
        prompt = rng.randint(20, 1500)
        ids = list(range(shared_prefix)) + [rng.randrange(10**6) for _ in range(prompt)]
        out.append(
            SimRequest(
                f"r{i}", len(ids), rng.randint(1, 300), t, block_hashes=block_hashes(ids, 16)
            )
        )
    return out


def make_core(
    blocks: int,
    max_num_seqs: int = 256,
    max_num_batched_tokens: int = 8192,
    enable_prefix_caching: bool = True,
) -> EngineCore:
    config = CoreConfig(
        num_blocks=blocks,
        max_num_seqs=max_num_seqs,
        max_num_batched_tokens=max_num_batched_tokens,
        enable_prefix_caching=enable_prefix_caching,
    )
    return EngineCore(config, PERF, EngineStats(flavor.bounds(32768)))


def check(core: EngineCore, planned: list[tuple[SimRequest, int]]) -> None:
    pool = core.pool
    assert 0 <= pool.used <= pool.total
    held = sum(r.private_blocks for r in (*core.running, *core.fetching))
    assert pool.used == held + len(pool._refs)
    for request in core.running:
        assert request.blocks_held * 16 >= request.num_computed
    assert sum(n for _, n in planned) <= core.config.max_num_batched_tokens
    assert len(core.running) <= core.config.max_num_seqs


def drive(
    core: EngineCore, requests: list[SimRequest], coalesce: bool = False, checks: bool = True
) -> float:
    """Run ``requests`` to completion the way the virtual-time driver does."""
    now = 0.0
    pending = sorted(requests, key=lambda r: r.arrival)
    i = 0
    while i < len(pending) or core.has_work():
        while i < len(pending) and pending[i].arrival <= now:
            core.submit(pending[i], pending[i].arrival)
            i += 1
        horizon = pending[i].arrival if i < len(pending) else float("inf")
        if coalesce:
            run = core.advance_decode(now, horizon)
            if run is not None:
                now = run[0]
                continue
        plan = core.schedule(now)
        if plan is None:
            now = horizon
            continue
        if checks:
            check(core, plan.items)
        now += plan.duration
        core.complete(plan, now)
        if checks:
            check(core, [])
    return now


def test_kv_cache_never_over_capacity_and_preempted_requests_finish() -> None:
    core = make_core(blocks=400, max_num_seqs=64, max_num_batched_tokens=1024)
    requests = workload(120, seed=1)
    drive(core, requests)
    assert core.stats.preemptions > 0  # the workload really ran out of blocks
    assert all(r.state is State.FINISHED and r.num_output == r.max_tokens for r in requests)
    assert sum(r.preemptions for r in requests) == core.stats.preemptions
    assert core.pool.used == 0  # every block came back
    assert core.stats.finished == {"length": 120}
    assert core.stats.histos["preemptions"].count == 120


def test_first_come_first_served() -> None:
    core = make_core(blocks=2000, max_num_seqs=8, max_num_batched_tokens=512)
    requests = workload(80, seed=2)
    drive(core, requests)
    started = sorted(requests, key=lambda r: r.arrival)
    times = [r.scheduled_ts for r in started]
    known = [t for t in times if t is not None]
    assert len(known) == len(times)
    assert known == sorted(known)  # nobody was admitted before someone who came earlier


def test_chunked_prefill_splits_long_prompts() -> None:
    core = make_core(blocks=5000, max_num_batched_tokens=256)
    request = SimRequest("long", 1000, 2, 0.0)
    core.submit(request, 0.0)
    chunks = []
    t = 0.0
    while core.has_work():
        plan = core.schedule(t)
        assert plan is not None
        chunks.append(sum(n for _, n in plan.items))
        t += plan.duration
        core.complete(plan, t)
    assert chunks == [256, 256, 256, 232, 1]
    assert request.first_token_ts is not None and request.num_output == 2


def test_prefix_cache_hits_on_shared_prefixes() -> None:
    core = make_core(blocks=5000)
    requests = workload(40, seed=3, shared_prefix=512)
    drive(core, requests)
    stats = core.stats
    assert stats.prefix_queries == sum(r.prompt_tokens for r in requests)
    # every request after the first few finds the 512 shared tokens (32 blocks) cached
    hit = [r for r in requests if r.cached_tokens == 512]
    assert len(hit) >= 35
    assert stats.prefix_hits == sum(r.cached_tokens for r in requests)


def test_no_prefix_caching() -> None:
    core = make_core(blocks=5000, enable_prefix_caching=False)
    requests = workload(20, seed=3, shared_prefix=512)
    drive(core, requests)
    assert core.stats.prefix_hits == 0 and all(r.cached_tokens == 0 for r in requests)


@pytest.mark.parametrize("blocks", [300, 5000])
def test_jumping_over_decode_steps_changes_nothing(blocks: int) -> None:
    plain, fast = make_core(blocks), make_core(blocks)
    a, b = workload(150, seed=4), workload(150, seed=4)
    end_a = drive(plain, a)
    end_b = drive(fast, b, coalesce=True, checks=False)
    assert end_a == end_b
    for x, y in zip(a, b, strict=True):
        assert (x.first_token_ts, x.finished_ts, x.preemptions) == (
            y.first_token_ts,
            y.finished_ts,
            y.preemptions,
        )
    for name, histo in plain.stats.histos.items():
        assert histo.counts == fast.stats.histos[name].counts, name
        assert histo.sum == pytest.approx(fast.stats.histos[name].sum, rel=1e-12)
    assert plain.stats.generation_tokens == fast.stats.generation_tokens


def test_metrics_follow_vllm_definitions() -> None:
    core = make_core(blocks=5000)
    request = SimRequest("one", 100, 10, 0.0)
    core.submit(request, 0.0)
    t = 0.0
    ends = []
    while core.has_work():
        plan = core.schedule(t)
        assert plan is not None
        t += plan.duration
        ends.append(t)
        core.complete(plan, t)
    stats = core.stats
    assert stats.histos["ttft"].count == 1 and stats.histos["ttft"].sum == pytest.approx(ends[0])
    assert stats.histos["itl"].count == 9  # one per step after the first token
    assert stats.histos["tpot"].sum == pytest.approx((ends[-1] - ends[0]) / 9)
    assert stats.histos["e2e"].sum == pytest.approx(ends[-1])
    assert stats.prompt_tokens_prefilled == 100 and stats.generation_tokens == 10


def test_abort_frees_everything() -> None:
    core = make_core(blocks=5000)
    hashes = block_hashes(list(range(500)), 16)
    request = SimRequest("gone", 500, 100, 0.0, block_hashes=hashes)
    core.submit(request, 0.0)
    plan = core.schedule(0.0)
    assert plan is not None
    core.complete(plan, plan.duration)
    core.abort(request, 1.0)
    assert core.pool.used == 0 and core.pool.free == core.pool.total
    assert core.pool.cached_prefix(hashes) == 31  # its full prompt blocks stay cached
    assert core.stats.finished == {"abort": 1} and not core.has_work()
