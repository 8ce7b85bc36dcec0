"""The pure pieces under the boards: the grid layout and the threshold reader (hypothesis
properties), and the corrections of grafanalib's output one by one."""

from __future__ import annotations

import json
from typing import Any

import grafanalib.core as g
import pytest
from grafanalib._gen import DashboardEncoder
from hypothesis import given
from hypothesis import strategies as st

from llmobs.dashboards import modern
from llmobs.dashboards.panels import (
    COLUMNS,
    DATASOURCE,
    Cell,
    Query,
    Section,
    bargauge,
    heatmap,
    layout,
    stat,
    table,
    timeseries,
)


def emitted(panel: Any) -> dict[str, Any]:
    """A grafanalib object as the JSON grafanalib writes."""
    out: dict[str, Any] = json.loads(json.dumps(panel.to_json_data(), cls=DashboardEncoder))
    return out


def placed(panel: Any) -> Any:
    return layout([Section(None, (Cell(panel, 12, 8),))])[0]


cells = st.lists(st.tuples(st.integers(1, COLUMNS), st.integers(1, 12)), min_size=0, max_size=12)
sections = st.lists(
    st.tuples(st.one_of(st.none(), st.text(min_size=1, max_size=8)), cells, st.booleans()),
    min_size=1,
    max_size=5,
)


def build(spec: list[tuple[str | None, list[tuple[int, int]], bool]]) -> list[dict[str, Any]]:
    panels = [
        Section(
            title,
            tuple(
                Cell(stat(f"p{i}", [Query("up")], "none", "d"), w, h)
                for i, (w, h) in enumerate(sizes)
            ),
            collapsed=collapsed and title is not None,
        )
        for title, sizes, collapsed in spec
    ]
    return [emitted(p) for p in layout(panels)]


def flat(panels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [q for p in panels for q in (p, *p.get("panels", []))]


@given(sections)
def test_layout_stays_in_24_columns_without_overlap(spec: Any) -> None:
    taken: set[tuple[int, int]] = set()
    for panel in flat(build(spec)):
        pos = panel["gridPos"]
        assert pos["x"] >= 0 and pos["x"] + pos["w"] <= COLUMNS
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not taken & mine
        taken |= mine


@given(sections)
def test_layout_numbers_every_panel_once_in_reading_order(spec: Any) -> None:
    panels = flat(build(spec))
    assert [p["id"] for p in panels] == list(range(1, len(panels) + 1))
    tops = [(p["gridPos"]["y"], p["gridPos"]["x"]) for p in panels]
    assert tops == sorted(tops)


@given(sections)
def test_rows_hold_their_panels_only_when_collapsed(spec: Any) -> None:
    for panel in build(spec):
        if panel["type"] == "row" and not panel["collapsed"]:
            assert panel["panels"] == []


def test_a_cell_wider_than_the_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="size 25x8"):
        layout([Section(None, (Cell(stat("x", [Query("up")], "none", "d"), 25, 8),))])


legacy_steps = st.lists(
    st.fixed_dictionaries(
        {"color": st.sampled_from(["green", "red", "orange"])},
        optional={
            "value": st.one_of(st.none(), st.just("null"), st.floats(-1e6, 1e6)),
            "index": st.integers(0, 9),
            "op": st.just("gt"),
            "line": st.booleans(),
            "yaxis": st.just("left"),
        },
    ),
    max_size=6,
)


@given(st.one_of(legacy_steps, st.just(""), st.none()), st.booleans())
def test_thresholds_are_always_modern_steps(steps: Any, wrapped: bool) -> None:
    found = modern.thresholds({"mode": "absolute", "steps": steps} if wrapped else steps)
    assert found["mode"] == "absolute"
    assert found["steps"] and found["steps"][0]["value"] is None
    assert all(set(s) == {"color", "value"} for s in found["steps"])
    assert all(isinstance(s["value"], float) for s in found["steps"][1:])
    if isinstance(steps, list) and steps:
        valued = [s for s in steps[1:] if s.get("value") not in (None, "null")]
        assert [s["color"] for s in found["steps"]] == [s["color"] for s in steps[:1] + valued]
        assert [s["value"] for s in found["steps"][1:]] == [s["value"] for s in valued]


