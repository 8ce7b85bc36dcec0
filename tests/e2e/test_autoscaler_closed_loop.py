"""The autoscaler's closed loop on the real-time emulator, as a user runs it: ``llmobs sim
--pd 1P1D`` (an A10 profile, 4 sequences per replica, 1 s cold starts, its scale
subresource), ``llmobs autoscaler`` scraping the instances the emulator lists at
``/sim/targets`` (HTTP service discovery, so replicas are followed as they come and go) and
writing replicas back through the scale subresource, and ``llmbench run`` loads that rise and
fall. Long prompts with short answers overload prefill (its TTFT SLO breaks: prefill grows,
decode stays); short prompts with long answers queue at decode (its waiting limit: decode
grows, prefill does not); no load takes both back to one replica. Everything is read through
the real protocols: the emulator's scale objects, the autoscaler's ``/v1/decisions`` and
``/metrics``."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from llmobs import names
from tests.e2e.benchprocess import finished, llmbench
from tests.e2e.conftest import REPO
from tests.e2e.test_autoscaler_cli import decisions, fetch
from tests.servers import wait_until

START_TIMEOUT = 60.0  # generous: up to 8 engineers share 2 cores
GROW_TIMEOUT = 60.0
SETTLE_TIMEOUT = 60.0
# Prompt-heavy: 2000-token prompts at 2.5/s are ~5k prompt tokens/s, more than one A10
# prefill replica gets through (its queue and TTFT grow); 4-token answers leave decode idle.
PROMPT_HEAVY = ("--isl", "2000", "--osl", "4", "--request-rate", "2.5")
# Decode-heavy: 120-token answers at ~30 ms a token hold a sequence ~4 s; 4 per replica serve
# ~1 request/s, so at 2/s requests wait at decode; 32-token prompts cost prefill nothing.
DECODE_HEAVY = ("--isl", "32", "--osl", "120", "--request-rate", "2")


class Process:
    """``python -m MODULE ARGS`` in the background, its output in a file (never a full pipe)."""

    def __init__(self, log: Path, *args: str) -> None:
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", *args], stdout=out, stderr=subprocess.STDOUT, cwd=REPO
            )

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first line matching ``pattern``, once the process has written it."""
        found: list[re.Match[str]] = []

        def written() -> bool:
            assert self.proc.poll() is None, self.log.read_text()
            match = re.search(pattern, self.log.read_text(errors="replace"))
            if match:
                found.append(match)
            return match is not None

        wait_until(written, START_TIMEOUT, f"{pattern!r} in {self.log.name}", self.log)
        return found[0]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def scale(sim: str, role: str) -> tuple[int, int]:
    """The role's scale object: ``(spec.replicas, status.replicas)``."""
    body = fetch(f"{sim}/apis/apps/v1/namespaces/default/deployments/{role}/scale")
    return int(body["spec"]["replicas"]), int(body["status"].get("replicas", 0))


