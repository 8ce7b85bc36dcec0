"""Fetch and parse one target's /metrics over HTTP (aiohttp), with a timeout and a size cap.

The only I/O of scraping. Failures become typed ``TargetError``/``ExpositionError``s with a
reason code (``unreachable``, ``timeout``, ``http_status``, ``too_large``, ``malformed``,
``truncated``), so callers count and report them instead of crashing; each message names the
cause (the timeout, the content type, the encoding, the redirect loop).

A URL's userinfo (``user:password@``) enters here and goes no further: it becomes the
request's basic auth, and every URL in a result or message is ``secrets.display_url``'s.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import yarl

from llmobs.clock import SYSTEM, Clock
from llmobs.errors import (
    BodyTooLarge,
    ConfigError,
    LlmobsError,
    MalformedExposition,
    TargetHTTPError,
    TargetTimeout,
    TargetUnreachable,
    TruncatedExposition,
)
from llmobs.exposition.model import Exposition, Shape
from llmobs.exposition.parser import DEFAULT_MAX_BYTES, parse
from llmobs.secrets import Credentials, Redactor, display_url, strip_userinfo, url_credentials

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

    Any text gives a URL the HTTP client accepts (http or https, a host, a valid port) or a
    ``ConfigError``; its messages show the URL as ``display_url`` does (no password).

    Raises:
        ConfigError: not an http(s) URL with a host.
    """
    url = target if "://" in target else f"http://{target}"
    shown = display_url(url)
    usage = "give http://HOST:PORT/metrics or HOST:PORT"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:  # an unclosed IPv6 bracket, a port over 65535
        raise ConfigError(f"{shown!r} is not a metrics URL: {exc}; {usage}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{shown!r} is not a metrics URL: {usage}")
    try:  # the client's own reading refuses hosts urlsplit takes (bad IDNA, stray brackets)
        client_host = yarl.URL(url).raw_host
    except (ValueError, IndexError) as exc:  # yarl 1.x can fail on odd text with IndexError
        raise ConfigError(f"{shown!r} is not a metrics URL: {exc}; {usage}") from None
    if not client_host:
        raise ConfigError(f"{shown!r} is not a metrics URL: {usage}")
    if parts.path in ("", "/"):  # before any query or fragment: "host:1?x" too
        url = urlunsplit(parts._replace(path="/metrics"))
    return url


@dataclass(frozen=True)
class ScrapeResult:
    """One scrape: when (wall clock and monotonic), how long, and the exposition or error.
    ``url`` is the one scraped as it may be shown (``display_url``: no password)."""

    url: str
    wall_time: float
    monotonic: float
    duration: float
    exposition: Exposition | None
    error: LlmobsError | None

    @property
    def ok(self) -> bool:
        return self.error is None


async def _read_capped(response: aiohttp.ClientResponse, max_bytes: int, shown: str) -> bytes:
    declared = response.content_length
    if declared is not None:
        if declared > max_bytes:
            raise BodyTooLarge(f"{shown} announces {declared} bytes, over the {max_bytes}-byte cap")
        if response.headers.get("Content-Encoding") is None:
            return await response.read()  # at most what it announced, in one call
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(65536):
        size += len(chunk)
        if size > max_bytes:
            raise BodyTooLarge(f"{shown} sent more than the {max_bytes}-byte cap")
        chunks.append(chunk)
    return b"".join(chunks)


def _redactor(credentials: Credentials | None) -> Redactor:
    """Hides the credentials, and the Authorization value made of them, in server text."""
    if credentials is None:
        return Redactor()
    header = credentials.headers().get("Authorization", "")
    return Redactor([*credentials.secrets, header, header.partition(" ")[2]])


def _redirects(exc: aiohttp.TooManyRedirects) -> str:
    """Where a redirect loop went, up to its first repeat: ``a -> b -> a`` (shown without
    passwords)."""
    hops: list[str] = []
    for response in exc.history:
        location = response.headers.get("Location")
        for hop in (str(response.url), str(response.url.join(yarl.URL(location or "")))):
            if not hops or hops[-1] != hop:
                hops.append(hop)
            if hops.count(hop) > 1:
                return " -> ".join(display_url(h) for h in hops)
    return " -> ".join(display_url(h) for h in hops[:6]) + (" -> ..." if len(hops) > 6 else "")


