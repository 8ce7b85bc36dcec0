"""The demo's own PNG: each role's replicas over the run (asked for, ready, and what the
autoscaler wanted), above its p90 latency against the SLO and the load it was given.

matplotlib with the Agg canvas set on the figure: no global backend state, no display.
Imported when the report is written, not when ``llmobs --help`` lists the commands.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from llmobs.demo.state import P90_FIELDS, RoleSample, Sample


def _series(
    samples: Sequence[Sample], role: str, value: Callable[[RoleSample], float | int | None]
) -> tuple[list[float], list[float | None]]:
    times: list[float] = []
    values: list[float | None] = []
    for sample in samples:
        for item in sample.roles:
            if item.role == role:
                found = value(item)
                times.append(sample.t)
                values.append(None if found is None else float(found))
    return times, values


def _field(name: str) -> Callable[[RoleSample], float | int | None]:
    def read(item: RoleSample) -> float | int | None:
        value: float | int | None = getattr(item, name)
        return value

    return read


def _nan(values: list[float | None]) -> list[float]:
    """matplotlib leaves a gap at NaN: an unknown value is drawn as nothing."""
    return [float("nan") if v is None else v for v in values]


def replicas_png(
    samples: Sequence[Sample],
    slo: Mapping[str, Mapping[str, float]],
    rate: Callable[[float], float],
    path: Path,
) -> Path:
    """Write ``path``: per role, replicas over time and its SLO signal against the SLO; the
    offered load (``rate(t)``, requests/s) shared underneath."""
    roles = sorted({r.role for s in samples for r in s.roles})
    figure = Figure(figsize=(10, 2.6 * (len(roles) + 1)), layout="constrained")
    axes = figure.subplots(len(roles) + 1, 1, sharex=True, squeeze=False)[:, 0]
    for ax, role in zip(axes, roles, strict=False):
        for name, label, style in (
            ("spec", "replicas asked for", "-"),
            ("ready", "ready", "--"),
            ("desired", "autoscaler wants", ":"),
        ):
            times, values = _series(samples, role, _field(name))
            ax.step(times, _nan(values), style, where="post", label=label)
        ax.set_ylabel(f"{role} replicas")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", fontsize=8)
        twin = ax.twinx()
        for signal, limit in slo.get(role, {}).items():
            field = P90_FIELDS.get(signal)
            if field is None:
                continue
            times, values = _series(samples, role, _field(field))
            twin.plot(times, _nan(values), color="tab:red", alpha=0.7, label=f"{signal} (s)")
            twin.axhline(limit, color="tab:red", linestyle="--", linewidth=0.8, label="SLO")
            twin.set_ylabel(f"{signal} (s)")
            twin.set_ylim(bottom=0)
            twin.legend(loc="upper right", fontsize=8)
    load = axes[-1]
    times = [s.t for s in samples]
    load.plot(times, [rate(t) for t in times], color="tab:gray")
    load.set_ylabel("load (req/s)")
    load.set_xlabel("seconds into the run")
    load.set_ylim(bottom=0)
    figure.suptitle("llmobs demo: replicas per role, p90 latency against the SLO, load")
    path.parent.mkdir(parents=True, exist_ok=True)
    FigureCanvasAgg(figure)
    figure.savefig(path, dpi=100)
    return path
