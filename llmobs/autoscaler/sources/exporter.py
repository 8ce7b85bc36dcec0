"""An exporter's ``/v1/roles``: the role observation another process already computes.

One GET per ``observe`` (aiohttp, a total timeout, a size cap), read with
``llmobs.observation.from_json``. Every way it can go wrong is a ``SourceError`` whose cause
says which: ``unreachable`` (refused, reset, DNS), ``timeout`` (no complete answer in time:
a hung exporter), ``http_status`` (a non-2xx answer), ``too_large``, ``malformed`` (not
strict JSON, or not a schema-1 role document). Credentials (a URL's ``user:password@``,
``basic_auth``, ``bearer_token_file``) are read at start, sent only in the Authorization
header, and never shown: messages name the URL as ``display_url`` does.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import Field, field_validator

from llmobs import strictjson
from llmobs.autoscaler.model import SourceError
from llmobs.clock import SYSTEM, Clock
from llmobs.errors import ObservationError
from llmobs.exporter.config import Auth
from llmobs.exporter.targets import credentials
from llmobs.observation import Observation, from_json
from llmobs.secrets import Credentials, Redactor, display_url, strip_userinfo

ROLES_PATH = "/v1/roles"
DEFAULT_MAX_BYTES = 16 * 1024 * 1024


def roles_url(url: str) -> str:
    """``http://host:port`` (or with ``/``) becomes ``.../v1/roles``; a URL with a path stays.

    Raises:
        ValueError: not an http(s) URL with a host (the message shows no password).
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        raise ValueError(f"{display_url(url)!r} is not an exporter URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(
            f"{display_url(url)!r} is not an exporter URL: give http://HOST:PORT (the "
            f"exporter's address; {ROLES_PATH} is added) or the whole {ROLES_PATH} URL"
        )
    if parts.path in ("", "/"):
        return urlunsplit(parts._replace(path=ROLES_PATH))
    return url


class ExporterSourceConfig(Auth):
    """Read role observations from a running ``llmobs exporter``."""

    kind: Literal["exporter"] = Field(
        default="exporter", description="This source: an exporter's /v1/roles document."
    )
    url: str = Field(
        description="The exporter's address (http://HOST:PORT, /v1/roles is added) or the "
        "whole /v1/roles URL; user:password@ in it is sent as basic auth and never shown."
    )
    timeout_s: float = Field(
        default=5.0, gt=0, description="Seconds for the whole answer; longer is a timeout."
    )
    max_bytes: int = Field(
        default=DEFAULT_MAX_BYTES, ge=1, description="Largest document accepted, in bytes."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return roles_url(value)


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int, shown: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > max_bytes:
            raise SourceError(f"{shown} sent more than {max_bytes} bytes", cause="too_large")
        chunks.append(chunk)
    return b"".join(chunks)


def read_document(body: bytes, shown: str) -> Observation:
    """The observation in ``body``.

    Raises:
        SourceError: (``malformed``) not UTF-8 strict JSON, or not a role document.
    """
    try:
        return from_json(strictjson.loads(body))
    except (ValueError, ObservationError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise SourceError(f"{shown} sent no role document: {exc}", cause="malformed") from None


class ExporterSource:
    """``model.Source`` over an exporter's ``/v1/roles``."""

    def __init__(self, config: ExporterSourceConfig, clock: Clock = SYSTEM) -> None:
        """Raises ConfigError: a secret file cannot be read."""
        self.config = config
        self.clock = clock
        self.shown = display_url(config.url)
        self.url = strip_userinfo(config.url)
        self.credentials: Credentials | None = credentials(config, "exporter", config.url)
        secrets = self.credentials.secrets if self.credentials is not None else ()
        header = self.credentials.headers().get("Authorization", "") if self.credentials else ""
        self._redact = Redactor([*secrets, header, header.partition(" ")[2]])
        self.last_success: float | None = None  # wall time of the last good document
        self._session: aiohttp.ClientSession | None = None

    async def observe(self) -> Observation:
        """The exporter's role document now (raises ``SourceError``)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        headers = {"Accept": "application/json"}
        if self.credentials is not None:
            headers |= self.credentials.headers()
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self._session.get(self.url, headers=headers, timeout=timeout) as response:
                if not 200 <= response.status < 300:
                    text = (await response.content.read(200)).decode("utf-8", "replace")
                    text = " ".join(self._redact.text(text).split())
                    raise SourceError(
                        f"HTTP {response.status} {response.reason or ''} from {self.shown}"
                        + (f": {text}" if text else ""),
                        cause="http_status",
                    )
                body = await _read_capped(response, self.config.max_bytes, self.shown)
        except TimeoutError:
            raise SourceError(
                f"{self.shown} timed out: no complete answer within {self.config.timeout_s:g}s",
                cause="timeout",
            ) from None
        except aiohttp.ClientPayloadError as exc:
            raise SourceError(
                f"{self.shown} sent a broken body: {' '.join(str(exc).split())}",
                cause="malformed",
            ) from None
        except aiohttp.ClientError as exc:
            why = self._redact.text(" ".join(str(exc).split()) or type(exc).__name__)
            raise SourceError(f"cannot reach {self.shown}: {why}", cause="unreachable") from None
        observation = read_document(body, self.shown)
        self.last_success = self.clock.wall()
        return observation

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
