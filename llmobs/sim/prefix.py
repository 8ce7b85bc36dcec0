"""Prefix-cache block hashes: equal prefixes give equal hashes, as in vLLM.

The hash of block ``i`` covers its tokens and the hash of block ``i-1``, so a block matches
only if everything before it matches too. Real-time requests hash their token ids; trace
replay hashes Mooncake's ``hash_ids`` (one per 512-token block), which already say which
prompt blocks are shared.
"""

from __future__ import annotations

from collections.abc import Sequence


def block_hashes(token_ids: Sequence[int], block_size: int) -> tuple[int, ...]:
    """Hashes of the full blocks of ``token_ids`` (a partial last block has none)."""
    out: list[int] = []
    parent = 0
    for start in range(0, len(token_ids) - block_size + 1, block_size):
        parent = hash((parent, tuple(token_ids[start : start + block_size])))
        out.append(parent)
    return tuple(out)


def trace_block_hashes(
    hash_ids: Sequence[int], prompt_tokens: int, block_size: int, trace_block: int = 512
) -> tuple[int, ...]:
    """Block hashes for a trace row: ``hash_ids[j]`` names trace block ``j`` (``trace_block``
    tokens), so engine block ``i`` lies in trace block ``i * block_size // trace_block``."""
    out: list[int] = []
    parent = 0
    for i in range(prompt_tokens // block_size):
        j = i * block_size // trace_block
        if j >= len(hash_ids):
            break
        parent = hash((parent, hash_ids[j], i))
        out.append(parent)
    return tuple(out)
