"""llmobs: observe, autoscale and benchmark LLM inference on Kubernetes.

The public surface is small on purpose; subpackages hold the components:
``llmobs.exposition`` (reading /metrics), ``llmobs.engines`` (engine catalogs),
``llmobs.histogram`` (PromQL-identical histogram math), ``llmobs.signals``
(the canonical signal names) and ``llmobs.scrape`` (fetching targets).
"""

from llmobs.errors import LlmobsError

__version__ = "0.1.0"

__all__ = ["LlmobsError", "__version__"]
