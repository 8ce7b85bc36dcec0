"""What ``llmobs scrape`` prints: one report per target, as JSON or as a readable table.

Pure: builds reports from scrape results and renders them. The JSON shape is a contract
(``docs/scrape.md``): ``{"targets": [{"url", "engine", "naming", "up", "error", "signals":
{...}}]}`` with canonical signal names, ``null`` for anything not measured and for a value
that is not a finite number (strict JSON); the last bucket bound is the string ``"+Inf"``.
Every number the table shows goes through ``_seconds`` or ``_plain``, which cope with any
float (NaN and the infinities are written as the exposition writes them).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmobs import signals
from llmobs.engines import snapshot
from llmobs.engines.catalog import EngineSnapshot
from llmobs.errors import LlmobsError
from llmobs.scrape.fetch import ScrapeResult
from llmobs.window import DEFAULT_QUANTILES, HistogramView, SignalView, view

JSON_VERSION = 1


@dataclass(frozen=True)
class TargetReport:
    url: str
    up: bool
    error: str | None
    reason: str | None
    view: SignalView | None
    sources: dict[str, str]
    scrape_seconds: float | None


def _snap(
    result: ScrapeResult, engine: str | None
) -> tuple[EngineSnapshot | None, LlmobsError | None]:
    if result.exposition is None:
        return None, result.error
    try:
        return snapshot(result.exposition, engine), None
    except LlmobsError as exc:
        return None, exc


def build(
    rounds: Sequence[ScrapeResult | None],
    engine: str | None = None,
    quantiles: Sequence[float] = DEFAULT_QUANTILES,
) -> TargetReport:
    """One target's report from its scrapes (one, or two a window apart; None = not taken).

    What was measured is never dropped: if the second scrape fails, the first one's
    cumulative signals are reported with the error.
    """
    taken = [r for r in rounds if r is not None]
    url = taken[0].url
    points: list[tuple[float, EngineSnapshot]] = []
    errors: list[LlmobsError] = []
    for result in taken:
        snap, error = _snap(result, engine)
        if snap is not None:
            if points and points[-1][1].engine != snap.engine:
                points.clear()  # a different engine answers now: start over from it
            points.append((result.monotonic, snap))
        if error is not None:
            errors.append(error)
    last = taken[-1]
    up = last.ok
    error = errors[-1] if errors else None
    message = None
    if error is not None:
        message = str(error)
        if points and len(points) < len(taken):
            message += "; the signals shown are cumulative, from the scrape that worked"
    return TargetReport(
        url=url,
        up=up,
        error=message,
        reason=error.reason if error is not None else None,
        view=view(points, quantiles) if points else None,
        sources=dict(points[-1][1].sources) if points else {},
        scrape_seconds=last.duration,
    )


# -- JSON -------------------------------------------------------------------------------------
def _num(value: float | None) -> float | None:
    """A JSON number: None for a missing value and for NaN or an infinity (strict JSON)."""
    return value if value is not None and math.isfinite(value) else None


def _bound(le: float) -> float | str | None:
    """A bucket bound: ``"+Inf"`` for the last one, as Prometheus's own JSON writes ``le``."""
    return "+Inf" if le == math.inf else _num(le)


def _qname(q: float) -> str:
    return "p" + f"{q * 100:g}".replace(".", "_")


def _histogram_json(h: HistogramView | None) -> dict[str, Any] | None:
    if h is None:
        return None
    out: dict[str, Any] = {"count": _num(h.count), "sum": _num(h.sum), "mean": _num(h.mean)}
    out.update({_qname(q): _num(v) for q, v in h.quantiles.items()})
    out["buckets"] = [[_bound(le), _num(c)] for le, c in h.buckets]
    return out


def _rate_name(counter: str) -> str:
    return counter.removesuffix("_total") + "_per_second"


