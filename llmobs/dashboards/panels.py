"""Panels as grafanalib objects, one helper per modern panel type, and the board's grid.

The helpers give grafanalib only what it emits correctly (titles, targets, units, legend
and tooltip options) and leave the rest to ``llmobs.dashboards.modern``, which rewrites the
shapes grafanalib gets wrong (legacy bar gauge and heatmap models, threshold objects, rows).
``layout`` flows sections of cells left to right on the 24-column grid and numbers panels.
Pure: builds objects, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import attr
import grafanalib.core as g

from llmobs.promql.syntax import Expr

COLUMNS = 24
DATASOURCE_VARIABLE = "datasource"
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": "${" + DATASOURCE_VARIABLE + "}"}

# Units (Grafana's ids).
SECONDS = "s"
RATIO = "percentunit"
REQUESTS_PER_S = "reqps"
PER_S = "short"  # tokens or events per second; the title says which
COUNT = "short"
NONE = "none"

Steps = tuple[tuple[str, float | None], ...]
# Threshold steps: the first is the base colour (value None).
BASE: Steps = (("green", None),)
HIGH_IS_BAD_RATIO: Steps = (("green", None), ("orange", 0.8), ("red", 0.95))
ANY_IS_BAD: Steps = (("green", None), ("red", 1.0))
OVER_ONE_IS_BAD: Steps = (("green", None), ("orange", 0.9), ("red", 1.0))


@dataclass(frozen=True)
class Query:
    """One target: a PromQL expression, its legend (Grafana's ``{{label}}`` form)."""

    expr: Expr
    legend: str = ""
    instant: bool = False
    unit: str | None = None  # a table column's unit, when not the table's


def steps(pairs: Steps) -> list[dict[str, Any]]:
    """Threshold steps as Grafana's ``{"color", "value"}`` objects."""
    return [{"color": color, "value": value} for color, value in pairs]


def _targets(queries: Sequence[Query], fmt: str = "time_series") -> list[g.Target]:
    return [
        g.Target(
            expr=q.expr,
            legendFormat=q.legend,
            refId=chr(ord("A") + i),
            instant=q.instant,
            format=fmt,
            datasource=DATASOURCE,
        )
        for i, q in enumerate(queries)
    ]


def timeseries(
    title: str,
    queries: Sequence[Query],
    unit: str,
    description: str,
    *,
    max_value: float | None = None,
    stack: bool = False,
    thresholds: Steps = BASE,
    threshold_lines: bool = False,
) -> g.TimeSeries:
    """Lines over time (stacked areas with ``stack``), a table legend with mean and max."""
    return g.TimeSeries(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        unit=unit,
        fillOpacity=25 if stack else 10,
        stacking={"mode": "normal", "group": "A"} if stack else {"mode": "none", "group": "A"},
        showPoints="never",
        legendDisplayMode="table",
        legendCalcs=["mean", "max", "lastNotNull"],
        tooltipMode="multi",
        tooltipSort="desc",
        thresholds=steps(thresholds),
        thresholdsStyleMode="line" if threshold_lines else "off",
        extraJson={"fieldConfig": {"defaults": _range(0, max_value)}},
    )


def _range(min_value: float | None, max_value: float | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if min_value is not None:
        out["min"] = min_value
    if max_value is not None:
        out["max"] = max_value
    return out


def stat(
    title: str,
    queries: Sequence[Query],
    unit: str,
    description: str,
    *,
    thresholds: Steps = BASE,
    max_value: float | None = None,
) -> g.Stat:
    """The last value, coloured by ``thresholds``, over a sparkline."""
    return g.Stat(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        format=unit,
        reduceCalc="lastNotNull",
        colorMode="value",
        graphMode="area",
        noValue="No data",
        thresholds=steps(thresholds),
        extraJson={"fieldConfig": {"defaults": _range(0, max_value)}},
    )


def bargauge(
    title: str,
    queries: Sequence[Query],
    unit: str,
    description: str,
    *,
    max_value: float,
    thresholds: Steps = BASE,
) -> g.BarGauge:
    """One bar per series (its last value) from 0 to ``max_value``."""
    return g.BarGauge(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets(queries),
        format=unit,
        calc="lastNotNull",
        min=0,
        max=max_value,
        displayMode="gradient",
        orientation="horizontal",
        thresholds=steps(thresholds),
    )


def heatmap(title: str, buckets: Expr, unit: str, description: str) -> g.Heatmap:
    """A Prometheus histogram's ``le`` buckets as they are (never re-bucketed): ``buckets``
    must be rated bucket counts summed ``by (le)``."""
    return g.Heatmap(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=_targets([Query(buckets, "{{le}}")], fmt="heatmap"),
        dataFormat="tsbuckets",
        yAxis=g.YAxis(format=unit),
        hideZeroBuckets=True,
    )


def table(title: str, queries: Sequence[Query], description: str, unit: str = NONE) -> g.Table:
    """Instant queries as one table merged on their labels: a column per query, named by
    its legend and in its own unit, without the time column."""
    instant = [Query(q.expr, q.legend, instant=True) for q in queries]
    targets = _targets(instant, fmt="table")
    names = {f"Value #{t.refId}": q.legend for t, q in zip(targets, queries, strict=True)}
    organize = {"excludeByName": {"Time": True}, "indexByName": {}, "renameByName": names}
    return g.Table(
        title=title,
        description=description,
        dataSource=DATASOURCE,
        targets=targets,
        unit=unit,
        overrides=[
            {
                "matcher": {"id": "byName", "options": q.legend},
                "properties": [{"id": "unit", "value": q.unit}],
            }
            for q in queries
            if q.unit is not None
        ],
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": organize},
        ],
    )


@dataclass(frozen=True)
class Cell:
    """A panel and its size on the grid (``w`` of 24 columns, ``h`` rows of 30 px)."""

    panel: g.Panel
    w: int
    h: int


@dataclass(frozen=True)
class Section:
    """Cells under a row titled ``title`` (none: at the top of the board, without a row)."""

    title: str | None
    cells: tuple[Cell, ...]
    collapsed: bool = False


def layout(sections: Sequence[Section]) -> list[g.Panel]:
    """Every panel placed and numbered (ids from 1, rows included): cells flow left to right
    and wrap at 24 columns; a row spans the board. An expanded row's panels follow it; a
    collapsed row holds its panels."""
    out: list[g.Panel] = []
    y = 0
    ids = iter(range(1, 10_000))
    for section in sections:
        row = None
        if section.title is not None:
            row = g.RowPanel(
                title=section.title,
                id=next(ids),
                gridPos=g.GridPos(h=1, w=COLUMNS, x=0, y=y),
                collapsed=section.collapsed,
            )
            y += 1
        placed: list[g.Panel] = []
        x = line = 0
        for cell in section.cells:
            if not 0 < cell.w <= COLUMNS or cell.h <= 0:
                raise ValueError(f"panel {cell.panel.title!r}: size {cell.w}x{cell.h}")
            if x + cell.w > COLUMNS:
                y, x, line = y + line, 0, 0
            pos = g.GridPos(h=cell.h, w=cell.w, x=x, y=y)
            placed.append(attr.evolve(cell.panel, gridPos=pos, id=next(ids)))
            x, line = x + cell.w, max(line, cell.h)
        y += line
        if row is None:
            out.extend(placed)
        elif section.collapsed:
            out.append(attr.evolve(row, panels=placed))
        else:
            out.append(row)
            out.extend(placed)
    return out
