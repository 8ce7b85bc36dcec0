"""The KV cache as vLLM manages it: fixed-size blocks, and a prefix cache of full blocks.

A full prompt block is identified by a hash that chains over the blocks before it, so equal
hashes mean an equal prefix. Blocks of finished requests stay cached until their memory is
needed (least recently freed first). Usage counts cached-but-unused blocks as free, as
vLLM's ``kv_cache_usage_perc`` does. Pure bookkeeping: counts, no tensors.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


class BlockPool:
    def __init__(self, total: int) -> None:
        if total <= 0:
            raise ValueError("a KV cache needs at least one block")
        self.total = total
        self.used = 0
        self._refs: dict[int, int] = {}
        self._evictable: OrderedDict[int, None] = OrderedDict()

    @property
    def free(self) -> int:
        """Blocks a request can get now (evictable cached blocks included)."""
        return self.total - self.used

    def usage(self) -> float:
        return self.used / self.total

    def cached_prefix(self, hashes: Sequence[int]) -> int:
        """How many leading blocks of ``hashes`` are in the cache."""
        n = 0
        for h in hashes:
            if h not in self._refs and h not in self._evictable:
                break
            n += 1
        return n

    def allocate(self, n: int) -> bool:
        """Take ``n`` new blocks, evicting cached ones if needed; False if they do not fit."""
        if n > self.total - self.used:
            return False
        clean = self.total - self.used - len(self._evictable)
        for _ in range(n - clean):
            self._evictable.popitem(last=False)
        self.used += n
        return True

    def acquire(self, h: int) -> None:
        """Share the cached block ``h`` (a prefix-cache hit)."""
        refs = self._refs.get(h)
        if refs:
            self._refs[h] = refs + 1
            return
        del self._evictable[h]
        self._refs[h] = 1
        self.used += 1

    def publish(self, h: int) -> bool:
        """A request's own, now full, block becomes the cached block ``h``.

        False when ``h`` is cached already (computed concurrently): the block stays private.
        """
        if h in self._refs or h in self._evictable:
            return False
        self._refs[h] = 1
        return True

    def release(self, private: int, cached: Sequence[int]) -> None:
        """Give back a request's blocks: private ones are freed, cached ones dereferenced."""
        self.used -= private
        for h in cached:
            refs = self._refs[h] - 1
            if refs:
                self._refs[h] = refs
            else:
                del self._refs[h]
                self._evictable[h] = None
                self.used -= 1
