"""``llmbench sweep``'s loop and its ``sweep.json``: runs one point after another (a list of
rates or concurrencies, or the SLO search of ``llmobs.bench.sweep``), each a benchmark of its
own in a folder of its own, and keeps the document of the points up to date on disk.

How one point runs (against a server, or the emulator started for it) is the caller's, given
as a function, and so are the messages; this module decides what runs next, records what each
point measured, and says why the sweep ended.

``sweep.json`` (version 1)::

    {"version": 1, "tool": "llmbench-sweep", "kind": "rate" | "concurrency",
     "points": [POINT, ...],                      # in the order they ran
     "search": {"slo": "...", "attainment": 0.9,  # only for --search
                "answer": RATE | null, "reason": "..."},
     "stopped": null | "interrupted" | "WHY"}     # why the sweep ended early

Each POINT is ``llmobs.bench.sweep.point`` (or ``failed_point`` for a point that could not
run): the swept value ``x``, the run's folder, whether its client was saturated, and its
headline numbers; ``error`` for a point that could not run or whose run failed (a write
refused, a worker died), which ends the sweep as a failure, not as an interrupt. A search
never decides on a saturated point: it measures that rate once more (the next folder is
``rate-X-again``), and stops if the client is saturated again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from llmobs import strictjson
from llmobs.bench.config import RunConfig
from llmobs.bench.harness import Run
from llmobs.bench.sweep import Search, decided, failed_point, next_rate, passes, point
from llmobs.errors import ConfigError, LlmobsError
from llmobs.interrupts import noted

SWEEP_FILE = "sweep.json"
SEARCH_DURATION_S = 60.0  # each search point, when neither --duration nor --num-prompts is set
INTERRUPTED = "interrupted"
FAILED = "failed"  # a run's state when a write was refused or a worker died

Kind = Literal["rate", "concurrency"]
RunPoint = Callable[[RunConfig, Path], Run]


@dataclass(frozen=True)
class Plan:
    """What to sweep: the values in order, or (``search`` set) the SLO search."""

    kind: Kind
    values: tuple[float, ...] = ()
    search: Search | None = None


def point_config(
    cfg: RunConfig, kind: Kind, x: float, index: int, again: bool = False
) -> RunConfig:
    """The sweep's config at one point: its rate or concurrency, its own seed (no prompt is
    repeated from an earlier point, so no prefix-cache hits between points), and its label
    (the folder's name; ``-again`` for a point measured a second time).

    Raises:
        ConfigError: the point's config is invalid (a concurrency below --workers).
    """
    label = f"{kind}-{x:g}" + ("-again" if again else "")
    update: dict[str, Any] = {"seed": cfg.seed + index, "label": label}
    if kind == "rate":
        update["request_rate"] = x
    else:
        update["max_concurrency"] = int(x)
    data = cfg.model_dump(exclude_unset=True) | update
    try:
        return RunConfig.model_validate(data)
    except ValueError as exc:
        raise ConfigError(f"at {kind} {x:g}: {exc}") from None


def new_document(plan: Plan, slo: str | None) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": 1, "tool": "llmbench-sweep", "kind": plan.kind, "points": []}
    if plan.search is not None:
        doc["search"] = {
            "slo": slo,
            "attainment": plan.search.attainment,
            "answer": None,
            "reason": None,
        }
    return doc


def run_failure(doc: dict[str, Any]) -> str | None:
    """Why a point's run failed (``"state": "failed"``: a write refused, a worker died), or
    None for a run that finished or was interrupted."""
    if doc.get("state") != FAILED:
        return None
    return str(doc.get("error") or "the run failed (see its result.json)")


def answer(search: Search, points: list[dict[str, Any]]) -> float | None:
    """The highest rate whose requests met the SLO often enough, measured with a client that
    kept up (a saturated point decides nothing), or None."""
    good = [x for x, attainment in decided(points) if passes(search, attainment)]
    return max(good) if good else None


def saturation(points: list[dict[str, Any]]) -> str | None:
    """Why a search must stop: its last point and the one before, at the same rate, were
    both measured with a saturated client. None while it may go on."""
    if len(points) < 2 or not all(p["saturated"] for p in points[-2:]):
        return None
    last, before = points[-1], points[-2]
    if last["x"] != before["x"]:
        return None
    reasons = "; ".join(last["saturated_reasons"]) or "see its result"
    return (
        f"at {last['x']:g} req/s the load generator was saturated twice ({reasons}): the "
        "search cannot tell the server's limit from the client's; rerun with --workers N "
        "(more load-generator processes) or a smaller --isl/--osl"
    )


def _next(plan: Plan, doc: dict[str, Any], index: int, say: Callable[[str], None]) -> float | None:
    if plan.search is None:
        return plan.values[index] if index < len(plan.values) else None
    step = next_rate(plan.search, decided(doc["points"]))
    say(step.reason)
    if step.rate is None:
        doc["search"]["reason"] = step.reason
    return step.rate


def run_sweep(
    cfg: RunConfig, plan: Plan, run_point: RunPoint, out_dir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """Run the plan's points into ``out_dir`` (one folder each, named by the point's label)
    and return the finished ``sweep.json`` document, which is also written there after every
    point. A point that cannot start or whose run fails ends the sweep with the points so far
    (``stopped`` says which point and why), as does Ctrl-C (``stopped`` is ``"interrupted"``)
    and a ``sweep.json`` that cannot be written (``stopped`` says so; the document returned
    is whole).

    Raises:
        ConfigError: a point's config is invalid (nothing of that point ran).
    """
    doc = new_document(plan, cfg.slo)
    stopped: str | None = None
    index = 0
    while (x := _next(plan, doc, index, say)) is not None:
        again = any(p["x"] == x for p in doc["points"])  # only a saturated point is rerun
        point_cfg = point_config(cfg, plan.kind, x, index, again)
        label = str(point_cfg.label)
        say(f"-- {plan.kind} {x:g} --")
        try:
            result = run_point(point_cfg, out_dir / label)
        except KeyboardInterrupt:
            noted()
            stopped = INTERRUPTED
            break
        except LlmobsError as exc:
            say(f"error: {exc}")
            doc["points"].append(failed_point(x, label, str(exc)))
            stopped = f"{plan.kind} {x:g} could not run: {exc}"
            break
        measured = point(x, result.doc, label)
        failure = run_failure(result.doc)
        if failure is not None:
            measured["error"] = failure
        doc["points"].append(measured)
        unsaved = save(out_dir / SWEEP_FILE, doc)
        index += 1
        if failure is not None or unsaved is not None:
            stopped = f"{plan.kind} {x:g} failed: {failure}" if failure else unsaved
            say(f"error: {stopped}")
            break
        if not result.complete:
            stopped = INTERRUPTED
            break
        if plan.search is not None and measured["saturated"]:
            stopped = saturation(doc["points"])
            if stopped is not None:
                say(f"error: {stopped}")
                break
            say(
                f"{plan.kind} {x:g}: the client was saturated "
                f"({'; '.join(measured['saturated_reasons'])}): this point does not decide "
                "the search; measuring it once more"
            )
    if plan.search is not None:
        doc["search"]["answer"] = answer(plan.search, doc["points"])
    doc["stopped"] = stopped
    unsaved = save(out_dir / SWEEP_FILE, doc)
    if unsaved is not None and stopped is None:
        doc["stopped"] = unsaved  # the caller says so, and exits 1
    return doc


def save(path: Path, doc: dict[str, Any]) -> str | None:
    """Write ``sweep.json``; why it could not be written (a full disk), or None."""
    try:
        strictjson.write(path, doc)
    except OSError as exc:
        return f"cannot write {path}: {exc.strerror or exc}"
    return None