def test_grafanalib_legacy_thresholds_become_steps() -> None:
    legacy = emitted(g.BarGauge(title="b"))["options"]["fieldOptions"]["thresholds"]
    assert legacy[0]["value"] == "null" and "index" in legacy[0]
    assert modern.thresholds(legacy)["steps"] == [
        {"color": "green", "value": None},
        {"color": "red", "value": 80.0},
    ]


def test_the_bar_gauge_loses_grafana_6_field_options() -> None:
    raw = emitted(placed(bargauge("b", [Query("up")], "percentunit", "d", max_value=1)))
    assert "fieldOptions" in raw["options"]
    out = modern.panel(raw)
    assert "fieldOptions" not in out["options"]
    assert out["options"]["reduceOptions"] == {
        "calcs": ["lastNotNull"],
        "fields": "",
        "values": False,
    }
    defaults = out["fieldConfig"]["defaults"]
    assert (defaults["unit"], defaults["min"], defaults["max"]) == ("percentunit", 0, 1)


def test_the_heatmap_is_the_modern_one_on_le_buckets() -> None:
    raw = emitted(placed(heatmap("h", "sum by (le) (rate(x_bucket[1m]))", "s", "d")))
    assert raw["dataFormat"] == "tsbuckets" and raw["options"] == []
    out = modern.panel(raw)
    assert out["options"]["calculate"] is False
    assert out["options"]["yAxis"]["unit"] == "s"
    for legacy in ("cards", "color", "dataFormat", "heatmap", "xAxis", "yAxis", "tooltip"):
        assert legacy not in out
    assert out["targets"][0]["format"] == "heatmap"


def test_a_heatmap_that_would_rebucket_is_refused() -> None:
    raw = emitted(placed(g.Heatmap(title="h", dataFormat="timeseries")))
    with pytest.raises(ValueError, match="re-bucket"):
        modern.panel(raw)


def test_legacy_panel_types_are_refused() -> None:
    raw = emitted(placed(g.Graph(title="old", targets=[g.Target(expr="up", refId="A")])))
    with pytest.raises(ValueError, match="'graph' is not modern"):
        modern.panel(raw)


def test_targets_lose_grafanalib_legacy_fields() -> None:
    raw = emitted(placed(timeseries("t", [Query("up", "{{pod}}")], "s", "d")))
    assert raw["targets"][0]["intervalFactor"] == 2 and raw["targets"][0]["step"] == 10
    (target,) = modern.panel(raw)["targets"]
    assert target == {
        "datasource": DATASOURCE,
        "editorMode": "code",
        "expr": "up",
        "instant": False,
        "legendFormat": "{{pod}}",
        "range": True,
        "refId": "A",
    }


def test_tables_run_instant_queries_as_tables() -> None:
    queries = [Query("up", "up"), Query("kv", "KV cache", unit="percentunit")]
    out = modern.panel(emitted(placed(table("t", queries, "d"))))
    assert [(t["refId"], t["instant"], t["format"]) for t in out["targets"]] == [
        ("A", True, "table"),
        ("B", True, "table"),
    ]
    merge, organize = out["transformations"]
    assert merge["id"] == "merge" and organize["id"] == "organize"
    assert organize["options"]["renameByName"] == {"Value #A": "up", "Value #B": "KV cache"}
    assert organize["options"]["excludeByName"] == {"Time": True}
    assert out["fieldConfig"]["overrides"] == [
        {
            "matcher": {"id": "byName", "options": "KV cache"},
            "properties": [{"id": "unit", "value": "percentunit"}],
        }
    ]


def test_stats_have_no_nulls_or_string_steps() -> None:
    raw = emitted(placed(g.Stat(title="s", targets=[g.Target(expr="up", refId="A")])))
    assert raw["fieldConfig"]["defaults"]["thresholds"]["steps"] == ""
    out = modern.panel(raw)
    assert out["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "green", "value": None}
    ]
    assert json.dumps(out).count("null") == 1  # the base step's value, nothing else


def test_an_expanded_row_nested_by_grafanalib_is_flattened() -> None:
    inner = placed(stat("s", [Query("up")], "none", "d"))
    row = g.RowPanel(
        title="r", collapsed=False, panels=[inner], gridPos=g.GridPos(1, 24, 0, 0), id=9
    )
    out = list(modern.panels([emitted(row)]))
    assert [p["type"] for p in out] == ["row", "stat"]
    assert out[0]["panels"] == []
