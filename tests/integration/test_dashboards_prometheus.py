"""Every query of every board, run on a real Prometheus as Grafana runs it.

The stack (``tests.dashstack``): vLLM (both naming generations) and SGLang emulators in PD
mode, the exporter, the autoscaler and Prometheus 2.42 scraping them every second. Once a
whole window of history is stored, a load goes through each deployment and settles; then
every target of every board is interpolated (``llmobs.dashboards.variables``) and sent to
``/api/v1/query_range`` or ``/api/v1/query`` (``llmobs.dashboards.queries.run``): each must
parse and return data, and the main panels must equal the exporter's ``/v1/roles``.

Why values may differ, and the tolerance: the checks run the boards with ``$__rate_interval``
equal to the exporter's window (step ``WINDOW - SCRAPE``) at the time of the ``/v1/roles``
snapshot, after the load has settled and with the whole load inside both windows. Then
quantiles and gauges are the same numbers (the exporter's gauges as Prometheus stored them,
or PromQL's bucket interpolation over the same increase), compared to 1e-9. Rates differ by
window alignment. The exporter divides the window's increase by the span of its snapshots,
which moves between the window and one exporter interval more from tick to tick (more when a
tick is late on a loaded machine), so its rate gauge as Prometheus last stored it and
``/v1/roles`` a moment later differ by about interval / window (1.3 %; 5 % allowed).
Prometheus's ``rate()`` extrapolates the increase seen between its first and last sample in
the range to the range's end and divides by the range: up to two scrape intervals over the
window, hence 8 %. Three long requests per deployment keep decoding through the checks, so
that running requests and KV usage are not compared at zero: running is constant (exact); KV
usage grows by about 1.5 % a second and Prometheus's copy can be a scrape plus an exporter
interval older than ``/v1/roles`` (10 % allowed). Measured: rates within 1.8 %; quantiles,
running requests and KV usage equal.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from llmobs import names, promql, signals
from llmobs.dashboards import boards, queries
from llmobs.dashboards.queries import Result
from tests.dashstack import (
    ENGINES,
    GPU_BUDGET,
    NAMESPACE,
    SCRAPE,
    WINDOW,
    Stack,
    close_to,
    hold,
    load,
    scraped_since,
    settled,
    started,
    window_filled,
)
from tests.servers import wait_until

STEP = WINDOW - SCRAPE  # $__rate_interval = max(step + scrape, 4 x scrape) = the window
RATE_TOLERANCE = 0.08  # Prometheus's rate() against the exporter's
SPAN_TOLERANCE = 0.05  # the exporter's rate from tick to tick
KV_TOLERANCE = 0.1  # KV usage grows while the held requests decode
EXACT = 1e-9
M = tuple(promql.re_(label, "$" + label) for label in names.ROLE_LABELS)
BY = names.ROLE_LABELS


def _variable(name: str, all_value: str | None) -> dict[str, Any]:
    query = f"label_values({names.ROLE_REPLICAS.name}, {name})"
    variable = {"name": name, "type": "query", "query": {"query": query, "refId": "A"}}
    extra = {"multi": True, "includeAll": True, "current": {"value": ["$__all"]}}
    return {**variable, **extra, **({"allValue": all_value} if all_value else {})}


def _panel(pid: int, title: str, kind: str, *exprs: str, instant: bool = False) -> dict[str, Any]:
    targets = [
        {"refId": chr(65 + i), "expr": e, "legendFormat": "{{role}}", "instant": instant}
        for i, e in enumerate(exprs)
    ]
    return {"id": pid, "title": title, "type": kind, "targets": targets}


def _small_board() -> dict[str, Any]:
    """A board shaped as D1's: query variables (All as ``.*``; ``role`` without an allValue,
    so All is its options), targets over ``$__rate_interval``, a collapsed row's panels."""
    rate = promql.counter_rate(signals.REQUESTS.name, "$__rate_interval", *M, by=BY)
    p90 = "max by (namespace, group, role, model) ({})"
    nested = promql.quantile(signals.TTFT.name, 0.9, "$__rate_interval", *M, by=BY)
    tpot = promql.role_quantile("tpot_seconds", 0.9, *M)
    return {
        "uid": "llmobs-small",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                *(_variable(n, ".*") for n in (names.NAMESPACE, names.GROUP, names.MODEL)),
                _variable(names.ROLE, None),
            ]
        },
        "panels": [
            _panel(1, "Request rate", "timeseries", rate),
            _panel(2, "TPOT p90", "stat", p90.format(tpot), instant=True),
            {
                "id": 3,
                "type": "row",
                "title": "Collapsed",
                "collapsed": True,
                "panels": [_panel(4, "TTFT p90 from buckets", "timeseries", nested)],
            },
        ],
    }


