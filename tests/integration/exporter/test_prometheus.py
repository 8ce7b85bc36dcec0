"""A real Prometheus scraping the exporter: complete series, and PromQL on them agrees with
the exporter's own role snapshot (same buckets, same quantile math)."""

from __future__ import annotations

import time
from pathlib import Path

import openai

from llmobs import names, promql
from llmobs.sim.config import EngineSettings
from tests.exporterhost import ExporterHost, all_up, cluster_targets
from tests.prometheus import Prometheus
from tests.servers import wait_until
from tests.simhost import SimHost

REQUESTS = 12
QUANTILES = ("0.5", "0.9", "0.99")


def test_promql_on_exported_series_equals_the_role_snapshot(tmp_path: Path) -> None:
    with SimHost(EngineSettings(), roles={"prefill": 2, "decode": 1}) as sim:
        targets = cluster_targets(sim, group="pd")
        with ExporterHost({"targets": targets, "interval_s": 0.5, "window_s": 120}) as host:
            host.wait(all_up, "targets up")
            target = host.url.removeprefix("http://")
            config = (
                "global: {scrape_interval: 5s, evaluation_interval: 5s}\n"
                "scrape_configs:\n"
                f"  - job_name: llmobs\n    static_configs: [{{targets: ['{target}']}}]\n"
            )
            prometheus = Prometheus(tmp_path, config).start()
            try:
                with openai.OpenAI(base_url=sim.url + "/v1", api_key="x", max_retries=0) as client:
                    for i in range(REQUESTS):
                        client.completions.create(
                            model="Qwen/Qwen2.5-7B-Instruct",
                            prompt=" the" * (200 + 37 * i),
                            max_tokens=8 + i,
                        )
                ttft = names.TARGET_HISTOGRAMS["ttft_seconds"].name

                def count(role: str) -> str:
                    series = promql.selector(ttft + "_count", role=role)
                    return promql.aggregate(promql.Agg.SUM, series, (names.ROLE,))

                def settled() -> bool:
                    now = time.time()
                    roles = {r["role"]: r for r in host.roles()["roles"]}
                    for role in ("prefill", "decode"):
                        seen = prometheus.query(count(role), now)
                        lat = roles.get(role, {}).get("latency", {}).get("ttft_seconds")
                        if not seen or float(seen[0]["value"][1]) != REQUESTS:
                            return False
                        if not lat or lat["count"] != REQUESTS:
                            return False
                    return True

                wait_until(settled, 30, "Prometheus and the exporter to see every request")
                snapshot = {r["role"]: r for r in host.roles()["roles"]}
                now = time.time()
                for role in ("prefill", "decode"):
                    for signal in ("ttft_seconds", "e2e_seconds", "queue_seconds", "itl_seconds"):
                        mine = snapshot[role]["latency"][signal]
                        for q in QUANTILES:
                            # Every request since the start: the buckets as they are, not rated.
                            bucket = names.TARGET_HISTOGRAMS[signal].name + "_bucket"
                            merged = promql.aggregate(
                                promql.Agg.SUM,
                                promql.selector(bucket, role=role),
                                (*promql.BY_ROLE, promql.LE),
                            )
                            expr = promql.histogram_quantile(float(q), merged)
                            result = prometheus.query(expr, now)
                            theirs = float(result[0]["value"][1]) if result else None
                            ours = mine["quantiles"][q] if mine else None
                            if ours is None or theirs is None:
                                assert ours is None and (theirs is None or theirs != theirs)
                            else:
                                assert abs(ours - theirs) <= 1e-9 * max(1.0, ours), (
                                    role,
                                    signal,
                                    q,
                                )
                # the exporter's own quantile gauges reach Prometheus with the same values
                p90 = prometheus.query(
                    str(
                        promql.role_quantile("ttft_seconds", 0.9, promql.eq(names.ROLE, "prefill"))
                    ),
                    now,
                )
                assert (
                    float(p90[0]["value"][1])
                    == snapshot["prefill"]["latency"]["ttft_seconds"]["quantiles"]["0.9"]
                )
                # complete series: every role family the exporter shows, Prometheus has
                exported = {
                    s.name
                    for family in host.metrics().families.values()
                    for s in family.samples
                    if s.name.startswith("llmobs_role_")
                }
                stored = {
                    m
                    for m in prometheus.api("label/__name__/values")
                    if m.startswith("llmobs_role_")
                }
                assert exported == stored
                assert names.ROLE_REPLICAS.name in stored
                replicas = prometheus.query(str(promql.role_replicas(names.REPLICAS_UP)), now)
                assert {r["metric"]["role"]: float(r["value"][1]) for r in replicas} == {
                    "prefill": 2.0,
                    "decode": 1.0,
                }
            finally:
                prometheus.stop()
