"""Static targets and credentials: the config's targets become ``Target``s, once, at start.

Two rules live here. A target's **identity** (its default ``pod`` label) is ``HOST:PORT``, or
``HOST:PORT/PATH?QUERY`` when another target shares its ``HOST:PORT``, and never its
userinfo; two targets that still share ``(namespace, pod)`` are refused, because their series
would be one series to Prometheus. **Credentials** (a URL's ``user:password@``,
``basic_auth``, ``bearer_token_file``) are read here at start, a file that cannot be read
being a ``ConfigError``; the request URL has no userinfo, and the secrets go only into the
request's ``Authorization`` header. The only I/O is reading the secret files.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from llmobs.config import read_bounded
from llmobs.errors import ConfigError
from llmobs.exporter.config import Auth, ExporterConfig, StaticTarget
from llmobs.exporter.state import Target
from llmobs.scrape.fetch import normalize_url
from llmobs.secrets import Credentials, strip_userinfo, url_credentials

# A token or password is a line; a bigger file is the wrong file.
MAX_SECRET_BYTES = 64 * 1024


def read_secret(path: str, what: str) -> str:
    """The secret in file ``path`` without surrounding whitespace (as Prometheus reads it).

    Raises:
        ConfigError: missing, unreadable, empty, too large, or not UTF-8 text.
    """
    raw = read_bounded(path, what, MAX_SECRET_BYTES)
    if raw is None:
        raise ConfigError(f"{what} {path} is over {MAX_SECRET_BYTES} bytes: not a secret file")
    try:
        secret = raw.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None
    if not secret:
        raise ConfigError(f"{what} {path} is empty: write the secret into it")
    return secret


def credentials(auth: Auth, where: str, url: str | None = None) -> Credentials | None:
    """How requests for ``auth`` (and ``url``'s userinfo) authenticate; None: they do not.

    Raises:
        ConfigError: a secret file cannot be read (``where`` names the config entry).
    """
    if auth.bearer_token_file is not None:
        token = read_secret(auth.bearer_token_file, f"{where}.bearer_token_file")
        return Credentials(bearer_token=token)
    basic = auth.basic_auth
    if basic is not None:
        password = basic.password
        if basic.password_file is not None:
            password = read_secret(basic.password_file, f"{where}.basic_auth.password_file")
        return Credentials(username=basic.username, password=password)
    return url_credentials(url) if url is not None else None


def _where(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc + parts.path + (f"?{parts.query}" if parts.query else "")


def default_pods(urls: Iterable[str]) -> list[str]:
    """The default ``pod`` of each request URL (no userinfo): ``HOST:PORT``, or
    ``HOST:PORT/PATH?QUERY`` for each URL whose ``HOST:PORT`` another one shares."""
    listed = list(urls)
    hosts = [urlsplit(url).netloc for url in listed]
    return [
        host if hosts.count(host) == 1 else _where(url)
        for host, url in zip(hosts, listed, strict=True)
    ]


def static_targets(config: ExporterConfig) -> list[Target]:
    """The configured static targets, their secret files read.

    Raises:
        ConfigError: a URL listed twice, two targets with one ``(namespace, pod)``, or a
            secret file that cannot be read.
    """
    items: list[tuple[StaticTarget, str]] = []
    seen: set[str] = set()
    for item in config.targets:
        url = strip_userinfo(normalize_url(item.url))
        if url in seen:
            raise ConfigError(f"target {url} is listed twice; give each target once")
        seen.add(url)
        items.append((item, url))
    defaults = iter(default_pods(url for item, url in items if item.pod is None))
    targets: list[Target] = []
    owners: dict[tuple[str, str], str] = {}
    for i, (item, url) in enumerate(items):
        pod = item.pod if item.pod is not None else next(defaults)
        other = owners.setdefault((item.namespace, pod), url)
        if other != url:
            raise ConfigError(
                f"targets {other} and {url} would both be pod={pod!r}"
                + (f" in namespace {item.namespace!r}" if item.namespace else "")
                + ", one series for two targets: give each its own pod=..."
            )
        targets.append(
            Target(
                key=url,
                url=url,
                namespace=item.namespace,
                pod=pod,
                role=item.role,
                group=item.group,
                model=item.model,
                engine=item.engine,
                credentials=credentials(item, f"targets.{i}", normalize_url(item.url)),
            )
        )
    return targets
