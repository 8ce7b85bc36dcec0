"""Scraping real HTTP targets on 127.0.0.1: success, and every fault as a typed error."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from llmobs.errors import ConfigError
from llmobs.scrape.fetch import normalize_url, scrape_all
from tests.fixtures.expositions import load
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
