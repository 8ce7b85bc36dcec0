"""The result document and the table, against golden files (regenerate with
``LLMOBS_UPDATE_GOLDEN=1 pytest tests/unit/bench/test_result.py``: the regenerated test fails
until you review the diff, commit it and run again; see tests/golden.py)."""

from __future__ import annotations

import json
from array import array
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.bench.compare import comparison, comparison_table
from llmobs.bench.harness import MIN_FAILED_SIZE, failed_document
from llmobs.bench.metrics import parse_slo, summarize
from llmobs.bench.records import RequestRecord
from llmobs.bench.report import client_verdict, result_json, table
from llmobs.bench.runner import Health
from llmobs.bench.saved import REQUIRED, load_saved, missing_key
from llmobs.errors import ConfigError
from tests import strictjson
from tests.golden import check_golden

GOLDEN = Path(__file__).parents[2] / "fixtures" / "bench"


def records() -> list[RequestRecord]:
    """Ten requests every 0.1 s; each streams 5 tokens 20 ms apart after a TTFT that grows."""
    out = []
    for i in range(10):
        r = RequestRecord(i, i * 0.1, 100, 5)
        r.dispatched = i * 0.1 + 0.0005
        r.sent = r.dispatched
        first = r.sent + 0.05 + 0.01 * i
        r.chunk_times = array("d", [first + 0.02 * k for k in range(5)])
        r.chunk_tokens = array("l", [1] * 5)
        r.first_token, r.end = first, first + 0.08
        r.prompt_tokens, r.output_tokens = 100, 5
        out.append(r)
    failed = RequestRecord(10, 1.0, 100, 5, dispatched=1.0, sent=1.0, status=503)
    failed.error, failed.error_kind = "HTTP 503: overloaded", "http_503"
    return [*out, failed]


def document() -> dict[str, Any]:
    summary = summarize(records(), parse_slo("ttft=105ms"))
    health = Health(loop_lag=[0.0001] * 50, cpu_seconds=0.2, wall_seconds=2.0)
    config = {"target": "http://127.0.0.1:8000", "request_rate": 10.0, "percentiles": [50, 99]}
    return result_json(
        config=config,
        summary=summary,
        verdict=client_verdict(health, summary),
        servers=[],
        combined=None,
        complete=True,
        started_at="2026-11-23T00:00:00+00:00",
        records_file="records.jsonl",
        error_samples=["HTTP 503: overloaded"],
    )


def test_result_document_matches_golden() -> None:
    doc = document()
    check_golden(GOLDEN / "result.json", json.dumps(doc, indent=2, allow_nan=False) + "\n")


def test_table_matches_golden() -> None:
    check_golden(GOLDEN / "table.txt", table(document()) + "\n")


def test_document_says_what_it_measured() -> None:
    s = document()["summary"]
    assert (s["completed"], s["failed"]) == (10, 1)
    assert s["errors"] == {"http_503": 1}
    assert s["slo_attainment"] == pytest.approx(6 / 11)  # TTFT 50..140 ms; 105 ms limit
    assert s["ttft_ms"]["p50"] == pytest.approx(95.0)
    assert s["tpot_ms"]["mean"] == pytest.approx(20.0)
    assert s["schedule_lag_ms"]["max"] == pytest.approx(0.5)
    assert document()["client"]["saturated"] is False


def test_a_saturated_client_is_called_out() -> None:
    summary = summarize(records())
    verdict = client_verdict(Health([0.05] * 100, 1.9, 2.0), summary)
    assert verdict.saturated
    assert any("event-loop lag" in r for r in verdict.reasons)
    assert any("CPU" in r for r in verdict.reasons)


def test_comparison_ratios_against_the_first_run() -> None:
    a = document()
    b = json.loads(json.dumps(a))
    b["summary"]["output_throughput"] = a["summary"]["output_throughput"] * 2
    data = comparison(["base", "pd"], [a, b])
    row = next(r for r in data["rows"] if r["metric"] == "Output throughput (tok/s)")
    assert row["ratios"] == [1.0, 2.0]
    text = comparison_table(data)
    assert "2.00x" in text and "vs base" in text


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
places = st.sampled_from([(parent, key) for parent, key, _ in REQUIRED] + [("", "server_all")])


