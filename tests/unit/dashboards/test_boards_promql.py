"""The PromQL builders the boards use (``llmobs.promql.grafana``, ``.autoscaler``,
``.vllm``, ``targets_down``): each spelled out once here, so a change to a query is seen."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs import promql
from llmobs.errors import ConfigError
from llmobs.promql import autoscaler as scaler
from llmobs.promql import grafana
from llmobs.promql import vllm as vllm_q


def test_variables_in_matchers_are_regexes() -> None:
    assert str(grafana.matches("role")) == 'role=~"$role"'
    assert str(grafana.matches("model_name", "model")) == 'model_name=~"$model"'
    assert [str(m) for m in grafana.matching(("namespace", "group"))] == [
        'namespace=~"$namespace"',
        'group=~"$group"',
    ]
    assert str(grafana.one_of("role", ("decode", "both"))) == 'role=~"decode|both"'


def test_label_values() -> None:
    series = promql.selector("llmobs_target_up", grafana.matches("namespace"))
    assert grafana.label_values(series, "group") == (
        'label_values(llmobs_target_up{namespace=~"$namespace"}, group)'
    )
    assert grafana.label_values(None, "model_name") == "label_values(model_name)"


@given(st.text(max_size=12))
def test_names_that_are_not_identifiers_are_refused(name: str) -> None:
    valid = name.isascii() and name.replace("_", "a").isalnum() and not name[:1].isdigit()
    if valid and name:
        assert grafana.variable(name) == "$" + name
    else:
        with pytest.raises(ConfigError):
            grafana.variable(name)


def test_one_of_refuses_regex_syntax() -> None:
    with pytest.raises(ConfigError, match="plain label value"):
        grafana.one_of("role", ("decode|x",))


def test_grafana_ranges_are_accepted_as_windows() -> None:
    series = promql.selector("x")
    assert promql.rate(series, grafana.RATE_INTERVAL) == "rate(x[$__rate_interval])"
    assert promql.increase(series, grafana.RANGE) == "increase(x[$__range])"


def test_targets_down() -> None:
    assert promql.targets_down(grafana.matches("role")) == (
        'sum(1 - llmobs_target_up{role=~"$role"})'
    )


def test_autoscaler_series() -> None:
    m = grafana.matches("role")
    assert str(scaler.replicas("ready", m)) == 'llmobs_autoscaler_ready_replicas{role=~"$role"}'
    assert scaler.decisions("1m", m) == (
        'sum by (reason) (rate(llmobs_autoscaler_decisions_total{role=~"$role"}[1m]))'
    )
    assert scaler.decisions_in(grafana.RANGE, by=()) == (
        "round(sum(increase(llmobs_autoscaler_decisions_total[$__range])))"
    )
    assert str(scaler.slo_target(scaler.slo("ttft"))) == (
        'llmobs_autoscaler_target_seconds{slo=~"ttft_.+"}'
    )
    assert (
        scaler.slo_ratio()
        == "llmobs_autoscaler_observed_seconds / llmobs_autoscaler_target_seconds"
    )
    assert (
        scaler.pending() == "llmobs_autoscaler_desired_replicas - llmobs_autoscaler_ready_replicas"
    )
    assert scaler.waiting_for_ready("30m", "15s") == (
        "time() - max_over_time(timestamp(llmobs_autoscaler_ready_replicas >= "
        "llmobs_autoscaler_desired_replicas)[30m:15s])"
    )


def test_vllm_request_shape_and_failures() -> None:
    m = grafana.matches("model_name", "model")
    assert vllm_q.length_buckets("prompt", "1m", m) == (
        'sum by (le) (rate(vllm:request_prompt_tokens_bucket{model_name=~"$model"}[1m]))'
    )
    assert vllm_q.failed_share("1m") == (
        '(sum(rate(vllm:request_success_total{finished_reason=~"abort|error"}[1m])) or '
        "vector(0)) / (sum(rate(vllm:request_success_total[1m])) > 0)"
    )
