"""The demo's load: the rate's shape, the arrivals it gives, and the trace llmbench reads
(through the one Mooncake reader, ``llmobs.trace``)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs import trace
from llmobs.demo import load


def test_the_rate_rises_holds_falls_and_stays_low() -> None:
    shape = load.demo_shape(100)
    rates = [load.rate_at(shape, t) for t in range(101)]
    assert rates[0] == shape.base_rps
    assert rates[:30] == sorted(rates[:30])  # rising
    assert set(rates[30:50]) == {shape.peak_rps}
    assert rates[50:66] == sorted(rates[50:66], reverse=True)  # falling
    assert set(rates[66:]) == {shape.base_rps}
    phases = [load.phase(shape, t) for t in (0, 40, 60, 90, 101)]
    assert phases == ["rising", "peak", "falling", "low", "ended"]
    assert load.rate_at(shape, -1) == load.rate_at(shape, 101) == 0


@settings(max_examples=50, deadline=None)
@given(
    duration=st.floats(0.001, 300),
    base=st.floats(0, 2),
    peak=st.floats(0, 5),
    seed=st.integers(0, 2**32),
)
def test_arrivals_are_ordered_inside_the_run_and_repeat_with_the_seed(
    duration: float, base: float, peak: float, seed: int
) -> None:
    shape = load.Shape(duration, base, peak, (load.PROMPT_HEAVY,))
    times = load.arrivals(shape, seed)
    assert times == sorted(times)
    assert all(0 <= t < duration for t in times)
    assert times == load.arrivals(shape, seed)


def test_the_number_of_arrivals_follows_the_rate() -> None:
    """Over many runs the count's mean is the rate's integral (a Poisson process)."""
    shape = load.demo_shape(100)
    expected = sum(load.rate_at(shape, (i + 0.5) / 100) for i in range(10_000)) / 100
    counts = [len(load.arrivals(shape, seed)) for seed in range(200)]
    mean = sum(counts) / len(counts)
    assert abs(mean - expected) < 0.05 * expected, (mean, expected)


def test_the_trace_reads_back_through_the_mooncake_reader(tmp_path: Path) -> None:
    shape = load.demo_shape(60)
    rows = load.trace(shape, seed=3)
    path = tmp_path / "trace.jsonl"
    path.write_text(load.jsonl(rows))
    read = list(trace.read_trace(path))
    assert len(read) == len(rows) == len(load.arrivals(shape, 3)) > 0
    kinds = {(r.input_length, r.output_length) for r in read}
    assert kinds == {
        (k.input_tokens, k.output_tokens) for k in (load.PROMPT_HEAVY, load.GENERATION_HEAVY)
    }
    assert [r.arrival for r in read] == sorted(r.arrival for r in read)
