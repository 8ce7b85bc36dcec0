"""Property: the scrape report shows any float an engine sends (NaN, infinities, 1e308,
subnormals, -0) in the table without crashing, and its JSON is strict."""

from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs import strictjson
from llmobs.exposition.parser import parse
from llmobs.scrape.fetch import ScrapeResult
from llmobs.scrape.report import build, to_json, to_table
from tests import strictjson as strict

URL = "http://127.0.0.1:8000/metrics"
LABELS = 'engine="0",model_name="tiny"'


def _text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _body(values: list[float]) -> str:
    g = iter(_text(v) for v in values)
    lines = [
        "# TYPE vllm:num_requests_running gauge",
        f"vllm:num_requests_running{{{LABELS}}} {next(g)}",
        "# TYPE vllm:kv_cache_usage_perc gauge",
        f"vllm:kv_cache_usage_perc{{{LABELS}}} {next(g)}",
        "# TYPE vllm:generation_tokens_total counter",
        f"vllm:generation_tokens_total{{{LABELS}}} {next(g)}",
        "# TYPE vllm:time_to_first_token_seconds histogram",
        f'vllm:time_to_first_token_seconds_bucket{{{LABELS},le="0.1"}} {next(g)}',
        f'vllm:time_to_first_token_seconds_bucket{{{LABELS},le="+Inf"}} {next(g)}',
        f"vllm:time_to_first_token_seconds_count{{{LABELS}}} {next(g)}",
        f"vllm:time_to_first_token_seconds_sum{{{LABELS}}} {next(g)}",
    ]
    return "\n".join(lines) + "\n"


_FLOATS = st.one_of(
    st.floats(),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 1e15, 2**53]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_FLOATS, min_size=7, max_size=7), st.lists(_FLOATS, min_size=7, max_size=7))
def test_any_values_render(first: list[float], second: list[float]) -> None:
    """One scrape, and two a window apart (rates and window quantiles of any values)."""
    a = ScrapeResult(URL, 1.7e9, 0.0, 0.01, parse(_body(first)), None)
    b = ScrapeResult(URL, 1.7e9 + 5, 5.0, 0.01, parse(_body(second)), None)
    for rounds in ([a, None], [a, b]):
        report = build(rounds)
        assert "tiny" in to_table([report])
        payload = to_json([report])
        json.dumps(payload, allow_nan=False)  # every number in it is finite already
        doc = strict.loads(strictjson.dumps(payload))
        assert doc["targets"][0]["engine"] == "vllm"
