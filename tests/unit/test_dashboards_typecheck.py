"""The pure half of llmobs.dashboards.typecheck: a board written as TypeScript one property a
line with the JSON path of each line, and tsc's diagnostics read back onto those paths."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.dashboards.typecheck import Module, Problem, TypecheckUnavailable, module, problems

PREFIX = "export const board: Board = "

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)
boards = st.dictionaries(st.text(max_size=6), json_values, max_size=5)


def body(mod: Module) -> Any:
    source = mod.source
    start = source.index(PREFIX) + len(PREFIX)
    return json.loads(source[start:].rstrip().removesuffix(";"))


def resolve(board: Any, path: str) -> Any:
    """The value at ``path`` as ``module`` spells it (``a.b[0]["odd key"]``)."""
    node, rest = board, path
    while rest:
        if rest.startswith("["):
            end = rest.index("]") if not rest.startswith('["') else _string_end(rest) + 1
            key = json.loads(rest[1:end])
            rest = rest[end + 1 :]
        else:
            rest = rest.removeprefix(".")
            cut = min((i for i in (rest.find("."), rest.find("[")) if i >= 0), default=len(rest))
            key, rest = rest[:cut], rest[cut:]
        node = node[key]
    return node


def _string_end(rest: str) -> int:
    """Index of the quote closing the JSON string that starts at rest[1]."""
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(rest, 1)
    return end - 1


def leaf_paths(value: Any, path: str = "") -> list[str]:
    """Every path of ``value`` that ``module`` gives a line of its own (containers twice when
    they open and close, empty ones once)."""
    if isinstance(value, dict | list) and value:
        items = value.items() if isinstance(value, dict) else enumerate(value)
        inner = [p for key, item in items for p in leaf_paths(item, _join(path, key))]
        return [path, *inner, path]
    return [path]


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.isidentifier() and key.isascii():
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


@given(boards)
def test_the_module_holds_the_board_and_each_lines_path(board: dict[str, Any]) -> None:
    mod = module(board, "../board")
    assert mod.source.startswith('import type { Board } from "../board";\n')
    assert body(mod) == board
    assert len(mod.paths) == len(mod.source.splitlines())
    first = mod.paths.index("")
    assert all(p is None for p in mod.paths[:first])
    paths = [p for p in mod.paths[first:] if p is not None]
    assert paths == leaf_paths(board)
    for path in paths:
        resolve(board, path)  # every path names a value of the board


def test_paths_of_a_panel() -> None:
    board = {"panels": [{"gridPos": {"w": 12}, "odd key": [1]}], "schemaVersion": 39}
    mod = module(board, "b")
    lines = dict(zip(mod.source.splitlines(), mod.paths, strict=True))
    assert lines['        "w": 12'] == "panels[0].gridPos.w"
    assert lines["        1"] == 'panels[0]["odd key"][0]'
    assert lines['  "schemaVersion": 39'] == "schemaVersion"
    assert lines["export const board: Board = {"] == ""


@pytest.mark.parametrize(
    ("board", "where"),
    [
        ({"a": [1.0, float("nan")]}, "a[1]"),
        ({"a": {"b": float("inf")}}, "a.b"),
        ({"a": {1, 2}}, "a: a set"),
        ({"a": {1: "x"}}, "a: key 1"),
    ],
)
def test_what_json_cannot_hold_is_named_by_its_path(board: dict[str, Any], where: str) -> None:
    with pytest.raises(ValueError, match=r"^" + where.replace("[", r"\[").replace("]", r"\]")):
        module(board, "b")


BOARD = {"panels": [{"type": "stat", "gridPos": {"w": "12"}}]}


def test_diagnostics_land_on_their_boards_paths() -> None:
    mod = module(BOARD, "b")
    w = mod.source.splitlines().index('        "w": "12"') + 1
    top = mod.paths.index("") + 1
    output = (
        f"/tmp/x/board0.ts({w},9): error TS2322: Type 'string' is not assignable to type "
        "'number'.\n"
        f"/tmp/x/board0.ts({top},14): error TS2322: Type '{{ panels: ... }}' is not assignable.\n"
        "  Property 'schemaVersion' is missing in type '{ panels: ... }'.\n"
    )
    found = problems(output, {"board0.ts": ("serving.json", mod)})
    assert found == [
        Problem(
            "serving.json",
            "panels[0].gridPos.w",
            w,
            9,
            "TS2322",
            "Type 'string' is not assignable to type 'number'.",
        ),
        Problem(
            "serving.json",
            "",
            top,
            14,
            "TS2322",
            "Type '{ panels: ... }' is not assignable.\n"
            "Property 'schemaVersion' is missing in type '{ panels: ... }'.",
        ),
    ]
    assert str(found[0]) == (
        "serving.json: panels[0].gridPos.w: TS2322 Type 'string' is not assignable to type "
        "'number'."
    )
    assert str(found[1]).startswith("serving.json: (the board): TS2322")


@pytest.mark.parametrize(
    "output",
    [
        "board.ts(3,1): error TS1005: ';' expected.\n",
        "board0.ts(1,27): error TS2307: Cannot find module 'b' or its type declarations.\n",
        "error TS5058: The specified path does not exist: 'tsconfig.json'.\n",
        "node: not found\n",
    ],
)
def test_what_no_board_can_fix_is_unavailable(output: str) -> None:
    mod = module(BOARD, "b")
    with pytest.raises(TypecheckUnavailable, match="tsc failed outside the boards"):
        problems(output, {"board0.ts": ("serving.json", mod)})


def test_no_output_is_no_problem() -> None:
    assert problems("", {"board0.ts": ("serving.json", module(BOARD, "b"))}) == []
