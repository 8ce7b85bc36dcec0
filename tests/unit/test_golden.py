"""The golden helper: a match passes, a change fails, a regeneration fails until run again."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.golden import UPDATE, check_golden


def test_the_same_text_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UPDATE, raising=False)
    (tmp_path / "a.txt").write_text("one\n")
    check_golden(tmp_path / "a.txt", "one\n")


def test_a_change_fails_and_keeps_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UPDATE, raising=False)
    (tmp_path / "a.txt").write_text("one\n")
    with pytest.raises(AssertionError, match=r"a\.txt changed"):
        check_golden(tmp_path / "a.txt", "two\n")
    assert (tmp_path / "a.txt").read_text() == "one\n"


def test_a_missing_golden_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(UPDATE, raising=False)
    with pytest.raises(pytest.fail.Exception, match="missing"):
        check_golden(tmp_path / "new.txt", "one\n")
    assert not (tmp_path / "new.txt").exists()


def test_regenerating_writes_and_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(UPDATE, "1")
    path = tmp_path / "sub" / "a.txt"
    with pytest.raises(pytest.fail.Exception, match=r"regenerated .*review the diff, commit it"):
        check_golden(path, "two\n")
    assert path.read_text() == "two\n"
    check_golden(path, "two\n")  # the run after the regeneration passes
