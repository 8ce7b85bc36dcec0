"""``llmbench run`` against a real vLLM 0.32 (the CPU build, tiny model): exact prompt
lengths (local tokenizer, or vLLM's /tokenize), exact output lengths, and the engine's own
histograms counting exactly the run's requests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import real_vllm_dir, run_cli

N, ISL, OSL = 8, 100, 16


def llmbench(url: str, out: Path, *extra: str) -> dict[str, Any]:
    done = run_cli(
        "run",
        "--base-url",
        url,
        "-n",
        str(N),
        "--request-rate",
        "4",
        "--isl",
        str(ISL),
        "--osl",
        str(OSL),
        "--scrape",
        url,
        "--scrape-interval",
        "0.5",
        "--out",
        str(out),
        "--json",
        *extra,
        module="llmobs.cli.bench",
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


@pytest.mark.parametrize("tokenizer", [True, False], ids=["local-tokenizer", "server-tokenize"])
def test_llmbench_measures_a_real_vllm(real_vllm: str, tmp_path: Path, tokenizer: bool) -> None:
    extra = ["--tokenizer", str(real_vllm_dir() / "model")] if tokenizer else []
    doc = llmbench(real_vllm, tmp_path, *extra)
    s = doc["summary"]
    assert (s["completed"], s["failed"]) == (N, 0)
    assert doc["config"]["model"] == "tiny"  # the first of /v1/models
    assert s["input_tokens"]["min"] == s["input_tokens"]["max"] == ISL  # as vLLM counted
    assert s["output_tokens"]["min"] == s["output_tokens"]["max"] == OSL
    assert s["short_outputs"] == 0
    # vLLM reports tokens per chunk (continuous usage); a chunk may carry several, and ITL
    # then has fewer gaps than tokens: llmbench counts and says so
    assert s["multi_token_chunks"] is not None
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert all(sum(r["chunk_tokens"]) == OSL for r in records)
    assert s["chunks"] == sum(len(r["chunk_times"]) for r in records)
    assert s["multi_token_chunks"] == sum(n > 1 for r in records for n in r["chunk_tokens"])
    assert s["tpot_ms"]["count"] == N and s["itl_ms"]["count"] == s["chunks"] - N
    (server,) = doc["servers"]
    assert server["engine"] == "vllm"
    observed = server["observations"]
    assert (observed["ttft"], observed["e2e"], observed["queue"]) == (N, N, N)
    assert observed["itl"] == N * (OSL - 1)
    # the client waits at least as long as the engine measured, give or take a bucket
    gap = doc["gap_ms"]
    assert gap["ttft"]["mean"] is not None and gap["ttft"]["mean"] > -1.0
    assert gap["e2el"]["mean"] is not None and gap["e2el"]["mean"] > -1.0


def test_llmbench_chat_against_a_real_vllm(real_vllm: str, tmp_path: Path) -> None:
    doc = llmbench(real_vllm, tmp_path, "--endpoint", "/v1/chat/completions")
    s = doc["summary"]
    assert (s["completed"], s["failed"]) == (N, 0)
    assert s["output_tokens"]["min"] == OSL
    # the chat template adds tokens around the prompt; the real count comes from usage
    assert s["input_tokens"]["min"] > ISL
