"""Capacities seeded from an ``llmbench sweep`` result: ``capacity_from`` in the file,
``--capacity-from``/``--sweep-isl`` as flags; a bad file is one line and exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs.autoscaler.app import Settings, load, with_capacity
from llmobs.cli.autoscaler import merge
from llmobs.errors import ConfigError
from tests.unit.autoscaler.test_capacity import sweep
from tests.unit.autoscaler.test_cli_flags import TARGETS, options

REPO = Path(__file__).resolve().parents[3]
SLOS = ("prefill:ttft_p90=1s", "decode:tpot_p90=50ms")


def written(tmp_path: Path, doc: Any, name: str = "sweep.json") -> Path:
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def capacities(built: Settings) -> tuple[float | None, float | None]:
    roles = built.policy.roles
    return roles["prefill"].capacity, roles["decode"].capacity


def test_flags_seed_both_roles(tmp_path: Path) -> None:
    path = written(tmp_path, sweep())
    flags = options(target=TARGETS, slo=SLOS, capacity_from=path, sweep_isl=3000)
    # the heaviest point within 1 s TTFT (p99) is 4 req/s x 3000; within 50 ms TPOT, 600/s
    assert capacities(merge(flags, None)) == (12000.0, 600.0)


def test_without_the_prompt_length_only_decode_is_seeded(tmp_path: Path) -> None:
    flags = options(target=TARGETS, slo=SLOS, capacity_from=written(tmp_path, sweep()))
    assert capacities(merge(flags, None)) == (None, 600.0)


def test_the_file_seeds_and_a_roles_own_capacity_is_kept(tmp_path: Path) -> None:
    written(tmp_path, sweep())
    config = tmp_path / "autoscaler.yaml"
    config.write_text(
        "policy:\n  roles:\n"
        "    prefill: {slo: {ttft: {p90: 1s}}}\n"
        "    decode: {slo: {tpot: {p90: 50ms}}, capacity: 900}\n"
        "source: {kind: exporter, url: http://127.0.0.1:9400}\n"
        f"capacity_from: {{file: {tmp_path / 'sweep.json'}, prompt_tokens: 3000}}\n"
    )
    assert capacities(load(config)) == (12000.0, 900.0)
    assert capacities(merge(options(), config)) == (12000.0, 900.0)
    # a flag overrides the file's prompt length
    assert capacities(merge(options(sweep_isl=1000), config)) == (4000.0, 900.0)


def test_no_capacity_from_changes_nothing() -> None:
    built = merge(options(target=TARGETS, slo=SLOS), None)
    assert with_capacity(built) is built and capacities(built) == (None, None)


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        (None, "cannot read it"),
        ("{not json", "is not JSON"),
        ('{"tool": "llmbench-sweep", "points": [], "x": NaN}', "NaN is not valid JSON"),
        ([1, 2], "is not an llmbench sweep result"),
        ({"version": 1, "tool": "llmbench-run"}, "is not an llmbench sweep result"),
        ({"tool": "llmbench-sweep", "points": {}}, "its points are not a list"),
    ],
)
def test_a_bad_sweep_file_says_what_is_wrong(tmp_path: Path, doc: Any, says: str) -> None:
    path = tmp_path / "absent.json" if doc is None else written(tmp_path, doc)
    with pytest.raises(ConfigError, match=says) as caught:
        merge(options(target=TARGETS, slo=SLOS, capacity_from=path), None)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    ("file", "flags", "says"),
    [
        ("capacity_from: {file: s.json, isl: 3}\n", {}, "isl"),
        ("capacity_from: {file: s.json, prompt_tokens: 0}\n", {}, "prompt_tokens"),
        ("capacity_from: {file: s.json, prompt_tokens: .inf}\n", {}, "prompt_tokens"),
        ("", {"sweep_isl": 2500}, "capacity_from.file"),
    ],
)
def test_a_bad_capacity_from_section_says_what_to_fix(
    tmp_path: Path, file: str, flags: dict[str, Any], says: str
) -> None:
    config = tmp_path / "autoscaler.yaml"
    config.write_text(file or "{}\n")
    with pytest.raises(ConfigError, match=says):
        merge(options(target=TARGETS, slo=SLOS, **flags), config)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
POINT = st.dictionaries(
    st.sampled_from(
        ["request_throughput", "output_throughput", "ttft_p99", "tpot_p99", "error", "saturated"]
    ),
    JSON,
)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    doc=JSON
    | st.fixed_dictionaries(
        {"tool": st.just("llmbench-sweep"), "points": st.lists(POINT | JSON, max_size=5)}
    )
)
def test_any_json_seeds_or_says_why(tmp_path: Path, doc: Any) -> None:
    path = written(tmp_path, doc)
    flags = options(target=TARGETS, slo=SLOS, capacity_from=path, sweep_isl=100)
    try:
        built = merge(flags, None)
    except ConfigError as exc:
        refused = str(exc)
    else:
        refused = ""
    if refused:
        assert str(path) in refused
        return
    for capacity in capacities(built):
        assert capacity is None or capacity > 0


def test_the_command_refuses_a_bad_sweep_in_one_line(tmp_path: Path) -> None:
    path = written(tmp_path, {"tool": "something-else"})
    args = ["--capacity-from", str(path), "--sweep-isl", "2500", "--slo", SLOS[0]]
    args += ["--target", TARGETS[0]]
    result = subprocess.run(
        [sys.executable, "-m", "llmobs", "autoscaler", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and "is not an llmbench sweep result" in errors[0], result.stderr
