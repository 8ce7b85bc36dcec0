"""Drawing one panel of a board preview with matplotlib: timeseries, stat, bar gauge,
heatmap (Prometheus ``le`` buckets, as Grafana's ``calculate: false`` shows them) and table.

Each drawer gets the figure, the panel's content box in pixels, the panel JSON and its query
results, and adds its own axes. Nothing here queries or writes anything.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from llmobs.dashboards.preview_format import (
    bucket_bound,
    calc_of,
    field_defaults,
    format_value,
    legend_text,
    reduce,
    threshold_colour,
    thresholds,
    unit_of,
)
from llmobs.dashboards.queries import Result, Series

DPI = 100
FONT = 7.0  # points: ticks, legends, table cells
PALETTE = (
    "#7eb26d",
    "#eab839",
    "#6ed0e0",
    "#ef843c",
    "#e24d42",
    "#1f78c1",
    "#ba43a9",
    "#705da0",
    "#508642",
    "#cca300",
)
MAX_LEGEND = 12
LE = "le"


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle in pixels from the canvas's top-left corner, on a canvas of a known size."""

    x: float
    y: float
    w: float
    h: float
    canvas_w: float
    canvas_h: float

    def rect(self) -> tuple[float, float, float, float]:
        """As matplotlib's ``add_axes`` takes it: left, bottom, width, height in fractions."""
        return (
            self.x / self.canvas_w,
            1 - (self.y + self.h) / self.canvas_h,
            max(self.w, 1) / self.canvas_w,
            max(self.h, 1) / self.canvas_h,
        )

    def inset(self, left: float, top: float, right: float, bottom: float) -> Box:
        return Box(
            self.x + left,
            self.y + top,
            max(self.w - left - right, 1),
            max(self.h - top - bottom, 1),
            self.canvas_w,
            self.canvas_h,
        )

    def columns(self, n: int) -> list[Box]:
        width = self.w / n
        return [
            Box(self.x + i * width, self.y, width, self.h, self.canvas_w, self.canvas_h)
            for i in range(n)
        ]


Named = tuple[str, Series]


def named_series(results: Sequence[Result]) -> list[Named]:
    """Every series of the panel's targets, in target order, with its legend name."""
    return [(legend_text(r.target.legend, s.labels, r.query), s) for r in results for s in r.series]


def has_data(results: Sequence[Result]) -> bool:
    return any(v is not None for r in results for s in r.series for _, v in s.points)


def _day(t: float) -> float:
    """Unix seconds as matplotlib's date number (days since its default 1970 epoch)."""
    return t / 86_400


def _times(series: Series) -> list[float]:
    return [_day(t) for t, _ in series.points]


def _values(series: Series) -> list[float]:
    return [math.nan if v is None else v for _, v in series.points]


def _clock(ax: Axes, results: Sequence[Result]) -> None:
    """A UTC time axis, with seconds when the range is under ten minutes."""
    times = [t for r in results for s in r.series for t, _ in s.points]
    fmt = "%H:%M:%S" if times and max(times) - min(times) < 600 else "%H:%M"
    ax.xaxis_date(tz=UTC)
    ax.xaxis.set_major_formatter(
        FuncFormatter(lambda v, _: datetime.fromtimestamp(v * 86_400, UTC).strftime(fmt))
    )


def _stacked(ax: Axes, lines: Sequence[Named]) -> None:
    """Each series on top of the ones before it (Grafana's normal stacking; a missing
    point adds nothing)."""
    times = sorted({t for _, s in lines for t, _ in s.points})
    xs = [_day(t) for t in times]
    base = np.zeros(len(times))
    for i, (name, series) in enumerate(lines):
        by_time = dict(series.points)
        top = base + np.array([by_time.get(t) or 0.0 for t in times])
        colour = PALETTE[i % len(PALETTE)]
        ax.fill_between(xs, base, top, color=colour, alpha=0.25, lw=0)
        ax.plot(xs, top, lw=1, label=name, color=colour)
        base = top


