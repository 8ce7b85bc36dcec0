"""The Prometheus source's pure half: query plans and reading answers back. An absent series
or NaN is None (never 0), a role needs all its replica counts, and any answer of another
shape is a SourceError (malformed), never another exception."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from llmobs import engines, names
from llmobs.autoscaler.model import SourceError
from llmobs.autoscaler.sources import EngineSeries, PrometheusSourceConfig
from llmobs.autoscaler.sources.queries import (
    EXPORTER_LABELS,
    Labels,
    Slot,
    engine_plan,
    exporter_plan,
    read,
)
from llmobs.observation import LATENCY_FIELDS, RATE_FIELDS, RoleKey

QUANTILES = (0.5, 0.9)
PLAN = exporter_plan(60, QUANTILES)
SLOTS: tuple[Slot, ...] = tuple(q.slot for q in PLAN)
KEY = RoleKey("ns", "g", "decode", "m")
METRIC = {"namespace": "ns", "group": "g", "role": "decode", "model": "m", "extra": "x"}

value = st.none() | st.floats(min_value=0, max_value=1e9) | st.just(math.nan)


def answers_of(values: dict[Slot, float | None], absent: set[Slot]) -> dict[Slot, Any]:
    """Prometheus's answers: NaN spelled as it spells it, an absent series an empty list."""
    out: dict[Slot, Any] = {}
    for slot in SLOTS:
        v = values.get(slot)
        if slot in absent:
            out[slot] = []
        else:
            text = "NaN" if v is None or math.isnan(v) else repr(v)
            out[slot] = [{"metric": METRIC, "value": [1.0, text]}]
    return out


@given(st.dictionaries(st.sampled_from(SLOTS), value), st.sets(st.sampled_from(SLOTS)))
def test_answers_read_back_as_values_and_absent_is_none(
    values: dict[Slot, float | None], absent: set[Slot]
) -> None:
    counts = [("replicas", s) for s in names.REPLICA_STATES]
    obs = read(
        answers_of(values, absent),
        PLAN,
        EXPORTER_LABELS,
        quantiles=QUANTILES,
        window_s=60,
        timestamp=5.0,
    )

    def expect(slot: Slot) -> float | None:
        v = values.get(slot)
        return None if slot in absent or v is None or math.isnan(v) else v

    if any(expect(slot) is None for slot in counts):
        assert obs.roles == ()  # replica counts unknown: the role is missing, not zero
        return
    (item,) = obs.roles
    assert item.key == KEY and item.timestamp == 5.0 and item.window_seconds == 60
    assert (item.replicas.ready, item.replicas.scraped, item.replicas.up) == tuple(
        round(expect(slot) or 0) for slot in counts
    )
    assert item.age_seconds == expect(("age",))
    for rate in RATE_FIELDS:
        assert getattr(item, rate.name) == expect(("rate", rate.name))
    for signal in LATENCY_FIELDS:
        lat = item.latency.get(signal)
        count = expect(("latency", signal, "count"))
        if count is None:
            assert lat is None
            continue
        assert lat is not None and lat.count == count
        assert lat.mean == expect(("latency", signal, "mean"))
        assert lat.quantiles == {q: expect(("latency", signal, repr(q))) for q in QUANTILES}
    assert item.kv_cache_usage_ratio.max == expect(("kv", names.STAT_MAX))
    assert item.requests_waiting == expect(("requests_waiting",))


json_like = st.recursive(
    st.none() | st.booleans() | st.floats() | st.text(max_size=5) | st.integers(),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.sampled_from(SLOTS), json_like, max_size=6))
def test_any_answer_is_an_observation_or_a_malformed_source_error(answers: dict[Slot, Any]) -> None:
    error: SourceError | None = None
    try:
        read(answers, PLAN, EXPORTER_LABELS, quantiles=QUANTILES, window_s=60, timestamp=0.0)
    except SourceError as exc:
        error = exc
    if error is not None:
        assert error.cause == "malformed" and "Prometheus answered" in str(error)


def test_engine_plans_cover_each_engine_with_its_role_labels() -> None:
    labels = Labels(namespace=None, group=None, role="tier", model="model_name")
    for engine in ("vllm", "sglang"):
        plan = engine_plan(engines.BY_ENGINE[engine], labels, 30, QUANTILES)
        slots = {q.slot for q in plan}
        assert ("replicas", "ready") in slots and ("latency", "ttft_seconds", "0.9") in slots
        assert ("kv", names.STAT_MAX) in slots and ("age",) in slots
        assert all("by (tier, model_name" in q.expr for q in plan if q.slot[0] == "replicas")
    key = labels.key({"tier": "prefill", "model_name": "m", "namespace": "ignored"})
    assert key == RoleKey("", "", "prefill", "m")


config_values = st.dictionaries(
    st.sampled_from(
        ["url", "timeout_s", "window_s", "quantiles", "matchers", "engine_series", "typo", "kind"]
    ),
    json_like,
    max_size=5,
)


@given(config_values)
def test_prometheus_config_validates_or_says_why(data: dict[str, Any]) -> None:
    error: ValidationError | None = None
    try:
        PrometheusSourceConfig.model_validate(data)
    except ValidationError as exc:
        error = exc
    if error is not None:
        assert error.errors()


def test_prometheus_config_is_strict() -> None:
    with pytest.raises(ValidationError, match="Extra inputs"):
        PrometheusSourceConfig.model_validate({"url": "http://p:9090", "windw_s": 3})
    with pytest.raises(ValidationError, match="not a Prometheus URL"):
        PrometheusSourceConfig(url="p:9090")
    with pytest.raises(ValidationError, match="strictly between 0 and 1"):
        PrometheusSourceConfig(url="http://p:9090", quantiles=[1.5])
    with pytest.raises(ValidationError, match="engine"):
        EngineSeries.model_validate({"engine": "tgi"})
    assert PrometheusSourceConfig(url="http://p:9090/").url == "http://p:9090"
