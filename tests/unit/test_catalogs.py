"""Engine catalogs: every engine and naming generation, read from real-format bodies."""

from __future__ import annotations

import math

import pytest

from llmobs.engines import detect, snapshot
from llmobs.engines.catalog import EngineSnapshot, SeriesKind
from llmobs.engines.sglang import select
from llmobs.errors import UnknownEngine
from llmobs.exposition.parser import parse
from tests.fixtures.expositions import load
from tests.fixtures.expositions.build import spread


def read(name: str) -> EngineSnapshot:
    return snapshot(parse(load(name)))


def counts(snap: EngineSnapshot) -> dict[str, float]:
    return {k: v.count for k, v in snap.histograms.items()}


def test_vllm_0_32_real_capture() -> None:
    snap = read("vllm-0.32.0.txt")
    assert (snap.engine, snap.naming.id, snap.models) == ("vllm", "v1", ("tiny",))
    assert counts(snap) == {
        "ttft_seconds": 21,
        "itl_seconds": 1999,
        "tpot_seconds": 21,
        "e2e_seconds": 21,
        "queue_seconds": 21,
    }
    assert snap.gauges == {
        "kv_cache_usage_ratio": 0.0,
        "requests_running": 0.0,
        "requests_waiting": 0.0,
    }
    assert snap.counters == {
        "prompt_tokens_total": 50008,
        "generation_tokens_total": 2020,
        "requests_total": 21,
        "preemptions_total": 0,
        "prefix_cache_hits_total": 0,
        "prefix_cache_queries_total": 50008,
    }
    assert snap.histograms["ttft_seconds"].sum == pytest.approx(2.0169570446014404)
    assert snap.sources["itl_seconds"] == "vllm:inter_token_latency_seconds"
    assert snap.sources["kv_cache_usage_ratio"] == "vllm:kv_cache_usage_perc"


def test_vllm_v1_legacy_with_two_engines() -> None:
    snap = read("vllm-v1-0.10.1-dp2.txt")
    assert (snap.engine, snap.naming.id) == ("vllm", "v1-legacy")
    assert snap.models == ("Qwen/Qwen2.5-7B-Instruct",)
    # counts add over the engine label, KV usage is the mean over engines
    assert snap.gauges["requests_running"] == 6
    assert snap.gauges["requests_waiting"] == 2
    assert snap.gauges["kv_cache_usage_ratio"] == pytest.approx(0.4)
    assert snap.sources["kv_cache_usage_ratio"] == "vllm:kv_cache_usage_perc"
    # 0.10.1 has no inter_token_latency_seconds yet: ITL comes from the old name
    assert snap.sources["itl_seconds"] == "vllm:time_per_output_token_seconds"
    assert counts(snap) == {
        "ttft_seconds": 10,
        "itl_seconds": 990,
        "e2e_seconds": 10,
        "queue_seconds": 10,
    }
    assert snap.counters["requests_total"] == 10  # every finished_reason, both engines
    assert snap.counters["prefix_cache_hits_total"] == 4000
    assert snap.sources["prefix_cache_hits_total"] == "vllm:prefix_cache_hits_total"
    assert "tpot_seconds" not in snap.histograms  # 0.11+ only


def test_vllm_v0() -> None:
    snap = read("vllm-v0.txt")
    assert (snap.engine, snap.naming.id) == ("vllm", "v0")
    assert snap.gauges == {
        "kv_cache_usage_ratio": 0.25,
        "requests_running": 3,
        "requests_waiting": 1,
        "prefix_cache_hit_ratio": 0.6,
    }
    assert snap.sources["kv_cache_usage_ratio"] == "vllm:gpu_cache_usage_perc"
    assert counts(snap) == {
        "ttft_seconds": 10,
        "itl_seconds": 990,
        "e2e_seconds": 10,
        "queue_seconds": 10,
    }
    assert snap.histograms["ttft_seconds"].sum == pytest.approx(math.fsum(spread(10, 0.05, 0.9)))
    assert snap.counters["preemptions_total"] == 2
    assert snap.counters["requests_total"] == 10


def test_sglang_0_4_3() -> None:
    snap = read("sglang-0.4.3.txt")
    assert (snap.engine, snap.naming.id) == ("sglang", "0.4")
    assert snap.sources["itl_seconds"] == "sglang:time_per_output_token_seconds"
    assert counts(snap) == {"ttft_seconds": 3, "itl_seconds": 3, "e2e_seconds": 3}
    assert snap.gauges == {
        "kv_cache_usage_ratio": 0.31,
        "requests_running": 5,
        "requests_waiting": 2,
        "prefix_cache_hit_ratio": 0.5,
    }
    assert snap.counters == {
        "prompt_tokens_total": 3584,
        "generation_tokens_total": 300,
        "requests_total": 3,
    }


