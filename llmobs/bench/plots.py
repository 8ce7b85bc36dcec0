"""PNG plots of a run (``--plot DIR``) and of several runs (``compare``, ``sweep``).

matplotlib with the Agg backend, set on the figure (no global state, no display needed).
Every plot reads records and results only: what ``llmbench report`` re-renders later.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from llmobs.bench.metrics import e2el, itls, tokens_by_second, tpot, ttft
from llmobs.bench.records import RequestRecord
from llmobs.bench.serverside import Series


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    return path


def _cdf(ax: Any, values: Sequence[float], label: str) -> None:
    if not values:
        return
    xs = np.sort(np.asarray(values) * 1000)
    ax.plot(xs, np.arange(1, len(xs) + 1) / len(xs), label=label)


def run_plots(records: Sequence[RequestRecord], series: Sequence[Series], out: Path) -> list[Path]:
    """Latency CDFs, TTFT and TPOT over time, throughput over time, schedule lag, and the
    servers' KV usage and queue over time."""
    out.mkdir(parents=True, exist_ok=True)
    ok = [r for r in records if r.ok and not r.warmup]
    paths = []

    figure = Figure(figsize=(9, 6))
    for i, (name, values) in enumerate(
        (
            ("TTFT", [v for r in ok if (v := ttft(r)) is not None]),
            ("TPOT", [v for r in ok if (v := tpot(r)) is not None]),
            ("ITL", [g for r in ok for g in itls(r)]),
            ("E2E latency", [v for r in ok if (v := e2el(r)) is not None]),
        )
    ):
        ax = figure.add_subplot(2, 2, i + 1)
        _cdf(ax, values, name)
        ax.set(
            title=f"{name} CDF",
            xlabel="ms",
            ylabel="fraction" if name == "ITL" else "fraction of requests",
        )
        ax.grid(alpha=0.3)
    paths.append(_save(figure, out / "latency_cdf.png"))

    figure = Figure(figsize=(9, 6))
    ax = figure.add_subplot(2, 1, 1)
    ax.scatter([r.sent or 0 for r in ok], [(ttft(r) or 0) * 1000 for r in ok], s=6)
    ax.set(title="TTFT by send time", xlabel="s", ylabel="ms")
    ax = figure.add_subplot(2, 1, 2)
    points = [(r.sent or 0, v * 1000) for r in ok if (v := tpot(r)) is not None]
    ax.scatter([p[0] for p in points], [p[1] for p in points], s=6, color="tab:orange")
    ax.set(title="TPOT by send time", xlabel="s", ylabel="ms")
    paths.append(_save(figure, out / "latency_over_time.png"))

    figure = Figure(figsize=(9, 4))
    ax = figure.add_subplot(1, 1, 1)
    tokens = tokens_by_second(ok)
    done = Counter(int(r.end) for r in ok if r.end is not None)
    seconds = range(0, max([*tokens, *done, 0]) + 1)
    ax.plot(list(seconds), [tokens[s] for s in seconds], label="output tokens/s")
    ax2 = ax.twinx()
    ax2.plot(
        list(seconds), [done[s] for s in seconds], color="tab:green", label="requests/s completed"
    )
    ax.set(title="Throughput over time", xlabel="s", ylabel="tokens/s")
    ax2.set_ylabel("requests/s")
    paths.append(_save(figure, out / "throughput_over_time.png"))

    figure = Figure(figsize=(9, 4))
    ax = figure.add_subplot(1, 1, 1)
    measured = [r for r in records if not r.warmup and r.dispatched is not None]
    ax.scatter(
        [r.scheduled for r in measured],
        [((r.dispatched or 0) - r.scheduled) * 1000 for r in measured],
        s=6,
    )
    ax.set(
        title="Schedule lag (sent late by the client)",
        xlabel="scheduled send time (s)",
        ylabel="ms",
    )
    paths.append(_save(figure, out / "schedule_lag.png"))

    if series:
        figure = Figure(figsize=(9, 6))
        kv = figure.add_subplot(2, 1, 1)
        queue = figure.add_subplot(2, 1, 2)
        for s in series:
            kv.plot(s.times, [v if v is not None else np.nan for v in s.kv_usage], label=s.url)
            queue.plot(s.times, [v if v is not None else np.nan for v in s.waiting], label=s.url)
        kv.set(title="Server KV cache usage", xlabel="s", ylabel="fraction")
        queue.set(title="Server waiting requests", xlabel="s", ylabel="requests")
        kv.legend(fontsize=7)
        paths.append(_save(figure, out / "server_kv_and_queue.png"))
    return paths


def curve(points: Sequence[dict[str, Any]], x_label: str, out: Path) -> Path:
    """Throughput and latency against the swept value (``llmbench sweep``)."""
    xs = [p["x"] for p in points]
    figure = Figure(figsize=(9, 6))
    ax = figure.add_subplot(2, 1, 1)
    ax.plot(xs, [p["output_throughput"] for p in points], marker="o")
    ax.set(title="Output throughput", xlabel=x_label, ylabel="tokens/s")
    ax = figure.add_subplot(2, 1, 2)
    for key, label in (
        ("ttft_p50", "TTFT p50"),
        ("ttft_p99", "TTFT p99"),
        ("tpot_p50", "TPOT p50"),
        ("tpot_p99", "TPOT p99"),
    ):
        ax.plot(xs, [p[key] for p in points], marker="o", label=label)
    ax.set(title="Latency", xlabel=x_label, ylabel="ms")
    ax.legend()
    return _save(figure, out)


def bars(names: Sequence[str], docs: Sequence[dict[str, Any]], out: Path) -> Path:
    """Side-by-side bars of throughput, TTFT and TPOT percentiles (``llmbench compare``)."""
    figure = Figure(figsize=(11, 4))
    panels: tuple[tuple[str, list[tuple[str, str | None]]], ...] = (
        ("Output throughput (tok/s)", [("output_throughput", None)]),
        ("TTFT (ms)", [("ttft_ms", "p50"), ("ttft_ms", "p99")]),
        ("TPOT (ms)", [("tpot_ms", "p50"), ("tpot_ms", "p99")]),
    )
    for i, (title, keys) in enumerate(panels):
        ax = figure.add_subplot(1, 3, i + 1)
        width = 0.8 / len(keys)
        for k, (key, sub) in enumerate(keys):
            values = [
                d["summary"][key] if sub is None else d["summary"][key].get(sub) for d in docs
            ]
            ax.bar(
                np.arange(len(docs)) + k * width, [v or 0 for v in values], width, label=sub or key
            )
        ax.set_xticks(np.arange(len(docs)) + width * (len(keys) - 1) / 2)
        ax.set_xticklabels(names, rotation=15, fontsize=8)
        ax.set_title(title)
        if len(keys) > 1:
            ax.legend(fontsize=7)
    return _save(figure, out)
