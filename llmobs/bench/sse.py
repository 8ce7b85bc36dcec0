"""Server-sent events, parsed incrementally from whatever bytes the socket delivers.

Events end with a blank line; only ``data:`` fields matter (``event:``/``id:`` are ignored,
``:`` lines are comments); several data lines join with newlines; CR LF counts as LF. Pure.
"""

from __future__ import annotations


class SSEParser:
    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        """The data payloads of every event completed by ``data``."""
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
        return events

    @property
    def pending(self) -> bytes:
        """Bytes of an event that has not ended (a cut stream leaves some)."""
        return self._buffer