@dataclass(frozen=True)
class Main:
    """What a main panel must show for one role: a /v1/roles value, within a tolerance."""

    value: Any  # (role document) -> float | None
    tolerance: float


def _quantile(signal: str) -> Any:
    def get(role: Mapping[str, Any]) -> float | None:
        found = role["latency"][signal]
        return None if found is None else found["quantiles"]["0.9"]

    return get


# (panel title, refId) of the small board -> the /v1/roles value for the role selected
SMALL_MAIN = {
    ("Request rate", "A"): Main(lambda r: r["request_rate"], RATE_TOLERANCE),
    ("TPOT p90", "A"): Main(_quantile("tpot_seconds"), EXACT),
    ("TTFT p90 from buckets", "A"): Main(_quantile("ttft_seconds"), EXACT),
}


@dataclass(frozen=True)
class Observed:
    stack: Stack
    roles: list[dict[str, Any]]  # /v1/roles after the load settled
    at: float  # its timestamp: where the boards are evaluated


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    with started(tmp_path_factory.mktemp("dashboards")) as stack:
        wait_until(lambda: window_filled(stack), 120, "a full window of history")
        loaded = time.time()
        load(stack)
        hold(stack)
        wait_until(lambda: settled(stack), 60, "every request in the exporter and Prometheus")
        # Prometheus reads the engines directly too: a scrape of each after the settled state.
        moment = time.time()
        wait_until(lambda: scraped_since(stack, moment), 30, "a scrape of every target")
        document = stack.exporter.roles()
        at = float(document["timestamp"])
        assert at - WINDOW < loaded - 3 * SCRAPE, "the load took longer than a window: CPU starved"
        yield Observed(stack, document["roles"], at)


def _run(
    observed: Observed, board: Mapping[str, Any], chosen: Mapping[str, Sequence[str]]
) -> list[Result]:
    start = observed.at - 4 * STEP  # points every step, the last one at the snapshot
    url = observed.stack.prometheus.url
    return queries.run(
        board, url, chosen, start, observed.at, STEP, scrape_interval=SCRAPE, align=False
    )


def _has_data(result: Result) -> bool:
    return any(v is not None for s in result.series for _, v in s.points)


def _problems(results: list[Result]) -> list[str]:
    return [
        f"{r.target.board_uid} panel {r.target.panel_id} {r.target.panel_title!r} "
        f"{r.target.ref_id}: {r.error or 'no data'}\n    {r.query}"
        for r in results
        if r.error is not None or not _has_data(r)
    ]


def test_every_target_parses_and_returns_data(observed: Observed) -> None:
    board = _small_board()
    results = _run(observed, board, {})
    assert len(results) == len(queries.targets(board)) == 3
    assert not _problems(results), "\n".join(_problems(results))
    # All without an allValue is the options Prometheus's label API gave, as a regex.
    rate = next(r for r in results if r.target.panel_title == "Request rate")
    assert 'role=~"(decode|prefill)"' in rate.query and 'group=~".*"' in rate.query
    assert f"[{promql.duration(WINDOW)}]" in rate.query
    assert {s.labels[names.GROUP] for s in rate.series} == {"vllm", "vllm-v011", "sglang"}


