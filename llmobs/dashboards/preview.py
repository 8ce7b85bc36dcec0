"""Board previews: each board's panels drawn as one PNG from real query results, laid out on
the board's 24-column grid as Grafana lays it out, for the README and for review (no
Grafana server is needed).

``render_board`` is pure drawing (a board and its ``queries.Result``s in, a PNG out);
``render_all`` is the thin shell that queries a Prometheus and writes one PNG per board.
matplotlib's Agg canvas is set on each figure: no global backend state, no display.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyBboxPatch

from llmobs.dashboards import queries
from llmobs.dashboards.preview_format import DEFAULT_DURATION_S, SCRAPE_INTERVAL_S
from llmobs.dashboards.preview_panels import DPI, DRAWERS, Box, has_data

COLUMNS = 24  # Grafana's grid
COLUMN_PX = 80  # 1920 px across: a wide screen
ROW_PX = 38  # a grid row: Grafana's 30 px cell and its 8 px margin
HEADER_PX = 56  # the board's title and time range
PAD_PX = 4
TITLE_PX = 18
POINTS = 240  # points per series across the range (Grafana picks about one per pixel)


@dataclass(frozen=True, slots=True)
class Preview:
    """One board's PNG and what its queries returned."""

    board: str
    path: Path
    results: tuple[queries.Result, ...]

    @property
    def empty(self) -> int:
        """Queries that returned no series (and no error)."""
        return sum(1 for r in self.results if not r.series and not r.error)

    @property
    def errors(self) -> tuple[str, ...]:
        """``panel title: error`` for each query Prometheus refused."""
        return tuple(f"{r.target.panel_title}: {r.error}" for r in self.results if r.error)


