"""The exporter's ``/metrics`` over ready-made state: no I/O, no waiting on a target.

``render`` reads an immutable ``Exported`` picture (target views with their ready lines and
the role observation) and writes the exposition (``text``): a scrape of the exporter costs
the same whether the engines are fast, slow or gone, and at 1,000 targets it concatenates
lines rendered when each target was scraped instead of building every sample again.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmobs.exporter import text
from llmobs.exporter.state import TargetView
from llmobs.observation import Observation


@dataclass(frozen=True)
class Exported:
    """Everything one exposition shows, taken at one moment."""

    targets: tuple[TargetView, ...]
    roles: Observation
    scrapes: int
    discovery_errors: int


def render(exported: Exported) -> str:
    """The exposition of ``exported`` (the process families are the caller's to add)."""
    return text.exposition(
        (view.lines for view in exported.targets),
        exported.roles,
        exported.scrapes,
        exported.discovery_errors,
    )
