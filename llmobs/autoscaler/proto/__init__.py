"""KEDA's external-scaler protocol: ``externalscaler.proto`` and the Python generated from it
(``externalscaler_pb2``, ``externalscaler_pb2_grpc``; regenerate with
``python -m llmobs.autoscaler.proto.generate``, never edit them by hand)."""