@given(st.lists(st.tuples(places, st.none() | json_values.map(lambda v: [v])), max_size=4))
def test_a_damaged_result_is_drawn_or_its_missing_key_named(
    damage: list[tuple[tuple[str, str], list[Any] | None]],
) -> None:
    doc = json.loads(json.dumps(document()))
    for (parent, key), new in damage:
        holder = doc.get(parent) if parent else doc
        if not isinstance(holder, dict):
            continue
        if new is None:
            holder.pop(key, None)
        else:
            holder[key] = new[0]
    problem = missing_key(doc)
    if problem is None:
        assert "Serving Benchmark Result" in table(doc)
    else:
        assert problem.split(" ")[0].split(".")[-1] in {key for _, key, _ in REQUIRED}


def write_run(folder: Path, doc: dict[str, Any], lines: list[str] | None) -> None:
    (folder / "result.json").write_text(json.dumps(doc))
    if lines is not None:
        (folder / "records.jsonl").write_text("\n".join(lines) + "\n")


def test_saved_runs_are_read_defensively(tmp_path: Path) -> None:
    good = [r.to_json() for r in records()]
    doc = document()
    write_run(tmp_path, doc, [good[0], "garbage", *good[1:], '{"index": Infinity}'])
    saved = load_saved(tmp_path)
    assert len(saved.run.records) == len(good)
    (warning,) = saved.warnings
    assert "skipped 2 line(s)" in warning and "line 2, 13" in warning
    (tmp_path / "records.jsonl").unlink()
    saved = load_saved(tmp_path)
    assert saved.run.records == [] and saved.run.doc["summary"]["completed"] == 10
    assert "result.json's summary" in saved.warnings[0]


def test_a_killed_run_is_rebuilt_and_says_so(tmp_path: Path) -> None:
    placeholder = {k: document()[k] for k in ("version", "tool", "started_at", "config")}
    placeholder |= {"state": "running", "complete": False, "records": "records.jsonl"}
    write_run(tmp_path, placeholder, [r.to_json() for r in records()][:4])
    saved = load_saved(tmp_path)
    assert saved.run.doc["state"] == "killed" and saved.warnings == []
    shown = table(saved.run.doc)
    assert "KILLED" in shown and "rebuilt from the 4 request(s)" in shown
    assert "INTERRUPTED" not in shown
    del placeholder["config"]
    write_run(tmp_path, placeholder, None)
    assert "Serving Benchmark Result" in table(load_saved(tmp_path).run.doc)


def test_a_result_missing_a_key_is_named(tmp_path: Path) -> None:
    doc = document()
    del doc["summary"]["ttft_ms"]
    write_run(tmp_path, doc, [])
    with pytest.raises(ConfigError, match=r"has no 'summary\.ttft_ms \(a mapping\)'"):
        load_saved(tmp_path)


@given(
    error=st.text(max_size=3000),
    size=st.integers(MIN_FAILED_SIZE, 5000),
    with_config=st.booleans(),
)
def test_a_failed_document_is_strict_json_within_its_size(
    error: str, size: int, with_config: bool
) -> None:
    """Whatever the error says and however little room the placeholder left: strict JSON in
    at most ``size`` bytes, state failed, and the error kept whole when it fits."""
    doc = document() | {"state": "failed", "error": error}
    if not with_config:
        del doc["config"]
    written = failed_document(doc, size)
    assert len(written) <= size
    read = strictjson.loads(written.decode("utf-8"))
    assert read["state"] == "failed" and read["complete"] is False
    assert read["tool"] == "llmbench" and read["records"] == "records.jsonl"
    shown = read["error"]
    assert shown == error or (shown.endswith("...") and error.startswith(shown[:-3]))


def test_a_failed_run_with_no_summary_is_rebuilt_and_keeps_its_error(tmp_path: Path) -> None:
    doc = document() | {"state": "failed", "error": "cannot write result.json: File too large"}
    (tmp_path / "result.json").write_bytes(failed_document(doc, 4096))
    (tmp_path / "records.jsonl").write_text("".join(r.to_json() + "\n" for r in records()[:4]))
    saved = load_saved(tmp_path)
    assert saved.run.doc["state"] == "failed" and saved.run.doc["summary"]["completed"] == 4
    assert "FAILED: cannot write result.json: File too large" in table(saved.run.doc)
