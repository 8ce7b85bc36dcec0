"""The emulator's performance model next to public measurements (docs/sim.md).

Each case replays the measured scenario (same GPU, model, tensor parallelism, lengths,
batch or rate) through the emulator in virtual time and compares the number the source
reports. Sources and their exact setups: docs/sim.md.

    .venv/bin/python benchmarks/sim_accuracy.py
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass

from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.virtual import RequestRecord, VirtualCluster, VirtualRequest


@dataclass(frozen=True)
class Case:
    source: str
    setup: str
    metric: str
    measured: float
    unit: str
    predict: Callable[[], float]


def run(
    model: str,
    hardware: str,
    tp: int,
    requests: list[VirtualRequest],
    max_model_len: int | None = None,
) -> list[RequestRecord]:
    settings = EngineSettings(
        model=model,
        hardware=hardware,
        tensor_parallel_size=tp,
        max_model_len=max_model_len,
        enable_prefix_caching=False,
    )
    cluster = VirtualCluster(Resolved(settings), {"both": 1})
    cluster.submit(requests)
    cluster.run()
    return [cluster.records[r.id] for r in requests]


def batch(n: int, prompt: int, output: int) -> list[VirtualRequest]:
    return [VirtualRequest(f"b{i}", 0.0, prompt, output) for i in range(n)]


def single_decode_rate(model: str, hardware: str, tp: int, prompt: int, output: int) -> float:
    (record,) = run(model, hardware, tp, batch(1, prompt, output))
    assert record.finished is not None
    assert record.first_token is not None
    return (output - 1) / (record.finished - record.first_token)


def batch_latency_ms(model: str, hardware: str, tp: int, n: int, prompt: int, output: int) -> float:
    records = run(model, hardware, tp, batch(n, prompt, output))
    return 1000 * max(r.finished or 0.0 for r in records)


def ttft_ms(model: str, hardware: str, tp: int, prompt: int) -> float:
    (record,) = run(model, hardware, tp, batch(1, prompt, 1))
    assert record.ttft is not None
    return 1000 * record.ttft


def sharegpt_like(n: int, rate: float | None, seed: int = 0) -> list[VirtualRequest]:
    """Lengths shaped like ShareGPT conversations (mean ~220 in, ~190 out, long tails)."""
    rng = random.Random(seed)
    t = 0.0
    out = []
    for i in range(n):
        if rate is not None:
            t += rng.expovariate(rate)
        prompt = max(4, min(4000, int(rng.lognormvariate(4.9, 1.0))))
        output = max(2, min(2000, int(rng.lognormvariate(4.75, 0.9))))
        out.append(VirtualRequest(f"s{i}", t, prompt, output))
    return out


def serving(metric: str) -> float:
    records = run("Llama-3.1-8B", "A100-80GB", 1, sharegpt_like(1200, 4.0), 4096)
    if metric == "ttft":
        return 1000 * statistics.median(r.ttft for r in records if r.ttft is not None)
    return 1000 * statistics.median(r.tpot for r in records if r.tpot is not None)


def offline_throughput() -> float:
    records = run("Llama-3.1-8B", "A100-80GB", 1, sharegpt_like(5000, None), 4096)
    end = max(r.finished or 0.0 for r in records)
    return sum(r.output_tokens for r in records) / end


CASES = [
    Case(
        "M7 Qwen2.5 speed benchmark (vLLM 0.6.3)",
        "Qwen2.5-7B, 1 x A100-80GB, batch 1, input 1, 2048 out",
        "decode tokens/s",
        84.28,
        "tok/s",
        lambda: single_decode_rate("Qwen2.5-7B", "A100-80GB", 1, 1, 2048),
    ),
    Case(
        "M7 Qwen2.5 speed benchmark (vLLM 0.6.3)",
        "Qwen2.5-7B, 1 x A100-80GB, batch 1, input 30720, 2048 out",
        "decode tokens/s",
        70.33,
        "tok/s",
        lambda: single_decode_rate("Qwen2.5-7B", "A100-80GB", 1, 30720, 2048),
    ),
    Case(
        "M6 vLLM performance CI",
        "Llama-3-8B, 1 x H100, batch 8, 32 in / 128 out",
        "batch latency",
        997.5,
        "ms",
        lambda: batch_latency_ms("Llama-3.1-8B", "H100-80GB", 1, 8, 32, 128),
    ),
    Case(
        "M6 vLLM performance CI",
        "Llama-3-70B, 4 x H100, batch 8, 32 in / 128 out",
        "batch latency",
        2444.5,
        "ms",
        lambda: batch_latency_ms("Llama-3.1-70B", "H100-80GB", 4, 8, 32, 128),
    ),
    Case(
        "M6 vLLM performance CI",
        "Llama-3-8B, 1 x H200, batch 8, 32 in / 128 out",
        "batch latency",
        833.4,
        "ms",
        lambda: batch_latency_ms("Llama-3.1-8B", "H200", 1, 8, 32, 128),
    ),
    Case(
        "M6 vLLM performance CI",
        "Llama-3-70B, 4 x H200, batch 8, 32 in / 128 out",
        "batch latency",
        2077.5,
        "ms",
        lambda: batch_latency_ms("Llama-3.1-70B", "H200", 4, 8, 32, 128),
    ),
    Case(
        "M1 gpt-fast (A100 at 330 W)",
        "Llama-3.1-8B, 1 x A100-80GB, batch 1, 5 in / 200 out",
        "decode tokens/s",
        93.89,
        "tok/s",
        lambda: single_decode_rate("Llama-3.1-8B", "A100-80GB", 1, 5, 200),
    ),
    Case(
        "M2 TensorRT-LLM v0.5",
        "Llama-2-7B, 1 x A100-80GB, batch 1, 2048 in",
        "TTFT",
        133.0,
        "ms",
        lambda: ttft_ms("Llama-2-7B", "A100-80GB", 1, 2048),
    ),
    Case(
        "M2 TensorRT-LLM v0.5",
        "Llama-2-70B, 4 x A100-80GB, batch 1, 2048 in",
        "TTFT",
        377.0,
        "ms",
        lambda: ttft_ms("Llama-2-70B", "A100-80GB", 4, 2048),
    ),
    Case(
        "M4 Databricks (TensorRT-LLM based)",
        "MPT-7B ~ Llama-2-7B, 1 x A100-40GB, 512 in",
        "TTFT",
        46.0,
        "ms",
        lambda: ttft_ms("Llama-2-7B", "A100-40GB", 1, 512),
    ),
    Case(
        "M3 SGLang v0.3.0 vs vLLM v0.6.0 (SGLang)",
        "Llama-3.1-8B, 1 x A100-80GB, ShareGPT at 4 req/s",
        "median TPOT",
        13.17,
        "ms",
        lambda: serving("tpot"),
    ),
    Case(
        "M3 SGLang v0.3.0 vs vLLM v0.6.0 (vLLM)",
        "Llama-3.1-8B, 1 x A100-80GB, ShareGPT offline",
        "output throughput",
        4132.37,
        "tok/s",
        offline_throughput,
    ),
]


def main() -> None:
    print("| source | setup | metric | measured | emulator | error |")
    print("|---|---|---|---|---|---|")
    errors = []
    for case in CASES:
        predicted = case.predict()
        error = (predicted - case.measured) / case.measured
        errors.append(abs(error))
        print(
            f"| {case.source} | {case.setup} | {case.metric} | {case.measured:g} {case.unit} "
            f"| {predicted:.4g} {case.unit} | {error:+.0%} |"
        )
    print(
        f"\nmedian absolute error {statistics.median(errors):.0%}, "
        f"largest {max(errors):.0%} over {len(errors)} measurements"
    )


if __name__ == "__main__":
    main()