def samples(url: str, name: str) -> dict[tuple[str, ...], float]:
    """The samples called ``name`` on the autoscaler's ``/metrics``: by role, and reason when
    they have one."""
    with urllib.request.urlopen(url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found: dict[tuple[str, ...], float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                reason = sample.labels.get(names.REASON)
                key = (sample.labels[names.ROLE],) + ((reason,) if reason else ())
                found[key] = sample.value
    return found


def desired(url: str) -> dict[tuple[str, ...], float]:
    return samples(url, names.AUTOSCALER_DESIRED_REPLICAS.name)


def grew(items: list[dict[str, Any]], since: float) -> list[dict[str, Any]]:
    return [d for d in items if d["timestamp"] >= since and d["desired"] > d["current"]]


def second_replica(sim: str, url: str, role: str, log: Path) -> None:
    """The role is asked to grow (its spec, the autoscaler's desired replicas), then its new
    replica is up (its status)."""
    wait_until(lambda: scale(sim, role)[0] >= 2, GROW_TIMEOUT, f"{role} asked to grow", log)
    assert desired(url)[(role,)] >= 2
    wait_until(lambda: scale(sim, role)[1] >= 2, GROW_TIMEOUT, f"a second {role} replica", log)


def quiet(sim: str, url: str, role: str) -> bool:
    """The role is at one replica, and the autoscaler sees no traffic there any more."""
    return scale(sim, role) == (1, 1) and decisions(url, role)[-1]["reason"] == "zero_traffic"


def write_config(tmp_path: Path, sim: str) -> Path:
    windows = {"cold_start_s": 1, "scale_down_stabilization_s": 3, "max_replicas": 3}
    document = {
        "policy": {
            "interval_s": 0.5,
            "max_observation_age_s": 10,
            "forecaster": "last",
            "roles": {
                "prefill": {"slo": {"ttft": {"p90": "2s"}}, **windows},
                "decode": {"slo": {"tpot": {"p90": "200ms"}}, "waiting_limit": 1, **windows},
            },
        },
        "source": {
            "kind": "scrape",
            "http_sd": {"url": f"{sim}/sim/targets", "refresh_interval_s": 0.5},
            "interval_s": 0.5,
            "timeout_s": 0.5,  # a loaded box answers slowly: a timeout is a hold, not data
            "window_s": 5,
        },
        "output": {"api_url": sim},
        "http": {"host": "127.0.0.1", "port": 0},
        "history": 10_000,
    }
    path = tmp_path / "autoscaler.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def loop(tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    """The emulator and the autoscaler acting on it: their URLs, and the autoscaler's log."""
    sim = Process(
        tmp_path / "sim.log",
        "llmobs",
        "sim",
        "--pd",
        "1P1D",
        "--port",
        "0",
        "--hardware",
        "A10",
        "--max-num-seqs",
        "4",
        "--cold-start-s",
        "1",
        "--max-replicas",
        "3",
    )
    scaler: Process | None = None
    try:
        sim_url = sim.wait_for(r"proxy \(OpenAI API\) on (http://\S+);").group(1)
        config = write_config(tmp_path, sim_url)
        scaler = Process(
            tmp_path / "autoscaler.log", "llmobs", "autoscaler", "--config", str(config)
        )
        url = scaler.wait_for(r"llmobs autoscaler on (http://[\d.:]+) ").group(1)
        yield sim_url, url, scaler.log
        assert scaler.stop() == 0, scaler.log.read_text()  # SIGTERM: a clean stop
        assert sim.stop() == 0, sim.log.read_text()
    finally:
        if scaler is not None:
            scaler.stop()
        sim.stop()


def load(sim: str, out: Path, shape: tuple[str, ...]) -> subprocess.Popen[str]:
    """``llmbench run`` against the emulator for up to two minutes (interrupted sooner)."""
    args = ("--base-url", sim, *shape, "--duration", "120", "--out", str(out), "--seed", "1")
    return llmbench("run", *args)


def interrupt(proc: subprocess.Popen[str]) -> None:
    """The load falls: Ctrl-C, and llmbench saves what it measured (exit 130)."""
    proc.send_signal(signal.SIGINT)
    code, _, stderr = finished(proc, timeout=60)
    assert code == 130, stderr


def test_prefill_and_decode_follow_their_own_load_up_and_down(
    loop: tuple[str, str, Path], tmp_path: Path
) -> None:
    sim, url, log = loop  # the log's end is shown when a wait times out
    wait_until(lambda: bool(decisions(url, "decode")), START_TIMEOUT, "a first decision")

    # Prompt load rises: prefill grows on its TTFT SLO, decode stays at one replica.
    began = time.time()
    bench = load(sim, tmp_path / "prompt-heavy", PROMPT_HEAVY)
    try:
        second_replica(sim, url, "prefill", log)
    finally:
        interrupt(bench)  # the load falls
    first = grew(decisions(url, "prefill"), began)[0]
    assert "slo_breach" in first["reasons"] and first["applied"] is True, first
    assert first["inputs"]["ttft_p90_observed"] > first["inputs"]["ttft_p90_target"], first
    assert not grew(decisions(url, "decode"), began)
    assert scale(sim, "decode") == (1, 1)

    # Prefill comes back down once its queue has drained and the load has gone (the next
    # phase starts on a quiet prefill, so nothing left of this one can move it).
    wait_until(lambda: quiet(sim, url, "prefill"), SETTLE_TIMEOUT, "prefill back to one", log)
    fell = [d for d in decisions(url, "prefill") if d["desired"] < d["current"]]
    assert fell and {fell[-1]["reason"]} <= {"zero_traffic", "consolidate"}, fell

    # Generation load rises: decode grows on its queue, prefill does not move.
    began = time.time()
    bench = load(sim, tmp_path / "decode-heavy", DECODE_HEAVY)
    try:
        second_replica(sim, url, "decode", log)
    finally:
        interrupt(bench)
    first = grew(decisions(url, "decode"), began)[0]
    assert "queue" in first["reasons"] and first["applied"] is True, first
    assert first["inputs"]["waiting"] > 1, first  # waiting_limit 1 per ready replica
    assert not grew(decisions(url, "prefill"), began)

    # And back down: both roles at one replica, as the autoscaler says on /metrics.
    def settled() -> bool:
        return quiet(sim, url, "decode") and quiet(sim, url, "prefill")

    wait_until(settled, SETTLE_TIMEOUT, "both roles back to one replica", log)
    fell = [d for d in decisions(url, "decode") if d["desired"] < d["current"]]
    assert fell and {fell[-1]["reason"]} <= {"zero_traffic", "consolidate"}, fell
    assert desired(url) == {("prefill",): 1, ("decode",): 1}
    counted = samples(url, names.AUTOSCALER_DECISIONS.name + "_total")
    assert counted[("prefill", "slo_breach")] >= 1 and counted[("decode", "queue")] >= 1
