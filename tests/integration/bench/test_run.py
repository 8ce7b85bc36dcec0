"""Whole runs against the emulator (one instance, and PD behind its proxy) and the scripted
server: the files, the summary, the servers' own numbers beside the client's, calibration,
workers, and the errors a user meets first."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmobs.bench.config import RunConfig
from llmobs.bench.harness import Run, benchmark
from llmobs.bench.report import table
from llmobs.bench.saved import load_saved
from llmobs.errors import ConfigError, TargetError, TargetUnreachable
from llmobs.sim.config import EngineSettings
from tests.fakeopenai import FakeOpenAI
from tests.simhost import SimHost
from tests.targets import FakeTarget

TTFT_MS, ITL_MS = 40.0, 8.0


@pytest.fixture(scope="module")
def fixed() -> Iterator[SimHost]:
    with SimHost(EngineSettings(fixed_ttft_ms=TTFT_MS, fixed_itl_ms=ITL_MS)) as host:
        yield host


def run(url: str, out: Path, notes: list[str] | None = None, **options: Any) -> Run:
    cfg = RunConfig.model_validate(options)
    return benchmark(cfg, url, None, out, (notes if notes is not None else []).append)


def test_a_run_writes_its_records_and_result(fixed: SimHost, tmp_path: Path) -> None:
    notes: list[str] = []
    result = run(
        fixed.url,
        tmp_path,
        notes,
        num_prompts=30,
        request_rate=40.0,
        isl=300,
        osl=12,
        seed=3,
        scrape=(fixed.url + "/metrics",),
        slo="ttft=1s",
    )
    doc = result.doc
    s = doc["summary"]
    assert doc["complete"] is True and doc["state"] == "finished"
    assert (s["completed"], s["failed"]) == (30, 0)
    assert s["input_tokens"]["min"] == s["input_tokens"]["max"] == 300
    assert s["output_tokens"]["min"] == s["output_tokens"]["max"] == 12
    assert s["slo_attainment"] == 1.0
    # fixed latency: what the client measures is the server's TTFT and ITL plus little
    assert s["ttft_ms"]["p50"] == pytest.approx(TTFT_MS, abs=25)
    assert s["tpot_ms"]["p50"] == pytest.approx(ITL_MS, abs=4)
    assert any("/tokenize" in n for n in notes)
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    assert len(lines) == 30
    assert json.loads((tmp_path / "result.json").read_text()) == doc
    # the server's view of the same window: every request, nothing else
    server = doc["server_all"]
    assert server["engine"] is None and doc["servers"][0]["engine"] == "vllm"
    assert server["observations"]["ttft"] == 30
    assert server["ttft_ms"]["mean"] == pytest.approx(TTFT_MS, abs=5)
    assert doc["gap_ms"]["ttft"]["mean"] is not None
    assert abs(doc["gap_ms"]["ttft"]["mean"]) < 25
    assert len(doc["server_series"][0]["times"]) >= 2
    # and it reads back
    saved = load_saved(tmp_path)
    again = saved.run
    assert saved.warnings == []
    assert again.doc == doc and len(again.records) == 30 and again.series


def test_pd_emulator_through_its_proxy(tmp_path: Path) -> None:
    with SimHost(EngineSettings(max_model_len=4096), roles={"prefill": 1, "decode": 1}) as pd:
        assert pd.cluster is not None
        urls = tuple(m["metrics_url"] for m in pd.cluster.listing())
        result = run(
            pd.url,
            tmp_path,
            num_prompts=12,
            request_rate=20.0,
            isl=500,
            osl=8,
            scrape=urls,
            endpoint="/v1/chat/completions",
        )
    s = result.doc["summary"]
    assert (s["completed"], s["failed"]) == (12, 0)
    assert s["output_tokens"]["min"] == 8
    servers = result.doc["servers"]
    assert len(servers) == 2
    # both roles saw every request: the prefill instance as 1-token requests
    assert [v["observations"]["e2e"] for v in servers] == [12, 12]


def test_prompt_lengths_are_calibrated_against_tokenize(tmp_path: Path) -> None:
    """A server whose /tokenize adds 3 tokens (a BOS and a template) gets prompts 3 words
    shorter, so it sees exactly --isl tokens."""
    with FakeOpenAI(tokenize_extra=3) as fake:
        run(fake.base_url, tmp_path, num_prompts=5, isl=40, osl=2)
        prompts = [b["prompt"] for b in fake.bodies]
    assert [len(p.split()) + 3 for p in prompts] == [40] * 5


def test_without_tokenize_lengths_come_from_usage(tmp_path: Path) -> None:
    notes: list[str] = []
    with FakeOpenAI() as fake:
        result = run(fake.base_url, tmp_path, notes, num_prompts=3, isl=10, osl=2)
    assert any("no /tokenize" in n for n in notes)
    assert result.doc["summary"]["input_tokens"]["mean"] == 10  # from usage.prompt_tokens


def test_workers_share_one_schedule(fixed: SimHost, tmp_path: Path) -> None:
    result = run(fixed.url, tmp_path, num_prompts=40, request_rate=50.0, isl=20, osl=4, workers=2)
    s = result.doc["summary"]
    assert (s["completed"], s["failed"]) == (40, 0)
    assert {r.worker for r in result.records} == {0, 1}
    assert sorted(r.index for r in result.records) == list(range(40))
    assert result.doc["client"]["loop_lag_p99_ms"] is not None


def test_warmup_requests_are_sent_first_and_left_out(fixed: SimHost, tmp_path: Path) -> None:
    result = run(fixed.url, tmp_path, num_prompts=5, warmup=3, isl=20, osl=3)
    s = result.doc["summary"]
    assert (s["completed"], s["warmup"]) == (5, 3)
    assert sum(1 for r in result.records if r.warmup) == 3


def test_an_unknown_model_is_named(fixed: SimHost, tmp_path: Path) -> None:
    with pytest.raises(TargetError, match=r"'llama' is not served by .*Qwen/Qwen2.5-7B-Instruct"):
        run(fixed.url, tmp_path, model="llama")
    assert not (tmp_path / "result.json").exists()  # nothing was sent


def test_an_unreachable_server_fails_before_sending(tmp_path: Path) -> None:
    with FakeOpenAI() as gone:
        url = gone.base_url
    with pytest.raises(TargetUnreachable, match=r"cannot reach .* is the server running"):
        run(url, tmp_path)


def test_a_server_that_is_not_openai_is_told(tmp_path: Path) -> None:
    with FakeTarget(["up 1\n"]) as target, pytest.raises(TargetError, match="HTTP 404"):
        run(target.url(""), tmp_path)


def test_errors_are_counted_with_their_bodies(tmp_path: Path) -> None:
    with FakeOpenAI(mode="http500") as fake:
        result = run(fake.base_url, tmp_path, num_prompts=4, isl=5, osl=2)
    s = result.doc["summary"]
    assert (s["completed"], s["failed"], s["errors"]) == (0, 4, {"http_500": 4})
    assert "KV cache full" in s["error_samples"][0]


def test_a_scrape_target_that_is_down_is_reported_not_fatal(fixed: SimHost, tmp_path: Path) -> None:
    with FakeOpenAI() as gone:
        dead = gone.url("/metrics")
    result = run(fixed.url, tmp_path, num_prompts=3, isl=10, osl=2, scrape=(dead,))
    assert result.doc["summary"]["completed"] == 3
    (server,) = result.doc["servers"]
    assert server["errors"] and server["observations"]["ttft"] is None
    assert f"Scraping {dead} failed" in table(result.doc)


def test_a_gateway_without_v1_models_is_fine_with_model(tmp_path: Path) -> None:
    with FakeOpenAI(models=False) as fake:
        with pytest.raises(TargetError, match="give --model"):
            run(fake.base_url, tmp_path / "a", num_prompts=2, isl=5, osl=2)
        result = run(fake.base_url, tmp_path / "b", num_prompts=2, isl=5, osl=2,
                     model="fake-model")  # fmt: skip
    assert result.doc["summary"]["completed"] == 2


def test_a_base_url_ending_in_v1_is_understood(fixed: SimHost, tmp_path: Path) -> None:
    notes: list[str] = []
    result = run(fixed.url + "/v1", tmp_path, notes, num_prompts=2, isl=5, osl=2)
    assert result.doc["summary"]["completed"] == 2
    assert any("the API is under /v1" in n for n in notes)


def test_without_usage_the_unknowns_are_null(tmp_path: Path) -> None:
    with FakeOpenAI(mode="nousage") as fake:
        result = run(fake.base_url, tmp_path, num_prompts=3, isl=5, osl=4)
    s = result.doc["summary"]
    assert s["completed"] == 3 and s["total_output_tokens"] == 12  # counted from chunks
    assert s["total_input_tokens"] is None and s["input_throughput"] is None
    assert s["multi_token_chunks"] is None
    assert "did not report tokens per chunk" in table(result.doc)


def test_a_run_refuses_to_overwrite_another(fixed: SimHost, tmp_path: Path) -> None:
    run(fixed.url, tmp_path, num_prompts=2, isl=5, osl=2)
    with pytest.raises(ConfigError, match="already holds a run"):
        run(fixed.url, tmp_path, num_prompts=2, isl=5, osl=2)
