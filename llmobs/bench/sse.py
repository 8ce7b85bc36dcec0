"""Server-sent events, parsed incrementally from whatever bytes the socket delivers.

Events end with a blank line; only ``data:`` fields matter (``event:``/``id:`` are ignored,
``:`` lines are comments); several data lines join with newlines; CR LF counts as LF. Pure.
Any bytes get an answer: the events they complete, or an ``SSEError`` (an event longer than
``MAX_EVENT`` bytes, a payload that is not a JSON object); never another exception.
"""

from __future__ import annotations

from typing import Any

from llmobs import strictjson
from llmobs.errors import LlmobsError

MAX_EVENT = 16 * 1024 * 1024  # no real event comes near; a stream that never ends one does
SHOWN = 200  # bytes of a bad event quoted in the error


class SSEError(LlmobsError):
    """A stream that is not the server-sent events of an OpenAI-compatible server: ``what``
    is wrong, with the ``payload`` in question (whole: a caller that redacts quotes it)."""

    reason = "malformed_sse"

    def __init__(self, what: str, payload: bytes) -> None:
        self.what = what
        self.payload = payload
        super().__init__(f"{what}: {payload[:SHOWN].decode('utf-8', 'replace')!r}")


class SSEParser:
    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The data payloads of every event completed by ``data``.

        Raises:
            SSEError: the event being read is over ``MAX_EVENT`` bytes and has not ended.
        """
        if b"\r" in data:
            data = data.replace(b"\r", b"")
        buffer = self._buffer + data
        events: list[bytes] = []
        start = 0
        while True:
            end = buffer.find(b"\n\n", start)
            if end == -1:
                break
            block = buffer[start:end]
            start = end + 2
            if block.startswith(b"data: ") and b"\n" not in block:
                events.append(block[6:])  # the common case: one data line
                continue
            payload = [
                line[5:].removeprefix(b" ")
                for line in block.split(b"\n")
                if line.startswith(b"data:")
            ]
            if payload:
                events.append(b"\n".join(payload))
        self._buffer = buffer[start:]
        if len(self._buffer) > MAX_EVENT:
            raise SSEError(
                f"an event longer than {MAX_EVENT // (1024 * 1024)} MiB that does not end: "
                "this is not an event stream",
                self._buffer,
            )
        return events

    @property
    def pending(self) -> bytes:
        """Bytes of an event that has not ended (a cut stream leaves some)."""
        return self._buffer


def decode(raw: bytes) -> dict[str, Any]:
    """One event's payload as the JSON object it must be (strict JSON: no NaN).

    Raises:
        SSEError: the payload is not UTF-8 JSON, or not an object.
    """
    try:
        event = strictjson.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[..." nested past the limit
        raise SSEError("malformed SSE event", raw) from None
    if not isinstance(event, dict):
        raise SSEError("unexpected SSE event (not a JSON object)", raw)
    return event
