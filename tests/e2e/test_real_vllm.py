"""``llmobs scrape`` against a real vLLM 0.32 (the CPU build) serving a tiny model.

The test knows exactly what it sent (requests, output tokens with ignore_eos, the prompt
tokens vLLM reported), so every signal can be checked against the truth.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from llmobs.sim.config import EngineSettings
from tests.e2e.conftest import real_vllm_dir, run_cli, start_window_scrape
from tests.simhost import SimHost

REQUESTS = 4
MAX_TOKENS = 12


def complete(base_url: str, prompt: str) -> int:
    """One completion of exactly MAX_TOKENS tokens; returns the prompt tokens vLLM counted."""
    body = json.dumps(
        {
            "model": "tiny",
            "prompt": prompt,
            "max_tokens": MAX_TOKENS,
            "ignore_eos": True,
            "temperature": 0,
        }
    ).encode()
    request = urllib.request.Request(
        base_url + "/v1/completions", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        usage = json.load(response)["usage"]
    assert usage["completion_tokens"] == MAX_TOKENS
    return int(usage["prompt_tokens"])


def send(base_url: str) -> int:
    return sum(
        complete(base_url, f"the model token prompt number {i} " * (i + 1)) for i in range(REQUESTS)
    )


def scrape(base_url: str) -> dict[str, Any]:
    done = run_cli("scrape", base_url + "/metrics", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    target: dict[str, Any] = json.loads(done.stdout)["targets"][0]
    return target


def test_signals_match_what_was_sent(real_vllm: str) -> None:
    before = scrape(real_vllm)
    prompt_tokens = send(real_vllm)
    after = scrape(real_vllm)

    assert (after["engine"], after["naming"], after["models"]) == ("vllm", "v1", ["tiny"])
    assert after["up"] is True and after["error"] is None
    b, a = before["signals"], after["signals"]

    def grew(name: str) -> float:
        return float(a[name] - b[name])

    assert grew("requests_total") == REQUESTS
    assert grew("generation_tokens_total") == REQUESTS * MAX_TOKENS
    assert grew("prompt_tokens_total") == prompt_tokens

    def observed(name: str) -> float:
        return float(a[name]["count"] - b[name]["count"])

    for name in ("ttft_seconds", "e2e_seconds", "queue_seconds", "tpot_seconds"):
        assert observed(name) == REQUESTS, name
    assert observed("itl_seconds") == REQUESTS * (MAX_TOKENS - 1)
    assert a["requests_running"] == 0 and a["requests_waiting"] == 0
    assert 0 <= a["kv_cache_usage_ratio"] <= 1
    assert 0 <= a["prefix_cache_hit_ratio"] <= 1
    assert a["preemptions_total"] == 0
    assert after["sources"]["itl_seconds"] == "vllm:inter_token_latency_seconds"


def test_window_sees_only_the_window(real_vllm: str) -> None:
    proc = start_window_scrape(real_vllm + "/metrics", 15)  # returns inside the window
    send(real_vllm)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, out + err
    (t,) = json.loads(out)["targets"]
    window = t["window_seconds"]
    assert window >= 15
    s = t["signals"]
    assert s["ttft_seconds"]["count"] == REQUESTS
    assert s["itl_seconds"]["count"] == REQUESTS * (MAX_TOKENS - 1)
    assert t["rates"]["requests_per_second"] == pytest.approx(REQUESTS / window)
    assert t["rates"]["generation_tokens_per_second"] == pytest.approx(
        REQUESTS * MAX_TOKENS / window
    )
    for q in ("p50", "p90", "p99"):
        assert 0 < s["ttft_seconds"][q] < 60
        assert 0 < s["e2e_seconds"][q] < 120
    assert s["ttft_seconds"]["p50"] <= s["ttft_seconds"]["p99"]


PROMPTS = [
    "Hello world",
    "the model serves the tokens of a long prompt " * 20,
    "prefill and decode: 12345 67890 \u00e9t\u00e9 \u2713",
    "  spaces\n\nand lines  ",
]


def post(url: str, body: object) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        doc: dict[str, Any] = json.load(response)
    return doc


def test_emulator_with_the_models_tokenizer_counts_like_vllm(real_vllm: str) -> None:
    """Given the served model's tokenizer folder, the emulator's prompt token counts are
    vLLM's, for completions, chat (the model's own chat template) and /tokenize."""
    settings = EngineSettings(
        tokenizer=str(real_vllm_dir() / "model"), served_model_name="tiny", max_model_len=4096
    )
    with SimHost(settings) as sim:
        for prompt in PROMPTS:
            body = {"model": "tiny", "prompt": prompt, "max_tokens": 2, "ignore_eos": True}
            real = post(real_vllm + "/v1/completions", body)["usage"]["prompt_tokens"]
            ours = post(sim.url + "/v1/completions", body)["usage"]["prompt_tokens"]
            assert ours == real, prompt
            chat = {
                "model": "tiny",
                "max_tokens": 2,
                "ignore_eos": True,
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": prompt},
                ],
            }
            real = post(real_vllm + "/v1/chat/completions", chat)["usage"]["prompt_tokens"]
            ours = post(sim.url + "/v1/chat/completions", chat)["usage"]["prompt_tokens"]
            assert ours == real, prompt
            tokenized = {"model": "tiny", "prompt": prompt}
            assert (
                post(sim.url + "/tokenize", tokenized)["tokens"]
                == post(real_vllm + "/tokenize", tokenized)["tokens"]
            )
