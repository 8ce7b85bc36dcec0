"""The virtual clock moves only when told, both readings together, never backwards."""

from __future__ import annotations

import pytest

from llmobs.clock import VirtualClock


def test_the_virtual_clock_moves_both_readings_together() -> None:
    clock = VirtualClock(start=5.0, epoch=1_000.0)
    assert (clock.monotonic(), clock.wall()) == (5.0, 1_005.0)
    assert clock.advance(2.5) == 7.5
    clock.set(10.0)
    assert (clock.monotonic(), clock.wall()) == (10.0, 1_010.0)


def test_the_virtual_clock_never_goes_back() -> None:
    clock = VirtualClock(start=10.0)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(-1.0)
    with pytest.raises(ValueError, match="does not go back"):
        clock.set(9.0)
    assert clock.monotonic() == 10.0