def target_json(report: TargetReport) -> dict[str, Any]:
    v = report.view
    out: dict[str, Any] = {
        "url": report.url,
        "engine": v.engine if v else None,
        "naming": v.naming if v else None,
        "models": list(v.models) if v else [],
        "up": report.up,
        "error": report.error,
        "reason": report.reason,
        "window_seconds": v.window_seconds if v else None,
        "scrape_duration_seconds": report.scrape_seconds,
        "signals": None,
        "rates": None,
        "sources": report.sources,
    }
    if v is not None:
        sig: dict[str, Any] = {}
        for s in signals.ALL:
            if s.kind is signals.Kind.HISTOGRAM:
                sig[s.name] = _histogram_json(v.histograms.get(s.name))
            elif s.kind is signals.Kind.GAUGE:
                sig[s.name] = _num(v.gauges.get(s.name))
            elif s.kind is signals.Kind.COUNTER:
                sig[s.name] = _num(v.counters.get(s.name))
            else:
                sig[s.name] = _num(v.prefix_cache_hit_ratio)
        out["signals"] = sig
        if v.window_seconds is not None:
            out["rates"] = {_rate_name(k): _num(r) for k, r in v.rates.items()}
    return out


def to_json(reports: Sequence[TargetReport]) -> dict[str, Any]:
    return {"version": JSON_VERSION, "targets": [target_json(r) for r in reports]}


# -- table ------------------------------------------------------------------------------------
def _nonfinite(value: float) -> str | None:
    """How the table writes a value that is not a finite number (as the exposition does)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return None


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    odd = _nonfinite(value)
    if odd is not None:
        return odd
    if abs(value) < 1:
        return f"{value * 1000:.3g}ms"
    return f"{value:.3g}s" if abs(value) < 100 else f"{value:.0f}s"


def _plain(value: float | None, ratio: bool = False) -> str:
    if value is None:
        return "-"
    odd = _nonfinite(value)
    if odd is not None:
        return odd
    if ratio:
        return f"{value * 100:.1f}%"
    return f"{value:.0f}" if abs(value) < 1e15 and value == int(value) else f"{value:.4g}"


def target_table(report: TargetReport) -> str:
    v = report.view
    head = report.url
    if v is not None:
        head += f"  {v.engine} (naming {v.naming})"
        if v.models:
            head += f"  model {', '.join(v.models)}"
    head += "  UP" if report.up else "  DOWN"
    lines = [head]
    if report.error:
        lines.append(f"  error ({report.reason}): {report.error}")
    if v is None:
        return "\n".join(lines)
    scope = (
        f"over the last {v.window_seconds:.1f}s"
        if v.window_seconds is not None
        else "cumulative since the engine started"
    )
    lines.append(f"  latency {scope}")
    qs = list(DEFAULT_QUANTILES)
    header = ["signal", "count", "mean"] + [_qname(q) for q in qs]
    rows = [header]
    for s in signals.HISTOGRAMS:
        h = v.histograms.get(s.name)
        if h is None:
            rows.append([s.name, "-", "-"] + ["-"] * len(qs))
        else:
            rows.append(
                [s.name, _plain(h.count), _seconds(h.mean)]
                + [_seconds(h.quantiles.get(q)) for q in qs]
            )
    lines += _columns(rows)
    lines.append(
        "    (quantiles interpolate inside the engine's buckets, as PromQL's "
        "histogram_quantile does; the mean is exact)"
    )
    lines.append("  state and totals")
    rows = [["signal", "value", "per second" if v.window_seconds is not None else ""]]
    for s in signals.GAUGES:
        rows.append([s.name, _plain(v.gauges.get(s.name), ratio=s.unit == "ratio"), ""])
    for s in signals.COUNTERS:
        rate = v.rates.get(s.name) if v.window_seconds is not None else None
        rows.append(
            [
                s.name,
                _plain(v.counters.get(s.name)),
                "" if v.window_seconds is None else _plain(rate),
            ]
        )
    rows.append(
        [signals.PREFIX_CACHE_HIT_RATIO.name, _plain(v.prefix_cache_hit_ratio, ratio=True), ""]
    )
    lines += _columns(rows)
    return "\n".join(lines)


def _columns(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.append("    " + "  ".join(cells).rstrip())
    return out


def to_table(reports: Sequence[TargetReport]) -> str:
    return "\n\n".join(target_table(r) for r in reports)
