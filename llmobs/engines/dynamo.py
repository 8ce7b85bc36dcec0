"""NVIDIA Dynamo's HTTP frontend (``dynamo_frontend_*``) as canonical signals.

The frontend sees requests, not the engine: it gives the latency histograms (TTFT, ITL
observed once per token, request duration as E2E) and token/request counters. It has no KV
usage and no engine queue, so those signals stay None. Series are per ``model`` (lower-cased
by Dynamo up to 1.1) and per endpoint/status: they add up.
"""

from __future__ import annotations

from llmobs import signals
from llmobs.engines.catalog import Catalog, Naming, Source
from llmobs.exposition.model import Exposition

FRONTEND = Naming("frontend", "Dynamo HTTP frontend (dynamo_frontend_*)")


def naming(exposition: Exposition) -> Naming:
    return FRONTEND


CATALOG = Catalog(
    engine="dynamo",
    prefix="dynamo_frontend_",
    model_label="model",
    histograms=(
        Source(signals.TTFT.name, ("dynamo_frontend_time_to_first_token_seconds",)),
        Source(signals.ITL.name, ("dynamo_frontend_inter_token_latency_seconds",)),
        Source(signals.E2E.name, ("dynamo_frontend_request_duration_seconds",)),
    ),
    gauges=(),
    counters=(
        Source(signals.PROMPT_TOKENS.name, ("dynamo_frontend_input_sequence_tokens_sum",)),
        Source(signals.GENERATION_TOKENS.name, ("dynamo_frontend_output_tokens_total",)),
        Source(signals.REQUESTS.name, ("dynamo_frontend_requests_total",)),
    ),
    naming=naming,
)