def _one_line(text: object) -> str:
    """An aiohttp error's text on one line (some span several)."""
    return " ".join(str(text).split())


def _not_metrics(content_type: str | None) -> bool:
    """A content type no exposition is served as (HTML, JSON, images...); None is unknown."""
    if content_type is None:
        return False
    kind = content_type.partition(";")[0].strip().lower()
    return kind not in ("", "text/plain", "application/openmetrics-text")


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

    Userinfo in ``url`` is sent as basic auth (``credentials``, when given, win) and never
    shown: messages name the URL as ``display_url`` does, and a server's text is shown with
    the credentials redacted.

    Raises:
        TargetUnreachable, TargetTimeout, TargetHTTPError, BodyTooLarge: the request failed.
        MalformedExposition, TruncatedExposition: the body is not a usable exposition.
        ConfigError: ``url`` is not a URL the client can request.
    """
    shown = url
    if "@" in url:  # rare, so a steady scrape does not pay for parsing its URL
        shown = display_url(url)
        credentials = credentials or url_credentials(url)
        url = strip_userinfo(url)
    encoding = None
    try:
        async with session.get(
            url,
            headers=_HEADERS | credentials.headers() if credentials else _HEADERS,
            timeout=_timeout(timeout_s),
            allow_redirects=True,
        ) as response:
            if not 200 <= response.status < 300:
                text = (await response.content.read(300)).decode("utf-8", "replace").strip()
                text = _redactor(credentials).text(text)
                raise TargetHTTPError(
                    response.status,
                    f"HTTP {response.status} {response.reason or ''} from {shown}"
                    + (f": {text[:200]}" if text else ""),
                )
            encoding = response.headers.get("Content-Encoding")
            body = await _read_capped(response, max_bytes, shown)
            content_type = response.headers.get("Content-Type")
    except TimeoutError:
        raise TargetTimeout(
            f"{shown} timed out: no complete answer within {timeout_s:g}s"
        ) from None
    except aiohttp.ClientPayloadError as exc:
        if encoding is not None and "encoding" in str(exc).lower():
            raise MalformedExposition(
                f"{shown} sent a body that does not decode as its Content-Encoding "
                f"{encoding!r} says (the server mislabels or corrupts its compression)"
            ) from None
        raise TruncatedExposition(f"{shown}: the body was cut short ({_one_line(exc)})") from None
    except aiohttp.ClientConnectorError as exc:
        reason = _one_line(exc.os_error or exc)
        raise TargetUnreachable(f"cannot connect to {shown}: {reason}") from None
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
        raise TargetUnreachable(f"{shown} closed the connection: {_one_line(exc)}") from None
    except aiohttp.TooManyRedirects as exc:
        raise TargetHTTPError(
            exc.history[-1].status if exc.history else 0,
            f"too many redirects from {shown}: gave up after {len(exc.history)} "
            f"({_redirects(exc)})",
        ) from None
    except aiohttp.ClientResponseError as exc:
        raise TargetUnreachable(
            f"{shown} sent an invalid HTTP response: {_one_line(exc.message) or type(exc).__name__}"
        ) from None
    except (aiohttp.InvalidURL, ValueError) as exc:
        raise ConfigError(
            f"{shown} is not a URL the client can request: {_one_line(exc)}"
        ) from None
    try:
        return parse(body, content_type=content_type, max_bytes=max_bytes, wanted=wanted, like=like)
    except (MalformedExposition, TruncatedExposition):
        if not _not_metrics(content_type):
            raise
        start = body[:200].decode("utf-8", "replace").strip().partition("\n")[0][:60]
        raise MalformedExposition(
            f"{shown} answered with Content-Type {content_type!r}, not a metrics page "
            f"(it begins {_redactor(credentials).text(start)!r}): give the URL of the "
            "target's Prometheus /metrics endpoint"
        ) from None


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
    shown = display_url(url) if "@" in url else url
    return ScrapeResult(shown, wall, start, clock.monotonic() - start, exposition, error)


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
