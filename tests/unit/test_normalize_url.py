"""Property: any target string gives a URL the HTTP client accepts, or a ConfigError; never
another exception, and the message shows the target as ``display_url`` does (no password)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import yarl
from hypothesis import example, given, settings
from hypothesis import strategies as st

from llmobs.errors import ConfigError
from llmobs.scrape.fetch import normalize_url
from llmobs.secrets import display_url

_PIECES = st.sampled_from(
    [
        "http://",
        "https://",
        "ftp://",
        "://",
        "[",
        "]",
        "::1",
        "[::1]",
        "@",
        "admin:s3cretPW@",
        ":",
        ":8000",
        ":99999",
        ":-1",
        ":+1",
        "/",
        "/metrics",
        "?a=1",
        "#x",
        "%",
        "%zz",
        "127.0.0.1",
        "host",
        "xn--",
        "\ufffd",
        "é",
        " ",
        "\t",
        "\x00",
    ]
)
_TARGETS = st.one_of(st.text(max_size=40), st.lists(_PIECES, max_size=8).map("".join))


@settings(max_examples=1500, deadline=None)
@given(_TARGETS)
@example("http://[::1")
@example("http://[::1]x/")
@example("http://\ufffd/")
@example("http://admin:s3cretPW@[::1")
@example("http://h:99999/")
def test_any_text_is_a_url_or_a_config_error(target: str) -> None:
    try:
        url = normalize_url(target)
    except ConfigError as exc:
        message = str(exc)
    else:
        message = ""
    if message:
        assert "\n" not in message
        full = target if "://" in target else f"http://{target}"
        assert message.startswith(repr(display_url(full)) + " is not a metrics URL")
        return
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname
    assert parts.path not in ("", "/")
    assert yarl.URL(url).raw_host  # the host aiohttp will connect to
    assert normalize_url(url) == url  # a normalized URL is its own normal form


@pytest.mark.parametrize(
    "bad", ["http://[::1", "http://h:99999/", "http://\ufffd/", "http://a:b@[x]/", "mailto:x"]
)
def test_bad_targets_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError, match="is not a metrics URL"):
        normalize_url(bad)
