"""One ``llmbench run``, start to finish: find the model, build and calibrate the workload,
run the open loop (in this process or in workers) with the servers scraped alongside, write
every record as it finishes, and turn the records into the result.

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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aiohttp

from llmobs.bench import arrivals, calibrate, workload
from llmobs.bench.config import DEFAULT_PROMPTS, RunConfig
from llmobs.bench.gap import gaps
from llmobs.bench.metrics import parse_slo, summarize
from llmobs.bench.records import RequestRecord
from llmobs.bench.report import client_verdict, result_json
from llmobs.bench.runner import Health, Target, WorkerPool, run_load
from llmobs.bench.serverside import ServerWatch, series_json, views
from llmobs.bench.workload import RequestSpec
from llmobs.errors import ConfigError, TargetError, TargetUnreachable
from llmobs.scrape.fetch import normalize_url
from llmobs.sim.tokenizer import load as load_tokenizer


class RecordSink:
    """Writes each record to JSONL as it arrives (flushed), and keeps them for the result."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[RequestRecord] = []
        self._file: IO[str] = path.open("w", buffering=1)
        self.failed = 0

    def emit(self, record: RequestRecord) -> None:
        self.records.append(record)
        if not record.ok:
            self.failed += 1
        self._file.write(record.to_json() + "\n")

    def close(self) -> None:
        self._file.close()


class Progress:
    """One line on stderr, rewritten twice a second when stderr is a terminal."""

    def __init__(self, total: int, sink: RecordSink, stream: IO[str] = sys.stderr) -> None:
        self.total = total
        self.sink = sink
        self.stream = stream
        self.live = stream.isatty()
        self.started = time.monotonic()

    def line(self) -> str:
        done = len(self.sink.records)
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
class Prepared:
    target: Target
    specs: list[RequestSpec]
    notes: list[str] = field(default_factory=list)


async def _get_models(base: str, headers: dict[str, str]) -> list[str]:
    url = base.rstrip("/") + "/v1/models"
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.get(url, headers=headers) as response,
        ):
            if response.status != 200:
                text = (await response.text())[:200]
                raise TargetError(f"{url} answered HTTP {response.status}: {text}")
            doc = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise TargetUnreachable(
            f"cannot reach {base}: {exc or type(exc).__name__}; is the "
            "server running, and is --base-url right?"
        ) from None
    except ValueError:
        raise TargetError(
            f"{url} did not answer JSON: is this an OpenAI-compatible server?"
        ) from None
    data = doc.get("data") if isinstance(doc, dict) else None
    return [str(m.get("id")) for m in data or [] if isinstance(m, dict)]


def build_specs(cfg: RunConfig, vocabulary: Sequence[str] = workload.WORDS) -> list[RequestSpec]:
    if cfg.dataset == "trace":
        assert cfg.dataset_path is not None
        specs = workload.trace_workload(
            cfg.dataset_path,
            time_scale=cfg.time_scale,
            limit=cfg.num_prompts,
            seed=cfg.seed,
            vocabulary=vocabulary,
        )
    else:
        count = cfg.num_prompts or (0 if cfg.duration else DEFAULT_PROMPTS)
        if cfg.duration is not None:
            offsets = arrivals.offsets_for_duration(
                cfg.duration, cfg.request_rate, cfg.burstiness, cfg.seed
            )
        else:
            offsets = arrivals.offsets(count, cfg.request_rate, cfg.burstiness, cfg.seed)
        if cfg.dataset == "sharegpt":
            assert cfg.dataset_path is not None
            base = workload.sharegpt_workload(
                cfg.dataset_path,
                len(offsets),
                osl=cfg.osl if "osl" in cfg.model_fields_set else None,
                seed=cfg.seed,
            )
            specs = [
                RequestSpec(s.index, o, s.prompt, None, s.max_tokens)
                for s, o in zip(base, offsets, strict=True)
            ]
        else:
            specs = workload.random_workload(
                offsets,
                cfg.isl,
                cfg.osl,
                range_ratio=cfg.range_ratio,
                prefix_len=cfg.prefix_len,
                seed=cfg.seed,
                vocabulary=vocabulary,
            )
    if not specs:
        raise ConfigError("the workload is empty: nothing to send")
    warm = [
        RequestSpec(
            -1 - i,
            0.0,
            specs[i % len(specs)].prompt,
            specs[i % len(specs)].expected_prompt_tokens,
            specs[i % len(specs)].max_tokens,
            warmup=True,
        )
        for i in range(cfg.warmup)
    ]
    return warm + specs


