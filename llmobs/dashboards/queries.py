"""Every target of a Grafana board, run on a Prometheus through its HTTP API as Grafana would.

``targets`` walks a board (rows, nested panels) and lists its queries; ``run`` interpolates
each with ``llmobs.dashboards.variables`` and sends it to ``/api/v1/query_range`` (or
``/api/v1/query`` for instant targets). Pure but for ``run``, the thin I/O shell. A query
Prometheus refuses is a Result with ``error`` set; a value Prometheus gives as NaN is None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Target:
    """One query of one panel, as the board spells it (variables not yet substituted)."""

    board_uid: str
    panel_id: int
    panel_title: str
    panel_type: str
    ref_id: str
    expr: str
    legend: str | None
    instant: bool


@dataclass(frozen=True, slots=True)
class Series:
    """One series a query returned: its labels and its (unix seconds, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float | None], ...]


@dataclass(frozen=True, slots=True)
class Result:
    """What Prometheus answered for one target: ``query`` is the interpolated expression."""

    target: Target
    query: str
    series: tuple[Series, ...]
    error: str | None


def targets(board: Mapping[str, Any]) -> list[Target]:
    """Every Prometheus target of every panel of ``board``, rows' nested panels included."""
    raise NotImplementedError


def run(
    board: Mapping[str, Any],
    prometheus_url: str,
    variables: Mapping[str, Sequence[str]],
    start: float,
    end: float,
    step: float,
) -> list[Result]:
    """Run every target of ``board`` from ``start`` to ``end`` (unix seconds) every ``step``."""
    raise NotImplementedError
