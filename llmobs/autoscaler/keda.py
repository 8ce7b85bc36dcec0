"""KEDA's external scaler (gRPC service ``externalscaler.ExternalScaler``, trigger types
``external`` and ``external-push``): a thin shell that answers KEDA from an injected
``AnswerProvider``. It decides nothing; the answers are the policy's.

The mapping (the HPA's arithmetic is ``llmobs.autoscaler.hpa``):

* ``GetMetricSpec``: one metric per trigger, target 1 (``targetSize`` 1, ``targetSizeFloat``
  1.0). With the trigger's ``metricType: AverageValue`` (KEDA's default) the HPA that KEDA
  makes wants ``ceil(value / 1)`` replicas: our number.
* ``GetMetrics``: the desired replicas as ``metricValue`` and ``metricValueFloat``, under the
  name KEDA sends (KEDA strips its ``s<index>-`` prefix itself). With no decision to give
  (``desired`` None: missing or stale data) the answer is the current replicas, so the HPA's
  ratio is 1 and it holds: never a 0 that would scale the role down.
* ``IsActive`` / ``StreamIsActive``: false only when the provider says so (a role allowed to
  scale to zero, idle for its window). The stream sends the current value at once, then each
  change (checked on ``notify()`` and every ``recheck_s``).
* ``StreamMetricSpec``: UNIMPLEMENTED, so KEDA keeps polling ``GetMetricSpec``.
* A trigger naming no role, or a role or group the autoscaler does not manage: an error
  status (INVALID_ARGUMENT, NOT_FOUND) whose message says what to fix.

Beside it, the standard gRPC health service (``grpc.health.v1.Health``) answers SERVING, and
TLS takes a server certificate and key and, optionally, a client CA that every client must
present a certificate from (KEDA's ``enableTLS`` with ``caCert``, ``tlsClientCert`` and
``tlsClientKey``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

from llmobs.autoscaler.model import Decision
from llmobs.autoscaler.proto import externalscaler_pb2 as pb
from llmobs.autoscaler.proto import service as pb_service
from llmobs.errors import LlmobsError

SERVICE = "externalscaler.ExternalScaler"
# The trigger metadata keys that select a role (the whole trigger metadata reaches us).
ROLE_KEY = "role"
GROUP_KEY = "group"
# The HPA target of every metric we report: with AverageValue, ceil(value / 1) = value.
TARGET = 1


def metric_name(group: str, role: str) -> str:
    """The one spelling of the KEDA metric of a role (the HPA shows it as
    ``s<index>-llmobs-<group>-<role>-replicas``)."""
    return f"llmobs-{group}-{role}-replicas"


@dataclass(frozen=True, slots=True)
class KedaAnswer:
    """What KEDA is told about one trigger: the metric's name, the replicas the autoscaler
    wants (None: it has no decision, e.g. its data is missing or stale), the replicas the
    scale target has now (the HPA's ``currentReplicas``), and whether it should run at all."""

    metric_name: str
    desired: int | None
    current: int
    active: bool


def metric_value(answer: KedaAnswer) -> int:
    """The metric value reported for ``answer``: the desired replicas, or with no decision the
    current ones (the HPA's ratio is then 1: it holds)."""
    return answer.current if answer.desired is None else answer.desired


class KedaError(LlmobsError):
    """A KEDA request that cannot be answered; ``code`` is the gRPC status it is sent as."""

    reason = "keda"
    code = grpc.StatusCode.INVALID_ARGUMENT


class BadTrigger(KedaError):
    """The trigger's metadata does not say which role it scales."""

    reason = "bad_trigger"
    code = grpc.StatusCode.INVALID_ARGUMENT


class UnknownScaleTarget(KedaError):
    """The trigger names a role or group that this autoscaler does not manage."""

    reason = "unknown_role"
    code = grpc.StatusCode.NOT_FOUND


class NotDecidedYet(KedaError):
    """A managed role with no decision yet (just started): KEDA retries, the HPA holds."""

    reason = "not_decided"
    code = grpc.StatusCode.UNAVAILABLE


class AnswerProvider(Protocol):
    """Answers for one trigger: ``namespace``/``name`` are the ScaledObject's, ``metadata``
    the trigger's. Raises a ``KedaError`` for a trigger it cannot answer."""

    def answer(self, namespace: str, name: str, metadata: Mapping[str, str]) -> KedaAnswer: ...


def trigger_role(metadata: Mapping[str, str], default_group: str) -> tuple[str, str]:
    """The ``(group, role)`` a trigger's metadata selects (``group`` may be left out when the
    autoscaler manages one group). Raises BadTrigger without a ``role``."""
    role = metadata.get(ROLE_KEY, "").strip()
    if not role:
        keys = ", ".join(sorted(metadata)) or "none"
        raise BadTrigger(
            f"the trigger's metadata has no '{ROLE_KEY}' (keys: {keys}); "
            f"add e.g. '{ROLE_KEY}: decode' to the ScaledObject trigger's metadata"
        )
    return metadata.get(GROUP_KEY, "").strip() or default_group, role


class LatestDecisions:
    """An ``AnswerProvider`` over the latest decision of each managed ``(group, role)``.

    A role is active unless its latest decision wants 0 replicas (which the policy decides
    only for a role whose minimum is 0, after its zero-traffic window)."""

    def __init__(self, managed: Mapping[str, list[str]], default_group: str) -> None:
        self._managed = {group: list(roles) for group, roles in managed.items()}
        self._default_group = default_group
        self._latest: dict[tuple[str, str], Decision] = {}

    def update(self, decision: Decision) -> None:
        self._latest[(decision.group, decision.role)] = decision

    def answer(self, namespace: str, name: str, metadata: Mapping[str, str]) -> KedaAnswer:
        group, role = trigger_role(metadata, self._default_group)
        if group not in self._managed:
            known = ", ".join(sorted(self._managed)) or "none"
            raise UnknownScaleTarget(
                f"ScaledObject {namespace}/{name}: group '{group}' is not managed by this "
                f"autoscaler (groups: {known}); fix the trigger's '{GROUP_KEY}'"
            )
        if role not in self._managed[group]:
            known = ", ".join(self._managed[group]) or "none"
            raise UnknownScaleTarget(
                f"ScaledObject {namespace}/{name}: role '{role}' is not a role of group "
                f"'{group}' (roles: {known}); fix the trigger's '{ROLE_KEY}'"
            )
        decision = self._latest.get((group, role))
        if decision is None:
            raise NotDecidedYet(f"no decision yet for {group}/{role}: the autoscaler is starting")
        if decision.desired is None or decision.current is None:
            raise NotDecidedYet(
                f"the replicas of {group}/{role} are unknown ({decision.detail}): "
                "no answer rather than a guess"
            )
        return KedaAnswer(
            metric_name(group, role), decision.desired, decision.current, decision.desired > 0
        )


@dataclass(frozen=True, slots=True)
class Tls:
    """The server's certificate chain and key (PEM) and, for mutual TLS, the CA that client
    certificates must chain to (None: any client, no certificate asked)."""

    cert_chain: bytes
    private_key: bytes
    client_ca: bytes | None = None

    @classmethod
    def from_files(cls, cert: Path, key: Path, client_ca: Path | None = None) -> Tls:
        """Reads the PEM files (raises OSError naming the file that cannot be read)."""
        return cls(
            cert.read_bytes(), key.read_bytes(), client_ca.read_bytes() if client_ca else None
        )

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.cert_chain)],
            root_certificates=self.client_ca,
            require_client_auth=self.client_ca is not None,
        )


