"""Every target of a Grafana board, run on a Prometheus through its HTTP API as Grafana would.

``targets`` walks a board (rows, nested panels) and lists its queries; ``run`` interpolates
each with ``llmobs.dashboards.variables`` and sends it to ``/api/v1/query_range`` (or
``/api/v1/query`` for instant targets). Pure but for ``run``, the thin I/O shell. A query
Prometheus refuses is a Result with ``error`` set; a value that is not finite (NaN: an empty
window; an infinite quantile) is None. Query variables (``label_values``) get their options from
Prometheus's label API, as Grafana's variable editor does. A URL's ``user:password@`` is
sent as basic auth and never shown (``llmobs.secrets``).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmobs.dashboards import variables as tv
from llmobs.errors import ConfigError, TargetHTTPError, TargetUnreachable
from llmobs.secrets import Redactor, display_url, strip_userinfo, url_credentials


@dataclass(frozen=True, slots=True)
class Target:
    """One query of one panel, as the board spells it (variables not yet substituted)."""

    board_uid: str
    panel_id: int
    panel_title: str
    panel_type: str
    ref_id: str
    expr: str
    legend: str | None
    instant: bool


@dataclass(frozen=True, slots=True)
class Series:
    """One series a query returned: its labels and its (unix seconds, value) points."""

    labels: Mapping[str, str]
    points: tuple[tuple[float, float | None], ...]


@dataclass(frozen=True, slots=True)
class Result:
    """What Prometheus answered for one target: ``query`` is the interpolated expression."""

    target: Target
    query: str
    series: tuple[Series, ...]
    error: str | None


def _panels(panels: object) -> Iterator[Mapping[str, Any]]:
    """Every panel, a row's nested panels (a collapsed row holds them) after the row."""
    for panel in panels if isinstance(panels, list) else ():
        if isinstance(panel, Mapping):
            yield panel
            yield from _panels(panel.get("panels"))


def _panel_id(panel: Mapping[str, Any]) -> int:
    found = panel.get("id")
    if isinstance(found, bool) or not isinstance(found, int):
        raise ConfigError(f"panel {panel.get('title')!r} has id {found!r}, not a whole number")
    return found


def targets(board: Mapping[str, Any]) -> list[Target]:
    """Every Prometheus target of every panel of ``board``, rows' nested panels included.

    Hidden targets (``hide: true``) are left out, as Grafana does not run them; an instant
    target is one with ``instant`` and not ``range``.

    Raises:
        ConfigError: a panel with targets whose id is not a whole number.
    """
    out = []
    for panel in _panels(board.get("panels")):
        found = panel.get("targets")
        for target in found if isinstance(found, list) else ():
            if not isinstance(target, Mapping) or target.get("hide") or "expr" not in target:
                continue
            out.append(
                Target(
                    board_uid=str(board.get("uid", "")),
                    panel_id=_panel_id(panel),
                    panel_title=str(panel.get("title", "")),
                    panel_type=str(panel.get("type", "")),
                    ref_id=str(target.get("refId", "")),
                    expr=str(target["expr"]),
                    legend=str(target.get("legendFormat") or "") or None,
                    instant=bool(target.get("instant")) and not target.get("range"),
                )
            )
    return out


def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def series(data: Mapping[str, Any]) -> tuple[Series, ...]:
    """The ``data`` of a Prometheus query answer (matrix, vector or scalar) as Series."""
    kind, result = data.get("resultType"), data["result"]
    if kind == "scalar":
        return (Series({}, ((float(result[0]), _finite(result[1])),)),)
    if kind == "vector":
        return tuple(
            Series(dict(r["metric"]), ((float(r["value"][0]), _finite(r["value"][1])),))
            for r in result
        )
    if kind == "matrix":
        return tuple(
            Series(dict(r["metric"]), tuple((float(t), _finite(v)) for t, v in r["values"]))
            for r in result
        )
    raise ConfigError(f"Prometheus answered a {kind!r} result, not a matrix, vector or scalar")


