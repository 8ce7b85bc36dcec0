"""Every series a board queries is one that is really exported: the llmobs exporter's and
autoscaler's families in ``llmobs.names`` (as exposed: counters with ``_total``,
histograms as ``_bucket``/``_sum``/``_count``), the engines' names their catalogs read, or
Prometheus's ``up``; every label a matcher or a grouping names is one that series carries.
A renamed metric or label fails here, not as an empty panel in someone's Grafana."""

from __future__ import annotations

import re
from typing import Any

import pytest

from llmobs import names
from llmobs.dashboards import boards
from llmobs.dashboards.queries import targets
from llmobs.engines import CATALOGS, vllm
from llmobs.promql.exported import LE

BOARDS = boards()
_SELECTOR = re.compile(r"\b((?:llmobs_|vllm:|sglang:)[A-Za-z0-9_:]*|up\b)(\{[^}]*\})?")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_BY = re.compile(r"\bby \(([^)]*)\)")
# Labels Prometheus adds to every scraped series, and vLLM's own (the finish reason).
SCRAPE_LABELS = {"job", "instance", names.NAMESPACE}


def _llmobs_series() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for metric in vars(names).values():
        if not isinstance(metric, names.Metric):
            continue
        labels = set(metric.labels)
        if metric.type == "histogram":
            out[metric.name + "_bucket"] = labels | {LE}
            out[metric.name + "_sum"] = out[metric.name + "_count"] = labels
        else:
            out[metric.name + ("_total" if metric.type == "counter" else "")] = labels
    for table in (names.TARGET_HISTOGRAMS, names.TARGET_GAUGES, names.TARGET_COUNTERS):
        for metric in table.values():
            if metric.type == "histogram":
                out[metric.name + "_bucket"] = set(metric.labels) | {LE}
                out[metric.name + "_sum"] = out[metric.name + "_count"] = set(metric.labels)
            else:
                suffix = "_total" if metric.type == "counter" else ""
                out[metric.name + suffix] = set(metric.labels)
    for metric in names.ROLE_HISTOGRAM_QUANTILES.values():
        out[metric.name] = set(metric.labels)
    return out


def _engine_series() -> set[str]:
    known: set[str] = set()
    for catalog in CATALOGS:
        known |= catalog.wanted()
    for name in (vllm.PROMPT_LENGTH, vllm.GENERATION_LENGTH):
        known |= {name + part for part in ("_bucket", "_sum", "_count")}
    return known


LLMOBS = _llmobs_series()
ENGINES = _engine_series()


@pytest.fixture(params=sorted(BOARDS))
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    return BOARDS[request.param]


def test_every_series_is_exported(board: dict[str, Any]) -> None:
    for target in targets(board):
        for name, _ in _SELECTOR.findall(target.expr):
            assert name in LLMOBS or name in ENGINES or name == "up", (
                f"{target.panel_title}: {name} is not a series anything exports"
            )


def test_llmobs_matchers_name_labels_the_series_carries(board: dict[str, Any]) -> None:
    for target in targets(board):
        for name, braces in _SELECTOR.findall(target.expr):
            if name in LLMOBS and braces:
                used = set(_MATCHER.findall(braces))
                assert used <= LLMOBS[name] | SCRAPE_LABELS, (
                    f"{target.panel_title}: {name} has no label {used - LLMOBS[name]}"
                )


def test_groupings_keep_labels_the_series_carry(board: dict[str, Any]) -> None:
    for target in targets(board):
        series = [name for name, _ in _SELECTOR.findall(target.expr) if name in LLMOBS]
        if not series:
            continue
        carried = set.union(*(LLMOBS[name] for name in series)) | SCRAPE_LABELS
        for group in _BY.findall(target.expr):
            labels = {label.strip() for label in group.split(",")}
            assert labels <= carried, f"{target.panel_title}: by {labels - carried}"


def test_the_engine_board_reads_every_naming_generation() -> None:
    exprs = " ".join(t.expr for t in targets(BOARDS["llmobs-engines.json"]))
    for catalog in CATALOGS:
        if catalog.engine == "dynamo":
            continue
        for source in (*catalog.histograms, *catalog.gauges, *catalog.counters):
            for name in source.names:
                assert name in exprs, f"{catalog.engine}: {name} ({source.signal}) is not shown"


def test_the_exporter_boards_read_no_engine_series_but_the_request_shape() -> None:
    for name in ("llmobs-serving.json", "llmobs-autoscaler.json"):
        for target in targets(BOARDS[name]):
            engine = {n for n, _ in _SELECTOR.findall(target.expr) if n in ENGINES}
            assert not engine or target.panel_title in {
                "Failed requests",
                "Prompt length (vLLM)",
                "Output length (vLLM)",
            }, target.panel_title
