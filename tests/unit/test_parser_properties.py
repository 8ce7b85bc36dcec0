"""Property: the exposition parser answers ANY input, bytes or text, full or selective, with
an ``Exposition`` or a typed ``ExpositionError`` (``BodyTooLarge`` for the size cap), never
another exception (UnicodeDecodeError, IndexError, ValueError, OverflowError, ...)."""

from __future__ import annotations

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from llmobs import engines
from llmobs.errors import BodyTooLarge, ExpositionError
from llmobs.exposition.model import NO_SHAPE, Exposition, Shape
from llmobs.exposition.parser import parse
from tests.fixtures.expositions import load

OM = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT = "text/plain; version=0.0.4"

# Characters that matter to the grammar, plus some that must be refused or kept verbatim.
_GRAMMAR = '{}",=\\ \t\n\r#:_.+-eE0123456789abcxyzIfNaInf\x00é\u2028\ufffd'
_TOKENS = st.sampled_from(
    [
        "# HELP ",
        "# TYPE ",
        "# EOF",
        "# UNIT ",
        " counter",
        " gauge",
        " histogram",
        " summary",
        " gaugehistogram",
        " stateset",
        " info",
        " untyped",
        "_total",
        "_bucket",
        "_count",
        "_sum",
        "_created",
        'le="+Inf"',
        'le="0.1"',
        'quantile="0.5"',
        "vllm:time_to_first_token_seconds",
        "vllm:num_requests_running",
        "sglang:num_running_reqs",
        " +Inf",
        " -Inf",
        " NaN",
        " 1e308",
        " 1e309",
        " -0",
        " 0x1p3",
        " 1_000",
        " 1700000000000",
        " 99999999999999999999999999",
        " 1.5e400",
        ' # {a="b"} 1 2',
        "{",
        "}",
        '"',
        "\\",
        "\n",
        " ",
    ]
)
_WANTED = st.one_of(
    st.none(),
    st.just(engines.WANTED),
    st.frozensets(
        st.sampled_from(
            [
                "vllm:time_to_first_token_seconds_bucket",
                "vllm:num_requests_running",
                "a",
                "a_total",
                "a_bucket",
                "x_sum",
            ]
        )
    ),
)
_CONTENT_TYPES = st.sampled_from([None, TEXT, OM, "text/html", "", "application/json"])


def _answers(
    body: bytes | str,
    content_type: str | None,
    wanted: frozenset[str] | None,
    like: Shape | None = None,
) -> Exposition | None:
    """The parse, or None for a typed refusal; any other exception fails the test."""
    try:
        return parse(body, content_type=content_type, wanted=wanted, like=like, max_bytes=1 << 16)
    except (ExpositionError, BodyTooLarge):
        return None


def _shape_of(body: bytes | str, wanted: frozenset[str] | None) -> Shape | None:
    if wanted is None:
        return None
    first = _answers(body, None, wanted, NO_SHAPE)
    return first.shape if first is not None else NO_SHAPE


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), _CONTENT_TYPES, _WANTED)
@example(b"\xff\xfe", None, None)
@example(b"x 1\n\xc3", None, engines.WANTED)
def test_any_bytes(body: bytes, content_type: str | None, wanted: frozenset[str] | None) -> None:
    _answers(body, content_type, wanted)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=300), _CONTENT_TYPES, _WANTED)
@example('x{a="\ud800"} 1\n', None, None)  # a lone surrogate: not encodable as UTF-8
def test_any_text(text: str, content_type: str | None, wanted: frozenset[str] | None) -> None:
    _answers(text, content_type, wanted)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.one_of(_TOKENS, st.text(alphabet=_GRAMMAR, max_size=6)), max_size=60),
    _CONTENT_TYPES,
    _WANTED,
)
@example(["# TYPE a histogram\n", 'a_bucket{le="1e400"} 1\n'], None, None)
@example(["# TYPE a counter\n", "a_total 1 99999999999999999999999999\n"], None, None)
@example(["# TYPE a counter\n", "a_total 1 1.5e400\n# EOF\n"], OM, None)
def test_near_expositions(
    pieces: list[str], content_type: str | None, wanted: frozenset[str] | None
) -> None:
    """Text made of the format's own tokens reaches deep into the grammar."""
    body = "".join(pieces)
    _answers(body, content_type, wanted)
    _answers(body.encode("utf-8", "surrogatepass"), content_type, wanted)


