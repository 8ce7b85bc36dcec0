"""A role's reactive signals and its consolidation check (``llmobs.autoscaler.role``). Pure.

``reactive``: the replicas the signals beyond their limits ask for (an SLO ratio beyond the
tolerance, decode's KV usage, waiting requests). ``consolidate``: the fewest replicas that,
carrying the whole load, stay within ``scale_down_margin`` of every limit (N/(N-1)).
"""

from __future__ import annotations

from llmobs import names
from llmobs.autoscaler.capacity import Capacity
from llmobs.autoscaler.config import RoleConfig
from llmobs.autoscaler.model import Reason
from llmobs.observation import RoleObservation

__all__ = ["ceil", "consolidate", "queue_limit", "reactive"]


def queue_limit(role: RoleConfig, kind: str) -> float | None:
    """Waiting requests per replica the role allows: prefill's ``queue_limit``, else decode's
    ``waiting_limit``."""
    return role.queue_limit if kind == names.ROLE_PREFILL else role.waiting_limit


def ceil(value: float) -> int:
    """The replicas ``value`` needs: rounded up, but not for float noise (3.0000000001 is 3)."""
    whole = int(value)
    return whole if whole >= value - 1e-9 else whole + 1


def reactive(
    role: RoleConfig, kind: str, item: RoleObservation, ratio: float, n: int, sized: int | None
) -> tuple[int, tuple[Reason, ...], str]:
    """The replicas the reactive signals ask for (``n`` when none is beyond its limit). A
    breach asks for what the capacity (``sized``, once known: this breach bounds it) says
    the load needs, else for ``n`` times the SLO ratio (latency grows faster than load, so
    the ratio overshoots: the capacity, when there is one, is the better measure)."""
    found: list[tuple[int, Reason, str]] = []
    if ratio > 1 + role.tolerance:
        want = ceil(n * ratio) if sized is None else sized
        found.append((max(n + 1, want), Reason.SLO_BREACH, f"SLO ratio {ratio:.2f}"))
    kv = item.kv_cache_usage_ratio.mean
    if (
        kind != names.ROLE_PREFILL
        and role.kv_usage_limit is not None
        and kv is not None
        and kv > role.kv_usage_limit
    ):
        found.append(
            (
                max(n + 1, ceil(n * kv / role.kv_usage_limit)),
                Reason.KV_PRESSURE,
                f"KV usage {kv:.2f}",
            )
        )
    limit = queue_limit(role, kind)
    waiting = item.requests_waiting
    if limit is not None and waiting is not None and waiting > limit * n:
        want = ceil(waiting / limit) if limit > 0 else n + 1
        found.append((max(n + 1, want), Reason.QUEUE, f"{waiting:g} waiting"))
    if not found:
        return n, (), ""
    found.sort(key=lambda f: -f[0])
    return found[0][0], tuple(f[1] for f in found), "; ".join(f[2] for f in found)


def consolidate(
    role: RoleConfig,
    kind: str,
    item: RoleObservation,
    ratio: float,
    n: int,
    current: int,
    demand: float | None,
    capacity: Capacity,
    predicted: int | None,
) -> int:
    """The fewest replicas (down from ``current``) that pass the consolidation check: the
    load of ``n`` ready replicas spread over ``m``, every signal within margin of its limit."""
    margin = role.scale_down_margin
    best = current
    for m in range(current - 1, max(role.min_replicas, 1) - 1, -1):
        f = n / m
        if predicted is not None and predicted > m:
            break
        cap = capacity.estimate
        if capacity.known and demand is not None and cap:
            if demand / (m * cap) > margin:
                break
        elif role.targets() and ratio * f > margin:
            break
        if kind != names.ROLE_PREFILL and role.kv_usage_limit is not None:
            kv = item.kv_cache_usage_ratio.mean
            if kv is None or kv * f > role.kv_usage_limit * margin:
                break
        limit = queue_limit(role, kind)
        if limit is not None and (item.requests_waiting or 0) / m > limit * margin:
            break
        best = m
    return best
