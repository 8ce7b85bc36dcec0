"""Inputs for the baseline tests: role observations built field by field, the replicas the
cluster reports, and profiles whose numbers can be checked by hand."""

from __future__ import annotations

from llmobs.autoscaler.baselines.dynamo_profile import DecodeProfile, PrefillProfile, StepTimes
from llmobs.autoscaler.model import Replicas
from llmobs.observation import Latencies, Latency, Observation, RoleKey, RoleObservation, Spread
from llmobs.observation import Replicas as Counted


def _latency(mean: float | None) -> Latency | None:
    return None if mean is None else Latency(count=100.0, mean=mean, quantiles={})


def role(
    name: str,
    *,
    replicas: int = 2,
    scraped: int | None = None,
    request_rate: float | None = None,
    prompt_rate: float | None = None,
    generation_rate: float | None = None,
    ttft: float | None = None,
    itl: float | None = None,
    e2e: float | None = None,
    kv: float | None = None,
    running: float | None = None,
    waiting: float | None = None,
) -> RoleObservation:
    return RoleObservation(
        key=RoleKey("default", "g", name, "m"),
        replicas=Counted(replicas, replicas if scraped is None else scraped, replicas),
        window_seconds=180.0,
        timestamp=0.0,
        age_seconds=1.0,
        latency=Latencies(
            ttft_seconds=_latency(ttft), itl_seconds=_latency(itl), e2e_seconds=_latency(e2e)
        ),
        request_rate=request_rate,
        prompt_tokens_rate=prompt_rate,
        generation_tokens_rate=generation_rate,
        kv_cache_usage_ratio=Spread(kv, kv),
        requests_running=running,
        requests_waiting=waiting,
    )


def seen(*roles: RoleObservation) -> Observation:
    return Observation(timestamp=0.0, window_seconds=180.0, roles=roles)


def now(
    p: int, d: int, *, p_ready: int | None = None, d_ready: int | None = None
) -> dict[str, Replicas]:
    return {
        "prefill": Replicas(p, p if p_ready is None else p_ready),
        "decode": Replicas(d, d if d_ready is None else d_ready),
    }


# Profiles with hand-checkable numbers: a prefill of ISL tokens alone takes ISL / 10k s and
# an engine does 10k prompt tokens/s per GPU; a decode engine with n sequences has ITL
# 0.01 + 0.0001 n s (any context) and does 10 n tokens/s per GPU; its KV cache holds
# 307,500 tokens, so at ISL 3000, OSL 150 (context 3075) the grid's KV usage k is n = 100 k.
PREFILL = PrefillProfile(ttft_s=lambda isl: isl / 10_000, throughput_per_gpu=lambda isl: 10_000.0)
DECODE = DecodeProfile(
    itl_s=lambda n, ctx: 0.01 + 0.0001 * n,
    throughput_per_gpu=lambda n, ctx: 10.0 * n,
    max_kv_tokens=307_500,
)


# A prefill step of t tokens takes 0.01 + t / 20,000 s (chunks of 8192); a decode step over
# kv tokens 0.01 + kv / 1e7 s (SLOW: kv / 1e6); 100,000 KV tokens per decode engine. With
# ISL 3000 the own-prefill time T_own is 0.16 s, and with the TTFT SLA 0.5 s and sensitivity
# 0.8 the queue budget is (0.5 - 0.16) * 0.8 = 0.272 s. A decode sequence holds 3000 + 75.
STEPS = StepTimes(
    prefill_s=lambda tokens: 0.01 + tokens / 20_000,
    decode_s=lambda requests, kv: 0.01 + kv / 1e7,
    max_num_batched_tokens=8192,
    max_kv_tokens=100_000,
)
SLOW = StepTimes(
    prefill_s=STEPS.prefill_s,
    decode_s=lambda requests, kv: 0.01 + kv / 1e6,
    max_num_batched_tokens=8192,
    max_kv_tokens=100_000,
)
