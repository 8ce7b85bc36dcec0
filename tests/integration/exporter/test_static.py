"""The exporter against real HTTP targets: every fault, restarts, mixed engines, a PD cluster."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from llmobs.engines import snapshot
from llmobs.exposition.parser import parse
from llmobs.observation import from_json, to_json
from llmobs.sim.config import EngineSettings
from tests.exporterhost import ExporterHost, all_up, cluster_targets
from tests.fixtures.expositions import load
from tests.servers import free_port
from tests.simhost import SimHost
from tests.targets import FakeTarget

FAST = {"interval_s": 0.5, "timeout_s": 0.4, "window_s": 5.0}


def vllm_body(requests: int, ttfts: list[float]) -> str:
    """A vLLM-named exposition written by prometheus_client, as vLLM's own is."""
    registry = CollectorRegistry()
    done = Counter(
        "vllm:request_success", "Finished.", ["model_name", "finished_reason"], registry=registry
    )
    done.labels("m", "stop").inc(requests)
    ttft = Histogram(
        "vllm:time_to_first_token_seconds",
        "TTFT.",
        ["model_name"],
        buckets=[0.1, 0.5, 1.0],
        registry=registry,
    )
    for value in ttfts:
        ttft.labels("m").observe(value)
    return generate_latest(registry).decode()


@pytest.fixture
def target() -> Iterator[FakeTarget]:
    with FakeTarget([load("vllm-0.32.0.txt")]) as server:
        yield server


def test_each_fault_marks_only_its_target_down(target: FakeTarget) -> None:
    faults = {
        "status500": ("/status500", "http_status"),
        "slow": ("/slow", "timeout"),
        "html": ("/html", "malformed"),
        "truncated": ("/truncated", "truncated"),
        "huge": ("/huge", "too_large"),
    }
    targets = [{"url": target.url("/metrics"), "pod": "good", "role": "decode"}]
    targets += [{"url": target.url(path), "pod": pod} for pod, (path, _) in faults.items()]
    targets.append({"url": f"http://127.0.0.1:{free_port()}/metrics", "pod": "refused"})
    with FakeTarget(["# TYPE up gauge\nup 1\n"]) as other:
        targets.append({"url": other.url("/metrics"), "pod": "not-an-engine"})
        expected = {pod: reason for pod, (_, reason) in faults.items()}
        expected |= {"refused": "unreachable", "not-an-engine": "unknown_engine"}
        config = {"targets": targets, "max_bytes": 1_000_000, **FAST}
        with ExporterHost(config) as host:
            host.wait(
                lambda h: (
                    all(t["errors"] for p, t in h.targets().items() if p != "good")
                    and h.targets()["good"]["up"]
                ),
                "every target scraped once",
            )
            listed = host.targets()
            for pod, reason in expected.items():
                assert not listed[pod]["up"], pod
                assert set(listed[pod]["errors"]) == {reason}, (pod, listed[pod])
                assert listed[pod]["last_error"]
                assert host.value("llmobs_target_up", pod=pod) == 0
                errors = host.value("llmobs_target_scrape_errors_total", pod=pod, reason=reason)
                assert errors is not None and errors >= 1
            assert host.value("llmobs_target_up", pod="good") == 1
            truth = snapshot(parse(load("vllm-0.32.0.txt")))
            assert (
                host.value("llmobs_requests_total", pod="good", role="decode")
                == (truth.counters["requests_total"])
            )
            assert host.value("llmobs_requests_total", pod="slow") is None  # no data, no 0


