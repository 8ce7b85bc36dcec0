"""Several results side by side (``llmbench compare``): the headline numbers of each run, and
each run against the first (the baseline), as ratios. Pure: dicts in, strings out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# (label, where in the summary, which quantile, higher is better)
ROWS: tuple[tuple[str, str, str | None, bool], ...] = (
    ("Successful requests", "completed", None, True),
    ("Failed requests", "failed", None, False),
    ("Request rate achieved (req/s)", "achieved_rate", None, True),
    ("Request throughput (req/s)", "request_throughput", None, True),
    ("Output throughput (tok/s)", "output_throughput", None, True),
    ("Total throughput (tok/s)", "total_throughput", None, True),
    ("Goodput (req/s)", "goodput", None, True),
    ("TTFT p50 (ms)", "ttft_ms", "p50", False),
    ("TTFT p90 (ms)", "ttft_ms", "p90", False),
    ("TTFT p99 (ms)", "ttft_ms", "p99", False),
    ("TPOT p50 (ms)", "tpot_ms", "p50", False),
    ("TPOT p90 (ms)", "tpot_ms", "p90", False),
    ("TPOT p99 (ms)", "tpot_ms", "p99", False),
    ("ITL p50 (ms)", "itl_ms", "p50", False),
    ("ITL p99 (ms)", "itl_ms", "p99", False),
    ("E2EL p50 (ms)", "e2el_ms", "p50", False),
    ("E2EL p99 (ms)", "e2el_ms", "p99", False),
)


def value(doc: dict[str, Any], key: str, sub: str | None) -> float | None:
    found = doc.get("summary", {}).get(key)
    if sub is not None:
        found = found.get(sub) if isinstance(found, dict) else None
    return float(found) if isinstance(found, int | float) else None


def name_of(doc: dict[str, Any], fallback: str) -> str:
    label = doc.get("config", {}).get("label")
    return str(label) if label else fallback


def comparison(names: Sequence[str], docs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The compared values and each run's ratio to the first, by row label."""
    rows = []
    for label, key, sub, higher_better in ROWS:
        values = [value(d, key, sub) for d in docs]
        base = values[0]
        ratios = [
            None if v is None or base is None or base == 0 else round(v / base, 4) for v in values
        ]
        rows.append(
            {"metric": label, "values": values, "ratios": ratios, "higher_is_better": higher_better}
        )
    return {"runs": list(names), "rows": rows}


def _cell(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.0f}" if v == int(v) and abs(v) >= 100 else f"{v:.2f}"


def comparison_table(data: dict[str, Any]) -> str:
    runs = data["runs"]
    width = max(12, *(len(r) for r in runs)) + 2
    head = f"{'':<32}" + "".join(f"{r:>{width}}" for r in runs)
    if len(runs) > 1:
        head += "".join(f"{'vs ' + runs[0]:>{width}}"[-width:] for _ in runs[1:])
    lines = [head, "-" * len(head)]
    for row in data["rows"]:
        line = f"{row['metric']:<32}" + "".join(f"{_cell(v):>{width}}" for v in row["values"])
        for ratio in row["ratios"][1:]:
            line += f"{'-' if ratio is None else f'{ratio:.2f}x':>{width}}"
        lines.append(line)
    notes = [
        f"{name}: INTERRUPTED (partial)"
        for name, complete in zip(runs, data.get("complete", []), strict=False)
        if not complete
    ]
    return "\n".join(lines + notes)
