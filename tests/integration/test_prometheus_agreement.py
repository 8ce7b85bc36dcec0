"""Our windowed quantiles equal a real Prometheus 2.42's histogram_quantile over rate().

The same cumulative series (three pods, restarts, quiet periods) go into Prometheus through
promtool's backfill and into ``llmobs.histogram``. For every window, time and quantile,
``histogram_quantile(q, rate(x_bucket[w]))`` per pod and ``... sum by (le) (rate(...))``
over pods must agree with ``quantile(q, merge(increase(...)))`` to 1e-9 relative, and
Prometheus's NaN (an empty window) must be our None.

Windows start and end on sample times, where ``rate()`` does not extrapolate: what is
compared is the increase and the quantile, not Prometheus's edge guesswork.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import pytest

from llmobs import promql
from llmobs.histogram import Histogram, increase, merge, quantile
from llmobs.sim.flavors.vllm_spec import TTFT as VLLM_TTFT
from tests.prometheus import Prometheus, backfill

T0 = 1_700_000_000
STEP = 15
STEPS = 48
PODS = ("a", "b", "c")
BOUNDS = (*VLLM_TTFT, math.inf)
QUANTILES = (0.0, 0.25, 0.5, 0.9, 0.95, 0.99, 1.0)
WINDOWS = (30, 60, 120, 300)


def _series() -> dict[str, list[Histogram]]:
    """Cumulative histograms per pod at every step; b restarts, c goes quiet."""
    rng = random.Random(42)
    out: dict[str, list[Histogram]] = {}
    for pod in PODS:
        counts = [0.0] * len(BOUNDS)
        total = 0.0
        points = []
        for step in range(STEPS):
            if pod == "b" and step == 20:  # restart: every counter starts again from zero
                counts = [0.0] * len(BOUNDS)
                total = 0.0
            quiet = (pod == "c" and 10 <= step < 30) or 36 <= step < 44
            for _ in range(0 if quiet else rng.randint(0, 25)):
                value = rng.lognormvariate(-1.5 if pod != "c" else 0.5, 1.2)
                total += value
                for i, bound in enumerate(BOUNDS):
                    if value <= bound:
                        counts[i] += 1
            points.append(Histogram(BOUNDS, tuple(counts), counts[-1], total))
        out[pod] = points
    return out


def _openmetrics(series: dict[str, list[Histogram]]) -> str:
    lines = ["# TYPE req_seconds histogram"]
    for step in range(STEPS):
        ts = T0 + step * STEP
        for pod, points in series.items():
            h = points[step]
            for bound, count in zip(h.bounds, h.counts, strict=True):
                le = "+Inf" if math.isinf(bound) else repr(float(bound))
                lines.append(f'req_seconds_bucket{{pod="{pod}",le="{le}"}} {count:g} {ts}')
            lines.append(f'req_seconds_count{{pod="{pod}"}} {h.count:g} {ts}')
            lines.append(f'req_seconds_sum{{pod="{pod}"}} {h.sum!r} {ts}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def data() -> dict[str, list[Histogram]]:
    return _series()


@pytest.fixture(scope="module")
def prometheus(
    data: dict[str, list[Histogram]], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Prometheus]:
    root = tmp_path_factory.mktemp("prometheus")
    server = Prometheus(root, data_dir=backfill(_openmetrics(data), root)).start()
    try:
        yield server
    finally:
        server.stop()


def _prom_value(result: list[dict[str, object]]) -> float | None:
    if not result:
        return None
    (sample,) = result
    value = sample["value"]
    assert isinstance(value, list)
    parsed = float(value[1])
    return None if math.isnan(parsed) else parsed


def _agree(ours: float | None, theirs: float | None) -> bool:
    if ours is None or theirs is None:
        return ours is None and theirs is None
    if theirs == 0:
        return ours == 0
    return abs(ours - theirs) <= 1e-9 * abs(theirs)


def _cases() -> Iterator[tuple[int, int]]:
    for window in WINDOWS:
        for end_step in range(window // STEP, STEPS, 3):
            yield window, end_step


def test_windowed_quantiles_agree_with_prometheus(
    prometheus: Prometheus, data: dict[str, list[Histogram]]
) -> None:
    checked = empty = 0
    mismatches = []
    for window, end_step in _cases():
        at = T0 + end_step * STEP
        first = end_step - window // STEP
        per_pod = {pod: increase(points[first : end_step + 1]) for pod, points in data.items()}
        merged = merge(per_pod.values())
        for q in QUANTILES:
            theirs = _prom_value(
                prometheus.query(
                    promql.histogram_quantile(
                        q,
                        promql.aggregate(
                            promql.Agg.SUM,
                            promql.rate(promql.selector("req_seconds_bucket"), window),
                            (promql.LE,),
                        ),
                    ),
                    at,
                )
            )
            ours = quantile(q, merged)
            checked += 1
            empty += ours is None
            if not _agree(ours, theirs):
                mismatches.append(("merged", window, end_step, q, ours, theirs))
            for pod in PODS:
                theirs = _prom_value(
                    prometheus.query(
                        promql.histogram_quantile(
                            q, promql.rate(promql.selector("req_seconds_bucket", pod=pod), window)
                        ),
                        at,
                    )
                )
                ours = quantile(q, per_pod[pod])
                checked += 1
                empty += ours is None
                if not _agree(ours, theirs):
                    mismatches.append((pod, window, end_step, q, ours, theirs))
    assert not mismatches, mismatches[:10]
    assert checked > 1000
    assert empty > 20  # the quiet periods really were compared as empty windows


def test_counts_and_sums_agree_with_prometheus_increase(
    prometheus: Prometheus, data: dict[str, list[Histogram]]
) -> None:
    """The windowed count and sum (restart of pod b included) equal PromQL's increase()."""
    for window, end_step in _cases():
        at = T0 + end_step * STEP
        first = end_step - window // STEP
        for pod, points in data.items():
            ours = increase(points[first : end_step + 1])
            count = _prom_value(
                prometheus.query(
                    promql.increase(promql.selector("req_seconds_count", pod=pod), window), at
                )
            )
            total = _prom_value(
                prometheus.query(
                    promql.increase(promql.selector("req_seconds_sum", pod=pod), window), at
                )
            )
            assert _agree(ours.count, count), (pod, window, end_step, ours.count, count)
            assert ours.sum is not None
            assert _agree(ours.sum, total), (pod, window, end_step, ours.sum, total)
