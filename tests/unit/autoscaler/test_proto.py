"""The committed Python of KEDA's external-scaler protocol is exactly what grpcio-tools
generates from ``externalscaler.proto``: they never drift apart."""

from __future__ import annotations

from pathlib import Path

from llmobs.autoscaler.proto import externalscaler_pb2 as pb
from llmobs.autoscaler.proto import generate


def test_regenerating_gives_the_committed_files_byte_for_byte(tmp_path: Path) -> None:
    fresh = generate.generate(tmp_path)
    assert [path.name for path in fresh] == list(generate.GENERATED)
    for path in fresh:
        committed = generate.PROTO.with_name(path.name)
        assert path.read_bytes() == committed.read_bytes(), (
            f"{committed} differs from a fresh generation: "
            "run python -m llmobs.autoscaler.proto.generate and commit the result"
        )


def test_the_wire_names_are_kedas() -> None:
    service = pb.DESCRIPTOR.services_by_name["ExternalScaler"]
    assert service.full_name == "externalscaler.ExternalScaler"
    assert [m.name for m in service.methods] == [
        "IsActive",
        "StreamIsActive",
        "GetMetricSpec",
        "GetMetrics",
        "StreamMetricSpec",
    ]
    fields = {
        name: [(f.name, f.number) for f in pb.DESCRIPTOR.message_types_by_name[name].fields]
        for name in ("ScaledObjectRef", "MetricSpec", "GetMetricsRequest", "MetricValue")
    }
    assert fields == {
        "ScaledObjectRef": [("name", 1), ("namespace", 2), ("scalerMetadata", 3)],
        "MetricSpec": [("metricName", 1), ("targetSize", 2), ("targetSizeFloat", 3)],
        "GetMetricsRequest": [("scaledObjectRef", 1), ("metricName", 2)],
        "MetricValue": [("metricName", 1), ("metricValue", 2), ("metricValueFloat", 3)],
    }
