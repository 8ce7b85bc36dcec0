"""Secrets never leave the process: credentials in URLs, API keys, bearer tokens.

Rules (``docs/errors.md`` has the user-facing copy):

* A URL's userinfo (``http://user:password@host/``) is used for the request and never shown,
  logged or exported: ``display_url`` drops the password for display as Prometheus does
  (``user:<secret>@``), and an identity (the default ``pod`` label) never includes userinfo.
* An API key or token is redacted, with the whole ``Authorization`` value, from anything a
  server sends back (error bodies, stream errors) before it is shown or written: ``Redactor``.
* Tokens and passwords given in files or config fields are read at start and only ever put
  into request headers.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit, urlunsplit

SECRET = "<secret>"


def _netloc_without_userinfo(netloc: str) -> str:
    return netloc.rpartition("@")[2]


# scheme://userinfo@ : what a URL that urlsplit refuses (an unclosed bracket) may still hold.
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://)?([^/?#@]*)@")


def _mask_userinfo(match: re.Match[str]) -> str:
    user, colon, _password = match.group(2).partition(":")
    return f"{match.group(1) or ''}{user}:{SECRET}@" if colon else match.group(0)


def display_url(url: str) -> str:
    """``url`` safe to print: a password becomes ``<secret>`` (the user name stays)."""
    if "@" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return _USERINFO.sub(_mask_userinfo, url, count=1)
    if "://" not in url:  # HOST:PORT targets: "user:pw@host:8000" has no netloc to split
        return _USERINFO.sub(_mask_userinfo, url, count=1)
    if "@" not in parts.netloc:
        return url
    userinfo, _, host = parts.netloc.rpartition("@")
    user, colon, _password = userinfo.partition(":")
    shown = f"{user}:{SECRET}" if colon else user
    return urlunsplit(parts._replace(netloc=f"{shown}@{host}"))


def strip_userinfo(url: str) -> str:
    """``url`` without any ``user:password@`` part: the address the request goes to."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=_netloc_without_userinfo(parts.netloc)))


@dataclass(frozen=True, repr=False)
class Credentials:
    """How to authenticate a request: basic auth or a bearer token (not both). ``repr``
    never shows them."""

    username: str | None = None
    password: str | None = None
    bearer_token: str | None = None

    def __repr__(self) -> str:
        kind = "bearer" if self.bearer_token else "basic" if self.username is not None else "none"
        return f"Credentials({kind}, {SECRET})"

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self.password, self.bearer_token) if s)

    def headers(self) -> dict[str, str]:
        """The ``Authorization`` header for these credentials (empty for none)."""
        if self.bearer_token:
            return {"Authorization": f"Bearer {self.bearer_token}"}
        if self.username is not None:
            raw = f"{self.username}:{self.password or ''}".encode()
            return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}
        return {}


def url_credentials(url: str) -> Credentials | None:
    """The basic-auth credentials in ``url``'s userinfo, if it has any."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.username is None:
        return None
    return Credentials(
        username=unquote(parts.username),
        password=unquote(parts.password) if parts.password is not None else None,
    )


class Redactor:
    """Replaces each known secret, and ``Bearer SECRET``, with ``<secret>`` in text a server
    sent back. Give a basic-auth header's value (``Credentials.headers``) as a secret of its
    own to redact it too."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        needles: set[str] = set()
        for secret in secrets:
            if not secret:
                continue
            needles.add(secret)
            needles.add(f"Bearer {secret}")
        # Longest first, so "Bearer KEY" goes whole before "KEY" alone.
        self._needles = sorted(needles, key=len, reverse=True)

    def __bool__(self) -> bool:
        return bool(self._needles)

    def text(self, text: str) -> str:
        for needle in self._needles:
            if needle in text:
                text = text.replace(needle, SECRET)
        return text
