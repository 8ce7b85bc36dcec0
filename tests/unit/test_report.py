"""``llmobs scrape`` reports: JSON contract and the readable table."""

from __future__ import annotations

import json

from llmobs import signals
from llmobs.errors import TargetTimeout
from llmobs.exposition.parser import parse
from llmobs.scrape.fetch import ScrapeResult
from llmobs.scrape.report import build, to_json, to_table
from tests.fixtures.expositions import load

URL = "http://127.0.0.1:8000/metrics"


def ok(at: float, name: str = "vllm-0.32.0.txt") -> ScrapeResult:
    return ScrapeResult(URL, 1.7e9 + at, at, 0.01, parse(load(name)), None)


def failed(at: float) -> ScrapeResult:
    return ScrapeResult(URL, 1.7e9 + at, at, 5.0, None, TargetTimeout("no answer"))


def test_json_shape_for_a_single_scrape() -> None:
    doc = to_json([build([ok(0.0)])])
    json.dumps(doc, allow_nan=False)  # strict JSON: no NaN or Infinity tokens
    (target,) = doc["targets"]
    assert doc["version"] == 1
    assert target["url"] == URL and target["up"] is True and target["error"] is None
    assert (target["engine"], target["naming"], target["models"]) == ("vllm", "v1", ["tiny"])
    assert set(target["signals"]) == {s.name for s in signals.ALL}
    ttft = target["signals"]["ttft_seconds"]
    assert set(ttft) == {"count", "sum", "mean", "p50", "p90", "p95", "p99", "buckets"}
    assert ttft["count"] == 21
    assert ttft["buckets"][-1] == ["+Inf", 21.0]
    assert target["signals"]["kv_cache_usage_ratio"] == 0.0
    assert target["signals"]["prompt_tokens_total"] == 50008
    assert target["signals"]["prefix_cache_hit_ratio"] == 0.0
    assert target["rates"] is None and target["window_seconds"] is None


def test_json_for_a_window() -> None:
    doc = to_json([build([ok(0.0), ok(10.0)])])
    (target,) = doc["targets"]
    assert target["window_seconds"] == 10.0
    assert target["rates"]["prompt_tokens_per_second"] == 0.0
    assert target["signals"]["ttft_seconds"]["count"] == 0
    assert target["signals"]["ttft_seconds"]["p99"] is None


def test_down_target() -> None:
    report = build([failed(0.0)])
    (target,) = to_json([report])["targets"]
    assert target["up"] is False and target["reason"] == "timeout"
    assert target["signals"] is None and target["engine"] is None
    assert "DOWN" in to_table([report]) and "no answer" in to_table([report])


def test_second_scrape_failing_keeps_the_first() -> None:
    report = build([ok(0.0), failed(10.0)])
    (target,) = to_json([report])["targets"]
    assert target["up"] is False
    assert "cumulative" in target["error"]
    assert target["signals"]["ttft_seconds"]["count"] == 21
    assert target["window_seconds"] is None


def test_not_an_engine() -> None:
    result = ScrapeResult(URL, 0, 0, 0.01, parse("# TYPE up gauge\nup 1\n"), None)
    (target,) = to_json([build([result])])["targets"]
    assert target["up"] is True and target["reason"] == "unknown_engine"


def test_table_lists_every_signal() -> None:
    table = to_table([build([ok(0.0)]), build([ok(0.0, "sglang-0.4.3.txt")])])
    for s in signals.ALL:
        assert s.name in table
    assert "vllm (naming v1)" in table and "sglang (naming 0.4)" in table
    assert "cumulative since the engine started" in table
