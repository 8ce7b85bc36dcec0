"""What a new user types wrong, across the commands: each is a message and exit status 2,
never a traceback (found by trying the commands as a new user would)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import interrupt_while_importing, run_cli
from tests.servers import free_port

BENCH = "llmobs.cli.bench"


def config(tmp_path: Path, text: str | bytes) -> str:
    path = tmp_path / "config.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return str(path)


def broken_tokenizer(tmp_path: Path) -> str:
    (tmp_path / "tokenizer.json").write_text("{not json")
    return str(tmp_path)


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (lambda d: ["scrape", "http://[::1"], "is not a metrics URL: Invalid IPv6 URL"),
        (lambda d: ["sim", "--tokenizer", broken_tokenizer(d)], "cannot read it"),
        (lambda d: ["sim", "--tokenizer", str(d)], "has no tokenizer.json"),
        (lambda d: ["sim", "--config", str(d)], "is a directory"),
        (lambda d: ["sim", "--config", config(d, b"model: \xff\n")], "is not valid YAML: byte 7"),
        (
            lambda d: ["exporter", "--config", config(d, "targets: 5\n"), "--target", "a:1"],
            "targets: Input should be a valid list",
        ),
        (
            lambda d: ["exporter", "--config", config(d, "kubernetes: on\n"), "--namespace", "x"],
            "kubernetes: Input should be a valid dictionary",
        ),
        (
            lambda d: ["exporter", "--config", config(d, "interval_s: 5\ninterval_s: 6\n")],
            "the key 'interval_s' is given twice",
        ),
        (lambda d: ["exporter", "--config", str(d)], "cannot read config"),
        (lambda d: ["scrape", "127.0.0.1:9", "--window", "inf"], "'inf' is not a finite number"),
        (lambda d: ["scrape", "127.0.0.1:9", "--window", "nan"], "'nan' is not a finite number"),
        (lambda d: ["scrape", "127.0.0.1:9", "--timeout", "inf"], "'inf' is not a finite number"),
        (lambda d: ["sim", "--cold-start-s", "nan"], "'nan' is not a finite number"),
        (lambda d: ["exporter", "--target", "a:1", "--jitter", "inf"], "not a finite number"),
    ],
    ids=[
        "scrape IPv6",
        "sim tokenizer",
        "sim no tokenizer",
        "sim config dir",
        "sim binary config",
        "exporter targets",
        "exporter kubernetes",
        "exporter repeated key",
        "exporter config dir",
        "scrape window inf",
        "scrape window nan",
        "scrape timeout inf",
        "sim cold start nan",
        "exporter jitter inf",
    ],
)
def test_llmobs(tmp_path: Path, command: Callable[[Path], list[str]], message: str) -> None:
    args = command(tmp_path)
    if args[0] in ("sim", "exporter"):
        args += ["--port", str(free_port())]
    done = run_cli(*args, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base-url", "ftp://x"], "--base-url 'ftp://x': give http://HOST:PORT"),
        (["--base-url", "vllm:8000"], "--base-url 'vllm:8000': give http://HOST:PORT"),
        (["--base-url", "http://[::1"], "Invalid IPv6 URL"),
        (["--base-url", "http://h:99999"], "the port must be a number from 1 to 65535"),
        (["--base-url", "http://u:pw@h:99999"], "u:<secret>@h:99999"),
    ],
)
def test_llmbench_base_url(args: list[str], message: str) -> None:
    done = run_cli("run", "-n", "1", *args, module=BENCH, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("isl: 5\nisl: 6\n", "the key 'isl' is given twice"),
        ("isl: [5\n", "is not valid YAML: line 2, column 1"),
        ("- isl\n", "must be a mapping of settings"),
        ("targets: 5\n", "'targets' is not a setting"),
    ],
)
def test_llmbench_scenario(tmp_path: Path, text: str, message: str) -> None:
    done = run_cli("run", "--config", config(tmp_path, text), module=BENCH, timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and "Traceback" not in done.stderr


def test_ctrl_c_while_llmobs_imports_exits_130_without_a_traceback() -> None:
    """The llmobs console script's wrapper (llmbench's has its own test)."""
    code, stderr = interrupt_while_importing("llmobs", "scrape", "127.0.0.1:9")
    assert code == 130, stderr
    assert "Traceback" not in stderr
