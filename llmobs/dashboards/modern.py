"""grafanalib 0.7.1's dashboard JSON corrected into modern Grafana JSON (schema 39+).

grafanalib emits schemaVersion 12, legacy top-level keys (``rows``, ``style``, ...), legacy
threshold objects, a Grafana 6 bar gauge, the Angular heatmap (which Grafana would migrate to
``calculate: true``, re-bucketing Prometheus histograms), nulls everywhere, and nests an
expanded row's panels inside the row. ``modernize`` rebuilds each panel from what grafanalib
got right, per type, binds every panel, target and variable to the ``datasource`` variable,
and adds ``__inputs``/``__requires`` for Grafana's import screen. Pure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from llmobs.dashboards.panels import DATASOURCE, DATASOURCE_VARIABLE

SCHEMA_VERSION = 39
GRAFANA_VERSION = "10.4.0"  # the oldest Grafana the boards are written for
PANEL_TYPES: dict[str, str] = {
    "timeseries": "Time series",
    "stat": "Stat",
    "bargauge": "Bar gauge",
    "heatmap": "Heatmap",
    "table": "Table",
}
_NAMES = {"timeseries", "stat", "bargauge", "heatmap", "table", "row"}


def _clean(value: Any) -> Any:
    """``value`` without None members of dicts (at any depth): grafanalib's unset options."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def thresholds(legacy: Any) -> dict[str, Any]:
    """Threshold steps as ``{"mode": "absolute", "steps": [{"color", "value"}]}``: the
    first step's value is null (the base), the others numbers; legacy objects (``index``,
    ``op``, the string ``"null"``) and grafanalib's empty string are read too. A step after
    the first without a value means nothing and is dropped."""
    raw = legacy.get("steps") if isinstance(legacy, dict) else legacy
    out: list[dict[str, Any]] = []
    for step in raw if isinstance(raw, list) else []:
        value = step.get("value")
        if not out:
            out.append({"color": step["color"], "value": None})
        elif value not in (None, "null"):
            out.append({"color": step["color"], "value": float(value)})
    return {"mode": "absolute", "steps": out or [{"color": "green", "value": None}]}


def target(raw: Mapping[str, Any], fmt: str | None) -> dict[str, Any]:
    """A Prometheus target: ref, expr, legend, the datasource variable, instant or range."""
    out: dict[str, Any] = {
        "datasource": dict(DATASOURCE),
        "editorMode": "code",
        "expr": raw["expr"],
        "instant": bool(raw.get("instant")),
        "legendFormat": raw.get("legendFormat") or "__auto",
        "range": not raw.get("instant"),
        "refId": raw["refId"],
    }
    if fmt is not None:
        out["format"] = fmt
    return out


def _defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    return dict(_clean(raw.get("fieldConfig", {}).get("defaults", {})))


def _common(raw: Mapping[str, Any], fmt: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "datasource": dict(DATASOURCE),
        "description": raw.get("description") or "",
        "gridPos": dict(raw["gridPos"]),
        "id": raw["id"],
        "targets": [target(t, fmt) for t in raw.get("targets", [])],
        "title": raw["title"],
        "type": raw["type"],
    }
    if raw.get("transformations"):
        out["transformations"] = raw["transformations"]
    return out


def _timeseries(raw: Mapping[str, Any]) -> dict[str, Any]:
    defaults = _defaults(raw)
    defaults["thresholds"] = thresholds(defaults.get("thresholds"))
    options = _clean(raw["options"])
    options["legend"]["showLegend"] = options["legend"]["displayMode"] != "hidden"
    return {
        **_common(raw),
        "fieldConfig": {"defaults": defaults, "overrides": raw["fieldConfig"]["overrides"]},
        "options": options,
    }


def _stat(raw: Mapping[str, Any]) -> dict[str, Any]:
    defaults = _defaults(raw)
    defaults.pop("custom", None)
    defaults["color"] = {"mode": "thresholds"}
    defaults["thresholds"] = thresholds(defaults.get("thresholds"))
    return {
        **_common(raw),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {**_clean(raw["options"]), "wideLayout": True, "showPercentChange": False},
    }


def _bargauge(raw: Mapping[str, Any]) -> dict[str, Any]:
    legacy = raw["options"]["fieldOptions"]
    field = _clean(legacy["defaults"])
    defaults = {k: field[k] for k in ("unit", "min", "max", "decimals") if k in field}
    defaults["color"] = {"mode": "thresholds"}
    defaults["thresholds"] = thresholds(legacy["thresholds"])
    return {
        **_common(raw),
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": {
            "displayMode": raw["options"]["displayMode"],
            "orientation": raw["options"]["orientation"],
            "reduceOptions": {"calcs": legacy["calcs"], "fields": "", "values": False},
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "auto",
            "sizing": "auto",
            "minVizHeight": 16,
            "minVizWidth": 8,
            "maxVizHeight": 300,
        },
    }


