"""Golden files: compare a test's output with a committed file, or regenerate it.

``LLMOBS_UPDATE_GOLDEN=1 pytest ...`` rewrites every golden whose text changed and then fails
that test, so a regenerated golden never passes unseen: review the diff, commit it, run again.
"""

from __future__ import annotations

import os
import pathlib

import pytest

UPDATE = "LLMOBS_UPDATE_GOLDEN"


def updating() -> bool:
    """Whether this run regenerates goldens (``LLMOBS_UPDATE_GOLDEN`` set and not ``0``)."""
    return os.environ.get(UPDATE, "") not in ("", "0")


def check_golden(path: pathlib.Path, actual: str) -> None:
    """Pass if ``path`` holds exactly ``actual``; otherwise fail, or rewrite it and fail."""
    expected = path.read_text(encoding="utf-8") if path.exists() else None
    if expected == actual:
        return
    if updating():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        pytest.fail(f"regenerated {path}; review the diff, commit it, run again")
    if expected is None:
        pytest.fail(f"golden {path} is missing; create it with {UPDATE}=1, review it, commit it")
    assert actual == expected, f"{path} changed; if intended, rerun with {UPDATE}=1 and review"
