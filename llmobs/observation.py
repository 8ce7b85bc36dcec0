"""What a role looked like over a window: the typed record the autoscaler decides on.

A ``RoleObservation`` is one role (``namespace, group, role, model``) over one window: its
replica counts, the latency of each histogram signal (count, mean, quantiles), rates summed
over its replicas, the prefix-cache ratio, KV-cache usage and queue depths. Every field is a
typed attribute; the JSON document, the exporter's ``llmobs_role_*`` series and the reader
walk the dataclass fields, so a new rate is one field here (with its counter and metric in
the field's metadata) and nothing else. ``Observation`` is every role at one moment, the
``/v1/roles`` document; ``to_json`` and ``from_json`` round-trip it exactly.

Missing data is None, never 0. Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmobs import names, signals
from llmobs.errors import ObservationError

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class RoleKey:
    """Which role: the values of ``names.ROLE_LABELS``."""

    namespace: str
    group: str
    role: str
    model: str

    def labels(self) -> tuple[str, ...]:
        """Values of ``names.ROLE_LABELS``, in that order."""
        return (self.namespace, self.group, self.role, self.model)


@dataclass(frozen=True, slots=True)
class Replicas:
    """Replica counts: ready (known targets), scraped (with data in the window), up."""

    ready: int
    scraped: int
    up: int


@dataclass(frozen=True, slots=True)
class Latency:
    """One latency signal over the window: observations, their mean, quantiles (None when
    the window saw no observation below a quantile's rank)."""

    count: float
    mean: float | None
    quantiles: Mapping[float, float | None]


@dataclass(frozen=True, slots=True)
class Latencies:
    """Each histogram signal of the role; None where no replica exposes it in the window.
    Field names are the canonical signal names."""

    ttft_seconds: Latency | None = None
    itl_seconds: Latency | None = None
    tpot_seconds: Latency | None = None
    e2e_seconds: Latency | None = None
    queue_seconds: Latency | None = None

    def get(self, signal: str) -> Latency | None:
        """The latency of canonical signal ``signal`` (None for one this role lacks)."""
        value = getattr(self, signal, None)
        return value if isinstance(value, Latency) else None


@dataclass(frozen=True, slots=True)
class Spread:
    """A gauge over the replicas that are up: mean and max (None when none reports it)."""

    mean: float | None = None
    max: float | None = None


def _rate(counter: signals.Signal, metric: names.Metric) -> dict[str, Any]:
    """A rate field's metadata: the counter it is the rate of and the series it is exported as."""
    return {"counter": counter.name, "metric": metric}


@dataclass(frozen=True, slots=True)
class RoleObservation:
    """One role over one window ending at ``timestamp`` (Unix seconds).

    ``age_seconds`` is how old the newest snapshot behind it was at ``timestamp`` (None when
    no replica has been scraped): a consumer holds on data that is too old. Rates are per
    second, summed over the replicas; gauges are over the replicas that are up.
    """

    key: RoleKey
    replicas: Replicas
    window_seconds: float
    timestamp: float
    age_seconds: float | None
    latency: Latencies = field(default_factory=Latencies)
    request_rate: float | None = field(
        default=None, metadata=_rate(signals.REQUESTS, names.ROLE_REQUEST_RATE)
    )
    prompt_tokens_rate: float | None = field(
        default=None, metadata=_rate(signals.PROMPT_TOKENS, names.ROLE_PROMPT_TOKENS_RATE)
    )
    generation_tokens_rate: float | None = field(
        default=None,
        metadata=_rate(signals.GENERATION_TOKENS, names.ROLE_GENERATION_TOKENS_RATE),
    )
    preemption_rate: float | None = field(
        default=None, metadata=_rate(signals.PREEMPTIONS, names.ROLE_PREEMPTION_RATE)
    )
    prefix_cache_hit_ratio: float | None = None
    kv_cache_usage_ratio: Spread = field(default_factory=Spread)
    requests_running: float | None = None
    requests_waiting: float | None = None

    def age_at(self, wall_now: float) -> float | None:
        """The age of the newest data at Unix time ``wall_now`` (for a document read later)."""
        if self.age_seconds is None:
            return None
        return self.age_seconds + max(wall_now - self.timestamp, 0.0)


@dataclass(frozen=True, slots=True)
class RateField:
    """A rate field of ``RoleObservation``: its name, the counter it is the rate of, its metric."""

    name: str
    counter: str
    metric: names.Metric


RATE_FIELDS: tuple[RateField, ...] = tuple(
    RateField(f.name, f.metadata["counter"], f.metadata["metric"])
    for f in dataclasses.fields(RoleObservation)
    if "counter" in f.metadata
)
LATENCY_FIELDS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Latencies))


