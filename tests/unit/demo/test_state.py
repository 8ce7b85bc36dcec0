"""What the demo reads from its children, turned into samples: the exporter's /v1/roles
through ``llmobs.observation``, the autoscaler's decisions, the scale subresource; anything
unreadable is None, never 0, and never an exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from llmobs import observation
from llmobs.demo import state
from llmobs.observation import Latencies, Latency, Replicas, RoleKey, RoleObservation


def roles_doc() -> dict[str, Any]:
    def item(role: str, latency: Latencies, waiting: float) -> RoleObservation:
        return RoleObservation(
            key=RoleKey("", "llmobs-sim", role, "m"),
            replicas=Replicas(1, 1, 1),
            window_seconds=10,
            timestamp=100,
            age_seconds=0.5,
            latency=latency,
            request_rate=2.0,
            requests_waiting=waiting,
        )

    ttft = Latency(count=5, mean=1.0, quantiles={0.5: 0.8, 0.9: 1.7})
    tpot = Latency(count=5, mean=0.07, quantiles={0.5: 0.07, 0.9: None})
    return observation.to_json(
        observation.Observation(
            100,
            10,
            (
                item("prefill", Latencies(ttft_seconds=ttft), 3),
                item("decode", Latencies(tpot_seconds=tpot), 0),
            ),
        )
    )


DECISIONS = {
    "dry_run": False,
    "roles": {
        "prefill": [
            {"current": 1, "desired": 2, "reason": "slo_breach", "detail": "SLO ratio 1.5",
             "timestamp": 10.0, "applied": True},
            {"current": "1", "desired": 2, "timestamp": 11.0},  # not a decision
        ],
        "decode": [
            {"current": 1, "desired": 1, "reason": "within_slo", "detail": "", "timestamp": 9.0,
             "applied": False},
        ],
    },
}  # fmt: skip


def test_a_sample_takes_each_document_for_what_it_says() -> None:
    decided = state.decisions(DECISIONS)
    assert [(d.role, d.desired, d.applied) for d in decided] == [
        ("decode", 1, False),
        ("prefill", 2, True),
    ]
    scales = {"prefill": {"spec": {"replicas": 2}, "status": {"replicas": 1}}}
    sample = state.sample(5.0, ("prefill", "decode"), roles_doc(), decided, scales)
    prefill, decode = sample.roles
    assert (prefill.spec, prefill.ready, prefill.desired) == (2, 1, 2)
    assert (prefill.ttft_p90_s, prefill.tpot_p90_s, prefill.waiting) == (1.7, None, 3)
    assert prefill.request_rate == 2.0
    assert (decode.spec, decode.ready, decode.desired) == (None, None, 1)
    assert decode.tpot_p90_s is None  # the exporter had no p90: unknown, not 0
    assert decode.waiting == 0


def test_nothing_read_is_all_unknown() -> None:
    sample = state.sample(1.0, ("prefill",), None, [], {})
    assert sample.roles == (state.RoleSample("prefill"),)
    assert state.observed({"schema_version": 99}) == {}
    assert state.scale({"spec": {"replicas": True}}) == (None, None)


def test_merged_keeps_every_decision_once_in_order() -> None:
    decided = state.decisions(DECISIONS)
    again = state.merged(decided, decided)
    assert again == decided
    later = state.Decision("prefill", 20.0, 2, 3, "queue", "", True)
    assert state.merged(again, [later, decided[0]]) == [*decided, later]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=30,
)


@given(json_values)
def test_any_document_reads_without_raising(value: Any) -> None:
    state.decisions(value)
    state.decisions({"roles": {"prefill": value}})
    state.scale(value)
    state.observed(value)
    state.sample(0.0, ("prefill",), value, [], {"prefill": value})