def _style(ax: Axes) -> None:
    ax.set_facecolor("none")
    ax.tick_params(labelsize=FONT, length=2, pad=1)
    ax.grid(alpha=0.25, lw=0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _fit_font(text: str, box: Box, share: float) -> float:
    """A font size (points) that fits ``text`` on one line in ``share`` of the box height."""
    by_height = box.h * share
    by_width = box.w * 0.9 / max(len(text) * 0.75, 1)
    return max(min(by_height, by_width) * 72 / DPI, 5.0)


def timeseries(
    figure: Figure, box: Box, panel: Mapping[str, Any], results: Sequence[Result]
) -> None:
    ax = figure.add_axes(box.inset(46, 0, 4, 16).rect())
    _style(ax)
    unit = unit_of(panel)
    lines = named_series(results)
    custom = field_defaults(panel).get("custom", {})
    if custom.get("stacking", {}).get("mode", "none") != "none":
        _stacked(ax, lines)
    else:
        for i, (name, series) in enumerate(lines):
            colour = PALETTE[i % len(PALETTE)]
            ax.plot(_times(series), _values(series), lw=1, label=name, color=colour)
    mode = custom.get("thresholdsStyle", {}).get("mode", "off")
    if mode != "off":
        for start, step_colour in thresholds(panel):
            if start is not None:
                ax.axhline(start, color=step_colour, lw=1, ls="--")
    defaults = field_defaults(panel)
    low, high = defaults.get("min"), defaults.get("max")
    ax.set_ylim(bottom=low if isinstance(low, int | float) else None)
    if isinstance(high, int | float):
        ax.set_ylim(top=high)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit, "")))
    _clock(ax, results)
    if lines:
        handles, labels = ax.get_legend_handles_labels()
        more = len(handles) - MAX_LEGEND
        ax.legend(
            handles[:MAX_LEGEND],
            [*labels[: MAX_LEGEND - 1], f"... {more + 1} more"] if more > 0 else labels,
            fontsize=FONT - 1,
            loc="upper left",
            framealpha=0.6,
            handlelength=1.2,
            borderaxespad=0.2,
        )


def stat(figure: Figure, box: Box, panel: Mapping[str, Any], results: Sequence[Result]) -> None:
    unit, calc = unit_of(panel), calc_of(panel)
    no_value = str(field_defaults(panel).get("noValue", "No data"))
    shown = named_series(results)[:6]
    sparkline = panel.get("options", {}).get("graphMode", "area") != "none"
    for cell, (name, series) in zip(box.columns(len(shown)), shown, strict=True):
        value = reduce(series.points, calc)
        text = format_value(value, unit, no_value)
        if sparkline and len(series.points) > 1:
            ax = figure.add_axes(cell.inset(2, cell.h * 0.55, 2, 2).rect())
            ax.set_axis_off()
            ax.fill_between(_times(series), _values(series), alpha=0.15, color="#5794f2")
        label_share = 0.16 if len(shown) > 1 else 0.0
        figure.text(
            *_centre(cell.inset(0, 0, 0, cell.h * label_share)),
            text,
            fontsize=_fit_font(text, cell, 0.4),
            fontweight="bold",
            color=threshold_colour(panel, value),
            ha="center",
            va="center",
        )
        if label_share:
            figure.text(
                *_centre(cell.inset(0, cell.h * (1 - label_share), 0, 0)),
                name,
                fontsize=min(FONT, _fit_font(name, cell, label_share)),
                ha="center",
                va="center",
            )


def _centre(box: Box) -> tuple[float, float]:
    left, bottom, width, height = box.rect()
    return left + width / 2, bottom + height / 2


def _by_bound(lines: list[Named]) -> list[Named]:
    if lines and all(LE in s.labels for _, s in lines):
        return sorted(lines, key=lambda n: bucket_bound(n[1].labels[LE]))
    return lines


def bargauge(figure: Figure, box: Box, panel: Mapping[str, Any], results: Sequence[Result]) -> None:
    unit, calc = unit_of(panel), calc_of(panel)
    lines = _by_bound(named_series(results))
    values = [reduce(s.points, calc) for _, s in lines]
    defaults = field_defaults(panel)
    known = [v for v in values if v is not None]
    low = defaults.get("min", 0)
    high = defaults.get("max", max(known, default=1) or 1)
    vertical = panel.get("options", {}).get("orientation") == "vertical"
    ax = figure.add_axes(box.inset(4 if vertical else 90, 2, 4, 28 if vertical else 4).rect())
    _style(ax)
    positions = list(range(len(lines)))
    heights = [v or 0.0 for v in values]
    colours = [threshold_colour(panel, v) for v in values]
    names = [name for name, _ in lines]
    if vertical:
        ax.bar(positions, heights, color=colours)
        ax.set_ylim(low, high)
        ax.set_xticks(positions, names, fontsize=FONT - 1, rotation=45, ha="right")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit, "")))
    else:
        ax.barh(positions, heights, color=colours)
        ax.set_xlim(low, high)
        ax.invert_yaxis()
        ax.set_yticks(positions, names, fontsize=FONT - 1)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: format_value(v, unit, "")))
        for y, value in zip(positions, values, strict=True):
            ax.text(low, y, " " + format_value(value, unit), va="center", fontsize=FONT - 1)


