"""Every board type-checks against Grafana's own published types (@grafana/schema) with tsc.

The boards are the committed ``dashboards/*.json`` (what users import), what
``llmobs.dashboards.boards()`` builds now and a sample with every kind of panel; each is
checked as an object literal of tools/grafana-schema/board.ts's ``Board`` by the real
``tsc`` that scripts/setup installs.
The check is shown to bite: boards with one field of the wrong type or shape fail, each with
tsc's own message at the field's JSON path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from llmobs.dashboards import boards
from llmobs.dashboards.typecheck import TOOLS, Problem, TypecheckUnavailable, check, main

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "dashboards"

Board = dict[str, Any]

# A board in the shape the generated ones have (one of each panel kind, both kinds of row,
# the datasource and multi-value variables, the import fields): the check's own fixture,
# independent of what the boards hold today.
SAMPLE: Board = json.loads((ROOT / "tests" / "fixtures" / "boards" / "sample.json").read_text())


def committed() -> dict[str, Board]:
    files = sorted(DASHBOARDS.glob("*.json")) if DASHBOARDS.is_dir() else []
    return {f"dashboards/{path.name}": json.loads(path.read_text()) for path in files}


@pytest.fixture(scope="module")
def tools() -> Path:
    if not (TOOLS / "node_modules" / ".bin" / "tsc").is_file():
        pytest.fail(f"tsc and @grafana/schema are not installed in {TOOLS}: run scripts/setup")
    return TOOLS


def test_every_board_passes(tools: Path) -> None:
    built = boards()
    assert len(committed()) == len(built) > 0
    found = check({"sample.json": SAMPLE, **committed(), **built}, tools)
    assert not found, "\n".join(map(str, found))


def test_each_real_board_with_a_wrong_field_fails(tools: Path) -> None:
    """The same check on the real boards: a width as a string, a field the grid lacks."""
    wrong = {}
    for name, board in boards().items():
        wrong[f"{name} width"] = _set(board, ["panels", 0, "gridPos", "w"], "12")
        wrong[f"{name} field"] = _set(board, ["panels", 0, "gridPos", "z"], 1)
    found = {(p.board, p.path, p.code) for p in check(wrong, tools)}
    assert found == {
        (name, path, code)
        for board in boards()
        for name, path, code in [
            (f"{board} width", "panels[0].gridPos.w", "TS2322"),
            (f"{board} field", "panels[0].gridPos.z", "TS2353"),
        ]
    }


def _set(board: Board, path: list[str | int], value: Any) -> Board:
    changed: Board = json.loads(json.dumps(board))  # unshared parts (deepcopy keeps sharing)
    *parents, last = path
    node: Any = changed
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return changed


_DELETE = object()

# (name, where, new value, the JSON path tsc points at, tsc's code, words of its message)
WRONG: list[tuple[str, list[str | int], Any, str, str, str]] = [
    (
        "a width as a string",
        ["panels", 2, "gridPos", "w"],
        "12",
        "panels[2].gridPos.w",
        "TS2322",
        "Type 'string' is not assignable to type 'number'",
    ),
    (
        "a misspelt query field",
        ["panels", 2, "targets", 0, "legendFormt"],
        "{{role}}",
        "panels[2].targets[0].legendFormt",
        "TS2353",
        "'\"legendFormt\"' does not exist in type 'PrometheusQuery'",
    ),
    (
        "a threshold mode Grafana does not have",
        ["panels", 0, "fieldConfig", "defaults", "thresholds", "mode"],
        "absolut",
        "panels[0].fieldConfig.defaults.thresholds.mode",
        "TS2820",
        'is not assignable to type \'"absolute" | "percentage"\'',
    ),
    (
        "the heatmap's calculate as a string",
        ["panels", 3, "options", "calculate"],
        "false",
        "panels[3].options.calculate",
        "TS2322",
        "Type 'string' is not assignable to type 'boolean",
    ),
    (
        "an Angular graph panel",
        ["panels", 2, "type"],
        "graph",
        "panels[2].type",
        "TS2322",
        "Type '\"graph\"' is not assignable to type",
    ),
    (
        "a row without its panels",
        ["panels", 1, "panels"],
        _DELETE,
        "panels[1]",
        "TS2322",
        "Property 'panels' is missing",
    ),
    (
        "no schemaVersion",
        ["schemaVersion"],
        _DELETE,
        "",
        "TS2322",
        "Property 'schemaVersion' is missing",
    ),
    (
        "a legend option of another panel",
        ["panels", 2, "options", "legend", "show"],
        True,
        "panels[2].options.legend.show",
        "TS2353",
        "'\"show\"' does not exist in type",
    ),
    (
        "a stat panel with custom field config",
        ["panels", 0, "fieldConfig", "defaults", "custom"],
        {"lineWidth": 1},
        "panels[0].fieldConfig.defaults.custom.lineWidth",
        "TS2322",
        "Type 'number' is not assignable to type 'undefined'",
    ),
    (
        "a variable that hides itself with a number Grafana does not know",
        ["templating", "list", 0, "hide"],
        7,
        "templating.list[0].hide",
        "TS2322",
        "Type '7' is not assignable to type 'VariableHide",
    ),
    (
        "an import input of an unknown kind",
        ["__inputs", 0, "type"],
        "datasources",
        "__inputs[0].type",
        "TS2820",
        'is not assignable to type \'"constant" | "datasource"\'',
    ),
    (
        "a nested panel of a collapsed row with a thresholds step without a value",
        ["panels", 4, "panels", 0, "fieldConfig", "defaults", "thresholds", "steps"],
        [{"color": "green"}],
        "panels[4].panels[0].fieldConfig.defaults.thresholds.steps[0]",
        "TS2741",
        "Property 'value' is missing",
    ),
]


def test_a_wrong_field_fails_with_tscs_message(tools: Path) -> None:
    boards = {name: _set(SAMPLE, where, value) for name, where, value, *_ in WRONG}
    found: dict[str, list[Problem]] = {}
    for problem in check(boards, tools):
        found.setdefault(problem.board, []).append(problem)
    for name, _where, _value, path, code, words in WRONG:
        assert name in found, f"{name}: tsc found nothing wrong"
        (problem,) = found[name]
        assert (problem.path, problem.code) == (path, code), f"{name}: {problem}"
        assert words in problem.message, f"{name}: {problem}"


def test_without_tsc_it_says_how_to_install_it(tmp_path: Path) -> None:
    with pytest.raises(TypecheckUnavailable, match="run scripts/setup"):
        check({"sample.json": SAMPLE}, tmp_path)


def test_the_module_as_a_command(
    tools: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(DASHBOARDS)]) == 0
    (tmp_path / "bad.json").write_text(
        json.dumps(_set(SAMPLE, ["panels", 2, "gridPos", "w"], "12"))
    )
    assert main([str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "bad.json: panels[2].gridPos.w: TS2322 Type 'string' is not assignable to type 'number'."
    ]
    assert err.splitlines()[-1] == "1 boards, 1 problems"
    (tmp_path / "bad.json").write_text('{"schemaVersion": NaN}')
    assert main([str(tmp_path)]) == 2
    assert main([str(tmp_path / "none")]) == 2
