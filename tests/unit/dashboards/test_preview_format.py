"""What a preview writes in a panel: legends, values in Grafana's units, reductions,
threshold colours, and the ``--var`` choices (hypothesis properties and Grafana's examples)."""

from __future__ import annotations

import math
import string
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.dashboards.preview_format import (
    colour,
    format_value,
    legend_text,
    parse_variables,
    reduce,
    threshold_colour,
)
from llmobs.errors import ConfigError

names = st.text(string.ascii_lowercase + "_", min_size=1, max_size=8)
values = st.text(string.ascii_letters + string.digits + "-._/", min_size=0, max_size=12)
labels = st.dictionaries(names, values, max_size=5)
finite = st.floats(allow_nan=False, allow_infinity=False)
UNITS = ("s", "ms", "percentunit", "percent", "short", "none", "reqps", "bytes", "suffix: tok")


@given(labels, st.lists(names, max_size=4), st.text(string.ascii_letters + " ", max_size=6))
def test_legend_replaces_each_label_reference_by_its_value(
    found: dict[str, str], refs: list[str], gap: str
) -> None:
    legend = gap.join("{{" + ref + "}}" for ref in refs) + " p99"
    expected = gap.join(found.get(ref, "") for ref in refs) + " p99"
    assert legend_text(legend, found, "q") == expected
    spaced = gap.join("{{ " + ref + " }}" for ref in refs) + " p99"
    assert legend_text(spaced, found, "q") == expected


@given(labels, st.sampled_from([None, "", "__auto"]))
def test_auto_legend_is_the_series_labels_or_the_query(found: dict[str, str], legend: Any) -> None:
    text = legend_text(legend, found, "sum(rate(x[1m]))")
    if not found:
        assert text == "sum(rate(x[1m]))"
    for name, value in found.items():
        if name != "__name__":
            assert f'{name}="{value}"' in text


def test_auto_legend_starts_with_the_metric_name() -> None:
    assert legend_text(None, {"__name__": "up", "job": "a"}, "up") == 'up{job="a"}'


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.25, "s", "250 ms"),
        (2.5, "s", "2.5 s"),
        (90, "s", "1.5 min"),
        (0.0004, "s", "400 µs"),
        (250, "ms", "250 ms"),
        (0.42, "percentunit", "42%"),
        (1, "percentunit", "100%"),
        (1500, "short", "1.5 K"),
        (2_000_000, None, "2 M"),
        (2_000_000, "none", "2000000"),
        (3.25, "reqps", "3.25 req/s"),
        (12, "suffix: tok/s", "12 tok/s"),
        (0, "short", "0"),
        (-0.5, "s", "-500 ms"),
    ],
)
def test_values_in_grafana_units(value: float, unit: str | None, shown: str) -> None:
    assert format_value(value, unit) == shown


@given(finite, st.sampled_from(UNITS))
def test_every_finite_value_is_a_number(value: float, unit: str) -> None:
    text = format_value(value, unit)
    assert text and text != "No data" and "nan" not in text.lower() and "inf" not in text


@given(st.sampled_from([None, math.nan, math.inf, -math.inf]), st.sampled_from(UNITS))
def test_a_missing_value_is_never_a_number(value: float | None, unit: str) -> None:
    assert format_value(value, unit) == "No data"
    assert format_value(value, unit, "No traffic") == "No traffic"


points = st.lists(st.one_of(st.none(), st.floats(-1e300, 1e300)), max_size=20).map(
    lambda vs: tuple((float(i), v) for i, v in enumerate(vs))
)


@given(points)
def test_reductions(series: tuple[tuple[float, float | None], ...]) -> None:
    known = [v for _, v in series if v is not None]
    assert reduce(series, "lastNotNull") == (known[-1] if known else None)
    assert reduce(series, "firstNotNull") == (known[0] if known else None)
    assert reduce(series, "count") == len(known)
    assert reduce(series, "last") == (series[-1][1] if series else None)
    if known:
        assert reduce(series, "min") == min(known) and reduce(series, "max") == max(known)
        mean = reduce(series, "mean")
        slack = 1e-9 * max(abs(v) for v in known)
        assert mean is not None and min(known) - slack <= mean <= max(known) + slack
    else:
        for calc in ("mean", "max", "min", "sum", "lastNotNull"):
            assert reduce(series, calc) is None


def test_threshold_colour_is_the_last_step_reached() -> None:
    panel = {
        "fieldConfig": {
            "defaults": {
                "thresholds": {
                    "steps": [
                        {"color": "green", "value": None},
                        {"color": "orange", "value": 0.8},
                        {"color": "dark-red", "value": 0.95},
                    ]
                }
            }
        }
    }
    assert threshold_colour(panel, 0.1) == colour("green")
    assert threshold_colour(panel, 0.8) == colour("orange")
    assert threshold_colour(panel, 0.99) == colour("red")
    assert colour("#123456") == "#123456"


def _board(*variables: dict[str, Any]) -> dict[str, Any]:
    return {"templating": {"list": [{"name": "datasource", "type": "datasource"}, *variables]}}


BOARDS = {
    "a.json": _board(
        {"name": "role", "type": "query", "multi": True, "includeAll": True},
        {"name": "namespace", "type": "query"},
    ),
    "b.json": _board({"name": "model", "type": "custom", "query": "a,b"}),
}


@given(
    st.lists(st.text(string.printable.strip(), min_size=1, max_size=10), max_size=4),
    st.sampled_from(["prefill", "decode=x", "All"]),
)
def test_var_choices_round_trip(roles: list[str], model: str) -> None:
    items = [f"role={r}" for r in roles] + [f"model={model}"]
    chosen = parse_variables(items, BOARDS)
    assert chosen == ({"role": tuple(roles)} if roles else {}) | {"model": (model,)}


@pytest.mark.parametrize(
    ("items", "words"),
    [
        (["role"], "expected NAME=VALUE"),
        (["=decode"], "expected NAME=VALUE"),
        (["role="], "expected NAME=VALUE"),
        (["datasource=prom"], "no board has a variable 'datasource'"),
        (["job=x"], r"\(they have model, namespace, role\)"),
        (["namespace=a", "namespace=b"], "not a multi-value variable"),
    ],
)
def test_bad_var_choices_say_why(items: list[str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_variables(items, BOARDS)
