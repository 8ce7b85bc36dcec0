"""KEDA's external-scaler protocol: ``externalscaler.proto`` and the Python generated from it
(``externalscaler_pb2``: the messages; regenerate with ``python -m
llmobs.autoscaler.proto.generate``, never edit it by hand), and the service's wiring,
``service``."""
