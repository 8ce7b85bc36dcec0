"""The servers' own numbers during a run: their /metrics scraped before, during and after.

A scrape just before the first request and one after the last bracket the run, so the
engine histograms' increase is exactly the run's traffic (plus anything else the server
served meanwhile); the scrapes in between give KV usage, running and waiting over time.
Uses the Foundation's fetcher and engine catalogs: any vLLM, SGLang or Dynamo version.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from llmobs.engines import snapshot
from llmobs.engines.catalog import EngineSnapshot
from llmobs.errors import LlmobsError
from llmobs.histogram import Histogram, increase, mean, merge, quantile
from llmobs.scrape.fetch import scrape_all


@dataclass
class Series:
    url: str
    times: list[float] = field(default_factory=list)
    kv_usage: list[float | None] = field(default_factory=list)
    running: list[float | None] = field(default_factory=list)
    waiting: list[float | None] = field(default_factory=list)
    snapshots: list[tuple[float, EngineSnapshot]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, at: float, snap: EngineSnapshot) -> None:
        self.times.append(at)
        self.kv_usage.append(snap.gauges.get("kv_cache_usage_ratio"))
        self.running.append(snap.gauges.get("requests_running"))
        self.waiting.append(snap.gauges.get("requests_waiting"))
        self.snapshots.append((at, snap))


def series_json(series: Series) -> dict[str, object]:
    """The over-time part of a series, for result.json (what ``report`` plots again)."""
    return {
        "url": series.url,
        "times": [round(t, 3) for t in series.times],
        "kv_usage": series.kv_usage,
        "running": series.running,
        "waiting": series.waiting,
    }


def series_from_json(doc: dict[str, Any]) -> Series:
    return Series(
        str(doc.get("url")),
        list(doc.get("times", [])),
        list(doc.get("kv_usage", [])),
        list(doc.get("running", [])),
        list(doc.get("waiting", [])),
    )


class ServerWatch:
    """Scrapes every ``interval`` seconds until stopped; ``scrape_now`` takes one more."""

    def __init__(self, urls: list[str], start: float, interval: float = 2.0) -> None:
        self.series = [Series(u) for u in urls]
        self.start = start
        self.interval = interval

    def rebase(self, start: float) -> None:
        """Count time from ``start`` instead (the run's clock, once it is known)."""
        shift = start - self.start
        self.start = start
        for series in self.series:
            series.times = [t - shift for t in series.times]
            series.snapshots = [(t - shift, snap) for t, snap in series.snapshots]

    async def scrape_now(self) -> None:
        results = await scrape_all([s.url for s in self.series], timeout_s=10.0)
        at = time.monotonic() - self.start
        for series, result in zip(self.series, results, strict=True):
            if result.exposition is None:
                series.errors.append(str(result.error))
                continue
            try:
                series.add(at, snapshot(result.exposition))
            except LlmobsError as exc:
                series.errors.append(str(exc))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
            if not stop.is_set():
                await self.scrape_now()


SIGNALS = ("ttft_seconds", "itl_seconds", "e2e_seconds", "queue_seconds", "tpot_seconds")


def window(series: Series, name: str) -> Histogram | None:
    """What the engine observed for ``name`` between the first and the last scrape."""
    found = [snap.histograms.get(name) for _, snap in series.snapshots]
    if len(found) < 2 or any(h is None for h in found):
        return None
    return increase([h for h in found if h is not None])


@dataclass(frozen=True)
class ServerView:
    url: str
    engine: str | None
    quantiles: dict[str, dict[float, float | None]]
    counts: dict[str, float | None]
    means: dict[str, float | None]
    histograms: dict[str, Histogram | None]  # the run's window, per signal
    kv_usage_mean: float | None
    kv_usage_max: float | None
    waiting_max: float | None
    errors: list[str]


def _stats(values: list[float | None]) -> tuple[float | None, float | None]:
    known = [v for v in values if v is not None]
    if not known:
        return None, None
    return sum(known) / len(known), max(known)


def views(watch: ServerWatch, qs: tuple[float, ...]) -> tuple[list[ServerView], ServerView]:
    """Each target's view of the run, and all targets together (histograms merged)."""
    out = []
    merged: dict[str, list[Histogram]] = {name: [] for name in SIGNALS}
    for series in watch.series:
        windows = {name: window(series, name) for name in SIGNALS}
        for name, h in windows.items():
            if h is not None:
                merged[name].append(h)
        kv_mean, kv_max = _stats(series.kv_usage)
        _, waiting_max = _stats(series.waiting)
        engine = series.snapshots[-1][1].engine if series.snapshots else None
        out.append(
            ServerView(
                series.url,
                engine,
                {n: {q: quantile(q, h) for q in qs} for n, h in windows.items()},
                {n: None if h is None else h.count for n, h in windows.items()},
                {n: mean(h) for n, h in windows.items()},
                windows,
                kv_mean,
                kv_max,
                waiting_max,
                series.errors[:3],
            )
        )
    together = {name: merge(histograms) for name, histograms in merged.items()}
    kv = [v for s in out for v in (s.kv_usage_mean,) if v is not None]
    combined = ServerView(
        "all",
        None,
        {n: {q: quantile(q, h) for q in qs} for n, h in together.items()},
        {n: None if h is None else h.count for n, h in together.items()},
        {n: mean(h) for n, h in together.items()},
        together,
        sum(kv) / len(kv) if kv else None,
        max((s.kv_usage_max for s in out if s.kv_usage_max is not None), default=None),
        max((s.waiting_max for s in out if s.waiting_max is not None), default=None),
        [],
    )
    return out, combined
