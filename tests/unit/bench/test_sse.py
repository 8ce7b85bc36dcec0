"""Server-sent events from whatever pieces the socket delivers; any bytes get events or a
typed error (property tests)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs.bench.sse import MAX_EVENT, SSEError, SSEParser, decode

STREAM = b'data: {"a": 1}\n\ndata: {"b": 2}\n\ndata: [DONE]\n\n'


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_events_survive_any_split(size: int) -> None:
    parser = SSEParser()
    events = []
    for i in range(0, len(STREAM), size):
        events += parser.feed(STREAM[i : i + size])
    assert events == [b'{"a": 1}', b'{"b": 2}', b"[DONE]"]
    assert parser.pending == b""


def test_crlf_comments_other_fields_and_multiline_data() -> None:
    parser = SSEParser()
    body = b": keep-alive\r\n\r\nevent: x\r\nid: 3\r\ndata: one\r\ndata:two\r\n\r\n"
    assert parser.feed(body) == [b"one\ntwo"]


def test_an_unfinished_event_stays_pending() -> None:
    parser = SSEParser()
    assert parser.feed(b'data: {"a": 1}\n\ndata: {"cut') == [b'{"a": 1}']
    assert parser.pending == b'data: {"cut'


# -- any bytes: events or a typed error, never another exception -----------------------------
SSE_BYTES = st.lists(
    st.one_of(
        st.binary(max_size=64),
        st.sampled_from([b"data: ", b"data:", b"\n", b"\r\n", b"\n\n", b": x\n", b"[DONE]",
                         b'{"choices": [', b"]}", b"\xff\xfe", b"[" * 50, b"NaN"]),
    ),
    max_size=40,
)  # fmt: skip


@settings(max_examples=300)
@given(SSE_BYTES)
def test_any_bytes_give_events_or_a_typed_error(chunks: list[bytes]) -> None:
    parser = SSEParser()
    answers: list[dict[str, object] | SSEError] = []
    for chunk in chunks:
        for raw in parser.feed(chunk):  # SSEError only past MAX_EVENT, which 40 chunks are not
            assert isinstance(raw, bytes)
            try:
                answers.append(decode(raw))
            except SSEError as exc:
                answers.append(exc)
    for answer in answers:
        assert isinstance(answer, dict) or str(answer).startswith(
            ("malformed SSE event", "unexpected SSE event")
        )


@given(SSE_BYTES, st.data())
def test_events_do_not_depend_on_how_the_bytes_were_split(
    chunks: list[bytes], data: st.DataObject
) -> None:
    whole = b"".join(chunks)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(whole)), max_size=8)))
    pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)], strict=True)]
    split, at_once = SSEParser(), SSEParser()
    assert [e for p in pieces for e in split.feed(p)] == at_once.feed(whole)
    assert split.pending == at_once.pending


@pytest.mark.parametrize(
    "raw", [b"[" * 100_000 + b"]" * 100_000, b"NaN", b'{"a": Infinity}', b"\xff", b"[1]", b"3"]
)
def test_payloads_that_are_not_json_objects_are_typed_errors(raw: bytes) -> None:
    with pytest.raises(SSEError):
        decode(raw)


def test_an_event_that_never_ends_is_a_typed_error_not_unbounded_memory() -> None:
    parser = SSEParser()
    piece = b"x" * (1024 * 1024)
    for _ in range(MAX_EVENT // len(piece)):
        assert parser.feed(piece) == []
    with pytest.raises(SSEError, match="does not end"):
        parser.feed(piece)