def test_engine_restart_carries_counters_on() -> None:
    before = vllm_body(100, [0.05] * 10)
    after = vllm_body(5, [0.7])
    with FakeTarget([before, before, after]) as server:
        config = {"targets": [{"url": server.url("/metrics"), "pod": "p"}], **FAST}
        with ExporterHost(config) as host:
            host.wait(
                lambda h: h.value("llmobs_target_counter_resets_total", pod="p") == 1,
                "the restart to be seen",
            )
            assert host.value("llmobs_requests_total", pod="p") == 105
            assert host.value("llmobs_ttft_seconds_count", pod="p") == 11
            assert host.value("llmobs_ttft_seconds_bucket", pod="p", le="0.5") == 10
            assert host.value("llmobs_ttft_seconds_bucket", pod="p", le="1.0") == 11
            window = host.roles()["roles"][0]
            assert window["latency"]["ttft_seconds"]["count"] == 1  # the increase, not -9


def test_vllm_and_sglang_targets_mixed() -> None:
    bodies = {
        "vllm": "vllm-0.32.0.txt",
        "sglang": "sglang-0.5.23-dp2-priority.txt",
        "old-sglang": "sglang-0.4.3.txt",
        "vllm-v0": "vllm-v0.txt",
    }
    servers = {pod: FakeTarget([load(name)]) for pod, name in bodies.items()}
    try:
        targets = [
            {"url": s.url("/metrics"), "pod": pod, "role": "prefill" if "v" in pod else "decode"}
            for pod, s in servers.items()
        ]
        with ExporterHost({"targets": targets, **FAST}) as host:
            host.wait(all_up, "all targets up")
            listed = host.targets()
            for pod, name in bodies.items():
                truth = snapshot(parse(load(name)))
                assert listed[pod]["engine"] == truth.engine
                for signal, value in truth.counters.items():
                    if signal.endswith("_total") and signal not in (
                        "prefix_cache_hits_total",
                        "prefix_cache_queries_total",
                    ):
                        assert host.value(f"llmobs_{signal}", pod=pod) == value, (pod, signal)
                kv = truth.gauges.get("kv_cache_usage_ratio")
                assert host.value("llmobs_kv_cache_usage_ratio", pod=pod) == kv
                ttft = truth.histograms["ttft_seconds"]
                assert host.value("llmobs_ttft_seconds_count", pod=pod) == ttft.count
    finally:
        for server in servers.values():
            server.close()


def test_pd_cluster_role_signals() -> None:
    with SimHost(EngineSettings(), roles={"prefill": 1, "decode": 1}) as sim:
        targets = cluster_targets(sim, group="pd")
        with ExporterHost({"targets": targets, "interval_s": 0.5, "window_s": 30}) as host:
            host.wait(all_up, "targets up")
            with openai.OpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0) as client:
                for i in range(6):
                    client.completions.create(
                        model="Qwen/Qwen2.5-7B-Instruct", prompt=" the" * (300 + i), max_tokens=16
                    )

            def served(h: ExporterHost) -> bool:
                roles = {r["role"]: r for r in h.roles()["roles"]}
                decode = roles.get("decode", {}).get("latency", {}).get("itl_seconds")
                prefill = roles.get("prefill", {}).get("latency", {}).get("ttft_seconds")
                return bool(
                    decode and decode["count"] == 6 * 15 and prefill and prefill["count"] == 6
                )

            host.wait(served, "the six requests in the role window")
            document = host.roles()
            observation = from_json(document)  # what the autoscaler reads, typed
            assert to_json(observation) == document  # and nothing is lost on the way
            decode = observation.find("decode", group="pd")
            assert decode is not None and decode.latency.itl_seconds is not None
            assert decode.latency.itl_seconds.count == 6 * 15
            assert decode.age_seconds is not None and 0 <= decode.age_seconds < 5
            roles = {r["role"]: r for r in document["roles"]}
            assert roles["prefill"]["replicas"] == {"ready": 1, "scraped": 1, "up": 1}
            assert roles["decode"]["request_rate"] > 0
            p99 = host.value("llmobs_role_itl_seconds", role="decode", quantile="0.99")
            assert p99 == roles["decode"]["latency"]["itl_seconds"]["quantiles"]["0.99"]
            assert host.value("llmobs_role_replicas", role="decode", state="up") == 1
