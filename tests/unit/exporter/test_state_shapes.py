"""A target's bodies are read against the shape of its last one while that pays."""

from __future__ import annotations

from llmobs.engines import WANTED
from llmobs.exporter.state import SHAPE_RETRY, Target, TargetState
from llmobs.exposition.model import NO_SHAPE
from llmobs.exposition.parser import parse
from llmobs.scrape.fetch import ScrapeResult
from tests.fixtures.expositions import load


def observe(state: TargetState, body: str, at: float) -> ScrapeResult:
    exposition = parse(body, wanted=WANTED, like=state.like())
    result = ScrapeResult("u", 1.79e9 + at, at, 0.01, exposition, None)
    state.observe(result)
    return result


def stamped(body: str, ms: int) -> str:
    """Every sample line with a timestamp: the lines change at every scrape."""
    return "".join(
        line + "\n" if not line or line.startswith("#") else f"{line} {ms}\n"
        for line in body.split("\n")[:-1]
    )


def test_a_steady_target_is_read_against_its_last_shape() -> None:
    state = TargetState(Target("a", "http://a/metrics", pod="a"), 60.0)
    assert state.like() is NO_SHAPE
    first = observe(state, load("vllm-0.32.0.txt"), 0.0)
    assert first.exposition is not None and state.shape is first.exposition.shape
    for at in (5.0, 10.0, 15.0, 20.0):
        result = observe(state, load("vllm-0.32.0.txt"), at)
        assert result.exposition is not None and result.exposition.shape is state.shape
    assert state.shape_changes == 0 and state.up


def test_a_target_whose_lines_always_change_is_parsed_without_shapes() -> None:
    state = TargetState(Target("a", "http://a/metrics", pod="a"), 60.0)
    body = load("vllm-0.32.0.txt")
    for i in range(4):
        observe(state, stamped(body, 1000 + i), 5.0 * i)
    asked = [state.like() is not None for _ in range(2 * SHAPE_RETRY)]
    assert asked.count(True) == 2  # one try in SHAPE_RETRY
    assert state.up and state.view().latest is not None
