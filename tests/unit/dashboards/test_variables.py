"""Grafana's interpolation of Prometheus queries: the built-ins, the data source's escaping,
the ``:format``s, All, and the board's variable declarations; properties with hypothesis."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs import promql
from llmobs.dashboards import variables as tv
from llmobs.errors import ConfigError

ROLE = tv.Variable("role", ("prefill", "decode"), multi=True, include_all=True)
ALL_ROLES = tv.Variable(
    "role", (tv.ALL,), multi=True, include_all=True, options=("decode", "prefill")
)
# Label values Grafana can put into a PromQL string: printable text (a raw newline is not
# escaped by Grafana and would end the string).
TEXT = st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cs", "Cc")), max_size=12)


def unquote(literal: str) -> str:
    """A PromQL double-quoted string's value (the escapes Grafana's output can hold)."""
    assert literal[0] == literal[-1] == '"'
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m[1], m[1]), literal[1:-1])


def test_rate_interval_is_grafanas_formula() -> None:
    assert tv.rate_interval(15, 5) == 20  # 4 x scrape
    assert tv.rate_interval(60, 5) == 65  # interval + scrape
    scoped = tv.builtins(1000.0, 4600.0, 90, 5)
    assert scoped["__interval"] == "1m"  # Grafana's whole largest unit
    assert scoped["__interval_ms"] == "90000"
    assert scoped["__rate_interval"] == "1m35s"
    assert scoped["__rate_interval_ms"] == "95000"
    assert scoped["__range"] == "3600s" and scoped["__range_s"] == "3600"
    assert scoped["__range_ms"] == "3600000"


def test_the_interval_is_never_below_the_scrape_interval() -> None:
    scoped = tv.builtins(0, 60, 1, 5)
    assert scoped["__interval"] == "5s" and scoped["__rate_interval"] == "20s"


@pytest.mark.parametrize(
    ("start", "end", "interval", "scrape"), [(0, 1, 0, 5), (0, 1, 5, -1), (2, 1, 5, 5)]
)
def test_builtins_refuse_nonsense(start: float, end: float, interval: float, scrape: float) -> None:
    with pytest.raises(ConfigError):
        tv.builtins(start, end, interval, scrape)


def test_multi_value_is_an_escaped_alternation() -> None:
    expr = 'x{role=~"$role", model=~"${model}"}[$__rate_interval]'
    model = tv.Variable("model", ("Qwen/Qwen2.5-7B",), multi=True)
    out = tv.interpolate(expr, {"role": ROLE, "model": model}, {"__rate_interval": "20s"})
    assert out == 'x{role=~"(prefill|decode)", model=~"Qwen/Qwen2\\\\.5-7B"}[20s]'


def test_all_is_the_all_value_else_the_options_else_everything() -> None:
    assert tv.interpolate('x{role=~"$role"}', {"role": ALL_ROLES}) == 'x{role=~"(decode|prefill)"}'
    custom = tv.Variable("role", (tv.ALL,), include_all=True, all_value=".+", options=("a",))
    assert tv.interpolate('x{role=~"$role"}', {"role": custom}) == 'x{role=~".+"}'
    unknown = tv.Variable("role", (tv.ALL,), multi=True, include_all=True)
    assert tv.interpolate('x{role=~"$role"}', {"role": unknown}) == 'x{role=~".*"}'


def test_a_single_value_is_escaped_for_a_string_only() -> None:
    ns = tv.Variable("namespace", ('a"b\\c.d',))
    assert tv.interpolate('x{namespace="$namespace"}', {"namespace": ns}) == (
        'x{namespace="a\\"b\\\\c.d"}'
    )


def test_formats() -> None:
    def fmt(name: str) -> str:
        return tv.interpolate(f"${{role:{name}}}", {"role": ROLE})

    assert fmt("regex") == "(prefill|decode)"
    assert fmt("pipe") == "prefill|decode"
    assert fmt("csv") == fmt("raw") == "prefill,decode"
    assert fmt("json") == '["prefill","decode"]'
    assert fmt("doublequote") == '"prefill","decode"'
    assert fmt("singlequote") == "'prefill','decode'"
    assert fmt("glob") == "{prefill,decode}"
    assert fmt("queryparam") == "var-role=prefill&var-role=decode"
    assert tv.interpolate("${model:regex}", {"model": tv.Variable("model", ("a.b/c",))}) == (
        "a\\.b\\/c"  # Grafana's kbn.regexEscape: not valid inside a PromQL string
    )
    with pytest.raises(ConfigError, match="'nosuch'"):
        fmt("nosuch")


def test_names_are_whole_words_and_unknown_ones_stay() -> None:
    variables = {"role": ROLE}
    assert tv.interpolate("$roles $role_x [[role]] $nope ${nope}", variables) == (
        "$roles $role_x (prefill|decode) $nope ${nope}"
    )
    assert tv.referenced('x{a="$a",b=~"${b:regex}"}[$__rate_interval]') == {
        "a",
        "b",
        "__rate_interval",
    }


@given(st.lists(TEXT, min_size=1, max_size=4, unique=True), TEXT)
def test_a_multi_value_regex_matches_exactly_its_values(values: list[str], other: str) -> None:
    variable = tv.Variable("v", tuple(values), multi=True, include_all=True)
    literal = tv.interpolate('"$v"', {"v": variable})
    pattern = re.compile(unquote(literal))
    assert all(pattern.fullmatch(v) for v in values)
    assert (pattern.fullmatch(other) is not None) == (other in values)


@given(TEXT)
def test_a_single_value_reads_back_from_its_string(value: str) -> None:
    literal = tv.interpolate('"$v"', {"v": tv.Variable("v", (value,))})
    assert unquote(literal) == value


@given(st.text(st.characters(blacklist_characters="$["), max_size=40))
def test_text_without_references_is_unchanged(text: str) -> None:
    assert tv.interpolate(text, {"role": ROLE}, {"__range": "1s"}) == text


@given(st.integers(1, 10**10))
def test_grafana_interval_truncates_to_one_whole_unit(ms: int) -> None:
    text = tv.grafana_interval(ms / 1000)
    number, unit = re.fullmatch(r"(\d+)(ms|s|m|h|d|y)", text).groups()  # type: ignore[union-attr]
    seconds = promql.parse_duration(text)
    size = promql.parse_duration("1" + unit)
    assert int(number) >= 1
    assert seconds <= ms / 1000 < seconds + size


@given(st.floats(0.001, 1e6), st.floats(0.001, 3600))
def test_rate_interval_is_a_promql_duration_at_least_four_scrapes(
    interval: float, scrape: float
) -> None:
    interval, scrape = round(interval, 3), round(scrape, 3)
    scoped = tv.builtins(0, 10, interval, scrape)
    seconds = promql.parse_duration(scoped["__rate_interval"])
    assert seconds >= 4 * scrape - 1e-3
    assert seconds >= max(interval, scrape) + scrape - 1e-3


BOARD = {
    "templating": {
        "list": [
            {"name": "datasource", "type": "datasource", "query": "prometheus"},
            {
                "name": "namespace",
                "type": "query",
                "query": {"query": "label_values(llmobs_role_replicas, namespace)", "refId": "A"},
                "current": {"text": "default", "value": "default"},
            },
            {
                "name": "role",
                "type": "query",
                "query": 'label_values(llmobs_role_replicas{namespace="$namespace"}, role)',
                "multi": True,
                "includeAll": True,
                "current": {"text": "All", "value": ["$__all"]},
                "regex": "/(.*)/",
            },
            {"name": "q", "type": "custom", "query": "0.5, 0.9,0.99"},
        ]
    }
}


def test_declared_variables_in_order() -> None:
    found = {d.name: d for d in tv.declared(BOARD)}
    assert list(found) == ["datasource", "namespace", "role", "q"]
    assert found["namespace"].query == "label_values(llmobs_role_replicas, namespace)"
    assert found["namespace"].current == ("default",)
    assert found["role"].multi and found["role"].include_all and found["role"].current == (tv.ALL,)
    assert tv.label_values(found["role"].query) == (
        'llmobs_role_replicas{namespace="$namespace"}',
        "role",
    )
    assert tv.label_values("label_values(pod)") == (None, "pod")
    assert tv.custom_options(found["q"].query) == ("0.5", "0.9", "0.99")
    with pytest.raises(ConfigError, match="label_values"):
        tv.label_values("query_result(up)")
    with pytest.raises(ConfigError, match="templating"):
        tv.declared({"templating": {"list": {}}})


def test_selection_the_callers_then_the_boards_then_all_or_the_first() -> None:
    role = tv.declared(BOARD)[2]
    assert tv.selection(role, ["decode"], ("decode", "prefill")).values == ("decode",)
    assert tv.selection(role, None, ("decode",)).values == (tv.ALL,)
    assert tv.selection(role, ["All"], ("decode",)).values == (tv.ALL,)
    plain = tv.Declared("q", "custom", "a,b", (), False, False, None, None)
    assert tv.selection(plain, None, ("a", "b")).values == ("a",)
    assert tv.filtered(["pod-a", "x", "pod-b"], "/pod-(.*)/") == ("a", "b")
    assert tv.filtered(["b", "a"], None) == ("b", "a")


def test_a_variable_field_of_the_wrong_kind_is_a_config_error() -> None:
    bad = {"templating": {"list": [{"name": "role", "allValue": 5}]}}
    with pytest.raises(ConfigError, match="allValue 5 is not text"):
        tv.declared(bad)
    with pytest.raises(ConfigError, match="not a regular expression"):
        tv.filtered(["a"], "/(/")
