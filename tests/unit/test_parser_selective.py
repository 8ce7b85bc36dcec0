"""Selective parses (``parse(..., wanted=...)``): the wanted samples exactly as a full parse
reads them, the rest checked and skipped, the same typed errors for cut or garbage bodies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs import engines
from llmobs.errors import ExpositionError, MalformedExposition, TruncatedExposition
from llmobs.exposition.model import NO_SHAPE, Exposition
from llmobs.exposition.parser import parse
from tests.fixtures.expositions import load

FIXTURES = [
    "vllm-0.32.0.txt",
    "vllm-v0.txt",
    "vllm-v1-0.10.1-dp2.txt",
    "sglang-0.4.3.txt",
    "sglang-0.5.4-tp2.txt",
    "sglang-0.5.23-dp2-priority.txt",
    "dynamo-frontend.txt",
]


def kept(full: Exposition, wanted: frozenset[str]) -> dict[str, list[object]]:
    """The full parse restricted to the wanted sample names: name -> samples in body order."""
    return {name: list(full.samples(name)) for name in sorted(wanted) if full.samples(name)}


def assert_restriction(body: str, wanted: frozenset[str]) -> None:
    full = parse(body)
    selective = parse(body, wanted=wanted)
    assert kept(selective, wanted) == kept(full, wanted)
    assert selective.names() == full.names()
    assert not selective.skipped & selective.families.keys()
    for name, family in selective.families.items():
        assert family.type == full.families[name].type
        assert family.help == full.families[name].help
        assert all(s.name in wanted for s in family.samples)


@pytest.mark.parametrize("name", FIXTURES)
def test_fixtures_read_the_same_signals(name: str) -> None:
    body = load(name)
    assert_restriction(body, engines.WANTED)
    full, selective = parse(body), parse(body, wanted=engines.WANTED)
    assert engines.detect(selective) is engines.detect(full)
    assert engines.snapshot(selective) == engines.snapshot(full)


def test_most_of_a_vllm_body_is_skipped() -> None:
    body = load("vllm-0.32.0.txt")
    selective = parse(body, wanted=engines.WANTED)
    samples = sum(len(f.samples) for f in selective.families.values())
    assert samples < 150 < 460 == sum(len(f.samples) for f in parse(body).families.values())
    assert "python_gc_objects_collected_total" in selective.skipped
    assert "vllm:request_prompt_tokens" in selective.skipped


@pytest.mark.parametrize(
    "body",
    [
        "<!DOCTYPE html>\n<html><body>Not Found</body></html>\n",
        '{"status": "ok"}\n',
        "Hello world\n",
        "404 page not found\n",
        "# HELP x\nx 1 2 3 4\n",
    ],
)
def test_garbage_fails_as_in_a_full_parse(body: str) -> None:
    with pytest.raises(ExpositionError) as full:
        parse(body)
    with pytest.raises(ExpositionError) as selective:
        parse(body, wanted=frozenset({"y"}))
    assert type(selective.value) is type(full.value)


def test_a_body_cut_inside_a_skipped_histogram_is_truncated() -> None:
    body = load("vllm-0.32.0.txt")
    cut = body.index('vllm:request_prompt_tokens_bucket{engine="0",le="100.0"')
    with pytest.raises(TruncatedExposition):
        parse(body[:cut], wanted=engines.WANTED)


def test_a_skipped_family_is_still_type_checked() -> None:
    with pytest.raises(MalformedExposition, match="unknown metric type"):
        parse("# TYPE other nonsense\nother 1\n", wanted=frozenset({"x"}))
    with pytest.raises(MalformedExposition, match="declared gauge and then counter"):
        parse("# TYPE other gauge\n# TYPE other counter\n", wanted=frozenset({"x"}))


def test_what_a_skipped_family_is_checked_for() -> None:
    """Its lines' names and blanks; not their values (nothing reads them); a wanted family's
    values as in a full parse."""
    body = '# TYPE other gauge\nother{a="1"} oops\n# TYPE x gauge\nx 1\n'
    with pytest.raises(MalformedExposition):
        parse(body)
    assert parse(body, wanted=frozenset({"x"})).samples("x")[0].value == 1.0
    with pytest.raises(MalformedExposition):
        parse(body, wanted=frozenset({"other"}))
    with pytest.raises(MalformedExposition):
        parse("# TYPE other gauge\nother 1 2 3\n", wanted=frozenset({"x"}))


# -- property: any body generated as client libraries write them ------------------------------

_NAMES = st.sampled_from(
    ["vllm:ttft", "vllm:kv", "vllm:other", "sglang:x", "python_gc", "http_requests", "a_b"]
)
_LABELS = st.dictionaries(
    st.sampled_from(["engine", "model_name", "handler", "le_x"]),
    st.text(alphabet='ab"\\\n{} ,=', max_size=4),
    max_size=2,
)
_VALUES = st.one_of(
    st.floats(allow_nan=False, width=32), st.sampled_from([float("inf"), float("-inf")])
)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _line(name: str, labels: dict[str, str], value: float) -> str:
    block = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
    text = "+Inf" if value == float("inf") else "-Inf" if value == float("-inf") else repr(value)
    return f"{name}{{{block}}} {text}\n" if block else f"{name} {text}\n"


@st.composite
def bodies(draw: st.DrawFn) -> str:
    out: list[str] = []
    names = draw(st.lists(_NAMES, unique=True, min_size=1, max_size=5))
    for name in names:
        kind = draw(st.sampled_from(["counter", "gauge", "histogram", "summary", "untyped"]))
        declared = name + "_total" if kind == "counter" else name
        out.append(f"# HELP {declared} Help for {name}.\n# TYPE {declared} {kind}\n")
        for labels in draw(st.lists(_LABELS, max_size=3, unique_by=lambda d: tuple(d.items()))):
            if kind == "histogram":
                bounds = sorted(draw(st.sets(st.sampled_from([0.1, 1.0, 2.5, 10.0]))))
                for bound in [*bounds, float("inf")]:
                    le = "+Inf" if bound == float("inf") else repr(bound)
                    out.append(_line(name + "_bucket", {**labels, "le": le}, draw(_VALUES)))
                out.append(_line(name + "_count", labels, draw(_VALUES)))
                out.append(_line(name + "_sum", labels, draw(_VALUES)))
            elif kind == "summary":
                out.append(_line(name, {**labels, "quantile": "0.5"}, draw(_VALUES)))
                out.append(_line(name + "_count", labels, draw(_VALUES)))
            else:
                out.append(_line(declared, labels, draw(_VALUES)))
    return "".join(out)


_WANTED = st.frozensets(
    st.sampled_from(
        [
            "vllm:ttft_bucket",
            "vllm:ttft_count",
            "vllm:kv",
            "vllm:kv_total",
            "sglang:x_sum",
            "a_b",
            "a_b_bucket",
            "python_gc_total",
        ]
    )
)


@settings(max_examples=300, deadline=None)
@given(bodies(), _WANTED)
def test_selective_is_the_full_parse_restricted(body: str, wanted: frozenset[str]) -> None:
    assert_restriction(body, wanted)


@settings(max_examples=300, deadline=None)
@given(bodies(), _WANTED, st.integers(min_value=0))
def test_a_cut_body_fails_as_in_a_full_parse(body: str, wanted: frozenset[str], at: int) -> None:
    cut = body[: at % (len(body) + 1)]
    try:
        full = parse(cut)
    except ExpositionError as exc:
        with pytest.raises(type(exc)):
            parse(cut, wanted=wanted)
        return
    assert kept(parse(cut, wanted=wanted), wanted) == kept(full, wanted)


# -- a target's next body read against its last one's shape ------------------------------------


def _revalued(body: str, factor: float) -> str:
    """The same lines with every sample value changed (a later scrape of the same target)."""
    out = []
    for line in body.split("\n"):
        if line and not line.startswith("#"):
            head, _, value = line.rpartition(" ")
            line = f"{head} {float(value) * factor + 1.0!r}"
        out.append(line)
    return "\n".join(out)


@pytest.mark.parametrize("name", FIXTURES)
def test_a_body_shaped_as_the_last_is_read_as_in_full(name: str) -> None:
    body = load(name)
    first = parse(body, wanted=engines.WANTED, like=NO_SHAPE)
    assert first.shape is not None
    later = _revalued(body, 3.0)
    shaped = parse(later, wanted=engines.WANTED, like=first.shape)
    assert shaped.shape is first.shape  # read against it, not parsed again
    plain = parse(later, wanted=engines.WANTED)
    assert kept(shaped, engines.WANTED) == kept(plain, engines.WANTED)
    assert shaped.names() == plain.names()
    assert engines.snapshot(shaped) == engines.snapshot(plain)


def test_another_shape_or_a_bad_wanted_value_is_parsed_in_full() -> None:
    body = "# TYPE x gauge\nx 1\n# TYPE y gauge\ny 2\n"
    shape = parse(body, wanted=frozenset({"x"}), like=NO_SHAPE).shape
    assert shape is not None
    other = parse("# TYPE x gauge\nx 5\nx_2 3\n", wanted=frozenset({"x"}), like=shape)
    assert other.shape is not shape and other.names() == {"x", "x_2"}
    with pytest.raises(MalformedExposition):
        parse("# TYPE x gauge\nx 1_0\n# TYPE y gauge\ny 2\n", wanted=frozenset({"x"}), like=shape)
    with pytest.raises(MalformedExposition):  # a value gone: the line ends with its blank
        parse("# TYPE x gauge\nx \n# TYPE y gauge\ny 2\n", wanted=frozenset({"x"}), like=shape)
    with pytest.raises(MalformedExposition):
        parse("# TYPE x gauge\nx 1\n# TYPE y gauge\ny \n", wanted=frozenset({"x"}), like=shape)
    with pytest.raises(TruncatedExposition):
        parse("# TYPE x gauge\nx 1\n# TYPE y gauge\ny 2", wanted=frozenset({"x"}), like=shape)


@settings(max_examples=300, deadline=None)
@given(bodies(), _WANTED, st.floats(0.5, 4.0))
def test_the_next_body_read_against_a_shape_is_the_full_parse_restricted(
    body: str, wanted: frozenset[str], factor: float
) -> None:
    first = parse(body, wanted=wanted, like=NO_SHAPE)
    later = _revalued(body, factor)
    shaped = parse(later, wanted=wanted, like=first.shape)
    full = parse(later)
    assert kept(shaped, wanted) == kept(full, wanted)
    assert shaped.names() == full.names()
    for name, family in shaped.families.items():
        assert family.type == full.families[name].type
        assert family.help == full.families[name].help
