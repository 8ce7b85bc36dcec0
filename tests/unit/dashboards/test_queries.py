"""``llmobs.dashboards.queries`` without Prometheus: the targets a board holds, Prometheus's
answers read into Series, and a server that is not Prometheus (real sockets on 127.0.0.1)."""

from __future__ import annotations

import base64
import contextlib
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs.dashboards import queries
from llmobs.dashboards import variables as tv
from llmobs.errors import ConfigError, TargetHTTPError, TargetUnreachable
from tests.servers import Handler, HTTPServer, free_port

BOARD: dict[str, Any] = {
    "uid": "b",
    "panels": [
        {
            "id": 1,
            "type": "stat",
            "title": "Rate",
            "targets": [
                {
                    "refId": "A",
                    "expr": "sum(rate(x[$__rate_interval]))",
                    "legendFormat": "{{role}}",
                },
                {"refId": "B", "expr": "hidden", "hide": True},
                {"refId": "C", "expr": "up", "instant": True},
                {"refId": "D", "expr": "both", "instant": True, "range": True},
            ],
        },
        {"id": 2, "type": "row", "title": "Expanded", "collapsed": False, "panels": []},
        {"id": 3, "type": "text", "title": "No targets"},
        {
            "id": 4,
            "type": "row",
            "title": "Collapsed",
            "collapsed": True,
            "panels": [
                {"id": 5, "type": "table", "title": "In", "targets": [{"refId": "A", "expr": "y"}]}
            ],
        },
    ],
}


def test_targets_in_board_order_with_a_collapsed_rows_panels() -> None:
    found = queries.targets(BOARD)
    assert [(t.panel_id, t.ref_id, t.instant) for t in found] == [
        (1, "A", False),
        (1, "C", True),
        (1, "D", False),  # instant and range: Grafana runs both; the range is the one kept
        (5, "A", False),
    ]
    first = found[0]
    assert (first.board_uid, first.panel_title, first.panel_type) == ("b", "Rate", "stat")
    assert first.legend == "{{role}}" and found[1].legend is None


def test_answers_read_into_series_non_finite_as_none() -> None:
    matrix = {
        "resultType": "matrix",
        "result": [
            {"metric": {"role": "decode"}, "values": [[10, "1.5"], [20, "NaN"], [30, "+Inf"]]}
        ],
    }
    (series,) = queries.series(matrix)
    assert series.labels == {"role": "decode"}
    assert series.points == ((10.0, 1.5), (20.0, None), (30.0, None))
    vector = {"resultType": "vector", "result": [{"metric": {}, "value": [5.5, "2"]}]}
    assert queries.series(vector) == (queries.Series({}, ((5.5, 2.0),)),)
    assert queries.series({"resultType": "scalar", "result": [1, "3"]})[0].points == ((1.0, 3.0),)
    assert queries.series({"resultType": "vector", "result": []}) == ()
    with pytest.raises(ConfigError, match="'string'"):
        queries.series({"resultType": "string", "result": [1, "x"]})


@given(st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5))
def test_every_value_reads_back_or_is_none(values: list[float]) -> None:
    answer = {
        "resultType": "matrix",
        "result": [{"metric": {}, "values": [[i, repr(v)] for i, v in enumerate(values)]}],
    }
    (series,) = queries.series(answer)
    for (_, read), value in zip(series.points, values, strict=True):
        assert read == (value if value == value and abs(value) != float("inf") else None)


def test_no_prometheus_is_unreachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TargetUnreachable, match=url):
        queries.run(BOARD, url, {}, 0, 60, 15)


async def _proxy_error(request: web.Request) -> web.Response:
    return web.Response(status=502, text="<html>bad gateway</html>")


async def _not_the_api(request: web.Request) -> web.Response:
    return web.json_response({"hello": "world"})


async def _garbled(request: web.Request) -> web.Response:
    return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": 5}})


def test_a_server_that_is_not_prometheus_is_an_http_error() -> None:
    proxy = HTTPServer({"/api/v1/query_range": _proxy_error})
    with proxy, pytest.raises(TargetHTTPError, match="HTTP 502"):
        queries.run(BOARD, proxy.url(""), {}, 0, 60, 15)
    other = HTTPServer({"/api/v1/query_range": _not_the_api})
    with other, pytest.raises(TargetHTTPError, match="did not answer"):
        queries.run(BOARD, other.url(""), {}, 0, 60, 15)
    garbled = HTTPServer({"/api/v1/query_range": _garbled})
    with garbled, pytest.raises(TargetHTTPError, match="did not answer"):
        queries.run(BOARD, garbled.url(""), {}, 0, 60, 15)


async def _refuses(request: web.Request) -> web.Response:
    form = await request.post()
    assert request.method == "POST" and "query" in form  # Grafana's way: a form POST
    query = form["query"]
    assert isinstance(query, str)
    body = {"status": "error", "errorType": "bad_data", "error": f"parse error in {query}"}
    return web.json_response(body, status=400)


def test_a_refused_query_is_its_results_error() -> None:
    routes: dict[str, Handler] = {"/api/v1/query_range": _refuses, "/api/v1/query": _refuses}
    with HTTPServer(routes) as server:
        results = queries.run(BOARD, server.url(""), {}, 0, 60, 15, scrape_interval=5)
    assert results[0].error == "bad_data: parse error in sum(rate(x[20s]))"
    assert all(r.error and r.series == () for r in results)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
KEYS = st.sampled_from(
    ["panels", "targets", "id", "expr", "hide", "instant", "templating", "list", "name"]
)
BOARDISH = st.recursive(
    JSON,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(KEYS, BOARDISH, max_size=4))
