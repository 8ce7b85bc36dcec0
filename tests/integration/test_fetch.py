"""Scraping real HTTP targets on 127.0.0.1: success, and every fault as a typed error."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import pytest

from llmobs.errors import ConfigError, TargetHTTPError
from llmobs.scrape.fetch import fetch, normalize_url, scrape_all
from llmobs.secrets import Credentials
from tests.fixtures.expositions import load
from tests.hostile import PASSWORD, USER, HostileTarget, SilentPort
from tests.servers import free_port
from tests.targets import FakeTarget


@pytest.fixture
def target() -> Iterator[FakeTarget]:
    with FakeTarget([load("vllm-0.32.0.txt")]) as server:
        yield server


async def test_scrape_ok_and_asks_for_text_format(target: FakeTarget) -> None:
    (result,) = await scrape_all([target.url("/metrics")])
    assert result.ok and result.exposition is not None
    assert len(result.exposition.families) == 92
    assert result.duration > 0
    assert target.accept_headers[0].startswith("text/plain;version=0.0.4")
    assert "openmetrics" not in target.accept_headers[0]


async def test_faults_are_typed_and_isolated(target: FakeTarget) -> None:
    paths = [
        "/metrics",
        "/status500",
        "/slow",
        "/html",
        "/truncated",
        "/huge",
        "/gzip",
        "/redirect",
        "/nope",
    ]
    results = await scrape_all(
        [target.url(p) for p in paths], timeout_s=1.0, max_bytes=10 * 1024 * 1024
    )
    reasons = {
        p: (r.error.reason if r.error else "ok") for p, r in zip(paths, results, strict=True)
    }
    assert reasons == {
        "/metrics": "ok",
        "/status500": "http_status",
        "/slow": "timeout",
        "/html": "malformed",
        "/truncated": "truncated",
        "/huge": "too_large",
        "/gzip": "ok",
        "/redirect": "ok",
        "/nope": "http_status",
    }
    by_path = dict(zip(paths, results, strict=True))
    assert "engine exploded" in str(by_path["/status500"].error)
    assert "HTTP 404" in str(by_path["/nope"].error)
    gz = by_path["/gzip"].exposition
    assert gz is not None and len(gz.families) == 92


async def test_refused_connection() -> None:
    (result,) = await scrape_all([f"http://127.0.0.1:{free_port()}/metrics"])
    assert result.error is not None and result.error.reason == "unreachable"


async def test_declared_length_over_the_cap_is_refused_early(target: FakeTarget) -> None:
    (result,) = await scrape_all([target.url("/metrics")], max_bytes=1000)
    assert result.error is not None and result.error.reason == "too_large"


async def test_openmetrics_answer_is_parsed_as_such() -> None:
    body = "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 2\n# EOF\n"
    with FakeTarget([body], "application/openmetrics-text; version=1.0.0") as server:
        (result,) = await scrape_all([server.url("/metrics")])
    assert result.exposition is not None and result.exposition.format == "openmetrics"


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000/metrics"),
        ("http://pod:8000/", "http://pod:8000/metrics"),
        ("https://pod:8000/custom/metrics", "https://pod:8000/custom/metrics"),
    ],
)
def test_normalize_url(given: str, url: str) -> None:
    assert normalize_url(given) == url


@pytest.mark.parametrize("bad", ["ftp://x/metrics", "http://", "http://host:port/"])
def test_bad_urls(bad: str) -> None:
    with pytest.raises(ConfigError):
        normalize_url(bad)


# -- credentials in the URL: used for the request, never shown ---------------------------------

SMALL = "# TYPE vllm:num_requests_running gauge\nvllm:num_requests_running 2\n"


async def test_userinfo_is_basic_auth_and_never_shown() -> None:
    with HostileTarget(SMALL) as server:
        (ok, wrong) = await scrape_all(
            [
                server.url("/metrics", f"{USER}:{PASSWORD}"),
                server.url("/metrics", f"{USER}:wrong-{PASSWORD}"),
            ]
        )
        assert server.authorizations[0] is not None
    assert ok.ok and ok.exposition is not None
    assert ok.url == server.url("/metrics", f"{USER}:<secret>")
    assert wrong.error is not None and wrong.error.reason == "http_status"
    message = str(wrong.error)
    assert "HTTP 401" in message and "<secret>" in message
    assert PASSWORD not in message and PASSWORD not in wrong.url
    assert "Basic " not in message.replace("Basic <secret>", "")  # the echoed header, redacted


async def test_explicit_credentials_win_over_none_in_the_url() -> None:
    with HostileTarget(SMALL) as server:
        async with aiohttp.ClientSession() as session:
            expo = await fetch(
                session,
                server.url("/metrics"),
                credentials=Credentials(username=USER, password=PASSWORD),
            )
    assert expo.samples("vllm:num_requests_running")[0].value == 2


async def test_errors_of_a_url_with_a_password_do_not_show_it() -> None:
    port = free_port()
    with SilentPort() as silent, HostileTarget(SMALL) as server:
        urls = [
            f"http://{USER}:{PASSWORD}@127.0.0.1:{port}/metrics",  # refused
            f"http://{USER}:{PASSWORD}@127.0.0.1:{silent.port}/metrics",  # timeout
            server.url("/loop-a", f"{USER}:{PASSWORD}"),
            server.url("/login", f"{USER}:{PASSWORD}"),
        ]
        results = await scrape_all(urls, timeout_s=0.5)
    for result in results:
        assert result.error is not None
        assert PASSWORD not in str(result.error) and PASSWORD not in result.url


# -- reasons that name the cause -----------------------------------------------------------------


async def test_a_server_that_never_answers_times_out_and_says_after_how_long() -> None:
    with SilentPort() as silent:
        (result,) = await scrape_all([silent.url()], timeout_s=0.3)
    assert result.error is not None and result.error.reason == "timeout"
    assert str(result.error) == f"{silent.url()} timed out: no complete answer within 0.3s"


async def test_a_web_page_is_named_by_its_content_type() -> None:
    with HostileTarget(SMALL) as server:
        login, as_json = await scrape_all([server.url("/login"), server.url("/json")])
    for result, kind in ((login, "text/html"), (as_json, "application/json")):
        assert result.error is not None and result.error.reason == "malformed"
        assert f"Content-Type '{kind}" in str(result.error)
        assert "not a metrics page" in str(result.error)
    assert "cut short" not in str(login.error)  # no final newline: not a truncated body


async def test_a_body_that_is_not_its_encoding_is_named_so() -> None:
    with HostileTarget(SMALL) as server:
        (result,) = await scrape_all([server.url("/bad-gzip")])
    assert result.error is not None and result.error.reason == "malformed"
    assert "does not decode as its Content-Encoding 'gzip'" in str(result.error)
    assert "cut short" not in str(result.error) and "\n" not in str(result.error)


async def test_a_redirect_loop_says_so_and_where() -> None:
    with HostileTarget(SMALL) as server:
        (result,) = await scrape_all([server.url("/loop-a")])
    assert result.error is not None and result.error.reason == "http_status"
    message = str(result.error)
    assert message.startswith(f"too many redirects from {server.url('/loop-a')}: gave up after")
    assert message.endswith(
        f"({server.url('/loop-a')} -> {server.url('/loop-b')} -> ...)".replace(
            "...", server.url("/loop-a")
        )
    )


async def test_a_refused_bearer_token_echoed_back_is_redacted() -> None:
    with HostileTarget(SMALL) as server:
        async with aiohttp.ClientSession() as session:
            with pytest.raises(TargetHTTPError) as refused:
                await fetch(
                    session,
                    server.url("/metrics"),
                    credentials=Credentials(bearer_token="tok-SECRET-123"),
                )
        assert server.authorizations == ["Bearer tok-SECRET-123"]
    assert refused.value.status == 401
    assert "tok-SECRET" not in str(refused.value)
    assert "you sent Authorization: <secret>" in str(refused.value)
