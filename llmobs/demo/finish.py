"""The end of a demo run, whatever ended it: the board previews while Prometheus still runs,
every child stopped, the replicas PNG, ``result.json`` and ``report.md``, and the summary.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, TextIO

from llmobs import exitcodes, strictjson
from llmobs.demo import load, report
from llmobs.demo.run import Run
from llmobs.demo.stack import Stack
from llmobs.errors import LlmobsError

PREVIEW_MARGIN_S = 30.0  # the boards' range: the run and the start-up before it


def previews(run: Run) -> list[str]:
    """Each board drawn from the run's Prometheus (``llmobs.dashboards.preview``); the
    paths written. A failure is a note in the report, not the demo's failure."""
    if run.prometheus_url is None:
        return []
    try:
        from llmobs.dashboards.preview import render_all
    except ImportError as exc:  # the boards are not in this version
        run.notes.append(f"board previews: not available ({exc})")
        return []
    try:
        drawn = render_all(
            run.prometheus_url,
            run.folder / "previews",
            duration=time.time() - run.started + PREVIEW_MARGIN_S,
            scrape_interval=run.settings.scrape_interval_s,
        )
    except (LlmobsError, OSError) as exc:
        run.notes.append(f"board previews: {exc}")
        return []
    return [str(p.path.relative_to(run.folder)) for p in drawn]


def bench_result(folder: Path) -> dict[str, Any] | None:
    """llmbench's ``result.json`` (None: it wrote none, or not one we can read)."""
    try:
        document = strictjson.loads((folder / "bench" / "result.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def finish(stack: Stack, run: Run, outcome: str, error: str | None, code: int, say: TextIO) -> int:
    """Stop everything, write the report; the exit status (``code``, or 1 when llmbench
    failed in a run that otherwise finished)."""
    drawn = previews(run) if outcome == "finished" else []
    stack.stop()
    bench = bench_result(run.folder)
    if outcome == "finished" and (bench is None or bench.get("state") == "failed"):
        outcome, code = "failed", exitcodes.FAILURE
        error = f"llmbench did not finish its run (log: {run.folder / 'logs' / 'llmbench.log'})"
    folder = run.folder
    files: dict[str, Any] = {  # relative to the run folder: it can be moved or shared whole
        "report": "report.md",
        "result": "result.json",
        "bench": "bench" if bench is not None else None,
        "plots": sorted(str(p.relative_to(folder)) for p in (folder / "plots").glob("*.png")),
        "previews": drawn,
        "logs": "logs",
    }
    if run.samples:
        from llmobs.demo.plots import replicas_png

        png = run.folder / "replicas.png"
        replicas_png(run.samples, run.settings.slo(), lambda t: load.rate_at(run.shape, t), png)
        files["replicas"] = png.name
    document = report.document(
        settings=run.settings,
        started=run.started,
        elapsed_s=time.time() - run.started,
        state=outcome,
        error=error,
        samples=run.samples,
        decided=run.decided,
        bench=bench,
        files=files,
        processes=stack.processes(),
        prometheus_url=run.prometheus_url,
        requests_planned=len(load.arrivals(run.shape, run.settings.seed)),
        notes=run.notes,
    )
    strictjson.write(run.folder / "result.json", document)
    (run.folder / "report.md").write_text(report.markdown(document), encoding="utf-8")
    say.write("\n")
    if error is not None:
        say.write(f"error: {error}\n")
    if outcome == "interrupted":
        say.write("interrupted: every process stopped; the partial report is written\n")
    for role, item in document["roles"].items():
        replicas = item["replicas"]
        say.write(
            f"{role}: replicas {replicas['first']} -> max {replicas['max']} -> "
            f"{replicas['last']}; {item['scale_ups']} up, {item['scale_downs']} down\n"
        )
    say.write(f"report: {run.folder / 'report.md'} (and result.json, PNGs, logs)\n")
    say.flush()
    return code
