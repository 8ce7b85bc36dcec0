"""Workload traces for virtual-time replay: Mooncake rows (``llmobs.trace``) as requests.

Each row arrives at its own timestamp (not shifted: a trace that starts late starts late)
with the prefix sharing its ``hash_ids`` describe, turned into the engine's block hashes.
Reading and its errors (which name the line) are ``llmobs.trace``'s.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from llmobs.sim.prefix import trace_block_hashes
from llmobs.sim.virtual import VirtualRequest
from llmobs.trace import TRACE_BLOCK, read_trace


def read_mooncake(
    path: Path, *, block_size: int = 16, time_scale: float = 1.0, limit: int | None = None
) -> Iterator[VirtualRequest]:
    """Requests of a Mooncake trace; ``time_scale`` 0.5 replays it twice as fast, ``limit``
    takes the first rows only."""
    for row in read_trace(path, time_scale=time_scale, limit=limit):
        yield VirtualRequest(
            f"trace-{row.line}",
            row.arrival,
            row.input_length,
            row.output_length,
            trace_block_hashes(row.hash_ids, row.input_length, block_size, TRACE_BLOCK),
        )
