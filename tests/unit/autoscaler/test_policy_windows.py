"""What the policy does not trust a window for, and what it adds to prefill's demand: a
breach in a window whose rate moved bounds no capacity; latencies from a window begun before
replicas were added ask for no more; no scale-down while the load rises; a prefill that is
behind is sized for what it is behind by; a growth sized by a known capacity is not held
for the change in progress. Tables of observation -> decision, through ``decide``."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmobs.autoscaler import demand
from llmobs.autoscaler.forecast import Series
from llmobs.autoscaler.model import Reason
from llmobs.autoscaler.policy import State
from tests.unit.autoscaler.build import T0, config, observation, replicas
from tests.unit.autoscaler.test_policy import D, P, aged, run

R = Reason


def seen(rate: float, **fields: object) -> dict[str, object]:
    """State fields: ``rate`` req/s seen at the decision 15 s before."""
    return {"rate": Series(rate, 0.0, T0 - 15, 1), **fields}


@pytest.mark.parametrize(
    ("case", "before", "learned"),
    [
        ("a steady window bounds the capacity", 10.0, 1500.0),
        ("a window whose rate rose does not", 5.0, None),
        ("nor one whose rate fell", 20.0, None),
        ("nor the first window", None, None),
    ],
)
def test_a_breach_bounds_the_capacity_only_in_a_steady_window(
    case: str, before: float | None, learned: float | None
) -> None:
    cfg = config()
    state = aged(cfg, **({} if before is None else seen(before)))
    _, after = run(observation(P(ttft=2.0, prompt=3000.0), D()), replicas(), cfg, T0, state)
    assert after.roles["prefill"].capacity.breached == learned, case


def test_latencies_from_before_the_new_replicas_ask_for_no_more() -> None:
    cfg = config()
    # 3 ready since 20 s ago (2 before): the window's breach began before the third was up
    state = aged(cfg, **seen(10.0, ready_seen=3, grown_at=T0 - 20))
    obs = observation(P(ttft=2.0, ready=3), D())
    got, _ = run(obs, replicas(p=(3, 3)), cfg, T0, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (3, (R.COLD_START_PENDING,))
    assert "before replicas were added 20s ago" in got["prefill"].detail
    # a whole window (60 s) later, the same breach asks for more again
    state = aged(cfg, **seen(10.0, ready_seen=3, grown_at=T0 - 60))
    got, _ = run(obs, replicas(p=(3, 3)), cfg, T0, state)
    assert (got["prefill"].desired, got["prefill"].reason) == (6, R.SLO_BREACH)


def test_ready_replicas_rising_start_the_wait() -> None:
    cfg = config()
    state = aged(cfg, **seen(10.0, ready_seen=2))
    _, after = run(observation(P(ready=3), D()), replicas(p=(3, 3)), cfg, T0, state)
    assert after.roles["prefill"].grown_at == T0
    _, again = run(observation(P(ready=3), D()), replicas(p=(3, 3)), cfg, T0 + 15, after)
    assert again.roles["prefill"].grown_at == T0  # unchanged while ready stays


@pytest.mark.parametrize(
    ("case", "before", "desired", "reasons"),
    [
        ("steady load: consolidate", 1.0, 3, (R.CONSOLIDATE, R.STEP_LIMIT)),
        ("falling load: consolidate", 1.5, 3, (R.CONSOLIDATE, R.STEP_LIMIT)),
        ("rising load: hold", 0.5, 4, (R.PREDICTED_LOAD,)),
    ],
)
def test_no_scale_down_while_the_load_rises(
    case: str, before: float, desired: int, reasons: tuple[Reason, ...]
) -> None:
    cfg = config(prefill={"capacity": 1000.0, "scale_down_stabilization_s": 0}, forecaster="last")
    state = aged(cfg, **seen(before))
    # 1 req/s of 1000 tokens over 4 replicas of 1000/s each: one replica would do
    obs = observation(P(rate=1.0, prompt=1000.0, ttft=0.1, ready=4), D())
    got, _ = run(obs, replicas(p=(4, 4)), cfg, T0, state)
    assert (got["prefill"].desired, got["prefill"].reasons) == (desired, reasons), case


def test_a_prefill_behind_is_sized_for_its_backlog() -> None:
    cfg = config(prefill={"capacity": 1000.0, "cold_start_s": 45.0}, interval_s=15.0)
    # served 2000 tokens/s (its two replicas' ceiling) at 2 req/s; 100 requests in flight
    # against 2000 x 1 s = 2 allowed at the TTFT target: 98,000 tokens behind
    obs = observation(P(rate=2.0, prompt=2000.0, running=4.0, waiting=96.0, ttft=0.9), D())
    got, state = run(obs, replicas(), cfg, T0, aged(cfg, **seen(2.0)))
    # 2000 + 98,000 over the 60 s horizon = 3633/s: 4 replicas of 1000/s
    assert got["prefill"].inputs["demand"] == pytest.approx(2000 + 98_000 / 60)
    assert (got["prefill"].desired, got["prefill"].reason) == (4, R.PREDICTED_LOAD)
    assert state.roles["prefill"].backlog == (T0, 98_000.0)
    # 15 s later, 30,000 more behind: 2000/s more arrive than are served
    obs = observation(
        P(t=T0 + 15, rate=2.0, prompt=2000.0, running=4.0, waiting=126.0, ttft=0.9, ready=4),
        D(t=T0 + 15),
        t=T0 + 15,
    )
    got, _ = run(obs, replicas(p=(4, 4)), cfg, T0 + 15, state)
    assert got["prefill"].inputs["demand"] == pytest.approx(4000 + 2000 + 128_000 / 60)


@pytest.mark.parametrize(
    ("case", "previous", "current", "expected"),
    [
        ("first look: the backlog over the horizon", None, 6000.0, 100.0),
        ("growing: plus the growth per second", (T0 - 15, 3000.0), 6000.0, 300.0),
        ("shrinking: no negative growth", (T0 - 15, 9000.0), 6000.0, 100.0),
        ("none behind", (T0 - 15, 0.0), 0.0, 0.0),
    ],
)
def test_overload(
    case: str, previous: tuple[float, float] | None, current: float, expected: float
) -> None:
    assert demand.overload(previous, current, T0, 60.0) == pytest.approx(expected), case


def test_growth_sized_by_a_known_capacity_is_not_held_for_the_change_in_progress() -> None:
    cfg = config(prefill={"capacity": 1000.0, "cold_start_s": 0.0}, interval_s=15.0)
    # 3 asked for, 2 ready, since 10 s; behind by 60 requests of 1000 tokens (less the 1500
    # the TTFT target allows): 2 x 1000 + 58,500 / 15 s = 5900/s needs 6 replicas of 1000/s
    state = State({k: replace(v, pending_since=T0 - 10) for k, v in aged(cfg).roles.items()})
    obs = observation(P(rate=1.5, prompt=1500.0, waiting=60.0, ttft=0.5), D())
    got, _ = run(obs, replicas(p=(3, 2)), cfg, T0, state)
    assert (got["prefill"].desired, got["prefill"].reason) == (6, R.PREDICTED_LOAD)
    # an SLO breach with no capacity known still waits for the change in progress
    cfg = config()
    state = State({k: replace(v, pending_since=T0 - 10) for k, v in aged(cfg).roles.items()})
    got, _ = run(observation(P(ttft=2.0), D()), replicas(p=(3, 2)), cfg, T0, state)
    assert (got["prefill"].desired, got["prefill"].reasons[0]) == (3, R.COLD_START_PENDING)


def test_a_queue_over_its_limit_bounds_the_capacity_as_a_breach_does() -> None:
    """Decode over its waiting limit with TPOT fine: the load it carried bounds its capacity,
    so the consolidation that follows a scale-out is judged on that capacity, not on a queue
    the new replicas just emptied (which read as room to shrink: 1 -> 3 -> 1 -> 3)."""
    cfg = config(decode={"waiting_limit": 1.0, "scale_down_stabilization_s": 0})
    queued = D(waiting=6.0, generated=800.0, tpot=0.03)  # 6 waiting over 2 replicas' 2
    got, state = run(observation(P(), queued), replicas(), cfg, T0, aged(cfg, **seen(10.0)))
    assert state.roles["decode"].capacity.breached == 400.0
    assert got["decode"].reason == R.QUEUE and got["decode"].desired == 6
    # 3 ready, the queue gone, the same 800 tokens/s: 2 of 400/s would be at their limit
    calm = D(t=T0 + 15, waiting=0.0, generated=800.0, tpot=0.03, ready=3)
    obs = observation(P(t=T0 + 15), calm, t=T0 + 15)
    got, _ = run(obs, replicas(d=(3, 3)), cfg, T0 + 15, state)
    assert got["decode"].desired == 3


def test_one_request_in_flight_at_a_low_rate_is_not_being_behind() -> None:
    """0.4 req/s of 32-token prompts, one in flight and none waiting: more in flight than the
    served rate keeps at the TTFT target, yet no queue: no replica's worth of demand added."""
    cfg = config(prefill={"capacity": 2800.0})
    obs = observation(P(rate=0.4, prompt=12.8, running=1.0, waiting=0.0, ttft=0.05, ready=1), D())
    got, _ = run(obs, replicas(p=(1, 1)), cfg, T0, aged(cfg, **seen(0.4)))
    assert (got["prefill"].desired, got["prefill"].reason) == (1, R.WITHIN_SLO)
    assert got["prefill"].inputs["demand"] == pytest.approx(12.8 + (32 - 12.8) / 75)
