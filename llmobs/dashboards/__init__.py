"""Grafana dashboards as code: built with grafanalib from ``llmobs.names`` and
``llmobs.promql``, corrected into modern Grafana JSON (``modern``), written to the top-level
``dashboards/`` by ``llmobs dashboards build``.

``boards()`` is the public interface: each board's file name and its JSON. The boards'
modules are imported when it is called, so ``llmobs.dashboards.queries`` and the previews
do not pull in grafanalib.
"""

from __future__ import annotations

from typing import Any


def boards() -> dict[str, dict[str, Any]]:
    """``{"llmobs-serving.json": {...}, "llmobs-autoscaler.json": ..., ...}``: every board,
    by the file name it is written under, as modern Grafana JSON."""
    from llmobs.dashboards.build import BOARDS

    return {name: build() for name, build in BOARDS.items()}