def test_sglang_0_5_tp_ranks_are_copies_not_added() -> None:
    snap = read("sglang-0.5.4-tp2.txt")
    assert (snap.engine, snap.naming.id) == ("sglang", "0.5")
    assert snap.gauges["requests_running"] == 7  # two TP ranks both say 7: one scheduler
    assert snap.gauges["requests_waiting"] == 1
    assert snap.gauges["kv_cache_usage_ratio"] == pytest.approx(0.42)
    assert counts(snap)["queue_seconds"] == 2  # one rank's queue histogram, not both
    assert counts(snap)["itl_seconds"] == 297
    # num_retracted_reqs is a gauge of the last batch; 0.5.4 has no retraction counter
    assert "preemptions_total" not in snap.counters


def test_sglang_0_5_data_parallel_and_priority() -> None:
    snap = read("sglang-0.5.23-dp2-priority.txt")
    assert (snap.engine, snap.naming.id) == ("sglang", "0.5")
    # totals under priority="" per DP rank, added over DP ranks: 6 + 3, not 18
    assert snap.gauges["requests_running"] == 9
    assert snap.gauges["requests_waiting"] == 4
    assert snap.gauges["kv_cache_usage_ratio"] == pytest.approx(0.4)
    assert snap.gauges["prefix_cache_hit_ratio"] == pytest.approx(0.5)
    # tokenizer side: every priority and is_streaming series is a different set of requests
    assert counts(snap) == {
        "ttft_seconds": 7,
        "itl_seconds": 700,
        "tpot_seconds": 7,
        "e2e_seconds": 7,
        "queue_seconds": 4,
    }
    assert snap.counters == {
        "prompt_tokens_total": 7000,
        "generation_tokens_total": 700,
        "requests_total": 7,
        "preemptions_total": 4,
    }


def test_dynamo_frontend() -> None:
    snap = read("dynamo-frontend.txt")
    assert (snap.engine, snap.naming.id, snap.models) == (
        "dynamo",
        "frontend",
        ("Qwen/Qwen3-0.6B",),
    )
    assert counts(snap) == {"ttft_seconds": 4, "itl_seconds": 396, "e2e_seconds": 4}
    assert snap.gauges == {}  # the frontend knows no KV cache and no engine queue
    assert snap.counters == {
        "prompt_tokens_total": 10200,
        "generation_tokens_total": 400,
        "requests_total": 5,
    }


def test_a_dynamo_worker_reads_as_its_engine() -> None:
    body = (
        "# TYPE dynamo_component_requests_total counter\n"
        'dynamo_component_requests_total{dynamo_component="backend"} 4\n' + load("vllm-0.32.0.txt")
    )
    assert detect(parse(body)).engine == "vllm"


def test_unknown_engine() -> None:
    with pytest.raises(UnknownEngine, match="no vLLM, SGLang or Dynamo"):
        snapshot(parse("# TYPE node_load1 gauge\nnode_load1 0.5\n"))
    with pytest.raises(UnknownEngine, match="unknown engine"):
        snapshot(parse(load("vllm-v0.txt")), engine="tgi")


def test_engine_override() -> None:
    snap = snapshot(parse(load("vllm-v0.txt")), engine="sglang")
    assert snap.engine == "sglang" and snap.gauges == {} and snap.histograms == {}


def test_nan_gauge_is_missing_not_zero() -> None:
    body = '# TYPE vllm:kv_cache_usage_perc gauge\nvllm:kv_cache_usage_perc{engine="0"} NaN\n'
    assert "kv_cache_usage_ratio" not in snapshot(parse(body)).gauges


@pytest.mark.parametrize(
    ("labels", "kind", "chosen"),
    [
        # DP attention (tp=8, dp=2): reporters are tp_rank 0 and 4, one per dp_rank: both count
        (
            [{"dp_rank": "0", "tp_rank": "0"}, {"dp_rank": "1", "tp_rank": "4"}],
            SeriesKind.GAUGE,
            [0, 1],
        ),
        # the all-schedulers flag: tp 0..3 of one DP group are copies: the lowest counts
        ([{"tp_rank": str(r), "pp_rank": "0"} for r in (2, 0, 3, 1)], SeriesKind.GAUGE, [1]),
        # pipeline stages mirror each other
        (
            [{"tp_rank": "0", "pp_rank": "1"}, {"tp_rank": "0", "pp_rank": "0"}],
            SeriesKind.HISTOGRAM,
            [1],
        ),
        # pid is not an identity
        ([{"tp_rank": "0", "pid": "10"}, {"tp_rank": "0", "pid": "11"}], SeriesKind.GAUGE, [0]),
        # tokenizer-side histograms: every label value is a disjoint set of requests
        (
            [{"priority": "1"}, {"priority": ""}, {"is_streaming": "true"}],
            SeriesKind.HISTOGRAM,
            [0, 1, 2],
        ),
        # gauges with a priority breakdown: the priority="" total only
        ([{"priority": ""}, {"priority": "1"}, {"priority": "None"}], SeriesKind.GAUGE, [0]),
    ],
)
def test_sglang_series_selection(
    labels: list[dict[str, str]], kind: SeriesKind, chosen: list[int]
) -> None:
    assert select(kind, labels) == chosen
