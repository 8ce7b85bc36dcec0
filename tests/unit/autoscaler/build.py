"""Role observations and configs for the policy's tables, built directly as the dataclasses
the sources produce."""

from __future__ import annotations

from typing import Any

from llmobs.autoscaler.config import AutoscalerConfig
from llmobs.autoscaler.model import Replicas
from llmobs.observation import (
    Latencies,
    Latency,
    Observation,
    RoleKey,
    RoleObservation,
    Spread,
)
from llmobs.observation import Replicas as Seen

T0 = 1_000_000.0


def latency(value: float | None) -> Latency:
    """A latency whose every quantile is ``value`` (None: the window saw no request)."""
    return Latency(10.0, value, {0.5: value, 0.9: value, 0.99: value})


def role(
    name: str,
    *,
    t: float = T0,
    ready: int = 2,
    scraped: int | None = None,
    age: float | None = 1.0,
    rate: float | None = 10.0,
    ttft: float | None = None,
    tpot: float | None = None,
    kv: float | None = None,
    waiting: float | None = 0.0,
    running: float | None = None,
    prompt: float | None = None,
    generated: float | None = None,
    group: str = "g",
) -> RoleObservation:
    """One role's observation at ``t`` over a 60 s window."""
    return RoleObservation(
        key=RoleKey("ns", group, name, "m"),
        replicas=Seen(ready, ready if scraped is None else scraped, ready),
        window_seconds=60.0,
        timestamp=t,
        age_seconds=age,
        latency=Latencies(
            ttft_seconds=None if ttft is None else latency(ttft),
            tpot_seconds=None if tpot is None else latency(tpot),
        ),
        request_rate=rate,
        prompt_tokens_rate=prompt,
        generation_tokens_rate=generated,
        kv_cache_usage_ratio=Spread(kv, kv),
        requests_running=running,
        requests_waiting=waiting,
    )


def observation(*roles: RoleObservation, t: float = T0) -> Observation:
    return Observation(t, 60.0, roles)


PREFILL: dict[str, Any] = {"slo": {"ttft": {"p90": "1s"}}, "min_replicas": 1, "max_replicas": 8}
DECODE: dict[str, Any] = {"slo": {"tpot": {"p90": "50ms"}}, "min_replicas": 1, "max_replicas": 8}


def config(
    prefill: dict[str, Any] | None = None, decode: dict[str, Any] | None = None, **top: Any
) -> AutoscalerConfig:
    """Both roles with the defaults above, each updated by its mapping."""
    roles = {"prefill": PREFILL | (prefill or {}), "decode": DECODE | (decode or {})}
    return AutoscalerConfig.model_validate({"roles": roles, **top})


def replicas(p: tuple[int, int] = (2, 2), d: tuple[int, int] = (2, 2)) -> dict[str, Replicas]:
    """``(desired, ready)`` of prefill and decode."""
    return {"prefill": Replicas(*p), "decode": Replicas(*d)}