@dataclass(frozen=True, slots=True)
class Observation:
    """Every role at one moment: the ``/v1/roles`` document."""

    timestamp: float
    window_seconds: float
    roles: tuple[RoleObservation, ...]

    def find(self, role: str, group: str | None = None) -> RoleObservation | None:
        """The observation of ``role`` (in ``group`` when given); None if there is none."""
        for item in self.roles:
            if item.key.role == role and (group is None or item.key.group == group):
                return item
        return None


# JSON ------------------------------------------------------------------------------------


def _number(value: float | None) -> float | None:
    """Strict JSON: NaN and infinities have no JSON spelling; they are no data."""
    return None if value is None or not math.isfinite(value) else value


def _quantile_key(q: float) -> str:
    return repr(float(q))


def _latency_json(latency: Latency | None) -> dict[str, Any] | None:
    count = None if latency is None else _number(latency.count)
    if latency is None or count is None:  # a count that is not a number: no latency at all
        return None
    return {
        "count": count,
        "mean": _number(latency.mean),
        "quantiles": {_quantile_key(q): _number(v) for q, v in latency.quantiles.items()},
    }


def role_json(item: RoleObservation) -> dict[str, Any]:
    """One role's part of the document."""
    doc: dict[str, Any] = {
        names.NAMESPACE: item.key.namespace,
        names.GROUP: item.key.group,
        names.ROLE: item.key.role,
        names.MODEL: item.key.model,
        "replicas": dataclasses.asdict(item.replicas),
        "window_seconds": item.window_seconds,
        "timestamp": item.timestamp,
        "age_seconds": _number(item.age_seconds),
        "latency": {name: _latency_json(item.latency.get(name)) for name in LATENCY_FIELDS},
    }
    for rate in RATE_FIELDS:
        doc[rate.name] = _number(getattr(item, rate.name))
    doc["prefix_cache_hit_ratio"] = _number(item.prefix_cache_hit_ratio)
    doc["kv_cache_usage_ratio"] = {
        names.STAT_MEAN: _number(item.kv_cache_usage_ratio.mean),
        names.STAT_MAX: _number(item.kv_cache_usage_ratio.max),
    }
    doc["requests_running"] = _number(item.requests_running)
    doc["requests_waiting"] = _number(item.requests_waiting)
    return doc


