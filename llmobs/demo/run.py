"""``llmobs demo`` end to end: start the stack, drive the load, watch, report, stop.

The thin shell around the pure pieces: ``configs`` (what each child reads), ``load`` (the
trace), ``state`` (documents to samples), ``view`` (the terminal), ``report`` and ``plots``.
Order: the emulator, the exporter following its instances, the autoscaler acting on its
scale endpoint, Prometheus when the binary is installed, then ``llmbench run`` replaying the
trace; the children are read every second until llmbench ends. Whatever happens (a child
that fails, Ctrl-C, SIGTERM), every child is stopped and what was collected is written.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from llmobs import exitcodes, strictjson
from llmobs.demo import configs, load, state, view
from llmobs.demo.stack import Child, Stack, StackError, llmbench_argv, llmobs_argv
from llmobs.errors import LlmobsError

START_TIMEOUT_S = 120.0  # a Python child imports aiohttp and friends: slow on a busy machine
POLL_S = 1.0
PLAIN_EVERY_S = 5.0
HTTP_TIMEOUT_S = 2.0
PROMETHEUS_READY = r"Server is ready to receive web requests"


@dataclass
class Run:
    """What one demo run collected so far."""

    settings: configs.Settings
    folder: Path
    shape: load.Shape
    started: float = field(default_factory=time.time)
    bench_started: float | None = None
    sim_url: str | None = None
    exporter_url: str | None = None
    autoscaler_url: str | None = None
    prometheus_url: str | None = None
    samples: list[state.Sample] = field(default_factory=list)
    decided: list[state.Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def elapsed(self) -> float:
        return 0.0 if self.bench_started is None else time.time() - self.bench_started


def get(url: str) -> Any:
    """A JSON document from ``url``, or None when it cannot be had."""
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            return strictjson.loads(response.read())
    except (OSError, ValueError):
        return None


def free_port() -> int:
    """A port that was free a moment ago (Prometheus takes a number, not a socket)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _write_yaml(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def start_stack(stack: Stack, run: Run, say: TextIO) -> Child:
    """Start every child but llmbench's; return llmbench. Raises StackError."""
    settings, folder = run.settings, run.folder
    found = stack.start(
        "emulator",
        llmobs_argv(*configs.sim_args(settings)),
        r"proxy \(OpenAI API\) on (http://\S+);",
        START_TIMEOUT_S,
    )
    run.sim_url = found.group(1)
    say.write(f"emulator (1P1D, {settings.model} on {settings.hardware}): {run.sim_url}\n")
    path = _write_yaml(folder / "exporter.yaml", configs.exporter(settings, run.sim_url))
    found = stack.start(
        "exporter",
        llmobs_argv("exporter", "--config", str(path)),
        r"llmobs exporter on (http://[\d.:]+)/metrics",
        START_TIMEOUT_S,
    )
    run.exporter_url = found.group(1)
    say.write(f"exporter: {run.exporter_url}/metrics\n")
    document = configs.autoscaler(settings, run.exporter_url, run.sim_url)
    path = _write_yaml(folder / "autoscaler.yaml", document)
    found = stack.start(
        "autoscaler",
        llmobs_argv("autoscaler", "--config", str(path)),
        r"llmobs autoscaler on (http://[\d.:]+) ",
        START_TIMEOUT_S,
    )
    run.autoscaler_url = found.group(1)
    say.write(f"autoscaler: {run.autoscaler_url}/v1/decisions\n")
    start_prometheus(stack, run, say)
    trace = folder / "trace.jsonl"
    trace.write_text(load.jsonl(load.trace(run.shape, settings.seed)), encoding="utf-8")
    slo = f"ttft={settings.ttft_p90_s * 1000:g}ms,tpot={settings.tpot_p90_s * 1000:g}ms"
    argv = llmbench_argv(
        "run",
        "--base-url",
        run.sim_url,
        "--dataset",
        "trace",
        str(trace),
        "--slo",
        slo,
        "--out",
        str(folder / "bench"),
        "--plot",
        str(folder / "plots"),
    )
    bench = stack.spawn("llmbench", argv)
    run.bench_started = time.time()
    say.write(
        f"llmbench: {len(load.arrivals(run.shape, settings.seed))} requests over "
        f"{settings.duration_s:g}s, rising and falling\n\n"
    )
    return bench


def start_prometheus(stack: Stack, run: Run, say: TextIO) -> None:
    """A real Prometheus when the binary is installed; a note when it is not."""
    binary = shutil.which("prometheus")
    if binary is None:
        run.notes.append("Prometheus: not installed (scripts/setup installs it): no board previews")
        return
    from llmobs.rules import rules_file

    assert run.sim_url is not None
    assert run.exporter_url is not None
    assert run.autoscaler_url is not None
    rules = run.folder / "rules.yml"
    rules.write_text(rules_file(), encoding="utf-8")
    document = configs.prometheus(
        run.settings, run.sim_url, run.exporter_url, run.autoscaler_url, rules.name
    )
    path = _write_yaml(run.folder / "prometheus.yml", document)
    port = free_port()
    stack.start(
        "prometheus",
        [
            binary,
            f"--config.file={path}",
            f"--storage.tsdb.path={run.folder / 'prometheus-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        PROMETHEUS_READY,
        START_TIMEOUT_S,
    )
    run.prometheus_url = f"http://127.0.0.1:{port}"
    say.write(f"prometheus: {run.prometheus_url}\n")


def poll(run: Run) -> None:
    """Read the children once: a new sample, and any new decisions."""
    assert run.sim_url is not None
    assert run.exporter_url is not None
    assert run.autoscaler_url is not None
    decided = state.decisions(get(f"{run.autoscaler_url}/v1/decisions"))
    run.decided = state.merged(run.decided, decided)
    scale = f"{run.sim_url}/apis/apps/v1/namespaces/default/deployments"
    scales = {role: get(f"{scale}/{role}/scale") for role in configs.ROLES}
    roles_doc = get(f"{run.exporter_url}/v1/roles")
    run.samples.append(state.sample(run.elapsed(), configs.ROLES, roles_doc, run.decided, scales))


def current(run: Run) -> state.State:
    t = run.elapsed()
    return state.State(
        elapsed_s=t,
        duration_s=run.settings.duration_s,
        target_rps=load.rate_at(run.shape, t),
        phase=load.phase(run.shape, t),
        slo=run.settings.slo(),
        sample=run.samples[-1] if run.samples else None,
        decisions=tuple(run.decided),
        folder=str(run.folder),
        prometheus_url=run.prometheus_url,
        notes=tuple(run.notes),
    )


def watch(stack: Stack, bench: Child, run: Run, say: TextIO, tty: bool) -> None:
    """Poll and show until llmbench ends. Raises StackError when another child dies."""
    drawn, shown = 0, 0.0
    while True:
        poll(run)
        now = current(run)
        if tty:
            size = shutil.get_terminal_size()
            lines = view.screen(now, size.columns)[: max(1, size.lines - 1)]  # none scrolls off
            say.write(view.redraw(lines, drawn))
            drawn = len(lines)
        elif now.elapsed_s - shown >= PLAIN_EVERY_S or not run.samples[:-1]:
            say.write(view.line(now) + "\n")
            shown = now.elapsed_s
        say.flush()
        for child in stack.children:
            if child is not bench and child.proc.poll() is not None:
                raise StackError(
                    f"{child.name} exited with status {child.proc.returncode} during the run "
                    f"(log: {child.log})"
                )
        with contextlib.suppress(subprocess.TimeoutExpired):
            bench.proc.wait(timeout=POLL_S)  # the pause between readings, or llmbench's end
        if bench.proc.poll() is not None:
            poll(run)
            return


@contextlib.contextmanager
def uninterrupted() -> Iterator[None]:
    """Ctrl-C and SIGTERM ignored while the children are stopped and the report written: a
    second Ctrl-C must not leave a child running or a report half written."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def demo(settings: configs.Settings, folder: Path, say: TextIO = sys.stdout) -> int:
    """Run the demo into ``folder``; the exit status (0, 1 a child failed, 130 interrupted)."""
    from llmobs.demo.finish import finish

    folder.mkdir(parents=True, exist_ok=True)
    run = Run(settings, folder, load.demo_shape(settings.duration_s))
    say.write(f"llmobs demo: run folder {folder}\n")
    outcome, error, code = "finished", None, exitcodes.OK
    with Stack(folder) as stack:  # whatever escapes below, the children are stopped
        try:
            bench = start_stack(stack, run, say)
            watch(stack, bench, run, say, say.isatty())
        except KeyboardInterrupt:
            outcome, code = "interrupted", exitcodes.INTERRUPTED
        except (StackError, OSError) as exc:
            outcome, error, code = "failed", str(exc), exitcodes.FAILURE
        with uninterrupted():
            try:
                return finish(stack, run, outcome, error, code, say)
            except (LlmobsError, OSError) as exc:
                stack.stop()
                say.write(f"error: {exc}\n")
                return exitcodes.FAILURE
