from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs import strictjson

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(values)
def test_dumps_always_writes_strict_json(value: object) -> None:
    strictjson.loads(strictjson.dumps(value))  # raises on NaN/Infinity


def test_non_finite_floats_become_null() -> None:
    doc = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": (2.0,)}
    assert json.loads(strictjson.dumps(doc)) == {"a": None, "b": [None, None, 1.5], "c": [2.0]}


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_loads_refuses_non_finite_tokens(token: str) -> None:
    with pytest.raises(ValueError, match=token):
        strictjson.loads(f'{{"timestamp": {token}}}')


@given(st.text())
def test_loads_gives_a_value_or_a_value_error(text: str) -> None:
    with contextlib.suppress(ValueError):  # anything else fails the test
        strictjson.loads(text)


def test_write_replaces_the_file_whole_and_strictly(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    path.write_text("old")
    strictjson.write(path, {"a": math.inf, "b": [1.5]})
    assert path.read_text() == '{\n  "a": null,\n  "b": [\n    1.5\n  ]\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"]


def test_a_write_that_fails_leaves_no_partial_copy(tmp_path: Path) -> None:
    path = tmp_path / "doc.json"
    (path / "inside").mkdir(parents=True)  # a folder in the way: the replace is refused
    with pytest.raises(IsADirectoryError):
        strictjson.write(path, {"a": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["doc.json"] and path.is_dir()
