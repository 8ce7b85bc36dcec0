"""When to send: arrival offsets of an open-loop load, drawn from one seeded RNG.

Gaps are gamma-distributed with shape ``burstiness`` and mean ``1/rate`` (vLLM's
``--burstiness``): 1 is a Poisson process (exponential gaps), below 1 burstier, above 1 more
regular, ``inf`` evenly spaced. A run of N requests is then scaled so its last send is at
exactly N/rate, as vLLM does: a Poisson process conditioned on N arrivals by then (the gaps
become the spacings of uniform points, still exponential in shape), whose achieved rate is the
one asked for instead of wandering by 1/sqrt(N) from seed to seed. A run for a duration keeps
the unscaled process and its random count. Pure.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator

import numpy as np

from llmobs.errors import ConfigError

STREAM_BATCH = 4096


def offsets(
    count: int, rate: float, burstiness: float = 1.0, seed: int = 0, *, exact: bool = True
) -> list[float]:
    """Send times (seconds from the start) of ``count`` requests at ``rate`` per second, the
    last at exactly ``count / rate`` unless ``exact`` is False.

    ``rate`` inf sends everything at once (time 0).
    """
    if count < 0:
        raise ConfigError("the number of requests cannot be negative")
    if rate <= 0 or math.isnan(rate):
        raise ConfigError(f"request rate must be positive (or inf), got {rate}")
    if burstiness <= 0 or math.isnan(burstiness):
        raise ConfigError(f"burstiness must be positive (or inf), got {burstiness}")
    if math.isinf(rate) or count == 0:
        return [0.0] * count
    if math.isinf(burstiness):
        gaps = np.full(count, 1.0 / rate)
    else:
        rng = np.random.default_rng(seed)
        gaps = rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=count)
    times = np.cumsum(gaps)
    if exact:
        times *= (count / rate) / times[-1]
    return [float(t) for t in times]


def stream(rate: float, burstiness: float = 1.0, seed: int = 0) -> Iterator[float]:
    """Send times of an endless run at ``rate``, drawn lazily in batches (memory does not
    grow with the run's length); the same draws, in the same order, as ``offsets``."""
    if math.isinf(burstiness):
        t = 0.0
        while True:
            t += 1.0 / rate
            yield t
    rng = np.random.default_rng(seed)
    total = 0.0
    while True:
        gaps = rng.gamma(shape=burstiness, scale=1.0 / (rate * burstiness), size=STREAM_BATCH)
        times = np.cumsum(gaps) + total
        total = float(times[-1])
        yield from (float(t) for t in times)


def offsets_for_duration(
    duration: float, rate: float, burstiness: float = 1.0, seed: int = 0
) -> list[float]:
    """All send times before ``duration`` seconds (an open-ended run with a time limit)."""
    if math.isinf(rate):
        raise ConfigError("--duration needs a finite --request-rate")
    return list(itertools.takewhile(lambda t: t < duration, stream(rate, burstiness, seed)))


def planned(count: int | None, duration: float | None, rate: float) -> float:
    """How many requests a plan holds: ``count``, or about ``rate * duration`` (inf when
    that is past the largest float)."""
    return float(count or 0) if duration is None else rate * duration
