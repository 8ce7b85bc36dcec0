"""The HPA's arithmetic on our KEDA answers (metric value = desired replicas, target 1,
AverageValue): where the default 10 % tolerance hides our steps, and that the behavior we
tell users to set makes every answer exact."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler import hpa
from llmobs.autoscaler.hpa import (
    DEFAULT_BEHAVIOR,
    EXACT_BEHAVIOR,
    Recommendation,
    Tolerance,
    hpa_replicas,
    recommend,
)

DEFAULT = Tolerance()


@pytest.mark.parametrize(
    ("current", "desired", "expected"),
    [
        (1, 2, 2),  # ratio 2: acted on
        (2, 1, 1),  # ratio 0.5
        (5, 6, 6),  # ratio 1.2
        (9, 10, 10),  # ratio 1.11: just outside the band
        (10, 11, 10),  # ratio 1.1: inside, held
        (10, 9, 10),  # ratio 0.9: inside, held
        (10, 12, 12),  # ratio 1.2
        (10, 8, 8),  # ratio 0.8
        (20, 22, 20),  # +2 at 20 is 1.1: held
        (20, 23, 23),
        (50, 45, 50),  # -5 at 50 is 0.9: held
        (50, 44, 44),
        (4, 4, 4),  # no change asked
    ],
)
def test_default_tolerance_on_our_answers(current: int, desired: int, expected: int) -> None:
    assert recommend(desired, 1, current, DEFAULT) == expected


@pytest.mark.parametrize(
    ("current", "up", "down"),
    [(1, 1, 1), (5, 1, 1), (9, 1, 1), (10, 2, 2), (19, 2, 2), (20, 3, 3), (100, 11, 11)],
)
def test_smallest_step_the_default_tolerance_lets_through(current: int, up: int, down: int) -> None:
    assert hpa.smallest_step(current, DEFAULT) == (up, down)
    assert recommend(current + up, 1, current, DEFAULT) == current + up
    assert recommend(current + up - 1, 1, current, DEFAULT) == current
    assert recommend(current - down, 1, current, DEFAULT) == current - down
    assert recommend(current - down + 1, 1, current, DEFAULT) == current


@given(current=st.integers(1, 500), desired=st.integers(1, 500))
def test_exact_behavior_makes_every_answer_exact(current: int, desired: int) -> None:
    # One sync: our number, unchanged, as long as our policy's step stays within x11 up.
    if desired <= 11 * current:
        assert hpa_replicas(desired, 1, current, (1, 1000), EXACT_BEHAVIOR) == desired


@given(current=st.integers(1, 9), desired=st.integers(1, 18))
def test_below_ten_replicas_the_default_tolerance_never_hides_a_step(
    current: int, desired: int
) -> None:
    assert recommend(desired, 1, current, DEFAULT) == desired


def test_no_decision_answers_current_replicas_and_the_hpa_holds() -> None:
    for current in (1, 7, 10, 64):
        for behavior in (DEFAULT_BEHAVIOR, EXACT_BEHAVIOR):
            assert hpa_replicas(current, 1, current, (1, 100), behavior) == current


def test_default_behavior_rate_limits_and_stabilizes() -> None:
    # Up: max(+4 pods, +100 %) per 15 s.
    assert hpa_replicas(30, 1, 2, (1, 100)) == 6
    assert hpa_replicas(30, 1, 10, (1, 100)) == 20
    # Down: 100 % per 15 s, but the 300 s window keeps the highest recent recommendation.
    past = [Recommendation(at=-200.0, replicas=8), Recommendation(at=-400.0, replicas=12)]
    assert hpa_replicas(3, 1, 10, (1, 100), DEFAULT_BEHAVIOR, past, now=0.0) == 8
    assert hpa_replicas(3, 1, 10, (1, 100), EXACT_BEHAVIOR, past, now=0.0) == 3
    # Bounds come last.
    assert hpa_replicas(3, 1, 10, (5, 100), EXACT_BEHAVIOR) == 5


def test_exact_behavior_as_keda_takes_it() -> None:
    assert hpa.behavior_yaml(EXACT_BEHAVIOR) == {
        "scaleUp": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 1000, "periodSeconds": 15}],
            "tolerance": "0",
        },
        "scaleDown": {
            "stabilizationWindowSeconds": 0,
            "selectPolicy": "Max",
            "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
            "tolerance": "0",
        },
    }


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="current >= 1"):
        recommend(3, 1, 0, DEFAULT)
