"""The open loop's send times are the process they claim to be: Poisson for burstiness 1
(exponential gaps, a count of arrivals per window whose variance equals its mean), gamma
for other shapes, with the asked-for rate, and the same for the same seed.

Counted runs are scaled to end at N/rate (a Poisson process conditioned on its count), so
the gaps are checked on the counted schedule itself: for large N they are exponential.
Kolmogorov-Smirnov against the exact CDFs (no scipy): the exponential, and the gamma with
shape 1/2 and 2, which have closed forms."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np
import pytest

from llmobs.bench.arrivals import STREAM_BATCH, offsets, offsets_for_duration, planned, stream
from llmobs.errors import ConfigError

N = 20_000
RATE = 50.0
# KS critical value at alpha = 0.001 for large n: 1.949 / sqrt(n)
KS_LIMIT = 1.949 / math.sqrt(N)


def gaps(count: int, rate: float, burstiness: float, seed: int) -> np.ndarray:
    times = np.asarray(offsets(count, rate, burstiness, seed))
    return np.diff(np.concatenate(([0.0], times)))


def ks_statistic(sample: np.ndarray, cdf: Callable[[float], float]) -> float:
    xs = np.sort(sample)
    n = len(xs)
    model = np.array([cdf(float(x)) for x in xs])
    above = np.arange(1, n + 1) / n - model
    below = model - np.arange(0, n) / n
    return float(max(above.max(), below.max()))


def exponential_cdf(rate: float) -> Callable[[float], float]:
    return lambda x: 1 - math.exp(-rate * x)


def gamma_half_cdf(rate: float) -> Callable[[float], float]:
    # shape 1/2, scale 1/(rate/2) = 2/rate: X = scale * Z^2 / 2, so P(X <= x) = erf(sqrt(x/scale))
    scale = 1 / (rate * 0.5)
    return lambda x: math.erf(math.sqrt(x / scale))


def gamma_two_cdf(rate: float) -> Callable[[float], float]:
    scale = 1 / (rate * 2)
    return lambda x: 1 - math.exp(-x / scale) * (1 + x / scale)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_poisson_gaps_are_exponential_with_the_asked_rate(seed: int) -> None:
    sample = gaps(N, RATE, 1.0, seed)
    assert sample.mean() == pytest.approx(1 / RATE, rel=0.02)
    assert sample.std() / sample.mean() == pytest.approx(1.0, abs=0.03)  # CV of an exponential
    assert ks_statistic(sample, exponential_cdf(RATE)) < KS_LIMIT


@pytest.mark.parametrize(
    ("shape", "cdf"), [(0.5, gamma_half_cdf(RATE)), (2.0, gamma_two_cdf(RATE))]
)
def test_gamma_gaps_follow_the_gamma_distribution(
    shape: float, cdf: Callable[[float], float]
) -> None:
    sample = gaps(N, RATE, shape, 7)
    assert sample.mean() == pytest.approx(1 / RATE, rel=0.03)
    assert sample.std() / sample.mean() == pytest.approx(1 / math.sqrt(shape), rel=0.05)
    assert ks_statistic(sample, cdf) < KS_LIMIT


def test_the_wrong_distribution_is_rejected() -> None:
    """The test has power: gamma(0.5) gaps are not exponential."""
    assert ks_statistic(gaps(N, RATE, 0.5, 3), exponential_cdf(RATE)) > 5 * KS_LIMIT


def test_arrival_counts_per_window_have_variance_equal_to_mean() -> None:
    times = np.asarray(offsets(N, RATE, 1.0, 11))
    counts = np.bincount((times // 1.0).astype(int))[:-1]  # whole one-second windows
    assert counts.mean() == pytest.approx(RATE, rel=0.03)
    assert counts.var() / counts.mean() == pytest.approx(1.0, abs=0.15)


def test_burstiness_inf_is_evenly_spaced_and_rate_inf_is_all_at_once() -> None:
    assert offsets(4, 2.0, math.inf) == [0.5, 1.0, 1.5, 2.0]
    assert offsets(3, math.inf) == [0.0, 0.0, 0.0]


def test_same_seed_same_schedule_other_seed_other_schedule() -> None:
    assert offsets(100, 5.0, 1.0, 42) == offsets(100, 5.0, 1.0, 42)
    assert offsets(100, 5.0, 1.0, 42) != offsets(100, 5.0, 1.0, 43)


def test_a_counted_run_ends_at_n_over_rate_and_a_timed_one_does_not() -> None:
    """As vLLM: N sends end at exactly N/rate, so the achieved rate is the one asked for."""
    times = offsets(50, 10.0, 1.0, 5)
    assert times[-1] == pytest.approx(5.0)
    assert all(b > a for a, b in itertools.pairwise(times))
    free = offsets(50, 10.0, 1.0, 5, exact=False)
    assert free[-1] != pytest.approx(5.0, abs=1e-3)
    assert np.allclose(np.asarray(free) * (5.0 / free[-1]), times)


def test_duration_keeps_every_arrival_before_the_end() -> None:
    times = offsets_for_duration(60.0, 20.0, 1.0, 3)
    assert times == [t for t in offsets(len(times) + 1, 20.0, 1.0, 3, exact=False) if t < 60.0]
    assert len(times) == pytest.approx(1200, rel=0.1)
    assert times[-1] < 60.0


@pytest.mark.parametrize(
    ("count", "rate", "burstiness", "message"),
    [
        (-1, 1.0, 1.0, "negative"),
        (5, 0.0, 1.0, "rate must be positive"),
        (5, math.nan, 1.0, "rate must be positive"),
        (5, 1.0, 0.0, "burstiness must be positive"),
    ],
)
def test_bad_parameters_are_config_errors(
    count: int, rate: float, burstiness: float, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        offsets(count, rate, burstiness)


def test_duration_needs_a_finite_rate() -> None:
    with pytest.raises(ConfigError, match="finite"):
        offsets_for_duration(10.0, math.inf)


def test_the_stream_is_lazy_and_draws_the_same_schedule_across_its_batches() -> None:
    drawn = list(itertools.islice(stream(20.0, 1.0, 3), 3 * STREAM_BATCH + 5))
    assert np.allclose(drawn, offsets(len(drawn), 20.0, 1.0, 3, exact=False), rtol=1e-12)
    far = itertools.islice(stream(1e308, 1.0, 0), 2)  # no OverflowError, nothing drawn ahead
    assert all(math.isfinite(t) and t > 0 for t in far)


@pytest.mark.parametrize(
    ("count", "duration", "rate", "planned_count"),
    [(None, 60.0, 1e6, 6e7), (500, None, 1e308, 500.0), (None, 2.0, 1e308, math.inf)],
)
def test_a_plan_counts_its_requests_without_overflowing(
    count: int | None, duration: float | None, rate: float, planned_count: float
) -> None:
    assert planned(count, duration, rate) == planned_count
