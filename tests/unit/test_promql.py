"""llmobs.promql: the generated text against a golden file, every expression through
promtool's parser, label values through Prometheus's own lexer, and the input checks.

``LLMOBS_UPDATE_GOLDEN=1 pytest tests/unit/test_promql.py`` regenerates the golden; that run
fails until the diff is reviewed and committed (tests/golden.py).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs import names, promql
from llmobs.engines import BY_ENGINE
from llmobs.errors import ConfigError
from tests.golden import check_golden
from tests.prometheus import binary

GOLDEN = Path(__file__).parents[1] / "fixtures" / "promql"
PREFILL = promql.eq(names.ROLE, "prefill")


def expressions() -> list[tuple[str, str]]:
    """One of each builder, with the options the dashboards and the autoscaler use."""
    vllm, sglang, dynamo = BY_ENGINE["vllm"], BY_ENGINE["sglang"], BY_ENGINE["dynamo"]
    role = ("namespace", "group", "role")
    out: list[tuple[str, str | promql.Selector]] = [
        ("role_quantile ttft p99", promql.role_quantile("ttft_seconds", 0.99)),
        ("role_quantile itl p50 prefill", promql.role_quantile("itl_seconds", 0.5, PREFILL)),
        ("role_rate requests", promql.role_rate("requests_total", PREFILL)),
        ("role_rate prompt tokens", promql.role_rate("prompt_tokens_total")),
        ("role_rate generation tokens", promql.role_rate("generation_tokens_total")),
        ("role_rate preemptions", promql.role_rate("preemptions_total")),
        ("role_prefix_cache_hit_ratio", promql.role_prefix_cache_hit_ratio()),
        ("role_kv_cache_usage mean", promql.role_kv_cache_usage("mean")),
        ("role_kv_cache_usage max", promql.role_kv_cache_usage("max", PREFILL)),
        ("role_requests_running", promql.role_requests_running()),
        ("role_requests_waiting", promql.role_requests_waiting()),
        ("role_replicas ready", promql.role_replicas("ready")),
        ("role_replicas scraped", promql.role_replicas("scraped")),
        ("role_replicas up", promql.role_replicas("up", promql.re_("namespace", "llm|prod"))),
        ("quantile ttft p99 1m", promql.quantile("ttft_seconds", 0.99, "1m")),
        ("quantile e2e p95 by pod", promql.quantile("e2e_seconds", 0.95, 300, by=("pod",))),
        ("quantile tpot p50 all", promql.quantile("tpot_seconds", 0.5, 60, PREFILL, by=())),
        ("quantile queue p99 grafana", promql.quantile("queue_seconds", 0.99, "$__rate_interval")),
        ("buckets itl heatmap", promql.buckets("itl_seconds", "$__rate_interval", by=())),
        ("mean ttft", promql.mean("ttft_seconds", "5m")),
        ("attainment ttft 2.5", promql.attainment("ttft_seconds", "2.5", "5m", by=role)),
        ("counter_rate requests", promql.counter_rate("requests_total", "1m")),
        ("counter_rate prompt tokens", promql.counter_rate("prompt_tokens_total", 90)),
        ("counter_rate generation tokens", promql.counter_rate("generation_tokens_total", 60)),
        ("counter_rate preemptions", promql.counter_rate("preemptions_total", 60)),
        ("kv_cache_usage mean", promql.kv_cache_usage("mean")),
        ("kv_cache_usage max", promql.kv_cache_usage("max", PREFILL)),
        ("requests_running", promql.requests_running()),
        ("requests_waiting by pod", promql.requests_waiting(by=("namespace", "pod"))),
        ("targets_up", promql.targets_up()),
        ("targets", promql.targets()),
        ("target_down", promql.target_down()),
        ("scrape_errors", promql.scrape_errors("5m")),
        ("counter_resets", promql.counter_resets("1h")),
        ("scrape_down", promql.scrape_down("llmobs-exporter")),
        ("vllm ttft p99", promql.engine_quantile(vllm, "ttft_seconds", 0.99, "5m")),
        (
            "vllm itl p50 by model",
            promql.engine_quantile(vllm, "itl_seconds", 0.5, "5m", by=("model_name",)),
        ),
        ("vllm requests rate", promql.engine_rate(vllm, "requests_total", "1m")),
        ("vllm kv usage", promql.engine_gauge(vllm, "kv_cache_usage_ratio")),
        ("vllm waiting", promql.engine_gauge(vllm, "requests_waiting", by=("model_name",))),
        ("sglang queue p99", promql.engine_quantile(sglang, "queue_seconds", 0.99, "1m")),
        ("sglang running", promql.engine_gauge(sglang, "requests_running")),
        ("sglang generation rate", promql.engine_rate(sglang, "generation_tokens_total", 60)),
        ("dynamo ttft p90", promql.engine_quantile(dynamo, "ttft_seconds", 0.9, "2m")),
        ("dynamo requests rate", promql.engine_rate(dynamo, "requests_total", "2m")),
    ]
    return [(label, str(expr)) for label, expr in out]


def test_expressions_match_golden() -> None:
    text = "".join(f"# {label}\n{expr}\n" for label, expr in expressions())
    check_golden(GOLDEN / "expressions.txt", text)


@pytest.fixture(scope="module")
def promtool() -> str:
    return binary("promtool")


def promtool_run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=30, check=False, cwd=cwd)


def test_every_expression_parses_in_prometheus(promtool: str, tmp_path: Path) -> None:
    """Each one as a recording rule: promtool parses it with Prometheus's own parser
    (Grafana's ``$__rate_interval`` is what Grafana replaces with a duration)."""
    rules = [
        {"record": f"check:expr_{i}", "expr": expr.replace("$__rate_interval", "1m")}
        for i, (_, expr) in enumerate(expressions())
    ]
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": rules}]}))
    result = promtool_run(promtool, "check", "rules", "rules.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


AWKWARD = [
    'a "quoted" value',
    "back\\slash \\n not a newline",
    "new\nline and\ttab and \r return",
    "ünïcödé 漢字 🚀",
    "\x00 \x07 \x1b control",
    "",
    "'single' and `back` quotes",
    "{{ braces }}",
]


def test_label_values_reach_prometheus_unchanged(promtool: str, tmp_path: Path) -> None:
    """Prometheus parses our literals in the input series and in the alert's selector, and
    its template writes back the value it read: the annotation must be the original text.

    U+FFFD is left out: our ``\\ufffd`` parses (promtool check rules takes it), but Prometheus
    2.42 evaluates a rule by re-parsing its own rendering of the selector, which writes the
    character raw, and its lexer then rejects it as a broken UTF-8 byte.
    """
    tests, rules = [], []
    for i, value in enumerate(AWKWARD):
        series = promql.selector("awkward", promql.eq("pod", value), promql.eq("n", str(i)))
        # An empty value is no label at all, in Prometheus as in the exposition format.
        labels = {"n": str(i)} | ({"pod": value} if value else {})
        rules.append(
            {"alert": f"A{i}", "expr": f"{series} == 1", "annotations": {"v": "{{ $labels.pod }}"}}
        )
        tests.append(
            {
                "interval": "1m",
                "input_series": [{"series": str(series), "values": "1x3"}],
                "alert_rule_test": [
                    {
                        "alertname": f"A{i}",
                        "eval_time": "1m",
                        "exp_alerts": [
                            {
                                "exp_labels": labels,
                                "exp_annotations": {"v": value},
                            }
                        ],
                    }
                ],
            }
        )
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [{"name": "x", "rules": rules}]}))
    (tmp_path / "test.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "tests": tests})
    )
    result = promtool_run(promtool, "test", "rules", "test.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------
# String literals and durations, as properties

_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}
_GO_ESCAPES |= {"\\": "\\", '"': '"', "'": "'"}


