"""What to send: prompts of a given token length, shared prefixes, trace and ShareGPT rows.

Prompts are words drawn from a list of short common English words, each written with a
leading space: one token each for the emulator's tokenizer and, for nearly all of them, for
real BPE vocabularies; given a tokenizer, ``calibrate`` (``llmobs.bench.calibrate``) keeps
only the words that are one token for it, and makes each length exact against the server's
``/tokenize`` or the local tokenizer. Lengths follow vLLM's
``--random-range-ratio``: uniform integers in ``[floor(L(1-r)), ceil(L(1+r))]``. Trace rows
(Mooncake JSONL) keep their timestamps and turn ``hash_ids`` into 512-token blocks that are
equal wherever the ids are, so the server sees the trace's prefix sharing. Pure but for
reading the dataset files (``read_sharegpt``, ``llmobs.trace.read_trace``), which the caller
can do first, before anything else (``trace_specs``, ``sharegpt_specs`` take what was read).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from llmobs import strictjson
from llmobs.errors import ConfigError
from llmobs.trace import TRACE_BLOCK, TraceRow, read_trace

WORDS = (
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "that",
    "with",
    "on",
    "as",
    "it",
    "by",
    "this",
    "be",
    "are",
    "from",
    "at",
    "or",
    "an",
    "was",
    "we",
    "can",
    "all",
    "but",
    "not",
    "you",
    "your",
    "has",
    "have",
    "more",
    "one",
    "new",
    "out",
    "use",
    "will",
    "what",
    "who",
    "how",
    "its",
    "also",
    "may",
    "most",
    "some",
    "time",
    "year",
    "been",
    "were",
    "over",
    "into",
    "only",
    "any",
    "such",
    "than",
    "then",
    "them",
    "our",
    "made",
    "work",
    "part",
    "life",
    "each",
    "used",
    "show",
    "much",
    "data",
    "case",
    "form",
    "line",
    "day",
    "way",
    "well",
    "back",
    "long",
    "high",
    "best",
    "home",
    "page",
    "real",
    "good",
    "make",
    "take",
    "give",
    "next",
    "last",
    "just",
    "like",
    "even",
    "very",
    "many",
    "both",
    "same",
    "open",
    "free",
    "full",
    "plan",
    "size",
    "site",
    "team",
    "test",
    "user",
    "code",
    "file",
    "type",
    "view",
    "list",
    "fast",
    "note",
    "rate",
    "road",
    "area",
    "book",
    "city",
    "cost",
)


Conversation = tuple[str, int]  # a ShareGPT prompt and the output length asked for


@dataclass(frozen=True)
class RequestSpec:
    """One request to send: when (seconds from the start), the prompt, and how long."""

    index: int
    offset: float
    prompt: str
    expected_prompt_tokens: int | None
    max_tokens: int
    warmup: bool = False
    tail_words: int = 0  # words after the shared part: what calibration may change


def words(rng: random.Random, count: int, vocabulary: Sequence[str] = WORDS) -> str:
    return "".join(" " + rng.choice(vocabulary) for _ in range(count))


def lengths(count: int, mean: int, range_ratio: float, rng: random.Random) -> list[int]:
    """vLLM's ``--random-range-ratio``: uniform in [floor(L(1-r)), ceil(L(1+r))], >= 1."""
    if not 0 <= range_ratio < 1:
        raise ConfigError(f"--range-ratio must be in [0, 1), got {range_ratio}")
    low = max(1, math.floor(mean * (1 - range_ratio)))
    high = max(low, math.ceil(mean * (1 + range_ratio)))
    return [rng.randint(low, high) for _ in range(count)]


def random_workload(
    offsets: list[float],
    isl: int,
    osl: int,
    *,
    range_ratio: float = 0.0,
    prefix_len: int = 0,
    seed: int = 0,
    vocabulary: Sequence[str] = WORDS,
) -> list[RequestSpec]:
    """Prompts of ``isl`` tokens (plus a ``prefix_len`` prefix shared by all) asking for
    ``osl`` tokens; each prompt is otherwise unique, so no accidental prefix-cache hits."""
    if isl < 1 or osl < 1:
        raise ConfigError("--isl and --osl must be at least 1")
    rng = random.Random(seed)
    prefix = words(random.Random(f"prefix-{seed}"), prefix_len, vocabulary)
    inputs = lengths(len(offsets), isl, range_ratio, rng)
    outputs = lengths(len(offsets), osl, range_ratio, rng)
    specs = []
    for i, (offset, n_in, n_out) in enumerate(zip(offsets, inputs, outputs, strict=True)):
        text = prefix + words(random.Random(f"{seed}-{i}"), n_in, vocabulary)
        specs.append(RequestSpec(i, offset, text, prefix_len + n_in, n_out, tail_words=n_in))
    return specs


