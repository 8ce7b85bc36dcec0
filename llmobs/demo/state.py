"""What the demo knows at one moment, built from what the children answer: the exporter's
``/v1/roles``, the autoscaler's ``/v1/decisions`` and the emulator's scale subresource.

Pure: the documents come in as parsed JSON, a ``Sample`` comes out; a document that could
not be read is ``None`` and what it would have said is ``None`` too (never 0). The live view
renders a ``State``; the report is built from the samples and decisions collected over the
run.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from llmobs import observation, signals
from llmobs.autoscaler.config import slo_name, slo_signal
from llmobs.errors import LlmobsError

P90 = 0.9
# The autoscaler's names of the SLOs a sample carries (its SLO maps are keyed by them), and
# the RoleSample field each one's p90 is in.
TTFT_P90 = slo_name(slo_signal(signals.TTFT), "p90")
TPOT_P90 = slo_name(slo_signal(signals.TPOT), "p90")
P90_FIELDS = {TTFT_P90: "ttft_p90_s", TPOT_P90: "tpot_p90_s"}


@dataclass(frozen=True, slots=True)
class RoleSample:
    """One role at one moment; ``None`` is unknown."""

    role: str
    spec: int | None = None  # replicas asked for (the scale subresource's spec.replicas)
    ready: int | None = None  # replicas serving (its status.replicas)
    desired: int | None = None  # the autoscaler's latest decision
    request_rate: float | None = None
    ttft_p90_s: float | None = None
    tpot_p90_s: float | None = None
    waiting: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """One decision of the autoscaler, as ``/v1/decisions`` gives it."""

    role: str
    timestamp: float
    current: int
    desired: int
    reason: str
    detail: str
    applied: bool


@dataclass(frozen=True, slots=True)
class Sample:
    """Every role at ``t`` seconds into the run."""

    t: float
    roles: tuple[RoleSample, ...]


@dataclass(frozen=True, slots=True)
class State:
    """What the live view shows."""

    elapsed_s: float
    duration_s: float
    target_rps: float
    phase: str
    slo: Mapping[str, Mapping[str, float]]  # role -> signal_pNN -> seconds
    sample: Sample | None
    decisions: tuple[Decision, ...]  # newest last
    folder: str
    prometheus_url: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _p90(latency: observation.Latency | None) -> float | None:
    return None if latency is None else latency.quantiles.get(P90)


def observed(roles_doc: Any) -> dict[str, observation.RoleObservation]:
    """The exporter's ``/v1/roles`` document by role (an unreadable one: nothing)."""
    if roles_doc is None:
        return {}
    try:
        parsed = observation.from_json(roles_doc)
    except LlmobsError:
        return {}
    return {item.key.role: item for item in parsed.roles}


def decisions(doc: Any) -> list[Decision]:
    """Every decision in an autoscaler's ``/v1/decisions`` document, oldest first; entries
    that are not decisions are skipped."""
    roles = doc.get("roles") if isinstance(doc, dict) else None
    found: list[Decision] = []
    for role, items in (roles or {}).items():
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            current, desired = _count(item.get("current")), _count(item.get("desired"))
            timestamp = _finite(item.get("timestamp"))
            if current is None or desired is None or timestamp is None:
                continue
            found.append(
                Decision(
                    role=str(role),
                    timestamp=timestamp,
                    current=current,
                    desired=desired,
                    reason=str(item.get("reason", "")),
                    detail=str(item.get("detail", "")),
                    applied=item.get("applied") is True,
                )
            )
    return sorted(found, key=lambda d: (d.timestamp, d.role))


def scale(doc: Any) -> tuple[int | None, int | None]:
    """A ``Scale`` object's (spec.replicas, status.replicas)."""
    if not isinstance(doc, dict):
        return None, None
    spec, status = doc.get("spec"), doc.get("status")
    return (
        _count(spec.get("replicas")) if isinstance(spec, dict) else None,
        _count(status.get("replicas")) if isinstance(status, dict) else None,
    )


def sample(
    t: float,
    roles: Sequence[str],
    roles_doc: Any,
    decided: Sequence[Decision],
    scales: Mapping[str, Any],
) -> Sample:
    """Every role at ``t`` from the documents read then (``None`` for one not read)."""
    seen = observed(roles_doc)
    latest = {d.role: d for d in decided}
    items = []
    for role in roles:
        item = seen.get(role)
        spec, ready = scale(scales.get(role))
        decision = latest.get(role)
        items.append(
            RoleSample(
                role=role,
                spec=spec,
                ready=ready,
                desired=None if decision is None else decision.desired,
                request_rate=None if item is None else item.request_rate,
                ttft_p90_s=None if item is None else _p90(item.latency.ttft_seconds),
                tpot_p90_s=None if item is None else _p90(item.latency.tpot_seconds),
                waiting=None if item is None else item.requests_waiting,
            )
        )
    return Sample(t, tuple(items))


def merged(known: Sequence[Decision], new: Sequence[Decision]) -> list[Decision]:
    """``known`` with the decisions of ``new`` not yet in it (the autoscaler keeps only its
    last few per role), oldest first."""
    seen = {(d.role, d.timestamp) for d in known}
    return sorted(
        [*known, *(d for d in new if (d.role, d.timestamp) not in seen)],
        key=lambda d: (d.timestamp, d.role),
    )
