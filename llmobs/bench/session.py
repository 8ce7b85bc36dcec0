"""One ``llmbench run`` once prepared (``llmobs.bench.prepare``): run the open loop (in this
process or in workers) with the servers scraped alongside, write every record as it
finishes, and turn the records into the result.

What was measured survives a failure: records go to JSONL the moment they finish, and an
interrupted run still writes a (partial) result from them.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from llmobs.bench.config import RunConfig
from llmobs.bench.gap import gaps
from llmobs.bench.metrics import parse_slo, summarize
from llmobs.bench.prepare import Prepared
from llmobs.bench.records import RequestRecord
from llmobs.bench.report import client_verdict, result_json
from llmobs.bench.runner import Health, Target, run_load
from llmobs.bench.serverside import ServerWatch, series_json, views
from llmobs.bench.workers import run_pool
from llmobs.bench.workload import RequestSpec
from llmobs.interrupts import noted
from llmobs.scrape.fetch import normalize_url
from llmobs.secrets import display_url

LAST_SCRAPE_S = 3.0  # the closing scrape of an interrupted run: a hung server must not hold it


class RecordSink:
    """Writes each record to JSONL as it arrives (flushed), and keeps them for the result.

    A write the OS refuses (a full disk, a file-size limit, any ``OSError``) is kept as
    ``error`` and reported once through ``on_error``; later records are kept in memory
    only, for the summary."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[RequestRecord] = []
        self.measured = 0
        self.failed = 0
        self.error: str | None = None
        self.on_error: Callable[[], object] = lambda: None
        self._file: IO[str] | None = None
        try:
            self._file = path.open("w", buffering=1)
        except OSError as exc:
            self._refused(exc)

    def _refused(self, exc: OSError) -> None:
        self.error = f"cannot write {self.path}: {exc.strerror or exc}"
        self.on_error()

    def emit(self, record: RequestRecord, line: str | None = None) -> None:
        """Keep ``record``; write it, or ``line`` when it is already its JSON (a worker's)."""
        self.records.append(record)
        if not record.warmup:
            self.measured += 1
            if not record.ok:
                self.failed += 1
        if self._file is None or self.error is not None:
            return
        try:
            self._file.write((line or record.to_json()) + "\n")
        except OSError as exc:
            self._refused(exc)

    def close(self) -> None:
        if self._file is None:
            return
        try:
            self._file.close()
        except OSError as exc:
            if self.error is None:
                self._refused(exc)


class Progress:
    """One line on stderr, rewritten twice a second when stderr is a terminal."""

    def __init__(self, total: int, sink: RecordSink, stream: IO[str] = sys.stderr) -> None:
        self.total = total
        self.sink = sink
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()

    def line(self) -> str:
        done = self.sink.measured
        elapsed = time.monotonic() - self.started
        width = 30
        filled = int(width * done / self.total) if self.total else width
        return (
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} done, "
            f"{self.sink.failed} failed, {elapsed:.0f}s"
        )

    async def run(self, stop: asyncio.Event) -> None:
        if not self.live:
            return
        while not stop.is_set():
            self.stream.write(self.line())
            self.stream.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.5)
        self.stream.write(self.line() + "\n")


@dataclass
class Outcome:
    sink: RecordSink
    health: Health
    watch: ServerWatch | None
    complete: bool
    started_at: str
    failure: str | None = None  # why the run failed (a write refused, a worker died)


@dataclass
class RunState:
    """What a run has measured so far, kept outside the event loop: an interrupt that
    ends the loop still leaves the health and the servers' scrapes to report."""

    health: Health
    watch: ServerWatch | None = None


async def _guarded(sink: RecordSink, load: Coroutine[Any, Any, Any]) -> None:
    """Run ``load`` until it ends or the sink cannot write: a refused write stops sending
    (what is in flight is cancelled, as on Ctrl-C) instead of failing every request."""
    task = asyncio.create_task(load)
    sink.on_error = task.cancel
    try:
        await task
    except asyncio.CancelledError:
        current = asyncio.current_task()
        if sink.error is None or (current is not None and current.cancelling()):
            raise
    finally:
        sink.on_error = lambda: None


