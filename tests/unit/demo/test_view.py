"""The live view is a pure render: unknowns are '-', latencies against their SLO, replicas
with what the autoscaler wants, the decisions that say something; the plain line carries no
escape codes; every line fits the width."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from llmobs.demo import view
from llmobs.demo.state import Decision, RoleSample, Sample, State

SLO = {"prefill": {"ttft_p90": 1.5}, "decode": {"tpot_p90": 0.1}}


def decision(role: str, t: float, current: int, desired: int, reason: str) -> Decision:
    return Decision(role, t, current, desired, reason, f"{reason} detail", True)


def a_state(**changes: object) -> State:
    sample = Sample(
        12.0,
        (
            RoleSample("prefill", spec=2, ready=1, desired=3, request_rate=1.5, ttft_p90_s=2.25),
            RoleSample("decode", spec=1, ready=1, desired=1, tpot_p90_s=0.072),
        ),
    )
    base = {
        "elapsed_s": 12.0,
        "duration_s": 40.0,
        "target_rps": 2.5,
        "phase": "rising",
        "slo": SLO,
        "sample": sample,
        "decisions": (decision("prefill", 1.0, 1, 2, "slo_breach"),),
        "folder": "llmobs-demo/x",
        "prometheus_url": "http://127.0.0.1:9090",
    }
    return State(**{**base, **changes})  # type: ignore[arg-type]


def test_the_screen_shows_replicas_latencies_against_the_slo_and_decisions() -> None:
    text = "\n".join(view.screen(a_state()))
    assert "12s of 40s" in text and "2.5 req/s (rising)" in text
    prefill = next(line for line in text.splitlines() if line.startswith("prefill"))
    assert "2 (1 ready) -> 3" in prefill
    assert "2.25s / 1.50s OVER" in prefill
    assert "1.5" in prefill
    decode = next(line for line in text.splitlines() if line.startswith("decode"))
    assert "72ms / 100ms ok" in decode
    assert "1 (1 ready)" in decode and "->" not in decode
    assert "prefill  1 -> 2" in text and "slo_breach: slo_breach detail" in text
    assert "Prometheus: http://127.0.0.1:9090" in text
    assert "Ctrl-C" in text


def test_unknown_values_are_dashes_never_zero() -> None:
    sample = Sample(0.0, (RoleSample("prefill"), RoleSample("decode")))
    lines = view.screen(a_state(sample=sample, decisions=()))
    prefill = next(line for line in lines if line.startswith("prefill"))
    assert "- (- ready)" in prefill and "- / 1.50s" in prefill
    assert "OVER" not in prefill and " ok" not in prefill and "0.0" not in prefill
    assert "  (none yet)" in lines
    empty = view.screen(a_state(sample=None))
    assert "(waiting for the first reading)" in empty


def test_repeated_holds_are_shown_once() -> None:
    decided = (
        decision("prefill", 1, 1, 1, "within_slo"),
        decision("prefill", 2, 1, 1, "within_slo"),
        decision("prefill", 3, 1, 2, "slo_breach"),
        decision("prefill", 4, 2, 2, "cold_start_pending"),
        decision("prefill", 5, 2, 2, "cold_start_pending"),
        decision("decode", 5, 1, 1, "within_slo"),
    )
    shown = view.interesting(decided)
    assert [(d.timestamp, d.reason) for d in shown] == [
        (1, "within_slo"),
        (3, "slo_breach"),
        (4, "cold_start_pending"),
        (5, "within_slo"),
    ]
    assert view.interesting(decided, 1) == [decided[-1]]


def test_the_plain_line_has_no_escape_codes_and_names_each_role() -> None:
    line = view.line(a_state())
    assert "\x1b" not in line and "\n" not in line
    assert "prefill 2 (1 ready) ttft_p90 2.25s / 1.50s OVER" in line
    assert "decode 1 (1 ready) tpot_p90 72ms / 100ms ok" in line
    assert "last: prefill 1->2 slo_breach" in line


def test_redraw_moves_up_over_what_was_drawn() -> None:
    assert view.redraw(["a", "b"], 0) == "\x1b[J" + "a\nb\n"
    assert view.redraw(["a"], 2) == "\x1b[2F\x1b[J" + "a\n"


numbers = st.none() | st.floats(0, 1e6, allow_nan=False)
counts = st.none() | st.integers(0, 1000)
roles = st.builds(
    RoleSample,
    role=st.sampled_from(["prefill", "decode", "both"]),
    spec=counts,
    ready=counts,
    desired=counts,
    request_rate=numbers,
    ttft_p90_s=numbers,
    tpot_p90_s=numbers,
    waiting=numbers,
)


@given(
    width=st.integers(20, 200),
    items=st.lists(roles, max_size=3),
    elapsed=st.floats(0, 1e5),
    detail=st.text(max_size=300).filter(lambda s: "\n" not in s and "\r" not in s),
)
def test_every_line_fits_the_width(
    width: int, items: list[RoleSample], elapsed: float, detail: str
) -> None:
    decided = (Decision("prefill", 1e9, 1, 2, "slo_breach", detail, True),)
    state = a_state(sample=Sample(elapsed, tuple(items)), elapsed_s=elapsed, decisions=decided)
    lines = view.screen(state, width)
    assert all(len(line) <= width for line in lines)
    assert "\n" not in view.line(state)
