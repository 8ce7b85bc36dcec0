"""llmobs.rules: the committed rule files are what the generator writes, and its command
line writes and checks them. promtool runs on the committed files in
tests/unit/exporter/test_manifests.py."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from llmobs import rules

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("path", sorted(rules.FILES))
def test_the_committed_file_is_current(path: str) -> None:
    committed = (ROOT / path).read_text(encoding="utf-8")
    assert committed == rules.FILES[path](), (
        f"{path} is stale: it is generated from llmobs/promql; run {rules.REGENERATE} "
        "and commit the result"
    )


def test_both_files_say_how_to_regenerate_them() -> None:
    for generate in rules.FILES.values():
        assert "scripts/generate-assets" in generate().splitlines()[1]


def test_both_files_hold_the_same_groups() -> None:
    plain = yaml.safe_load(rules.rules_file())
    operator = yaml.safe_load(rules.prometheus_rule_file())
    assert operator["spec"]["groups"] == plain["groups"] == rules.documents(rules.groups())


def test_record_names() -> None:
    assert rules.quantile_record("ttft_seconds", 0.99) == "llmobs:role_ttft_seconds:p99"
    assert rules.quantile_record("itl_seconds", 0.999) == "llmobs:role_itl_seconds:p99_9"
    assert rules.rate_record("requests_total") == "llmobs:role_requests:rate1m"
    recorded = [r.record for g in rules.groups() for r in g.rules if isinstance(r, rules.Recording)]
    assert len(recorded) == len(set(recorded)) == 13


def copy_repo(tmp_path: Path) -> Path:
    for path in rules.FILES:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / path, tmp_path / path)
    return tmp_path


def test_check_finds_a_stale_file_and_write_fixes_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_repo(tmp_path)
    assert rules.main(["--check", "--root", str(root)]) == 0
    stale = root / rules.RULES_PATH
    stale.write_text(stale.read_text().replace("[1m]", "[2m]", 1))
    assert rules.main(["--check", "--root", str(root)]) == 1
    assert f"stale: {rules.RULES_PATH}; regenerate with" in capsys.readouterr().err
    assert rules.main(["--write", "--root", str(root)]) == 0
    assert capsys.readouterr().out == f"wrote {rules.RULES_PATH}\n"
    assert rules.main(["--check", "--root", str(root)]) == 0


def test_a_root_without_exporters_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rules.main(["--write", "--root", str(tmp_path)]) == 2
    assert "has no exporters/" in capsys.readouterr().err


def test_an_unwritable_file_is_a_runtime_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = copy_repo(tmp_path)
    target = root / rules.PROMETHEUS_RULE_PATH
    target.unlink()
    target.mkdir()  # a directory where the file should be
    assert rules.main(["--write", "--root", str(root)]) == 1
    assert f"cannot write {rules.PROMETHEUS_RULE_PATH}" in capsys.readouterr().err
