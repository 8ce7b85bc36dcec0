"""Targets from a Prometheus HTTP service-discovery endpoint (``http_sd_configs``).

The endpoint answers a JSON list of target groups, ``[{"targets": ["HOST:PORT", ...],
"labels": {...}}, ...]``, the format Prometheus documents for ``http_sd_configs``; the
emulator's ``GET /sim/targets`` answers it with the ready instances of each role, so the
exporter (and the autoscaler's in-process scraping) follows replicas as they come and go.
The labels ``role``, ``group``, ``pod``, ``namespace`` and ``model`` become the target's;
``__scheme__`` and ``__metrics_path__`` shape its URL, as in Prometheus; other labels are
ignored. ``parse`` is pure; ``HttpSdPoller`` reads the list every ``refresh_interval_s`` and
hands it on whole. A read that fails (unreachable, an error status, not the format) keeps the
targets of the last good read, as Prometheus does, and is counted and logged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

import aiohttp

from llmobs import names
from llmobs.errors import ConfigError
from llmobs.exporter.config import HttpSd
from llmobs.exporter.state import Target
from llmobs.secrets import display_url

log = logging.getLogger(__name__)

KEY_PREFIX = "http_sd:"  # the keys of discovered targets: apart from static and pod keys
LABELS = ("role", "group", "pod", "namespace", "model")
MAX_BYTES = 4 * 1024 * 1024
TIMEOUT_S = 10.0


def _text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where} is {json.dumps(value)}, not a string")
    return value


def parse(body: bytes, source: str) -> list[Target]:
    """The targets of an HTTP SD document (``source`` names it in messages).

    Raises:
        ConfigError: not JSON, not a list of ``{targets, labels}`` groups of strings, an
            address that is not ``HOST:PORT``, an empty role, or one target listed twice.
    """
    try:
        document = json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError included
        raise ConfigError(f"{source}: not JSON ({exc})") from None
    if not isinstance(document, list):
        raise ConfigError(f"{source}: expected a list of target groups")
    found: dict[str, Target] = {}
    for i, group in enumerate(document):
        where = f"{source}: group {i}"
        if not isinstance(group, dict) or not isinstance(group.get("targets"), list):
            raise ConfigError(f"{where}: expected an object with a targets list")
        unknown = set(group) - {"targets", "labels"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        raw = group.get("labels", {})
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: labels must be an object")
        labels = {
            _text(k, f"{where} label name"): _text(v, f"{where} label {k}") for k, v in raw.items()
        }
        for address in group["targets"]:
            target = _target(_text(address, f"{where} target"), labels, where)
            if target.key in found:
                raise ConfigError(f"{where}: target {target.url} is listed twice")
            found[target.key] = target
    return list(found.values())


def _target(address: str, labels: dict[str, str], where: str) -> Target:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or "/" in address:
        raise ConfigError(f"{where}: {address!r} is not HOST:PORT")
    scheme = labels.get("__scheme__", "http")
    if scheme not in ("http", "https"):
        raise ConfigError(f"{where}: __scheme__ {scheme!r} is not http or https")
    path = labels.get("__metrics_path__", "/metrics")
    url = f"{scheme}://{address}{path if path.startswith('/') else '/' + path}"
    role = labels.get("role", names.ROLE_BOTH)
    if not role:
        raise ConfigError(f"{where}: role must not be empty")
    return Target(
        key=KEY_PREFIX + url,
        url=url,
        namespace=labels.get("namespace", ""),
        pod=labels.get("pod") or address,
        role=role,
        group=labels.get("group", ""),
        model=labels.get("model") or None,
    )


async def read(session: aiohttp.ClientSession, url: str) -> list[Target]:
    """One read of the endpoint. Raises ConfigError saying what went wrong."""
    shown = display_url(url)
    try:
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as response:
            if response.status != 200:
                raise ConfigError(f"{shown}: HTTP {response.status}")
            body = await response.content.read(MAX_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise ConfigError(f"{shown}: {type(exc).__name__} {exc}".rstrip()) from None
    if len(body) > MAX_BYTES:
        raise ConfigError(f"{shown}: over {MAX_BYTES} bytes")
    return parse(body, shown)


class HttpSdPoller:
    """Reads ``settings.url`` every ``refresh_interval_s``; ``sync`` gets each good list,
    ``failed`` is called once per failed read."""

    def __init__(
        self,
        settings: HttpSd,
        sync: Callable[[list[Target]], None],
        failed: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.sync = sync
        self.failed = failed
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="http_sd")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    targets = await read(session, self.settings.url)
                except ConfigError as exc:
                    self.failed()
                    log.warning("http_sd: %s (keeping the last targets)", exc)
                else:
                    self.sync(targets)
                await asyncio.sleep(self.settings.refresh_interval_s)
