"""The joint step's caps: the P:D band's raise within the raised role's step limit and its
change in progress, and a GPU budget the replicas found already exceed (forced shrink of
the least urgent roles, never below min, nothing grows)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs.autoscaler.model import Reason, Replicas
from llmobs.autoscaler.policy import State
from llmobs.observation import Observation
from tests.unit.autoscaler.build import T0, config, observation, replicas
from tests.unit.autoscaler.test_policy import D, P, aged, run

R = Reason
BAND = {"pd_ratio": {"min": 0.5, "max": 1.0}}
# 4 decode breaching go to 8, which need 4 prefill (band min 0.5)
BREACH = observation(P(), D(tpot=0.2, ready=4))


def pending_since(since: float, **top: Any) -> State:
    state = aged(config(**top))
    return State({k: replace(v, pending_since=since) for k, v in state.roles.items()})


# (case, prefill config, prefill (desired, ready), state's pending_since (None: aged),
#  expected prefill desired, expected reasons)
RATIO_TABLE: list[tuple[str, dict[str, Any], tuple[int, int], float | None, int, tuple[R, ...]]] = [
    ("within the step", {}, (2, 2), None, 4, (R.RATIO, R.WITHIN_SLO)),
    (
        "cut by max_step_up",
        {"max_step_up": 1},
        (2, 2),
        None,
        3,
        (R.RATIO, R.WITHIN_SLO, R.STEP_LIMIT),
    ),
    ("a scale-up in progress", {}, (3, 2), None, 3, (R.COLD_START_PENDING,)),
    ("in progress past change_timeout_s", {}, (3, 2), T0 - 1000, 4, (R.RATIO, R.CONSOLIDATE)),
    (
        "past the timeout, the step counts from current (3 + 1)",
        {"max_step_up": 1},
        (3, 2),
        T0 - 1000,
        4,
        (R.RATIO, R.CONSOLIDATE),
    ),
]


@pytest.mark.parametrize(
    ("case", "prefill", "reps", "since", "desired", "reasons"),
    RATIO_TABLE,
    ids=[row[0] for row in RATIO_TABLE],
)
def test_band_raise_respects_the_raised_roles_limits(
    case: str,
    prefill: dict[str, Any],
    reps: tuple[int, int],
    since: float | None,
    desired: int,
    reasons: tuple[Reason, ...],
) -> None:
    cfg = config(prefill=prefill, **BAND)
    state = None if since is None else pending_since(since, prefill=prefill, **BAND)
    got, _ = run(BREACH, replicas(p=reps, d=(4, 4)), cfg, T0, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (desired, reasons), case
    assert got["decode"].desired == 8


def test_band_raise_cut_entirely_names_the_cap_first() -> None:
    # prefill at 2 with 2 ready is already at its own growth's limit: a step of 0 is not
    # configurable (PositiveInt), so the cap that leaves nothing is a change in progress
    cfg = config(**BAND)
    got, _ = run(BREACH, replicas(p=(3, 1), d=(4, 4)), cfg)
    assert got["prefill"].desired == 3
    assert got["prefill"].reasons[0] is R.COLD_START_PENDING
    assert "P:D band: 8 decode need 4 prefill" in got["prefill"].detail


def over(**top: Any) -> tuple[dict[str, Replicas], Any]:
    return replicas(p=(3, 3), d=(3, 3)), config(**({"gpu_budget": 4} | top))


# (case, observation, config overrides, expected (prefill, decode) (desired, reasons))
BUDGET_TABLE: list[tuple[str, Observation | None, dict[str, Any], tuple[Any, Any]]] = [
    (
        "the least urgent shrinks first",
        observation(P(ready=3), D(tpot=0.2, ready=3)),
        {},
        ((1, (R.CONSOLIDATE, R.BUDGET)), (3, (R.BUDGET, R.SLO_BREACH, R.STEP_LIMIT))),
    ),
    (
        "never below min: the next role shrinks too",
        observation(P(ready=3), D(ready=3)),
        {"prefill": {"min_replicas": 2}, "decode": {"min_replicas": 2}},
        ((2, (R.CONSOLIDATE,)), (2, (R.BUDGET, R.WITHIN_SLO))),
    ),
    (
        "nothing grows while over",
        observation(P(ttft=2.0, ready=3), D(tpot=0.2, ready=3)),
        {},
        ((1, (R.BUDGET, R.SLO_BREACH)), (3, (R.BUDGET, R.SLO_BREACH, R.STEP_LIMIT))),
    ),
    (
        "enforced without an observation",
        None,
        {},
        ((1, (R.BUDGET, R.SOURCE_FAILED)), (3, (R.SOURCE_FAILED,))),
    ),
    (
        "GPUs per replica",
        observation(P(ready=3), D(tpot=0.2, ready=3)),
        {"prefill": {"gpus_per_replica": 2}, "gpu_budget": 5},
        ((1, (R.CONSOLIDATE, R.BUDGET)), (3, (R.BUDGET, R.SLO_BREACH, R.STEP_LIMIT))),
    ),
]


@pytest.mark.parametrize(
    ("case", "obs", "top", "expected"), BUDGET_TABLE, ids=[row[0] for row in BUDGET_TABLE]
)
def test_over_budget_at_start(
    case: str, obs: Observation | None, top: dict[str, Any], expected: tuple[Any, Any]
) -> None:
    reps, cfg = over(**top)
    got, _ = run(obs, reps, cfg)
    assert (
        (got["prefill"].desired, got["prefill"].reasons),
        (got["decode"].desired, got["decode"].reasons),
    ) == expected, case
    asked = sum(d.desired * cfg.roles[d.role].gpus_per_replica for d in got.values())
    assert cfg.gpu_budget is not None and asked <= cfg.gpu_budget


def test_over_budget_leaves_a_role_with_unknown_replicas_alone() -> None:
    cfg = config(gpu_budget=4)
    got, _ = run(observation(P(ttft=2.0, ready=5), D()), {"prefill": Replicas(5, 5)}, cfg)
    assert (got["prefill"].desired, got["prefill"].reasons[0]) == (4, R.BUDGET)
    assert got["decode"].reasons == (R.ACTUATOR_FAILED,)


@settings(max_examples=60, deadline=None)
@given(
    p=st.integers(1, 12),
    d=st.integers(1, 12),
    gp=st.integers(1, 3),
    gd=st.integers(1, 3),
    budget=st.integers(2, 30),
    ttft=st.sampled_from([0.5, 2.0]),
    tpot=st.sampled_from([0.03, 0.2]),
)
def test_over_budget_fits_and_never_grows(
    p: int, d: int, gp: int, gd: int, budget: int, ttft: float, tpot: float
) -> None:
    if budget < gp + gd or p * gp + d * gd <= budget:
        return  # the config refuses a budget under the mins; not over: another path
    cfg = config(
        prefill={"gpus_per_replica": gp, "max_replicas": 12},
        decode={"gpus_per_replica": gd, "max_replicas": 12},
        gpu_budget=budget,
    )
    obs = observation(P(ttft=ttft, ready=p), D(tpot=tpot, ready=d))
    got, _ = run(obs, replicas(p=(p, p), d=(d, d)), cfg)
    assert got["prefill"].desired is not None and got["decode"].desired is not None
    assert got["prefill"].desired <= p and got["decode"].desired <= d
    assert got["prefill"].desired >= 1 and got["decode"].desired >= 1
    assert got["prefill"].desired * gp + got["decode"].desired * gd <= budget
