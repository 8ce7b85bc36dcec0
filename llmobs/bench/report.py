"""A run's result: the JSON document (schema ``version`` 1, docs/bench.md) and the table.

The table reads like vLLM's ``bench serve`` summary, then adds what it does not show:
latency from the scheduled send time, schedule lag, the client's own health, short outputs,
chunks that carried several tokens, errors by kind, and the servers' view beside the
client's. Pure: builds dicts and strings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmobs.bench.metrics import Distribution, Summary
from llmobs.bench.runner import Health
from llmobs.bench.serverside import ServerView
from llmobs.secrets import display_url

SCHEMA_VERSION = 1
LAG_LIMIT_S = 0.010  # generator lateness (p99) past which a run measured its client


@dataclass(frozen=True)
class Verdict:
    saturated: bool
    reasons: list[str]
    loop_lag_p99: float | None
    loop_lag_max: float | None
    cpu_utilization: float | None
    problems: list[str]


def client_verdict(health: Health, summary: Summary) -> Verdict:
    """Whether the load generator itself was the bottleneck, and why."""
    reasons = []
    lag = np.asarray(health.loop_lag) if health.loop_lag else None
    p99 = float(np.percentile(lag, 99)) if lag is not None else None
    worst = float(lag.max()) if lag is not None else None
    cpu = (
        health.cpu_seconds / (health.wall_seconds * max(health.workers, 1))
        if health.wall_seconds
        else None
    )
    if p99 is not None and p99 > LAG_LIMIT_S:
        reasons.append(f"event-loop lag p99 {p99 * 1000:.1f} ms (timers fired late)")
    sched = summary.schedule_lag.percentiles.get(99.0)
    if sched is not None and sched > LAG_LIMIT_S:
        reasons.append(f"schedule lag p99 {sched * 1000:.1f} ms (requests sent late)")
    if cpu is not None and cpu > 0.9:
        reasons.append(f"load generator CPU at {cpu:.0%} of its cores")
    return Verdict(bool(reasons), reasons, p99, worst, cpu, list(health.problems))


def _ms(d: Distribution) -> dict[str, float | int | None]:
    def conv(v: float | None) -> float | None:
        return None if v is None else round(v * 1000, 4)

    out: dict[str, float | int | None] = {
        "count": d.count,
        "mean": conv(d.mean),
        "std": conv(d.std),
        "min": conv(d.min),
        "max": conv(d.max),
    }
    out.update({f"p{p:g}": conv(v) for p, v in d.percentiles.items()})
    return out


def _plain(d: Distribution) -> dict[str, float | int | None]:
    out: dict[str, float | int | None] = {
        "count": d.count,
        "mean": d.mean,
        "std": d.std,
        "min": d.min,
        "max": d.max,
    }
    out.update({f"p{p:g}": v for p, v in d.percentiles.items()})
    return out


def server_json(view: ServerView) -> dict[str, Any]:
    return {
        "url": view.url,
        "engine": view.engine,
        **{
            name.replace("_seconds", "_ms"): {
                "mean": _r(view.means.get(name)),
                **{f"p{q * 100:g}": _r(v) for q, v in qs.items()},
            }
            for name, qs in view.quantiles.items()
        },
        "observations": {k.replace("_seconds", ""): v for k, v in view.counts.items()},
        "kv_cache_usage": {"mean": view.kv_usage_mean, "max": view.kv_usage_max},
        "requests_waiting_max": view.waiting_max,
        "errors": view.errors,
    }


def result_json(
    *,
    config: dict[str, Any],
    summary: Summary,
    verdict: Verdict,
    servers: Sequence[ServerView],
    combined: ServerView | None,
    complete: bool,
    started_at: str,
    records_file: str,
    error_samples: list[str],
    gap: dict[str, dict[str, float | None]] | None = None,
) -> dict[str, Any]:
    s = summary
    doc: dict[str, Any] = {
        "version": SCHEMA_VERSION,
        "tool": "llmbench",
        "started_at": started_at,
        "complete": complete,
        "config": config,
        "records": records_file,
        "summary": {
            "completed": s.completed,
            "failed": s.failed,
            "cancelled": s.cancelled,
            "warmup": s.warmup,
            "duration_s": s.duration,
            "request_throughput": s.request_throughput,
            "input_throughput": s.input_throughput,
            "output_throughput": s.output_throughput,
            "total_throughput": s.total_throughput,
            "total_input_tokens": s.total_input_tokens,
            "total_output_tokens": s.total_output_tokens,
            "achieved_rate": s.achieved_rate,
            "goodput": s.goodput,
            "slo_attainment": s.slo_attainment,
            "peak_output_throughput": s.peak_output_throughput,
            "peak_concurrency": s.peak_concurrency,
            "new_connections": s.new_connections,
            "connect_ms": _ms(s.connect) if s.connect is not None else None,
            "ttft_ms": _ms(s.ttft),
            "tpot_ms": _ms(s.tpot),
            "itl_ms": _ms(s.itl),
            "e2el_ms": _ms(s.e2el),
            "ttft_from_schedule_ms": _ms(s.ttft_from_schedule),
            "e2el_from_schedule_ms": _ms(s.e2el_from_schedule),
            "schedule_lag_ms": _ms(s.schedule_lag),
            "client_queue_ms": _ms(s.client_queue),
            "input_tokens": _plain(s.input_lengths),
            "output_tokens": _plain(s.output_lengths),
            "short_outputs": s.short_outputs,
            "short_examples": s.short_examples,
            "chunks": s.chunks,
            "multi_token_chunks": s.multi_token_chunks,
            "errors": s.errors,
            "error_samples": error_samples,
        },
        "client": {
            "saturated": verdict.saturated,
            "reasons": verdict.reasons,
            "loop_lag_p99_ms": _r(verdict.loop_lag_p99),
            "loop_lag_max_ms": _r(verdict.loop_lag_max),
            "cpu_utilization": verdict.cpu_utilization,
            "problems": verdict.problems,
        },
        "servers": [server_json(v) for v in servers],
        "server_all": server_json(combined) if combined is not None else None,
    }
    if gap is not None:
        doc["gap_ms"] = gap
    return doc


def _r(v: float | None) -> float | None:
    return None if v is None else round(v * 1000, 4)


# -- the table ------------------------------------------------------------------------------
def _line(label: str, value: object) -> str:
    return f"{label:<44} {value}"


def _num(value: object, digits: int = 2) -> str:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "-" if value is None else str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "-"
    if value == 0:
        value = abs(value)  # no "-0.00"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _section(title: str) -> str:
    return f"{title:-^50}"


def _latency(
    name: str, unit_name: str, d: dict[str, Any], percentiles: Sequence[float]
) -> list[str]:
    lines = [
        _line(f"Mean {unit_name} (ms):", _num(d.get("mean"))),
        _line(f"Std {unit_name} (ms):", _num(d.get("std"))),
        _line(f"Median {unit_name} (ms):", _num(d.get("p50"))),
    ]
    lines += [
        _line(f"P{p:g} {unit_name} (ms):", _num(d.get(f"p{p:g}"))) for p in percentiles if p != 50.0
    ]
    return [_section(name), *lines]


def table(doc: dict[str, Any]) -> str:
    s = doc["summary"]
    c = doc["config"]
    given = c.get("percentiles")
    percentiles = (
        [p for p in given if isinstance(p, int | float) and not isinstance(p, bool)]
        if isinstance(given, list)
        else [50, 90, 95, 99]
    )
    out = [
        "{:=^50}".format(" Serving Benchmark Result "),
        _line("Target:", _url(c.get("target"))),
        _line("Successful requests:", s["completed"]),
        _line("Failed requests:", s["failed"]),
    ]
    if c.get("max_concurrency"):
        out.append(_line("Maximum request concurrency:", c["max_concurrency"]))
    out += [
        _line("Request rate configured (RPS):", c.get("request_rate")),
        _line(
            "Request rate achieved (RPS):",
            _num(s["achieved_rate"]) if c.get("request_rate") != "inf" else "- (all at once)",
        ),
        _line("Benchmark duration (s):", _num(s["duration_s"])),
        _line("Total input tokens:", _num(s["total_input_tokens"])),
        _line("Total generated tokens:", s["total_output_tokens"]),
        _line("Request throughput (req/s):", _num(s["request_throughput"])),
    ]
    if s["goodput"] is not None:
        out.append(_line("Request goodput (req/s):", _num(s["goodput"])))
        out.append(_line("Requests meeting the SLO:", _pct(s["slo_attainment"])))
    out += [
        _line("Output token throughput (tok/s):", _num(s["output_throughput"])),
        _line("Peak output token throughput (tok/s):", _num(s["peak_output_throughput"])),
        _line("Peak concurrent requests:", s["peak_concurrency"]),
        _line("Total token throughput (tok/s):", _num(s["total_throughput"])),
    ]
    out += _latency("Time to First Token", "TTFT", s["ttft_ms"], percentiles)
    out += _latency("Time per Output Token (excl. 1st token)", "TPOT", s["tpot_ms"], percentiles)
    out += _latency("Inter-token Latency", "ITL", s["itl_ms"], percentiles)
    out += _latency("End-to-end Latency", "E2EL", s["e2el_ms"], percentiles)
    out += [
        _section("From the scheduled send time"),
        _line(
            "Median / P99 TTFT (ms):",
            f"{_num(s['ttft_from_schedule_ms'].get('p50'))} / "
            f"{_num(s['ttft_from_schedule_ms'].get('p99'))}",
        ),
        _line(
            "Median / P99 E2EL (ms):",
            f"{_num(s['e2el_from_schedule_ms'].get('p50'))} / "
            f"{_num(s['e2el_from_schedule_ms'].get('p99'))}",
        ),
        _line(
            "Schedule lag median / P99 / max (ms):",
            f"{_num(s['schedule_lag_ms'].get('p50'), 3)} / "
            f"{_num(s['schedule_lag_ms'].get('p99'), 3)} / "
            f"{_num(s['schedule_lag_ms'].get('max'), 3)}",
        ),
    ]
    connect = s.get("connect_ms") or {}
    if s.get("new_connections"):
        out.append(
            _line(
                "New connections, connect median / P99 (ms):",
                f"{s['new_connections']}, {_num(connect.get('p50'))} / {_num(connect.get('p99'))}",
            )
        )
    if c.get("max_concurrency"):
        out.append(
            _line(
                "Client queue median / P99 (ms):",
                f"{_num(s['client_queue_ms'].get('p50'))} / "
                f"{_num(s['client_queue_ms'].get('p99'))}",
            )
        )
    out += [
        _section("Lengths"),
        _line("Input tokens mean / min / max:", _lengths(s["input_tokens"])),
        _line("Output tokens mean / min / max:", _lengths(s["output_tokens"])),
    ]
    out += _servers(doc)
    out.append("=" * 50)
    out += _warnings(doc)
    return "\n".join(out)


def _lengths(d: dict[str, Any]) -> str:
    return f"{_num(d.get('mean'), 1)} / {_num(d.get('min'), 0)} / {_num(d.get('max'), 0)}"


def _url(url: object) -> object:
    """A URL as a table shows it, whatever an older or edited file holds: no password."""
    return display_url(url) if isinstance(url, str) else url


def _servers(doc: dict[str, Any]) -> list[str]:
    server = _mapping(doc.get("server_all"))
    if not server:
        return []
    gap = _mapping(doc.get("gap_ms"))
    out = [_section("Server side (scraped /metrics)")]
    for key, label in (
        ("ttft_ms", "TTFT"),
        ("itl_ms", "ITL"),
        ("e2e_ms", "E2E"),
        ("queue_ms", "Queue time"),
    ):
        q = _mapping(server.get(key))
        out.append(
            _line(
                f"Server {label} p50 / p90 / p99 (ms):",
                f"{_num(q.get('p50'))} / {_num(q.get('p90'))} / {_num(q.get('p99'))}",
            )
        )
    for key, label in (("ttft", "TTFT"), ("itl", "ITL"), ("e2el", "E2E")):
        g = _mapping(gap.get(key))
        out.append(
            _line(
                f"Client minus server {label} mean/p50/p99:",
                f"{_num(g.get('mean'))} / {_num(g.get('p50'))} / {_num(g.get('p99'))}",
            )
        )
    kv = _mapping(server.get("kv_cache_usage"))
    out.append(
        _line("KV cache usage mean / max:", f"{_pct(kv.get('mean'))} / {_pct(kv.get('max'))}")
    )
    out.append(_line("Waiting requests max:", _num(server.get("requests_waiting_max"), 0)))
    return out


def _mapping(value: object) -> dict[str, Any]:
    """Optional parts of a saved result: what is not a mapping reads as empty."""
    return value if isinstance(value, dict) else {}


def _pct(v: object) -> str:
    if not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
        return "-"
    return f"{v:.1%}"


def _warnings(doc: dict[str, Any]) -> list[str]:
    s, client = doc["summary"], doc["client"]
    notes = []
    notes += [f"PROBLEM: {p}" for p in client.get("problems") or []]
    if doc.get("state") == "killed":
        notes.append(
            "KILLED: the run's process ended without writing its summary (result.json still "
            f"said running): these numbers are rebuilt from the {s['completed'] + s['failed']} "
            "request(s) in records.jsonl; requests in flight when it died are not counted."
        )
    elif doc.get("state") == "failed":
        notes.append(
            f"FAILED: {doc.get('error')}. Partial results, from the requests that finished "
            f"({s.get('cancelled', 0)} were cut off and are left out)."
        )
    elif not doc["complete"]:
        notes.append(
            "INTERRUPTED: partial results, from the requests that finished "
            f"({s.get('cancelled', 0)} were cut off and are left out)."
        )
    if client["saturated"]:
        notes.append(
            "CLIENT SATURATED: these numbers measure the load generator, not only "
            "the server (" + "; ".join(str(r) for r in client["reasons"]) + "). Use --workers or "
            "a lower rate."
        )
    if s["short_outputs"]:
        notes.append(
            f"{s['short_outputs']} request(s) got fewer output tokens than asked "
            f"(e.g. indexes {s['short_examples'][:5]}): the server stopped early."
        )
    if s["multi_token_chunks"]:
        notes.append(
            f"{s['multi_token_chunks']} of {s['chunks']} chunks carried more than one "
            "token: ITL is per chunk, TPOT per token."
        )
    elif s["multi_token_chunks"] is None:
        notes.append("The server did not report tokens per chunk; ITL is per chunk.")
    for server in doc.get("servers") or []:
        if isinstance(server, dict) and server.get("errors"):
            notes.append(f"Scraping {_url(server.get('url'))} failed: {server['errors'][0]}")
    if s["failed"]:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(s["errors"].items()))
        notes.append(f"{s['failed']} request(s) failed ({kinds}). First errors:")
        notes += [f"  {e}" for e in s["error_samples"][:3]]
    return notes
