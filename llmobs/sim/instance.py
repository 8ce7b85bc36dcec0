"""One emulated engine instance: its core, statistics, tokenizer and /metrics registry.

Clock-free like the core: the real-time server and the virtual-time simulator both build
instances from the same ``Resolved`` settings and differ only in who advances time.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from llmobs.sim.config import Resolved
from llmobs.sim.core import CoreConfig, EngineCore
from llmobs.sim.flavors import sglang as sglang_flavor
from llmobs.sim.flavors import vllm as vllm_flavor
from llmobs.sim.httpmetrics import HttpMetrics, HttpStats
from llmobs.sim.stats import EngineStats, LiveState
from llmobs.sim.tokenizer import Tokenizer
from llmobs.sim.tokenizer import load as load_tokenizer

# What /metrics answers with, per engine.
CONTENT_TYPES = {
    "vllm": "text/plain; version=1.0.0; charset=utf-8",
    "sglang": "text/plain; version=0.0.4; charset=utf-8",
}


class Instance:
    def __init__(
        self,
        resolved: Resolved,
        *,
        role: str = "both",
        name: str = "engine-0",
        started_at: float = 0.0,
        now: Callable[[], float] | None = None,
        tokenizer: Tokenizer | None = None,
        process_metrics: bool = True,
    ) -> None:
        s = resolved.settings
        self.resolved = resolved
        self.settings = s
        self.role = role
        self.name = name
        flavor = vllm_flavor if s.engine == "vllm" else sglang_flavor
        self.stats = EngineStats(flavor.bounds(resolved.max_model_len), started_at=started_at)
        self.core = EngineCore(
            CoreConfig(
                num_blocks=resolved.num_blocks,
                block_size=s.block_size,
                max_num_seqs=resolved.max_num_seqs,
                max_num_batched_tokens=resolved.max_num_batched_tokens,
                enable_prefix_caching=s.enable_prefix_caching,
            ),
            resolved.perf,
            self.stats,
        )
        self.tokenizer = tokenizer or load_tokenizer(s.tokenizer)
        self.http = HttpStats()
        self.registry = CollectorRegistry(auto_describe=False)
        self.now = now or (lambda: started_at)
        self.live: Callable[[], LiveState] = self.core.live
        if s.engine == "vllm":
            if process_metrics:
                GCCollector(registry=self.registry)
                PlatformCollector(registry=self.registry)
                ProcessCollector(registry=self.registry)
            info = vllm_flavor.Instance(
                model_name=resolved.served_name,
                max_model_len=resolved.max_model_len,
                block_size=s.block_size,
                num_blocks=resolved.num_blocks,
                gpu_memory_utilization=s.gpu_memory_utilization,
                enable_prefix_caching=s.enable_prefix_caching,
                max_num_seqs=resolved.max_num_seqs,
            )
            self.registry.register(
                vllm_flavor.VllmMetrics(s.version, info, self.stats, lambda: self.live())
            )
            self.registry.register(HttpMetrics(self.http))
        else:
            self.registry.register(
                sglang_flavor.SglangMetrics(
                    resolved.served_name, self.stats, lambda: self.live(), os.getpid(), self.now
                )
            )

    @property
    def serves_metrics(self) -> bool:
        return self.settings.engine == "vllm" or self.settings.enable_metrics

    def metrics_text(self) -> bytes:
        return generate_latest(self.registry)

    @property
    def content_type(self) -> str:
        return CONTENT_TYPES[self.settings.engine]
