"""The KEDA external scaler through a real gRPC channel on 127.0.0.1, called as KEDA calls it
(``pkg/scalers/external_scaler.go``): GetMetricSpec, then GetMetrics with the metric name KEDA
sends (its ``s<index>-`` prefix stripped), then IsActive; StreamIsActive held open; TLS with
and without client certificates; the health service. The HPA's arithmetic
(``llmobs.autoscaler.hpa``) is applied to the answers as the HPA applies it.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from llmobs.autoscaler import hpa
from llmobs.autoscaler.keda import (
    SERVICE,
    KedaAnswer,
    KedaServer,
    LatestDecisions,
    Tls,
    metric_name,
)
from llmobs.autoscaler.model import Decision, Reason
from llmobs.autoscaler.proto import externalscaler_pb2 as pb
from llmobs.autoscaler.proto.service import ExternalScalerStub

GROUP = "my-rbg"
DEADLINE_S = 10.0


def decision(role: str, current: int, desired: int, reason: Reason) -> Decision:
    return Decision(role, GROUP, current, desired, (reason,), "test", 0.0)


def trigger(role: str, group: str = GROUP) -> pb.ScaledObjectRef:
    """The ScaledObjectRef KEDA sends: the ScaledObject's name and namespace, the trigger's
    whole metadata."""
    metadata = {"scalerAddress": "llmobs-autoscaler:9090", "role": role, "group": group}
    return pb.ScaledObjectRef(name=f"{group}-{role}", namespace="llm", scalerMetadata=metadata)


@dataclass(frozen=True)
class KedaView:
    """What KEDA makes of one polling round."""

    target: float
    value: float
    active: bool


async def poll_as_keda(stub: Any, ref: pb.ScaledObjectRef) -> KedaView:
    spec_response: pb.GetMetricSpecResponse = await stub.GetMetricSpec(ref, timeout=DEADLINE_S)
    (spec,) = spec_response.metricSpecs
    hpa_metric = f"s0-{spec.metricName}"  # the HPA's name; KEDA strips the prefix again
    request = pb.GetMetricsRequest(scaledObjectRef=ref, metricName=hpa_metric.removeprefix("s0-"))
    metrics: pb.GetMetricsResponse = await stub.GetMetrics(request, timeout=DEADLINE_S)
    (value,) = metrics.metricValues
    assert value.metricName == spec.metricName
    active: pb.IsActiveResponse = await stub.IsActive(ref, timeout=DEADLINE_S)
    # KEDA uses the float fields when > 0, else the deprecated integers.
    return KedaView(
        target=spec.targetSizeFloat if spec.targetSizeFloat > 0 else spec.targetSize,
        value=value.metricValueFloat if value.metricValueFloat > 0 else value.metricValue,
        active=active.result,
    )


@pytest.fixture
def decisions() -> LatestDecisions:
    return LatestDecisions({GROUP: ["prefill", "decode"]}, default_group=GROUP)


@pytest.fixture
async def server(decisions: LatestDecisions) -> AsyncIterator[KedaServer]:
    keda = KedaServer(decisions)
    await keda.start()
    yield keda
    await keda.stop()


@pytest.fixture
async def channel(server: KedaServer) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as open_channel:
        yield open_channel


async def test_keda_polling_round_gives_our_replicas_through_the_hpa(
    decisions: LatestDecisions, channel: grpc.aio.Channel
) -> None:
    decisions.update(decision("prefill", current=4, desired=7, reason=Reason.SLO_BREACH))
    decisions.update(decision("decode", current=10, desired=11, reason=Reason.KV_PRESSURE))
    stub = ExternalScalerStub(channel)

    prefill = await poll_as_keda(stub, trigger("prefill"))
    assert prefill == KedaView(target=1.0, value=7.0, active=True)
    default, exact = hpa.DEFAULT_BEHAVIOR, hpa.EXACT_BEHAVIOR
    assert hpa.hpa_replicas(prefill.value, prefill.target, 4, (1, 100), default) == 7

    decode = await poll_as_keda(stub, trigger("decode"))
    assert decode == KedaView(target=1.0, value=11.0, active=True)
    # At 10 replicas the default 10 % tolerance holds +1; the documented behavior does not.
    assert hpa.hpa_replicas(decode.value, decode.target, 10, (1, 100), default) == 10
    assert hpa.hpa_replicas(decode.value, decode.target, 10, (1, 100), exact) == 11


async def test_a_hold_answers_the_current_replicas_and_the_hpa_holds(
    decisions: LatestDecisions, channel: grpc.aio.Channel
) -> None:
    decisions.update(decision("decode", current=12, desired=12, reason=Reason.STALE_DATA))
    view = await poll_as_keda(ExternalScalerStub(channel), trigger("decode"))
    assert view == KedaView(target=1.0, value=12.0, active=True)
    assert hpa.hpa_replicas(view.value, view.target, 12, (1, 100), hpa.EXACT_BEHAVIOR) == 12


class NoDecision:
    """A provider that knows a role's replicas but has no decision for it."""

    def answer(self, namespace: str, name: str, metadata: Mapping[str, str]) -> KedaAnswer:
        return KedaAnswer(metric_name(GROUP, metadata["role"]), None, current=5, active=True)


