from __future__ import annotations

import contextlib
import json
import math

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
