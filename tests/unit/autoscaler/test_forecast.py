"""The forecasters: last value, and Holt's trend-following one."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler.forecast import Forecaster, Series, observe, observe_all, predict

HOLT = Forecaster("holt")
LAST = Forecaster("last")


def test_nothing_seen_nothing_predicted() -> None:
    assert predict(Series(), 60) is None


@pytest.mark.parametrize("forecaster", [HOLT, LAST])
def test_a_constant_series_stays_constant(forecaster: Forecaster) -> None:
    series = observe_all(forecaster, [(t * 15.0, 7.0) for t in range(10)])
    assert predict(series, 300) == pytest.approx(7.0)


def test_last_value_ignores_the_trend() -> None:
    series = observe_all(LAST, [(0, 1.0), (10, 2.0), (20, 3.0)])
    assert predict(series, 100) == 3.0


def test_holt_follows_a_line_exactly() -> None:
    series = observe_all(HOLT, [(t * 10.0, 5.0 + 0.5 * t * 10.0) for t in range(8)])
    assert predict(series, 0) == pytest.approx(40.0)
    assert predict(series, 60) == pytest.approx(70.0)


def test_holt_with_uneven_samples_follows_a_line() -> None:
    times = [0.0, 5.0, 20.0, 21.0, 50.0, 80.0]
    series = observe_all(HOLT, [(t, 2.0 * t) for t in times])
    assert predict(series, 20) == pytest.approx(200.0)


def test_holt_smooths_noise_towards_the_level() -> None:
    samples = [(t * 15.0, 10.0 + (1.0 if t % 2 else -1.0)) for t in range(40)]
    assert predict(observe_all(HOLT, samples), 60) == pytest.approx(10.0, abs=1.5)


def test_a_falling_forecast_stops_at_zero() -> None:
    series = observe_all(HOLT, [(0, 10.0), (10, 5.0), (20, 0.0)])
    assert predict(series, 1000) == 0.0


def test_missing_and_repeated_samples_change_nothing() -> None:
    series = observe_all(HOLT, [(0, 1.0), (10, 2.0)])
    assert observe(HOLT, series, 20, None) == series
    assert observe(HOLT, series, 10, 99.0) == series
    assert observe(HOLT, series, 5, 99.0) == series


def test_factors_are_checked() -> None:
    with pytest.raises(ValueError, match="alpha and beta"):
        Forecaster("holt", alpha=0.0)


@given(
    st.lists(
        st.tuples(st.floats(0.01, 1e4), st.floats(0, 1e6) | st.none()), min_size=1, max_size=30
    ),
    st.floats(0, 1e4),
)
def test_forecasts_are_finite_and_not_negative(
    steps: list[tuple[float, float | None]], horizon: float
) -> None:
    time = 0.0
    samples = []
    for gap, value in steps:
        time += gap
        samples.append((time, value))
    for forecaster in (HOLT, LAST):
        value = predict(observe_all(forecaster, samples), horizon)
        assert value is None or (math.isfinite(value) and value >= 0)
