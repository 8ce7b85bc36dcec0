"""The exposition parser: Prometheus 0.0.4 and OpenMetrics exactly, typed errors otherwise."""

from __future__ import annotations

import math
import random

import pytest
from prometheus_client.parser import text_string_to_metric_families

from llmobs.errors import (
    BodyTooLarge,
    ExpositionError,
    MalformedExposition,
    TruncatedExposition,
)
from llmobs.exposition.parser import parse
from tests.fixtures.expositions import load

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"


def samples_of(body: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    expo = parse(body)
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for f in expo.families.values()
        for s in f.samples
    )


def reference_samples(body: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), float(s.value))
        for f in text_string_to_metric_families(body)
        for s in f.samples
    )


def test_real_vllm_capture_matches_prometheus_client() -> None:
    body = load("vllm-0.32.0.txt")
    expo = parse(body)
    assert expo.format == "text"
    assert len(expo.families) == 92
    assert samples_of(body) == reference_samples(body)
    ttft = expo.families["vllm:time_to_first_token_seconds"]
    assert ttft.type == "histogram"
    assert ttft.help == "Histogram of time to first token in seconds."
    assert expo.families["vllm:prompt_tokens_total"].type == "counter"
    assert expo.families["vllm:prompt_tokens_created"].type == "gauge"
    assert expo.type_of("vllm:time_to_first_token_seconds_bucket") == "histogram"


@pytest.mark.parametrize(
    "name",
    [
        "vllm-v0.txt",
        "vllm-v1-0.10.1-dp2.txt",
        "sglang-0.4.3.txt",
        "sglang-0.5.4-tp2.txt",
        "sglang-0.5.23-dp2-priority.txt",
        "dynamo-frontend.txt",
    ],
)
def test_every_fixture_matches_prometheus_client(name: str) -> None:
    body = load(name)
    assert samples_of(body) == reference_samples(body)


def test_label_value_escapes() -> None:
    body = 'm{a="x\\"y",b="back\\\\slash",c="line\\nbreak",d="keep\\tit",e="},{ #"} 1\n'
    (sample,) = parse(body).samples("m")
    assert sample.labels == {
        "a": 'x"y',
        "b": "back\\slash",
        "c": "line\nbreak",
        "d": "keep\\tit",
        "e": "},{ #",
    }


def test_help_escapes_differ_between_formats() -> None:
    text = parse('# HELP m a \\\\ b \\n c \\" d\n# TYPE m gauge\nm 1\n')
    assert text.families["m"].help == 'a \\ b \n c \\" d'
    om = parse('# HELP m a \\\\ b \\n c \\" d\n# TYPE m gauge\nm 1\n# EOF\n', content_type=OM)
    assert om.families["m"].help == 'a \\ b \n c " d'


def test_special_values() -> None:
    expo = parse("a NaN\nb +Inf\nc -Inf\nd Inf\ne 1.5e+09\nf -0.0\n")
    values = {n: expo.samples(n)[0].value for n in "abcdef"}
    assert math.isnan(values["a"])
    assert values["b"] == math.inf and values["c"] == -math.inf and values["d"] == math.inf
    assert values["e"] == 1.5e9


@pytest.mark.parametrize("value", ["1_000", "one", "+nan", "\u0661", "0x1p-2", ""])
def test_invalid_values_are_errors(value: str) -> None:
    with pytest.raises(MalformedExposition, match="line 1"):
        parse(f"m {value}\n")


def test_timestamps() -> None:
    assert parse("m 1 1700000000123\n").samples("m")[0].timestamp == 1700000000.123
    om = parse("m 1 1700000000.5\n# EOF\n", content_type=OM)
    assert om.samples("m")[0].timestamp == 1700000000.5
    for bad in ("-5", "1.5", "1e3"):
        with pytest.raises(MalformedExposition, match="timestamp"):
            parse(f"m 1 {bad}\n")


