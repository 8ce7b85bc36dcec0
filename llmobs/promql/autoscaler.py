"""PromQL over the autoscaler's own series (``llmobs_autoscaler_*``, per ``group, role``):
replicas wanted, asked for and ready, decisions by reason, each SLO observed against its
target, GPUs against the budget, and how long a role waits for its replicas to be ready.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmobs import names
from llmobs.promql.exported import exposed
from llmobs.promql.syntax import (
    Agg,
    Expr,
    Matcher,
    Selector,
    Window,
    aggregate,
    increase,
    rate,
    re_,
    selector,
    window,
)

BY_ROLE: tuple[str, ...] = names.AUTOSCALER_LABELS
# The replicas series by what they count.
REPLICAS: dict[str, names.Metric] = {
    "desired": names.AUTOSCALER_DESIRED_REPLICAS,
    "current": names.AUTOSCALER_CURRENT_REPLICAS,
    "ready": names.AUTOSCALER_READY_REPLICAS,
}


def replicas(kind: str, *matchers: Matcher) -> Selector:
    """``desired``, ``current`` (asked for) or ``ready`` replicas of each role."""
    return selector(REPLICAS[kind].name, *matchers)


def decisions(over: Window, *matchers: Matcher, by: Sequence[str] = (names.REASON,)) -> Expr:
    """Decisions per second by their deciding reason (``by``)."""
    series = selector(exposed(names.AUTOSCALER_DECISIONS), *matchers)
    return aggregate(Agg.SUM, rate(series, over), by)


def decisions_in(over: Window, *matchers: Matcher, by: Sequence[str] = (names.REASON,)) -> Expr:
    """Decisions taken over the range by reason (``by``), e.g. over ``$__range``, rounded
    (``increase`` extrapolates to the range's edges: 10.3 decisions means 10)."""
    series = selector(exposed(names.AUTOSCALER_DECISIONS), *matchers)
    return f"round({aggregate(Agg.SUM, increase(series, over), by)})"


def slo(signal_key: str) -> Matcher:
    """The SLOs of one signal whatever their percentile (``slo=~"ttft_.+"``): the autoscaler
    names an SLO by its signal's key and its percentile, ``ttft_p90``."""
    return re_(names.SLO, f"{signal_key}_.+")


def slo_target(*matchers: Matcher) -> Selector:
    """Each SLO's target in seconds, as configured."""
    return selector(names.AUTOSCALER_TARGET.name, *matchers)


def slo_observed(*matchers: Matcher) -> Selector:
    """Each SLO's observed percentile at the latest decision, in seconds."""
    return selector(names.AUTOSCALER_OBSERVED.name, *matchers)


def slo_ratio(*matchers: Matcher) -> Expr:
    """Observed over target per role and SLO: over 1 is a breach."""
    return f"{slo_observed(*matchers)} / {slo_target(*matchers)}"


def gpus() -> Selector:
    """GPUs the sized roles hold after the latest decision."""
    return selector(names.AUTOSCALER_GPUS.name)


def gpu_budget() -> Selector:
    return selector(names.AUTOSCALER_GPU_BUDGET.name)


def pending(*matchers: Matcher) -> Expr:
    """Replicas wanted but not ready yet (desired minus ready), per role."""
    return f"{replicas('desired', *matchers)} - {replicas('ready', *matchers)}"


def waiting_for_ready(lookback: Window, resolution: Window, *matchers: Matcher) -> Expr:
    """Seconds since each role last had all the replicas it wants ready: near 0 while it
    has, growing during a scale-up; its peak is the scale-up's time to ready. Looks back
    ``lookback`` at ``resolution`` (a subquery)."""
    settled = f"{replicas('ready', *matchers)} >= {replicas('desired', *matchers)}"
    return f"time() - max_over_time(timestamp({settled})[{window(lookback)}:{window(resolution)}])"
