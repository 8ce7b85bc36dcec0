"""``llmobs autoscaler``'s file and its wiring: the policy, where observations come from,
where replicas are read and set, leader election, and the HTTP and gRPC listeners.

The file (every key described; unknown keys are errors)::

    policy: {group: vllm-pd, roles: {prefill: {slo: {ttft: {p90: 1s}}}, ...}, gpu_budget: 16}
    source: {kind: exporter, url: http://llmobs-exporter:9400}   # or kind: scrape | prometheus
    output: {mode: keda, kind: RoleBasedGroupScalingAdapter, namespace: llm}
    leader_election: {namespace: llmobs, lease: llmobs-autoscaler}
    http: {host: 0.0.0.0, port: 9401}
    grpc: {host: 0.0.0.0, port: 9402, tls: {cert: ..., key: ..., client_ca: ...}}
    capacity_from: {file: sweep.json, prompt_tokens: 2500}   # seed capacities from a sweep

``serve`` runs it: the loop (``service.Autoscaler`` with ``policy.OurPolicy``), its HTTP
surface, the KEDA server when ``grpc`` is set, and the Lease when ``leader_election`` is.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from llmobs import strictjson
from llmobs.autoscaler.actuators import Kind, KubeScale, api_client, targets_for
from llmobs.autoscaler.capacity import seeded
from llmobs.autoscaler.config import AutoscalerConfig
from llmobs.autoscaler.model import Decision, Source
from llmobs.autoscaler.service import Autoscaler, Managed, stderr_line
from llmobs.autoscaler.sources.exporter import ExporterSource, ExporterSourceConfig
from llmobs.autoscaler.sources.prometheus import PrometheusSource, PrometheusSourceConfig
from llmobs.autoscaler.sources.scrape import ScrapeSource, ScrapeSourceConfig
from llmobs.config import StrictModel, read_yaml, validate
from llmobs.errors import ConfigError

HTTP_PORT = 9401
GRPC_PORT = 9402


class Output(StrictModel):
    """Where each role's replicas are read and, in direct mode, set."""

    mode: Literal["direct", "keda"] = Field(
        "direct",
        description="direct: this process sets the replicas; keda: it answers KEDA (grpc) "
        "and KEDA's HPA sets them (the replicas are still read here).",
    )
    kind: Kind = Field(
        Kind.DEPLOYMENT,
        description="Deployment, StatefulSet, LeaderWorkerSet or RoleBasedGroupScalingAdapter.",
    )
    namespace: str = Field("default", min_length=1, description="The workloads' namespace.")
    names: dict[str, str] = Field(
        default_factory=dict,
        description="Role -> object name; default <group>-<role> for an adapter, else the role.",
    )
    api_url: str | None = Field(
        None,
        description="A plain API base URL (the emulator, kubectl proxy); default in-cluster, "
        "else the kubeconfig.",
    )
    kubeconfig: str | None = Field(None, description="kubeconfig path (without api_url).")
    context: str | None = Field(None, description="kubeconfig context.")
    timeout_s: float = Field(5.0, gt=0, description="Seconds for one API request.")


class Election(StrictModel):
    """Leader election on a coordination.k8s.io Lease: only the holder sets replicas."""

    namespace: str = Field(min_length=1, description="The Lease's namespace.")
    lease: str = Field("llmobs-autoscaler", min_length=1, description="The Lease's name.")
    identity: str | None = Field(
        None, description="This replica's name in the Lease (default $POD_NAME, else the host)."
    )


class Listen(StrictModel):
    """The HTTP listener: /metrics, /v1/decisions, /healthz."""

    host: str = Field("0.0.0.0", description="Listen address.")
    port: int = Field(HTTP_PORT, ge=0, le=65535, description="Listen port; 0 picks a free one.")


class GrpcTls(StrictModel):
    """TLS for the KEDA server, as KEDA's enableTLS/caCert/tlsClientCert expect."""

    cert: Path = Field(description="Server certificate chain (PEM).")
    key: Path = Field(description="Server private key (PEM).")
    client_ca: Path | None = Field(None, description="CA that client certificates must chain to.")


class Grpc(StrictModel):
    """The KEDA external scaler (gRPC, with the standard health service)."""

    host: str = Field("0.0.0.0", description="Listen address.")
    port: int = Field(GRPC_PORT, ge=0, le=65535, description="Listen port; 0 picks a free one.")
    tls: GrpcTls | None = Field(None, description="TLS; plaintext when absent.")


class CapacityFrom(StrictModel):
    """Seed each role's per-replica capacity from an ``llmbench sweep`` measured on one
    replica (``llmobs.autoscaler.capacity.seeded``); a role that sets ``capacity`` keeps it."""

    file: Path = Field(description="The sweep's sweep.json (relative: to the working directory).")
    prompt_tokens: float | None = Field(
        None,
        gt=0,
        description="The sweep's prompt length (its --isl), which sweep.json does not record: "
        "prefill is seeded only with it (prompt tokens/s = requests/s x this).",
    )


SourceConfig = Annotated[
    ExporterSourceConfig | ScrapeSourceConfig | PrometheusSourceConfig, Field(discriminator="kind")
]


