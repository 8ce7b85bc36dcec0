"""Every generated board is modern Grafana JSON that import, the API, file provisioning and
the ConfigMap sidecar all accept: one test per rule of issue 12, each over all boards."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from llmobs import strictjson
from llmobs.dashboards import boards
from llmobs.dashboards.build import render

BOARDS = boards()
MODERN = {"timeseries", "stat", "bargauge", "heatmap", "table"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
_UID = re.compile(r"[A-Za-z0-9_-]{1,40}\Z")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_BUILTIN = {"__rate_interval", "__interval", "__range"}


def all_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])


def data_panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    return (p for p in all_panels(board) if p["type"] != "row")


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


@pytest.fixture(params=sorted(BOARDS))
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    return BOARDS[request.param]


def test_the_three_boards() -> None:
    assert sorted(BOARDS) == [
        "llmobs-autoscaler.json",
        "llmobs-engines.json",
        "llmobs-serving.json",
    ]


def test_strict_json_that_reads_back_the_same(board: dict[str, Any]) -> None:
    text = render(board)
    assert strictjson.loads(text) == board
    assert json.loads(text) == board


def test_uids_are_stable_short_and_unique() -> None:
    uids = [b["uid"] for b in BOARDS.values()]
    assert all(_UID.match(uid) for uid in uids), uids
    assert len(set(uids)) == len(uids)
    assert uids == [b["uid"] for b in boards().values()]


def test_new_dashboard_shape(board: dict[str, Any]) -> None:
    assert board["id"] is None
    assert board["schemaVersion"] >= 39
    assert board["title"] and board["editable"] is True
    for legacy in ("rows", "style", "hideControls", "sharedCrosshair", "gnetId"):
        assert legacy not in board


def test_a_datasource_variable_of_type_prometheus(board: dict[str, Any]) -> None:
    variables = board["templating"]["list"]
    first = variables[0]
    assert (first["name"], first["type"], first["query"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    for variable in variables[1:]:
        assert variable["datasource"] == DATASOURCE, variable["name"]


def test_every_panel_and_target_reads_the_datasource_variable(board: dict[str, Any]) -> None:
    for panel in data_panels(board):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]


def test_import_inputs_and_requirements(board: dict[str, Any]) -> None:
    (source,) = board["__inputs"]
    assert (source["name"], source["type"], source["pluginId"]) == (
        "datasource",
        "datasource",
        "prometheus",
    )
    required = {(r["type"], r["id"]) for r in board["__requires"]}
    assert ("grafana", "grafana") in required and ("datasource", "prometheus") in required
    used = {p["type"] for p in data_panels(board)}
    assert {i for t, i in required if t == "panel"} == used


def test_modern_panel_types_only(board: dict[str, Any]) -> None:
    for panel in all_panels(board):
        assert panel["type"] in MODERN | {"row"}, panel["title"]


def test_heatmaps_show_the_le_buckets_as_they_are(board: dict[str, Any]) -> None:
    for panel in data_panels(board):
        if panel["type"] == "heatmap":
            assert panel["options"]["calculate"] is False, panel["title"]
            for target in panel["targets"]:
                assert target["format"] == "heatmap"
                assert target["legendFormat"] == "{{le}}"
                assert "_bucket" in target["expr"] and "by (le)" in target["expr"]


def test_ratios_are_percentunit_up_to_one(board: dict[str, Any]) -> None:
    for panel in data_panels(board):
        defaults = panel["fieldConfig"]["defaults"]
        if defaults.get("unit") == "percentunit":
            assert defaults.get("max") == 1 and defaults.get("min") == 0, panel["title"]


def test_thresholds_are_modern_steps(board: dict[str, Any]) -> None:
    for panel in data_panels(board):
        thresholds = panel["fieldConfig"]["defaults"].get("thresholds")
        if thresholds is None:
            continue
        assert thresholds["mode"] == "absolute"
        steps = thresholds["steps"]
        assert steps and steps[0]["value"] is None, panel["title"]
        values = [s["value"] for s in steps[1:]]
        assert all(isinstance(v, float) for v in values), panel["title"]
        assert values == sorted(values), panel["title"]
        assert all(set(s) == {"color", "value"} for s in steps), panel["title"]


def test_panel_ids_are_unique(board: dict[str, Any]) -> None:
    ids = [p["id"] for p in all_panels(board)]
    assert all(isinstance(i, int) and i > 0 for i in ids)
    assert len(ids) == len(set(ids))


def test_grid_positions_fit_24_columns_without_overlap(board: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for panel in all_panels(board):
        pos = panel["gridPos"]
        assert pos["w"] > 0 and pos["h"] > 0 and pos["x"] >= 0 and pos["y"] >= 0
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_expanded_rows_are_followed_by_their_panels(board: dict[str, Any]) -> None:
    panels = board["panels"]
    rows = [i for i, p in enumerate(panels) if p["type"] == "row"]
    assert rows, "every board has rows"
    for i in rows:
        row = panels[i]
        if row["collapsed"]:
            assert row["panels"], row["title"]
            continue
        assert row["panels"] == [], row["title"]
        following = panels[i + 1]
        assert following["type"] != "row", f"row {row['title']!r} has no panels after it"
        assert following["gridPos"]["y"] == row["gridPos"]["y"] + 1


def test_panels_are_in_reading_order(board: dict[str, Any]) -> None:
    positions = [(p["gridPos"]["y"], p["gridPos"]["x"]) for p in board["panels"]]
    assert positions == sorted(positions)


def test_target_ref_ids_are_unique_per_panel(board: dict[str, Any]) -> None:
    for panel in data_panels(board):
        refs = [t["refId"] for t in panel["targets"]]
        assert all(refs) and len(refs) == len(set(refs)), panel["title"]


def test_every_variable_used_is_defined(board: dict[str, Any]) -> None:
    defined = {v["name"] for v in board["templating"]["list"]} | _BUILTIN
    used = {m for text in strings(board["panels"]) for m in _VARIABLE.findall(text)}
    used |= {m for v in board["templating"]["list"] for m in _VARIABLE.findall(str(v.get("query")))}
    assert used <= defined, used - defined


def test_panels_have_titles_and_descriptions(board: dict[str, Any]) -> None:
    titles = [p["title"] for p in data_panels(board)]
    assert all(titles) and all(p["description"] for p in data_panels(board))
    assert len(titles) == len(set(titles)), "titles tell panels apart"


def test_each_board_links_to_the_others_by_their_shared_tag(board: dict[str, Any]) -> None:
    (link,) = board["links"]
    assert link["type"] == "dashboards" and link["keepTime"] and link["includeVars"]
    assert all(set(link["tags"]) <= set(other["tags"]) for other in BOARDS.values())