def _last(result: Result, role: Mapping[str, Any], at: float) -> float | None:
    """The panel's value at the snapshot for ``role``: its one series matching the role."""
    keys = (names.NAMESPACE, names.GROUP, names.ROLE)
    matching = [s for s in result.series if all(s.labels.get(k, role[k]) == role[k] for k in keys)]
    assert len(matching) <= 1, (result.query, matching)
    if not matching:
        return None
    when, value = matching[0].points[-1]
    assert abs(when - at) < 0.01, (when, at, result.query)
    return value


def _compare_per_role(
    observed: Observed, board: Mapping[str, Any], table: Mapping[tuple[str, str], Main]
) -> int:
    """Run ``board`` for each role alone and check ``table``'s panels; how many were not None."""
    mismatches = []
    compared = 0
    for role in observed.roles:
        chosen = {
            names.NAMESPACE: [NAMESPACE],
            names.GROUP: [role["group"]],
            names.ROLE: [role["role"]],
        }
        results = {
            (r.target.panel_title, r.target.ref_id): r for r in _run(observed, board, chosen)
        }
        assert set(table) <= set(results), set(table) - set(results)
        for key, main in table.items():
            theirs = _last(results[key], role, observed.at)
            ours = main.value(role)
            compared += ours is not None
            if not close_to(theirs, ours, main.tolerance):
                group, name = role["group"], role["role"]
                mismatches.append((group, name, key, ours, theirs, results[key].query))
    assert not mismatches, "\n".join(map(str, mismatches))
    return compared


def test_main_panels_equal_the_exporters_roles(observed: Observed) -> None:
    assert _compare_per_role(observed, _small_board(), SMALL_MAIN) >= 2 * len(observed.roles)


def _role_of(*allowed: str) -> Any:
    """A /v1/roles field shown only for some roles (requests at decode, prompts at prefill)."""

    def restrict(field: Any) -> Any:
        return lambda r: field(r) if r["role"] in allowed else None

    return restrict


# (panel title, refId) of the serving board -> the /v1/roles value for the role selected
SERVING_MAIN = {
    ("Requests / s", "A"): Main(
        _role_of("decode", "both")(lambda r: r["request_rate"]), SPAN_TOLERANCE
    ),
    ("Input tokens / s", "A"): Main(
        _role_of("prefill", "both")(lambda r: r["prompt_tokens_rate"]), SPAN_TOLERANCE
    ),
    ("TTFT p90", "A"): Main(_quantile("ttft_seconds"), EXACT),
    ("TPOT p90", "A"): Main(_quantile("tpot_seconds"), EXACT),
    ("KV cache, fullest replica", "A"): Main(
        lambda r: r["kv_cache_usage_ratio"]["max"], KV_TOLERANCE
    ),
    ("Waiting requests", "A"): Main(lambda r: r["requests_waiting"], EXACT),
    ("Running requests", "A"): Main(lambda r: r["requests_running"], EXACT),
    ("Time to first token", "B"): Main(_quantile("ttft_seconds"), EXACT),
    ("Time per output token", "B"): Main(_quantile("tpot_seconds"), EXACT),
    ("Requests / s by role", "A"): Main(lambda r: r["request_rate"], RATE_TOLERANCE),
}


# Series of engine versions the emulator does not emulate (vLLM 0.32 and 0.11, SGLang 0.5.4):
# a target reading only these must parse, and they must really be absent (else this is stale).
NOT_EMULATED = {
    "vllm:gpu_prefix_cache_hit_rate": "vLLM V0's gauge, gone from V1",
    "sglang:request_time_per_output_token_seconds": "not in SGLang 0.5.4's /metrics",
    "sglang:num_retracted_requests_total": "SGLang 0.5.7 or newer",
}


def _not_emulated(result: Result) -> str | None:
    """The not-emulated series that the target reads, if it reads one."""
    return next((s for s in NOT_EMULATED if s in result.query), None)


