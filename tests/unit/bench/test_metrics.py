"""The metric definitions on hand-built records, against numbers worked out by hand, and
against vLLM's definitions (vllm/benchmarks/serve.py ``calculate_metrics``)."""

from __future__ import annotations

import math
from array import array

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.bench.metrics import (
    Slo,
    distribution,
    e2el,
    itls,
    parse_slo,
    summarize,
    tpot,
    ttft,
)
from llmobs.bench.records import RequestRecord
from llmobs.errors import ConfigError


def record(
    index: int,
    sent: float,
    chunks: list[float],
    *,
    tokens: list[int] | None = None,
    output: int | None = None,
    expected: int = 4,
    scheduled: float | None = None,
    prompt: int = 10,
    error: str | None = None,
    kind: str | None = None,
    warmup: bool = False,
) -> RequestRecord:
    r = RequestRecord(index, sent if scheduled is None else scheduled, prompt, expected)
    r.dispatched = r.scheduled
    r.sent = sent
    r.chunk_times = array("d", chunks)
    r.chunk_tokens = array("l", tokens or [])
    r.first_token = chunks[0] if chunks else None
    r.end = chunks[-1] if chunks else None
    r.output_tokens = output if output is not None else (sum(tokens) if tokens else len(chunks))
    r.prompt_tokens = prompt
    r.error, r.error_kind, r.warmup = error, kind, warmup
    return r


# A: sent at 0, tokens at 0.1, 0.15, 0.2, 0.3 (4 tokens, one per chunk)
A = record(0, 0.0, [0.1, 0.15, 0.2, 0.3], tokens=[1, 1, 1, 1])
# B: sent at 1.0 but scheduled at 0.9, two chunks of 2 tokens each at 1.4 and 1.6
B = record(1, 1.0, [1.4, 1.6], tokens=[2, 2], scheduled=0.9)


def test_per_request_definitions() -> None:
    assert ttft(A) == pytest.approx(0.1)
    assert e2el(A) == pytest.approx(0.3)
    assert tpot(A) == pytest.approx((0.3 - 0.1) / 3)  # (E2EL - TTFT) / (tokens - 1)
    assert itls(A) == pytest.approx([0.05, 0.05, 0.1])
    # TPOT counts tokens, ITL counts chunks: B's 2-token chunks
    assert tpot(B) == pytest.approx((1.6 - 1.4) / 3)
    assert itls(B) == pytest.approx([0.2])


def test_one_token_requests_have_no_tpot() -> None:
    one = record(2, 0.0, [0.5], output=1, expected=1)
    assert tpot(one) is None and itls(one) == []
    assert ttft(one) == e2el(one) == pytest.approx(0.5)


def test_summary_pools_itl_over_requests_and_averages_tpot_per_request() -> None:
    s = summarize([A, B])
    assert s.completed == 2 and s.failed == 0
    assert s.itl.count == 4  # 3 gaps from A, 1 from B: pooled, as vLLM does
    assert s.itl.mean == pytest.approx(np.mean([0.05, 0.05, 0.1, 0.2]))
    assert s.tpot.count == 2
    assert s.tpot.mean == pytest.approx(np.mean([0.2 / 3, 0.2 / 3]))
    assert s.ttft.percentiles[50.0] == pytest.approx(np.percentile([0.1, 0.4], 50))


def test_summary_throughput_over_first_send_to_last_completion() -> None:
    s = summarize([A, B])
    assert s.duration == pytest.approx(1.6)
    assert s.request_throughput == pytest.approx(2 / 1.6)
    assert s.total_output_tokens == 8 and s.total_input_tokens == 20
    assert s.output_throughput == pytest.approx(8 / 1.6)
    assert s.total_throughput == pytest.approx(28 / 1.6)


def test_latency_from_the_scheduled_time_shows_what_a_late_client_hides() -> None:
    s = summarize([A, B])
    assert s.ttft_from_schedule.max == pytest.approx(1.4 - 0.9)
    assert s.ttft.max == pytest.approx(1.4 - 1.0)
    assert s.schedule_lag.max == pytest.approx(0.0)  # dispatched on time, then waited


def test_multi_token_chunks_are_counted() -> None:
    s = summarize([A, B])
    assert s.chunks == 6 and s.multi_token_chunks == 2


def test_without_per_chunk_usage_multi_token_chunks_are_unknown() -> None:
    no_usage = record(3, 0.0, [0.1, 0.2], output=5)  # 5 tokens in 2 chunks, no per-chunk counts
    assert summarize([no_usage]).multi_token_chunks is None
    one_each = record(4, 0.0, [0.1, 0.2])  # the client's own count: still unknown
    assert summarize([A, one_each]).multi_token_chunks is None


def test_without_usage_input_totals_are_unknown_not_zero() -> None:
    r = record(5, 0.0, [0.1, 0.2])
    r.prompt_tokens = None
    s = summarize([r])
    assert s.total_input_tokens is None and s.input_throughput is None
    assert s.total_throughput is None and s.output_throughput is not None


