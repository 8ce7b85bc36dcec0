"""SGLang's metrics (0.4.0 to 0.5.23, ``--enable-metrics``) as canonical signals.

Facts from the SGLang wheels (``shared/notes/engine-metrics.md`` section 3, and the
combination rules below, read from the scheduler and tokenizer-manager code):

* Scheduler-side series carry rank labels (0.4.10+). Series that differ only in
  ``tp_rank``, ``pp_rank`` or ``moe_ep_rank`` are copies of one scheduler's state (TP ranks
  receive the same requests; PP stages pass them along): one of them counts, the lowest
  ranks. Series with different ``dp_rank`` are disjoint schedulers: they add up.
* With priority scheduling (0.5.10+) the queue gauges carry the total under ``priority=""``
  and a breakdown under ``priority="<n>"``: only the total counts. Tokenizer-side counters and
  histograms (no rank labels) observe each request once under its own priority: all count.
* ``pid`` appears on gauges in the default multiprocess mode; it is never an identity.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from llmobs import signals
from llmobs.engines.catalog import Catalog, Naming, Reduce, SeriesKind, Source
from llmobs.exposition.model import Exposition

V0_4 = Naming(
    "0.4",
    "SGLang 0.4.x (and 0.5.0-0.5.1): ITL as time_per_output_token_seconds "
    "before 0.4.4, no queue-time histogram",
)
V0_5 = Naming(
    "0.5",
    "SGLang 0.5.2 or newer: queue_time_seconds, num_retracted_reqs, "
    "rank labels on scheduler metrics",
)

# Series that differ only in these are copies of one scheduler's state.
COPY_LABELS = ("pp_rank", "tp_rank", "moe_ep_rank")
# With priority scheduling a queue gauge's total is the series with priority="".
GAUGE_TOTAL = ("priority", "")
_NOT_IDENTITY = frozenset((*COPY_LABELS, "pid"))
_V0_5_MARKERS = (
    "sglang:queue_time_seconds_count",
    "sglang:queue_time_s_count",
    "sglang:num_retracted_reqs",
    "sglang:num_paused_reqs",
)


def _rank(labels: Mapping[str, str]) -> tuple[int, ...]:
    out = []
    for name in COPY_LABELS:
        value = labels.get(name, "0")
        out.append(int(value) if value.isdigit() else 0)
    return tuple(out)


def select(kind: SeriesKind, labels: Sequence[Mapping[str, str]]) -> list[int]:
    """SGLang's rule for which series of one metric count (see the module docstring)."""
    scheduler_side = any(("tp_rank" in lab or "dp_rank" in lab) for lab in labels)
    candidates = list(range(len(labels)))
    if scheduler_side or kind is SeriesKind.GAUGE:
        label, total = GAUGE_TOTAL
        if any(lab.get(label) == total for lab in labels):
            candidates = [i for i in candidates if labels[i].get(label, total) == total]
        best: dict[tuple[tuple[str, str], ...], int] = {}
        for i in candidates:
            group = tuple(sorted((k, v) for k, v in labels[i].items() if k not in _NOT_IDENTITY))
            kept = best.get(group)
            if kept is None or _rank(labels[i]) < _rank(labels[kept]):
                best[group] = i
        candidates = sorted(best.values())
    return candidates


def naming(exposition: Exposition) -> Naming:
    return V0_5 if any(exposition.samples(n) for n in _V0_5_MARKERS) else V0_4


CATALOG = Catalog(
    engine="sglang",
    prefix="sglang:",
    model_label="model_name",
    histograms=(
        Source(signals.TTFT.name, ("sglang:time_to_first_token_seconds",)),
        Source(
            signals.ITL.name,
            ("sglang:inter_token_latency_seconds", "sglang:time_per_output_token_seconds"),
        ),
        Source(signals.TPOT.name, ("sglang:request_time_per_output_token_seconds",)),
        Source(signals.E2E.name, ("sglang:e2e_request_latency_seconds",)),
        Source(signals.QUEUE.name, ("sglang:queue_time_seconds", "sglang:queue_time_s")),
    ),
    gauges=(
        Source(signals.KV_CACHE_USAGE.name, ("sglang:token_usage",), Reduce.MEAN),
        Source(signals.REQUESTS_RUNNING.name, ("sglang:num_running_reqs",)),
        Source(signals.REQUESTS_WAITING.name, ("sglang:num_queue_reqs",)),
        # The hit rate of the last prefill batch, a gauge (no hits/queries counters).
        Source(signals.PREFIX_CACHE_HIT_RATIO.name, ("sglang:cache_hit_rate",), Reduce.MEAN),
    ),
    counters=(
        Source(signals.PROMPT_TOKENS.name, ("sglang:prompt_tokens_total",)),
        Source(signals.GENERATION_TOKENS.name, ("sglang:generation_tokens_total",)),
        Source(signals.REQUESTS.name, ("sglang:num_requests_total",)),
        # 0.5.7+. Not the num_retracted_reqs gauge: that is the last batch's count.
        Source(signals.PREEMPTIONS.name, ("sglang:num_retracted_requests_total",)),
    ),
    naming=naming,
    select=select,
    naming_reads=_V0_5_MARKERS,
    copy_labels=COPY_LABELS,
    gauge_total=GAUGE_TOTAL,
)
