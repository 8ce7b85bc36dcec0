"""What a prefill role is behind by: the load its served rate does not show. Pure.

A role's observed prompt-token rate is what it served over the window. Under an overload that
is its replicas' ceiling, not what arrives: the rest piles up in flight (waiting, or admitted
and not yet prefilled). Little's law says how much in flight the served rate keeps at the TTFT
target; beyond it is the backlog (``backlog``). Its growth per second is the arrivals the
served rate misses, and the backlog itself is to be cleared over the horizon the policy plans
for (``overload``): both add to the demand the replicas are sized for.
"""

from __future__ import annotations

from llmobs import signals
from llmobs.autoscaler.config import RoleConfig
from llmobs.observation import RoleObservation

__all__ = ["backlog", "overload"]


def backlog(role: RoleConfig, item: RoleObservation, tokens: float, size: float) -> float:
    """Prompt tokens in flight (``size`` a request) beyond what ``tokens`` per second, the
    served rate, keeps in flight at the role's TTFT target; with no TTFT target, all of them."""
    flight = ((item.requests_running or 0.0) + (item.requests_waiting or 0.0)) * size
    ttft = [t.seconds for t in role.targets() if t.signal == signals.TTFT.name]
    return max(0.0, flight - tokens * min(ttft, default=0.0))


def overload(
    previous: tuple[float, float] | None, current: float, now: float, horizon_s: float
) -> float:
    """Tokens per second the served rate misses: the backlog's growth since ``previous``
    (``(time, backlog)``; arrivals beyond what was served) and the backlog ``current`` itself,
    to be cleared over ``horizon_s``."""
    growth = 0.0
    if previous is not None and now > previous[0]:
        growth = max(0.0, (current - previous[1]) / (now - previous[0]))
    return growth + current / horizon_s if horizon_s > 0 else growth
