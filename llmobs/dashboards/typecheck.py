"""Boards type-checked against Grafana's own published dashboard types, with ``tsc``.

Each board becomes a TypeScript module whose one export is the board as an object literal
of type ``Board`` (tools/grafana-schema/board.ts: ``@grafana/schema``'s ``Dashboard`` with
the panels' published option types), so an unknown property, a missing required one or a
value of the wrong type is a compile error; ``tsc --noEmit`` checks every board in one run.

The core is pure: ``module`` writes a board one property a line and keeps the JSON path of
each line, and ``problems`` reads tsc's diagnostics back onto those paths. ``check`` is the
shell: it writes the modules to a temporary directory and runs the ``tsc`` that
``scripts/setup`` installs under tools/grafana-schema (a source checkout, not an installed
wheel, has it).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmobs import exitcodes, strictjson
from llmobs.errors import LlmobsError

TOOLS = Path(__file__).resolve().parents[2] / "tools" / "grafana-schema"
TYPES = "board"  # tools/grafana-schema/board.ts, without its extension (bundler resolution)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# tsc --pretty false: "FILE(LINE,COL): error TS2322: message", then indented continuations.
_DIAGNOSTIC = re.compile(r"^(?P<file>.+?)\((?P<line>\d+),(?P<col>\d+)\): error (?P<code>TS\d+): ")


class TypecheckUnavailable(LlmobsError):
    """tsc or Grafana's types are not installed, or tsc failed without saying why."""

    reason = "typecheck"


@dataclass(frozen=True, slots=True)
class Problem:
    """One tsc error in one board: where (the JSON path of the line tsc points at) and why."""

    board: str  # the board's file name, "llmobs-serving.json"
    path: str  # "panels[3].fieldConfig.defaults.unit"; "" for the board itself
    line: int  # in the generated module (1-based)
    column: int
    code: str  # "TS2322"
    message: str  # tsc's message; its continuation lines joined with "\n"

    def __str__(self) -> str:
        return f"{self.board}: {self.path or '(the board)'}: {self.code} {self.message}"


@dataclass(frozen=True, slots=True)
class Module:
    """A board as TypeScript source, with the JSON path of every line of the board ("" is
    the board itself) and None for the lines before it (the import)."""

    source: str
    paths: tuple[str | None, ...]


def _child(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


def _scalar(value: Any, path: str) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path or 'the board'}: {value} is not JSON (give a number or null)")
    if value is None or isinstance(value, bool | int | float | str):
        return json.dumps(value)
    raise ValueError(f"{path or 'the board'}: a {type(value).__name__} is not a JSON value")


def _lines(value: Any, path: str, head: str, depth: int, tail: str) -> Iterator[tuple[str, str]]:
    """(text, path) for each line of ``value`` written at ``depth`` after ``head``."""
    pad = "  " * depth
    if isinstance(value, Mapping | list) and value:
        items = list(value.items()) if isinstance(value, Mapping) else list(enumerate(value))
        opening, closing = ("{", "}") if isinstance(value, Mapping) else ("[", "]")
        yield f"{pad}{head}{opening}", path
        for i, (key, item) in enumerate(items):
            if isinstance(value, Mapping) and not isinstance(key, str):
                raise ValueError(f"{path or 'the board'}: key {key!r} is not a string")
            name = f"{json.dumps(key)}: " if isinstance(value, Mapping) else ""
            comma = "," if i < len(items) - 1 else ""
            yield from _lines(item, _child(path, key), name, depth + 1, comma)
        yield f"{pad}{closing}{tail}", path
    elif isinstance(value, Mapping | list):
        yield f"{pad}{head}{'{}' if isinstance(value, Mapping) else '[]'}{tail}", path
    else:
        yield f"{pad}{head}{_scalar(value, path)}{tail}", path


def module(board: Mapping[str, Any], types: str) -> Module:
    """The TypeScript module of ``board``: ``types`` is the import path of board.ts.

    Raises:
        ValueError: ``board`` holds something JSON cannot (a non-finite float, a set, a
            non-string key), named by its path.
    """
    header: list[tuple[str, str | None]] = [
        (f"import type {{ Board }} from {json.dumps(types)};", None),
        ("", None),
    ]
    lines = header + list(_lines(board, "", "export const board: Board = ", 0, ";"))
    return Module("\n".join(text for text, _ in lines) + "\n", tuple(p for _, p in lines))


