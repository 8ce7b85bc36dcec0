"""llmobs: observe, autoscale and benchmark LLM inference on Kubernetes.

The public surface is small on purpose; subpackages hold the components:
``llmobs.exposition`` (reading /metrics), ``llmobs.engines`` (engine catalogs),
``llmobs.histogram`` (PromQL-identical histogram math), ``llmobs.signals``
(the canonical signal names), ``llmobs.scrape`` (fetching targets),
``llmobs.exporter`` (role-level signals for Prometheus; ``llmobs.names`` spells
every exported series), ``llmobs.sim`` (the emulator) and ``llmobs.bench`` (llmbench).
"""

from llmobs.errors import LlmobsError

__version__ = "0.1.0"

__all__ = ["LlmobsError", "__version__"]
