"""What happened to one request, as a record written to JSONL the moment it finishes.

Times are seconds from the run's start (one monotonic clock for every worker process):
``scheduled`` (the open loop's plan), ``dispatched`` (when the generator got to it: later is
schedule lag), ``sent`` (when the request body was on the wire, after any
``--max-concurrency`` wait and the request's building: the client queue),
``first_token`` and ``end`` (the last content chunk) as the client saw them, ``done`` (when
the request ended, however it ended), and every content chunk's arrival. ``connect`` is the
time spent opening a new connection before sending, when one was opened (not in TTFT).
"""

from __future__ import annotations

from array import array
from dataclasses import asdict, dataclass, field
from typing import Any

from llmobs import strictjson


@dataclass
class RequestRecord:
    index: int
    scheduled: float
    expected_prompt_tokens: int | None
    expected_output_tokens: int
    warmup: bool = False
    worker: int = 0
    dispatched: float | None = None
    sent: float | None = None
    first_token: float | None = None
    end: float | None = None  # the last content chunk
    done: float | None = None  # when the request ended, however it ended
    connect: float | None = None  # seconds spent opening a new connection, if one was
    # compact arrays: a long run holds millions of chunk times
    chunk_times: array[float] = field(default_factory=lambda: array("d"))
    chunk_tokens: array[int] = field(default_factory=lambda: array("l"))  # from usage, if any
    prompt_tokens: int | None = None
    output_tokens: int | None = None
    status: int | None = None
    error: str | None = None
    error_kind: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.end is not None and self.first_token is not None

    def to_json(self) -> str:
        data = asdict(self)
        data["chunk_times"] = [round(t, 6) for t in self.chunk_times]
        data["chunk_tokens"] = list(self.chunk_tokens)
        return strictjson.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> RequestRecord:
        data: dict[str, Any] = strictjson.loads(line)
        data["chunk_times"] = array("d", data.get("chunk_times", []))
        data["chunk_tokens"] = array("l", data.get("chunk_tokens", []))
        return cls(**data)