def _block(hash_id: int, tokens: int, seed: int, vocabulary: Sequence[str]) -> str:
    return words(random.Random(f"block-{seed}-{hash_id}"), tokens, vocabulary)


def trace_workload(
    path: Path,
    *,
    time_scale: float = 1.0,
    limit: int | None = None,
    seed: int = 0,
    vocabulary: Sequence[str] = WORDS,
) -> list[RequestSpec]:
    """Mooncake rows (``llmobs.trace``): ``timestamp`` (ms) times ``time_scale``, from the
    first row's, ``input_length``, ``output_length``, ``hash_ids`` (512-token blocks; equal
    ids share a prefix)."""
    rows = read_trace(path, time_scale=time_scale, limit=limit)
    return trace_specs(rows, seed=seed, vocabulary=vocabulary)


def trace_specs(
    rows: Iterable[TraceRow], *, seed: int = 0, vocabulary: Sequence[str] = WORDS
) -> list[RequestSpec]:
    """``trace_workload`` of rows already read."""
    specs: list[RequestSpec] = []
    for row in rows:
        n_in = row.input_length
        full = min(len(row.hash_ids), n_in // TRACE_BLOCK)
        shared = "".join(_block(h, TRACE_BLOCK, seed, vocabulary) for h in row.hash_ids[:full])
        tail = n_in - full * TRACE_BLOCK
        text = shared + words(random.Random(f"tail-{seed}-{row.line}"), tail, vocabulary)
        specs.append(
            RequestSpec(len(specs), row.arrival, text, n_in, row.output_length, tail_words=tail)
        )
    if specs:
        first = specs[0].offset
        specs = [replace(s, offset=s.offset - first) for s in specs]
    return specs


def sharegpt_workload(
    path: Path, count: int, *, osl: int | None, seed: int = 0
) -> list[RequestSpec]:
    """First human turn as the prompt; the reply's length (about 4 characters a token)
    or ``osl`` as the output length; vLLM's filters (prompt >= 4 tokens, reply >= 4,
    prompt <= 1024, both <= 2048)."""
    return sharegpt_specs(read_sharegpt(path, osl=osl), count, seed=seed)


def read_sharegpt(path: Path, *, osl: int | None) -> list[Conversation]:
    """The usable conversations of a ShareGPT file (``sharegpt_workload``'s filters).

    Raises:
        ConfigError: the file cannot be read, is not JSON, not a list, or has none.
    """
    try:
        data = strictjson.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read ShareGPT file {path}: {exc.strerror or exc}") from None
    except RecursionError:
        raise ConfigError(f"ShareGPT file {path}: nested too deeply to be ShareGPT") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"ShareGPT file {path}:{exc.lineno}: not JSON ({exc.msg} at column {exc.colno})"
        ) from None
    except ValueError as exc:  # not UTF-8, or NaN/Infinity
        raise ConfigError(f"ShareGPT file {path}: {exc}") from None
    if not isinstance(data, list):
        raise ConfigError(f"{path}: expected a JSON list of conversations")
    pairs: list[Conversation] = []
    for item in data:
        pair = _conversation(item)
        if pair is None:
            continue
        prompt, reply = pair
        p_tokens, r_tokens = max(1, len(prompt) // 4), max(1, len(reply) // 4)
        if p_tokens < 4 or r_tokens < 4 or p_tokens > 1024 or p_tokens + r_tokens > 2048:
            continue
        pairs.append((prompt, osl or r_tokens))
    if not pairs:
        raise ConfigError(f"{path}: no usable conversations (ShareGPT format)")
    return pairs


def sharegpt_specs(
    conversations: Sequence[Conversation], count: int, *, seed: int = 0
) -> list[RequestSpec]:
    """``count`` requests drawn (shuffled by ``seed``, repeated as needed) from non-empty
    ``conversations``."""
    pairs = list(conversations)
    rng = random.Random(seed)
    rng.shuffle(pairs)
    chosen = [pairs[i % len(pairs)] for i in range(count)]
    return [RequestSpec(i, 0.0, p, None, n) for i, (p, n) in enumerate(chosen)]


def _conversation(item: object) -> tuple[str, str] | None:
    """The first turn and its reply, as text; None for an entry that is not a conversation
    (skipped, as vLLM's reader skips them)."""
    turns = item.get("conversations") if isinstance(item, dict) else None
    if not isinstance(turns, list) or len(turns) < 2:
        return None
    first, second = turns[0], turns[1]
    if not isinstance(first, dict) or not isinstance(second, dict):
        return None
    prompt, reply = first.get("value"), second.get("value")
    if not isinstance(prompt, str) or not isinstance(reply, str):
        return None
    return prompt, reply