def _diagnostics(output: str) -> Iterator[tuple[re.Match[str] | None, list[str]]]:
    """tsc's output in diagnostics: the header's match (None for a line that is not one)
    and the message with its continuation lines."""
    header: re.Match[str] | None = None
    message: list[str] = []
    for raw in output.splitlines():
        match = _DIAGNOSTIC.match(raw)
        if match is None and header is not None and raw.startswith("  "):
            message.append(raw.strip())
            continue
        if header is not None or message:
            yield header, message
        header, message = match, []
        if match is not None:
            message = [raw[match.end() :]]
        elif raw.strip():
            message = [raw]
    if header is not None or message:
        yield header, message


def problems(output: str, modules: Mapping[str, tuple[str, Module]]) -> list[Problem]:
    """tsc's errors (``--pretty false``) on the boards' modules, as Problems.

    ``modules`` maps each module's file name to its board's name and its module.

    Raises:
        TypecheckUnavailable: tsc said something about another file (board.ts, the config,
            Grafana's types) or something that is not a diagnostic: no board can fix it.
    """
    found: list[Problem] = []
    elsewhere: list[str] = []
    for header, message in _diagnostics(output):
        owner = None if header is None else modules.get(Path(header["file"]).name)
        if header is None or owner is None:
            elsewhere.append("\n".join(message if header is None else [header[0], *message]))
            continue
        board, mod = owner
        line = int(header["line"])
        path = mod.paths[line - 1] if 0 < line <= len(mod.paths) else None
        if path is None:  # the import: tsc or its set-up, not the board
            elsewhere.append("\n".join([header[0], *message]))
            continue
        text = "\n".join(message)
        found.append(Problem(board, path, line, int(header["col"]), header["code"], text))
    if elsewhere:
        raise TypecheckUnavailable("tsc failed outside the boards:\n" + "\n".join(elsewhere))
    return found


def _tsc(tools: Path) -> Path:
    tsc = tools / "node_modules" / ".bin" / "tsc"
    if not tsc.is_file() or not (tools / "node_modules" / "@grafana" / "schema").is_dir():
        raise TypecheckUnavailable(
            f"tsc and @grafana/schema are not installed in {tools}: run scripts/setup "
            "(it runs npm ci there)"
        )
    return tsc


def check(
    boards: Mapping[str, Mapping[str, Any]], tools: Path = TOOLS, timeout: float = 300.0
) -> list[Problem]:
    """Every tsc error of ``boards`` (file name -> board JSON); [] when all pass.

    Raises:
        TypecheckUnavailable: tsc is not installed, does not finish within ``timeout``
            seconds, or fails for a reason that is not in a board.
        ValueError: a board holds something that is not JSON.
    """
    tsc = _tsc(tools)
    with tempfile.TemporaryDirectory(prefix="llmobs-typecheck-") as tmp:
        root = Path(tmp)
        types = os.path.relpath(tools / TYPES, root)
        modules: dict[str, tuple[str, Module]] = {}
        for i, (name, board) in enumerate(sorted(boards.items())):
            file = f"board{i}.ts"
            modules[file] = (name, module(board, types))
            (root / file).write_text(modules[file][1].source, encoding="utf-8")
        config = {"extends": str(tools / "tsconfig.json"), "files": sorted(modules)}
        (root / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
        try:
            done = subprocess.run(
                [str(tsc), "--project", str(root / "tsconfig.json"), "--pretty", "false"],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise TypecheckUnavailable(f"tsc did not finish in {timeout:g} s") from exc
        except OSError as exc:
            raise TypecheckUnavailable(f"tsc could not run: {exc}") from exc
    found = problems(done.stdout + done.stderr, modules)
    if done.returncode != 0 and not found:
        raise TypecheckUnavailable(f"tsc exited {done.returncode} and named no error")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m llmobs.dashboards.typecheck [FOLDER]``: type-check FOLDER/*.json (default
    dashboards/ of this checkout), print each problem, exit 0 when all pass, 1 when some fail
    or tsc cannot run, 2 when there is no board to read."""
    args = list(sys.argv[1:] if argv is None else argv)
    folder = Path(args[0]) if args else TOOLS.parents[1] / "dashboards"
    files = sorted(folder.glob("*.json"))
    if len(args) > 1 or not files:
        print(f"error: no boards (*.json) in {folder}; usage: [FOLDER]", file=sys.stderr)
        return exitcodes.USAGE
    try:
        boards = {path.name: strictjson.loads(path.read_text(encoding="utf-8")) for path in files}
        found = check(boards)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    except TypecheckUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exitcodes.FAILURE
    for problem in found:
        print(problem)
    print(f"{len(files)} boards, {len(found)} problems", file=sys.stderr)
    return exitcodes.FAILURE if found else exitcodes.OK


if __name__ == "__main__":
    sys.exit(main())