def _heatmap(raw: Mapping[str, Any]) -> dict[str, Any]:
    if raw.get("dataFormat") != "tsbuckets":
        raise ValueError(f"heatmap {raw['title']!r} would re-bucket its histogram")
    unit = (raw.get("yAxis") or {}).get("format") or "short"
    return {
        **_common(raw, fmt="heatmap"),
        "fieldConfig": {
            "defaults": {
                "custom": {
                    "hideFrom": {"legend": False, "tooltip": False, "viz": False},
                    "scaleDistribution": {"type": "linear"},
                }
            },
            "overrides": [],
        },
        "options": {
            "calculate": False,
            "cellGap": 1,
            "cellValues": {"unit": "reqps"},
            "color": {
                "exponent": 0.5,
                "fill": "dark-orange",
                "mode": "scheme",
                "reverse": False,
                "scale": "exponential",
                "scheme": "Oranges",
                "steps": 64,
            },
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "filterValues": {"le": 1e-9},
            "legend": {"show": True},
            "rowsFrame": {"layout": "auto"},
            "tooltip": {"mode": "single", "showColorScale": False, "yHistogram": True},
            "yAxis": {"axisPlacement": "left", "reverse": False, "unit": unit},
        },
    }


def _table(raw: Mapping[str, Any]) -> dict[str, Any]:
    defaults = _defaults(raw)
    defaults["custom"] = {"align": "auto", "cellOptions": {"type": "auto"}, "inspect": False}
    defaults["thresholds"] = thresholds(None)
    return {
        **_common(raw, fmt="table"),
        "fieldConfig": {"defaults": defaults, "overrides": _clean(raw["fieldConfig"]["overrides"])},
        "options": {"showHeader": raw["options"]["showHeader"]},
    }


_PANELS = {
    "timeseries": _timeseries,
    "stat": _stat,
    "bargauge": _bargauge,
    "heatmap": _heatmap,
    "table": _table,
}


def _row(raw: Mapping[str, Any], nested: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "collapsed": bool(raw.get("collapsed")),
        "gridPos": dict(raw["gridPos"]),
        "id": raw["id"],
        "panels": nested,
        "title": raw["title"],
        "type": "row",
    }


def panel(raw: Mapping[str, Any]) -> dict[str, Any]:
    """One non-row panel in its modern shape.

    Raises:
        ValueError: a panel type that is not one of the modern five.
    """
    convert = _PANELS.get(raw.get("type", ""))
    if convert is None:
        raise ValueError(f"panel {raw.get('title')!r}: type {raw.get('type')!r} is not modern")
    return convert(raw)


def panels(raw: list[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Panels in order; an expanded row's nested panels move out after it."""
    for item in raw:
        if item["type"] != "row":
            yield panel(item)
            continue
        inner = [panel(p) for p in item.get("panels", [])]
        if item.get("collapsed"):
            yield _row(item, inner)
        else:
            yield _row(item, [])
            yield from inner


def variable(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A template variable; query variables read through the datasource variable."""
    if raw["type"] == "datasource":
        return {
            "hide": 0,
            "includeAll": False,
            "label": raw.get("label") or "Data source",
            "multi": False,
            "name": raw["name"],
            "options": [],
            "query": raw["query"],
            "refresh": 1,
            "regex": "",
            "type": "datasource",
        }
    out = {
        "datasource": dict(DATASOURCE),
        "hide": raw.get("hide", 0),
        "includeAll": bool(raw.get("includeAll")),
        "label": raw.get("label") or raw["name"],
        "multi": bool(raw.get("multi")),
        "name": raw["name"],
        "options": [],
        "query": raw["query"],
        "refresh": 2,
        "regex": raw.get("regex") or "",
        "sort": raw.get("sort", 1),
        "type": raw["type"],
    }
    if raw.get("allValue") is not None:
        out["allValue"] = raw["allValue"]
    return out


def _all_panels(board: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in board:
        yield item
        yield from item.get("panels", [])


def modernize(raw: Mapping[str, Any], *, uid: str, refresh: str = "30s") -> dict[str, Any]:
    """The whole board: grafanalib's ``to_json_data()`` (as plain JSON) in modern form."""
    converted = list(panels(raw["panels"]))
    used = sorted({p["type"] for p in _all_panels(converted)} - {"row"})
    requires = [
        {"id": "grafana", "name": "Grafana", "type": "grafana", "version": GRAFANA_VERSION},
        {"id": "prometheus", "name": "Prometheus", "type": "datasource", "version": "1.0.0"},
        *({"id": t, "name": PANEL_TYPES[t], "type": "panel", "version": ""} for t in used),
    ]
    return {
        "__elements": {},
        "__inputs": [
            {
                "description": "The Prometheus that scrapes the llmobs exporter or the engines",
                "label": "Prometheus",
                "name": DATASOURCE_VARIABLE,
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
                "type": "datasource",
            }
        ],
        "__requires": requires,
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": raw.get("description") or "",
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": _clean(raw.get("links", [])),
        "liveNow": False,
        "panels": converted,
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "tags": list(raw.get("tags", [])),
        "templating": {"list": [variable(v) for v in raw["templating"]["list"]]},
        "time": {"from": raw["time"]["from"], "to": raw["time"]["to"]},
        "timepicker": {},
        "timezone": "browser",
        "title": raw["title"],
        "uid": uid,
        "version": 1,
        "weekStart": "",
    }
