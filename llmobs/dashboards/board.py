"""A board from its parts: grafanalib's ``Dashboard`` with the datasource and query
variables, emitted as JSON and corrected by ``llmobs.dashboards.modern``. Pure."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import grafanalib.core as g
from grafanalib._gen import DashboardEncoder

from llmobs.dashboards.modern import modernize
from llmobs.dashboards.panels import DATASOURCE, DATASOURCE_VARIABLE, Section, layout
from llmobs.promql.grafana import ALL

# Every board carries this tag; each links to the others by it, passing its time range and
# the variables they share (group, role, model).
TAG = "llmobs"


def datasource_variable() -> g.Template:
    """The ``datasource`` variable every panel, target and query variable reads through."""
    return g.Template(
        name=DATASOURCE_VARIABLE,
        label="Data source",
        query="prometheus",
        type="datasource",
    )


def query_variable(name: str, label: str, query: str) -> g.Template:
    """A variable of the values a label takes (multi-value, with All matching everything)."""
    return g.Template(
        name=name,
        label=label,
        query=query,
        dataSource=DATASOURCE,
        type="query",
        multi=True,
        includeAll=True,
        allValue=ALL,
        refresh=2,
        sort=1,
    )


def dashboard(
    *,
    title: str,
    uid: str,
    description: str,
    tags: Sequence[str],
    variables: Sequence[g.Template],
    sections: Sequence[Section],
) -> dict[str, Any]:
    """The board as modern Grafana JSON (a plain dict, ready for ``json.dumps``), tagged
    ``TAG`` besides ``tags``."""
    built = g.Dashboard(
        title=title,
        description=description,
        tags=[TAG, *tags],
        links=[
            g.DashboardLink(
                title="llmobs boards",
                type="dashboards",
                tags=[TAG],
                asDropdown=True,
                includeVars=True,
                keepTime=True,
            )
        ],
        uid=uid,
        panels=layout(sections),
        templating=g.Templating(list=[datasource_variable(), *variables]),
        time=g.Time("now-1h", "now"),
        schemaVersion=39,
    )
    raw = json.loads(json.dumps(built.to_json_data(), cls=DashboardEncoder))
    return modernize(raw, uid=uid)
