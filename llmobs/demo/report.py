"""The demo's report: ``result.json`` (strict JSON) and ``report.md``, built from what the run
collected. Pure: ``document`` builds the JSON document, ``markdown`` the page from it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from llmobs.demo.configs import Settings
from llmobs.demo.state import Decision, Sample

SCHEMA_VERSION = 1
BENCH_FIELDS = ("completed", "failed", "request_throughput", "output_throughput")
BENCH_LATENCIES = ("ttft_ms", "tpot_ms", "e2el_ms")


def _values(samples: Sequence[Sample], role: str, name: str) -> list[Any]:
    return [
        getattr(r, name)
        for s in samples
        for r in s.roles
        if r.role == role and getattr(r, name) is not None
    ]


def role_summary(
    role: str, samples: Sequence[Sample], decided: Sequence[Decision]
) -> dict[str, Any]:
    """What happened to one role: its replicas' range, the decisions by reason, the changes
    the autoscaler applied, and the worst p90 latencies seen."""
    mine = [d for d in decided if d.role == role]
    spec, ready = _values(samples, role, "spec"), _values(samples, role, "ready")
    changes = [d for d in mine if d.desired != d.current]
    ttft, tpot = _values(samples, role, "ttft_p90_s"), _values(samples, role, "tpot_p90_s")
    return {
        "replicas": {
            "first": spec[0] if spec else None,
            "min": min(spec) if spec else None,
            "max": max(spec) if spec else None,
            "last": spec[-1] if spec else None,
            "ready_max": max(ready) if ready else None,
        },
        "decisions": len(mine),
        "reasons": dict(sorted(Counter(d.reason for d in mine).items())),
        "scale_ups": sum(1 for d in changes if d.desired > d.current and d.applied),
        "scale_downs": sum(1 for d in changes if d.desired < d.current and d.applied),
        "moved": bool(spec) and min(spec) != max(spec),
        "ttft_p90_max_s": max(ttft) if ttft else None,
        "tpot_p90_max_s": max(tpot) if tpot else None,
    }


def bench_summary(result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The numbers of llmbench's ``result.json`` the report shows (None: no result)."""
    if result is None or not isinstance(result.get("summary"), dict):
        return None
    summary = result["summary"]
    picked: dict[str, Any] = {k: summary.get(k) for k in BENCH_FIELDS}
    for name in BENCH_LATENCIES:
        stats = summary.get(name)
        stats = stats if isinstance(stats, dict) else {}
        picked[name] = {p: stats.get(p) for p in ("p50", "p90", "p99")}
    picked["complete"] = result.get("complete")
    return picked


def _without_role(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "role"}


def document(
    *,
    settings: Settings,
    started: float,
    elapsed_s: float,
    state: str,
    error: str | None,
    samples: Sequence[Sample],
    decided: Sequence[Decision],
    bench: Mapping[str, Any] | None,
    files: Mapping[str, Any],
    processes: Sequence[Mapping[str, Any]],
    prometheus_url: str | None,
    requests_planned: int,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """``result.json``: ``state`` is finished, interrupted or failed (``error`` says why)."""
    roles = sorted({r.role for s in samples for r in s.roles} | {d.role for d in decided})
    return {
        "schema_version": SCHEMA_VERSION,
        "tool": "llmobs demo",
        "started": started,
        "elapsed_s": elapsed_s,
        "state": state,
        "error": error,
        "settings": asdict(settings),
        "slo": settings.slo(),
        "requests_planned": requests_planned,
        "prometheus_url": prometheus_url,
        "roles": {role: role_summary(role, samples, decided) for role in roles},
        "bench": bench_summary(bench),
        "files": dict(files),
        "notes": list(notes),
        "processes": [dict(p) for p in processes],
        "samples": [
            {"t": s.t, "roles": {r.role: _without_role(asdict(r)) for r in s.roles}}
            for s in samples
        ],
        "decisions": [asdict(d) for d in decided if d.desired != d.current],
    }


def _cell(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3g}{unit}"
    return f"{value}{unit}"


def markdown(doc: Mapping[str, Any]) -> str:
    """``report.md`` from ``result.json``'s document."""
    lines = [
        "# llmobs demo",
        "",
        f"State: **{doc['state']}** after {doc['elapsed_s']:.0f} s"
        + (f" ({doc['error']})" if doc.get("error") else "")
        + f"; {doc['requests_planned']} requests planned.",
        "",
        "| role | SLO | replicas first / min / max / last | scale-ups | scale-downs | "
        "worst TTFT p90 | worst TPOT p90 | decisions by reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for role, item in doc["roles"].items():
        slo = ", ".join(f"{k} {v * 1000:g} ms" for k, v in doc["slo"].get(role, {}).items())
        replicas = item["replicas"]
        shown = " / ".join(_cell(replicas[k]) for k in ("first", "min", "max", "last"))
        reasons = ", ".join(f"{k} {v}" for k, v in item["reasons"].items()) or "-"
        lines.append(
            f"| {role} | {slo or '-'} | {shown} | {item['scale_ups']} | {item['scale_downs']} | "
            f"{_cell(item['ttft_p90_max_s'], ' s')} | {_cell(item['tpot_p90_max_s'], ' s')} | "
            f"{reasons} |"
        )
    bench = doc.get("bench")
    lines += ["", "## The load (llmbench)", ""]
    if bench is None:
        lines.append("llmbench wrote no result.")
    else:
        lines.append(
            f"{_cell(bench['completed'])} requests completed, {_cell(bench['failed'])} failed; "
            f"{_cell(bench['request_throughput'])} req/s, "
            f"{_cell(bench['output_throughput'])} output tokens/s."
        )
        lines.append("")
        lines.append("| latency | p50 | p90 | p99 |")
        lines.append("|---|---|---|---|")
        for name in BENCH_LATENCIES:
            stats = bench[name]
            cells = " | ".join(_cell(stats[p], " ms") for p in ("p50", "p90", "p99"))
            lines.append(f"| {name.removesuffix('_ms').upper()} | {cells} |")
    if doc.get("notes"):
        lines += [""] + [f"Note: {note}" for note in doc["notes"]]
    changes = doc["decisions"]
    lines += ["", "## Replica changes decided", ""]
    lines += [
        f"- {d['role']}: {d['current']} -> {d['desired']} ({d['reason']}: {d['detail']})"
        + ("" if d["applied"] else " (not applied)")
        for d in changes
    ] or ["None."]
    lines += ["", "## Files (in this folder)", ""]
    for name, value in doc["files"].items():
        items = value if isinstance(value, list) else [value]
        lines += [f"- {name}: `{item}`" for item in items if item is not None]
    return "\n".join(lines) + "\n"
