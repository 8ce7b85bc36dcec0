"""What a run's records mean: vLLM's ``bench serve`` definitions, and what it does not show.

* TTFT: first streamed content after the request was sent (its body on the wire: building
  the request and opening a new connection are reported apart, as client queue and connect).
* TPOT: per request, ``(E2EL - TTFT) / (output_tokens - 1)`` for requests of 2+ tokens; the
  distribution is over requests.
* ITL: every gap between consecutive content chunks, pooled over all requests (long requests
  weigh more); chunks that carried several tokens are counted and reported.
* E2EL: from sending to the last content chunk.
* Throughput: completed requests and tokens over the run (first send to the end of the last
  request).
* Goodput: completed requests that met every SLO, per second (a 1-token request meets any
  TPOT SLO, as in vLLM).

Beyond vLLM: TTFT and E2EL from the *scheduled* send time (so a late client cannot hide
queueing), schedule lag and client-queue distributions, the achieved request rate, requests
that got fewer output tokens than they asked for, and errors by kind. Percentiles use
numpy's linear interpolation, as vLLM. Pure; missing data is None.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from llmobs.bench.records import RequestRecord
from llmobs.errors import ConfigError

DEFAULT_PERCENTILES = (50.0, 90.0, 95.0, 99.0)


@dataclass(frozen=True)
class Distribution:
    count: int
    mean: float | None
    std: float | None
    min: float | None
    max: float | None
    percentiles: dict[float, float | None]


def distribution(
    values: Sequence[float], percentiles: Sequence[float] = DEFAULT_PERCENTILES
) -> Distribution:
    wanted = sorted(set(percentiles) | {50.0})
    if not values:
        return Distribution(0, None, None, None, None, {p: None for p in wanted})
    array = np.asarray(values, dtype=float)
    points = np.percentile(array, wanted)
    return Distribution(
        count=len(values),
        mean=float(array.mean()),
        std=float(array.std()),
        min=float(array.min()),
        max=float(array.max()),
        percentiles={p: float(v) for p, v in zip(wanted, points, strict=True)},
    )


@dataclass(frozen=True)
class Slo:
    """Per-request service-level objectives, in seconds; None = not constrained."""

    ttft: float | None = None
    tpot: float | None = None
    itl: float | None = None
    e2el: float | None = None

    def met(self, record: RequestRecord) -> bool:
        one_token = record.output_tokens is not None and record.output_tokens < 2
        checks = (
            (self.ttft, ttft(record)),
            (self.tpot, 0.0 if one_token else tpot(record)),  # as vLLM's goodput
            (self.itl, max(itls(record), default=0.0)),
            (self.e2el, e2el(record)),
        )
        for limit, value in checks:
            if limit is not None and (value is None or value > limit):
                return False
        return True

    @property
    def empty(self) -> bool:
        return all(v is None for v in (self.ttft, self.tpot, self.itl, self.e2el))


SLO_NAMES = ("ttft", "tpot", "itl", "e2el")
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s)?\s*\Z")


def parse_slo(text: str) -> Slo:
    """``"ttft=500ms,tpot=50ms"`` (units ms or s; a bare number is milliseconds, as vLLM).

    Raises:
        ConfigError: an empty item, an unknown name, a name given twice, or a duration that
            is not a positive number of ms or s.
    """
    values: dict[str, float] = {}
    parts = [p.strip() for p in text.split(",")]
    if not any(parts):
        raise ConfigError("--slo: give at least one limit, e.g. ttft=500ms,tpot=50ms")
    for part in parts:
        if not part:
            raise ConfigError(f"--slo {text!r}: an empty item (two commas, or one at an end)")
        key, sep, raw = part.partition("=")
        key = key.strip().lower()
        if not sep or key not in SLO_NAMES:
            raise ConfigError(f"--slo: {part!r} is not ttft=, tpot=, itl= or e2el= a duration")
        if key in values:
            raise ConfigError(f"--slo: {key} is given twice: give each limit once")
        match = _DURATION.match(raw)
        if match is None:
            raise ConfigError(f"--slo: {raw!r} is not a duration like 500ms or 0.5s")
        number = float(match.group(1))
        if not math.isfinite(number) or number <= 0:
            raise ConfigError(f"--slo: {key}={raw.strip()} is no limit: give a positive duration")
        values[key] = number if match.group(2) == "s" else number / 1000
    return Slo(**values)


# -- per request ------------------------------------------------------------------------------
def ttft(r: RequestRecord) -> float | None:
    if r.first_token is None or r.sent is None:
        return None
    return r.first_token - r.sent


def e2el(r: RequestRecord) -> float | None:
    if r.end is None or r.sent is None:
        return None
    return r.end - r.sent


def tpot(r: RequestRecord) -> float | None:
    tokens = r.output_tokens
    if r.end is None or r.first_token is None or tokens is None or tokens < 2:
        return None
    return (r.end - r.first_token) / (tokens - 1)


def itls(r: RequestRecord) -> list[float]:
    times = r.chunk_times
    return [b - a for a, b in pairwise(times)]


@dataclass(frozen=True)
class Summary:
    """A run, summarised. Times in seconds, rates per second."""

    completed: int
    failed: int
    cancelled: int  # in flight (or never sent) when the run was interrupted
    warmup: int
    duration: float | None
    request_throughput: float | None
    input_throughput: float | None
    output_throughput: float | None
    total_throughput: float | None
    total_input_tokens: int | None
    total_output_tokens: int
    achieved_rate: float | None
    goodput: float | None
    slo_attainment: float | None
    ttft: Distribution
    tpot: Distribution
    itl: Distribution
    e2el: Distribution
    ttft_from_schedule: Distribution
    e2el_from_schedule: Distribution
    schedule_lag: Distribution
    client_queue: Distribution
    input_lengths: Distribution
    output_lengths: Distribution
    short_outputs: int
    short_examples: list[int]
    chunks: int
    multi_token_chunks: int | None
    errors: dict[str, int] = field(default_factory=dict)
    peak_output_throughput: float | None = None
    peak_concurrency: int = 0
    new_connections: int = 0
    connect: Distribution | None = None


def summarize(
    records: Iterable[RequestRecord],
    slo: Slo | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> Summary:
    every = list(records)
    measured = [r for r in every if not r.warmup]
    ok = [r for r in measured if r.ok]
    failed = [r for r in measured if not r.ok and r.error_kind != "cancelled"]
    cancelled = sum(1 for r in measured if r.error_kind == "cancelled")

    def dist(values: Sequence[float]) -> Distribution:
        return distribution(values, percentiles)

    started = [r.sent for r in measured if r.sent is not None]
    # to the end of the last request, however it ended (vLLM: the run's wall time)
    ended = [e for r in measured if (e := r.done if r.done is not None else r.end) is not None]
    duration = (max(ended) - min(started)) if started and ended else None
    if duration is not None and duration <= 0:
        duration = None
    inputs = [r.prompt_tokens for r in ok if r.prompt_tokens is not None]
    total_inputs = sum(inputs) if inputs else None  # the server reported no usage
    outputs = [r.output_tokens for r in ok if r.output_tokens is not None]

    def rate(amount: float) -> float | None:
        return amount / duration if duration else None

    dispatched = sorted(r.dispatched for r in measured if r.dispatched is not None)
    achieved = (
        (len(dispatched) - 1) / (dispatched[-1] - dispatched[0])
        if len(dispatched) > 1 and dispatched[-1] > dispatched[0]
        else None
    )
    good = None
    attainment = None
    if slo is not None and not slo.empty:
        met = sum(1 for r in ok if slo.met(r))
        good = rate(met)
        finished = len(ok) + len(failed)  # cut-off requests are neither good nor bad
        attainment = met / finished if finished else None
    short = [
        r.index
        for r in ok
        if r.output_tokens is not None and r.output_tokens < r.expected_output_tokens
    ]
    chunks = sum(len(r.chunk_times) for r in ok)
    multi: int | None = 0
    for r in ok:
        if len(r.chunk_tokens) != len(r.chunk_times):
            multi = None  # the server did not say how many tokens each chunk carried
            break
        multi = (multi or 0) + sum(1 for n in r.chunk_tokens if n > 1)
    errors = Counter(r.error_kind or "error" for r in failed)
    connects = [r.connect for r in measured if r.connect is not None]
    return Summary(
        completed=len(ok),
        failed=len(failed),
        cancelled=cancelled,
        warmup=len(every) - len(measured),
        duration=duration,
        request_throughput=rate(len(ok)),
        input_throughput=None if total_inputs is None else rate(total_inputs),
        output_throughput=rate(sum(outputs)),
        total_throughput=None if total_inputs is None else rate(total_inputs + sum(outputs)),
        total_input_tokens=total_inputs,
        total_output_tokens=sum(outputs),
        achieved_rate=achieved,
        goodput=good,
        slo_attainment=attainment,
        ttft=dist(_values(ttft, ok)),
        tpot=dist(_values(tpot, ok)),
        itl=dist([g for r in ok for g in itls(r)]),
        e2el=dist(_values(e2el, ok)),
        ttft_from_schedule=dist(
            [r.first_token - r.scheduled for r in ok if r.first_token is not None]
        ),
        e2el_from_schedule=dist([r.end - r.scheduled for r in ok if r.end is not None]),
        schedule_lag=dist(
            [r.dispatched - r.scheduled for r in measured if r.dispatched is not None]
        ),
        client_queue=dist(
            [
                r.sent - r.dispatched
                for r in measured
                if r.sent is not None and r.dispatched is not None
            ]
        ),
        input_lengths=dist([float(v) for v in inputs]),
        output_lengths=dist([float(v) for v in outputs]),
        short_outputs=len(short),
        short_examples=short[:10],
        chunks=chunks,
        multi_token_chunks=multi,
        errors=dict(errors),
        peak_output_throughput=_peak_tokens(ok),
        peak_concurrency=_peak_concurrency(ok),
        new_connections=len(connects),
        connect=dist(connects),
    )


def _values(
    fn: Callable[[RequestRecord], float | None], records: Iterable[RequestRecord]
) -> list[float]:
    out = []
    for r in records:
        v = fn(r)
        if v is not None and not math.isnan(v):
            out.append(float(v))
    return out


def tokens_by_second(records: Iterable[RequestRecord]) -> Counter[int]:
    """Output tokens that arrived in each whole second of the run (one a chunk when the
    server did not say)."""
    buckets: Counter[int] = Counter()
    for r in records:
        counts = (
            r.chunk_tokens
            if len(r.chunk_tokens) == len(r.chunk_times)
            else [1] * len(r.chunk_times)
        )
        for t, n in zip(r.chunk_times, counts, strict=True):
            buckets[int(t)] += n
    return buckets


def _peak_tokens(records: Sequence[RequestRecord]) -> float | None:
    """The most output tokens that arrived within one second (1-s buckets)."""
    buckets = tokens_by_second(records)
    return float(max(buckets.values())) if buckets else None


def _peak_concurrency(records: Sequence[RequestRecord]) -> int:
    events = sorted(
        [(r.sent, 1) for r in records if r.sent is not None]
        + [(r.end, -1) for r in records if r.end is not None]
    )
    peak = current = 0
    for _, delta in events:
        current += delta
        peak = max(peak, current)
    return peak
