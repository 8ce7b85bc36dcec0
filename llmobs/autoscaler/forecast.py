"""Small load forecasters, pure: a series' state is a value, ``observe`` returns the next.

Two kinds (``Forecaster.kind``):

- ``last``: the next value is the last one seen (Dynamo's ``constant`` predictor).
- ``holt``: Holt's linear (local level and trend) exponential smoothing, with the trend per
  second so that samples may come at uneven times: after a gap ``dt`` the level is first
  carried along the trend, then pulled towards the sample by ``alpha``; the trend moves
  towards the level's slope by ``beta``. A forecast ``h`` seconds ahead is
  ``level + trend * h``, never below 0 (loads are not negative).

A sample that is None (no data) leaves the state as it was: missing data is not a zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal


@dataclass(frozen=True, slots=True)
class Forecaster:
    """How to forecast: the kind and Holt's smoothing factors (0 < alpha, beta <= 1)."""

    kind: Literal["last", "holt"] = "holt"
    alpha: float = 0.5
    beta: float = 0.3

    def __post_init__(self) -> None:
        if not (0 < self.alpha <= 1 and 0 < self.beta <= 1):
            raise ValueError("alpha and beta must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class Series:
    """A series' state: the smoothed level (None before the first sample), its trend per
    second, the time of the last sample and how many samples were seen."""

    level: float | None = None
    trend: float = 0.0
    time: float | None = None
    samples: int = 0


def observe(forecaster: Forecaster, series: Series, time: float, value: float | None) -> Series:
    """The series after ``value`` at ``time`` (None or a repeated time: unchanged level)."""
    if value is None:
        return series
    if series.level is None or series.time is None:
        return Series(value, 0.0, time, 1)
    dt = time - series.time
    if dt <= 0:
        return series
    if forecaster.kind == "last":
        return Series(value, 0.0, time, series.samples + 1)
    if series.samples == 1:  # the second sample starts the trend: its slope from the first
        return Series(value, (value - series.level) / dt, time, 2)
    carried = series.level + series.trend * dt
    level = forecaster.alpha * value + (1 - forecaster.alpha) * carried
    slope = (level - series.level) / dt
    trend = forecaster.beta * slope + (1 - forecaster.beta) * series.trend
    return replace(series, level=level, trend=trend, time=time, samples=series.samples + 1)


def predict(series: Series, horizon_s: float) -> float | None:
    """The value ``horizon_s`` seconds after the last sample (None before any sample)."""
    if series.level is None:
        return None
    return max(series.level + series.trend * max(horizon_s, 0.0), 0.0)


def observe_all(
    forecaster: Forecaster,
    samples: Iterable[tuple[float, float | None]],
    series: Series | None = None,
) -> Series:
    """The series after every ``(time, value)`` sample, in order."""
    state = series or Series()
    for time, value in samples:
        state = observe(forecaster, state, time, value)
    return state