def test_openmetrics_counter_total_and_created_join_their_family() -> None:
    body = (
        "# TYPE req counter\n# HELP req Requests.\n"
        'req_total{code="200"} 3 # {trace_id="abc"} 1.0 1700000000.1\n'
        'req_created{code="200"} 1700000000\n'
        "# TYPE lat histogram\n"
        'lat_bucket{le="0.1"} 1\nlat_bucket{le="+Inf"} 2 # {trace_id="x"} 7\n'
        "lat_count 2\nlat_sum 7.05\nlat_created 1700000000\n"
        "# EOF\n"
    )
    expo = parse(body, content_type=OM)
    assert expo.format == "openmetrics"
    assert [s.name for s in expo.families["req"].samples] == ["req_total", "req_created"]
    total = expo.families["req"].samples[0]
    assert total.exemplar is not None
    assert total.exemplar.labels == {"trace_id": "abc"}
    assert total.exemplar.timestamp == 1700000000.1
    assert [s.name for s in expo.families["lat"].samples] == [
        "lat_bucket",
        "lat_bucket",
        "lat_count",
        "lat_sum",
        "lat_created",
    ]


def test_text_format_counter_family_keeps_its_total_name() -> None:
    expo = parse("# TYPE x_total counter\nx_total 3\n# TYPE x_created gauge\nx_created 17\n")
    assert expo.families["x_total"].type == "counter"
    assert expo.families["x_created"].type == "gauge"


def test_openmetrics_is_detected_from_eof_without_content_type() -> None:
    assert parse("m 1\n# EOF\n").format == "openmetrics"
    assert parse("m 1\n# EOF").format == "openmetrics"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("# TYPE m gauge\nm 1\n\n# EOF\n", "empty line"),
        ("# random comment\nm 1\n# EOF\n", "unexpected comment"),
        ("m 1\n# EOF\nm 2\n", "after '# EOF'"),
        ('m{a="1",} 1\n# EOF\n', "not a sample line|bad"),
        ("m  1\n# EOF\n", "single spaces"),
        ('m 1 # {a="b"} 1\n# EOF\n', "cannot carry an exemplar"),
        ("# TYPE m untyped\nm 1\n# EOF\n", "unknown metric type"),
        ("# TYPE m_seconds gauge\n# UNIT m_seconds bytes\nm_seconds 1\n# EOF\n", "unit"),
        ("m 1\n# TYPE m gauge\n# EOF\n", "after its samples"),
    ],
)
def test_openmetrics_is_strict(body: str, message: str) -> None:
    with pytest.raises(MalformedExposition, match=message):
        parse(body, content_type=OM)


def test_text_format_is_lax_like_prometheus() -> None:
    body = (
        "# just a comment\n\n"
        "# TYPE m gauge\n# TYPE m gauge\n"
        'm{a="1",} 1\n'
        'm { b = "2" }\t2\t1700000000000\n'
        'm{c="3"} 3   \n'
        "# EOF is only a comment here\n"
        "# UNIT m seconds: also only a comment in 0.0.4\n"
    )
    expo = parse(body, content_type="text/plain; version=0.0.4")
    assert [(s.labels, s.value) for s in expo.samples("m")] == [
        ({"a": "1"}, 1.0),
        ({"b": "2"}, 2.0),
        ({"c": "3"}, 3.0),
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<!DOCTYPE html>\n<html><body>Not Found</body></html>\n", "line 1"),
        ('{"error": "not found"}\n', "line 1"),
        ("m 1\n  n 2\n", "line 2: leading blank"),
        ('m{a="1",a="2"} 1\n', "duplicate label"),
        ('m{a="1} 1\n', "line 1"),
        ('m{1a="x"} 1\n', "line 1"),
        ("# TYPE m gauge\n# TYPE m counter\n", "declared gauge and then counter"),
        ("# TYPE m sometype\n", "unknown metric type"),
        ("m 1\r\n", "CR characters"),
        ("m 1\x00\n", "NUL"),
        ("m\n", "no value"),
        ('# TYPE h histogram\nh_bucket{le="1"} 1\nh_count 1\n# TYPE g gauge\ng 1\n', r"\+Inf"),
        ('# TYPE h histogram\nh_bucket{le="x"} 1\n', "non-numeric le"),
    ],
)
def test_garbage_is_a_typed_error(body: str, message: str) -> None:
    with pytest.raises(MalformedExposition, match=message):
        parse(body)