def go_unquote(literal: str) -> str:
    """A double-quoted PromQL string literal read as Prometheus reads it (Go's rules)."""
    assert literal[0] == literal[-1] == '"' and len(literal) >= 2
    body, out, i = literal[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        assert ch not in ('"', "\n", "\ufffd"), f"raw {ch!r} in {literal!r}"
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        kind = body[i + 1]
        if kind in _GO_ESCAPES:
            out.append(_GO_ESCAPES[kind])
            i += 2
        elif kind in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[kind]
            out.append(chr(int(body[i + 2 : i + 2 + size], 16)))
            i += 2 + size
        else:
            assert kind in "01234567", f"bad escape in {literal!r}"
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
    return "".join(out)


@settings(max_examples=500)
@given(st.text())
def test_any_label_value_round_trips_through_a_string_literal(value: str) -> None:
    literal = promql.string(value)
    assert go_unquote(literal) == value
    matcher = str(promql.eq("pod", value))
    assert matcher == "pod=" + literal


@given(st.integers(min_value=1, max_value=10**13))
def test_durations_round_trip(ms: int) -> None:
    text = promql.duration(ms / 1000)
    assert re.fullmatch(r"(\d+(y|w|d|h|m|s|ms))+", text)
    assert promql.parse_duration(text) == ms / 1000
    assert promql.window(text) == text


@given(st.lists(st.integers(min_value=0, max_value=999), min_size=7, max_size=7))
def test_any_duration_text_parses_to_its_seconds(counts: list[int]) -> None:
    units = (("y", 31_536_000), ("w", 604_800), ("d", 86_400), ("h", 3600), ("m", 60), ("s", 1))
    text = "".join(f"{n}{u}" for n, (u, _) in zip(counts, units, strict=False) if n)
    text += f"{counts[6]}ms" if counts[6] else ""
    seconds = sum(n * size for n, (_, size) in zip(counts, units, strict=False)) + counts[6] / 1000
    if seconds == 0:
        with pytest.raises(ConfigError):
            promql.parse_duration(text or "0s")
    else:
        assert promql.parse_duration(text) == pytest.approx(seconds, abs=1e-9)
        assert promql.parse_duration(promql.window(text)) == pytest.approx(seconds, abs=1e-9)


def test_durations_are_written_largest_unit_first() -> None:
    assert [promql.duration(s) for s in (60, 90, 0.25, 3600, 86_400 * 8)] == [
        "1m",
        "1m30s",
        "250ms",
        "1h",
        "1w1d",
    ]
    assert promql.window("60s") == "1m"
    assert promql.window("$__rate_interval") == "$__rate_interval"
    assert promql.window("${window}") == "${window}"


# ---------------------------------------------------------------------------------------
# Invalid input


@pytest.mark.parametrize("q", [-0.01, 1.01, float("nan"), float("inf"), True, "0.5"])
def test_a_bad_quantile_is_a_config_error(q: object) -> None:
    with pytest.raises(ConfigError, match="quantile"):
        promql.quantile("ttft_seconds", q, "1m")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="quantile"):
        promql.role_quantile("ttft_seconds", q)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "window", ["", "5", "1m5", "5s1m", "1.5m", "0s", "-1m", "1M", "$", "$__bad-var", 0, -5, 0.0005]
)
def test_a_bad_window_is_a_config_error(window: str | float) -> None:
    with pytest.raises(ConfigError, match="duration"):
        promql.counter_rate("requests_total", window)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: promql.quantile("kv_cache_usage_ratio", 0.5, 60), "not a histogram signal"),
        (lambda: promql.counter_rate("ttft_seconds", 60), "not a counter signal"),
        (lambda: promql.role_rate("tokens"), "not a role rate"),
        (lambda: promql.role_kv_cache_usage("min"), "not a KV-cache statistic"),
        (lambda: promql.role_replicas("gone"), "not a replica state"),
        (lambda: promql.quantile("ttft_seconds", 0.5, 60, by=("pod-name",)), "label name"),
        (lambda: promql.quantile("ttft_seconds", 0.5, 60, by="role"), "sequence of names"),
        (lambda: promql.selector("9lives"), "metric name"),
        (lambda: promql.eq("bad label", "x"), "label name"),
        (lambda: promql.compare("x", "=", 1), "not a comparison"),
        (lambda: promql.number(float("nan")), "finite"),
        (lambda: promql.string("\ud800"), "UTF-8"),
        (lambda: promql.engine_gauge(BY_ENGINE["dynamo"], "requests_running"), "dynamo has no"),
    ],
)
def test_invalid_input_is_a_config_error(build: object, message: str) -> None:
    assert callable(build)
    with pytest.raises(ConfigError, match=message):
        build()
