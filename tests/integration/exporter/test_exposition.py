"""The exporter's /metrics over HTTP, as Prometheus 2.42 asks for it."""

from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from llmobs.exposition.parser import parse
from tests.exporterhost import ExporterHost, all_up
from tests.fixtures.expositions import load
from tests.targets import FakeTarget

# What Prometheus 2.42 sends when it scrapes (scrape/scrape.go, scrapeAcceptHeader).
PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def test_metrics_are_text_0_0_4_whatever_prometheus_asks_first() -> None:
    with FakeTarget([load("vllm-0.32.0.txt")]) as target:
        config = {"targets": [{"url": target.url("/metrics"), "pod": "a"}], "interval_s": 0.5}
        with ExporterHost(config) as host:
            host.wait(all_up, "the target up")
            request = urllib.request.Request(
                host.url + "/metrics", headers={"Accept": PROMETHEUS_ACCEPT}
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                content_type = response.headers["Content-Type"]
                body = response.read().decode()
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    ours = parse(body)
    theirs = {f.name: f for f in text_string_to_metric_families(body)}
    assert ours.samples("llmobs_ttft_seconds_bucket")
    assert ours.samples("process_cpu_seconds_total")
    assert theirs["llmobs_requests"].type == "counter"
    assert len(ours.samples("llmobs_target_up")) == 1
    # Families stay grouped: each name's samples follow its one TYPE line.
    assert body.count("# TYPE llmobs_ttft_seconds histogram\n") == 1
    assert list(theirs)[-1].startswith("process_")
