"""Strict JSON in and out: every JSON document llmobs writes parses with a strict parser.

Python's ``json`` writes ``NaN``, ``Infinity`` and ``-Infinity`` bare, which is not JSON (RFC
8259) and which ``jq``, browsers and Go's encoder refuse. ``dumps`` writes a non-finite float
as ``null`` (missing data is ``None``), and ``loads`` refuses those tokens in input instead of
turning them into floats that would flow on into results. ``write`` puts a document in a file
atomically.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (at any depth) replaced by ``None``.

    Dataclasses are not walked: convert them first (``dataclasses.asdict``)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps`` that never writes ``NaN``/``Infinity``: they become ``null``."""
    return json.dumps(finite(value), allow_nan=False, **kwargs)


def write(path: Path, value: Any) -> None:
    """``value`` into ``path`` as strict JSON (indented, one final newline), atomically: it
    goes to ``PATH.tmp`` first and replaces ``path`` whole, so a reader (or a crash) never
    sees half a file.

    Raises:
        OSError: the file cannot be written (``path`` is as it was; the partial copy is
            removed).
    """
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(dumps(value, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _refuse(token: str) -> Any:
    raise ValueError(f"{token} is not valid JSON (give a finite number or null)")


def loads(text: str | bytes) -> Any:
    """``json.loads`` that refuses ``NaN``, ``Infinity`` and ``-Infinity``.

    Raises:
        ValueError: ``json.JSONDecodeError`` for bad syntax (it has ``lineno``), or a plain
            ``ValueError`` naming the non-finite token.
    """
    return json.loads(text, parse_constant=_refuse)
