"""RoleObservation's JSON: strict, and read back into the very same value."""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs import names, signals
from llmobs.errors import ObservationError
from llmobs.observation import (
    LATENCY_FIELDS,
    RATE_FIELDS,
    Latencies,
    Latency,
    Observation,
    Replicas,
    RoleKey,
    RoleObservation,
    Spread,
    from_json,
    to_json,
)

finite = st.floats(allow_nan=False, allow_infinity=False, width=64)
maybe = st.none() | finite
labels = st.text(max_size=12)
latency = st.none() | st.builds(
    Latency,
    count=st.floats(min_value=0, max_value=1e12),
    mean=maybe,
    quantiles=st.dictionaries(st.floats(min_value=0, max_value=1), maybe, max_size=4),
)
role = st.builds(
    RoleObservation,
    key=st.builds(RoleKey, labels, labels, labels, labels),
    replicas=st.builds(Replicas, *(st.integers(min_value=0, max_value=10_000) for _ in range(3))),
    window_seconds=st.floats(min_value=0.001, max_value=1e6),
    timestamp=finite,
    age_seconds=maybe,
    latency=st.builds(Latencies, **{name: latency for name in LATENCY_FIELDS}),
    **{r.name: maybe for r in RATE_FIELDS},
    prefix_cache_hit_ratio=maybe,
    kv_cache_usage_ratio=st.builds(Spread, maybe, maybe),
    requests_running=maybe,
    requests_waiting=maybe,
)
observations = st.builds(
    Observation,
    timestamp=finite,
    window_seconds=st.floats(min_value=0.001, max_value=1e6),
    roles=st.lists(role, max_size=3).map(tuple),
)


@given(observations)
def test_json_round_trips_exactly(observation: Observation) -> None:
    text = json.dumps(to_json(observation), allow_nan=False)
    assert from_json(json.loads(text)) == observation


any_json = st.recursive(
    st.none() | st.booleans() | finite | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
)


@given(any_json | st.fixed_dictionaries({"schema_version": st.just(1), "roles": any_json}))
def test_any_json_gives_an_observation_or_a_typed_error(doc: Any) -> None:
    try:
        result = from_json(doc)
    except ObservationError:
        return
    assert isinstance(result, Observation)


def test_nan_and_infinity_are_written_as_null() -> None:
    item = RoleObservation(
        RoleKey("ns", "g", "decode", "m"),
        Replicas(1, 1, 1),
        30.0,
        100.0,
        0.5,
        latency=Latencies(
            ttft_seconds=Latency(3.0, math.nan, {0.5: math.inf}),
            itl_seconds=Latency(math.inf, 1.0, {0.5: 1.0}),
        ),
        request_rate=math.nan,
    )
    doc = to_json(Observation(100.0, 30.0, (item,)))
    json.dumps(doc, allow_nan=False)  # strict JSON
    (written,) = doc["roles"]
    assert written["request_rate"] is None
    assert written["latency"]["ttft_seconds"] == {
        "count": 3.0,
        "mean": None,
        "quantiles": {"0.5": None},
    }
    assert written["latency"]["itl_seconds"] is None  # no count: no latency, never a 0 count
    assert from_json(doc).roles[0].latency.get("itl_seconds") is None


def test_every_histogram_signal_and_rate_has_a_field() -> None:
    assert tuple(s.name for s in signals.HISTOGRAMS) == LATENCY_FIELDS
    assert {r.counter for r in RATE_FIELDS} == {s.name for s in signals.COUNTERS}
    fields = {f.name for f in dataclasses.fields(RoleObservation)}
    assert {r.name for r in RATE_FIELDS} <= fields
    assert [r.metric for r in RATE_FIELDS] == [
        names.ROLE_REQUEST_RATE,
        names.ROLE_PROMPT_TOKENS_RATE,
        names.ROLE_GENERATION_TOKENS_RATE,
        names.ROLE_PREEMPTION_RATE,
    ]


def test_the_document_keeps_its_schema_1_shape() -> None:
    item = RoleObservation(
        RoleKey("llm", "pd", "prefill", "qwen"),
        Replicas(2, 2, 1),
        60.0,
        1700000000.0,
        1.5,
        request_rate=3.0,
        kv_cache_usage_ratio=Spread(0.25, 0.5),
    )
    (written,) = to_json(Observation(1700000000.0, 60.0, (item,)))["roles"]
    assert written["replicas"] == {"ready": 2, "scraped": 2, "up": 1}
    assert written["kv_cache_usage_ratio"] == {"mean": 0.25, "max": 0.5}
    assert written["request_rate"] == 3.0 and written["preemption_rate"] is None
    assert set(written["latency"]) == set(LATENCY_FIELDS)
    assert (written["namespace"], written["group"], written["role"], written["model"]) == (
        "llm",
        "pd",
        "prefill",
        "qwen",
    )


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ([], "expected an object"),
        ({"schema_version": 2}, "schema_version: expected 1, got 2"),
        ({"schema_version": 1, "timestamp": 1, "window_seconds": 30}, "roles: expected a list"),
        (
            {"schema_version": 1, "timestamp": "now", "window_seconds": 30, "roles": []},
            "timestamp: expected a number",
        ),
        (
            {
                "schema_version": 1,
                "timestamp": 1,
                "window_seconds": 30,
                "roles": [{"namespace": "", "group": "", "role": "decode", "model": "m"}],
            },
            "roles[0].replicas: expected an object",
        ),
    ],
)
def test_bad_documents_say_what_is_wrong(doc: Any, says: str) -> None:
    with pytest.raises(
        ObservationError, match=r".*" + says.replace("[", r"\[").replace("]", r"\]")
    ):
        from_json(doc)


def test_age_grows_with_the_time_since_the_document_was_written() -> None:
    item = RoleObservation(RoleKey("", "", "both", "m"), Replicas(1, 1, 1), 30.0, 100.0, 2.0)
    assert item.age_at(105.0) == 7.0
    assert item.age_at(99.0) == 2.0  # a clock behind the writer's never makes data younger