def bucket_matrix(
    lines: Sequence[Series],
) -> tuple[list[float], list[float], np.ndarray[Any, np.dtype[np.float64]]]:
    """Cumulative ``le`` series as (bucket bounds ascending, times, per-bucket values with a
    row per bucket): each bucket less the one below it, as Grafana's heatmap format does;
    NaN where a bucket has no point at a time."""
    ordered = sorted(lines, key=lambda s: bucket_bound(s.labels[LE]))
    times = sorted({t for s in ordered for t, _ in s.points})
    column = {t: i for i, t in enumerate(times)}
    cumulative = np.full((len(ordered), len(times)), np.nan)
    for row, series in enumerate(ordered):
        for t, v in series.points:
            if v is not None:
                cumulative[row, column[t]] = v
    below = np.vstack([np.zeros((1, len(times))), cumulative[:-1]])
    per_bucket = np.clip(cumulative - np.nan_to_num(below), 0, None)
    return [bucket_bound(s.labels[LE]) for s in ordered], times, per_bucket


def heatmap(figure: Figure, box: Box, panel: Mapping[str, Any], results: Sequence[Result]) -> None:
    lines = [s for r in results for s in r.series if LE in s.labels]
    ax = figure.add_axes(box.inset(52, 0, 4, 16).rect())
    _style(ax)
    if not lines:
        return
    bounds, times, matrix = bucket_matrix(lines)
    options = panel.get("options", {})
    scheme = options.get("color", {}).get("scheme", "Blues")
    cmap = colormaps.get(scheme, colormaps["Blues"]).with_extremes(bad="white")
    exponent = options.get("color", {}).get("exponent", 0.5)
    norm: Normalize = (
        PowerNorm(gamma=float(exponent), vmin=0)
        if options.get("color", {}).get("scale") == "exponential"
        else Normalize(vmin=0)
    )
    shown = np.ma.masked_where(~(matrix > 0), matrix)
    x0, x1 = _day(times[0]), _day(times[-1])
    ax.imshow(
        shown,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        cmap=cmap,
        norm=norm,
        extent=(x0, x1 if x1 > x0 else x0 + 1e-5, 0, len(bounds)),
    )
    _clock(ax, results)
    unit = options.get("yAxis", {}).get("unit") or unit_of(panel)
    step = max(1, len(bounds) // 8)
    ticks = list(range(len(bounds) - 1, -1, -step))  # +Inf always; each bound on its row's top
    ax.set_yticks(
        [i + 1 for i in ticks],
        [format_value(bounds[i], unit, "+Inf") for i in ticks],
        fontsize=FONT - 1,
    )


def table(figure: Figure, box: Box, panel: Mapping[str, Any], results: Sequence[Result]) -> None:
    """One row per label set, the labels' columns, then one value column per target (a
    Grafana ``merge`` of instant queries)."""
    unit, calc = unit_of(panel), calc_of(panel)
    headers = [
        r.target.legend if r.target.legend and "{{" not in r.target.legend else r.target.ref_id
        for r in results
    ]
    rows: dict[tuple[tuple[str, str], ...], list[str]] = {}
    for column, result in enumerate(results):
        for series in result.series:
            key = tuple(sorted((k, v) for k, v in series.labels.items() if k != "__name__"))
            row = rows.setdefault(key, [""] * len(results))
            row[column] = format_value(reduce(series.points, calc), unit)
    label_names = sorted({k for key in rows for k, _ in key})
    fit = max(int(box.h // 15) - 1, 1)
    cells = [[dict(key).get(n, "") for n in label_names] + values for key, values in rows.items()]
    ax = figure.add_axes(box.rect())
    ax.set_axis_off()
    shown = sorted(cells)[:fit]
    if len(cells) > fit:  # the last row that fits says how many do not
        hidden = len(cells) - fit + 1
        shown[-1] = [f"... {hidden} more", *[""] * (len(shown[-1]) - 1)]
    drawn = ax.table(
        cellText=shown or [[""] * (len(label_names) + len(headers))],
        colLabels=[*label_names, *headers],
        loc="upper center",
        cellLoc="left",
    )
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(FONT - 1)
    drawn.scale(1, 0.9)


Drawer = Callable[[Figure, Box, Mapping[str, Any], Sequence[Result]], None]

DRAWERS: Mapping[str, Drawer] = {
    "timeseries": timeseries,
    "stat": stat,
    "bargauge": bargauge,
    "gauge": bargauge,
    "heatmap": heatmap,
    "table": table,
}
