"""Server-sent events from whatever pieces the socket delivers."""

from __future__ import annotations

import pytest

from llmobs.bench.sse import SSEParser

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