def test_any_board_json_gives_targets_and_variables_or_a_config_error(
    board: dict[str, Any],
) -> None:
    try:
        found = queries.targets(board)
    except ConfigError:
        pass
    else:
        assert all(isinstance(t.expr, str) and isinstance(t.panel_id, int) for t in found)
    with contextlib.suppress(ConfigError):
        tv.declared(board)


USER, PASSWORD = "grafana", "s3cret-pass"
ANSWER = {"resultType": "matrix", "result": [{"metric": {"role": "prefill"}, "values": [[0, "1"]]}]}


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _guarded(echo: bool) -> Handler:
    """Prometheus behind basic auth (USER, PASSWORD): 401 without them; with them, every
    query answered (``echo``: refused, with the credentials it was sent in the error)."""

    async def handler(request: web.Request) -> web.Response:
        sent = request.headers.get("Authorization", "")
        if sent != _basic(USER, PASSWORD):
            return web.Response(status=401, text=f"Unauthorized: {sent}")
        if request.path.startswith("/api/v1/label/"):
            return web.json_response({"status": "success", "data": ["decode", "prefill"]})
        if echo:
            body = {"status": "error", "errorType": "bad_data", "error": f"{sent} {PASSWORD}"}
            return web.json_response(body, status=400)
        return web.json_response({"status": "success", "data": ANSWER})

    return handler


ROLE_VARIABLE = {"name": "role", "type": "query", "query": "label_values(up, role)"}
BOARD_WITH_VARIABLE = BOARD | {"templating": {"list": [ROLE_VARIABLE]}}


def test_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown() -> None:
    with HTTPServer({"/{tail:.*}": _guarded(echo=False)}) as server:
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}"
        results = queries.run(BOARD_WITH_VARIABLE, url, {}, 0, 60, 15)
        assert [r.error for r in results] == [None] * 4
        assert results[0].series == queries.series(ANSWER)
        wrong = f"http://{USER}:not-{PASSWORD}@127.0.0.1:{server.port}"
        with pytest.raises(TargetHTTPError, match="HTTP 401") as refused:
            queries.run(BOARD, wrong, {}, 0, 60, 15)
        assert f"{USER}:<secret>@127.0.0.1" in str(refused.value)
        assert "were refused" in str(refused.value) and "not-" not in str(refused.value)
        with pytest.raises(TargetHTTPError, match="it wants credentials"):
            queries.run(BOARD, server.url(""), {}, 0, 60, 15)
    with HTTPServer({"/{tail:.*}": _guarded(echo=True)}) as server:
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}/"
        results = queries.run(BOARD_WITH_VARIABLE, url, {}, 0, 60, 15)
    auth = _basic(USER, PASSWORD)
    assert results[0].error == "bad_data: <secret> <secret>"  # what the server echoed
    assert all(PASSWORD not in str(r) and auth.split()[1] not in str(r) for r in results)


async def _redirects(request: web.Request) -> web.Response:
    raise web.HTTPFound(f"http://localhost:{request.url.port}/elsewhere{request.path_qs}")


def test_credentials_do_not_follow_a_redirect() -> None:
    sent: list[str] = []

    async def elsewhere(request: web.Request) -> web.Response:
        sent.append(request.headers.get("Authorization", ""))
        return web.json_response({"status": "success", "data": ANSWER})

    routes: dict[str, Handler] = {"/elsewhere/{tail:.*}": elsewhere, "/api/{tail:.*}": _redirects}
    with HTTPServer(routes) as server:
        url = f"http://{USER}:{PASSWORD}@127.0.0.1:{server.port}"
        queries.run({"panels": [BOARD["panels"][0]]}, url, {}, 0, 60, 15)
    assert sent == [""] * 3  # each of Rate's three targets, redirected without them


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:9090",
        f"http://{USER}:{PASSWORD}@[::1",
        f"ftp://{USER}:{PASSWORD}@host",
        "http://",
    ],
)
def test_a_url_that_is_not_http_is_a_config_error_without_the_password(url: str) -> None:
    with pytest.raises(ConfigError, match="is not a Prometheus URL") as bad:
        queries.run(BOARD, url, {}, 0, 60, 15)
    assert PASSWORD not in str(bad.value)


def test_an_unreachable_prometheus_is_named_without_the_password() -> None:
    url = f"http://{USER}:{PASSWORD}@127.0.0.1:{free_port()}"
    with pytest.raises(TargetUnreachable, match=f"{USER}:<secret>@127.0.0.1") as down:
        queries.run(BOARD, url, {}, 0, 60, 15)
    assert PASSWORD not in str(down.value)


_seen: list[tuple[str, str]] = []


async def _records(request: web.Request) -> web.Response:
    """Any credentials accepted, recorded, and echoed back decoded in a refusal."""
    user, _, password = (
        base64.b64decode(request.headers["Authorization"].split()[1]).decode().partition(":")
    )
    _seen.append((user, password))
    error = f"user {user} password {password} header {request.headers['Authorization']}"
    return web.json_response(
        {"status": "error", "errorType": "bad_data", "error": error}, status=400
    )


@pytest.fixture(scope="module")
def recorder() -> Iterator[HTTPServer]:
    with HTTPServer({"/{tail:.*}": _records}) as server:
        yield server


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
    st.text(min_size=10, max_size=24),
)
def test_any_password_is_sent_and_never_shown(
    recorder: HTTPServer, user: str, password: str
) -> None:
    quoted = urllib.parse.quote(password, safe="")
    url = f"http://{user}:{quoted}@127.0.0.1:{recorder.port}"
    _seen.clear()
    results = queries.run({"panels": [BOARD["panels"][0]]}, url, {}, 0, 60, 15)
    assert _seen == [(user, password)] * 3
    for result in results:
        assert result.error is not None and result.error.startswith(f"bad_data: user {user} ")
        assert password not in result.error and quoted not in result.error
