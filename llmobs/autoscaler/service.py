"""The autoscaler's loop: every interval, read the replicas, observe, decide, log, apply.

The shell around the pure policy. It owns no policy state: the ``Decide`` it is given does
(ours wraps ``policy.decide``), so a restart resumes from the replicas the actuator finds,
never from a remembered number. A failure is a hold with its reason, never a zero:

* the source fails: every role holds with ``SOURCE_FAILED``;
* the replicas of any role cannot be read: every role holds with ``ACTUATOR_FAILED`` (the
  GPU budget is joint, so no role moves while another's size is unknown);
* a write fails: that role holds with ``ACTUATOR_FAILED`` first among its reasons.

Decreases are applied before increases, so the joint budget holds while one role shrinks and
another grows. Each decision is one strict-JSON log line, goes to every observer (the KEDA
server's answers) and stays, with its inputs, among the last ``history`` of its role
(``GET /v1/decisions``). With ``dry_run`` it decides and reports everything and changes
nothing; with ``act=False`` the replicas are read but set by someone else (KEDA's HPA, from
the observers); a replica that is not the ``leader`` decides and reports but does not write
(standby), so two autoscalers never both act.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from llmobs import strictjson
from llmobs.autoscaler.model import Actuator, Decision, Reason, Replicas, Source
from llmobs.clock import SYSTEM, Clock
from llmobs.errors import LlmobsError
from llmobs.observation import Observation

# What a source or an actuator may raise besides its own error: a transport's own failures.
FAILURES = (LlmobsError, OSError, TimeoutError)


class Decide(Protocol):
    """The policy as the loop calls it: every managed role's decision from the observation
    and the replicas each role has now (Unix time ``now``); it keeps its own state."""

    def __call__(
        self, observation: Observation, replicas: Mapping[str, Replicas], now: float
    ) -> Sequence[Decision]: ...


@dataclass(frozen=True, slots=True)
class Managed:
    """A role the loop sizes: its name (what the actuator knows it by) and its group."""

    role: str
    group: str


def stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")


def hold(
    role: Managed, current: int | None, reason: Reason, detail: str, now: float, **inputs: Any
) -> Decision:
    """The decision to stay at ``current`` replicas (None: not known), and why."""
    return Decision(role.role, role.group, current, current, (reason,), detail, now, inputs)


def failed(decision: Decision, reason: Reason, detail: str) -> Decision:
    """``decision`` not carried out: it holds at its current replicas, ``reason`` first."""
    return dataclasses.replace(
        decision,
        desired=decision.current,
        reasons=(reason, *decision.reasons),
        detail=f"{detail}; wanted {decision.desired} ({decision.detail})",
    )


def decision_json(decision: Decision, applied: bool) -> dict[str, Any]:
    """A decision as ``/v1/decisions`` and the log show it (strict JSON)."""
    document: dict[str, Any] = strictjson.finite(
        {
            "role": decision.role,
            "group": decision.group,
            "timestamp": decision.timestamp,
            "current": decision.current,
            "desired": decision.desired,
            "direction": decision.direction,
            "reason": decision.reason.value,
            "reasons": [r.value for r in decision.reasons],
            "detail": decision.detail,
            "applied": applied,
            "inputs": dict(decision.inputs),
        }
    )
    return document


class Autoscaler:
    """The loop over ``roles``: ``tick`` once, ``run`` until cancelled."""

    def __init__(
        self,
        source: Source,
        actuator: Actuator,
        decide: Decide,
        roles: Sequence[Managed],
        *,
        interval_s: float,
        dry_run: bool = False,
        act: bool = True,
        leader: Callable[[], bool] | None = None,
        observers: Sequence[Callable[[Decision], None]] = (),
        history: int = 20,
        clock: Clock = SYSTEM,
        log: Callable[[str], None] = stderr_line,
    ) -> None:
        if not roles:
            raise ValueError("the autoscaler needs at least one role")
        self.source = source
        self.actuator = actuator
        self.decide = decide
        self.roles = tuple(roles)
        self.interval_s = interval_s
        self.dry_run = dry_run
        self.act = act
        self.leader = leader
        self.observers = tuple(observers)
        self.clock = clock
        self.log = log
        self.keep = history
        self.history: dict[str, collections.deque[dict[str, Any]]] = {
            r.role: collections.deque(maxlen=history) for r in self.roles
        }
        self.latest: dict[str, Decision] = {}
        self.replicas: dict[str, Replicas] = {}  # the last replicas read, per role
        self.counts: collections.Counter[tuple[str, Reason]] = collections.Counter()
        self.ticks = 0

    def _current(self, role: str) -> int | None:
        """The replicas a role was last known to have (None before any was read)."""
        known = self.replicas.get(role)
        return known.desired if known is not None else None

    async def _read(self, now: float) -> dict[str, Replicas] | list[Decision]:
        found: dict[str, Replicas] = {}
        errors: list[str] = []
        for role in self.roles:
            try:
                found[role.role] = await self.actuator.get(role.role)
            except FAILURES as exc:
                errors.append(f"{role.role}: {exc}")
        self.replicas.update(found)
        if not errors:
            return found
        why = "cannot read replicas (" + "; ".join(errors) + "): every role holds"
        return [
            hold(r, self._current(r.role), Reason.ACTUATOR_FAILED, why, now) for r in self.roles
        ]

    async def _decide(self, now: float) -> list[Decision]:
        replicas = await self._read(now)
        if isinstance(replicas, list):
            return replicas
        try:
            observation = await self.source.observe()
        except FAILURES as exc:
            why = f"observation source failed: {exc}"
            return [
                hold(r, replicas[r.role].desired, Reason.SOURCE_FAILED, why, now)
                for r in self.roles
            ]
        # The group a role is managed under names it everywhere (metrics, KEDA's answers),
        # whatever group the observation carried.
        groups = {r.role: r.group for r in self.roles}
        return [
            dataclasses.replace(d, group=groups.get(d.role, d.group))
            for d in self.decide(observation, replicas, now)
        ]

    async def _apply(self, decision: Decision) -> tuple[Decision, bool]:
        desired = decision.desired
        if desired is None or desired == decision.current:
            return decision, False
        if self.dry_run:
            if Reason.DRY_RUN not in decision.reasons:
                decision = dataclasses.replace(
                    decision, reasons=(*decision.reasons, Reason.DRY_RUN)
                )
            return decision, False
        if not self.act:  # KEDA's HPA applies it: an observer publishes it
            return decision, False
        if self.leader is not None and not self.leader():
            return dataclasses.replace(decision, detail=decision.detail + " (standby)"), False
        try:
            await self.actuator.set(decision.role, desired)
        except FAILURES as exc:
            return failed(decision, Reason.ACTUATOR_FAILED, f"cannot set replicas: {exc}"), False
        known = self.replicas.get(decision.role)  # the spec is now what was asked for
        self.replicas[decision.role] = Replicas(desired, known.ready if known else 0)
        return decision, True

    async def tick(self) -> list[Decision]:
        """One round: observe, read, decide, apply (decreases first), record and log."""
        now = self.clock.wall()
        decisions = await self._decide(now)
        done: list[Decision] = []
        for decision in sorted(decisions, key=lambda d: (d.desired or 0) - (d.current or 0)):
            decision, applied = await self._apply(decision)
            self.record(decision, applied)
            done.append(decision)
        self.ticks += 1
        return done

    def record(self, decision: Decision, applied: bool) -> None:
        document = decision_json(decision, applied)
        self.latest[decision.role] = decision
        self.history.setdefault(decision.role, collections.deque(maxlen=self.keep)).append(document)
        self.counts[(decision.role, decision.reason)] += 1
        for observer in self.observers:
            observer(decision)
        self.log(strictjson.dumps({"event": "decision", **document}, sort_keys=True))

    def decisions_json(self) -> dict[str, Any]:
        """``GET /v1/decisions``: the last decisions of every role, newest last."""
        return {
            "dry_run": self.dry_run,
            "interval_seconds": self.interval_s,
            "roles": {role: list(items) for role, items in self.history.items()},
        }

    async def close(self) -> None:
        """Close the source and the actuator (their sessions and clients)."""
        try:
            await self.source.close()
        finally:
            await self.actuator.close()

    async def run(self) -> None:
        """Tick every ``interval_s`` until cancelled. Failures of the source and actuator
        are holds; anything else is a bug and ends the loop (a restart resumes, no jump)."""
        start = self.clock.monotonic()
        while True:
            await self.tick()
            elapsed = self.clock.monotonic() - start
            await asyncio.sleep(self.interval_s - elapsed % self.interval_s)
