"""Emulators for tests: real sockets on 127.0.0.1, served from a background event loop."""

from __future__ import annotations

from llmobs.sim.background import BackgroundSim as SimHost
from llmobs.sim.background import LoopThread

__all__ = ["LoopThread", "SimHost"]