def test_every_target_of_every_board_parses_and_returns_data(observed: Observed) -> None:
    problems = []
    excused = set()
    for name, board in boards().items():
        results = _run(observed, board, {})
        assert len(results) == len(queries.targets(board)) > 0, name
        for result in results:
            series = _not_emulated(result)
            if series is not None and result.error is None and not _has_data(result):
                excused.add(series)
            else:
                problems += _problems([result])
    assert not problems, f"{len(problems)} targets failed:\n" + "\n".join(problems)
    for series in excused:
        assert not observed.stack.query(f'count({{__name__=~"{series}(_bucket|_count)?"}})')
    assert excused <= set(NOT_EMULATED)


def test_serving_main_panels_equal_the_exporters_roles(observed: Observed) -> None:
    board = boards()["llmobs-serving.json"]
    assert _compare_per_role(observed, board, SERVING_MAIN) >= 6 * len(observed.roles)


# The engine-native board's stats (title after the engine's name) -> the /v1/roles value.
ENGINE_MAIN = {
    ("{} TTFT p90", "A"): Main(_quantile("ttft_seconds"), EXACT),
    ("{} waiting", "A"): Main(lambda r: r["requests_waiting"], EXACT),
    ("{} KV cache, fullest", "A"): Main(lambda r: r["kv_cache_usage_ratio"]["max"], KV_TOLERANCE),
    ("{} requests / s", "A"): Main(lambda r: r["request_rate"], RATE_TOLERANCE),
}
ENGINE_TITLES = {"vllm": "vLLM", "sglang": "SGLang"}


def test_engine_board_per_instance_equals_the_exporters_roles(observed: Observed) -> None:
    """The raw vLLM (both generations) and SGLang series, queried per instance, give the
    canonical numbers the exporter computed from the same engines."""
    board = boards()["llmobs-engines.json"]
    mismatches = []
    compared = 0
    for role in observed.roles:
        (target,) = [
            t
            for t in observed.stack.targets
            if (t["group"], t["role"]) == (role["group"], role["role"])
        ]
        instance = target["url"].removeprefix("http://").removesuffix("/metrics")
        results = {
            (r.target.panel_title, r.target.ref_id): r
            for r in _run(observed, board, {"instance": [instance]})
        }
        engine = ENGINE_TITLES[ENGINES[role["group"]].engine]
        for (title, ref), main in ENGINE_MAIN.items():
            result = results[title.format(engine), ref]
            series = [s for s in result.series if s.points]
            theirs = series[0].points[-1][1] if series else None
            ours = main.value(role)
            compared += ours is not None
            if not close_to(theirs, ours, main.tolerance):
                mismatches.append((role["group"], role["role"], title, ours, theirs, result.query))
    assert not mismatches, "\n".join(map(str, mismatches))
    assert compared >= 3 * len(observed.roles)


def test_autoscaler_board_equals_the_autoscalers_decisions(observed: Observed) -> None:
    """Replicas per role and GPUs against the budget, as the autoscaler's latest decisions
    (it holds: the loose SLOs are met) and its configured budget say."""
    with urllib.request.urlopen(f"http://{observed.stack.autoscaler_url}/v1/decisions") as r:
        latest = {role: found[-1] for role, found in json.load(r)["roles"].items()}
    results = {
        (r.target.panel_title, r.target.ref_id): r
        for r in _run(observed, boards()["llmobs-autoscaler.json"], {})
    }
    for role, decision in latest.items():
        expected = {
            "A": decision["desired"],
            "B": decision["current"],
            "C": decision["inputs"]["ready"],
        }
        for ref, value in expected.items():
            (series,) = [
                s
                for s in results["Desired vs current vs ready", ref].series
                if s.labels[names.ROLE] == role
            ]
            assert series.points[-1][1] == value, (role, ref)
    gpus, budget = (results["GPUs against the budget", ref].series for ref in ("A", "B"))
    inputs = latest["decode"]["inputs"]
    assert gpus[0].points[-1][1] == inputs["gpus_in_use"]
    assert budget[0].points[-1][1] == inputs["gpu_budget"] == GPU_BUDGET
