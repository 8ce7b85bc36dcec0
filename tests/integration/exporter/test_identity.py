"""No two targets share a label set, and every target counts in its role from the start.

Targets that differ only in path or query are two series to a real Prometheus scraping the
exporter; a replica that has never answered is in its role's row (ready, not up), not in a
row of its own; a ``+Inf`` or ``NaN`` from a target is ``null`` in the strict JSON served.
"""

from __future__ import annotations

import time
from pathlib import Path

from llmobs import names
from llmobs.sim.config import EngineSettings
from tests import strictjson
from tests.exporterhost import ExporterHost
from tests.fixtures.expositions import load
from tests.prometheus import Prometheus
from tests.servers import free_port, wait_until
from tests.simhost import SimHost
from tests.targets import FakeTarget

FAST = {"interval_s": 0.5, "timeout_s": 0.4, "window_s": 5.0}
MODEL = "Qwen/Qwen2.5-7B-Instruct"


def test_targets_differing_in_path_or_query_are_distinct_series(tmp_path: Path) -> None:
    with FakeTarget([load("vllm-0.32.0.txt")]) as engine:
        urls = [engine.url("/metrics?i=1"), engine.url("/metrics?i=2")]
        config = {"targets": [{"url": url} for url in urls], **FAST}
        with ExporterHost(config) as host:
            where = f"127.0.0.1:{engine.port}"
            pods = {f"{where}/metrics?i=1", f"{where}/metrics?i=2"}
            host.wait(lambda h: set(h.targets()) == pods, "both targets under their own pod")
            prometheus = Prometheus(
                tmp_path,
                "global: {scrape_interval: 1s}\n"
                "scrape_configs:\n"
                "  - job_name: llmobs\n"
                "    honor_labels: true\n"
                f"    static_configs: [{{targets: ['{host.url.removeprefix('http://')}']}}]\n",
            ).start()
            try:

                def seen() -> set[str]:
                    up = names.TARGET_UP.name
                    return {r["metric"][names.POD] for r in prometheus.query(up, time.time())}

                wait_until(lambda: seen() == pods, 30, "Prometheus to keep both series")
                requests = names.TARGET_COUNTERS["requests_total"].name + "_total"
                found = prometheus.query(requests, time.time())
                assert sorted(r["metric"][names.POD] for r in found) == sorted(pods)
                targets = prometheus.api("targets")["activeTargets"]
                assert [t["health"] for t in targets] == ["up"], targets  # no duplicate samples
            finally:
                prometheus.stop()


def test_a_replica_that_never_answered_counts_in_its_role() -> None:
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    with SimHost(EngineSettings()) as sim:
        targets = [
            {"url": sim.url, "role": "decode", "group": "g"},
            {"url": dead, "role": "decode", "group": "g"},
        ]
        with ExporterHost({"targets": targets, **FAST}) as host:
            host.wait(
                lambda h: (
                    sum(t["up"] for t in h.targets().values()) == 1
                    and any(t["last_error"] for t in h.targets().values())
                ),
                "one target up, the other refused",
            )
            document = strictjson.loads(host.get("/v1/roles"))
            (row,) = document["roles"]
            assert (row["group"], row["role"], row["model"]) == ("g", "decode", MODEL)
            assert (row["replicas"]["ready"], row["replicas"]["up"]) == (2, 1)
            replicas = [
                s for s in host.metrics().samples(names.ROLE_REPLICAS.name) if s.labels["role"]
            ]
            assert {s.labels[names.MODEL] for s in replicas} == {MODEL}
            by_state = {s.labels[names.STATE]: s.value for s in replicas}
            assert (by_state["ready"], by_state["up"]) == (2, 1)


def test_a_configured_model_places_a_dead_replica_from_the_start() -> None:
    dead = f"http://127.0.0.1:{free_port()}/metrics"
    targets = [{"url": dead, "role": "prefill", "model": "m"}]
    with ExporterHost({"targets": targets, **FAST}) as host:
        host.wait(lambda h: bool(h.targets()[dead.split("/")[2]]["last_error"]), "the refusal")
        (row,) = strictjson.loads(host.get("/v1/roles"))["roles"]
        assert (row["role"], row["model"], row["replicas"]["ready"]) == ("prefill", "m", 1)
        assert row["replicas"]["up"] == 0


def test_non_finite_values_from_a_target_are_null_in_strict_json() -> None:
    body = load("vllm-0.32.0.txt")
    body = body.replace(
        'vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} 0.0',
        'vllm:kv_cache_usage_perc{engine="0",model_name="tiny"} +Inf',
    ).replace(
        'vllm:num_requests_running{engine="0",model_name="tiny"} 0.0',
        'vllm:num_requests_running{engine="0",model_name="tiny"} NaN',
    )
    assert "+Inf\n" in body and "NaN\n" in body
    with (
        FakeTarget([body]) as engine,
        ExporterHost({"targets": [{"url": engine.url("/metrics")}], **FAST}) as host,
    ):
        # the role is listed from the start (its replica configured): wait for its scrape
        host.wait(
            lambda h: (
                [r["replicas"]["up"] for r in strictjson.loads(h.get("/v1/roles"))["roles"]] == [1]
            ),
            "the target scraped",
        )
        (row,) = strictjson.loads(host.get("/v1/roles"))["roles"]
        assert row["kv_cache_usage_ratio"] == {"mean": None, "max": None}
        assert row["requests_running"] is None
        assert row["replicas"]["up"] == 1
        strictjson.loads(host.get("/v1/targets"))
