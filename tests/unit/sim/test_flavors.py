"""The emulator's /metrics against real engines: vLLM 0.32 family for family, and read
back through our own engine catalogs for every flavour and version."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmobs.engines import snapshot
from llmobs.engines.catalog import EngineSnapshot
from llmobs.exposition.model import Exposition
from llmobs.exposition.parser import parse
from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.instance import Instance
from llmobs.sim.request import SimRequest
from tests.fixtures.expositions import load

ROUTES = [("/v1/models", "GET"), ("/v1/completions", "POST"), ("/tokenize", "POST")]


def served(settings: EngineSettings, requests: int = 3) -> Instance:
    """An instance that has served ``requests`` requests of 40 prompt and 8 output tokens."""
    instance = Instance(Resolved(settings), started_at=1.8e9)
    core = instance.core
    for i in range(requests):
        core.submit(SimRequest(f"r{i}", 40, 8, 0.0), 0.0)
    t = 0.0
    while core.has_work():
        plan = core.schedule(t)
        assert plan is not None
        t += plan.duration
        core.complete(plan, t)
    for path, method in ROUTES:
        instance.http.record(path, method, 200, 100, 200, 0.01)
    return instance


def shape(expo: Exposition) -> Iterator[tuple[str, str, frozenset[str], tuple[str, ...]]]:
    """Each family: name, type, label names, and bucket bounds (histograms)."""
    for name, family in expo.families.items():
        labels = frozenset(k for s in family.samples for k in s.labels if k != "le")
        bounds = tuple(
            sorted({s.labels["le"] for s in family.samples if "le" in s.labels}, key=float)
        )
        yield name, family.type, labels, bounds


def test_vllm_0_32_matches_the_real_capture() -> None:
    real = parse(load("vllm-0.32.0.txt"))
    ours = parse(served(EngineSettings(max_model_len=4096)).metrics_text())
    assert set(ours.families) == set(real.families)
    real_shape = {s[0]: s[1:] for s in shape(real)}
    ours_shape = {s[0]: s[1:] for s in shape(ours)}
    for name, (kind, labels, bounds) in real_shape.items():
        assert ours_shape[name] == (kind, labels, bounds), name
    assert list(ours.families)[:4] == list(real.families)[:4]  # python_* first, as vLLM


def read(instance: Instance) -> EngineSnapshot:
    return snapshot(parse(instance.metrics_text()))


@pytest.mark.parametrize(("version", "naming"), [("0.32.0", "v1"), ("0.11.0", "v1-legacy")])
def test_vllm_versions_read_back(version: str, naming: str) -> None:
    snap = read(served(EngineSettings(engine_version=version)))
    assert (snap.engine, snap.naming.id) == ("vllm", naming)
    assert snap.models == ("Qwen/Qwen2.5-7B-Instruct",)
    assert snap.counters["requests_total"] == 3
    assert snap.counters["prompt_tokens_total"] == 120
    assert snap.counters["generation_tokens_total"] == 24
    assert snap.histograms["ttft_seconds"].count == 3
    assert snap.histograms["itl_seconds"].count == 21
    assert snap.gauges["requests_running"] == 0


def test_vllm_0_11_has_the_old_itl_name_too() -> None:
    expo = parse(served(EngineSettings(engine_version="0.11.0")).metrics_text())
    assert "vllm:time_per_output_token_seconds" in expo.families
    assert "vllm:estimated_flops_per_gpu_total" not in expo.families
    reasons = {s.labels["finished_reason"] for s in expo.samples("vllm:request_success_total")}
    assert reasons == {"stop", "length", "abort"}


def test_sglang_0_5_reads_back_and_looks_like_sglang() -> None:
    instance = served(EngineSettings(engine="sglang", enable_metrics=True))
    text = instance.metrics_text().decode()
    snap = snapshot(parse(text))
    assert (snap.engine, snap.naming.id) == ("sglang", "0.5")
    assert snap.counters == {
        "prompt_tokens_total": 120,
        "generation_tokens_total": 24,
        "requests_total": 3,
    }
    assert snap.histograms["ttft_seconds"].count == 3
    assert snap.histograms["queue_seconds"].count == 3
    assert "_created" not in text and "python_gc" not in text
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("sglang:time_to_first_token"))
    assert lines[first].startswith("sglang:time_to_first_token_seconds_sum{")  # multiprocess
    assert 'pid="' in text and 'tp_rank="0"' in text and 'engine_type="unified"' in text


def test_gauges_show_live_state() -> None:
    instance = Instance(Resolved(EngineSettings()), started_at=1.8e9)
    core = instance.core
    for i in range(5):
        core.submit(SimRequest(f"r{i}", 3000, 50, 0.0), 0.0)
    plan = core.schedule(0.0)
    assert plan is not None
    snap = read(instance)
    assert snap.gauges["requests_running"] == 3  # 8192-token budget: two prompts wait
    assert snap.gauges["requests_waiting"] == 2
    assert 0 < snap.gauges["kv_cache_usage_ratio"] < 0.02
