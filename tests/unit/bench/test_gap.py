"""Client minus server, free of bucket error: the client's values go into the server's
buckets before percentiles are compared."""

from __future__ import annotations

from array import array

import pytest

from llmobs.bench.gap import gap, gaps
from llmobs.bench.records import RequestRecord
from llmobs.histogram import observe, quantile

BOUNDS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 20.0)


def test_observe_is_a_prometheus_histogram() -> None:
    h = observe([0.01, 0.02, 0.7, 30.0], BOUNDS)
    assert h.bounds[-1] == float("inf")
    assert h.counts[0] == 1  # le is inclusive
    assert h.counts[-1] == h.count == 4
    assert h.sum == pytest.approx(30.73)


def test_equal_values_give_zero_gap_even_where_buckets_are_wide() -> None:
    values = [6.0 + i * 0.1 for i in range(40)]  # all inside the 5-10 s bucket
    server = observe(values, BOUNDS)
    assert quantile(0.99, server) == pytest.approx(9.9, abs=0.2)  # bucket interpolation
    assert gap(values, server) == {"mean": 0.0, "p50": 0.0, "p90": 0.0, "p99": 0.0}


def test_a_constant_client_delay_shows_in_the_mean_exactly() -> None:
    server_values = [0.2 + 0.01 * i for i in range(30)]
    server = observe(server_values, BOUNDS)
    client = [v + 0.003 for v in server_values]
    assert gap(client, server)["mean"] == pytest.approx(3.0)


def test_no_server_data_is_none() -> None:
    assert gap([0.1], None)["p99"] is None
    assert gap([], observe([0.1], BOUNDS))["mean"] is None


def test_gaps_per_signal_from_records() -> None:
    r = RequestRecord(0, 0.0, 5, 3)
    r.sent, r.first_token, r.end = 0.0, 0.2, 0.4
    r.chunk_times = array("d", [0.2, 0.3, 0.4])
    r.output_tokens = 3
    server = {"ttft_seconds": observe([0.19], BOUNDS), "itl_seconds": observe([0.1, 0.1], BOUNDS)}
    out = gaps([r], server)
    assert out["ttft"]["mean"] == pytest.approx(10.0)
    assert out["itl"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert out["e2el"]["mean"] is None  # the server sent no E2E histogram
