"""Grafana's interpolation (``llmobs.dashboards.variables``) read by a real Prometheus 2.42:
a multi-value selection is a regex RE2 matches against exactly its values, a single value
reads back from its string as itself, and every built-in range is a duration PromQL takes.
Properties with hypothesis, each example one instant query on an empty Prometheus."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs import promql
from llmobs.dashboards import variables as tv
from tests.prometheus import Prometheus

# Label values Grafana can put in a PromQL string. It escapes neither control characters nor
# U+FFFD, which Prometheus's lexer takes for a broken UTF-8 byte: such a query fails in Grafana.
TEXT = st.text(
    st.characters(
        min_codepoint=0x20, blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffd"
    ),
    max_size=8,
)
ON_PROMETHEUS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path_factory.mktemp("interpolation")).start()
    try:
        yield server
    finally:
        server.stop()


def _with_v(value: str) -> str:
    """``vector(1)`` with label ``v`` set to ``value`` (label_replace expands ``$``: doubled)."""
    return f'label_replace(vector(1), "v", {promql.string(value.replace("$", "$$"))}, "", "")'


@ON_PROMETHEUS
@given(st.lists(TEXT, min_size=1, max_size=3, unique=True), TEXT)
def test_a_multi_value_selection_matches_exactly_its_values(
    prometheus: Prometheus, values: list[str], other: str
) -> None:
    """``label_replace`` sets ``m`` only where its anchored regex, the interpolated
    selection, matches ``v``."""
    selection = tv.Variable("sel", tuple(values), multi=True, include_all=True)
    expr = f'label_replace({_with_v(other)}, "m", "yes", "v", "$sel")'
    (sample,) = prometheus.query(tv.interpolate(expr, {"sel": selection}), 0)
    assert sample["metric"].get("v", "") == other
    assert ("m" in sample["metric"]) == (other in values)


@ON_PROMETHEUS
@given(TEXT)
def test_a_single_value_means_itself(prometheus: Prometheus, value: str) -> None:
    """Compared with ``==`` as a string: ``label_replace`` copies the interpolated literal
    into ``w`` and the sample keeps ``v`` only where the two are equal."""
    one = tv.Variable("one", (value,))
    literal = tv.interpolate('"$one"', {"one": one}).replace("$", "$$")
    expr = f'label_replace({_with_v(value)}, "w", {literal}, "", "")'
    (sample,) = prometheus.query(expr, 0)
    assert sample["metric"].get("w", "") == value == sample["metric"].get("v", "")


@ON_PROMETHEUS
@given(
    st.integers(1, 86_400_000),
    st.integers(1, 600_000),
    st.integers(0, 10**9),
    st.integers(1, 10**6),
)
def test_every_built_in_range_parses(
    prometheus: Prometheus, interval_ms: int, scrape_ms: int, start: int, span: int
) -> None:
    scoped = tv.builtins(start, start + span, interval_ms / 1000, scrape_ms / 1000)
    for name in ("__interval", "__rate_interval", "__range"):
        expr = tv.interpolate(f"count_over_time(vector(1)[${name}:])", {}, scoped)
        assert len(prometheus.query(expr, start + span)) <= 1, expr  # it parsed