async def _run(prepared: Prepared, cfg: RunConfig, sink: RecordSink, state: RunState) -> None:
    warm = [s for s in prepared.specs if s.warmup]
    timed = [s for s in prepared.specs if not s.warmup]
    if warm:
        await _guarded(
            sink,
            run_load(
                warm,
                prepared.target,
                start=time.monotonic(),
                emit=sink.emit,
                max_concurrency=cfg.max_concurrency,
            ),
        )
        if sink.error is not None:
            return
    if cfg.scrape:
        state.watch = ServerWatch(
            [normalize_url(u) for u in cfg.scrape], time.monotonic(), cfg.scrape_interval
        )
        await state.watch.scrape_now()  # the run's left edge, before the clock starts
    start = time.monotonic() + 0.05
    if state.watch is not None:
        state.watch.rebase(start)
    stop = asyncio.Event()
    helpers = [asyncio.create_task(Progress(len(timed), sink).run(stop))]
    if state.watch is not None:
        helpers.append(asyncio.create_task(state.watch.run(stop)))
    gc.freeze()  # the workload built so far is never garbage: keep collections short
    try:
        await _guarded(sink, _load(prepared, cfg, timed, sink, start, state))
    finally:
        gc.unfreeze()
        stop.set()
        await asyncio.gather(*helpers, return_exceptions=True)
    if state.watch is not None:
        await state.watch.scrape_now()  # the right edge


async def _load(
    prepared: Prepared,
    cfg: RunConfig,
    timed: list[RequestSpec],
    sink: RecordSink,
    start: float,
    state: RunState,
) -> None:
    if cfg.workers == 1:
        await run_load(
            timed,
            prepared.target,
            start=start,
            emit=sink.emit,
            max_concurrency=cfg.max_concurrency,
            health=state.health,
        )
        return

    def started(at: float) -> None:
        if state.watch is not None:
            state.watch.rebase(at)

    await run_pool(
        timed,
        prepared.target,
        cfg.workers,
        cfg.max_concurrency,
        sink.emit,
        started,
        state.health,
    )


def execute(prepared: Prepared, cfg: RunConfig, sink: RecordSink) -> Outcome:
    """Run the load into ``sink``; an interrupt (Ctrl-C, SIGTERM) ends it early but keeps
    what was measured, the servers' side included (one more scrape, of at most
    ``LAST_SCRAPE_S``, closes their window). A write the sink cannot make, or a worker that
    dies, ends it as a failure (``Outcome.failure``)."""
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    state = RunState(Health(workers=cfg.workers))
    complete = True
    try:
        if sink.error is None:
            asyncio.run(_run(prepared, cfg, sink, state))
    except KeyboardInterrupt:
        noted()
        complete = False
        if state.watch is not None:
            with contextlib.suppress(KeyboardInterrupt, TimeoutError):
                asyncio.run(asyncio.wait_for(state.watch.scrape_now(), LAST_SCRAPE_S))
    finally:
        sink.close()
    failure = "; ".join(([sink.error] if sink.error else []) + state.health.problems) or None
    if failure is not None:
        complete = False
    return Outcome(sink, state.health, state.watch, complete, started_at, failure)


def config_json(cfg: RunConfig, target: Target, base_url: str) -> dict[str, Any]:
    """The run's settings as result.json keeps them; every URL as ``display_url`` shows it
    (a password is ``<secret>``)."""
    data = cfg.model_dump(mode="json")
    data["target"] = display_url(base_url)
    if cfg.base_url is not None:
        data["base_url"] = display_url(cfg.base_url)
    data["scrape"] = [display_url(url) for url in cfg.scrape]
    data["model"] = target.model
    data["request_rate"] = "inf" if math.isinf(cfg.request_rate) else cfg.request_rate
    data["burstiness"] = "inf" if math.isinf(cfg.burstiness) else cfg.burstiness
    return data


def result(outcome: Outcome, cfg: RunConfig, prepared: Prepared, base_url: str) -> dict[str, Any]:
    slo = parse_slo(cfg.slo) if cfg.slo else None
    summary = summarize(outcome.sink.records, slo, cfg.percentiles)
    verdict = client_verdict(outcome.health, summary)
    servers, combined = (
        views(outcome.watch, tuple(p / 100 for p in cfg.percentiles))
        if outcome.watch is not None
        else ([], None)
    )
    samples = [r.error for r in outcome.sink.records if r.error and r.error_kind != "cancelled"]
    doc = result_json(
        config=config_json(cfg, prepared.target, base_url),
        summary=summary,
        verdict=verdict,
        servers=servers,
        combined=combined,
        complete=outcome.complete,
        started_at=outcome.started_at,
        records_file=outcome.sink.path.name,
        error_samples=samples[:3],
        gap=gaps(outcome.sink.records, combined.histograms) if combined is not None else None,
    )
    doc["state"] = state(outcome)
    if outcome.failure is not None:
        doc["error"] = outcome.failure
    if outcome.watch is not None:
        doc["server_series"] = [series_json(s) for s in outcome.watch.series]
    return doc


def state(outcome: Outcome) -> str:
    """``finished``; ``interrupted`` (Ctrl-C, SIGTERM); ``failed`` (a write refused, a
    worker died: ``error`` says which)."""
    if outcome.failure is not None:
        return "failed"
    return "finished" if outcome.complete else "interrupted"
