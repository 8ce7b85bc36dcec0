"""The replicas of a cluster's roles: which one takes a request, cold starts and draining.

One policy for both emulated clusters: the real-time one (``llmobs.sim.cluster``, servers on
sockets) and the virtual-time one (``llmobs.sim.virtual``, engines on an event queue). A
``ReplicaSet`` holds plain ``Replica`` records, each with an opaque ``handle`` that only its
shell understands (a running server, a virtual engine), and reads time from the ``Clock`` it
is given. It does no I/O: the shells start and stop what the policy decides, and tell it when
a replica begins to serve (``mark_ready``) and when a draining one is gone (``mark_stopped``).

The rules:

* a new replica is *starting* until its cold start ends (``due_at``) and its shell has it
  serving; only *ready* replicas get requests;
* a request goes to the ready replica with the least load, ties taken in turn;
* scaling down removes starting replicas first (they have nothing to finish and stop at
  once), then the newest ready ones, which *drain*: no new requests, the current ones finish;
* a stopped replica is forgotten, and no role may ask for more than ``max_replicas`` (when
  set), so scaling up and down leaves nothing behind.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from llmobs.clock import Clock
from llmobs.errors import ConfigError

ROLES = ("both", "prefill", "decode")

H = TypeVar("H")


class Phase(StrEnum):
    STARTING = "starting"
    READY = "ready"
    DRAINING = "draining"
    STOPPED = "stopped"


@dataclass(eq=False, slots=True)
class Replica(Generic[H]):
    """One replica of a role. Times are readings of the replica set's monotonic clock."""

    role: str
    name: str
    handle: H
    due_at: float  # when its cold start ends: the earliest it may serve
    ready_at: float | None = None  # when it began to serve; None while starting
    draining_since: float | None = None
    stopped_at: float | None = None

    @property
    def phase(self) -> Phase:
        if self.stopped_at is not None:
            return Phase.STOPPED
        if self.draining_since is not None:
            return Phase.DRAINING
        return Phase.STARTING if self.ready_at is None else Phase.READY


@dataclass(frozen=True, slots=True)
class Counts:
    """A role's replicas by phase; ``desired`` (starting and ready) is what was asked for."""

    starting: int
    ready: int
    draining: int

    @property
    def desired(self) -> int:
        return self.starting + self.ready


@dataclass(frozen=True, slots=True)
class Change(Generic[H]):
    """What a ``scale`` call decided: replicas to start, and replicas removed (those that
    were still starting are stopped already; the others are draining)."""

    added: tuple[Replica[H], ...]
    removed: tuple[Replica[H], ...]


def validate_roles(roles: Mapping[str, int], maximum: int | None = None) -> dict[str, int]:
    """``{"both": n}`` or prefill and decode replicas, each count a non-negative integer
    (at most ``maximum``)."""
    unknown = sorted(set(roles) - set(ROLES))
    if unknown or not roles:
        raise ConfigError(f"roles must be 'both', or 'prefill' and 'decode'; got {dict(roles)}")
    if "both" in roles and len(roles) > 1:
        raise ConfigError("a cluster is either aggregated ('both') or disaggregated")
    for role, count in roles.items():
        validate_replicas(role, count, maximum)
    return dict(roles)


def validate_replicas(role: str, replicas: object, maximum: int | None = None) -> int:
    """A replica count: an integer, not negative (``True`` is not a count), at most
    ``maximum`` when there is one."""
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        raise ConfigError(f"{role}: replicas must be an integer, got {replicas!r}")
    if replicas < 0:
        raise ConfigError(f"{role}: replicas cannot be negative, got {replicas}")
    if maximum is not None and replicas > maximum:
        raise ConfigError(
            f"{role}: {replicas} replicas is over the most of {maximum} per role; "
            "raise max_replicas (--max-replicas) or ask for fewer"
        )
    return replicas