async def test_no_decision_is_the_current_replicas_never_zero() -> None:
    keda = KedaServer(NoDecision())
    await keda.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{keda.port}") as channel:
            view = await poll_as_keda(ExternalScalerStub(channel), trigger("decode"))
    finally:
        await keda.stop()
    assert view == KedaView(target=1.0, value=5.0, active=True)
    assert hpa.hpa_replicas(view.value, view.target, 5, (1, 100)) == 5


async def test_scaled_to_zero_is_inactive(
    decisions: LatestDecisions, channel: grpc.aio.Channel
) -> None:
    decisions.update(decision("prefill", current=1, desired=0, reason=Reason.ZERO_TRAFFIC))
    view = await poll_as_keda(ExternalScalerStub(channel), trigger("prefill"))
    assert view == KedaView(target=1.0, value=0.0, active=False)


async def test_stream_is_active_pushes_each_change(
    decisions: LatestDecisions, server: KedaServer, channel: grpc.aio.Channel
) -> None:
    decisions.update(decision("prefill", current=2, desired=2, reason=Reason.WITHIN_SLO))
    stream = ExternalScalerStub(channel).StreamIsActive(trigger("prefill"))
    first: pb.IsActiveResponse = await stream.read()
    assert first.result is True
    decisions.update(decision("prefill", current=2, desired=0, reason=Reason.ZERO_TRAFFIC))
    server.notify()
    second: pb.IsActiveResponse = await stream.read()
    assert second.result is False
    decisions.update(decision("prefill", current=0, desired=1, reason=Reason.QUEUE))
    server.notify()
    third: pb.IsActiveResponse = await stream.read()
    assert third.result is True
    stream.cancel()


async def test_stream_is_active_pushes_a_change_nobody_notified(
    decisions: LatestDecisions,
) -> None:
    decisions.update(decision("decode", current=1, desired=1, reason=Reason.WITHIN_SLO))
    keda = KedaServer(decisions, recheck_s=0.05)
    await keda.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{keda.port}") as channel:
            stream = ExternalScalerStub(channel).StreamIsActive(trigger("decode"))
            first: pb.IsActiveResponse = await stream.read()
            decisions.update(decision("decode", current=1, desired=0, reason=Reason.ZERO_TRAFFIC))
            second: pb.IsActiveResponse = await stream.read()
            stream.cancel()
    finally:
        await keda.stop()
    assert (first.result, second.result) == (True, False)


@pytest.mark.parametrize(
    ("ref", "code", "message"),
    [
        (trigger("router"), grpc.StatusCode.NOT_FOUND, "role 'router' is not a role of group"),
        (trigger("decode", "other"), grpc.StatusCode.NOT_FOUND, "group 'other' is not managed"),
        (
            pb.ScaledObjectRef(name="x", namespace="llm", scalerMetadata={"scalerAddress": "a"}),
            grpc.StatusCode.INVALID_ARGUMENT,
            "has no 'role' (keys: scalerAddress)",
        ),
        (trigger("decode"), grpc.StatusCode.UNAVAILABLE, "no decision yet for my-rbg/decode"),
    ],
)
async def test_triggers_we_cannot_answer_get_a_status_that_says_why(
    channel: grpc.aio.Channel, ref: pb.ScaledObjectRef, code: grpc.StatusCode, message: str
) -> None:
    stub = ExternalScalerStub(channel)
    calls = [
        stub.GetMetricSpec(ref, timeout=DEADLINE_S),
        stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=ref, metricName="m")),
        stub.IsActive(ref, timeout=DEADLINE_S),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == code
        assert message in (raised.value.details() or "")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.StreamIsActive(ref).read()
    assert raised.value.code() == code


async def test_stream_metric_spec_is_unimplemented_so_keda_polls(
    channel: grpc.aio.Channel,
) -> None:
    stream = ExternalScalerStub(channel).StreamMetricSpec(trigger("decode"))
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stream.read()
    assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED


async def test_health_service_says_serving(channel: grpc.aio.Channel) -> None:
    # types-grpcio-health-checking's HealthStub declares no methods.
    health: Any = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_start_twice_is_refused_and_stop_is_idempotent(server: KedaServer) -> None:
    with pytest.raises(RuntimeError, match="started already"):
        await server.start()
    await server.stop()
    await server.stop()


@dataclass(frozen=True)
class Pem:
    cert: bytes
    key: bytes


def issue(subject: str, issuer: Pem | None, *, server: bool = False) -> Pem:
    """A certificate for ``subject`` signed by ``issuer`` (None: a self-signed CA)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    if issuer is None:
        signer, issuer_name = key, name
    else:
        loaded = serialization.load_pem_private_key(issuer.key, password=None)
        assert isinstance(loaded, ec.EllipticCurvePrivateKey)
        signer, issuer_name = loaded, x509.load_pem_x509_certificate(issuer.cert).subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(signer, hashes.SHA256())
    return Pem(
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


@dataclass(frozen=True)
class Pki:
    ca: Pem
    server: Pem
    client: Pem
    stranger: Pem  # a client certificate from another CA


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca, other_ca = issue("llmobs test CA", None), issue("another CA", None)
    return Pki(
        ca=ca,
        server=issue("llmobs-autoscaler", ca, server=True),
        client=issue("keda-operator", ca),
        stranger=issue("keda-operator", other_ca),
    )


async def is_active_over_tls(port: int, credentials: grpc.ChannelCredentials) -> bool:
    async with grpc.aio.secure_channel(f"127.0.0.1:{port}", credentials) as channel:
        stub = ExternalScalerStub(channel)
        answer: pb.IsActiveResponse = await stub.IsActive(trigger("decode"), timeout=DEADLINE_S)
        return answer.result


async def test_tls_server_certificate_as_keda_checks_it(
    decisions: LatestDecisions, pki: Pki, tmp_path: Any
) -> None:
    (tmp_path / "tls.crt").write_bytes(pki.server.cert)
    (tmp_path / "tls.key").write_bytes(pki.server.key)
    tls = Tls.from_files(tmp_path / "tls.crt", tmp_path / "tls.key")
    decisions.update(decision("decode", current=3, desired=3, reason=Reason.WITHIN_SLO))
    keda = KedaServer(decisions, tls=tls)
    port = await keda.start()
    try:
        # enableTLS with caCert: the server's certificate is checked against the CA.
        assert await is_active_over_tls(port, grpc.ssl_channel_credentials(pki.ca.cert))
        # A client trusting another CA refuses the server; a plain-text client gets nowhere.
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await is_active_over_tls(port, grpc.ssl_channel_credentials(pki.stranger.cert))
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as plain:
            with pytest.raises(grpc.aio.AioRpcError):
                await ExternalScalerStub(plain).IsActive(trigger("decode"), timeout=5)
    finally:
        await keda.stop()


async def test_mutual_tls_accepts_only_clients_of_the_client_ca(
    decisions: LatestDecisions, pki: Pki
) -> None:
    decisions.update(decision("decode", current=3, desired=0, reason=Reason.ZERO_TRAFFIC))
    keda = KedaServer(decisions, tls=Tls(pki.server.cert, pki.server.key, client_ca=pki.ca.cert))
    port = await keda.start()
    try:
        # KEDA's caCert + tlsClientCert + tlsClientKey.
        keda_client = grpc.ssl_channel_credentials(pki.ca.cert, pki.client.key, pki.client.cert)
        assert await is_active_over_tls(port, keda_client) is False
        no_cert = grpc.ssl_channel_credentials(pki.ca.cert)
        stranger = grpc.ssl_channel_credentials(pki.ca.cert, pki.stranger.key, pki.stranger.cert)
        for refused in (no_cert, stranger):
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await is_active_over_tls(port, refused)
            assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        await keda.stop()


async def test_unknown_replicas_get_no_answer_never_a_zero(
    decisions: LatestDecisions, channel: grpc.aio.Channel
) -> None:
    """A hold for a role whose replicas could not be read yet (the API server refused): KEDA
    gets UNAVAILABLE (its fallback keeps the replicas there are), not 0 and inactive."""
    unknown = Decision("decode", GROUP, None, None, (Reason.ACTUATOR_FAILED,), "403", 0.0)
    decisions.update(unknown)
    stub = ExternalScalerStub(channel)
    for call in (
        stub.GetMetrics(pb.GetMetricsRequest(scaledObjectRef=trigger("decode"), metricName="m")),
        stub.IsActive(trigger("decode"), timeout=DEADLINE_S),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call
        assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "replicas of my-rbg/decode are unknown" in (raised.value.details() or "")