async def prepare(cfg: RunConfig, base_url: str, api_key: str | None) -> Prepared:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    models = await _get_models(base_url, headers)
    model = cfg.model
    if model is None:
        if not models:
            raise TargetError(f"{base_url}/v1/models lists no model: give --model")
        model = models[0]
    elif models and model not in models:
        raise TargetError(
            f"model {model!r} is not served by {base_url}; it serves: {', '.join(models)}"
        )
    target = Target(base_url.rstrip("/") + cfg.endpoint, model, cfg.chat, headers, cfg.timeout_s)
    notes = []
    counter: calibrate.Count | None
    async with aiohttp.ClientSession() as session:
        if cfg.tokenizer is not None:
            counter = calibrate.local_counter(load_tokenizer(cfg.tokenizer))
            notes.append(f"prompt lengths made exact with the tokenizer in {cfg.tokenizer}")
        else:
            counter = await calibrate.server_counter(session, base_url, model, headers)
            notes.append(
                "prompt lengths made exact with the server's /tokenize"
                if counter
                else "the server has no /tokenize: prompt lengths are "
                "approximate; the real ones come from usage.prompt_tokens"
            )
        vocabulary: Sequence[str] = workload.WORDS
        if counter is not None and cfg.dataset != "sharegpt":
            units = await calibrate.unit_words(counter)
            if len(units) >= calibrate.MIN_UNITS:
                vocabulary = units
            if len(units) < len(workload.WORDS):
                notes.append(
                    f"{len(units)} of the {len(workload.WORDS)} prompt words are one token "
                    "for this tokenizer; prompts use those"
                    + ("" if len(units) >= calibrate.MIN_UNITS else " where they can")
                )
        specs = build_specs(cfg, vocabulary)
        if counter is not None and cfg.dataset != "sharegpt":
            specs = await calibrate.calibrate(specs, counter, vocabulary)
    return Prepared(target, specs, notes)


@dataclass
class Outcome:
    sink: RecordSink
    health: Health
    watch: ServerWatch | None
    complete: bool
    started_at: str


async def _run(
    prepared: Prepared, cfg: RunConfig, sink: RecordSink
) -> tuple[Health, ServerWatch | None]:
    warm = [s for s in prepared.specs if s.warmup]
    timed = [s for s in prepared.specs if not s.warmup]
    if warm:
        await run_load(
            warm,
            prepared.target,
            start=time.monotonic(),
            emit=sink.emit,
            max_concurrency=cfg.max_concurrency,
        )
    start = time.monotonic() + 0.05
    watch = None
    if cfg.scrape:
        watch = ServerWatch([normalize_url(u) for u in cfg.scrape], start, cfg.scrape_interval)
        await watch.scrape_now()  # the run's left edge
    stop = asyncio.Event()
    progress = Progress(len(timed), sink)
    helpers = [asyncio.create_task(progress.run(stop))]
    if watch is not None:
        helpers.append(asyncio.create_task(watch.run(stop)))
    finished = False
    gc.freeze()  # the workload built so far is never garbage: keep collections short
    try:
        if cfg.workers == 1:
            health = await run_load(
                timed,
                prepared.target,
                start=start,
                emit=sink.emit,
                max_concurrency=cfg.max_concurrency,
            )
        else:
            health = await _run_pool(timed, prepared.target, cfg, sink)
        finished = True
    finally:
        gc.unfreeze()
        stop.set()
        await asyncio.gather(*helpers, return_exceptions=True)
        if watch is not None and finished:
            await watch.scrape_now()  # the right edge
    return health, watch


async def _run_pool(
    specs: list[RequestSpec], target: Target, cfg: RunConfig, sink: RecordSink
) -> Health:
    pool = WorkerPool(cfg.workers, specs, target, cfg.max_concurrency)
    try:
        await asyncio.to_thread(pool.start)
        while await asyncio.to_thread(pool.poll, sink.emit, 0.2):
            pass
    except asyncio.CancelledError:
        # interrupted: make sure the workers are too, and collect what they send back
        pool.interrupt()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and pool.poll(sink.emit, 0.2):
            pass
        raise
    finally:
        pool.stop()
    return pool.health


def execute(prepared: Prepared, cfg: RunConfig, out_dir: Path) -> Outcome:
    """Run the load; an interrupt (Ctrl-C) ends it early but keeps what was measured."""
    out_dir.mkdir(parents=True, exist_ok=True)
    sink = RecordSink(out_dir / "records.jsonl")
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    health, watch, complete = Health(workers=cfg.workers), None, True
    try:
        health, watch = asyncio.run(_run(prepared, cfg, sink))
    except KeyboardInterrupt:
        complete = False
    finally:
        sink.close()
    return Outcome(sink, health, watch, complete, started_at)


def config_json(cfg: RunConfig, target: Target, base_url: str) -> dict[str, Any]:
    data = cfg.model_dump(mode="json")
    data["target"] = base_url
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
    if outcome.watch is not None:
        doc["server_series"] = [series_json(s) for s in outcome.watch.series]
    return doc
