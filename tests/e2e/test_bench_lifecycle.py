"""``llmbench run`` from start to end as a subprocess, against servers that misbehave on
127.0.0.1: secrets echoed back, connections that hang, signals however the shell started us,
plans too large to hold, a worker killed outright (a disk that refuses writes:
test_bench_disk)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from tests import strictjson
from tests.e2e.benchprocess import ENTRY, finished, llmbench, small
from tests.e2e.conftest import REPO, interrupt_while_importing
from tests.fakeopenai import MODEL, FakeOpenAI
from tests.servers import HTTPServer, wait_until

SECRET = "sk-SECRET123"


# -- 2: the API key never leaves, whatever the server echoes --------------------------------
class Echo(HTTPServer):
    """Models and /tokenize answer; every generation echoes the request's headers back: as
    a 401 body, as an error event in a stream, as a malformed event, by turns."""

    def __init__(self) -> None:
        self.count = 0
        super().__init__(
            {
                "/v1/models": self._models,
                "/tokenize": self._echo_404,
                "/v1/completions": self._generate,
            }
        )

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"data": [{"id": MODEL}]})

    async def _echo_404(self, request: web.Request) -> web.StreamResponse:
        return web.Response(status=404, text=f"no such route; you sent {dict(request.headers)}")

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        self.count += 1
        said = request.headers.get("Authorization", "")
        if self.count % 3 == 1:
            body = {"error": {"message": f"invalid key; headers were {dict(request.headers)}"}}
            return web.json_response(body, status=401)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        if self.count % 3 == 2:
            event = '{"error": {"message": "refused ' + said + '", "code": 400}}'
        else:
            event = "{not json, but it says " + said + "}"
        await response.write(f"data: {event}\n\n".encode())
        await response.write_eof()
        return response


def test_the_api_key_is_redacted_from_whatever_the_server_sends_back(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with Echo() as echo:
        base = ("--base-url", echo.url(""), "--api-key", SECRET)
        table = finished(llmbench(*small(*base, "-n", "6", "--out", str(out))))
        json_run = small(*base, "-n", "3", "--out", str(tmp_path / "j"), "--json")
        as_json = finished(llmbench(*json_run))
    code, stdout, stderr = table
    assert code == 1, stderr
    doc = strictjson.load(out / "result.json")
    assert doc["summary"]["errors"] == {"http_401": 2, "stream_error": 2, "malformed_sse": 2}
    samples = " ".join(doc["summary"]["error_samples"])
    assert "<secret>" in samples and "Bearer" not in samples  # echoed, and redacted
    assert "<secret>" in stdout  # the table's first errors
    records = strictjson.load_lines(out / "records.jsonl")
    assert all("<secret>" in r["error"] for r in records)
    assert strictjson.loads(as_json[1])["summary"]["failed"] == 3
    written = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET not in stdout + stderr + as_json[1] + as_json[2] + written


# -- 6: SIGTERM and SIGINT stop a run however it was started, with hanging connections -------
class Misbehaving(HTTPServer):
    """A model list, then generations answered as ``how`` says: never (``hang``), a first
    chunk and then nothing (``stall``), an HTML page or plain JSON with 200 (``html``,
    ``json``), a redirect to itself (``redirect``). ``arrived`` counts the generations that
    reached it (a stalled one once its chunk is sent); ``seen`` is set at the first."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.arrived = 0
        self.seen = threading.Event()
        super().__init__({"/v1/models": self._models, "/v1/completions": self._generate})

    async def _models(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({"data": [{"id": MODEL}]})

    async def _generate(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        if self.how == "html":
            return web.Response(text="<html><body>Sign in</body></html>", content_type="text/html")
        if self.how == "json":
            return web.json_response({"choices": [{"text": "not streamed"}]})
        if self.how == "redirect":
            raise web.HTTPTemporaryRedirect(self.url("/v1/completions"))
        if self.how == "stall":
            response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await response.prepare(request)
            await response.write(b'data: {"choices": [{"index": 0, "text": " a"}]}\n\n')
        self.arrived += 1
        self.seen.set()
        await asyncio.Event().wait()  # forever: until the server is closed
        raise AssertionError("unreachable")


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as `llmbench run ... &` in a script


@pytest.fixture(params=["hang", "stall"])
def hanging(request: pytest.FixtureRequest) -> Iterator[Misbehaving]:
    with Misbehaving(request.param) as server:
        yield server


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_stops_a_run_started_with_sigint_ignored(
    hanging: Misbehaving, tmp_path: Path, sig: signal.Signals, workers: int
) -> None:
    """From a script (SIGINT ignored, and passed on to spawned ``--workers``), every request
    hanging: the signal ends the run as an interrupt, and no worker is left behind."""
    out = tmp_path / "run"
    args = small("--base-url", hanging.url(""), "-n", "4", "--request-rate", "inf",
                 "--workers", str(workers), "--out", str(out))  # fmt: skip
    proc = llmbench(*args, preexec=_ignore_sigint)
    try:
        wait_until(lambda: hanging.arrived == 4, 60, "every request to reach the server")
        spawned = _worker_pids(proc.pid) if workers > 1 else []
        proc.send_signal(sig)
        code, stdout, stderr = finished(proc, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert code == 130, stderr
    assert "INTERRUPTED" in stdout
    doc = strictjson.load(out / "result.json")
    assert doc["state"] == "interrupted" and doc["summary"]["cancelled"] == 4
    assert len(strictjson.load_lines(out / "records.jsonl")) == 4
    assert [pid for pid in spawned if _running(pid)] == []


@pytest.mark.parametrize("ctrl_c", [False, True], ids=["sigterm", "ctrl-c"])
def test_a_signal_while_the_workers_start_is_an_interrupt(tmp_path: Path, ctrl_c: bool) -> None:
    """The signal lands as the first worker process appears, while it still starts Python:
    SIGTERM to llmbench, or a terminal's Ctrl-C (SIGINT to the whole process group, the
    workers included). Nothing was sent: an interrupt, no worker's traceback."""
    out = tmp_path / "run"
    with Misbehaving("hang") as server:
        args = small("--base-url", server.url(""), "-n", "4", "--request-rate", "inf",
                     "--workers", "2", "--out", str(out))  # fmt: skip
        proc = subprocess.Popen(
            [sys.executable, "-m", ENTRY, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            start_new_session=True,  # its own process group, as a terminal gives a job
        )
        try:
            wait_until(lambda: _workers_started(proc.pid) > 0, 60, "a worker process")
            if ctrl_c:
                os.killpg(proc.pid, signal.SIGINT)
            else:
                proc.send_signal(signal.SIGTERM)
            code, stdout, stderr = finished(proc, timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 130, stderr
    assert "Fatal Python error" not in stderr and "KeyboardInterrupt" not in stderr
    assert strictjson.load(out / "result.json")["state"] == "interrupted"
    assert "INTERRUPTED" in stdout


def test_ctrl_c_while_the_command_imports_exits_130_without_a_traceback() -> None:
    with socket.socket() as silent:  # whenever the signal lands, the run has not ended
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        code, stderr = interrupt_while_importing(ENTRY, "run", "--base-url", url)
    assert code == 130
    assert "interrupted before the first request" in stderr and "Traceback" not in stderr


# -- 9: a plan too large to hold is refused before anything is sent --------------------------
@pytest.mark.parametrize(
    ("rate", "duration", "shown"),
    [("1e6", "60", "about 60,000,000 requests"), ("1e308", "2", "more than 10^300 requests")],
)
def test_a_plan_too_large_is_refused_up_front(rate: str, duration: str, shown: str) -> None:
    with FakeOpenAI() as fake:
        proc = llmbench("run", "--base-url", fake.base_url, "--request-rate", rate,
                        "--duration", duration, "--out", "/nonexistent/never-written")  # fmt: skip
        code, _, stderr = finished(proc, timeout=60)
        assert fake.bodies == []
    assert code == 2, stderr
    assert shown in stderr and "at most 1,000,000" in stderr


# -- 15: a worker killed outright is a failure, named ----------------------------------------
def test_a_killed_worker_fails_the_run_and_is_named(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with FakeOpenAI(mode="slow", slow_s=0.05) as fake:
        proc = llmbench(*small("--base-url", fake.base_url, "-n", "200", "--request-rate", "20",
                               "--workers", "2", "--out", str(out)))  # fmt: skip
        try:
            wait_until(lambda: _records(out) >= 4, 60, "the first records")
            victim = _worker_pids(proc.pid)[1]
            os.kill(victim, signal.SIGKILL)
            code, stdout, stderr = finished(proc, timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 1, stderr
    doc = strictjson.load(out / "result.json")
    assert doc["state"] == "failed"
    assert f"(pid {victim}) was killed by SIGKILL" in doc["error"]
    assert f"(pid {victim}) was killed by SIGKILL" in stderr
    assert "INTERRUPTED" not in stdout


def _records(out: Path) -> int:
    path = out / "records.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def _worker_pids(parent: int) -> list[int]:
    """The two load-generator workers, in the order they were started (their pids rise)."""
    workers = _spawned(parent)
    assert len(workers) == 2, workers
    return workers


def _workers_started(parent: int) -> int:
    try:
        return len(_spawned(parent))
    except FileNotFoundError:  # one of them is gone already
        return 0


def _spawned(parent: int) -> list[int]:
    """The parent's children running multiprocessing's spawn entry point (not its resource
    tracker)."""
    children = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
    return sorted(
        int(pid)
        for pid in children
        if b"multiprocessing" in Path(f"/proc/{pid}/cmdline").read_bytes()
        and b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    )


def _running(pid: int) -> bool:
    """The process exists and is not a zombie (one its new parent has not reaped yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# -- 16: reasons that name the cause ---------------------------------------------------------
@pytest.mark.parametrize(
    ("how", "extra", "kind", "reason"),
    [
        ("html", (), "not_a_stream", "HTTP 200 with Content-Type text/html; charset=utf-8, not"),
        ("json", (), "not_a_stream", "Content-Type application/json; charset=utf-8, not an event"),
        ("redirect", (), "redirect_loop", "too many redirects: {url} was redirected 10 times"),
        ("hang", ("--timeout", "0.5"), "timeout", "timed out after 0.5s: no complete answer from"),
    ],
)
def test_a_failed_request_names_its_cause(
    tmp_path: Path, how: str, extra: tuple[str, ...], kind: str, reason: str
) -> None:
    out = tmp_path / "run"
    with Misbehaving(how) as odd:
        args = small("--base-url", odd.url(""), "-n", "2", "--out", str(out), *extra)
        code, stdout, stderr = finished(llmbench(*args))
        url = odd.url("/v1/completions")
    assert code == 1, stderr
    s = strictjson.load(out / "result.json")["summary"]
    assert s["errors"] == {kind: 2}
    assert reason.format(url=url) in s["error_samples"][0]
    assert reason.format(url=url)[:40] in stdout


def test_a_server_that_accepts_and_never_answers_is_named_as_a_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:  # accepts (the kernel's backlog), never reads or answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        code, _, stderr = finished(llmbench("run", "--base-url", url, "--out", str(tmp_path)))
    assert code == 1
    assert f"cannot reach {url}: timed out after 10.0s: no complete answer from {url}" in stderr
