"""HTTP service discovery: the documents Prometheus's http_sd_configs read (the emulator's
``/sim/targets`` among them) become targets, and any body at all is a list of targets or a
ConfigError, never another exception; the ``http_sd`` config section is strict."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs.errors import ConfigError
from llmobs.exporter.config import build
from llmobs.exporter.httpsd import KEY_PREFIX, parse
from llmobs.exporter.state import Target


def body(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_the_emulators_targets_become_targets_with_their_labels() -> None:
    document = [
        {"targets": ["127.0.0.1:8001"], "labels": {"role": "prefill", "pod": "prefill-0"}},
        {"targets": ["127.0.0.1:8002"], "labels": {"role": "decode", "group": "g"}},
        {
            "targets": ["10.0.0.5:443"],
            "labels": {"__scheme__": "https", "__metrics_path__": "/m", "__meta_x": "y"},
        },
        {"targets": []},
    ]
    assert parse(body(document), "sd") == [
        Target(
            key=KEY_PREFIX + "http://127.0.0.1:8001/metrics",
            url="http://127.0.0.1:8001/metrics",
            pod="prefill-0",
            role="prefill",
        ),
        Target(
            key=KEY_PREFIX + "http://127.0.0.1:8002/metrics",
            url="http://127.0.0.1:8002/metrics",
            pod="127.0.0.1:8002",
            role="decode",
            group="g",
        ),
        Target(
            key=KEY_PREFIX + "https://10.0.0.5:443/m",
            url="https://10.0.0.5:443/m",
            pod="10.0.0.5:443",
        ),
    ]


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"<html>", "not JSON"),
        (b"\xff", "not JSON"),
        (body({"targets": []}), "expected a list of target groups"),
        (body([{"labels": {}}]), "group 0: expected an object with a targets list"),
        (body([{"targets": [], "label": {}}]), "unknown key 'label'"),
        (body([{"targets": [], "labels": []}]), "labels must be an object"),
        (body([{"targets": ["h:1"], "labels": {"role": 1}}]), "label role is 1, not a string"),
        (body([{"targets": [7]}]), "target is 7, not a string"),
        (body([{"targets": ["h"]}]), "'h' is not HOST:PORT"),
        (body([{"targets": ["h:0"]}]), "'h:0' is not HOST:PORT"),
        (body([{"targets": ["h:1/x"]}]), "'h:1/x' is not HOST:PORT"),
        (body([{"targets": ["h:1"], "labels": {"__scheme__": "ftp"}}]), "not http or https"),
        (body([{"targets": ["h:1"], "labels": {"role": ""}}]), "role must not be empty"),
        (body([{"targets": ["h:1", "h:1"]}]), "listed twice"),
    ],
)
def test_a_bad_document_says_what_is_wrong(raw: bytes, says: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse(raw, "sd")
    assert str(caught.value).startswith("sd: ") and says in str(caught.value)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
GROUPS = st.lists(
    st.fixed_dictionaries(
        {
            "targets": st.lists(
                st.sampled_from(["h:1", "h:2", "10.0.0.1:8000", "h:1", "x", "h:70000"]),
                max_size=3,
            ),
            "labels": st.dictionaries(
                st.sampled_from(["role", "pod", "group", "__scheme__", "other"]),
                st.sampled_from(["", "decode", "http", "https", "p"]),
            ),
        }
    ),
    max_size=3,
)


@settings(max_examples=300)
@given(st.one_of(JSON, GROUPS) | st.binary(max_size=32))
def test_any_document_is_targets_or_a_config_error(document: Any) -> None:
    # raw bytes as they are; anything else (a JSON value, a string included) as its JSON body
    raw = document if isinstance(document, bytes) else body(document)
    try:
        targets = parse(raw, "sd")
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith("sd: "), message
        return
    assert len({t.key for t in targets}) == len(targets)
    for target in targets:
        assert target.key == KEY_PREFIX + target.url and target.role and target.pod
        assert target.url.startswith(("http://", "https://"))


def test_the_http_sd_section_is_strict_and_never_shows_a_password() -> None:
    config = build({"http_sd": {"url": "http://127.0.0.1:8000/sim/targets"}})
    assert config.http_sd is not None and config.http_sd.refresh_interval_s == 60
    with pytest.raises(ConfigError, match="refresh_interval"):
        build({"http_sd": {"url": "http://h/sd", "refresh_interval": 1}})
    with pytest.raises(ConfigError, match="not an http"):
        build({"http_sd": {"url": "file:///etc/sd.json"}})
    with pytest.raises(ConfigError, match="without user:password@") as caught:
        build({"http_sd": {"url": "http://u:hunter2@h/sd"}})
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigError, match="no targets"):
        build({})
