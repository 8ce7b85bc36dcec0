"""Leader election on a ``coordination.k8s.io/v1`` Lease, so that of several autoscaler
replicas exactly one acts (sets replicas); the others decide and report but change nothing.

The rules are client-go's ``leaderelection`` (LeaseLock):

* A replica reads the Lease. None exists: it creates one naming itself (``holderIdentity``,
  ``leaseDurationSeconds``, ``acquireTime``, ``renewTime``, ``leaseTransitions`` 0). It holds
  it: it renews (``renewTime`` now). Another holds it: it follows, and takes it over only once
  the record has stayed unchanged for ``leaseDurationSeconds`` *by its own clock* since it
  first saw that record (no comparison of clocks across machines), or at once if
  ``holderIdentity`` is empty (a leader that released it).
* Every write carries the ``resourceVersion`` just read: of two replicas that try at once, the
  API server accepts one and answers the other 409 (create: AlreadyExists; update: Conflict).
* A leader considers itself leading only until ``renew_deadline_s`` after its last successful
  renewal, which is shorter than the lease duration: a leader that cannot renew (partitioned,
  stalled) stops acting before anyone else may take over.
* ``release`` (on shutdown) empties ``holderIdentity`` so a follower takes over at once.

The decision is pure (``observe``, ``plan``, ``lease_body``); ``LeaseElector`` is the thin shell
that reads and writes through the official client (in a thread) and keeps the times. Needs
``get``, ``create`` and ``update`` on ``leases`` (``coordination.k8s.io``) in its namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import enum
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from llmobs.clock import SYSTEM, Clock

log = logging.getLogger(__name__)

GROUP, PLURAL = "coordination.k8s.io", "leases"


@dataclass(frozen=True, slots=True)
class ElectionConfig:
    """client-go's defaults: a 15 s lease, renewed every 2 s, given up after 10 s without
    a successful renewal."""

    lease_duration_s: int = 15  # how long a silent holder keeps the lease
    renew_deadline_s: float = 10.0  # a leader stops acting this long after its last renewal
    retry_period_s: float = 2.0  # how often every replica tries (renews or checks)
    timeout_s: float = 5.0  # one request to the API server

    def __post_init__(self) -> None:
        if not 0 < self.retry_period_s < self.renew_deadline_s < self.lease_duration_s:
            raise ValueError(
                "leader election needs 0 < retry_period_s < renew_deadline_s < "
                f"lease_duration_s, got {self.retry_period_s}, {self.renew_deadline_s}, "
                f"{self.lease_duration_s}"
            )
        if not self.timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The fields of a Lease that election reads."""

    holder: str  # "" when nobody holds it
    duration_s: int
    acquire_time: str | None
    transitions: int
    resource_version: str


@dataclass(frozen=True, slots=True)
class Observed:
    """A record and when (our monotonic clock) we first saw it unchanged."""

    record: LeaseRecord
    since: float


class Step(enum.StrEnum):
    CREATE = "create"  # no Lease yet
    RENEW = "renew"  # we hold it
    ACQUIRE = "acquire"  # released, or its holder went silent for its duration
    FOLLOW = "follow"  # someone else holds it


def _int(spec: Mapping[str, Any], key: str, default: int) -> int:
    value = spec.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def record_of(lease: Mapping[str, Any], default_duration_s: int) -> LeaseRecord:
    """The election fields of a Lease as JSON (absent ones: no holder, our duration, 0)."""
    spec = lease.get("spec")
    spec = spec if isinstance(spec, Mapping) else {}
    meta = lease.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    holder, acquired = spec.get("holderIdentity"), spec.get("acquireTime")
    return LeaseRecord(
        holder=holder if isinstance(holder, str) else "",
        duration_s=_int(spec, "leaseDurationSeconds", default_duration_s),
        acquire_time=acquired if isinstance(acquired, str) else None,
        transitions=_int(spec, "leaseTransitions", 0),
        resource_version=str(meta.get("resourceVersion", "")),
    )


def observe(previous: Observed | None, record: LeaseRecord, now: float) -> Observed:
    """Keep the time of first sight while the record is unchanged (same resourceVersion)."""
    if previous is not None and previous.record.resource_version == record.resource_version:
        return previous
    return Observed(record, now)


def plan(observed: Observed | None, identity: str, now: float) -> Step:
    """What a replica named ``identity`` does now, given what it last read (None: no Lease)."""
    if observed is None:
        return Step.CREATE
    record = observed.record
    if record.holder == identity:
        return Step.RENEW
    if not record.holder or now >= observed.since + record.duration_s:
        return Step.ACQUIRE
    return Step.FOLLOW


