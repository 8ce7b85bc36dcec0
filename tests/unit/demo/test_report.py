"""The demo's report from what a run collected: each role's replicas and decisions, the
load's numbers from llmbench's result, strict JSON, and the markdown page."""

from __future__ import annotations

from typing import Any

from llmobs import strictjson
from llmobs.demo import report
from llmobs.demo.configs import Settings
from llmobs.demo.state import Decision, RoleSample, Sample


def samples() -> list[Sample]:
    specs = [(1, 1), (2, 1), (3, 1), (3, 1), (2, 1)]
    return [
        Sample(
            float(t),
            (
                RoleSample("prefill", spec=p, ready=p, ttft_p90_s=None if t == 0 else 0.5 * t),
                RoleSample("decode", spec=d, ready=d, tpot_p90_s=float("nan")),
            ),
        )
        for t, (p, d) in enumerate(specs)
    ]


DECIDED = [
    Decision("prefill", 1.0, 1, 2, "slo_breach", "SLO ratio 1.5", True),
    Decision("prefill", 2.0, 2, 3, "slo_breach", "SLO ratio 1.4", True),
    Decision("decode", 2.0, 1, 1, "within_slo", "", False),
    Decision("prefill", 4.0, 3, 2, "consolidate", "2 carry it", True),
    Decision("decode", 4.0, 1, 2, "queue", "5 waiting", False),
]

BENCH = {
    "complete": True,
    "summary": {
        "completed": 40,
        "failed": 0,
        "request_throughput": 1.2,
        "output_throughput": 80.0,
        "ttft_ms": {"p50": 500.0, "p90": 1500.0, "p99": 2000.0},
        "tpot_ms": {"p50": 66.0, "p90": 70.0, "p99": None},
    },
}


def a_document(**changes: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "settings": Settings(duration_s=40),
        "started": 1e9,
        "elapsed_s": 55.5,
        "state": "finished",
        "error": None,
        "samples": samples(),
        "decided": DECIDED,
        "bench": BENCH,
        "files": {"report": "r/report.md", "plots": ["r/plots/a.png"], "bench": None},
        "processes": [{"name": "emulator", "pid": 1, "exit_status": 0}],
        "prometheus_url": None,
        "requests_planned": 42,
        "notes": ["board previews: not available"],
    }
    return report.document(**{**arguments, **changes})


def test_each_role_says_how_its_replicas_moved_and_why() -> None:
    doc = a_document()
    prefill, decode = doc["roles"]["prefill"], doc["roles"]["decode"]
    assert prefill["replicas"] == {"first": 1, "min": 1, "max": 3, "last": 2, "ready_max": 3}
    assert (prefill["scale_ups"], prefill["scale_downs"], prefill["moved"]) == (2, 1, True)
    assert prefill["reasons"] == {"consolidate": 1, "slo_breach": 2}
    assert prefill["ttft_p90_max_s"] == 2.0
    assert decode["moved"] is False and decode["scale_ups"] == 0  # decided, not applied
    assert decode["decisions"] == 2
    assert [d["reason"] for d in doc["decisions"]] == [
        "slo_breach",
        "slo_breach",
        "consolidate",
        "queue",
    ]
    assert doc["bench"]["ttft_ms"] == {"p50": 500.0, "p90": 1500.0, "p99": 2000.0}
    assert doc["settings"]["duration_s"] == 40
    assert doc["slo"] == {"prefill": {"ttft_p90": 1.5}, "decode": {"tpot_p90": 0.2}}


def test_the_document_is_strict_json() -> None:
    text = strictjson.dumps(a_document())
    back = strictjson.loads(text)
    assert back["samples"][1]["roles"]["decode"]["tpot_p90_s"] is None  # NaN is null
    assert "role" not in back["samples"][1]["roles"]["decode"]


def test_nothing_collected_is_unknown_not_zero() -> None:
    doc = a_document(samples=[], decided=[], bench=None, state="interrupted")
    assert doc["roles"] == {} and doc["bench"] is None
    assert "llmbench wrote no result." in report.markdown(doc)
    bare = report.role_summary("prefill", [], [])
    assert bare["replicas"]["max"] is None and bare["moved"] is False


def test_the_page_tables_the_roles_the_load_and_the_changes() -> None:
    page = report.markdown(a_document(error="x failed", state="failed"))
    assert page.startswith("# llmobs demo\n")
    assert "State: **failed** after 56 s (x failed); 42 requests planned." in page
    assert "| prefill | ttft_p90 1500 ms | 1 / 1 / 3 / 2 | 2 | 1 | 2 s |" in page
    assert "| TTFT | 500 ms | 1.5e+03 ms | 2e+03 ms |" in page
    assert "| TPOT | 66 ms | 70 ms | - |" in page
    assert "- decode: 1 -> 2 (queue: 5 waiting) (not applied)" in page
    assert "Note: board previews: not available" in page
    assert "- plots: `r/plots/a.png`" in page and "- bench:" not in page
