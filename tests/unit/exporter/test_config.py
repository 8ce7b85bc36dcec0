"""The exporter's config: --target flags, identities, known roles, bounds, credentials; and
any input at all (a flag, a YAML file) is a config or a ConfigError, never another exception."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs.cli.exporter import merge
from llmobs.errors import ConfigError
from llmobs.exporter.config import TARGET_KEYS, ExporterConfig, build, parse_target_flag
from llmobs.exporter.targets import default_pods, static_targets
from llmobs.secrets import Credentials


def options(*targets: str, **given: Any) -> dict[str, Any]:
    """The command line's options as click hands them to ``merge``."""
    return {"target": targets, "kubernetes": False, "namespace": (), **given}


def test_a_target_flag_gives_each_key_once() -> None:
    assert parse_target_flag("h:1, role=decode ,model=m") == {
        "url": "h:1",
        "role": "decode",
        "model": "m",
    }
    with pytest.raises(ConfigError, match="role is given twice"):
        parse_target_flag("h:1,role=prefill,role=decode")
    with pytest.raises(ConfigError, match="'rol=x' is not KEY=VALUE"):
        parse_target_flag("h:1,rol=x")
    with pytest.raises(ConfigError, match=r"^--target 'http://u:<secret>@h:1': 'x' is not"):
        parse_target_flag("http://u:pw@h:1,x")


def test_roles_are_the_known_ones_unless_configured() -> None:
    with pytest.raises(ConfigError, match="role 'bogus' is not one of both, prefill, decode"):
        build({"targets": [{"url": "h:1", "role": "bogus"}]})
    with pytest.raises(ConfigError, match=r"kubernetes\.default_role: role 'x' is not one of"):
        build({"kubernetes": {"default_role": "x"}})
    mine = build({"targets": [{"url": "h:1", "role": "router"}], "roles": ["router"]})
    assert mine.targets[0].role == "router"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"window_s": float("inf")}, "window_s: Input should be a finite number"),
        ({"interval_s": float("nan")}, "interval_s: Input should be a finite number"),
        ({"jitter": float("nan")}, "jitter: Input should be a finite number"),
        ({"quantiles": [0.5, float("inf")]}, "quantiles.1: Input should be a finite number"),
        ({"window_s": 1e6, "interval_s": 1}, "window_s holds at most 10000 scrape intervals"),
    ],
)
def test_numbers_are_finite_and_the_window_bounded(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build({"targets": [{"url": "h:1"}], **fields})


def test_default_identity_is_host_port_and_path_only_when_shared() -> None:
    urls = [
        "http://h:1/live?i=1",
        "http://h:1/live?i=2",
        "http://h:2/metrics",
        "https://[::1]:3/m",
    ]
    assert default_pods(urls) == ["h:1/live?i=1", "h:1/live?i=2", "h:2", "[::1]:3"]


def test_static_targets_request_without_userinfo_and_label_without_it() -> None:
    config = build({"targets": [{"url": "http://admin:s3cret@h:1/m"}, {"url": "h:2", "pod": "x"}]})
    first, second = static_targets(config)
    assert (first.url, first.pod, first.auth) == ("http://h:1/m", "h:1", "basic")
    assert first.credentials == Credentials(username="admin", password="s3cret")
    assert "s3cret" not in repr(first)
    assert (second.pod, second.credentials) == ("x", None)


def test_the_same_target_twice_or_one_identity_twice_is_refused() -> None:
    twice = build({"targets": [{"url": "http://u:a@h:1"}, {"url": "http://u:b@h:1/metrics"}]})
    with pytest.raises(ConfigError, match=r"^target http://h:1/metrics is listed twice"):
        static_targets(twice)
    same = build({"targets": [{"url": "h:1/a", "pod": "p"}, {"url": "h:2/b", "pod": "p"}]})
    with pytest.raises(ConfigError, match="would both be pod='p'"):
        static_targets(same)
    # another namespace is another identity
    spaced = [{"url": "h:1/a", "pod": "p"}, {"url": "h:2/b", "pod": "p", "namespace": "n"}]
    assert len(static_targets(build({"targets": spaced}))) == 2


def test_credentials_from_files_and_one_way_each(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("  tok\n")
    config = build({"targets": [{"url": "h:1", "bearer_token_file": str(token)}]})
    (target,) = static_targets(config)
    assert target.credentials == Credentials(bearer_token="tok")
    with pytest.raises(ConfigError, match="has credentials in the URL and in basic_auth"):
        build({"targets": [{"url": "http://u:p@h:1", "basic_auth": {"username": "u"}}]})
    unreadable = build({"targets": [{"url": "h:1", "bearer_token_file": str(tmp_path)}]})
    with pytest.raises(ConfigError, match=r"targets.0.bearer_token_file .*: Is a directory"):
        static_targets(unreadable)


def test_a_password_in_the_config_is_not_in_its_repr() -> None:
    config = build({"targets": [{"url": "h:1", "basic_auth": {"username": "u", "password": "pw"}}]})
    assert "pw" not in repr(config)
    (target,) = static_targets(config)
    assert target.credentials == Credentials(username="u", password="pw")


# -- any input at all ------------------------------------------------------------------------
parts = st.one_of(
    st.text(max_size=12),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(sorted(TARGET_KEYS)), st.text(max_size=8)),
)
urls = st.one_of(
    st.text(max_size=30),
    st.builds(
        lambda user, host, port, path: f"http://{user}@{host}:{port}/{path}",
        st.text(max_size=6),
        st.sampled_from(["h", "127.0.0.1", "[::1]", "[::1", ""]),
        st.integers(-1, 70000),
        st.text(max_size=8),
    ),
)
flags = st.builds(lambda url, rest: ",".join([url, *rest]), urls, st.lists(parts, max_size=4))


def config_or_error(load: Any) -> ExporterConfig | None:
    """``load()``'s config with its static targets built, or None after a ConfigError."""
    try:
        config: ExporterConfig = load()
        static_targets(config)
        return config
    except ConfigError as exc:
        message = str(exc)
    assert message, "an empty message"
    assert "\n" not in message, f"not one line: {message!r}"
    return None


@settings(max_examples=400, deadline=None)
@given(flag_list=st.lists(flags, min_size=1, max_size=3))
def test_any_target_flags_give_a_config_or_a_config_error(flag_list: list[str]) -> None:
    config_or_error(lambda: merge(options(*flag_list), None))


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
target_entries = st.dictionaries(
    st.sampled_from(["url", "role", "pod", "basic_auth", "bearer_token_file", "namespace"]),
    values | urls,
    max_size=4,
)
files = st.one_of(
    st.binary(max_size=80),
    st.dictionaries(
        st.sampled_from([*ExporterConfig.model_fields, "unknown"]),
        values | st.lists(target_entries, max_size=3),
        max_size=5,
    ).map(lambda d: yaml.safe_dump(d).encode()),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=files, flag_list=st.lists(flags, max_size=2))
def test_any_config_file_and_flags_give_a_config_or_a_config_error(
    data: bytes, flag_list: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exporter.yaml"
        path.write_bytes(data)
        config_or_error(lambda: merge(options(*flag_list), path))