class _Client:
    """Prometheus's HTTP API, form-encoded POSTs as Grafana sends them.

    A URL's ``user:password@`` is sent as basic auth to that URL only (not to where it
    redirects) and never shown: messages name the URL as ``secrets.display_url`` does, and
    what Prometheus answers is shown with the credentials redacted.
    """

    def __init__(self, url: str, timeout: float) -> None:
        """Raises ConfigError: ``url`` is not an http(s) URL with a host."""
        self.shown = display_url(url).rstrip("/")
        if not _http_url(url):
            raise ConfigError(
                f"{self.shown!r} is not a Prometheus URL: give http://HOST:PORT "
                "(with user:password@ before HOST for basic auth)"
            )
        credentials = url_credentials(url)
        self.headers = credentials.headers() if credentials is not None else {}
        auth = self.headers.get("Authorization", "")
        secrets = credentials.secrets if credentials is not None else ()
        self.redact = Redactor([*secrets, auth, auth.partition(" ")[2]]).text
        self.url = strip_userinfo(url).rstrip("/")
        self.timeout = timeout

    def foreign(self) -> TargetHTTPError:
        return TargetHTTPError(200, f"Prometheus at {self.shown} did not answer its API's JSON")

    def _request(
        self, path: str, params: Sequence[tuple[str, str]], post: bool
    ) -> urllib.request.Request:
        form = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}"
        if post:
            request = urllib.request.Request(url, data=form.encode(), method="POST")
            request.add_header("Content-Type", "application/x-www-form-urlencoded")
        else:
            request = urllib.request.Request(f"{url}?{form}")
        for name, value in self.headers.items():
            request.add_unredirected_header(name, value)
        return request

    def call(
        self, path: str, params: Sequence[tuple[str, str]], post: bool = True
    ) -> tuple[Any, str | None]:
        """(data, None) on success, (None, Prometheus's error) on a refused query. Queries
        are POSTed (Grafana's default); the label API takes GET only.

        Raises:
            TargetUnreachable: no answer from Prometheus.
            TargetHTTPError: an answer that is not Prometheus's JSON (a 5xx, a proxy page,
                a 401 for missing or wrong credentials).
        """
        document: Any = None
        try:
            request = self._request(path, params, post)
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                document = _json(answer.read())
        except urllib.error.HTTPError as exc:
            with contextlib.suppress(OSError, http.client.HTTPException):
                document = _json(exc.read())
            if not isinstance(document, Mapping) or "status" not in document:
                why = ""
                if exc.code in (401, 403):
                    why = (
                        " (the user and password in the URL were refused)"
                        if self.headers
                        else " (it wants credentials: give http://USER:PASSWORD@HOST:PORT)"
                    )
                raise TargetHTTPError(
                    exc.code, f"Prometheus at {self.shown}: HTTP {exc.code}{why}"
                ) from None
        except (OSError, ValueError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            why = self.redact(" ".join(str(reason).split()))[:300]
            raise TargetUnreachable(f"Prometheus at {self.shown}: {why}") from None
        if not isinstance(document, Mapping) or "status" not in document:
            raise self.foreign()
        if document["status"] != "success":
            kind, error = document.get("errorType", "error"), document.get("error", "")
            return None, self.redact(f"{kind}: {error}")
        return document["data"], None


def _http_url(url: str) -> bool:
    """Whether ``url`` is an http(s) URL with a host (and a port, if any, that is a number)."""
    try:
        parts = urllib.parse.urlsplit(url)
        # reading .port raises ValueError for a port that is not a number or out of range
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != -1
    except ValueError:  # that, or an unclosed IPv6 bracket
        return False


def _json(body: bytes) -> Any:
    """``body`` as JSON, or None when it is not JSON."""
    try:
        return json.loads(body)
    except ValueError:
        return None


def _resolve(
    board: Mapping[str, Any],
    client: _Client,
    chosen: Mapping[str, Sequence[str]],
    start: float,
    end: float,
) -> dict[str, tv.Variable]:
    """The board's variables, in order, with query variables' options from Prometheus.

    Raises:
        ConfigError: a variable query that is not ``label_values``, or one Prometheus refuses.
    """
    out: dict[str, tv.Variable] = {}
    for variable in tv.declared(board):
        if variable.kind == "datasource":
            continue
        options: tuple[str, ...] = ()
        if variable.kind == "query":
            selector, label = tv.label_values(tv.interpolate(variable.query, out))
            params = [("start", repr(start)), ("end", repr(end))]
            if selector is not None:
                params.append(("match[]", selector))
            data, error = client.call(f"label/{label}/values", params, post=False)
            if error is not None:
                raise ConfigError(f"variable {variable.name}: {variable.query!r}: {error}")
            if not isinstance(data, list) or not all(isinstance(v, str) for v in data):
                raise client.foreign()
            options = tv.filtered(sorted(data), variable.regex)
        elif variable.kind == "custom":
            options = tv.custom_options(variable.query)
        elif variable.kind in ("constant", "textbox") and not variable.current:
            options = (variable.query,)
        out[variable.name] = tv.selection(variable, chosen.get(variable.name), options)
    return out


def run(
    board: Mapping[str, Any],
    prometheus_url: str,
    variables: Mapping[str, Sequence[str]],
    start: float,
    end: float,
    step: float,
    *,
    scrape_interval: float = 15.0,
    align: bool = True,
    timeout: float = 30.0,
) -> list[Result]:
    """Run every target of ``board`` from ``start`` to ``end`` (unix seconds) every ``step``.

    ``variables`` are the selected values by variable name (``["$__all"]`` or ``["All"]`` for
    All); one not given keeps the board's saved selection. ``scrape_interval`` is the data
    source's (Grafana's default is 15 s): it bounds ``$__interval`` and sets
    ``$__rate_interval``. As Grafana does, the range is aligned down to whole steps (``align``
    False: points from ``start`` exactly, so that one falls on ``end`` when the range is whole
    steps) and an instant target is evaluated at ``end``.

    Raises:
        TargetUnreachable, TargetHTTPError: Prometheus cannot be asked, or what answered is
            not Prometheus's API.
        ConfigError: ``prometheus_url`` is not an http(s) URL, a variable that cannot be
            resolved, or an unknown ``:format``.
    """
    client = _Client(prometheus_url, timeout)
    values = _resolve(board, client, variables, start, end)
    scoped = tv.builtins(start, end, step, scrape_interval)
    interval = max(step, scrape_interval)
    first, last = (start - start % interval, end - end % interval) if align else (start, end)
    out = []
    for target in targets(board):
        query = tv.interpolate(target.expr, values, scoped)
        if target.instant:
            data, error = client.call("query", [("query", query), ("time", repr(end))])
        else:
            params = [("query", query), ("start", repr(first)), ("end", repr(last))]
            data, error = client.call("query_range", [*params, ("step", repr(interval))])
        try:
            found = series(data) if error is None else ()
        except (KeyError, TypeError, ValueError, IndexError, AttributeError):
            raise client.foreign() from None
        out.append(Result(target=target, query=query, series=found, error=error))
    return out
