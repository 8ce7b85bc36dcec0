"""Fetch and parse one target's /metrics over HTTP (aiohttp), with a timeout and a size cap.

The only I/O of scraping. Failures become typed ``TargetError``/``ExpositionError``s with a
reason code (``unreachable``, ``timeout``, ``http_status``, ``too_large``, ``malformed``,
``truncated``), so callers count and report them instead of crashing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

import aiohttp

from llmobs.clock import SYSTEM, Clock
from llmobs.errors import (
    BodyTooLarge,
    ConfigError,
    LlmobsError,
    TargetHTTPError,
    TargetTimeout,
    TargetUnreachable,
    TruncatedExposition,
)
from llmobs.exposition.model import Exposition, Shape
from llmobs.exposition.parser import DEFAULT_MAX_BYTES, parse
from llmobs.secrets import Credentials

# Text format only. SGLang's prometheus_client (>= 0.23) rewrites "sglang:" to "sglang_" in
# OpenMetrics sample lines, so asking for OpenMetrics would change the names we look up.
ACCEPT = "text/plain;version=0.0.4;q=1,text/plain;version=1.0.0;q=0.9,*/*;q=0.1"
_HEADERS = {"Accept": ACCEPT}
DEFAULT_TIMEOUT = 10.0


@lru_cache(maxsize=64)
def _timeout(seconds: float) -> aiohttp.ClientTimeout:
    return aiohttp.ClientTimeout(total=seconds)  # frozen: one per value, not per request


def normalize_url(target: str) -> str:
    """``host:port`` or a URL without a path becomes ``http://host:port/metrics``.

    Raises:
        ConfigError: not an http(s) URL with a host.
    """
    url = target if "://" in target else f"http://{target}"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise ConfigError(f"{target!r} is not a metrics URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"{target!r} is not a metrics URL: give http://HOST:PORT/metrics or HOST:PORT"
        )
    try:
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError:
        raise ConfigError(f"{target!r} has an invalid port") from None
    if parts.path in ("", "/"):
        url = url.rstrip("/") + "/metrics"
    return url


@dataclass(frozen=True)
class ScrapeResult:
    """One scrape: when (wall clock and monotonic), how long, and the exposition or error."""

    url: str
    wall_time: float
    monotonic: float
    duration: float
    exposition: Exposition | None
    error: LlmobsError | None

    @property
    def ok(self) -> bool:
        return self.error is None


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int) -> bytes:
    declared = response.content_length
    if declared is not None:
        if declared > max_bytes:
            raise BodyTooLarge(
                f"{response.url} announces {declared} bytes, over the {max_bytes}-byte cap"
            )
        if response.headers.get("Content-Encoding") is None:
            return await response.read()  # at most what it announced, in one call
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"{response.url} sent more than the {max_bytes}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


async def fetch(
    session: aiohttp.ClientSession,
    url: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    wanted: frozenset[str] | None = None,
    like: Shape | None = None,
    credentials: Credentials | None = None,
) -> Exposition:
    """GET ``url`` and parse it (only the ``wanted`` samples, when given, read against the
    target's last body's shape ``like``, when given: ``parse``).

    Raises:
        TargetUnreachable, TargetTimeout, TargetHTTPError, BodyTooLarge: the request failed.
        MalformedExposition, TruncatedExposition: the body is not a usable exposition.
    """
    try:
        async with session.get(
            url,
            headers=_HEADERS | credentials.headers() if credentials else _HEADERS,
            timeout=_timeout(timeout_s),
            allow_redirects=True,
        ) as response:
            if not 200 <= response.status < 300:
                text = (await response.content.read(300)).decode("utf-8", "replace").strip()
                raise TargetHTTPError(
                    response.status,
                    f"HTTP {response.status} {response.reason or ''} from {url}"
                    + (f": {text[:200]}" if text else ""),
                )
            body = await _read_capped(response, max_bytes)
            content_type = response.headers.get("Content-Type")
    except TimeoutError:
        raise TargetTimeout(f"{url} did not answer within {timeout_s:g}s") from None
    except aiohttp.ClientPayloadError as exc:
        raise TruncatedExposition(f"{url}: the body was cut short ({exc})") from None
    except aiohttp.ClientConnectorError as exc:
        raise TargetUnreachable(f"cannot connect to {url}: {exc.os_error or exc}") from None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise TargetUnreachable(f"{url} closed the connection: {exc}") from None
    except aiohttp.ClientResponseError as exc:
        raise TargetUnreachable(f"{url} sent an invalid HTTP response: {exc.message}") from None
    except aiohttp.InvalidURL as exc:
        raise ConfigError(f"invalid URL {exc}") from None
    return parse(body, content_type=content_type, max_bytes=max_bytes, wanted=wanted, like=like)


async def scrape(
    session: aiohttp.ClientSession,
    url: str,
    *,
    timeout_s: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    clock: Clock = SYSTEM,
    wanted: frozenset[str] | None = None,
    like: Shape | None = None,
    credentials: Credentials | None = None,
) -> ScrapeResult:
    """Like ``fetch`` but never raises an llmobs error: it is in the result. ``clock``
    stamps it (when it started, on both clocks, and how long it took)."""
    wall, start = clock.wall(), clock.monotonic()
    try:
        exposition = await fetch(
            session,
            url,
            timeout_s=timeout_s,
            max_bytes=max_bytes,
            wanted=wanted,
            like=like,
            credentials=credentials,
        )
        error: LlmobsError | None = None
    except LlmobsError as exc:
        exposition, error = None, exc
    return ScrapeResult(url, wall, start, clock.monotonic() - start, exposition, error)


async def scrape_all(
    urls: list[str],
    *,
    timeout_s: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    concurrency: int = 64,
) -> list[ScrapeResult]:
    """Scrape every URL concurrently (at most ``concurrency`` at once), results in order."""
    limit = asyncio.Semaphore(concurrency)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> ScrapeResult:
            async with limit:
                return await scrape(session, url, timeout_s=timeout_s, max_bytes=max_bytes)

        return list(await asyncio.gather(*(one(u) for u in urls)))