class ReplicaSet(Generic[H]):
    """The replicas of every role of one cluster, and the policy over them."""

    def __init__(
        self,
        roles: Mapping[str, int],
        *,
        clock: Clock,
        cold_start_s: float = 0.0,
        max_replicas: int | None = None,
    ) -> None:
        if not cold_start_s >= 0:
            raise ConfigError(f"cold_start_s must be a non-negative number, got {cold_start_s}")
        self.max_replicas = max_replicas
        self.initial = validate_roles(roles, max_replicas)
        self.clock = clock
        self.cold_start_s = cold_start_s
        self._replicas: dict[str, list[Replica[H]]] = {role: [] for role in self.initial}
        self._names = itertools.count()
        self._turn = itertools.count()

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(self._replicas)

    def _role(self, role: str) -> list[Replica[H]]:
        if role not in self._replicas:
            raise ConfigError(f"no role {role!r} in this cluster ({', '.join(self._replicas)})")
        return self._replicas[role]

    # -- reading --------------------------------------------------------------------------------
    def replicas(self, role: str | None = None) -> Iterator[Replica[H]]:
        """Replicas not yet stopped, of one role or all, oldest first."""
        roles = self.roles if role is None else (role,)
        for name in roles:
            yield from (r for r in self._role(name) if r.phase is not Phase.STOPPED)

    def counts(self, role: str) -> Counts:
        phases = [r.phase for r in self._role(role)]
        return Counts(
            starting=phases.count(Phase.STARTING),
            ready=phases.count(Phase.READY),
            draining=phases.count(Phase.DRAINING),
        )

    def pick(self, role: str, load: Callable[[H], int]) -> Replica[H] | None:
        """The ready replica of ``role`` with the least ``load``; equal loads take turns."""
        ready = [r for r in self._role(role) if r.phase is Phase.READY]
        if not ready:
            return None
        loads = [load(r.handle) for r in ready]
        low = min(loads)
        tied = [r for r, n in zip(ready, loads, strict=True) if n == low]
        return tied[next(self._turn) % len(tied)]

    # -- changes --------------------------------------------------------------------------------
    def add(self, role: str, make: Callable[[str], H], *, cold: bool = True) -> Replica[H]:
        """A new starting replica; ``make`` builds its handle from its name. Without ``cold``
        (a cluster's first replicas) it may serve as soon as its shell has it up."""
        replicas = self._role(role)
        now = self.clock.monotonic()
        name = f"{role}-{next(self._names)}"
        due = now + self.cold_start_s if cold else now
        replica = Replica(role, name, make(name), due_at=due)
        replicas.append(replica)
        return replica

    def scale(self, role: str, replicas: int, make: Callable[[str], H]) -> Change[H]:
        """Ask for ``replicas`` of ``role``: start new ones, or remove the surplus."""
        validate_replicas(role, replicas, self.max_replicas)
        wanted = [r for r in self._role(role) if r.phase in (Phase.STARTING, Phase.READY)]
        added = tuple(self.add(role, make) for _ in range(replicas - len(wanted)))
        surplus = max(0, len(wanted) - replicas)
        order = sorted(
            range(len(wanted)), key=lambda i: (wanted[i].phase is Phase.READY, -i)
        )  # starting before ready, newest first
        removed = tuple(wanted[i] for i in order[:surplus])
        now = self.clock.monotonic()
        for replica in removed:
            replica.draining_since = now
            if replica.ready_at is None:
                self._stop(replica, now)  # it never served: nothing to finish
        return Change(added, removed)

    def mark_ready(self, replica: Replica[H]) -> bool:
        """The shell has ``replica`` serving; False if it was removed meanwhile."""
        if replica.phase is not Phase.STARTING:
            return False
        replica.ready_at = self.clock.monotonic()
        return True

    def mark_stopped(self, replica: Replica[H]) -> None:
        """A draining replica finished its last request and is gone."""
        if replica.stopped_at is None:
            self._stop(replica, self.clock.monotonic())

    def _stop(self, replica: Replica[H], now: float) -> None:
        """Stopped replicas are forgotten: a set scaled up and down keeps no trace of them."""
        replica.stopped_at = now
        self._replicas[replica.role].remove(replica)
