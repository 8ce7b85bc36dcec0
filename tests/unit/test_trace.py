"""The Mooncake trace reader: rows, strict errors that name the line, any input is rows or a
TraceError, and both users (llmbench and the virtual cluster) read the real trace alike."""

from __future__ import annotations

import itertools
import json
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.bench.workload import trace_workload
from llmobs.errors import ConfigError
from llmobs.sim.trace import read_mooncake
from llmobs.trace import TraceError, TraceRow, parse_trace, read_trace

REAL = Path(__file__).parents[1] / "fixtures" / "traces" / "mooncake-conversation-head.jsonl"
ROW = {"timestamp": 1500, "input_length": 1100, "output_length": 7, "hash_ids": [1, 2, 9]}


def lines(*rows: object) -> list[str]:
    return [r if isinstance(r, str) else json.dumps(r) for r in rows]


def test_rows_in_seconds_with_their_line_numbers() -> None:
    rows = list(parse_trace(lines(ROW, "", dict(ROW, timestamp=0, hash_ids=[])), time_scale=2))
    assert rows == [
        TraceRow(1, 3.0, 1100, 7, (1, 2, 9)),
        TraceRow(3, 0.0, 1100, 7, ()),
    ]
    no_hashes = {k: v for k, v in ROW.items() if k != "hash_ids"}
    assert next(parse_trace(lines(no_hashes))).hash_ids == ()
    assert len(list(parse_trace(lines(ROW, ROW, ROW), limit=2))) == 2


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("{not json", "line 3|:3: not a Mooncake trace row: not JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (dict(ROW, input_length=None), "missing 'input_length'"),
        ({"input_length": 5, "output_length": 1}, "missing 'timestamp'"),
        (dict(ROW, output_length=0), "'output_length' must be from 1 to 10000000, got 0"),
        (dict(ROW, input_length=12.5), "'input_length' must be an integer, got 12.5"),
        (dict(ROW, input_length="12"), "'input_length' must be an integer, got \"12\""),
        (dict(ROW, output_length=True), "'output_length' must be an integer, got true"),
        (dict(ROW, timestamp=-1), "'timestamp' must be a finite number >= 0, got -1"),
        (dict(ROW, timestamp="0"), "'timestamp' must be a number of milliseconds"),
        ('{"timestamp": NaN, "input_length": 1, "output_length": 1}', "NaN is not valid JSON"),
        (dict(ROW, hash_ids=[1, "2"]), "'hash_ids' must hold integers, got \"2\""),
        (dict(ROW, hash_ids=7), "'hash_ids' must be a list of integers, got 7"),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_a_bad_line_is_named_with_what_is_wrong(line: object, says: str) -> None:
    with pytest.raises(TraceError, match=says) as error:
        list(parse_trace(lines(ROW, ROW, line, ROW), "t.jsonl"))
    assert error.value.line == 3
    assert str(error.value).startswith("t.jsonl:3: not a Mooncake trace row: ")


def test_bad_arguments_and_files(tmp_path: Path) -> None:
    for scale in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(TraceError, match="time_scale must be a positive number"):
            list(parse_trace([], time_scale=scale))
    with pytest.raises(TraceError, match="cannot read trace"):
        list(read_trace(tmp_path / "missing.jsonl"))
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b'{"timestamp": 0}\n\xff\xfe\n')
    with pytest.raises(TraceError, match="is not UTF-8 text"):
        list(read_trace(binary))
    assert issubclass(TraceError, ConfigError)  # the CLIs' usage errors: exit status 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
)
row_like = st.fixed_dictionaries(
    {},
    optional={
        "timestamp": json_values,
        "input_length": json_values,
        "output_length": json_values,
        "hash_ids": json_values,
    },
)
any_line = st.one_of(
    st.text(max_size=40),
    json_values.map(lambda v: json.dumps(v)),
    row_like.map(lambda v: json.dumps(v)),
)


@given(st.lists(any_line, max_size=6), st.floats(min_value=0.01, max_value=100))
def test_any_input_gives_rows_or_a_trace_error(text: list[str], scale: float) -> None:
    failed: TraceError | None = None
    try:
        rows = list(parse_trace(text, time_scale=scale))
    except TraceError as exc:
        failed, rows = exc, []
    if failed is not None:
        assert failed.line is not None and 1 <= failed.line <= len(text)
        assert text[failed.line - 1].strip()
        return
    assert len(rows) == sum(1 for line in text if line.strip())
    for row in rows:
        assert row.arrival >= 0 and row.input_length >= 1 and row.output_length >= 1
        assert all(isinstance(h, int) for h in row.hash_ids)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**9), st.integers(1, 10**6), st.integers(1, 10**5),
            st.lists(st.integers(0, 10**9), max_size=5),
        ),
        max_size=8,
    )
)  # fmt: skip
def test_valid_rows_read_back_as_written(rows: list[tuple[int, int, int, list[int]]]) -> None:
    text = [
        json.dumps({"timestamp": t, "input_length": i, "output_length": o, "hash_ids": h})
        for t, i, o, h in rows
    ]
    back = list(parse_trace(text))
    assert [(r.arrival, r.input_length, r.output_length, list(r.hash_ids)) for r in back] == [
        (t / 1000, i, o, h) for t, i, o, h in rows
    ]


def test_both_users_read_the_real_trace_alike() -> None:
    rows = list(read_trace(REAL, limit=80))
    requests = list(read_mooncake(REAL, limit=80))
    specs = trace_workload(REAL, limit=80)
    assert len(rows) == len(requests) == len(specs) == 80
    for row, request, spec in zip(rows, requests, specs, strict=True):
        assert request.arrival == row.arrival
        assert spec.offset == row.arrival - rows[0].arrival
        assert request.prompt_tokens == spec.expected_prompt_tokens == row.input_length
        assert request.output_tokens == spec.max_tokens == row.output_length
    assert all(b.arrival >= a.arrival for a, b in itertools.pairwise(rows))


@given(st.binary(max_size=200))
def test_any_file_gives_rows_or_a_trace_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "t.jsonl"
        path.write_bytes(data)
        try:
            rows = list(read_trace(path))
        except TraceError:
            return
    assert all(row.arrival >= 0 and math.isfinite(row.arrival) for row in rows)


@given(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "1" + "0" * 400, "-1"]),
    st.floats(min_value=1e-3, max_value=1e12),
)
def test_a_timestamp_that_is_not_a_finite_time_is_refused(token: str, scale: float) -> None:
    line = f'{{"timestamp": {token}, "input_length": 1, "output_length": 1}}'
    with pytest.raises(TraceError) as error:
        list(parse_trace([line], time_scale=scale))
    assert error.value.line == 1
