"""Virtual time: the same engines, a proxy, scaling, records and /metrics snapshots."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from llmobs.engines import snapshot
from llmobs.errors import ConfigError
from llmobs.exposition.parser import parse
from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.trace import read_mooncake
from llmobs.sim.virtual import VirtualCluster, VirtualRequest

RESOLVED = Resolved(EngineSettings(model="Llama-3.1-8B", max_model_len=32768))


def poisson(
    n: int, rate: float, seed: int = 0, prompt: int = 2000, output: int = 100
) -> list[VirtualRequest]:
    rng = random.Random(seed)
    t = 0.0
    out = []
    for i in range(n):
        t += rng.expovariate(rate)
        out.append(
            VirtualRequest(
                f"q{i}", t, rng.randint(prompt // 2, prompt), rng.randint(output // 2, output)
            )
        )
    return out


def test_aggregated_cluster_serves_everything() -> None:
    cluster = VirtualCluster(RESOLVED, {"both": 2})
    cluster.submit(poisson(200, 8.0))
    cluster.run()
    records = list(cluster.records.values())
    assert len(records) == 200 and all(r.finished is not None for r in records)
    for r in records:
        assert r.ttft is not None and r.e2e is not None and 0 < r.ttft < r.e2e
    assert {r.instances[0] for r in records} == {"both-0", "both-1"}  # load is spread
    assert cluster.pending() == 0


def test_pd_cluster_prefills_then_transfers_then_decodes() -> None:
    pd = VirtualCluster(RESOLVED, {"prefill": 1, "decode": 1})
    agg = VirtualCluster(RESOLVED, {"both": 1})
    requests = poisson(30, 0.5)  # light load: no queueing anywhere
    for cluster in (pd, agg):
        cluster.submit(requests)
        cluster.run()
    for request in requests:
        p, a = pd.records[request.id], agg.records[request.id]
        assert p.instances[0].startswith("prefill") and p.instances[1].startswith("decode")
        assert p.ttft is not None and a.ttft is not None
        assert p.ttft > a.ttft  # the KV transfer and an extra step sit before the first token
    bodies = {name: snapshot(parse(text)) for name, (_, text) in pd.snapshot().items()}
    prefill, decode = bodies["prefill-0"], bodies["decode-1"]
    assert prefill.counters["generation_tokens_total"] == 30  # one token each
    assert decode.counters["generation_tokens_total"] == sum(r.output_tokens for r in requests)
    assert prefill.counters["prompt_tokens_total"] == sum(r.prompt_tokens for r in requests)


def test_scale_up_waits_for_the_cold_start_and_down_drops_nothing() -> None:
    cluster = VirtualCluster(RESOLVED, {"both": 1}, cold_start_s=20.0)
    cluster.submit(poisson(600, 6.0, seed=5))
    cluster.run_until(30.0)
    cluster.scale("both", 3)
    assert cluster.replica_counts("both") == {"spec": 3, "ready": 1, "draining": 0}
    cluster.run_until(49.9)
    assert cluster.replica_counts("both")["ready"] == 1
    cluster.run_until(50.0)
    assert cluster.replica_counts("both")["ready"] == 3
    cluster.run_until(70.0)
    first_use = min(r.arrival for r in cluster.records.values() if r.instances[0] != "both-0")
    assert 50.0 <= first_use < 51.0
    cluster.scale("both", 1)
    counts = cluster.replica_counts("both")
    assert counts["spec"] == 1 and counts["ready"] == 1  # an idle replica leaves at once
    assert [r.name for r in cluster.instances(include_draining=False)] == ["both-0"]
    cluster.run()
    assert cluster.replica_counts("both") == {"spec": 1, "ready": 1, "draining": 0}
    assert all(r.finished is not None and r.error is None for r in cluster.records.values())


def test_snapshots_between_runs() -> None:
    cluster = VirtualCluster(RESOLVED, {"both": 1})
    cluster.submit(poisson(100, 4.0))
    cluster.run_until(10.0)
    early = snapshot(parse(cluster.snapshot()["both-0"][1]))
    cluster.run_until(20.0)
    later = snapshot(parse(cluster.snapshot()["both-0"][1]))
    assert later.counters["requests_total"] > early.counters["requests_total"]
    assert later.histograms["ttft_seconds"].count > early.histograms["ttft_seconds"].count
    assert cluster.now == 20.0


def test_requests_that_cannot_be_served_are_errors_not_losses() -> None:
    cluster = VirtualCluster(RESOLVED, {"prefill": 1, "decode": 1})
    cluster.scale("decode", 0)
    cluster.submit([VirtualRequest("long", 0.0, 40000, 10), VirtualRequest("ok", 1.0, 100, 5)])
    cluster.run()
    assert "max_model_len" in (cluster.records["long"].error or "")
    assert cluster.records["ok"].error == "no ready decode replica"


def test_bad_clusters() -> None:
    with pytest.raises(ConfigError):
        VirtualCluster(RESOLVED, {"both": 1, "decode": 1})
    with pytest.raises(ConfigError):
        VirtualCluster(RESOLVED, {"workers": 1})
    with pytest.raises(ConfigError, match="no role"):
        VirtualCluster(RESOLVED, {"both": 1}).scale("decode", 1)


def test_mooncake_rows_become_requests_with_shared_prefixes(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"timestamp": 0, "input_length": 1100, "output_length": 5, '
        '"hash_ids": [1, 2, 3]}\n'
        '{"timestamp": 1500, "input_length": 1100, "output_length": 7, '
        '"hash_ids": [1, 2, 9]}\n'
    )
    first, second = read_mooncake(trace)
    assert (first.arrival, second.arrival, second.output_tokens) == (0.0, 1.5, 7)
    assert len(first.block_hashes) == 68  # 1100 // 16
    # trace blocks 1 and 2 (1024 tokens, 64 engine blocks) are shared, block 3 is not
    assert first.block_hashes[:64] == second.block_hashes[:64]
    assert first.block_hashes[64] != second.block_hashes[64]
    half = list(read_mooncake(trace, time_scale=0.5))
    assert half[1].arrival == 0.75


def test_bad_trace_lines_are_named(tmp_path: Path) -> None:
    trace = tmp_path / "bad.jsonl"
    trace.write_text('{"timestamp": 0, "input_length": 10, "output_length": 5}\n{"oops": 1}\n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2"):
        list(read_mooncake(trace))
