"""``llmobs simulate --out DIR``'s PNGs: one per policy (load, replicas per role, latency
against the SLO over time) and one comparing the policies. matplotlib with the Agg canvas set
on each figure, as ``llmobs.bench.plots`` does; imported only when plots are written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from llmobs.autoscaler.simulate import ROLES, Run
from llmobs.bench.metrics import Slo


def _save(figure: Figure, path: Path) -> Path:
    FigureCanvasAgg(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def filename(policy: str) -> str:
    return "policy-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", policy) + ".png"


def policy_plot(run: Run, slo: Slo, path: Path) -> Path:
    figure = Figure(figsize=(10, 9))
    ts = [t.t for t in run.ticks]
    gaps = [b.t - a.t for a, b in zip(run.ticks, run.ticks[1:], strict=False)]
    rates = [0.0] + [
        t.arrivals / g if g > 0 else 0.0 for t, g in zip(run.ticks[1:], gaps, strict=True)
    ]
    ax = figure.add_subplot(4, 1, 1)
    ax.plot(ts, rates)
    ax.set(title=f"{run.policy}: load", ylabel="arrivals/s")
    ax = figure.add_subplot(4, 1, 2)
    for role in ROLES:
        ax.step(
            ts, [t.desired.get(role, 0) for t in run.ticks], where="post", label=f"{role} asked"
        )
        ax.step(
            ts,
            [t.ready.get(role, 0) for t in run.ticks],
            where="post",
            ls="--",
            label=f"{role} ready",
        )
    ax.set(title="replicas", ylabel="replicas")
    ax.legend(fontsize=7)
    done = [r for r in run.records if r.finished is not None]
    for i, (name, limit, values) in enumerate(
        (
            ("TTFT", slo.ttft, [(r.arrival, r.ttft) for r in done]),
            ("TPOT", slo.tpot, [(r.arrival, r.tpot) for r in done]),
        )
    ):
        ax = figure.add_subplot(4, 1, 3 + i)
        points = [(a, v) for a, v in values if v is not None]
        ax.scatter([a for a, _ in points], [v for _, v in points], s=2)
        if limit is not None:
            ax.axhline(limit, color="red", lw=1, label="SLO")
            ax.legend(fontsize=7)
        ax.set(title=f"{name} per request", ylabel="seconds", yscale="log")
    ax.set_xlabel("seconds")
    return _save(figure, path)


def compare_plot(runs: Sequence[Run], path: Path) -> Path:
    figure = Figure(figsize=(11, 4))
    names = [r.policy for r in runs]
    panels = (
        (
            "attainment of both SLOs (%)",
            [100 * (r.score.attainment(r.score.met_both) or 0) for r in runs],
        ),
        ("GPU-hours", [r.gpu_hours for r in runs]),
        ("scale actions", [float(len(r.actions)) for r in runs]),
    )
    for i, (title, values) in enumerate(panels):
        ax = figure.add_subplot(1, 3, i + 1)
        ax.bar(range(len(values)), values)
        ax.set_xticks(range(len(values)))
        ax.set_xticklabels(names, rotation=20, fontsize=8)
        ax.set_title(title)
    return _save(figure, path)


def write(runs: Sequence[Run], slo: Slo, out: Path) -> list[Path]:
    """Every plot into ``out`` (created); the paths written."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [policy_plot(run, slo, out / filename(run.policy)) for run in runs]
    paths.append(compare_plot(runs, out / "compare.png"))
    return paths
