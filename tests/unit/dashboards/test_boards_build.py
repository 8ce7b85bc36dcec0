"""``llmobs dashboards build`` through the real command line: it writes every board, its
``--check`` names the stale files and exits 1 (0 when all are current), and the JSON
committed under dashboards/ is what the code builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from llmobs.dashboards.build import BOARDS, texts

ROOT = Path(__file__).resolve().parents[3]


def llmobs(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmobs", "dashboards", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_the_committed_boards_are_current() -> None:
    for name, text in texts().items():
        committed = (ROOT / "dashboards" / name).read_text(encoding="utf-8")
        assert committed == text, (
            f"dashboards/{name} is stale: run `llmobs dashboards build` and commit the result"
        )


def test_build_then_check(tmp_path: Path) -> None:
    out = tmp_path / "boards"
    missing = llmobs("build", "--out", str(out), "--check")
    assert missing.returncode == 1
    assert all(name in missing.stderr for name in BOARDS)

    built = llmobs("build", "--out", str(out))
    assert built.returncode == 0, built.stderr
    assert built.stdout.splitlines() == [f"wrote {out / name}" for name in BOARDS]
    assert sorted(p.name for p in out.iterdir()) == sorted(BOARDS)

    current = llmobs("build", "--out", str(out), "--check")
    assert (current.returncode, current.stderr) == (0, "")
    assert current.stdout == f"{len(BOARDS)} boards in {out} are current\n"

    again = llmobs("build", "--out", str(out))
    assert again.stdout.splitlines() == [f"current {out / name}" for name in BOARDS]


def test_check_names_each_stale_file_and_writes_nothing(tmp_path: Path) -> None:
    assert llmobs("build", "--out", str(tmp_path)).returncode == 0
    name = sorted(BOARDS)[0]
    edited = (tmp_path / name).read_text().replace('"schemaVersion": 39', '"schemaVersion": 38')
    (tmp_path / name).write_text(edited)
    (tmp_path / "llmobs-removed.json").write_text("{}\n")
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")

    stale = llmobs("build", "--out", str(tmp_path), "--check")
    assert stale.returncode == 1
    assert stale.stdout == ""
    (line,) = stale.stderr.splitlines()
    assert f"{name}, llmobs-removed.json;" in line and "llmobs dashboards build" in line
    assert (tmp_path / name).read_text() == edited


def test_the_default_folder_is_dashboards_under_the_working_directory(tmp_path: Path) -> None:
    result = llmobs("build", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "dashboards").iterdir()) == sorted(BOARDS)


def test_an_unwritable_folder_is_one_line_and_exit_1(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = llmobs("build", "--out", str(blocker / "boards"))
    assert result.returncode == 1
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: cannot write the boards to {blocker / 'boards'}")
