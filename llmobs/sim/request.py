"""One request's life inside an emulated engine: what it asked, how far it got, when.

Mutable on purpose (the scheduler updates it every step), owned by one ``EngineCore``.
Timestamps are on the engine's clock (real or virtual seconds); None until they happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum


class State(Enum):
    WAITING = "waiting"
    FETCHING = "fetching"  # PD decode side: waiting for the prompt's KV cache to arrive
    RUNNING = "running"
    FINISHED = "finished"


@dataclass(slots=True, eq=False)
class SimRequest:
    id: str
    prompt_tokens: int
    max_tokens: int
    arrival: float
    block_hashes: tuple[int, ...] = ()
    finish_reason: str = "length"
    remote_prefill: bool = False  # PD decode side: the prompt was computed elsewhere
    transfer_s: float = 0.0  # PD decode side: time to pull the prompt's KV cache
    model: str = ""
    payload: object = None  # whatever the driver attaches (an HTTP stream, a record)

    state: State = State.WAITING
    num_computed: int = 0
    num_output: int = 0
    private_blocks: int = 0
    cached_blocks: list[int] = field(default_factory=list)
    cached_tokens: int = 0
    preemptions: int = 0
    queued_ts: float | None = None
    scheduled_ts: float | None = None
    first_token_ts: float | None = None
    last_token_ts: float | None = None
    finished_ts: float | None = None
    fetch_ready_ts: float | None = None
    prefix_looked_up: bool = False

    @property
    def num_tokens(self) -> int:
        """Tokens whose KV the engine needs: the prompt and every output token so far."""
        return self.prompt_tokens + self.num_output

    @property
    def blocks_held(self) -> int:
        return self.private_blocks + len(self.cached_blocks)