def test_non_utf8_is_malformed() -> None:
    with pytest.raises(MalformedExposition, match="not UTF-8"):
        parse(b"m 1\n\xff\xfe\n")


def test_truncated_bodies() -> None:
    whole = load("vllm-0.32.0.txt")
    with pytest.raises(TruncatedExposition, match="mid-line"):
        parse(whole[: len(whole) // 2])
    cut = whole[: whole.index('vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5"')]
    with pytest.raises(TruncatedExposition, match="ends inside"):
        parse(cut)
    with pytest.raises(TruncatedExposition, match="EOF"):
        parse("m 1\n", content_type=OM)


def test_body_size_cap() -> None:
    body = load("vllm-0.32.0.txt")
    with pytest.raises(BodyTooLarge):
        parse(body.encode(), max_bytes=1000)
    assert len(parse(body.encode(), max_bytes=len(body)).families) == 92


def test_empty_body_is_an_empty_exposition() -> None:
    assert len(parse(b"")) == 0


def test_untyped_sample_names_are_their_own_family() -> None:
    expo = parse("foo_bucket 1\nfoo_total 2\n")
    assert set(expo.families) == {"foo_bucket", "foo_total"}
    assert expo.families["foo_total"].type == "untyped"


def test_generated_bodies_round_trip_like_prometheus_client() -> None:
    """Random metrics written by prometheus_client itself read back sample for sample."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary
    from prometheus_client.exposition import generate_latest

    rng = random.Random(7)
    alphabet = 'abc xyz{}=,"\\\n#é:'
    for _ in range(30):
        registry = CollectorRegistry()
        metrics = []
        for i in range(rng.randint(1, 6)):
            kind = rng.choice([Counter, Gauge, Histogram, Summary])
            labelnames = [f"l{j}" for j in range(rng.randint(0, 3))]
            metrics.append(
                (kind(f"m{i}", f"help {i} \\ \n", labelnames, registry=registry), labelnames)
            )
        for metric, labelnames in metrics:
            for _ in range(rng.randint(1, 4)):
                values = [
                    "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
                    for _ in labelnames
                ]
                child = metric.labels(*values) if labelnames else metric
                if isinstance(child, Gauge):
                    child.set(rng.uniform(-1e6, 1e6))
                elif isinstance(child, Counter):
                    child.inc(rng.uniform(0, 100))
                else:
                    child.observe(rng.expovariate(1.0))
        body = generate_latest(registry).decode()
        assert samples_of(body) == reference_samples(body)


def test_mutated_bodies_never_crash() -> None:
    """Random corruption gives a parse or an ExpositionError, never another exception."""
    base = load("sglang-0.5.4-tp2.txt")
    rng = random.Random(11)
    outcomes = {"parsed": 0, "error": 0}
    for _ in range(1500):
        chars = list(base)
        for _ in range(rng.randint(1, 5)):
            pos = rng.randrange(len(chars))
            op = rng.random()
            if op < 0.4:
                chars[pos] = rng.choice('{}",=\\ \n#x0.+-_eE\t')
            elif op < 0.7:
                del chars[pos]
            else:
                chars.insert(pos, rng.choice('{}",=\\ \n#'))
        body = "".join(chars)
        if rng.random() < 0.3:
            body = body[: rng.randrange(len(body))]
        try:
            parse(body)
            outcomes["parsed"] += 1
        except ExpositionError:
            outcomes["error"] += 1
    assert outcomes["parsed"] > 0 and outcomes["error"] > 0
