"""The demo's load: a request rate that rises, holds, falls and stays low, as a Mooncake trace.

Two kinds of request share the rate: prompt-heavy ones (long prompt, a few output tokens)
load the prefill role, generation-heavy ones (short prompt, long answer) the decode role, so
each role has its own reason to grow and to shrink. ``llmbench run --dataset trace FILE``
replays the rows at their timestamps. Pure: a seed gives the same trace; no I/O here.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass

# Fractions of the run: the rate rises until RISE_END, holds at its peak until PEAK_END,
# falls until FALL_END and stays at the base rate after it (time for the roles to shrink).
RISE_END, PEAK_END, FALL_END = 0.30, 0.50, 0.65


@dataclass(frozen=True, slots=True)
class Kind:
    """One kind of request in the mix: its prompt and output lengths (tokens) and its share
    of the requests."""

    name: str
    input_tokens: int
    output_tokens: int
    share: float


@dataclass(frozen=True, slots=True)
class Shape:
    """The load over ``duration_s``: from ``base_rps`` up to ``peak_rps`` and back."""

    duration_s: float
    base_rps: float
    peak_rps: float
    kinds: tuple[Kind, ...]


PROMPT_HEAVY = Kind("prompt-heavy", input_tokens=2500, output_tokens=4, share=0.5)
GENERATION_HEAVY = Kind("generation-heavy", input_tokens=32, output_tokens=160, share=0.5)


def demo_shape(duration_s: float) -> Shape:
    """The demo's load for a run of ``duration_s`` seconds (sized for the emulated L4)."""
    return Shape(duration_s, base_rps=0.2, peak_rps=4.5, kinds=(PROMPT_HEAVY, GENERATION_HEAVY))


def rate_at(shape: Shape, t: float) -> float:
    """Requests per second ``t`` seconds into the run (0 outside it: the trace has ended)."""
    if not 0 <= t <= shape.duration_s or shape.duration_s <= 0:
        return 0.0
    x = t / shape.duration_s
    span = shape.peak_rps - shape.base_rps
    if x < RISE_END:
        return shape.base_rps + span * x / RISE_END
    if x < PEAK_END:
        return shape.peak_rps
    if x < FALL_END:
        return shape.peak_rps - span * (x - PEAK_END) / (FALL_END - PEAK_END)
    return shape.base_rps


def phase(shape: Shape, t: float) -> str:
    """What the load is doing at ``t``: rising, peak, falling, low, or ended (the last
    requests finishing)."""
    if t > shape.duration_s or shape.duration_s <= 0:
        return "ended"
    x = t / shape.duration_s
    if x < RISE_END:
        return "rising"
    if x < PEAK_END:
        return "peak"
    if x < FALL_END:
        return "falling"
    return "low"


def arrivals(shape: Shape, seed: int) -> list[float]:
    """Arrival times (seconds) of a Poisson process whose rate follows ``rate_at``: a
    homogeneous process at the peak rate, each arrival kept with probability rate/peak
    (Lewis and Shedler's thinning)."""
    rng = random.Random(seed)
    top = max(shape.peak_rps, shape.base_rps)
    if top <= 0:
        return []
    times: list[float] = []
    t = rng.expovariate(top)
    while t < shape.duration_s:
        if rng.random() * top < rate_at(shape, t):
            times.append(t)
        t += rng.expovariate(top)
    return times


def trace(shape: Shape, seed: int) -> list[dict[str, int | float]]:
    """The load as Mooncake trace rows: ``timestamp`` (ms), ``input_length``,
    ``output_length``; each request's kind is drawn by share."""
    rng = random.Random(seed + 1)
    weights = [k.share for k in shape.kinds]
    rows: list[dict[str, int | float]] = []
    for t in arrivals(shape, seed):
        (kind,) = rng.choices(shape.kinds, weights=weights)
        rows.append(
            {
                "timestamp": math.floor(t * 1000),
                "input_length": kind.input_tokens,
                "output_length": kind.output_tokens,
            }
        )
    return rows


def jsonl(rows: list[dict[str, int | float]]) -> str:
    """Rows as JSON lines, one final newline."""
    return "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows)
