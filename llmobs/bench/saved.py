"""Saved runs read back for ``llmbench report`` and ``llmbench compare``: defensively.

A run folder may be what a killed process left (``result.json`` still ``"state": "running"``,
no summary), may have lost its ``records.jsonl``, or may hold a records file with a bad line
in it. None of these refuses the run: the summary is rebuilt from the records when it is
missing, the saved summary is used when the records are, bad lines are skipped and counted,
and every such thing is a warning the command prints. Only a ``result.json`` that is not a
llmbench result (or lacks a key the report reads) is an error, naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmobs import strictjson
from llmobs.bench.harness import RECORDS_FILE, RESULT_FILE, Run
from llmobs.bench.metrics import parse_slo, summarize
from llmobs.bench.records import RequestRecord
from llmobs.bench.report import SCHEMA_VERSION, client_verdict, result_json
from llmobs.bench.runner import Health
from llmobs.bench.serverside import series_from_json
from llmobs.errors import ConfigError

KILLED = "killed"
SHOWN_LINES = 5  # bad line numbers named in the warning


# -- what llmobs.bench.report.table reads ----------------------------------------------------
_NUMBER = (int, float)
_MAYBE_NUMBER = (int, float, type(None))
# Every key the table reads, and what it must hold: a saved file that lacks one (edited, cut,
# another tool's) gets a message naming it, not a KeyError.
REQUIRED: tuple[tuple[str, str, tuple[type, ...]], ...] = (
    *(("", key, (dict,)) for key in ("config", "summary", "client")),
    ("", "complete", (bool,)),
    *(("summary", key, _NUMBER) for key in ("completed", "failed", "total_output_tokens")),
    *(
        ("summary", key, _MAYBE_NUMBER)
        for key in (
            "achieved_rate",
            "duration_s",
            "total_input_tokens",
            "request_throughput",
            "goodput",
            "slo_attainment",
            "output_throughput",
            "peak_output_throughput",
            "peak_concurrency",
            "total_throughput",
            "short_outputs",
            "chunks",
            "multi_token_chunks",
        )
    ),
    *(
        ("summary", key, (dict,))
        for key in (
            "ttft_ms",
            "tpot_ms",
            "itl_ms",
            "e2el_ms",
            "ttft_from_schedule_ms",
            "e2el_from_schedule_ms",
            "schedule_lag_ms",
            "client_queue_ms",
            "input_tokens",
            "output_tokens",
            "errors",
        )
    ),
    *(("summary", key, (list,)) for key in ("short_examples", "error_samples")),
    ("client", "saturated", (bool,)),
    ("client", "reasons", (list,)),
)
_KINDS = {dict: "a mapping", list: "a list", bool: "true or false", int: "a number"}


def missing_key(doc: dict[str, Any]) -> str | None:
    """The first key the table needs that ``doc`` lacks (or holds the wrong kind of value
    in), as ``summary.ttft_ms (a mapping)``; None when the table can be drawn."""
    for parent, key, kinds in REQUIRED:
        holder = doc.get(parent) if parent else doc
        if not isinstance(holder, dict):
            continue  # the parent is reported first
        found = holder.get(key, ...)
        if (
            found is ...
            or not isinstance(found, kinds)
            or (kinds == _NUMBER and isinstance(found, bool))
        ):
            return f"{parent + '.' if parent else ''}{key} ({_KINDS.get(kinds[0], 'a number')})"
    return None


@dataclass
class Saved:
    run: Run
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Records:
    records: list[RequestRecord]
    bad_lines: list[int]  # 1-based numbers of the lines that were not records


def parse_records(lines: list[str]) -> Records:
    """The records in ``lines``; a line that is not one is skipped and its number kept."""
    records, bad = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            strictjson.loads(line)  # NaN/Infinity are not numbers a record holds
            records.append(RequestRecord.from_json(line))
        except (ValueError, TypeError, AttributeError, KeyError, RecursionError):
            bad.append(number)
    return Records(records, bad)


def _bad_lines_warning(path: Path, bad: list[int], total: int) -> str:
    shown = ", ".join(str(n) for n in bad[:SHOWN_LINES])
    more = f" and {len(bad) - SHOWN_LINES} more" if len(bad) > SHOWN_LINES else ""
    cut = " (the last line: cut off when the run was killed)" if bad == [total] else ""
    return (
        f"{path}: skipped {len(bad)} line(s) that are not llmbench records "
        f"(line {shown}{more}){cut}; the rest are used"
    )


def _read_document(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read {file}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{file} is not text: is it a llmbench result.json?") from None
    try:
        doc = strictjson.loads(text)
    except RecursionError:
        raise ConfigError(f"{file} is not a llmbench result (nested too deeply)") from None
    except ValueError as exc:
        raise ConfigError(f"{file} is not JSON ({exc}): is it a llmbench result?") from None
    if not isinstance(doc, dict) or doc.get("tool") != "llmbench":
        raise ConfigError(f'{file} is not a llmbench result (no "tool": "llmbench")')
    if doc.get("version") != SCHEMA_VERSION:
        raise ConfigError(
            f"{file} has result schema version {doc.get('version')}; this llmbench reads "
            f"version {SCHEMA_VERSION}"
        )
    return doc


def load_saved(path: Path) -> Saved:
    """A saved run (its folder or its result.json) and what the reader should be warned of.

    Raises:
        ConfigError: the file is missing, not a llmbench result of this schema version, or
            lacks a key the report reads (the message names the key and the file).
    """
    file = path / RESULT_FILE if path.is_dir() else path
    doc = _read_document(file)
    warnings: list[str] = []
    records_path = file.parent / str(doc.get("records") or RECORDS_FILE)
    try:
        lines = records_path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        lines = None
        has_summary = isinstance(doc.get("summary"), dict)
        warnings.append(
            f"cannot read {records_path} ({exc.strerror or exc}): "
            + (
                "the numbers below are result.json's summary; plots need the records"
                if has_summary
                else "the run has no summary either, so nothing it measured is left"
            )
        )
    read = parse_records(lines) if lines is not None else Records([], [])
    if read.bad_lines:
        warnings.append(_bad_lines_warning(records_path, read.bad_lines, len(lines or [])))
    if "summary" not in doc:
        doc = _rebuild(doc, read.records)
    problem = missing_key(doc)
    if problem is not None:
        raise ConfigError(
            f"{file} has no {problem!r}: it is not a whole llmbench result (was it edited "
            "or cut short?)"
        )
    series = [series_from_json(s) for s in doc.get("server_series", []) if isinstance(s, dict)]
    return Saved(Run(doc, file.parent, read.records, series), warnings)


def _rebuild(doc: dict[str, Any], records: list[RequestRecord]) -> dict[str, Any]:
    """A summary for a run killed before it could write one (``state`` ``"killed"``), whose
    result could not be written (``"failed"``, its ``error`` kept), or that was interrupted
    before its first request (``"interrupted"``)."""
    config = doc.get("config")
    if not isinstance(config, dict):
        config = {}
    try:
        slo = parse_slo(str(config["slo"])) if config.get("slo") else None
    except ConfigError:
        slo = None  # a bad SLO in an edited file: no goodput, the rest still reads
    given = config.get("percentiles")
    percentiles: tuple[float, ...] = (50.0, 90.0, 95.0, 99.0)
    if isinstance(given, list) and given and all(_percentile(p) for p in given):
        percentiles = tuple(float(p) for p in given)
    summary = summarize(records, slo, percentiles)
    rebuilt = result_json(
        config=config,
        summary=summary,
        verdict=client_verdict(Health(), summary),
        servers=[],
        combined=None,
        complete=False,
        started_at=str(doc.get("started_at", "")),
        records_file=str(doc.get("records") or RECORDS_FILE),
        error_samples=[r.error for r in records if r.error and r.error_kind != "cancelled"][:3],
    )
    # failed: its result could not be written; interrupted: before the first request
    kept = doc.get("state") in ("failed", "interrupted")
    rebuilt["state"] = doc["state"] if kept else KILLED
    if doc.get("error"):
        rebuilt["error"] = str(doc["error"])
    return rebuilt


def _percentile(p: object) -> bool:
    return isinstance(p, int | float) and not isinstance(p, bool) and 0 < p < 100
