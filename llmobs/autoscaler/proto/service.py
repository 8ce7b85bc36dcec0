"""The ``externalscaler.ExternalScaler`` service's wiring, written from the .proto (not
generated): its five methods with their request and response messages, the server's
registration of an implementation, and the client stub the tests use as KEDA does.

grpcio-tools' ``--grpc_python_out`` would also emit a servicer base class of placeholder
methods; the service is implemented in full in ``llmobs.autoscaler.keda``, which needs only
this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from llmobs.autoscaler.proto import externalscaler_pb2 as pb

SERVICE = "externalscaler.ExternalScaler"


@dataclass(frozen=True)
class Method:
    """One rpc of the service: streamed answers or one, and its message types."""

    name: str
    streams: bool
    request: Any
    response: Any

    @property
    def path(self) -> str:
        return f"/{SERVICE}/{self.name}"


METHODS = (
    Method("IsActive", False, pb.ScaledObjectRef, pb.IsActiveResponse),
    Method("StreamIsActive", True, pb.ScaledObjectRef, pb.IsActiveResponse),
    Method("GetMetricSpec", False, pb.ScaledObjectRef, pb.GetMetricSpecResponse),
    Method("GetMetrics", False, pb.GetMetricsRequest, pb.GetMetricsResponse),
    Method("StreamMetricSpec", True, pb.ScaledObjectRef, pb.GetMetricSpecResponse),
)


def add_to_server(implementation: object, server: grpc.aio.Server) -> None:
    """Serve ``implementation``'s methods (one attribute per rpc name) on ``server``."""
    handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}
    for method in METHODS:
        make = (
            grpc.unary_stream_rpc_method_handler
            if method.streams
            else grpc.unary_unary_rpc_method_handler
        )
        handlers[method.name] = make(
            getattr(implementation, method.name),
            request_deserializer=method.request.FromString,
            response_serializer=method.response.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))


class ExternalScalerStub:
    """A client of the service on ``channel``: one callable per rpc, as KEDA calls them."""

    def __init__(self, channel: grpc.Channel | grpc.aio.Channel) -> None:
        for method in METHODS:
            factory: Callable[..., Any] = (
                channel.unary_stream if method.streams else channel.unary_unary
            )
            setattr(
                self,
                method.name,
                factory(
                    method.path,
                    request_serializer=method.request.SerializeToString,
                    response_deserializer=method.response.FromString,
                ),
            )

    def __getattr__(self, name: str) -> Any:  # the rpcs, set in __init__
        raise AttributeError(f"{SERVICE} has no method {name!r}")
