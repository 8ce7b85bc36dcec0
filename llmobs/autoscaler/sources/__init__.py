"""Where the autoscaler's role observations come from; each implements ``model.Source``.

* ``ScrapeSource`` (``scrape``): the exporter's own scrape loops in this process, over static
  targets or the Kubernetes pod watch, aggregated by ``llmobs.roles``.
* ``ExporterSource`` (``exporter``): an exporter's ``/v1/roles`` document.
* ``PrometheusSource`` (``prometheus``): PromQL from ``llmobs.promql`` through
  ``prometheus-api-client``, over the exporter's series, or the engines' own series for users
  with no exporter (``queries`` builds the queries and reads the answers, purely).

Each source says how old its data is (every ``RoleObservation`` has ``timestamp`` and
``age_seconds``; the source keeps ``last_success``) and fails loudly: ``observe`` raises
``SourceError`` whose ``cause`` names what failed (``unreachable``, ``timeout``,
``http_status``, ``too_large``, ``malformed``, ``no_data``). A failure is a hold, never a zero;
absent data is None.
"""

from __future__ import annotations

from llmobs.autoscaler.sources.exporter import ExporterSource, ExporterSourceConfig
from llmobs.autoscaler.sources.prometheus import (
    EngineSeries,
    PrometheusSource,
    PrometheusSourceConfig,
)
from llmobs.autoscaler.sources.scrape import ScrapeSource, ScrapeSourceConfig

__all__ = [
    "EngineSeries",
    "ExporterSource",
    "ExporterSourceConfig",
    "PrometheusSource",
    "PrometheusSourceConfig",
    "ScrapeSource",
    "ScrapeSourceConfig",
]
