"""``llmbench sweep``: runs over a list of rates or concurrencies, or a search for the highest
request rate whose requests meet the SLO often enough.

The search is a pure decision function: given the rates tried and their SLO attainment, it
returns the next rate and why (double while the SLO holds, halve while it fails, then bisect
until the bracket is narrower than ``precision``), or None with the answer. It assumes
attainment falls as the rate rises, as it does on any server worth measuring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from llmobs.bench.compare import value


@dataclass(frozen=True)
class Search:
    attainment: float = 0.9  # fraction of requests that must meet every SLO
    start: float = 1.0
    max_rate: float = 1000.0
    min_rate: float = 0.01
    precision: float = 0.05  # stop when (fail - pass) / pass is below this
    max_runs: int = 12


@dataclass(frozen=True)
class Step:
    rate: float | None  # the next rate to run; None when the search is over
    reason: str


def passes(search: Search, attainment: float | None) -> bool:
    return attainment is not None and attainment >= search.attainment


def bracket(
    search: Search, tried: Sequence[tuple[float, float | None]]
) -> tuple[float | None, float | None]:
    """The highest rate that passed and the lowest above it that failed."""
    good = [r for r, a in tried if passes(search, a)]
    low = max(good) if good else None
    bad = [r for r, a in tried if not passes(search, a) and (low is None or r > low)]
    return low, (min(bad) if bad else None)


def next_rate(search: Search, tried: Sequence[tuple[float, float | None]]) -> Step:
    if not tried:
        return Step(search.start, f"start at {search.start:g} req/s")
    low, high = bracket(search, tried)
    if len(tried) >= search.max_runs:
        return Step(None, f"stopped after {len(tried)} runs; best so far {_rate(low)}")
    if high is None:
        assert low is not None
        if low >= search.max_rate:
            return Step(None, f"{low:g} req/s (the --max-rate) still meets the SLO")
        return Step(min(low * 2, search.max_rate), f"{low:g} req/s met the SLO: doubling")
    if low is None:
        if high <= search.min_rate:
            return Step(None, f"even {high:g} req/s misses the SLO")
        return Step(max(high / 2, search.min_rate), f"{high:g} req/s missed the SLO: halving")
    if (high - low) / low <= search.precision:
        return Step(None, f"{low:g} req/s meets the SLO, {high:g} does not")
    middle = _round((low + high) / 2)
    if middle in (low, high):  # three digits cannot split the bracket further
        return Step(None, f"{low:g} req/s meets the SLO, {high:g} does not (to 3 digits)")
    return Step(middle, f"between {low:g} (met) and {high:g} (missed): bisecting")


def _round(rate: float) -> float:
    """Three significant digits: rates people can read back."""
    digits = 2 - math.floor(math.log10(abs(rate)))
    return round(rate, digits)


def _rate(rate: float | None) -> str:
    return "none" if rate is None else f"{rate:g} req/s"


# -- the sweep's points and table ------------------------------------------------------------
POINT_FIELDS: tuple[tuple[str, str, str | None], ...] = (
    ("achieved_rate", "achieved_rate", None),
    ("request_throughput", "request_throughput", None),
    ("output_throughput", "output_throughput", None),
    ("goodput", "goodput", None),
    ("slo_attainment", "slo_attainment", None),
    ("ttft_p50", "ttft_ms", "p50"),
    ("ttft_p99", "ttft_ms", "p99"),
    ("tpot_p50", "tpot_ms", "p50"),
    ("tpot_p99", "tpot_ms", "p99"),
    ("itl_p99", "itl_ms", "p99"),
    ("e2el_p50", "e2el_ms", "p50"),
    ("failed", "failed", None),
)


def point(x: float, doc: dict[str, Any], run_dir: str) -> dict[str, Any]:
    """One run's headline numbers, and whether its client was saturated (the run's own
    verdict, ``llmobs.bench.report.client_verdict``: then its numbers measure the load
    generator, and the search does not decide on them)."""
    given = doc.get("client")
    client: dict[str, Any] = given if isinstance(given, dict) else {}
    out: dict[str, Any] = {
        "x": x,
        "run": run_dir,
        "complete": bool(doc.get("complete")),
        "saturated": bool(client.get("saturated")),
        "saturated_reasons": [str(r) for r in client.get("reasons") or []],
    }
    out.update({name: value(doc, key, sub) for name, key, sub in POINT_FIELDS})
    return out


def failed_point(x: float, run_dir: str, error: str) -> dict[str, Any]:
    """A point that could not run (the server went away): no numbers, the reason."""
    out: dict[str, Any] = {
        "x": x,
        "run": run_dir,
        "complete": False,
        "saturated": False,
        "saturated_reasons": [],
        "error": error,
    }
    out.update({name: None for name, _, _ in POINT_FIELDS})
    return out


def decided(points: Sequence[dict[str, Any]]) -> list[tuple[float, float | None]]:
    """The (rate, attainment) of the points the search may decide on: those that ran with
    a client that kept up."""
    return [
        (p["x"], p["slo_attainment"]) for p in points if not p.get("error") and not p["saturated"]
    ]


def sweep_table(points: Sequence[dict[str, Any]], x_label: str) -> str:
    columns = (
        (x_label, "x"),
        ("achieved/s", "achieved_rate"),
        ("req/s", "request_throughput"),
        ("out tok/s", "output_throughput"),
        ("TTFT p50", "ttft_p50"),
        ("TTFT p99", "ttft_p99"),
        ("TPOT p50", "tpot_p50"),
        ("TPOT p99", "tpot_p99"),
        ("SLO met", "slo_attainment"),
        ("failed", "failed"),
    )
    head = "".join(f"{title:>12}" for title, _ in columns)
    lines = [head + "   (latencies in ms)", "-" * len(head)]
    for p in points:
        cells = []
        for _, key in columns:
            v = p.get(key)
            if v is None:
                cells.append(f"{'-':>12}")
            elif key == "slo_attainment":
                cells.append(f"{v:>12.1%}")
            elif key in ("x", "failed"):
                cells.append(f"{v:>12g}")
            else:
                cells.append(f"{v:>12.2f}")
        lines.append("".join(cells) + _note(p))
    if any(p.get("saturated") for p in points):
        lines.append(
            "CLIENT SATURATED: at those points the load generator was the bottleneck, so their "
            "numbers measure the client (use --workers or a lower load); a search does not "
            "decide on them."
        )
    return "\n".join(lines)


def _note(p: dict[str, Any]) -> str:
    if p.get("error"):
        ran = any(p.get(name) is not None for name, _, _ in POINT_FIELDS)
        return "  (FAILED)" if ran else "  (could not run)"
    notes = [] if p.get("complete") else ["interrupted"]
    if p.get("saturated"):
        notes.append("CLIENT SATURATED")
    return f"  ({'; '.join(notes)})" if notes else ""
