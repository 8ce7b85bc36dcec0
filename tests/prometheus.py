"""A real Prometheus (Debian's 2.42 package) for tests, on a free 127.0.0.1 port.

Started from a temp config and data directory, never as a system service; ready when
``/-/ready`` answers. A missing binary fails the test with the fix (``.ci/run`` installs it);
it is never a silent skip.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from tests.servers import free_port, wait_until


def binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"'{name}' is not installed: run 'apt-get install prometheus' (.ci/run does)")
    return path


class Prometheus:
    def __init__(
        self, root: Path, config: str = "global: {}\n", data_dir: Path | None = None
    ) -> None:
        self.root = root
        self.data_dir = data_dir or root / "data"
        (root / "prometheus.yml").write_text(config)
        self.log = root / "prometheus.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_file: BinaryIO | None = None
        self.url = ""

    def start(self, timeout: float = 60.0) -> Prometheus:
        for _attempt in range(2):  # the port can be taken between free_port() and bind
            port = free_port()
            self.url = f"http://127.0.0.1:{port}"
            if self.log_file is None:
                self.log_file = self.log.open("ab")
            self.proc = subprocess.Popen(
                [
                    binary("prometheus"),
                    f"--config.file={self.root / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.data_dir}",
                    "--storage.tsdb.retention.time=100y",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--web.enable-lifecycle",
                ],
                stdout=self.log_file,
                stderr=subprocess.STDOUT,
            )
            wait_until(
                lambda: self._ready() or self.proc is None or self.proc.poll() is not None,
                timeout,
                "Prometheus to be ready",
                self.log,
            )
            if self.proc.poll() is None:
                return self
        pytest.fail(f"Prometheus did not start:\n{self.log.read_text()[-3000:]}")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        query = urllib.parse.urlencode(params)
        with urllib.request.urlopen(f"{self.url}/api/v1/{path}?{query}", timeout=10) as resp:
            doc = json.load(resp)
        assert doc["status"] == "success", doc
        return doc["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = self.api("query", query=expr, time=repr(at))
        assert data["resultType"] == "vector", data
        result: list[dict[str, Any]] = data["result"]
        return result

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log_file is not None:
            self.log_file.close()
            self.log_file = None


def backfill(openmetrics: str, root: Path) -> Path:
    """Write ``openmetrics`` (with timestamps, ending in ``# EOF``) into TSDB blocks."""
    source = root / "backfill.om"
    source.write_text(openmetrics)
    data = root / "data"
    subprocess.run(
        [binary("promtool"), "tsdb", "create-blocks-from", "openmetrics", str(source), str(data)],
        check=True,
        capture_output=True,
    )
    return data
