"""The autoscaler board, from ``llmobs autoscaler``'s own series (``/metrics``): replicas
wanted, asked for and ready per role, each SLO against its target, decisions by reason,
GPUs against the budget, and how long a scale-up waits for its replicas. Pure.
"""

from __future__ import annotations

from typing import Any

from llmobs import names
from llmobs.dashboards.board import dashboard, query_variable
from llmobs.dashboards.panels import (
    COUNT,
    NONE,
    OVER_ONE_IS_BAD,
    PER_S,
    SECONDS,
    Cell,
    Query,
    Section,
    bargauge,
    stat,
    table,
    timeseries,
)
from llmobs.promql import autoscaler as scaler
from llmobs.promql.grafana import INTERVAL, RANGE, RATE_INTERVAL, label_values, matching
from llmobs.promql.syntax import Agg, aggregate

UID = "llmobs-autoscaler"
FILE = "llmobs-autoscaler.json"
LABELS: tuple[str, ...] = names.AUTOSCALER_LABELS
M = matching(LABELS)
BY_ROLE = (names.ROLE,)
# How far back a role's last moment with every replica ready is looked for, and how finely.
WAIT_LOOKBACK = "30m"


def variables() -> list[Any]:
    """group, then role within it."""
    out = []
    for i, label in enumerate(LABELS):
        series = scaler.replicas("desired", *M[:i])
        out.append(query_variable(label, label.capitalize(), label_values(series, label)))
    return out


def _by_role(expr: Any) -> str:
    return aggregate(Agg.SUM, expr, BY_ROLE)


def top() -> Section:
    ratio = scaler.slo_ratio(*M)
    tiles = [
        stat(
            "Desired replicas",
            [Query(_by_role(scaler.replicas("desired", *M)), "{{role}}")],
            COUNT,
            "Replicas the latest decision wants, per role.",
        ),
        stat(
            "Ready replicas",
            [Query(_by_role(scaler.replicas("ready", *M)), "{{role}}")],
            COUNT,
            "Replicas ready, per role, as the autoscaler last read them.",
        ),
        stat(
            "Worst SLO ratio",
            [Query(aggregate(Agg.MAX, ratio), "observed / target")],
            NONE,
            "The highest observed-over-target of any SLO of any selected role: over 1 is a breach.",
            thresholds=OVER_ONE_IS_BAD,
        ),
        stat(
            "GPUs",
            [Query(str(scaler.gpus()), "held"), Query(str(scaler.gpu_budget()), "budget")],
            COUNT,
            "GPUs all sized roles hold after the latest decision, and the budget.",
        ),
        stat(
            "Replicas pending",
            [Query(_by_role(scaler.pending(*M)), "{{role}}")],
            COUNT,
            "Replicas wanted but not ready yet, per role.",
            thresholds=(("green", None), ("orange", 1.0)),
        ),
        stat(
            "Decisions / s",
            [Query(scaler.decisions(RATE_INTERVAL, *M, by=()), "decisions")],
            PER_S,
            "Decisions taken per second, all selected roles.",
        ),
    ]
    return Section(None, tuple(Cell(t, 4, 4) for t in tiles))


def replicas() -> Section:
    kinds = [
        Query(_by_role(scaler.replicas(kind, *M)), "{{role}} " + kind) for kind in scaler.REPLICAS
    ]
    wait = scaler.waiting_for_ready(WAIT_LOOKBACK, INTERVAL, *M)
    return Section(
        "Replicas",
        (
            Cell(
                timeseries(
                    "Desired vs current vs ready",
                    kinds,
                    COUNT,
                    "Per role: what the latest decision wants, what the role is asked to have "
                    "(its spec) and what is ready.",
                ),
                12,
                8,
            ),
            Cell(
                timeseries(
                    "Time to ready",
                    [Query(aggregate(Agg.MAX, wait, BY_ROLE), "{{role}}")],
                    SECONDS,
                    "Seconds since the role last had every replica it wants ready: near 0 "
                    "while it has, rising during a scale-up; each peak is that scale-up's "
                    f"time to ready (looked for over the last {WAIT_LOOKBACK}).",
                ),
                12,
                8,
            ),
        ),
    )


def slos() -> Section:
    by = (names.ROLE, names.SLO)
    ratio = aggregate(Agg.MAX, scaler.slo_ratio(*M), by)
    observed = aggregate(Agg.MAX, scaler.slo_observed(*M), by)
    target = aggregate(Agg.MAX, scaler.slo_target(*M), by)
    return Section(
        "SLOs",
        (
            Cell(
                timeseries(
                    "SLO ratio by role",
                    [Query(ratio, "{{role}} {{slo}}")],
                    NONE,
                    "Each SLO's observed percentile over its target at each decision: over 1 "
                    "is a breach.",
                    thresholds=OVER_ONE_IS_BAD,
                    threshold_lines=True,
                ),
                12,
                8,
            ),
            Cell(
                timeseries(
                    "Observed vs target",
                    [
                        Query(observed, "{{role}} {{slo}} observed"),
                        Query(target, "{{role}} {{slo}} target"),
                    ],
                    SECONDS,
                    "Each SLO's observed percentile at the latest decision and its target.",
                ),
                12,
                8,
            ),
            Cell(
                bargauge(
                    "SLO ratio now",
                    [Query(ratio, "{{role}} {{slo}}")],
                    NONE,
                    "The latest observed-over-target of each SLO (bars end at 2).",
                    max_value=2,
                    thresholds=OVER_ONE_IS_BAD,
                ),
                24,
                6,
            ),
        ),
    )


def decisions() -> Section:
    by = (names.ROLE, names.REASON)
    return Section(
        "Decisions",
        (
            Cell(
                timeseries(
                    "Decisions by reason",
                    [Query(scaler.decisions(RATE_INTERVAL, *M, by=by), "{{role}} {{reason}}")],
                    PER_S,
                    "Decisions per second by their deciding reason (slo_breach, kv_pressure, "
                    "within_slo, consolidate, cold_start_pending, ...).",
                    stack=True,
                ),
                16,
                8,
            ),
            Cell(
                table(
                    "Decisions in the time range",
                    [Query(scaler.decisions_in(RANGE, *M, by=by), "decisions")],
                    "How many decisions each role took for each reason over the dashboard's "
                    "time range.",
                ),
                8,
                8,
            ),
        ),
    )


def gpus() -> Section:
    return Section(
        "GPUs",
        (
            Cell(
                timeseries(
                    "GPUs against the budget",
                    [Query(str(scaler.gpus()), "held"), Query(str(scaler.gpu_budget()), "budget")],
                    COUNT,
                    "GPUs the sized roles hold after each decision (desired or ready replicas, "
                    "the larger, times GPUs per replica) and the budget, when one is set.",
                ),
                24,
                8,
            ),
        ),
    )


def board() -> dict[str, Any]:
    return dashboard(
        title="llmobs / Autoscaler",
        uid=UID,
        description="The llmobs SLO autoscaler: replicas per role, SLOs against their targets, "
        "decisions by reason, GPUs against the budget, time to ready.",
        tags=["autoscaler"],
        variables=variables(),
        sections=[top(), replicas(), slos(), decisions(), gpus()],
    )
