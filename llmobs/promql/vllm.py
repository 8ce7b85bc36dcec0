"""PromQL over vLLM series its catalog reads as no canonical signal: the request shape
(prompt and answer lengths) and the share of requests that failed. Every name comes from
``llmobs.engines.vllm``.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmobs import signals
from llmobs.engines import vllm
from llmobs.promql.engines import LE
from llmobs.promql.grafana import one_of
from llmobs.promql.syntax import (
    Agg,
    Expr,
    Matcher,
    Window,
    aggregate,
    grouping,
    rate,
    ratio,
    selector,
)

LENGTHS: dict[str, str] = {"prompt": vllm.PROMPT_LENGTH, "generation": vllm.GENERATION_LENGTH}


def length_buckets(kind: str, over: Window, *matchers: Matcher, by: Sequence[str] = ()) -> Expr:
    """Requests per second by their ``prompt`` or ``generation`` length bucket (``le``)."""
    series = selector(LENGTHS[kind] + "_bucket", *matchers)
    return aggregate(Agg.SUM, rate(series, over), grouping(by, LE))


def _requests() -> str:
    for source in vllm.CATALOG.counters:
        if source.signal == signals.REQUESTS.name:
            return source.names[0]
    raise AssertionError("the vLLM catalog reads no request counter")


def failed_share(over: Window, *matchers: Matcher) -> Expr:
    """Finished requests that were aborted or failed over all finished, over the range: 0
    when none failed, no series when none finished."""
    name = _requests()
    failed = selector(name, *matchers, one_of(vllm.FINISHED_REASON, vllm.FAILED_REASONS))
    every = selector(name, *matchers)
    bad = f"({aggregate(Agg.SUM, rate(failed, over))} or vector(0))"
    return ratio(bad, aggregate(Agg.SUM, rate(every, over)))
