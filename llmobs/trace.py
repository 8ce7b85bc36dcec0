"""Mooncake request traces (JSONL): the one reader for llmbench and the emulator.

One JSON object per line, as in kvcache-ai/Mooncake's FAST'25 trace release:

* ``timestamp``: when the request arrives, in milliseconds from the start of the trace;
* ``input_length``, ``output_length``: prompt and output tokens, each at least 1;
* ``hash_ids`` (may be absent): one id per 512-token block of the prompt; equal ids at the
  same position mean a shared prefix.

Other keys are ignored. Blank lines are skipped; any other line that is not such a row is a
``TraceError`` that names the file, the line and what is wrong: nothing is silently dropped.
Pure but for opening the file; it imports nothing heavy, so llmbench reads traces without the
emulator.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from llmobs import strictjson
from llmobs.errors import ConfigError

TRACE_BLOCK = 512  # tokens per hash id
MAX_TOKENS = 10_000_000  # per prompt or output: past any model's context; a bigger one is a typo


class TraceError(ConfigError):
    """A trace that cannot be read: ``line`` is the 1-based line number, None for the file."""

    reason = "trace"

    def __init__(self, source: str, line: int | None, message: str) -> None:
        self.source = source
        self.line = line
        super().__init__(f"{source}:{line}: {message}" if line is not None else message)


@dataclass(frozen=True, slots=True)
class TraceRow:
    """One request of a trace; ``arrival`` is in seconds (the timestamp times the scale)."""

    line: int
    arrival: float
    input_length: int
    output_length: int
    hash_ids: tuple[int, ...] = ()


def _count(row: dict[str, object], key: str) -> int:
    value = row.get(key)
    if value is None:
        raise ValueError(f"missing {key!r}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key!r} must be an integer, got {json.dumps(value)}")
    if not 1 <= value <= MAX_TOKENS:
        raise ValueError(f"{key!r} must be from 1 to {MAX_TOKENS}, got {value:.6g}")
    return value


def _timestamp(row: dict[str, object]) -> float:
    value = row.get("timestamp")
    if value is None:
        raise ValueError("missing 'timestamp'")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ValueError(f"'timestamp' must be a number of milliseconds, got {json.dumps(value)}")
    try:
        as_float = float(value)  # an integer past 1e308 overflows
    except OverflowError:
        as_float = math.inf
    if not math.isfinite(as_float) or as_float < 0:
        raise ValueError(f"'timestamp' must be a finite number >= 0, got {as_float:g}")
    return as_float


def _hash_ids(row: dict[str, object]) -> tuple[int, ...]:
    value = row.get("hash_ids", [])
    if not isinstance(value, list):
        raise ValueError(f"'hash_ids' must be a list of integers, got {json.dumps(value)}")
    for item in value:
        if not isinstance(item, int) or isinstance(item, bool):
            raise ValueError(f"'hash_ids' must hold integers, got {json.dumps(item)}")
    return tuple(value)


def parse_row(text: str, line: int, *, time_scale: float = 1.0) -> TraceRow:
    """One line of a trace; ``ValueError`` says what is wrong with it."""
    try:
        row = strictjson.loads(text)  # NaN and Infinity are refused, not read as floats
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise ValueError("not JSON this reader takes (nested too deeply)") from None
    if not isinstance(row, dict):
        raise ValueError(f"expected a JSON object, got {type(row).__name__}")
    arrival = _timestamp(row) / 1000.0 * time_scale
    if not math.isfinite(arrival):
        raise ValueError("'timestamp' times the time scale is too large to wait for")
    return TraceRow(
        line,
        arrival,
        _count(row, "input_length"),
        _count(row, "output_length"),
        _hash_ids(row),
    )


def parse_trace(
    lines: Iterable[str],
    source: str = "<trace>",
    *,
    time_scale: float = 1.0,
    limit: int | None = None,
) -> Iterator[TraceRow]:
    """The rows of ``lines`` (at most ``limit``); ``time_scale`` 0.5 replays twice as fast."""
    if not (isinstance(time_scale, int | float) and math.isfinite(time_scale) and time_scale > 0):
        raise TraceError(source, None, f"time_scale must be a positive number, got {time_scale}")
    if limit is not None and limit < 0:
        raise TraceError(source, None, f"limit cannot be negative, got {limit}")
    taken = 0
    for number, text in enumerate(lines, 1):
        if limit is not None and taken >= limit:
            return
        if not text.strip():
            continue
        try:
            yield parse_row(text, number, time_scale=time_scale)
        except ValueError as exc:
            raise TraceError(source, number, f"not a Mooncake trace row: {exc}") from None
        taken += 1


def read_trace(
    path: Path, *, time_scale: float = 1.0, limit: int | None = None
) -> Iterator[TraceRow]:
    """The rows of the trace file at ``path``, read as they are consumed."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise TraceError(str(path), None, f"cannot read trace {path}: {exc.strerror}") from None
    with handle:
        try:
            yield from parse_trace(handle, str(path), time_scale=time_scale, limit=limit)
        except UnicodeDecodeError as exc:
            raise TraceError(str(path), None, f"{path} is not UTF-8 text: {exc.reason}") from None