def panels(board: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The panels Grafana shows, in order: rows and the panels after them (a collapsed row
    shows as its header only, as in Grafana)."""
    return [p for p in board.get("panels", []) if isinstance(p, Mapping) and "gridPos" in p]


def canvas_size(board: Mapping[str, Any]) -> tuple[int, int]:
    """The PNG's width and height in pixels: 24 columns, and rows down to the lowest panel."""
    bottom = max((_grid(p)[1] + _grid(p)[3] for p in panels(board)), default=1)
    return COLUMNS * COLUMN_PX, HEADER_PX + bottom * ROW_PX


def _grid(panel: Mapping[str, Any]) -> tuple[int, int, int, int]:
    grid = panel["gridPos"]
    x = min(max(int(grid.get("x", 0)), 0), COLUMNS - 1)
    w = min(max(int(grid.get("w", 1)), 1), COLUMNS - x)
    return x, max(int(grid.get("y", 0)), 0), w, max(int(grid.get("h", 1)), 1)


def panel_box(panel: Mapping[str, Any], size: tuple[int, int]) -> Box:
    """Where ``panel`` is drawn on a canvas of ``size``: its grid cell less a small gap."""
    x, y, w, h = _grid(panel)
    return Box(
        x * COLUMN_PX + PAD_PX,
        HEADER_PX + y * ROW_PX + PAD_PX,
        w * COLUMN_PX - 2 * PAD_PX,
        h * ROW_PX - 2 * PAD_PX,
        *size,
    )


def step_for(duration: float) -> float:
    """The query step for a range: about ``POINTS`` points, in whole seconds, at least 1 s."""
    return float(max(1, math.ceil(duration / POINTS)))


def _draw_panel(
    figure: Figure,
    panel: Mapping[str, Any],
    results: Sequence[queries.Result],
    size: tuple[int, int],
) -> None:
    box = panel_box(panel, size)
    title = str(panel.get("title", ""))
    if panel.get("type") == "row":
        left, bottom, _, height = box.rect()
        suffix = "  (collapsed)" if panel.get("collapsed") else ""
        figure.text(left, bottom + height / 2, title + suffix, fontsize=11, fontweight="bold")
        figure.add_artist(_rule(figure, box))
        return
    left, bottom, width, height = box.rect()
    figure.add_artist(
        FancyBboxPatch(
            (left, bottom),
            width,
            height,
            boxstyle="round,pad=0,rounding_size=0.002",
            transform=figure.transFigure,
            facecolor="#fbfbfc",
            edgecolor="#d8d9da",
            lw=0.8,
            zorder=-1,  # under the panel's axes, which the figure draws at zorder 0
        )
    )
    figure.text(left + 6 / size[0], bottom + height - 4 / size[1], title, fontsize=8, va="top")
    content = content_box(box)
    drawer = DRAWERS.get(str(panel.get("type")))
    errors = [r.error for r in results if r.error]
    if drawer is None:
        _note(figure, content, f"{panel.get('type')} panel: not drawn in previews", "#6e6e6e")
    elif not has_data(results):
        _note(figure, content, "No data", "#6e6e6e")
    else:
        drawer(figure, content, panel, results)
    if errors:
        _note(figure, content.inset(0, content.h * 0.7, 0, 0), errors[0][:120], "#e02f44", 6)


def content_box(box: Box) -> Box:
    """A panel's box less its title: where its drawing goes."""
    return box.inset(4, TITLE_PX, 4, 4)


def _rule(figure: Figure, box: Box) -> Line2D:
    left, bottom, width, _ = box.rect()
    return Line2D(
        [left, left + width], [bottom, bottom], transform=figure.transFigure, color="#c7d0d9"
    )


def _note(figure: Figure, box: Box, text: str, colour: str, size: float = 10) -> None:
    left, bottom, width, height = box.rect()
    figure.text(
        left + width / 2,
        bottom + height / 2,
        text,
        ha="center",
        va="center",
        color=colour,
        fontsize=size,
        wrap=True,
    )


def render_board(
    board: Mapping[str, Any],
    results: Sequence[queries.Result],
    path: Path,
    subtitle: str = "",
) -> Path:
    """Draw ``board``'s panels from ``results`` (``queries.Result``s of any of its panels;
    a panel with none, or with only empty ones, says "No data") into the PNG ``path``, of
    ``canvas_size(board)`` pixels."""
    size = canvas_size(board)
    figure = Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    figure.text(
        PAD_PX / size[0], 1 - 10 / size[1], str(board.get("title", "")), fontsize=14, va="top"
    )
    if subtitle:
        figure.text(PAD_PX / size[0], 1 - 36 / size[1], subtitle, fontsize=8, color="#6e6e6e")
    by_panel: dict[int, list[queries.Result]] = {}
    for result in results:
        by_panel.setdefault(result.target.panel_id, []).append(result)
    for panel in panels(board):
        _draw_panel(figure, panel, by_panel.get(int(panel.get("id", -1)), []), size)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")  # an interrupted write leaves no PNG
    figure.savefig(partial, dpi=DPI, format="png")
    partial.replace(path)
    return path


def _subtitle(start: float, end: float, variables: Mapping[str, Sequence[str]]) -> str:
    def at(t: float) -> str:
        return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")

    chosen = "  ".join(f"{k}={'|'.join(v)}" for k, v in sorted(variables.items()))
    return f"{at(start)} to {at(end)} UTC" + (f"    {chosen}" if chosen else "")


def render_all(
    prometheus_url: str,
    out_dir: Path,
    *,
    variables: Mapping[str, Sequence[str]] | None = None,
    duration: float = DEFAULT_DURATION_S,
    end: float | None = None,
    boards: Mapping[str, Mapping[str, Any]] | None = None,
    scrape_interval: float = SCRAPE_INTERVAL_S,
) -> list[Preview]:
    """Query every target of every board (``llmobs.dashboards.boards()`` unless given) over
    the last ``duration`` seconds before ``end`` (now) and write ``out_dir/<board>.png``.

    ``variables`` and ``scrape_interval`` are as ``queries.run`` takes them.

    Raises:
        TargetUnreachable, TargetHTTPError: Prometheus cannot be asked (nothing is written
            when it cannot be asked at all).
        ConfigError: a variable that cannot be resolved (a value it does not offer).
    """
    if boards is None:
        from llmobs.dashboards import boards as all_boards

        boards = all_boards()
    chosen = dict(variables or {})
    stop = time.time() if end is None else end
    start = stop - duration
    previews = []
    for name, board in boards.items():
        step = step_for(duration)
        results = queries.run(
            board, prometheus_url, chosen, start, stop, step, scrape_interval=scrape_interval
        )
        path = render_board(
            board,
            results,
            out_dir / Path(name).with_suffix(".png").name,
            _subtitle(start, stop, chosen),
        )
        previews.append(Preview(board=name, path=path, results=tuple(results)))
    return previews
