"""Board previews drawn from query results: one PNG of the board's grid size, each panel
drawn where its gridPos puts it, "No data" where its queries returned nothing, the refusal
where Prometheus refused one; every panel of the real boards drawn. The results are data
(``queries.Result``s built here), read back from the PNG's pixels."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.image import imread

from llmobs.dashboards import boards, queries
from llmobs.dashboards.preview import (
    COLUMN_PX,
    HEADER_PX,
    ROW_PX,
    canvas_size,
    content_box,
    panel_box,
    render_board,
    step_for,
)
from llmobs.dashboards.preview_panels import bucket_matrix
from llmobs.dashboards.queries import Result, Series

T0 = 1_764_900_000.0
Image = np.ndarray[Any, np.dtype[np.float32]]


def _points(f: Any, n: int = 60, step: float = 5.0) -> tuple[tuple[float, float | None], ...]:
    return tuple((T0 + i * step, f(i)) for i in range(n))


def _panel(pid: int, kind: str, x: int, y: int, w: int, h: int, **extra: Any) -> dict[str, Any]:
    grid = {"x": x, "y": y, "w": w, "h": h}
    return {"id": pid, "type": kind, "title": f"{kind} {pid}", "gridPos": grid, **extra}


def _result(
    panel: Mapping[str, Any], series: tuple[Series, ...], error: str | None = None, **kw: Any
) -> Result:
    target = queries.Target(
        board_uid="t",
        panel_id=panel["id"],
        panel_title=panel["title"],
        panel_type=panel["type"],
        ref_id=kw.get("ref_id", "A"),
        expr="x",
        legend=kw.get("legend"),
        instant=kw.get("instant", False),
    )
    return Result(target=target, query="x", series=series, error=error)


RATIO = {"defaults": {"unit": "percentunit", "min": 0, "max": 1}}
PANELS = {
    "row": _panel(1, "row", 0, 0, 24, 1),
    "stat": _panel(2, "stat", 0, 1, 6, 4, fieldConfig={"defaults": {"unit": "reqps"}}),
    "empty": _panel(3, "stat", 6, 1, 6, 4),
    "bargauge": _panel(4, "bargauge", 12, 1, 12, 4, fieldConfig=RATIO),
    "timeseries": _panel(5, "timeseries", 0, 5, 8, 8, fieldConfig={"defaults": {"unit": "s"}}),
    "heatmap": _panel(6, "heatmap", 8, 5, 8, 8, options={"calculate": False}),
    "table": _panel(7, "table", 16, 5, 8, 8),
    "refused": _panel(8, "timeseries", 0, 13, 12, 6),
    "collapsed": _panel(9, "row", 0, 19, 24, 1, collapsed=True, panels=[]),
}
LES = ("128", "512", "2048", "+Inf")


def _results() -> list[Result]:
    wave = _points(lambda i: 3 + math.sin(i / 8))
    return [
        _result(PANELS["stat"], (Series({}, wave),)),
        _result(PANELS["empty"], ()),
        _result(
            PANELS["bargauge"],
            tuple(Series({"pod": f"p{k}"}, ((T0, 0.3 * k),)) for k in range(3)),
            legend="{{pod}}",
            instant=True,
        ),
        _result(
            PANELS["timeseries"],
            tuple(Series({"role": r}, _points(lambda i: 0.1 * i)) for r in ("prefill", "decode")),
            legend="{{role}} p99",
        ),
        _result(
            PANELS["heatmap"],
            tuple(Series({"le": le}, _points(lambda i, k=k: k + 1.0)) for k, le in enumerate(LES)),
            legend="{{le}}",
        ),
        _result(
            PANELS["table"],
            tuple(Series({"pod": f"p{k}"}, ((T0, 0.5),)) for k in range(3)),
            instant=True,
        ),
        _result(PANELS["refused"], (), "bad_data: 1:5: parse error: unexpected end of input"),
    ]


BOARD = {"title": "Sample", "uid": "t", "panels": list(PANELS.values())}


def _png(path: Path) -> Image:
    image: Image = imread(path)
    return image


def _region(image: Image, box: Any) -> Image:
    region: Image = image[int(box.y) : int(box.y + box.h), int(box.x) : int(box.x + box.w), :3]
    return region


def _colourful(region: Image) -> int:
    """Pixels of a saturated colour (lines, bars, cells, coloured values; not grey text)."""
    return int(((region.max(axis=2) - region.min(axis=2)) > 0.25).sum())


def _reddish(region: Image) -> int:
    r, g, b = region[..., 0], region[..., 1], region[..., 2]
    return int(((r > 0.7) & (g < 0.45) & (b < 0.5)).sum())


def _dark(region: Image) -> int:
    return int((region.max(axis=2) < 0.6).sum())


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Image:
    path = render_board(BOARD, _results(), tmp_path_factory.mktemp("preview") / "sample.png")
    return _png(path)


def test_the_png_is_the_boards_grid_size(sample: Image) -> None:
    rows = 20  # the collapsed row ends at y 19 + h 1
    assert canvas_size(BOARD) == (24 * COLUMN_PX, HEADER_PX + rows * ROW_PX)
    assert sample.shape[:2] == (HEADER_PX + rows * ROW_PX, 24 * COLUMN_PX)


@pytest.mark.parametrize("name", ["stat", "bargauge", "timeseries", "heatmap"])
def test_each_panel_is_drawn_in_its_grid_cell(sample: Image, name: str) -> None:
    size = canvas_size(BOARD)
    assert _colourful(_region(sample, content_box(panel_box(PANELS[name], size)))) > 50


def test_a_table_has_a_row_per_label_set(sample: Image) -> None:
    region = _region(sample, content_box(panel_box(PANELS["table"], canvas_size(BOARD))))
    assert _dark(region) > 200  # the cells' borders and text


def test_no_data_is_said_not_drawn(sample: Image) -> None:
    region = _region(sample, content_box(panel_box(PANELS["empty"], canvas_size(BOARD))))
    assert _colourful(region) == 0 and _dark(region) > 20  # "No data", in grey


def test_a_refused_query_shows_why(sample: Image) -> None:
    region = _region(sample, content_box(panel_box(PANELS["refused"], canvas_size(BOARD))))
    assert _reddish(region) > 20


def test_panels_stay_inside_their_cells(sample: Image) -> None:
    """Nothing is drawn in the free cells right of the refused panel (x 12 to 24, y 13-19)."""
    size = canvas_size(BOARD)
    free = panel_box(_panel(0, "stat", 12, 13, 12, 6), size)
    assert _colourful(_region(sample, free)) == 0 and _dark(_region(sample, free)) == 0


@given(st.lists(st.floats(0, 1e6), min_size=2, max_size=8), st.integers(1, 5))
def test_buckets_are_drawn_per_bucket(increments: list[float], times: int) -> None:
    """Cumulative ``le`` series become each bucket's own count, which add up to +Inf's."""
    cumulative = np.cumsum(increments)
    les = [*(str(2.0**k) for k in range(len(increments) - 1)), "+Inf"]
    series = [
        Series({"le": le}, tuple((T0 + t, float(cumulative[k])) for t in range(times)))
        for k, le in reversed(list(enumerate(les)))  # in any order
    ]
    bounds, stamps, matrix = bucket_matrix(series)
    assert bounds == sorted(bounds) and math.isinf(bounds[-1]) and len(stamps) == times
    assert np.allclose(matrix.sum(axis=0), cumulative[-1], rtol=1e-9, atol=1e-6)
    assert np.allclose(matrix[:, 0], increments, rtol=1e-9, atol=1e-6)


def test_the_step_gives_a_few_hundred_points() -> None:
    assert step_for(60) == 1 and step_for(900) == 4 and step_for(3600) == 15


def _synthetic(board: Mapping[str, Any]) -> list[Result]:
    """Data for every target of ``board``: per role, or per bucket for heatmaps."""
    out = []
    for target in queries.targets(board):
        if target.panel_type == "heatmap":
            series = tuple(
                Series({"le": le}, _points(lambda i, k=k: float(k + i))) for k, le in enumerate(LES)
            )
        else:
            series = tuple(
                Series({"role": role, "pod": f"{role}-0", "le": "1"}, _points(lambda i: 0.5))
                for role in ("prefill", "decode")
            )
        out.append(Result(target=target, query=target.expr, series=series, error=None))
    return out


@pytest.mark.parametrize("name", sorted(boards()))
def test_every_panel_of_the_real_boards_is_drawn(name: str, tmp_path: Path) -> None:
    board = boards()[name]
    image = _png(render_board(board, _synthetic(board), tmp_path / "board.png"))
    size = canvas_size(board)
    assert image.shape[:2] == (size[1], size[0])
    for panel in board["panels"]:
        if panel["type"] in ("row", "table") or not panel.get("targets"):
            continue
        region = _region(image, content_box(panel_box(panel, size)))
        assert _colourful(region) > 20, f"{name}: {panel['title']} ({panel['type']}) not drawn"


grids = st.fixed_dictionaries(
    {
        "x": st.integers(-2, 30),
        "y": st.integers(-2, 60),
        "w": st.integers(-1, 30),
        "h": st.integers(-1, 20),
    }
)


@given(st.lists(grids, min_size=1, max_size=12))
def test_every_panel_is_drawn_inside_the_canvas(cells: list[dict[str, int]]) -> None:
    """Any gridPos, even one past the 24 columns or negative, is drawn within the PNG, and
    panels on cells that do not overlap get boxes that do not overlap."""
    board = {"panels": [{"id": i, "type": "stat", "gridPos": g} for i, g in enumerate(cells)]}
    size = canvas_size(board)
    boxes = [panel_box(p, size) for p in board["panels"]]
    for box in boxes:
        assert box.x >= 0 and box.x + box.w <= size[0] and box.y >= HEADER_PX
        assert box.y + box.h <= size[1] and box.w > 0 and box.h > 0
        left, bottom, width, height = box.rect()
        assert left >= 0 and left + width <= 1 + 1e-9 and bottom >= 0 and bottom + height <= 1

    def cell(g: dict[str, int]) -> set[tuple[int, int]]:
        x, w = min(max(g["x"], 0), 23), max(g["w"], 1)
        y, h = max(g["y"], 0), max(g["h"], 1)
        return {(c, r) for c in range(x, min(x + w, 24)) for r in range(y, y + h)}

    for i, a in enumerate(cells):
        for j in range(i):
            if not cell(a) & cell(cells[j]):
                one, two = boxes[i], boxes[j]
                apart_x = one.x + one.w <= two.x or two.x + two.w <= one.x
                apart_y = one.y + one.h <= two.y or two.y + two.h <= one.y
                assert apart_x or apart_y


def test_idle_and_odd_data_draw_without_warnings(tmp_path: Path) -> None:
    """An idle heatmap (every bucket 0), a single +Inf bucket, bars all at 0, a stacked
    series with a gap and a negative stat: drawn, with no warning from matplotlib (the
    tests turn warnings into errors)."""
    exponential = {"color": {"scale": "exponential", "exponent": 0.5}}
    stacked = {"defaults": {"custom": {"stacking": {"mode": "normal"}}}}
    odd = {
        "idle": _panel(1, "heatmap", 0, 0, 8, 8, options=exponential),
        "zero": _panel(2, "bargauge", 8, 0, 8, 8),
        "gap": _panel(3, "timeseries", 16, 0, 8, 8, fieldConfig=stacked),
        "inf": _panel(4, "heatmap", 0, 8, 8, 8),
        "negative": _panel(5, "stat", 8, 8, 8, 8),
    }
    flat = _points(lambda i: 0.0, n=5)
    results = [
        _result(odd["idle"], tuple(Series({"le": le}, flat) for le in LES)),
        _result(odd["zero"], (Series({"pod": "a"}, ((T0, 0.0),)),), instant=True),
        _result(odd["gap"], (Series({"pod": "a"}, ((T0, 1.0), (T0 + 5, None))),)),
        _result(odd["inf"], (Series({"le": "+Inf"}, ((T0, 3.0),)),)),
        _result(odd["negative"], (Series({}, ((T0, -2.0),)),)),
    ]
    board = {"title": "Odd", "panels": list(odd.values())}
    image = _png(render_board(board, results, tmp_path / "odd.png"))
    size = canvas_size(board)
    assert image.shape[:2] == (size[1], size[0])
    negative = _region(image, content_box(panel_box(odd["negative"], size)))
    assert _colourful(negative) > 50  # "-2", in the threshold colour
