"""``llmobs autoscaler``'s quick-start flags and its file: what they build, and that bad input
of any shape is a ``ConfigError`` that says what to fix (the command turns it into exit 2)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler.app import Settings
from llmobs.autoscaler.config import SLO_SIGNALS
from llmobs.cli.autoscaler import merge, parse_bound, parse_slo
from llmobs.errors import ConfigError

ROLE = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
PERCENTILE = st.integers(1, 99).map(lambda n: f"p{n}")
DURATION = st.integers(1, 10_000).map(lambda n: f"{n}ms")


def options(**given: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "target": (),
        "http_sd": None,
        "slo": (),
        "mins": (),
        "maxes": (),
        "scale_url": None,
        "port": None,
        "grpc_port": None,
        "capacity_from": None,
        "sweep_isl": None,
    }
    return base | given


TARGETS = ("http://127.0.0.1:8001,role=prefill", "http://127.0.0.1:8002,role=decode")
SIM_TARGETS = "http://127.0.0.1:8000/sim/targets"
SLOS = ("prefill:ttft_p90=1s", "decode:tpot_p90=50ms")


@given(ROLE, st.sampled_from(sorted(SLO_SIGNALS)), PERCENTILE, DURATION)
def test_an_slo_flag_reads_back(role: str, signal: str, percentile: str, duration: str) -> None:
    assert parse_slo(f"{role}:{signal}_{percentile}={duration}") == (
        role,
        signal,
        percentile,
        duration,
    )


@given(ROLE, st.integers(-5, 10**6))
def test_a_bound_flag_reads_back(role: str, count: int) -> None:
    assert parse_bound(f"{role}={count}", "--min") == (role, count)


@given(st.text(max_size=40))
def test_any_text_is_a_flag_or_a_config_error(text: str) -> None:
    for parse in (parse_slo, lambda t: parse_bound(t, "--max")):
        message = ""
        try:
            parse(text)
        except ConfigError as exc:
            message = str(exc)
        assert message == "" or "expected" in message or "whole number" in message


@given(
    st.lists(st.text(max_size=20), max_size=3),
    st.lists(st.text(max_size=12), max_size=2),
    st.none() | st.text(max_size=30) | st.just(SIM_TARGETS),
)
def test_any_flags_build_settings_or_say_why(
    slos: list[str], bounds: list[str], http_sd: str | None
) -> None:
    built: Settings | str
    flags = options(target=TARGETS, slo=tuple(slos), maxes=tuple(bounds), http_sd=http_sd)
    try:
        built = merge(flags, None)
    except ConfigError as exc:
        built = str(exc)
    assert isinstance(built, Settings) or built.startswith(("--", "invalid autoscaler", "role(s)"))


def test_the_quick_start_flags_build_the_settings() -> None:
    settings = merge(
        options(
            target=TARGETS,
            slo=("prefill:ttft_p90=1s", "decode:tpot_p90=50ms", "decode:itl_p99=100ms"),
            mins=("prefill=2",),
            maxes=("decode=4",),
            scale_url="http://127.0.0.1:8000",
            port=0,
            grpc_port=0,
        ),
        None,
    )
    roles = settings.policy.roles
    assert [(t.name, t.seconds) for t in roles["prefill"].targets()] == [("ttft_p90", 1.0)]
    assert [(t.name, t.seconds) for t in roles["decode"].targets()] == [
        ("tpot_p90", 0.05),
        ("itl_p99", 0.1),
    ]
    assert roles["prefill"].min_replicas == 2 and roles["decode"].max_replicas == 4
    assert settings.source.kind == "scrape" and len(settings.source.targets) == 2
    assert settings.output.mode == "direct" and settings.output.api_url == "http://127.0.0.1:8000"
    assert settings.http.port == 0 and settings.grpc is not None and settings.grpc.port == 0


def test_flags_override_the_file(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(
        "policy:\n  roles:\n    decode: {slo: {tpot: {p90: 40ms}}, max_replicas: 8}\n"
        "source: {kind: exporter, url: http://127.0.0.1:9400}\n"
    )
    settings = merge(options(maxes=("decode=3",), slo=("decode:tpot_p90=60ms",)), path)
    decode = settings.policy.roles["decode"]
    assert decode.max_replicas == 3 and decode.targets()[0].seconds == 0.06
    assert settings.source.kind == "exporter"


@pytest.mark.parametrize(
    ("flags", "file", "says"),
    [
        ({"slo": ("prefill:ttft_p90=1s",)}, "", "source"),
        ({"target": TARGETS, "slo": ("prefill:ttft_p90=soon",)}, "", "soon"),
        ({"target": TARGETS, "slo": ("prefill:latency_p90=1s",)}, "", "latency"),
        ({"target": TARGETS, "mins": ("decode=3",), "maxes": ("decode=2",)}, "", "min_replicas"),
        ({"target": TARGETS}, "policy: {rolez: {}}\n", "rolez"),
        (
            {"target": TARGETS},
            "output: {names: {router: x}}\n",
            "router",
        ),
        ({"target": TARGETS}, "output: {mode: keda}\n", "grpc"),
        ({"target": (*TARGETS, "http://127.0.0.1:1,colour=red")}, "", "colour"),
    ],
)
def test_bad_config_says_what_to_fix(
    tmp_path: Path, flags: dict[str, Any], file: str, says: str
) -> None:
    path = None
    if file:
        path = tmp_path / "autoscaler.yaml"
        path.write_text(file)
    with pytest.raises(ConfigError, match=says):
        merge(options(**flags), path)


def test_a_file_can_name_prometheus_as_the_source(tmp_path: Path) -> None:
    from llmobs.autoscaler.app import make_source
    from llmobs.autoscaler.sources.prometheus import PrometheusSource

    path = tmp_path / "autoscaler.yaml"
    path.write_text(
        "policy:\n  roles:\n    decode: {slo: {tpot: {p90: 40ms}}}\n"
        "source: {kind: prometheus, url: http://127.0.0.1:9090}\n"
    )
    settings = merge(options(), path)
    assert settings.source.kind == "prometheus"
    assert isinstance(make_source(settings), PrometheusSource)


def test_http_sd_alone_is_the_scrape_source() -> None:
    source = merge(options(http_sd=SIM_TARGETS, slo=SLOS), None).source
    assert source.kind == "scrape" and source.targets == []
    assert source.http_sd is not None and source.http_sd.url == SIM_TARGETS
    assert source.http_sd.refresh_interval_s == 60  # the file's default, as Prometheus's


def test_http_sd_with_targets_scrapes_both() -> None:
    source = merge(options(target=TARGETS, http_sd=SIM_TARGETS, slo=SLOS), None).source
    assert source.kind == "scrape" and len(source.targets) == 2
    assert source.http_sd is not None and source.http_sd.url == SIM_TARGETS


def test_http_sd_joins_the_files_scrape_source(tmp_path: Path) -> None:
    path = tmp_path / "autoscaler.yaml"
    path.write_text(
        "source:\n  kind: scrape\n  interval_s: 2\n"
        "  targets: [{url: 'http://127.0.0.1:8001', role: prefill}]\n"
        "  http_sd: {url: 'http://127.0.0.1:1/old', refresh_interval_s: 2}\n"
    )
    source = merge(options(http_sd=SIM_TARGETS, slo=SLOS), path).source
    assert source.kind == "scrape" and source.interval_s == 2 and len(source.targets) == 1
    assert source.http_sd is not None and source.http_sd.url == SIM_TARGETS
    assert source.http_sd.refresh_interval_s == 2
    path.write_text("source: {kind: exporter, url: http://127.0.0.1:9400}\n")
    source = merge(options(http_sd=SIM_TARGETS, slo=SLOS), path).source
    assert source.kind == "scrape" and source.http_sd is not None  # the flag wins


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://user:pw@127.0.0.1:8000/sim/targets", "without user:password@"),
        ("127.0.0.1:8000/sim/targets", "is not an http(s) URL"),
    ],
)
def test_a_bad_http_sd_url_says_what_to_fix(url: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)) as bad:
        merge(options(http_sd=url, slo=SLOS), None)
    assert "pw" not in str(bad.value)


def test_the_pod_watch_flags_are_the_scrape_sources_kubernetes_discovery(tmp_path: Path) -> None:
    watch = {"namespace": ("llm", "llm2"), "selector": "app=llm", "port_name": "http"}
    source = merge(options(slo=SLOS, context="kind", metrics_port=None, **watch), None).source
    assert source.kind == "scrape" and source.targets == [] and source.kubernetes is not None
    assert source.kubernetes.namespaces == ["llm", "llm2"]
    assert source.kubernetes.label_selector == "app=llm" and source.kubernetes.port_name == "http"
    assert source.kubernetes.context == "kind" and source.kubernetes.port is None
    source = merge(options(slo=SLOS, kubernetes=True), None).source  # every namespace
    assert source.kind == "scrape" and source.kubernetes is not None
    assert source.kubernetes.namespaces == []
    path = tmp_path / "autoscaler.yaml"
    path.write_text(
        "source:\n  kind: scrape\n  interval_s: 2\n"
        "  kubernetes: {namespaces: [old], port_name: metrics, default_role: decode}\n"
    )
    source = merge(options(slo=SLOS, namespace=("llm",)), path).source
    assert source.kind == "scrape" and source.interval_s == 2 and source.kubernetes is not None
    assert source.kubernetes.namespaces == ["llm"] and source.kubernetes.port_name == "metrics"
    assert source.kubernetes.default_role == "decode"  # the file's keys the flags leave alone


@pytest.mark.parametrize(
    "flags",
    [
        {"target": TARGETS[:1], "slo": ("decode:tpot_p90=1s",)},
        {"target": TARGETS[:1], "maxes": ("decode=3",)},
        {"target": TARGETS[1:], "slo": SLOS},
    ],
)
def test_a_role_no_static_target_has_stops_the_start(flags: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"role\(s\) (decode|prefill) not found") as bad:
        merge(options(**flags), None)
    assert "--target URL,role=ROLE" in str(bad.value)


def test_roles_found_by_a_discovery_are_not_checked_at_start() -> None:
    """http_sd and the pod watch name their roles once they are read: a role a static
    target lacks may come from them."""
    for found in ({"http_sd": SIM_TARGETS}, {"namespace": ("llm",)}):
        flags = options(target=TARGETS[:1], slo=("decode:tpot_p90=1s",), **found)
        assert set(merge(flags, None).policy.roles) == {"prefill", "decode"}