Context = grpc.aio.ServicerContext[Any, Any]


class ExternalScaler:
    """The ``externalscaler.ExternalScaler`` servicer (method names are the protocol's)."""

    def __init__(self, provider: AnswerProvider, recheck_s: float) -> None:
        self._provider = provider
        self._recheck_s = recheck_s
        self._changed = asyncio.Event()

    def notify(self) -> None:
        """Wakes every ``StreamIsActive`` stream to ask the provider again."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _answer(self, ref: pb.ScaledObjectRef, context: Context) -> KedaAnswer:
        try:
            return self._provider.answer(ref.namespace, ref.name, dict(ref.scalerMetadata))
        except KedaError as error:
            await context.abort(error.code, str(error))
            raise  # abort raises; this line only tells the type checker

    async def IsActive(self, request: pb.ScaledObjectRef, context: Context) -> pb.IsActiveResponse:
        answer = await self._answer(request, context)
        return pb.IsActiveResponse(result=answer.active)

    async def StreamIsActive(
        self, request: pb.ScaledObjectRef, context: Context
    ) -> AsyncIterator[pb.IsActiveResponse]:
        sent: bool | None = None
        while True:
            changed = self._changed
            active = (await self._answer(request, context)).active
            if active != sent:
                sent = active
                yield pb.IsActiveResponse(result=active)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), self._recheck_s)

    async def GetMetricSpec(
        self, request: pb.ScaledObjectRef, context: Context
    ) -> pb.GetMetricSpecResponse:
        answer = await self._answer(request, context)
        spec = pb.MetricSpec(
            metricName=answer.metric_name, targetSize=TARGET, targetSizeFloat=float(TARGET)
        )
        return pb.GetMetricSpecResponse(metricSpecs=[spec])

    async def GetMetrics(
        self, request: pb.GetMetricsRequest, context: Context
    ) -> pb.GetMetricsResponse:
        answer = await self._answer(request.scaledObjectRef, context)
        value = metric_value(answer)
        named = pb.MetricValue(
            metricName=request.metricName or answer.metric_name,
            metricValue=value,
            metricValueFloat=float(value),
        )
        return pb.GetMetricsResponse(metricValues=[named])

    async def StreamMetricSpec(
        self, request: pb.ScaledObjectRef, context: Context
    ) -> AsyncIterator[pb.GetMetricSpecResponse]:
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "metric specs never change here: poll GetMetricSpec"
        )
        yield pb.GetMetricSpecResponse()  # unreachable: makes this an async generator


class KedaServer:
    """The gRPC server: the external scaler and the health service on ``host:port`` (0 picks
    a free port; ``port`` is the bound one after ``start``)."""

    def __init__(
        self,
        provider: AnswerProvider,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: Tls | None = None,
        recheck_s: float = 5.0,
    ) -> None:
        self._address = f"{host}:{port}"
        self._tls = tls
        self.scaler = ExternalScaler(provider, recheck_s)
        self._health = health_aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self.port = port

    async def start(self) -> int:
        """Binds and serves; returns the port. Raises RuntimeError when the address cannot be
        bound or the server was started already."""
        if self._server is not None:
            raise RuntimeError("the KEDA server is started already")
        server = grpc.aio.server()
        pb_service.add_to_server(self.scaler, server)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        if self._tls is None:
            port = server.add_insecure_port(self._address)
        else:
            port = server.add_secure_port(self._address, self._tls.credentials())
        if port == 0:
            raise RuntimeError(f"cannot listen on {self._address} (in use, or no such address)")
        await server.start()
        for service in ("", SERVICE):
            await self._health.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._server, self.port = server, port
        return port

    def notify(self) -> None:
        """Tells push streams that answers may have changed (call after each decision)."""
        self.scaler.notify()

    async def stop(self, grace_s: float = 1.0) -> None:
        """Stops serving (idempotent): health says NOT_SERVING, then streams are cut."""
        server, self._server = self._server, None
        if server is None:
            return
        await self._health.enter_graceful_shutdown()
        await server.stop(grace_s)
