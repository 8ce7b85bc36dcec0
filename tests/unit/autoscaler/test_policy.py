"""The policy as tables: one observation in, one decision out (per role), and short
sequences for the windows (zero traffic, stabilization, a change in progress)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from llmobs.autoscaler.config import AutoscalerConfig
from llmobs.autoscaler.model import Decision, Reason, Replicas
from llmobs.autoscaler.policy import State, decide, initial_state
from llmobs.observation import Observation, RoleObservation
from tests.unit.autoscaler.build import T0, config, observation, replicas, role

R = Reason


def aged(cfg: AutoscalerConfig, **fields: Any) -> State:
    """A state long past its first decision (no start-up stabilization)."""
    state = initial_state(cfg)
    return State({k: replace(v, started=T0 - 10_000, **fields) for k, v in state.roles.items()})


def run(
    obs: Observation | None,
    reps: dict[str, Replicas],
    cfg: AutoscalerConfig,
    now: float = T0,
    state: State | None = None,
) -> tuple[dict[str, Decision], State]:
    decisions, new = decide(obs, reps, aged(cfg) if state is None else state, cfg, now)
    return {d.role: d for d in decisions}, new


def P(**kw: Any) -> RoleObservation:
    return role("prefill", **({"ttft": 0.5} | kw))


def D(**kw: Any) -> RoleObservation:
    return role("decode", **({"tpot": 0.03, "kv": 0.3} | kw))


# (case, prefill observation (None: absent), replicas of prefill, prefill config,
#  expected desired, expected reasons)
PREFILL_TABLE: list[
    tuple[str, RoleObservation | None, tuple[int, int], dict[str, Any], int, tuple[Reason, ...]]
] = [
    ("role missing", None, (2, 2), {}, 2, (R.MISSING_DATA,)),
    ("never scraped", P(age=None), (2, 2), {}, 2, (R.MISSING_DATA,)),
    ("stale", P(age=61.0), (2, 2), {}, 2, (R.STALE_DATA,)),
    ("fewer replicas reported than ready", P(scraped=1), (2, 2), {}, 2, (R.TOO_FEW_REPLICAS,)),
    ("no request rate", P(rate=None), (2, 2), {}, 2, (R.MISSING_DATA,)),
    ("traffic but no TTFT", P(ttft=None), (2, 2), {}, 2, (R.MISSING_DATA,)),
    ("none ready yet", P(ready=0), (2, 0), {}, 2, (R.COLD_START_PENDING,)),
    ("SLO breach", P(ttft=2.0), (2, 2), {}, 4, (R.SLO_BREACH,)),
    ("within tolerance", P(ttft=1.05), (2, 2), {}, 2, (R.WITHIN_SLO,)),
    ("step limit", P(ttft=10.0), (2, 2), {}, 6, (R.SLO_BREACH, R.STEP_LIMIT)),
    ("step limit 1", P(ttft=10.0), (2, 2), {"max_step_up": 1}, 3, (R.SLO_BREACH, R.STEP_LIMIT)),
    ("at max", P(ttft=2.0, ready=8), (8, 8), {}, 8, (R.BOUNDS, R.SLO_BREACH, R.STEP_LIMIT)),
    ("capped by max", P(ttft=2.0, ready=6), (6, 6), {}, 8, (R.SLO_BREACH, R.STEP_LIMIT, R.BOUNDS)),
    ("below min", P(ttft=0.5, ready=1), (1, 1), {"min_replicas": 2}, 2, (R.BOUNDS, R.WITHIN_SLO)),
    ("queue", P(waiting=10.0), (2, 2), {"queue_limit": 2}, 5, (R.QUEUE,)),
    ("queue under its limit", P(waiting=3.0), (2, 2), {"queue_limit": 2}, 2, (R.WITHIN_SLO,)),
    ("consolidate", P(ttft=0.3), (2, 2), {}, 1, (R.CONSOLIDATE,)),
    ("consolidate one step", P(ttft=0.1, ready=4), (4, 4), {}, 3, (R.CONSOLIDATE, R.STEP_LIMIT)),
    ("N-1 would breach the margin", P(ttft=0.5), (2, 2), {}, 2, (R.WITHIN_SLO,)),
    ("up while one is starting", P(ttft=2.0), (4, 2), {}, 4, (R.COLD_START_PENDING, R.SLO_BREACH)),
    (
        "more while one is starting",
        P(ttft=5.0),
        (4, 2),
        {},
        4,
        (R.COLD_START_PENDING, R.SLO_BREACH),
    ),
    ("no scale-down while starting", P(ttft=0.1), (4, 2), {}, 4, (R.COLD_START_PENDING,)),
]


@pytest.mark.parametrize(
    ("obs", "reps", "role_cfg", "desired", "reasons"),
    [case[1:] for case in PREFILL_TABLE],
    ids=[case[0] for case in PREFILL_TABLE],
)
def test_prefill_table(
    obs: RoleObservation | None,
    reps: tuple[int, int],
    role_cfg: dict[str, Any],
    desired: int,
    reasons: tuple[Reason, ...],
) -> None:
    cfg = config(prefill=role_cfg)
    got, _ = run(observation(*(o for o in (obs, D()) if o is not None)), replicas(p=reps), cfg)
    assert (got["prefill"].desired, got["prefill"].reasons) == (desired, reasons)
    assert got["prefill"].current == reps[0]


DECODE_TABLE: list[tuple[str, RoleObservation, dict[str, Any], int, tuple[Reason, ...]]] = [
    ("KV pressure", D(kv=0.95), {}, 3, (R.KV_PRESSURE,)),
    (
        "KV pressure and breach",
        D(kv=0.95, tpot=0.2),
        {},
        6,
        (R.SLO_BREACH, R.KV_PRESSURE, R.STEP_LIMIT),
    ),
    ("waiting", D(waiting=6.0), {"waiting_limit": 1}, 6, (R.QUEUE,)),
    ("TPOT breach", D(tpot=0.1), {}, 4, (R.SLO_BREACH,)),
    ("consolidate", D(tpot=0.01), {}, 1, (R.CONSOLIDATE,)),
    ("the survivor would not fit in KV", D(tpot=0.01, kv=0.5), {}, 2, (R.WITHIN_SLO,)),
    ("no KV usage: no consolidation", D(tpot=0.01, kv=None), {}, 2, (R.WITHIN_SLO,)),
    ("no KV limit", D(tpot=0.01, kv=None), {"kv_usage_limit": None}, 1, (R.CONSOLIDATE,)),
    (
        "waiting would pass its limit",
        D(tpot=0.01, waiting=1.0),
        {"waiting_limit": 1},
        2,
        (R.WITHIN_SLO,),
    ),
]


@pytest.mark.parametrize(
    ("obs", "role_cfg", "desired", "reasons"),
    [case[1:] for case in DECODE_TABLE],
    ids=[case[0] for case in DECODE_TABLE],
)
def test_decode_table(
    obs: RoleObservation, role_cfg: dict[str, Any], desired: int, reasons: tuple[Reason, ...]
) -> None:
    got, _ = run(observation(P(), obs), replicas(), config(decode=role_cfg))
    assert (got["decode"].desired, got["decode"].reasons) == (desired, reasons)


def test_source_failed_holds_every_role() -> None:
    got, _ = run(None, replicas(), config())
    assert [(d.desired, d.reasons) for d in got.values()] == [(2, (R.SOURCE_FAILED,))] * 2


def test_data_read_late_is_stale() -> None:
    got, _ = run(observation(P(age=1.0), D()), replicas(), config(), now=T0 + 60)
    assert got["prefill"].reasons == (R.STALE_DATA,)
    assert got["prefill"].inputs["age_s"] == 61.0


def test_unknown_replicas_are_an_actuator_hold() -> None:
    got, _ = run(observation(P(), D()), {"prefill": Replicas(2, 2)}, config())
    assert got["decode"].reasons == (R.ACTUATOR_FAILED,)


def test_inputs_carry_observed_and_target_values() -> None:
    got, _ = run(observation(P(ttft=2.0), D()), replicas(), config())
    inputs = got["prefill"].inputs
    assert (inputs["ttft_p90_observed"], inputs["ttft_p90_target"], inputs["slo_ratio"]) == (
        2.0,
        1.0,
        2.0,
    )


def at(now: float, p: dict[str, Any] | None = None, d: dict[str, Any] | None = None) -> Observation:
    """Both roles observed at ``now``."""
    return observation(P(t=now, **(p or {})), D(t=now, **(d or {})), t=now)


def test_change_in_progress_is_waited_for_until_its_timeout() -> None:
    cfg = config(prefill={"change_timeout_s": 900})
    got, state = run(at(T0, {"ttft": 5.0}), replicas(p=(4, 2)), cfg)
    assert got["prefill"].reason is R.COLD_START_PENDING
    got, state = run(at(T0 + 899, {"ttft": 5.0}), replicas(p=(4, 2)), cfg, T0 + 899, state)
    assert got["prefill"].reason is R.COLD_START_PENDING
    got, _ = run(at(T0 + 900, {"ttft": 5.0}), replicas(p=(4, 2)), cfg, T0 + 900, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (8, (R.SLO_BREACH, R.STEP_LIMIT))


def test_zero_traffic_goes_to_min_after_the_down_window() -> None:
    cfg = config()
    quiet = {"rate": 0.0, "ttft": None, "ready": 4}
    got, state = run(at(T0, quiet), replicas(p=(4, 4)), cfg)
    assert (got["prefill"].desired, got["prefill"].reason) == (4, R.ZERO_TRAFFIC)
    got, state = run(at(T0 + 299, quiet), replicas(p=(4, 4)), cfg, T0 + 299, state)
    assert (got["prefill"].desired, got["prefill"].reason) == (4, R.ZERO_TRAFFIC)
    got, state = run(at(T0 + 300, quiet), replicas(p=(4, 4)), cfg, T0 + 300, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (1, (R.ZERO_TRAFFIC,))


def test_traffic_restarts_the_quiet_window() -> None:
    cfg = config()
    quiet = {"rate": 0.0, "ttft": None}
    _, state = run(at(T0, quiet), replicas(), cfg)
    _, state = run(at(T0 + 200, quiet | {"waiting": 1.0}), replicas(), cfg, T0 + 200, state)
    got, _ = run(at(T0 + 300, quiet), replicas(), cfg, T0 + 300, state)
    assert (got["prefill"].desired, got["prefill"].reason) == (2, R.ZERO_TRAFFIC)


def test_scale_to_zero_and_back() -> None:
    cfg = config(prefill={"scale_to_zero": True})
    quiet = {"rate": 0.0, "ttft": None}
    _, state = run(at(T0, quiet), replicas(), cfg)
    got, state = run(at(T0 + 300, quiet), replicas(), cfg, T0 + 300, state)
    assert (got["prefill"].desired, got["prefill"].reason) == (0, R.ZERO_TRAFFIC)
    nothing = quiet | {"ready": 0, "age": None}
    got, state = run(at(T0 + 315, nothing), replicas(p=(0, 0)), cfg, T0 + 315, state)
    assert (got["prefill"].desired, got["prefill"].reason) == (0, R.ZERO_TRAFFIC)
    woken = nothing | {"rate": 0.5}
    got, _ = run(at(T0 + 330, woken), replicas(p=(0, 0)), cfg, T0 + 330, state)
    assert (got["prefill"].desired, got["prefill"].reason) == (1, R.QUEUE)


def test_scale_down_stabilization_keeps_the_window_high() -> None:
    cfg = config()
    got, state = run(observation(P(ttft=2.0), D()), replicas(), cfg)
    assert got["prefill"].desired == 4
    calm = {"ttft": 0.2, "ready": 4}
    got, state = run(at(T0 + 60, calm), replicas(p=(4, 4)), cfg, T0 + 60, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (4, (R.STABILIZATION, R.CONSOLIDATE))
    got, state = run(at(T0 + 301, calm), replicas(p=(4, 4)), cfg, T0 + 301, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (3, (R.CONSOLIDATE, R.STEP_LIMIT))


def test_scale_up_stabilization_takes_the_window_low() -> None:
    cfg = config(prefill={"scale_up_stabilization_s": 60})
    _, state = run(at(T0 - 30), replicas(), cfg, T0 - 30)
    got, state = run(at(T0, {"ttft": 2.0}), replicas(), cfg, state=state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (2, (R.STABILIZATION, R.SLO_BREACH))
    got, _ = run(at(T0 + 31, {"ttft": 2.0}), replicas(), cfg, T0 + 31, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (4, (R.SLO_BREACH,))


def test_a_restart_does_not_scale_down_before_the_window() -> None:
    cfg = config()
    calm = {"ttft": 0.1, "ready": 4}
    got, state = run(at(T0, calm), replicas(p=(4, 4)), cfg, state=initial_state(cfg))
    assert (got["prefill"].desired, got["prefill"].reason) == (4, R.STABILIZATION)
    got, _ = run(at(T0 + 300, calm), replicas(p=(4, 4)), cfg, T0 + 300, state)
    assert got["prefill"].desired == 3
