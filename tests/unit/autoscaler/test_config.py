"""The autoscaler's strict config: what it accepts, what it refuses and how it says so, and
a property: any mapping gives a config or a ConfigError, never another exception."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler.config import AutoscalerConfig, RoleConfig, SloTarget, load, parse_duration
from llmobs.config import validate
from llmobs.errors import ConfigError


def make(**top: Any) -> AutoscalerConfig:
    data = {"roles": {"prefill": {}, "decode": {}}} | top
    return validate(AutoscalerConfig, data, "autoscaler config")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1s", 1.0), ("50ms", 0.05), ("0.5s", 0.5), (" 250 ms ", 0.25), (500, 0.5), (1.5, 0.0015)],
)
def test_durations_as_llmbench_spells_them(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


def test_slo_targets() -> None:
    role = RoleConfig.model_validate(
        {"slo": {"ttft": {"p90": "1s", "p99.9": "3s"}, "tpot": {"p50": 20}}}
    )
    assert role.targets() == (
        SloTarget("ttft_p90", "ttft_seconds", 0.9, 1.0),
        SloTarget("ttft_p99.9", "ttft_seconds", pytest.approx(0.999), 3.0),  # type: ignore[arg-type]
        SloTarget("tpot_p50", "tpot_seconds", 0.5, 0.02),
    )


def test_defaults_follow_the_hpa() -> None:
    role = make().roles["decode"]
    assert (role.scale_up_stabilization_s, role.scale_down_stabilization_s) == (0.0, 300.0)
    assert role.tolerance == 0.1


def test_every_field_is_described() -> None:
    for model in (AutoscalerConfig, RoleConfig):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"


def test_quantiles_a_source_must_compute() -> None:
    cfg = make(
        roles={
            "prefill": {"slo": {"ttft": {"p90": "1s"}}},
            "decode": {"slo": {"tpot": {"p99": "50ms", "p90": "40ms"}}},
        }
    )
    assert cfg.quantiles() == (0.9, 0.99)


@pytest.mark.parametrize(
    ("top", "message"),
    [
        ({"rolez": {}}, "rolez: Extra inputs are not permitted"),
        ({"roles": {}}, "roles: Dictionary should have at least 1 item"),
        (
            {"roles": {"prefill": {"min_replicas": 3, "max_replicas": 2}}},
            "min_replicas 3 is above max_replicas 2",
        ),
        ({"roles": {"prefill": {"slo": {"ttft": {"p90": "fast"}}}}}, "'fast' is not a duration"),
        ({"roles": {"prefill": {"slo": {"ttft": {"p90": "-1s"}}}}}, "is not a duration"),
        ({"roles": {"prefill": {"slo": {"ttft": {"p90": "0ms"}}}}}, "is no limit"),
        ({"roles": {"prefill": {"slo": {"ttft": {"p100": "1s"}}}}}, "'p100' is not a percentile"),
        ({"roles": {"prefill": {"slo": {"ttft": {"90": "1s"}}}}}, "'90' is not a percentile"),
        (
            {"roles": {"prefill": {"slo": {"latency": {"p90": "1s"}}}}},
            "'latency' is not one of ttft, itl",
        ),
        ({"roles": {"prefill": {"slo": {"ttft": {}}}}}, "slo.ttft: give a percentile"),
        ({"roles": {"prefill": {"max_replica": 3}}}, "roles.prefill.max_replica: Extra inputs"),
        ({"roles": {"workers": {}}}, "roles.workers: give its kind"),
        (
            {"roles": {"p": {"min_replicas": 3}, "d": {"kind": "decode", "min_replicas": 3}}},
            "roles.p: give its kind",
        ),
        ({"gpu_budget": 1}, "gpu_budget 1 is below the 2 GPUs"),
        ({"pd_ratio": {"min": 2, "max": 1}}, "pd_ratio: min 2 is above max 1"),
        (
            {"roles": {"decode": {}}, "pd_ratio": {"min": 1, "max": 2}},
            "pd_ratio needs a prefill and a decode role",
        ),
        ({"max_observation_age_s": 0}, "max_observation_age_s: Input should be greater than 0"),
        ({"roles": {"decode": {"tolerance": 1.5}}}, "tolerance: Input should be less than 1"),
        ({"roles": {"decode": {"kv_usage_limit": float("nan")}}}, "kv_usage_limit"),
        ({"forecaster": "arima"}, "forecaster: Input should be 'last' or 'holt'"),
    ],
)
def test_refused_with_a_message_that_says_what_to_fix(top: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match="invalid autoscaler config") as caught:
        make(**top)
    assert message in str(caught.value)


def test_load_a_file(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(
        "roles:\n"
        "  prefill: {slo: {ttft: {p90: 1s}}, queue_limit: 4, max_replicas: 6}\n"
        "  decode: {slo: {tpot: {p90: 50ms}}, waiting_limit: 2, gpus_per_replica: 2}\n"
        "gpu_budget: 16\n"
        "pd_ratio: {min: 0.25, max: 2}\n"
    )
    cfg = load(path)
    assert cfg.roles["prefill"].targets()[0].seconds == 1.0
    assert (cfg.gpu_budget, cfg.kind("decode"), cfg.roles["decode"].gpus_per_replica) == (
        16,
        "decode",
        2,
    )


def test_load_refuses_an_unknown_key_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    path.write_text("roles: {prefill: {}}\ngpu_budgt: 3\n")
    with pytest.raises(ConfigError, match=r"autoscaler config .*a\.yaml: gpu_budgt: Extra inputs"):
        load(path)


# Any mapping: a config or a ConfigError --------------------------------------------------
KEYS = st.sampled_from(
    [
        "roles",
        "prefill",
        "decode",
        "both",
        "kind",
        "slo",
        "ttft",
        "tpot",
        "itl",
        "e2e",
        "queue",
        "p90",
        "p99",
        "p0",
        "min_replicas",
        "max_replicas",
        "max_step_up",
        "max_step_down",
        "gpu_budget",
        "pd_ratio",
        "min",
        "max",
        "tolerance",
        "capacity",
        "kv_usage_limit",
        "waiting_limit",
        "queue_limit",
        "scale_to_zero",
        "forecaster",
        "cold_start_s",
        "gpus_per_replica",
        "group",
        "interval_s",
        "x",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.sampled_from(["1s", "50ms", "fast", "p90", "holt", "last", "decode", "", "0s", "1e400ms"])
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(KEYS | st.text(max_size=3), inner, max_size=5)
    ),
    max_leaves=25,
)


@given(st.dictionaries(KEYS, VALUES, max_size=6))
def test_any_mapping_gives_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    try:
        cfg = validate(AutoscalerConfig, data, "autoscaler config")
    except ConfigError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert message.startswith("invalid autoscaler config")
        return
    for role in cfg.roles.values():
        assert role.min_replicas <= role.max_replicas
        assert all(t.seconds > 0 and 0 < t.quantile < 1 for t in role.targets())


@given(
    st.fixed_dictionaries(
        {
            "roles": st.dictionaries(
                st.sampled_from(["prefill", "decode"]),
                st.dictionaries(KEYS, VALUES, max_size=4),
                min_size=1,
            )
        }
    )
)
def test_any_role_mapping_gives_a_config_or_a_config_error(data: dict[str, Any]) -> None:
    with contextlib.suppress(ConfigError):
        validate(AutoscalerConfig, data, "autoscaler config")


@given(st.floats(min_value=1e-9, max_value=1e6, allow_nan=False, allow_infinity=False))
def test_a_dumped_config_reads_back_the_same(seconds: float) -> None:
    """A config written as JSON (durations with their unit) validates to the same config: a
    bare number would read as milliseconds."""
    config = AutoscalerConfig.model_validate(
        {"roles": {"prefill": {"slo": {"ttft": {"p99": f"{seconds!r}s"}}}}}
    )
    again = AutoscalerConfig.model_validate(config.model_dump(mode="json"))
    assert again == config
    assert again.roles["prefill"].targets()[0].seconds == seconds


def test_the_slo_signals_are_the_canonical_latency_signals() -> None:
    from llmobs import signals
    from llmobs.autoscaler.config import SLO_SIGNALS

    assert {
        "ttft": signals.TTFT.name,
        "itl": signals.ITL.name,
        "tpot": signals.TPOT.name,
        "e2e": signals.E2E.name,
        "queue": signals.QUEUE.name,
    } == SLO_SIGNALS
