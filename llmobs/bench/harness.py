"""One benchmark run, end to end, and its files: what every ``llmbench`` command stands on.

A run directory holds ``result.json`` (schema in docs/bench.md) and ``records.jsonl`` (one
line per request, written as it finishes). ``result.json`` is written first with
``"state": "running"`` and no summary, then replaced (atomically) when the run ends, however it
ends; when the OS refuses that (a full disk), the placeholder is rewritten in place as a short
``failed`` document. A run killed outright leaves the placeholder and the records, from which
``llmobs.bench.saved`` (the one reader of saved runs) rebuilds the summary. With no server
given, the emulator is started as a child process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmobs import strictjson
from llmobs.bench.config import RunConfig
from llmobs.bench.prepare import Prepared, prepare
from llmobs.bench.records import RequestRecord
from llmobs.bench.report import SCHEMA_VERSION
from llmobs.bench.serverside import Series
from llmobs.bench.session import Outcome, RecordSink, config_json, execute, result
from llmobs.config import validate
from llmobs.errors import ConfigError, LlmobsError
from llmobs.interrupts import noted
from llmobs.sim.child import ChildSim
from llmobs.sim.cluster import parse_pd
from llmobs.sim.config import EngineSettings, describe

RESULT_FILE = "result.json"
RECORDS_FILE = "records.jsonl"
MIN_FAILED_SIZE = 512  # bytes; a placeholder is larger (it holds the run's config)
Echo = Callable[[str], None]


@dataclass
class Run:
    doc: dict[str, Any]
    out_dir: Path
    records: list[RequestRecord]
    series: list[Series] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.doc.get("complete"))

    @property
    def failed(self) -> int:
        return int(self.doc["summary"]["failed"])


def default_out_dir(label: str | None = None, root: Path = Path("llmbench-runs")) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    name = f"{stamp}-{label}" if label else stamp
    path = root / name
    n = 1
    while path.exists():
        n += 1
        path = root / f"{name}-{n}"
    return path


@contextlib.contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Ctrl-C is ignored until the block is done: the run is over, its result is being
    written (in the main thread; elsewhere, no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass(frozen=True)
class Emulated:
    base_url: str
    metrics_urls: list[str]
    description: str


@contextlib.contextmanager
def emulator(cfg: RunConfig) -> Iterator[Emulated]:
    """The built-in emulator (one vLLM instance, or ``sim_pd`` behind the PD proxy), run in
    a child process of its own for as long as the block runs: sharing this process would
    take CPU time from the load generator and saturate it. Bad settings raise ConfigError
    before it starts; the child is stopped and reaped however the block ends."""
    settings: dict[str, Any] = {}
    if cfg.sim_model is not None:
        settings["model"] = cfg.sim_model
    if cfg.sim_hardware is not None:
        settings["hardware"] = cfg.sim_hardware
    engine = validate(EngineSettings, settings, "emulator settings")
    roles = parse_pd(cfg.sim_pd) if cfg.sim_pd else None
    sim = ChildSim(engine, roles=roles)
    try:
        layout = f" as {cfg.sim_pd.upper()} behind a PD proxy" if cfg.sim_pd else ""
        yield Emulated(sim.url, sim.metrics_urls(), describe(sim.resolved) + layout)
    finally:
        sim.close()


def benchmark(cfg: RunConfig, base_url: str, api_key: str | None, out_dir: Path, echo: Echo) -> Run:
    """Prepare, run and save one benchmark; an interrupt still saves a partial result.

    Raises TargetError (unreachable, unknown model) before anything is sent."""
    if (out_dir / RECORDS_FILE).exists():
        raise ConfigError(f"{out_dir} already holds a run: give another --out, or remove it")
    prepared = asyncio.run(prepare(cfg, base_url, api_key))
    for note in prepared.notes:
        echo(note)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create {out_dir}: {exc.strerror}") from None
    placeholder = {
        "version": SCHEMA_VERSION,
        "tool": "llmbench",
        "state": "running",
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "complete": False,
        "config": config_json(cfg, prepared.target, base_url),
        "records": RECORDS_FILE,
    }
    outcome: Outcome | None = None
    try:  # from here on, an interrupt at any moment leaves result.json saying what happened
        try:
            strictjson.write(out_dir / RESULT_FILE, placeholder)
        except OSError as exc:
            why = f"cannot write {out_dir / RESULT_FILE}: {exc.strerror or exc}"
            raise LlmobsError(why) from None
        sink = RecordSink(out_dir / RECORDS_FILE)
        timed = sum(1 for s in prepared.specs if not s.warmup)
        echo(
            f"sending {timed} requests to {prepared.target.url} (model "
            f"{prepared.target.model}); records go to {sink.path} as they finish"
        )
        outcome = execute(prepared, cfg, sink)
        with deferred_interrupts():  # a second Ctrl-C must not cut the result in half
            doc = _finish(outcome, cfg, prepared, base_url, out_dir)
    except KeyboardInterrupt:
        noted()
        with deferred_interrupts():
            if outcome is None:  # before the load began: nothing was sent
                _stopped_before_sending(out_dir / RESULT_FILE, placeholder)
                raise
            doc = _finish(outcome, cfg, prepared, base_url, out_dir)  # a Ctrl-C as it ended
    series = outcome.watch.series if outcome.watch is not None else []
    return Run(doc, out_dir, outcome.sink.records, series)


def _finish(
    outcome: Outcome, cfg: RunConfig, prepared: Prepared, base_url: str, out_dir: Path
) -> dict[str, Any]:
    """The run's result document, written; when the OS refuses it (a full disk), the
    placeholder rewritten in place as ``failed``."""
    doc = result(outcome, cfg, prepared, base_url)
    try:
        strictjson.write(out_dir / RESULT_FILE, doc)
    except OSError as exc:
        doc["state"] = "failed"
        why = f"cannot write {out_dir / RESULT_FILE}: {exc.strerror or exc}"
        doc["error"] = "; ".join(filter(None, [doc.get("error"), why]))
        _overwrite_placeholder(out_dir / RESULT_FILE, doc)
    return doc


def _stopped_before_sending(path: Path, placeholder: dict[str, Any]) -> None:
    """An interrupt before the first request: the placeholder says so, not ``running``."""
    with contextlib.suppress(OSError):  # the interrupt is what the user hears about
        strictjson.write(path, {**placeholder, "state": "interrupted"})


def failed_document(doc: dict[str, Any], size: int) -> bytes:
    """The failed run ``doc`` as a short strict-JSON document of at most ``size`` bytes
    (``size`` at least ``MIN_FAILED_SIZE``): its state, its error and what identifies it, and
    its config when that fits; the error is cut (ending in ``...``) when nothing else does.
    ``llmobs.bench.saved`` rebuilds the summary from the records."""
    kept = ("version", "tool", "state", "started_at")
    short: dict[str, Any] = {key: doc[key] for key in kept if key in doc}
    short.update(complete=False, records=doc.get("records", RECORDS_FILE))
    error = str(doc.get("error", ""))
    candidate = _encoded({**short, "config": doc.get("config"), "error": error})
    cut = error
    while len(candidate) > size and len(cut) > 3:
        candidate = _encoded({**short, "error": cut})
        excess = len(candidate) - size
        if excess > 0:  # each character is a byte or more: cutting `excess` is enough
            cut = error[: max(len(cut) - excess - 3, 0)] + "..."
            candidate = _encoded({**short, "error": cut})
    return candidate


def _encoded(value: dict[str, Any]) -> bytes:
    return (strictjson.dumps(value) + "\n").encode("utf-8")  # one line: small


def _overwrite_placeholder(path: Path, doc: dict[str, Any]) -> None:
    """The end of a run whose result could not be written (a full disk): the ``running``
    placeholder becomes ``failed``, rewritten in place, in the blocks it already holds (no
    new space needed), so no run that ended is left ``running``. When even that is
    refused, ``doc``'s error says so."""
    try:
        with path.open("r+b") as file:
            size = os.fstat(file.fileno()).st_size
            file.write(failed_document(doc, max(size, MIN_FAILED_SIZE)))
            file.truncate()
    except OSError as exc:
        doc["error"] += f"; {path} still says running ({exc.strerror or exc})"
