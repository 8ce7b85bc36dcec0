"""The virtual-time cluster's /metrics snapshots feed the role core as they are: no fake
scrapes, no exporter. What the observation says must be what the records say happened."""

from __future__ import annotations

import random

import pytest

from llmobs import engines
from llmobs.clock import VirtualClock
from llmobs.exposition.parser import parse
from llmobs.observation import Observation, RoleKey
from llmobs.roles import Member, aggregate
from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.virtual import VirtualCluster, VirtualRequest
from llmobs.window import Point

RESOLVED = Resolved(EngineSettings(model="Llama-3.1-8B", max_model_len=32768))
INTERVAL = 5.0


def poisson(n: int, rate: float, seed: int = 1) -> list[VirtualRequest]:
    rng = random.Random(seed)
    t, out = 0.0, []
    for i in range(n):
        t += rng.expovariate(rate)
        out.append(VirtualRequest(f"q{i}", t, rng.randint(500, 2000), rng.randint(20, 80)))
    return out


def observe(
    cluster: VirtualCluster, until: float, window_s: float
) -> tuple[Observation, VirtualClock]:
    """Step the cluster, taking every replica's /metrics every INTERVAL seconds of virtual
    time, then aggregate the last ``window_s`` seconds."""
    clock = VirtualClock(epoch=cluster.epoch)
    points: dict[str, list[Point]] = {}
    roles: dict[str, str] = {}
    while True:
        for name, (role, text) in cluster.snapshot().items():
            roles[name] = role
            points.setdefault(name, []).append((clock.monotonic(), engines.snapshot(parse(text))))
        if clock.monotonic() >= until:
            break
        cluster.run_until(clock.advance(INTERVAL))
    members = [
        Member(RoleKey("", "", roles[name], RESOLVED.settings.model), True, tuple(p))
        for name, p in points.items()
    ]
    return (
        aggregate(
            members,
            now=clock.monotonic(),
            wall_time=clock.wall(),
            window_s=window_s,
            quantiles=(0.5, 0.99),
        ),
        clock,
    )


def test_aggregated_cluster_observation_counts_what_the_records_say() -> None:
    cluster = VirtualCluster(RESOLVED, {"both": 2})
    requests = poisson(150, 2.0)
    cluster.submit(requests)
    horizon = requests[-1].arrival + 120.0
    window_s = 60.0
    observation, clock = observe(cluster, horizon, window_s)
    (role,) = observation.roles
    assert role.key.role == "both"
    assert (role.replicas.ready, role.replicas.scraped, role.replicas.up) == (2, 2, 2)
    assert observation.timestamp == clock.wall() == cluster.epoch + clock.monotonic()
    assert role.age_seconds == 0.0
    start = clock.monotonic() - window_s
    records = cluster.records.values()
    finished = [r for r in records if r.finished is not None and r.finished > start]
    e2e = role.latency.e2e_seconds
    assert e2e is not None and e2e.count == len(finished)
    assert role.request_rate == pytest.approx(len(finished) / window_s)
    first = [r for r in records if r.first_token is not None and r.first_token > start]
    ttft = role.latency.ttft_seconds
    assert ttft is not None and ttft.count == len(first)


def test_pd_cluster_observations_are_per_role() -> None:
    cluster = VirtualCluster(RESOLVED, {"prefill": 1, "decode": 2})
    requests = poisson(100, 2.0, seed=3)
    cluster.submit(requests)
    observation, clock = observe(cluster, requests[-1].arrival + 60.0, 600.0)
    prefill, decode = observation.find("prefill"), observation.find("decode")
    assert prefill is not None and decode is not None
    assert prefill.replicas.ready == 1 and decode.replicas.ready == 2
    total_prompt = sum(r.prompt_tokens for r in requests)
    total_output = sum(r.output_tokens for r in requests)
    window = clock.monotonic()  # the whole run: every replica was scraped from time 0
    assert window < observation.window_seconds
    assert prefill.prompt_tokens_rate == pytest.approx(total_prompt / window)
    assert prefill.generation_tokens_rate == pytest.approx(len(requests) / window)  # one each
    assert decode.generation_tokens_rate == pytest.approx(total_output / window)
    itl = decode.latency.itl_seconds
    assert itl is not None and itl.count > 0 and itl.quantiles[0.5] is not None