def test_one_token_requests_meet_a_tpot_slo_as_in_vllm() -> None:
    one = record(6, 0.0, [0.1], output=1, expected=1)
    s = summarize([one], parse_slo("ttft=500ms,tpot=50ms"))
    assert s.slo_attainment == 1.0


def test_duration_runs_to_the_end_of_the_last_request_even_a_failed_one() -> None:
    late = record(7, 0.5, [], error="HTTP 500", kind="http_500")
    late.done = 3.0
    assert summarize([A, late]).duration == pytest.approx(3.0)


def test_short_outputs_are_counted_and_named() -> None:
    short = record(7, 0.0, [0.1, 0.2], expected=4)  # asked 4, got 2
    s = summarize([A, short])
    assert s.short_outputs == 1 and s.short_examples == [7]


def test_failures_by_kind_cancelled_and_warmup_left_out() -> None:
    failed = record(4, 0.0, [], error="HTTP 500: boom", kind="http_500")
    cut = record(5, 0.0, [], error="cancelled", kind="cancelled")
    warm = record(-1, 0.0, [5.0, 6.0], warmup=True)
    s = summarize([A, failed, cut, warm])
    assert (s.completed, s.failed, s.cancelled, s.warmup) == (1, 1, 1, 1)
    assert s.errors == {"http_500": 1}
    assert s.ttft.count == 1  # the warm-up request's latency is not in it


def test_goodput_and_attainment() -> None:
    slo = parse_slo("ttft=200ms,tpot=100ms")
    assert slo.met(A) and not slo.met(B)  # B's TTFT is 400 ms
    s = summarize([A, B], slo)
    assert s.goodput == pytest.approx(1 / 1.6)
    assert s.slo_attainment == pytest.approx(0.5)
    assert summarize([A, B]).goodput is None  # no SLO, no goodput


def test_itl_slo_uses_the_worst_gap() -> None:
    assert Slo(itl=0.15).met(A) and not Slo(itl=0.05).met(A)


def test_empty_runs_have_none_not_zero() -> None:
    s = summarize([])
    assert s.duration is None and s.request_throughput is None
    assert s.ttft.mean is None and s.ttft.percentiles[99.0] is None
    assert s.achieved_rate is None and s.peak_output_throughput is None


def test_percentiles_are_numpy_linear_and_include_the_median() -> None:
    values = [0.01, 0.02, 0.03, 0.5, 1.0]
    d = distribution(values, (90.0, 99.9))
    assert set(d.percentiles) == {50.0, 90.0, 99.9}
    assert d.percentiles[99.9] == pytest.approx(np.percentile(values, 99.9))
    assert d.std == pytest.approx(np.std(values))


def test_achieved_rate_counts_gaps_between_dispatches() -> None:
    records = [record(i, i * 0.25, [i * 0.25 + 0.1]) for i in range(5)]
    assert summarize(records).achieved_rate == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ttft=500ms,tpot=50ms", Slo(ttft=0.5, tpot=0.05)),
        ("ttft=0.5s", Slo(ttft=0.5)),
        ("e2el=2000", Slo(e2el=2.0)),  # a bare number is milliseconds, as vLLM's --goodput
        (" ITL = 20ms ", Slo(itl=0.02)),
    ],
)
def test_parse_slo(text: str, expected: Slo) -> None:
    assert parse_slo(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [("latency=5ms", "ttft=, tpot="), ("ttft=fast", "not a duration"), ("ttft", "ttft=")],
)
def test_bad_slo_says_what_is_expected(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_slo(text)


slo_text = st.one_of(
    st.text(max_size=30),
    st.lists(
        st.tuples(
            st.sampled_from(["ttft", "tpot", "itl", "e2el", "TTFT", "x", ""]),
            st.sampled_from(["=", "", "=="]),
            st.sampled_from(["500ms", "0.5s", "50", "0ms", "1e3", "s", "", "9" * 400, " 2 s "]),
        ).map("".join),
        max_size=5,
    ).map(",".join),
)


@given(slo_text)
def test_any_slo_text_gives_limits_or_a_config_error(text: str) -> None:
    failed: ConfigError | None = None
    try:
        slo = parse_slo(text)
    except ConfigError as exc:
        failed = exc
    if failed is not None:
        assert str(failed).startswith("--slo")
        return
    items = [part.strip() for part in text.split(",")]
    names = [item.partition("=")[0].strip().lower() for item in items]
    assert all(items) and len(set(names)) == len(names)  # no empty item, no name twice
    limits = [slo.ttft, slo.tpot, slo.itl, slo.e2el]
    assert sum(v is not None for v in limits) == len(names)
    assert all(v is None or (math.isfinite(v) and v > 0) for v in limits)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ttft=1s,ttft=2s", "ttft is given twice"),
        ("ttft=1s,,tpot=5ms", "an empty item"),
        (",ttft=1s", "an empty item"),
        ("", "at least one limit"),
        ("ttft=0ms", "give a positive duration"),
    ],
)
def test_slo_lists_are_strict(text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        parse_slo(text)
