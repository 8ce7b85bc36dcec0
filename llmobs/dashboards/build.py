"""The boards as files: their text, and writing or checking them in a folder.

``render`` is pure; ``write`` and ``stale`` are the thin I/O around it that
``llmobs dashboards build`` calls. The text is strict JSON (no NaN), keys sorted, indented,
one final newline, so a committed board diffs cleanly and ``--check`` compares bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from llmobs import strictjson
from llmobs.dashboards import autoscaler, engines, serving

BOARDS: dict[str, Callable[[], dict[str, Any]]] = {
    serving.FILE: serving.board,
    autoscaler.FILE: autoscaler.board,
    engines.FILE: engines.board,
}
DEFAULT_OUT = Path("dashboards")
REGENERATE = "llmobs dashboards build"


def render(board: Mapping[str, Any]) -> str:
    """A board's file text."""
    return strictjson.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def texts() -> dict[str, str]:
    """Every board's file name and text."""
    return {name: render(build()) for name, build in BOARDS.items()}


def write(out: Path, files: Mapping[str, str]) -> list[str]:
    """Write each file into ``out`` (created if missing) whose text differs; the names
    written, in order.

    Raises:
        OSError: the folder or a file cannot be written.
    """
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            _write_text(path, text)
            written.append(name)
    return written


def _write_text(path: Path, text: str) -> None:
    """``text`` into ``path`` atomically (through ``PATH.tmp``)."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def stale(out: Path, files: Mapping[str, str]) -> list[str]:
    """The names in ``out`` that differ from ``files``: missing or changed boards, and
    ``llmobs-*.json`` files no board writes (a board removed or renamed)."""
    changed = [
        name
        for name, text in files.items()
        if not (out / name).is_file() or (out / name).read_text(encoding="utf-8") != text
    ]
    extra = sorted(p.name for p in out.glob("llmobs-*.json") if p.name not in files)
    return changed + extra
