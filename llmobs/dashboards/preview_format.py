"""What a preview writes inside a panel, as Grafana would: legends from ``legendFormat``,
values in the panel's unit, reductions of a series to one value, threshold colours; and the
``--var`` choices the previews are drawn with.

Pure functions over panel JSON and query points; no drawing, no I/O, and nothing heavy to
import (the command's defaults live here, for ``llmobs --help``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from llmobs.dashboards import variables as tv
from llmobs.errors import ConfigError

DEFAULT_DURATION_S = 900.0  # a preview's default time range: the last 15 minutes
SCRAPE_INTERVAL_S = 15.0  # Grafana's default for a Prometheus data source

_LEGEND_LABEL = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
AUTO_LEGEND = "__auto"  # Grafana's "Auto" legend: the series' labels, or the query

# Grafana's named colours (its palette), by base name; shades map to the same hue.
_COLOURS = {
    "green": "#73bf69",
    "red": "#f2495c",
    "orange": "#ff9830",
    "yellow": "#fade2a",
    "blue": "#5794f2",
    "purple": "#b877d9",
    "text": "#3d3d3d",
    "transparent": "none",
}
_SHADES = ("super-light-", "light-", "semi-dark-", "dark-")
DEFAULT_COLOUR = "#5794f2"


def legend_text(legend: str | None, labels: Mapping[str, str], query: str) -> str:
    """A series' name in a legend: ``{{label}}`` replaced by the label's value (empty when
    the series lacks it); with no legend, or ``__auto``, the metric name and its labels, or
    the query itself when the series has none (an aggregate)."""
    if legend and legend != AUTO_LEGEND:
        return _LEGEND_LABEL.sub(lambda m: labels.get(m.group(1), ""), legend)
    name = labels.get("__name__", "")
    rest = [f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__"]
    if not name and not rest:
        return query
    return name + ("{" + ", ".join(rest) + "}" if rest else "")


def _si(value: float, suffix: str = "") -> str:
    size = abs(value)
    for factor, prefix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if size >= factor:
            return f"{_number(value / factor)} {prefix}{suffix}".rstrip()
    return f"{_number(value)} {suffix}".rstrip()


def _number(value: float) -> str:
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 1e15:
        return f"{value:.3g}"
    if size >= 100:
        return f"{value:.0f}"
    if size >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    if size >= 0.01:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.2g}"


def _seconds(value: float) -> str:
    size = abs(value)
    if size == 0:
        return "0 s"
    for factor, name in ((3600.0, "h"), (60.0, "min"), (1.0, "s"), (1e-3, "ms"), (1e-6, "µs")):
        if size >= factor:
            return f"{_number(value / factor)} {name}"
    return f"{_number(value * 1e9)} ns"


def format_value(value: float | None, unit: str | None, no_value: str = "No data") -> str:
    """``value`` as Grafana shows it in ``unit`` (the common Grafana unit ids; an unknown
    unit is written after the number). None, NaN and infinities show ``no_value``."""
    if value is None or not math.isfinite(value):
        return no_value
    unit = unit or "short"
    if unit == "s":
        return _seconds(value)
    if unit == "ms":
        return _seconds(value / 1000)
    if unit == "percentunit":
        scaled = value * 100
        return f"{_number(scaled)}%" if math.isfinite(scaled) else f"{_number(value)} x 100%"
    if unit == "percent":
        return f"{_number(value)}%"
    if unit == "none":  # the number as it is, no K or M
        return _number(value)
    if unit in ("short", "locale"):
        return _si(value)
    if unit == "reqps":
        return _si(value, "req/s")
    if unit.startswith("suffix:"):
        return f"{_si(value)}{unit.removeprefix('suffix:')}"
    if unit.startswith("prefix:"):
        return f"{unit.removeprefix('prefix:')}{_si(value)}"
    return _si(value, unit)


def reduce(points: Sequence[tuple[float, float | None]], calc: str = "lastNotNull") -> float | None:
    """One value of a series, as a stat or bar gauge's ``reduceOptions.calcs`` asks
    (lastNotNull, last, first, firstNotNull, mean, max, min, sum, count); None when the
    series has no value to reduce."""
    values = [v for _, v in points if v is not None and not math.isnan(v)]
    if calc == "last":
        last = points[-1][1] if points else None
        return None if last is None or math.isnan(last) else last
    if calc == "first":
        first = points[0][1] if points else None
        return None if first is None or math.isnan(first) else first
    if calc == "count":
        return float(len(values))
    if not values:
        return None
    if calc == "firstNotNull":
        return values[0]
    if calc == "mean":
        return math.fsum(values) / len(values)
    if calc == "max":
        return max(values)
    if calc == "min":
        return min(values)
    if calc == "sum":
        return math.fsum(values)
    return values[-1]


def colour(name: str | None) -> str:
    """A Grafana colour (a named one in any shade, or ``#rrggbb``) as matplotlib takes it."""
    if not name:
        return DEFAULT_COLOUR
    if name.startswith("#") or name.startswith("rgb"):
        return name if name.startswith("#") else DEFAULT_COLOUR
    base = name
    for shade in _SHADES:
        base = base.removeprefix(shade)
    return _COLOURS.get(base, DEFAULT_COLOUR)


def field_defaults(panel: Mapping[str, Any]) -> Mapping[str, Any]:
    defaults = panel.get("fieldConfig", {}).get("defaults", {})
    return defaults if isinstance(defaults, Mapping) else {}


def thresholds(panel: Mapping[str, Any]) -> list[tuple[float | None, str]]:
    """The panel's absolute threshold steps as (from value, colour); the first from None."""
    steps = field_defaults(panel).get("thresholds", {}).get("steps", [])
    return [
        (None if s.get("value") is None else float(s["value"]), colour(s.get("color")))
        for s in steps
        if isinstance(s, Mapping)
    ]


def threshold_colour(panel: Mapping[str, Any], value: float | None) -> str:
    """The colour of ``value`` under the panel's thresholds (the last step it reaches)."""
    chosen = DEFAULT_COLOUR
    if value is None:
        return chosen
    for start, step_colour in thresholds(panel):
        if start is None or value >= start:
            chosen = step_colour
    return chosen


def unit_of(panel: Mapping[str, Any]) -> str | None:
    unit = field_defaults(panel).get("unit")
    return unit if isinstance(unit, str) else None


def calc_of(panel: Mapping[str, Any]) -> str:
    calcs = panel.get("options", {}).get("reduceOptions", {}).get("calcs") or ["lastNotNull"]
    return str(calcs[0])


def bucket_bound(le: str) -> float:
    """A histogram bucket's ``le`` label as a number (``+Inf`` is infinity); NaN when it is
    not a number, so that it sorts and shows as unreadable rather than failing."""
    try:
        return float(le)
    except ValueError:
        return math.nan


def parse_variables(
    items: Sequence[str], boards: Mapping[str, Mapping[str, Any]]
) -> dict[str, tuple[str, ...]]:
    """``NAME=VALUE`` choices (``--var``) as ``queries.run`` takes them: a name given more
    than once selects several values, which only a multi-value variable takes.

    Raises:
        ConfigError: an item without ``=`` or a value, or a name no board declares.
    """
    declared: dict[str, bool] = {}
    for board in boards.values():
        for variable in tv.declared(board):
            if variable.kind != "datasource":
                declared[variable.name] = declared.get(variable.name, True) and variable.multi
    chosen: dict[str, tuple[str, ...]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or not name or not value:
            raise ConfigError(f"--var {item!r}: expected NAME=VALUE, e.g. role=decode")
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise ConfigError(
                f"--var {item!r}: no board has a variable {name!r} (they have {known})"
            )
        chosen[name] = (*chosen.get(name, ()), value)
        if len(chosen[name]) > 1 and not declared[name]:
            raise ConfigError(f"--var {name}: only one value, it is not a multi-value variable")
    return chosen
