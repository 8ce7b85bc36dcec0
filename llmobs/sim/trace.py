"""Workload traces for virtual-time replay: Mooncake's JSONL format.

One JSON object per line with ``timestamp`` (ms from the start), ``input_length``,
``output_length`` and ``hash_ids`` (one id per 512-token block; equal ids at the same
position mean a shared prefix), as in kvcache-ai/Mooncake's FAST'25 traces. A malformed line
is an error that names the line; nothing is silently skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from llmobs.errors import ConfigError
from llmobs.sim.prefix import trace_block_hashes
from llmobs.sim.virtual import VirtualRequest


def read_mooncake(
    path: Path, *, block_size: int = 16, time_scale: float = 1.0, limit: int | None = None
) -> Iterator[VirtualRequest]:
    """Requests of a Mooncake trace; ``time_scale`` 0.5 replays it twice as fast."""
    if time_scale <= 0:
        raise ConfigError("time_scale must be positive")
    with path.open() as lines:
        for number, line in enumerate(lines, 1):
            if limit is not None and number > limit:
                return
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                arrival = float(row["timestamp"]) / 1000.0 * time_scale
                prompt = int(row["input_length"])
                output = int(row["output_length"])
                hash_ids = [int(h) for h in row.get("hash_ids", [])]
            except (ValueError, KeyError, TypeError) as exc:
                raise ConfigError(f"{path}:{number}: not a Mooncake trace row ({exc})") from None
            if prompt < 1 or output < 1:
                raise ConfigError(f"{path}:{number}: input and output lengths must be positive")
            yield VirtualRequest(
                f"trace-{number}",
                arrival,
                prompt,
                output,
                trace_block_hashes(hash_ids, prompt, block_size),
            )