def micro_time(wall: float) -> str:
    """A Kubernetes MicroTime (RFC 3339, microseconds, UTC)."""
    moment = datetime.datetime.fromtimestamp(wall, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_body(
    name: str,
    identity: str,
    duration_s: int,
    step: Step,
    record: LeaseRecord | None,
    wall: float,
) -> dict[str, Any]:
    """The Lease to write for ``step`` (CREATE, RENEW, ACQUIRE); ``identity`` "" releases."""
    now = micro_time(wall)
    keep = step is Step.RENEW and record is not None
    transitions = 0 if record is None else record.transitions + (step is Step.ACQUIRE)
    spec = {
        "holderIdentity": identity,
        "leaseDurationSeconds": duration_s,
        "acquireTime": record.acquire_time if keep and record is not None else now,
        "renewTime": now,
        "leaseTransitions": transitions,
    }
    meta: dict[str, Any] = {"name": name}
    if record is not None:
        meta["resourceVersion"] = record.resource_version
    return {"apiVersion": f"{GROUP}/v1", "kind": "Lease", "metadata": meta, "spec": spec}


class LeaseElector:
    """One replica's side of the election on Lease ``namespace/name``."""

    def __init__(
        self,
        api: k8s.ApiClient,
        namespace: str,
        name: str,
        identity: str,
        config: ElectionConfig | None = None,
        clock: Clock = SYSTEM,
    ) -> None:
        if not identity:
            raise ValueError("a leader election identity must not be empty")
        self.namespace, self.name, self.identity = namespace, name, identity
        self.config = config or ElectionConfig()
        self.clock = clock
        self.last_error: str | None = None  # why the last attempt failed, for status
        # The generic API sends the Lease as JSON, its MicroTimes exactly as written here
        # (CoordinationV1Api's models would reformat them as Python's isoformat).
        self._api = k8s.CustomObjectsApi(api)
        self._observed: Observed | None = None
        self._renewed_at: float | None = None

    def is_leader(self) -> bool:
        """True while the last successful renewal is within the renew deadline."""
        if self._renewed_at is None:
            return False
        return self.clock.monotonic() < self._renewed_at + self.config.renew_deadline_s

    @property
    def holder(self) -> str | None:
        """Who held the Lease when it was last read (None: not read yet, or nobody)."""
        return (self._observed.record.holder or None) if self._observed else None

    async def attempt(self) -> bool:
        """One round: read, decide, write if needed. Returns whether this replica leads."""
        was = self.is_leader()
        try:
            await asyncio.to_thread(self._round)
            self.last_error = None
        except ApiException as exc:
            if exc.status == 409:  # another replica wrote first
                self._renewed_at = None
            self.last_error = self._explain(exc)
        except urllib3.exceptions.HTTPError as exc:
            self.last_error = self._explain(exc)
        leading = self.is_leader()
        if leading != was:
            log.info(
                "leader election: %s %s lease %s/%s",
                self.identity,
                "acquired" if leading else "lost",
                self.namespace,
                self.name,
            )
        if self.last_error is not None:
            log.warning("leader election: %s", self.last_error)
        return leading

    async def release(self) -> None:
        """Give the Lease up if this replica holds it (on shutdown)."""
        if not self.is_leader() or self._observed is None:
            return
        body = lease_body(self.name, "", 1, Step.RENEW, self._observed.record, self.clock.wall())
        self._renewed_at = None
        try:
            await asyncio.to_thread(self._write, "replace", body)
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            log.warning("leader election: cannot release: %s", self._explain(exc))

    async def run(self, stop: asyncio.Event, changed: Callable[[bool], None] | None = None) -> None:
        """Attempt every ``retry_period_s`` until ``stop``; then release. ``changed`` hears
        each change of leadership."""
        leading = False
        while not stop.is_set():
            now = await self.attempt()
            if now != leading and changed is not None:
                changed(now)
            leading = now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.retry_period_s)
        await self.release()

    def _round(self) -> None:
        now = self.clock.monotonic()
        lease = self._read()
        record = None if lease is None else record_of(lease, self.config.lease_duration_s)
        self._observed = None if record is None else observe(self._observed, record, now)
        step = plan(self._observed, self.identity, now)
        if step is Step.FOLLOW:
            self._renewed_at = None
            return
        body = lease_body(
            self.name,
            self.identity,
            self.config.lease_duration_s,
            step,
            record,
            self.clock.wall(),
        )
        written = self._write("create" if step is Step.CREATE else "replace", body)
        self._observed = Observed(record_of(written, self.config.lease_duration_s), now)
        self._renewed_at = now

    def _read(self) -> dict[str, Any] | None:
        try:
            lease = self._api.get_namespaced_custom_object(
                GROUP, "v1", self.namespace, PLURAL, self.name,
                _request_timeout=self.config.timeout_s,
            )  # fmt: skip
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return self._mapping(lease)

    def _write(self, how: str, body: dict[str, Any]) -> dict[str, Any]:
        timeout = self.config.timeout_s
        if how == "create":
            lease = self._api.create_namespaced_custom_object(
                GROUP, "v1", self.namespace, PLURAL, body, _request_timeout=timeout
            )
        else:
            lease = self._api.replace_namespaced_custom_object(
                GROUP, "v1", self.namespace, PLURAL, self.name, body, _request_timeout=timeout
            )
        return self._mapping(lease)

    @staticmethod
    def _mapping(lease: object) -> dict[str, Any]:
        if not isinstance(lease, dict):
            raise urllib3.exceptions.ProtocolError("the Lease is not a JSON object")
        return lease

    def _explain(self, exc: Exception) -> str:
        where = f'lease "{self.name}" in namespace "{self.namespace}"'
        if isinstance(exc, ApiException):
            if exc.status == 403:
                return (
                    f"forbidden: the autoscaler's identity may not read or write {where}; add "
                    f'an RBAC Role rule {{apiGroups: ["{GROUP}"], resources: ["{PLURAL}"], '
                    'verbs: ["get", "create", "update"]}'
                )
            if exc.status == 409:
                return f"{where}: another replica wrote it first"
            return f"{where}: HTTP {exc.status} {exc.reason}"
        if isinstance(exc, urllib3.exceptions.NewConnectionError):
            return f"{where}: cannot reach the API server"
        if isinstance(exc, urllib3.exceptions.TimeoutError):
            return f"{where}: timed out after {self.config.timeout_s:g}s"
        return f"{where}: {type(exc).__name__}"
