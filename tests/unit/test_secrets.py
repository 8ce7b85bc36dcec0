from __future__ import annotations

import base64

from hypothesis import given
from hypothesis import strategies as st

from llmobs.secrets import (
    SECRET,
    Credentials,
    Redactor,
    display_url,
    strip_userinfo,
    url_credentials,
)


def test_display_url_hides_the_password_and_keeps_the_rest() -> None:
    url = "http://admin:s3cretPW@host:8000/metrics?x=1"
    assert display_url(url) == f"http://admin:{SECRET}@host:8000/metrics?x=1"
    assert "s3cretPW" not in display_url(url)
    assert display_url("http://host:8000/metrics") == "http://host:8000/metrics"


def test_strip_userinfo_and_url_credentials() -> None:
    url = "https://u%40x:p%3Aw@10.0.0.1:443/m"
    assert strip_userinfo(url) == "https://10.0.0.1:443/m"
    creds = url_credentials(url)
    assert creds is not None and creds.username == "u@x" and creds.password == "p:w"
    assert url_credentials("http://h/m") is None


def test_credentials_headers_and_repr_never_show_the_secret() -> None:
    basic = Credentials(username="admin", password="pw")
    assert basic.headers() == {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
    bearer = Credentials(bearer_token="tok")
    assert bearer.headers() == {"Authorization": "Bearer tok"}
    assert "pw" not in repr(basic) and "tok" not in repr(bearer)
    assert Credentials().headers() == {}


def test_redactor_removes_the_key_and_the_whole_authorization_value() -> None:
    redact = Redactor(["sk-SECRET123", None, ""])
    echoed = '{"error": "bad key", "headers": {"authorization": "Bearer sk-SECRET123"}}'
    out = redact.text(echoed)
    assert "sk-SECRET123" not in out and f'"{SECRET}"' in out
    assert not Redactor([None])


@given(st.text(), st.text(min_size=1))
def test_redactor_never_leaves_the_secret(text: str, secret: str) -> None:
    assert secret not in Redactor([secret]).text(text + secret + text) or secret in SECRET


@given(st.text())
def test_display_url_never_raises(url: str) -> None:
    assert isinstance(display_url(url), str)
    assert isinstance(strip_userinfo(url), str)


def test_display_url_masks_the_password_of_a_url_urlsplit_refuses() -> None:
    shown = display_url("http://admin:pw@[::1")
    assert "pw" not in shown and shown == f"http://admin:{SECRET}@[::1"
    assert display_url("admin:pw@[::1") == f"admin:{SECRET}@[::1"
