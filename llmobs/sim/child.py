"""The emulator in a child process: what ``llmbench`` runs when given no server.

A load generator and an emulator sharing one process share its interpreter (the GIL) and
its CPU time, so the client saw itself saturated at the README's first run. Here the
emulator is ``llmobs sim`` in a process of its own: this process binds the listening socket
(port 0, so the port is picked at run time and there is no race for it) and hands it over,
waits until the emulator answers ``/health``, and on ``close()`` stops it (SIGTERM, then
SIGKILL) and reaps it. The child also exits when its stdin closes, so it does not outlive
this process even if this one is killed outright.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Self

from llmobs import strictjson
from llmobs.errors import LlmobsError
from llmobs.sim.config import EngineSettings, Resolved
from llmobs.sim.serve import bind

START_TIMEOUT_S = 60.0  # imports and the first instances; seconds on a loaded 2-core machine
STOP_TIMEOUT_S = 10.0
POLL_S = 0.05


class EmulatorFailed(LlmobsError):
    """The emulator's process exited or never answered; the message has its last words."""

    reason = "emulator_failed"


class ChildSim:
    """``llmobs sim`` in a child process: one instance, or ``roles`` behind the proxy.

    Raises:
        EmulatorFailed: the child exited, or did not answer within ``START_TIMEOUT_S``.
    """

    def __init__(
        self,
        settings: EngineSettings | None = None,
        *,
        host: str = "127.0.0.1",
        roles: dict[str, int] | None = None,
        cold_start_s: float = 0.0,
    ) -> None:
        settings = settings or EngineSettings()
        self.resolved = Resolved(settings)
        self._dir = tempfile.TemporaryDirectory(prefix="llmobs-sim-")
        folder = Path(self._dir.name)
        config = folder / "settings.yaml"  # YAML reads JSON: the settings as given
        config.write_text(strictjson.dumps(settings.model_dump(exclude_unset=True)) + "\n")
        self._log = folder / "sim.log"
        sock = bind(host, 0)
        self.port = int(sock.getsockname()[1])
        self.url = f"http://{host}:{self.port}"
        command = [sys.executable, "-m", "llmobs", "sim", "--config", str(config)]
        command += ["--inherit-fd", str(sock.fileno()), "--cold-start-s", f"{cold_start_s:g}"]
        if roles is not None:
            command += _layout(roles)
        try:
            with self._log.open("wb") as log:
                self.proc = subprocess.Popen(
                    command,
                    stdin=subprocess.PIPE,  # its lifeline: closed when this process ends
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    pass_fds=(sock.fileno(),),
                    start_new_session=True,  # a terminal's Ctrl-C is ours to handle
                )
        finally:
            sock.close()  # the child holds it now
        self._listing: list[dict[str, Any]] = []
        try:
            self._wait_ready(roles is not None)
        except BaseException:
            self.close()
            raise

    def _wait_ready(self, cluster: bool) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._answers():
            if self.proc.poll() is not None:
                raise EmulatorFailed(
                    f"the emulator exited with status {self.proc.returncode}: {self.last_words()}"
                )
            if time.monotonic() > deadline:
                raise EmulatorFailed(
                    f"the emulator did not answer {self.url}/health in {START_TIMEOUT_S:g} s: "
                    f"{self.last_words()}"
                )
            time.sleep(POLL_S)
        if cluster:
            listed = _get_json(f"{self.url}/sim/instances")
            if isinstance(listed, dict) and isinstance(listed.get("instances"), list):
                self._listing = [m for m in listed["instances"] if isinstance(m, dict)]

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.HTTPError):
            return False

    def metrics_urls(self) -> list[str]:
        """Every instance's /metrics (the proxy has none of its own)."""
        if not self._listing:
            return [f"{self.url}/metrics"]
        return [str(m["metrics_url"]) for m in self._listing if m.get("metrics_url")]

    def close(self) -> None:
        """Stop the child and reap it; safe to call twice."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self._dir.cleanup()

    def last_words(self) -> str:
        """The end of the child's output, for an error message."""
        try:
            text = self._log.read_text(errors="replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip()]
        return lines[-1] if lines else ""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _layout(roles: dict[str, int]) -> list[str]:
    if set(roles) == {"both"}:
        return ["--replicas", str(roles["both"])]
    return ["--pd", f"{roles.get('prefill', 0)}P{roles.get('decode', 0)}D"]


def _get_json(url: str) -> object:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return strictjson.loads(response.read())
    except (OSError, ValueError):
        return None
