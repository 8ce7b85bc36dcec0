"""The roofline model and the profiles behind it."""

from __future__ import annotations

import pytest

from llmobs.errors import ConfigError
from llmobs.sim import profiles
from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.perf import Efficiency, PerfModel, StepShape, attention_pairs

H100 = profiles.hardware("H100-80GB")
QWEN = profiles.model("Qwen2.5-7B")


def decode(batch: int, context: int) -> StepShape:
    return StepShape(batch, batch * (context + 1.0), batch * (context + 1), batch)


def prefill(tokens: int) -> StepShape:
    return StepShape(tokens, attention_pairs(tokens, 0), tokens, 1)


def test_every_profile_loads_with_sane_numbers() -> None:
    assert set(profiles.hardware_profiles()) >= {
        "A10",
        "L4",
        "L40S",
        "RTX-4090",
        "A100-40GB",
        "A100-80GB",
        "H100-80GB",
        "H200",
    }
    assert set(profiles.model_profiles()) >= {
        "Qwen2.5-7B",
        "Llama-3.1-8B",
        "Qwen3-32B",
        "Llama-3.1-70B",
    }
    for hw in profiles.hardware_profiles().values():
        assert hw.memory_usable_gib < hw.memory_gb  # GiB reported < GB on the box
    llama = profiles.model("Llama-3.1-8B")
    assert llama.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2 == 131072


def test_decode_at_batch_one_is_weights_over_bandwidth() -> None:
    eff = Efficiency()
    perf = PerfModel(H100, QWEN, 1, eff)
    expected = eff.step_overhead_s + QWEN.weight_bytes / (3350e9 * eff.decode_mbu)
    assert perf.step_time(decode(1, 10)) == pytest.approx(expected, rel=0.01)


def test_decode_is_memory_bound_and_prefill_compute_bound() -> None:
    perf = PerfModel(H100, QWEN)
    # a bigger decode batch barely costs more (weights are read once)...
    assert perf.step_time(decode(64, 100)) < 1.2 * perf.step_time(decode(1, 100))
    # ...but long contexts do (KV reads)
    assert perf.step_time(decode(64, 8000)) > 1.5 * perf.step_time(decode(64, 100))
    # prefill grows with tokens, superlinearly once attention's quadratic term shows
    t1, t8 = perf.step_time(prefill(1000)), perf.step_time(prefill(8000))
    assert t8 > 7 * (t1 - perf.eff.step_overhead_s)


def test_tensor_parallel_is_faster_but_pays_all_reduce() -> None:
    llama70 = profiles.model("Llama-3.1-70B")
    tp4, tp8 = PerfModel(H100, llama70, 4), PerfModel(H100, llama70, 8)
    assert tp8.step_time(decode(8, 1000)) < tp4.step_time(decode(8, 1000))
    ideal = tp4.step_time(decode(8, 1000)) / 2
    assert tp8.step_time(decode(8, 1000)) > ideal


def test_kv_capacity_is_memory_left_after_weights() -> None:
    perf = PerfModel(H100, QWEN)
    tokens = perf.kv_cache_tokens(0.9)
    free = 79.19 * 2**30 * 0.9 - QWEN.weight_bytes - 2.1 * 2**30
    assert tokens == pytest.approx(free / QWEN.kv_bytes_per_token, rel=1e-6)
    assert PerfModel(H100, profiles.model("Llama-3.1-70B"), 1).kv_cache_tokens(0.9) == 0


def test_settings_defaults_follow_vllm() -> None:
    big = Resolved(EngineSettings())
    assert (big.max_num_seqs, big.max_num_batched_tokens) == (1024, 8192)
    small = Resolved(EngineSettings(hardware="A100-80GB"))
    assert (small.max_num_seqs, small.max_num_batched_tokens) == (256, 2048)
    assert big.max_model_len == 32768 and big.served_name == "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (EngineSettings(model="Llama-3.1-70B"), "does not fit"),
        (EngineSettings(model="nope"), "unknown model"),
        (EngineSettings(hardware="TPU"), "unknown hardware"),
        (
            EngineSettings(model="Llama-3.1-8B", hardware="L4", max_model_len=131072),
            "larger than the maximum number of tokens",
        ),
    ],
)
def test_settings_that_cannot_work_say_why(settings: EngineSettings, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Resolved(settings)


def test_strict_settings() -> None:
    from llmobs.config import validate

    with pytest.raises(ConfigError, match="max_num_seq"):
        validate(EngineSettings, {"max_num_seq": 4})
    with pytest.raises(ConfigError, match="both fixed_ttft_ms and fixed_itl_ms"):
        validate(EngineSettings, {"fixed_ttft_ms": 5})
    with pytest.raises(ConfigError, match="not emulated"):
        validate(EngineSettings, {"engine_version": "0.1.0"})
