"""Tests read every JSON llmobs writes with a strict parser: ``NaN``/``Infinity`` fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llmobs import strictjson


def loads(text: str | bytes) -> Any:
    """Parse ``text`` as strict JSON (RFC 8259); AssertionError on NaN/Infinity."""
    try:
        return strictjson.loads(text)
    except ValueError as exc:
        raise AssertionError(f"not strict JSON: {exc}") from None


def load(path: Path) -> Any:
    return loads(path.read_text())


def load_lines(path: Path) -> list[Any]:
    """Every line of a JSON Lines file, each strict."""
    return [loads(line) for line in path.read_text().splitlines() if line.strip()]
