"""The servers' own numbers during a run: their /metrics scraped before, during and after.

A scrape just before the first request and one after the last bracket the run, so the
engine histograms' increase is exactly the run's traffic (plus anything else the server
served meanwhile); the scrapes in between give KV usage, running and waiting over time.
Uses the Foundation's fetcher and engine catalogs: any vLLM, SGLang or Dynamo version. A
scrape URL's userinfo is sent as basic auth (the fetcher's rule) and every URL this module
puts in a result is ``display_url``'s (no password).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

from llmobs import signals, window
from llmobs.engines import snapshot
from llmobs.engines.catalog import EngineSnapshot
from llmobs.errors import LlmobsError
from llmobs.histogram import Histogram, mean, quantile
from llmobs.scrape.fetch import scrape_all
from llmobs.secrets import display_url


@dataclass
class Series:
    url: str  # what is scraped: its userinfo, if any, is sent as basic auth and never shown
    times: list[float] = field(default_factory=list)
    kv_usage: list[float | None] = field(default_factory=list)
    running: list[float | None] = field(default_factory=list)
    waiting: list[float | None] = field(default_factory=list)
    snapshots: list[tuple[float, EngineSnapshot]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add(self, at: float, snap: EngineSnapshot) -> None:
        self.times.append(at)
        self.kv_usage.append(snap.gauges.get(signals.KV_CACHE_USAGE.name))
        self.running.append(snap.gauges.get(signals.REQUESTS_RUNNING.name))
        self.waiting.append(snap.gauges.get(signals.REQUESTS_WAITING.name))
        self.snapshots.append((at, snap))

    @property
    def shown(self) -> str:
        """The URL as results and tables show it (``display_url``: no password)."""
        return display_url(self.url)


def series_json(series: Series) -> dict[str, object]:
    """The over-time part of a series, for result.json (what ``report`` plots again)."""
    return {
        "url": series.shown,
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


# The histogram signals a run reports, in the order result.json lists them.
SIGNALS = tuple(
    s.name for s in (signals.TTFT, signals.ITL, signals.E2E, signals.QUEUE, signals.TPOT)
)


def run_window(series: Series) -> window.Window | None:
    """What the engine observed between the first and the last scrape (None: fewer than two),
    by the window core's rules (a restart inside the run counts as PromQL counts it)."""
    if len(series.snapshots) < 2:
        return None
    return window.target(series.snapshots)


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


def _view(
    url: str,
    engine: str | None,
    histograms: dict[str, Histogram | None],
    qs: tuple[float, ...],
    kv: tuple[float | None, float | None],
    waiting_max: float | None,
    errors: list[str],
) -> ServerView:
    """A view of the run's ``histograms`` (counts, means, quantiles), KV mean and max."""
    return ServerView(
        url,
        engine,
        {n: {q: quantile(q, h) for q in qs} for n, h in histograms.items()},
        {n: None if h is None else h.count for n, h in histograms.items()},
        {n: mean(h) for n, h in histograms.items()},
        histograms,
        kv[0],
        kv[1],
        waiting_max,
        errors,
    )


def _mean(stat: window.Stat | None) -> float | None:
    return None if stat is None else stat.mean


def _max(stat: window.Stat | None) -> float | None:
    return None if stat is None else stat.max


def views(watch: ServerWatch, qs: tuple[float, ...]) -> tuple[list[ServerView], ServerView]:
    """Each target's view of the run, and all targets together (histograms merged; KV as
    the mean of their means and the max of their maxes)."""
    out = []
    windows = []
    for series in watch.series:
        found = run_window(series)
        if found is not None:
            windows.append(found)
        histograms = {n: None if found is None else found.histograms.get(n) for n in SIGNALS}
        engine = series.snapshots[-1][1].engine if series.snapshots else None
        kv = window.stat(series.kv_usage)
        waiting = _max(window.stat(series.waiting))
        out.append(
            _view(
                series.shown,
                engine,
                histograms,
                qs,
                (_mean(kv), _max(kv)),
                waiting,
                series.errors[:3],
            )
        )
    together = window.group(windows, [])
    combined = _view(
        "all",
        None,
        {n: together.histograms.get(n) for n in SIGNALS},
        qs,
        (
            _mean(window.stat(s.kv_usage_mean for s in out)),
            _max(window.stat(s.kv_usage_max for s in out)),
        ),
        _max(window.stat(s.waiting_max for s in out)),
        [],
    )
    return out, combined
