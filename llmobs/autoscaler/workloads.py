"""Workloads for ``llmobs simulate``: a Mooncake trace, time- and rate-scaled, or a synthetic
pattern (sinusoid, steps, bursts, ramps) with chosen prompt and output lengths.

Everything is a list of ``VirtualRequest``\\ s sorted by arrival, the same for the same seed.
A trace is rate-scaled by thinning (a factor under 1 keeps each row with that probability) or
by repeating (over 1: each row comes ``floor(factor)`` times plus once more with the
fractional probability; a copy arrives up to one second later and shares no prefix with its
original, so repeating does not fake prefix-cache hits). A pattern is a Poisson process of
rate ``rate(t)``, drawn by thinning (Lewis and Shedler). Pure but for reading the trace file.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from llmobs.errors import ConfigError
from llmobs.sim.prefix import trace_block_hashes
from llmobs.sim.virtual import VirtualRequest
from llmobs.trace import TRACE_BLOCK, TraceRow, read_trace

COPY_HASH_OFFSET = 1 << 40  # a copy's hash ids move this far: no prefix shared with its row
COPY_JITTER_S = 1.0  # a repeated row arrives up to this much after its original


@dataclass(frozen=True, slots=True)
class Pattern:
    """A synthetic workload: requests per second over time, constant prompt and output
    lengths, how long it lasts, and the PD replicas it starts with."""

    name: str
    description: str
    rate: Callable[[float], float]  # requests/s at second t
    peak: float  # the most rate(t) reaches: the thinning bound
    isl: int
    osl: int
    duration_s: float
    start: tuple[int, int] = (1, 1)  # prefill, decode replicas at t = 0


def sinusoid(low: float, high: float, period_s: float) -> Callable[[float], float]:
    """Dynamo's ``sin_synth.py`` shape: from ``low`` at t = 0 up to ``high`` and back,
    ``(low + high)/2 + (high - low)/2 * sin(2 pi t / period - pi/2)``."""

    def rate(t: float) -> float:
        return (low + high) / 2 + (high - low) / 2 * math.sin(
            2 * math.pi * t / period_s - math.pi / 2
        )

    return rate


def steps(levels: Iterable[tuple[float, float]]) -> Callable[[float], float]:
    """Piecewise constant: ``(from_second, rate)`` pairs, in order; the last level lasts."""
    table = tuple(levels)

    def rate(t: float) -> float:
        value = table[0][1]
        for start, level in table:
            if t >= start:
                value = level
        return value

    return rate


def ramp(points: Iterable[tuple[float, float]]) -> Callable[[float], float]:
    """Piecewise linear through ``(second, rate)`` points; flat before the first and after
    the last."""
    table = tuple(points)

    def rate(t: float) -> float:
        if t <= table[0][0]:
            return table[0][1]
        for (t0, r0), (t1, r1) in itertools.pairwise(table):
            if t <= t1:
                return r0 + (r1 - r0) * (t - t0) / (t1 - t0)
        return table[-1][1]

    return rate


def _bursts(base: float, high: float, every_s: float, length_s: float) -> Callable[[float], float]:
    def rate(t: float) -> float:
        return high if (t % every_s) >= every_s - length_s else base

    return rate


# Sized for the emulator's Llama-3.1-8B on one H100 (one prefill replica carries about 20k
# prompt tokens/s, one decode replica a few hundred concurrent long answers): at its peak,
# every pattern needs several replicas of the role it stresses.
PATTERNS: dict[str, Pattern] = {
    p.name: p
    for p in (
        Pattern(
            "dynamo",
            "Dynamo's planner benchmark: sinusoidal 5-20 req/s (period 600 s), ISL/OSL 3000/150, "
            "from 1P1D (compare with fixed 2P2D)",
            sinusoid(5.0, 20.0, 600.0),
            20.0,
            3000,
            150,
            1800.0,
        ),
        Pattern(
            "sinusoid",
            "diurnal-like: 2-24 req/s over a 1200 s period, ISL/OSL 2000/200",
            sinusoid(2.0, 24.0, 1200.0),
            24.0,
            2000,
            200,
            2400.0,
        ),
        Pattern(
            "steps",
            "steps of 4, 20, 8, 28, 4 req/s, 300 s each, ISL/OSL 2000/200",
            steps(((0, 4.0), (300, 20.0), (600, 8.0), (900, 28.0), (1200, 4.0))),
            28.0,
            2000,
            200,
            1500.0,
        ),
        Pattern(
            "bursts",
            "4 req/s with 60 s bursts of 40 req/s every 400 s, ISL/OSL 1000/300",
            _bursts(4.0, 40.0, 400.0, 60.0),
            40.0,
            1000,
            300,
            1600.0,
        ),
        Pattern(
            "ramp",
            "decode-heavy: 1 up to 24 req/s over 900 s, 300 s there, back to 1 over 600 s; "
            "ISL/OSL 500/1500",
            ramp(((0, 1.0), (900, 24.0), (1200, 24.0), (1800, 1.0))),
            24.0,
            500,
            1500,
            1800.0,
        ),
    )
}


def pattern(name: str) -> Pattern:
    if name not in PATTERNS:
        raise ConfigError(f"unknown pattern {name!r}; known: {', '.join(PATTERNS)}")
    return PATTERNS[name]


def synthesize(
    spec: Pattern, *, seed: int, duration_s: float | None = None, block_size: int = 16
) -> list[VirtualRequest]:
    """``spec``'s requests over ``duration_s`` (default its own): Poisson arrivals of rate
    ``spec.rate(t)``, each prompt its own (no shared prefix)."""
    rng = random.Random(seed)
    end = spec.duration_s if duration_s is None else duration_s
    blocks = math.ceil(spec.isl / TRACE_BLOCK)
    out: list[VirtualRequest] = []
    t = 0.0
    while True:
        t += rng.expovariate(spec.peak)
        if t >= end:
            return out
        if rng.random() * spec.peak > spec.rate(t):
            continue
        n = len(out)
        hashes = tuple(range(n * blocks, (n + 1) * blocks))
        out.append(
            VirtualRequest(
                f"{spec.name}-{n}",
                t,
                spec.isl,
                spec.osl,
                trace_block_hashes(hashes, spec.isl, block_size, TRACE_BLOCK),
            )
        )


def _copies(factor: float, rng: random.Random) -> int:
    whole = math.floor(factor)
    return whole + (1 if rng.random() < factor - whole else 0)


def scale_rows(rows: Iterable[TraceRow], rate_scale: float, seed: int) -> list[TraceRow]:
    """``rows`` thinned (``rate_scale`` < 1) or repeated (> 1) with ``seed``; sorted."""
    if not (math.isfinite(rate_scale) and rate_scale > 0):
        raise ConfigError(f"rate scale must be a positive number, got {rate_scale}")
    rng = random.Random(seed)
    out: list[TraceRow] = []
    for row in rows:
        for copy in range(_copies(rate_scale, rng)):
            if copy == 0:
                out.append(row)
                continue
            out.append(
                TraceRow(
                    row.line,
                    row.arrival + rng.uniform(0.0, COPY_JITTER_S),
                    row.input_length,
                    row.output_length,
                    tuple(h + copy * COPY_HASH_OFFSET for h in row.hash_ids),
                )
            )
    out.sort(key=lambda r: r.arrival)
    return out


def from_trace(
    path: Path,
    *,
    seed: int,
    time_scale: float = 1.0,
    rate_scale: float = 1.0,
    duration_s: float | None = None,
    block_size: int = 16,
) -> list[VirtualRequest]:
    """The requests of a Mooncake trace: ``time_scale`` 0.5 replays it twice as fast (and
    twice the rate), ``rate_scale`` thins or repeats rows, ``duration_s`` keeps the first
    seconds. Raises ``TraceError`` (a ``ConfigError``) naming the file and line."""
    rows = read_trace(path, time_scale=time_scale)
    if duration_s is not None:
        rows = (r for r in rows if r.arrival < duration_s)
    scaled = scale_rows(rows, rate_scale, seed)
    if not scaled:
        raise ConfigError(f"{path}: no request arrives within the duration")
    seen: dict[int, int] = {}
    out = []
    for row in scaled:
        n = seen[row.line] = seen.get(row.line, -1) + 1
        out.append(
            VirtualRequest(
                f"trace-{row.line}" + (f"-copy{n}" if n else ""),
                row.arrival,
                row.input_length,
                row.output_length,
                trace_block_hashes(row.hash_ids, row.input_length, block_size, TRACE_BLOCK),
            )
        )
    return out