_FIXTURES = st.sampled_from(
    ["vllm-0.32.0.txt", "sglang-0.5.4-tp2.txt", "dynamo-frontend.txt", "vllm-v0.txt"]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _FIXTURES,
    st.lists(
        st.tuples(
            st.integers(min_value=0),
            st.sampled_from(["replace", "delete", "insert"]),
            st.one_of(_TOKENS, st.text(alphabet=_GRAMMAR, min_size=1, max_size=3)),
        ),
        min_size=1,
        max_size=6,
    ),
    st.integers(min_value=0),
    _WANTED,
)
def test_mutated_real_bodies(
    name: str,
    edits: list[tuple[int, str, str]],
    cut: int,
    wanted: frozenset[str] | None,
) -> None:
    """A real engine's body with a few edits, maybe cut, read afresh and against the shape
    of the unedited body (the exporter's path for a steady target)."""
    base = load(name)
    body = base
    for at, op, piece in edits:
        pos = at % (len(body) + 1)
        if op == "replace":
            body = body[:pos] + piece + body[pos + len(piece) :]
        elif op == "delete":
            body = body[:pos] + body[pos + len(piece) :]
        else:
            body = body[:pos] + piece + body[pos:]
    if cut % 3 == 0:
        body = body[: cut % (len(body) + 1)]
    _answers(body, None, wanted)
    _answers(body, None, wanted, _shape_of(base, wanted))


_VALUE_TOKENS = st.one_of(
    st.sampled_from(
        [
            "1",
            "-0",
            "+1",
            "1e308",
            "1e309",
            "-1e999",
            "5e-324",
            "NaN",
            "nan",
            "-NaN",
            "+Inf",
            "-Inf",
            "inf",
            "Infinity",
            "-infinity",
            "0x1p3",
            "1_0",
            "\u0661",  # ARABIC-INDIC DIGIT ONE: float() reads it, the format does not
            " 1",
            "1 ",
            "1 2",
            "",
            "1\t",
            ".5",
            "5.",
            "1e",
            "e1",
            "--1",
        ]
    ),
    st.text(alphabet="0123456789.eE+-_ NaIinfty", max_size=8),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_FIXTURES, st.lists(_VALUE_TOKENS, min_size=1, max_size=40), _WANTED)
def test_revalued_bodies_against_their_shape(
    name: str, tokens: list[str], wanted: frozenset[str] | None
) -> None:
    """The same lines with any tokens for the wanted values (the shape's fast path reads
    them; the others' lines it does not read): a typed answer, and the one the same selective
    parse without the shape gives."""
    base = load(name)
    shape = _shape_of(base, wanted)
    out, i = [], 0
    for line in base.split("\n"):
        sample_name = line.partition("{")[0].partition(" ")[0]
        if line and not line.startswith("#") and (wanted is None or sample_name in wanted):
            line = line.rpartition(" ")[0] + " " + tokens[i % len(tokens)]
            i += 1
        out.append(line)
    body = "\n".join(out)
    shaped = _answers(body, None, wanted, shape)
    plain = _answers(body, None, wanted)
    assert (shaped is None) == (plain is None)
    if shaped is not None and plain is not None:
        for sample_name in wanted or ():
            got = [(s.labels, s.value) for s in shaped.samples(sample_name)]
            expected = [(s.labels, s.value) for s in plain.samples(sample_name)]
            assert repr(got) == repr(expected)  # repr: NaN equals NaN