def to_json(observation: Observation) -> dict[str, Any]:
    """The ``/v1/roles`` document (schema version 1): strict JSON, absent data ``null``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "timestamp": observation.timestamp,
        "window_seconds": observation.window_seconds,
        "roles": [role_json(item) for item in observation.roles],
    }


# Reading it back -------------------------------------------------------------------------


def _fail(path: str, what: str) -> ObservationError:
    return ObservationError(f"role observation document: {path}: {what}")


def _mapping(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _fail(path, f"expected an object, got {type(value).__name__}")
    return value


def _float(value: object, path: str, *, optional: bool) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(path, f"expected a number{' or null' if optional else ''}, got {value!r}")
    return float(value)


def _required(value: object, path: str) -> float:
    number = _float(value, path, optional=False)
    assert number is not None
    return number


def _string(value: object, path: str) -> str:
    if not isinstance(value, str):
        raise _fail(path, f"expected a string, got {value!r}")
    return value


def _count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _fail(path, f"expected a whole number of replicas, got {value!r}")
    return value


def _latency_from(value: object, path: str) -> Latency | None:
    if value is None:
        return None
    doc = _mapping(value, path)
    quantiles: dict[float, float | None] = {}
    for key, number in _mapping(doc.get("quantiles"), f"{path}.quantiles").items():
        try:
            q = float(key)
        except ValueError:
            raise _fail(f"{path}.quantiles", f"{key!r} is not a quantile") from None
        if not 0.0 <= q <= 1.0:
            raise _fail(f"{path}.quantiles", f"{key!r} is not a quantile between 0 and 1")
        quantiles[q] = _float(number, f"{path}.quantiles.{key}", optional=True)
    return Latency(
        _required(doc.get("count"), f"{path}.count"),
        _float(doc.get("mean"), f"{path}.mean", optional=True),
        quantiles,
    )


def role_from_json(value: object, path: str, timestamp: float, window: float) -> RoleObservation:
    """One role read from its part of the document (raises ``ObservationError``)."""
    doc = _mapping(value, path)
    replicas = _mapping(doc.get("replicas"), f"{path}.replicas")
    latency = _mapping(doc.get("latency", {}), f"{path}.latency")
    kv = _mapping(doc.get("kv_cache_usage_ratio", {}), f"{path}.kv_cache_usage_ratio")
    rates = {
        r.name: _float(doc.get(r.name), f"{path}.{r.name}", optional=True) for r in RATE_FIELDS
    }
    return RoleObservation(
        key=RoleKey(*(_string(doc.get(label), f"{path}.{label}") for label in names.ROLE_LABELS)),
        replicas=Replicas(
            **{
                state: _count(replicas.get(state), f"{path}.replicas.{state}")
                for state in names.REPLICA_STATES
            }
        ),
        window_seconds=_required(doc.get("window_seconds", window), f"{path}.window_seconds"),
        timestamp=_required(doc.get("timestamp", timestamp), f"{path}.timestamp"),
        age_seconds=_float(doc.get("age_seconds"), f"{path}.age_seconds", optional=True),
        latency=Latencies(
            **{
                name: _latency_from(latency.get(name), f"{path}.latency.{name}")
                for name in LATENCY_FIELDS
            }
        ),
        **rates,
        prefix_cache_hit_ratio=_float(
            doc.get("prefix_cache_hit_ratio"), f"{path}.prefix_cache_hit_ratio", optional=True
        ),
        kv_cache_usage_ratio=Spread(
            _float(kv.get(names.STAT_MEAN), f"{path}.kv_cache_usage_ratio.mean", optional=True),
            _float(kv.get(names.STAT_MAX), f"{path}.kv_cache_usage_ratio.max", optional=True),
        ),
        requests_running=_float(
            doc.get("requests_running"), f"{path}.requests_running", optional=True
        ),
        requests_waiting=_float(
            doc.get("requests_waiting"), f"{path}.requests_waiting", optional=True
        ),
    )


def from_json(value: object) -> Observation:
    """Read a ``/v1/roles`` document back (unknown keys are ignored: newer writers may add).

    Raises:
        ObservationError: not a schema-1 document, or a field of the wrong type (says which).
    """
    doc = _mapping(value, "(top level)")
    version = doc.get("schema_version")
    if version != SCHEMA_VERSION:
        raise _fail("schema_version", f"expected {SCHEMA_VERSION}, got {version!r}")
    timestamp = _required(doc.get("timestamp"), "timestamp")
    window = _required(doc.get("window_seconds"), "window_seconds")
    items = doc.get("roles")
    if not isinstance(items, list):
        raise _fail("roles", f"expected a list, got {type(items).__name__}")
    roles = tuple(
        role_from_json(item, f"roles[{i}]", timestamp, window) for i, item in enumerate(items)
    )
    return Observation(timestamp, window, roles)