class Settings(StrictModel):
    """Everything ``llmobs autoscaler`` needs."""

    policy: AutoscalerConfig = Field(description="How each role is sized.")
    source: SourceConfig = Field(description="Where role observations come from.")
    output: Output = Field(default_factory=Output, description="Where replicas are set.")
    leader_election: Election | None = Field(None, description="Only the Lease holder acts.")
    http: Listen = Field(default_factory=Listen, description="The HTTP listener.")
    grpc: Grpc | None = Field(None, description="The KEDA external scaler; none when absent.")
    history: int = Field(20, ge=1, le=10_000, description="Decisions kept per role.")
    capacity_from: CapacityFrom | None = Field(
        None, description="Seed the roles' capacities from an llmbench sweep; none when absent."
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        unknown = sorted(set(self.output.names) - set(self.policy.roles))
        if unknown:
            raise ValueError(
                f"output.names: role(s) {', '.join(unknown)} not found in policy.roles "
                f"({', '.join(self.policy.roles)})"
            )
        if self.output.mode == "keda" and self.grpc is None:
            raise ValueError("output.mode keda answers KEDA over gRPC: add a grpc section")
        adapter = self.output.kind is Kind.SCALING_ADAPTER
        if adapter and not self.policy.group and set(self.output.names) != set(self.policy.roles):
            raise ValueError(
                "output.kind RoleBasedGroupScalingAdapter names <group>-<role>: set policy.group "
                "(the RoleBasedGroup) or give every role in output.names"
            )
        return self


def load(path: Path) -> Settings:
    """The settings in a YAML file, capacities seeded (raises ``ConfigError`` saying what to
    fix)."""
    settings = validate(Settings, read_yaml(path, "autoscaler config"), f"autoscaler config {path}")
    return with_capacity(settings)


def read_sweep(path: Path) -> dict[str, Any]:
    """An ``llmbench sweep`` result (raises ``ConfigError`` naming the file and the fault)."""
    where = f"capacity_from: {path}"
    try:
        doc = strictjson.loads(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror or exc})") from None
    except ValueError as exc:  # bad syntax, NaN, or bytes that are not UTF-8
        raise ConfigError(f"{where} is not JSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("tool") != "llmbench-sweep":
        raise ConfigError(f"{where} is not an llmbench sweep result (sweep.json)")
    if not isinstance(doc.get("points"), list):
        raise ConfigError(f"{where}: its points are not a list")
    return doc


def with_capacity(settings: Settings) -> Settings:
    """``settings`` with the policy's capacities seeded from ``capacity_from`` (if set)."""
    source = settings.capacity_from
    if source is None:
        return settings
    policy = seeded(settings.policy, read_sweep(source.file), source.prompt_tokens)
    return settings.model_copy(update={"policy": policy})


def managed(settings: Settings) -> list[Managed]:
    group = settings.policy.group or ""
    return [Managed(role, group) for role in settings.policy.roles]


def make_source(settings: Settings) -> Source:
    """Raises ConfigError: a secret file cannot be read."""
    if isinstance(settings.source, ExporterSourceConfig):
        return ExporterSource(settings.source)
    if isinstance(settings.source, PrometheusSourceConfig):
        return PrometheusSource(settings.source)
    return ScrapeSource(settings.source)


def make_actuator(settings: Settings) -> KubeScale:
    out = settings.output
    api = api_client(
        out.api_url,
        kubeconfig=out.kubeconfig,
        context=out.context,
        in_cluster=out.api_url is None and "KUBERNETES_SERVICE_HOST" in os.environ,
    )
    targets = targets_for(
        settings.policy.roles, out.kind, out.namespace, out.names, settings.policy.group
    )
    return KubeScale(api, targets, timeout_s=out.timeout_s)


async def serve(
    settings: Settings,
    *,
    dry_run: bool,
    ready: Callable[[int, int | None], None] | None = None,
    log: Callable[[str], None] = stderr_line,
) -> None:
    """Run until cancelled; ``ready(http_port, grpc_port)`` once both listen. Raises
    ConfigError for what stops the start (a port in use, a TLS file, the Kubernetes client)."""
    from llmobs.autoscaler import http
    from llmobs.autoscaler.keda import KedaServer, LatestDecisions, Tls
    from llmobs.autoscaler.lease import LeaseElector
    from llmobs.autoscaler.policy import OurPolicy

    roles = managed(settings)
    source = make_source(settings)
    actuator = make_actuator(settings)
    observers: list[Callable[[Decision], None]] = []
    keda: KedaServer | None = None
    if settings.grpc is not None:
        answers = LatestDecisions({roles[0].group: [r.role for r in roles]}, roles[0].group)
        tls = settings.grpc.tls
        try:
            credentials = Tls.from_files(tls.cert, tls.key, tls.client_ca) if tls else None
        except OSError as exc:
            raise ConfigError(f"grpc.tls: cannot read {exc.filename}: {exc.strerror}") from None
        server = KedaServer(answers, settings.grpc.host, settings.grpc.port, credentials)
        observers += [answers.update, lambda _decision: server.notify()]
        keda = server
    elector: LeaseElector | None = None
    if settings.leader_election is not None and settings.output.mode == "direct":
        election = settings.leader_election
        identity = election.identity or os.environ.get("POD_NAME") or socket.gethostname()
        elector = LeaseElector(actuator.api, election.namespace, election.lease, identity)
    scaler = Autoscaler(
        source,
        actuator,
        OurPolicy(settings.policy),
        roles,
        interval_s=settings.policy.interval_s,
        dry_run=dry_run,
        act=settings.output.mode == "direct",
        leader=elector.is_leader if elector is not None else None,
        observers=observers,
        history=settings.history,
        log=log,
    )
    runner = await http.listen(scaler, settings.http.host, settings.http.port, settings.policy)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    try:
        grpc_port = None
        if keda is not None:
            try:
                grpc_port = await keda.start()
            except RuntimeError as exc:
                raise ConfigError(f"{exc}; pick another --grpc-port") from None
        if elector is not None:
            tasks.append(asyncio.create_task(elector.run(stop)))
        if ready is not None:
            ready(int(runner.addresses[0][1]), grpc_port)
        await scaler.run()
    finally:
        stop.set()
        for task in tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task, 5)  # it releases the Lease
        if keda is not None:
            await keda.stop()
        await runner.cleanup()
        await scaler.close()
