"""The autoscaler's loop and its HTTP surface against real servers: the emulator in PD mode
(its engines and its Kubernetes scale subresource), an exporter scraping it (``/v1/roles``)
and the autoscaler's own ``/metrics``, ``/v1/decisions`` and ``/healthz``.

The source and the actuator are the real ones (``ExporterSource``, ``KubeScale`` through the
official client); the policy is either ours (``OurPolicy``) or a fixed one that wants given
replicas, so a test knows what the loop must do.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from llmobs import names, strictjson
from llmobs.autoscaler.actuators import KubeScale, api_client, deployment_target
from llmobs.autoscaler.config import AutoscalerConfig
from llmobs.autoscaler.http import listen
from llmobs.autoscaler.keda import LatestDecisions, metric_value
from llmobs.autoscaler.model import Decision, Reason, Replicas
from llmobs.autoscaler.policy import OurPolicy
from llmobs.autoscaler.service import Autoscaler, Decide, Managed
from llmobs.autoscaler.sources.exporter import ExporterSource, ExporterSourceConfig
from llmobs.exposition.parser import parse
from llmobs.observation import Observation
from llmobs.sim.config import EngineSettings
from tests.exporterhost import ExporterHost, all_up, cluster_targets
from tests.servers import wait_until
from tests.simhost import LoopThread, SimHost

GROUP = "pd"
ROLES = (Managed("prefill", GROUP), Managed("decode", GROUP))


@dataclass
class Wants:
    """A policy that wants fixed replicas per role (the rest hold), with the observed
    request rate among its inputs."""

    wanted: dict[str, int] = field(default_factory=dict)
    seen: list[Observation] = field(default_factory=list)
    group: str = GROUP

    def __call__(
        self, observation: Observation, replicas: Mapping[str, Replicas], now: float
    ) -> Sequence[Decision]:
        self.seen.append(observation)
        decisions = []
        for role, found in replicas.items():
            item = observation.find(role, GROUP)
            want = self.wanted.get(role, found.desired)
            reason = Reason.PREDICTED_LOAD if want != found.desired else Reason.WITHIN_SLO
            rate = item.request_rate if item is not None else None
            inputs = {"request_rate": rate, "ready": found.ready, "nan": float("nan")}
            detail = f"wants {want}"
            decisions.append(
                Decision(role, self.group, found.desired, want, (reason,), detail, now, inputs)
            )
        return decisions


@dataclass
class Stack:
    sim: SimHost
    exporter: ExporterHost
    thread: LoopThread
    lines: list[str]
    exporter_up: bool = True
    made: list[Autoscaler] = field(default_factory=list)

    def stop_exporter(self) -> None:
        self.exporter.close()
        self.exporter_up = False

    def actuator(self, roles: Sequence[Managed] = ROLES) -> KubeScale:
        targets = {r.role: deployment_target(r.role) for r in roles}
        return KubeScale(api_client(self.sim.url), targets, timeout_s=5)

    def scaler(self, decide: Decide, **options: Any) -> Autoscaler:
        roles = options.pop("roles", ROLES)
        scaler = Autoscaler(
            ExporterSource(ExporterSourceConfig(url=self.exporter.url, timeout_s=5)),
            self.actuator(roles),
            decide,
            roles,
            interval_s=1.0,
            log=self.lines.append,
            **options,
        )
        self.made.append(scaler)
        return scaler

    def spec(self, role: str) -> tuple[int, int]:
        actuator = self.actuator()
        try:
            found = self.thread.run(actuator.get(role))
        finally:
            self.thread.run(actuator.close())
        return found.desired, found.ready


@pytest.fixture
def stack() -> Iterator[Stack]:
    with SimHost(EngineSettings(), roles={"prefill": 1, "decode": 1}, cold_start_s=0.5) as sim:
        config = {"targets": cluster_targets(sim, GROUP), "interval_s": 0.2, "window_s": 30}
        exporter = ExporterHost(config)
        thread = LoopThread()
        stack = Stack(sim, exporter, thread, [])
        try:
            exporter.wait(all_up, "targets up")
            yield stack
        finally:
            for scaler in stack.made:
                thread.run(scaler.close())
            thread.close()
            if stack.exporter_up:
                exporter.close()


def value(body: bytes, name: str, **labels: str) -> float | None:
    """The one sample of ``name`` whose labels include ``labels``; None if there is none."""
    found = [
        s.value
        for s in parse(body).samples(name)
        if all(s.labels.get(k) == v for k, v in labels.items())
    ]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} series"
    return found[0] if found else None


def get(url: str) -> tuple[str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.headers["Content-Type"], response.read()


def test_a_decision_is_applied_logged_exported_and_explained(stack: Stack) -> None:
    wants = Wants({"decode": 2})
    scaler = stack.scaler(wants)
    runner = stack.thread.run(listen(scaler, "127.0.0.1", 0))
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        done = stack.thread.run(scaler.tick())
        assert {d.role: (d.current, d.desired, d.reason) for d in done} == {
            "prefill": (1, 1, Reason.WITHIN_SLO),
            "decode": (1, 2, Reason.PREDICTED_LOAD),
        }
        # The policy saw the exporter's roles, and the emulator got the write.
        assert wants.seen[0].find("decode", GROUP) is not None
        assert stack.spec("decode")[0] == 2
        wait_until(lambda: stack.spec("decode") == (2, 2), 20, "the second decode replica")

        # One strict-JSON line per decision, NaN as null.
        logged = [strictjson.loads(line) for line in stack.lines]
        assert [(d["role"], d["desired"], d["applied"]) for d in logged] == [
            ("prefill", 1, False),
            ("decode", 2, True),
        ]
        assert logged[1]["inputs"]["nan"] is None and logged[1]["reason"] == "predicted_load"

        content_type, body = get(url + "/v1/decisions")
        assert content_type.startswith("application/json")
        document = strictjson.loads(body)
        assert document["dry_run"] is False
        (decode,) = document["roles"]["decode"]
        assert {"event": "decision", **decode} == logged[1]
        assert decode["inputs"]["ready"] == 1

        stack.thread.run(scaler.tick())  # the replicas it finds now: 2, ready 2
        _, body = get(url + "/metrics")
        labels = {names.GROUP: GROUP, names.ROLE: "decode"}
        assert value(body, names.AUTOSCALER_DESIRED_REPLICAS.name, **labels) == 2
        assert value(body, names.AUTOSCALER_CURRENT_REPLICAS.name, **labels) == 2
        assert value(body, names.AUTOSCALER_READY_REPLICAS.name, **labels) == 2
        counted = names.AUTOSCALER_DECISIONS.name + "_total"
        assert value(body, counted, **labels, reason="predicted_load") == 1
        assert value(body, counted, **labels, reason="within_slo") == 1
        assert get(url + "/healthz")[1] == b"ok\n"
        assert len(strictjson.loads(get(url + "/v1/decisions")[1])["roles"]["decode"]) == 2
    finally:
        stack.thread.run(runner.cleanup())


def test_dry_run_decides_and_changes_nothing(stack: Stack) -> None:
    scaler = stack.scaler(Wants({"prefill": 3, "decode": 2}), dry_run=True)
    done = stack.thread.run(scaler.tick())
    assert {d.role: (d.desired, d.reasons) for d in done} == {
        "prefill": (3, (Reason.PREDICTED_LOAD, Reason.DRY_RUN)),
        "decode": (2, (Reason.PREDICTED_LOAD, Reason.DRY_RUN)),
    }
    assert stack.spec("prefill") == (1, 1) and stack.spec("decode") == (1, 1)
    assert scaler.decisions_json()["dry_run"] is True
    assert all(not json.loads(line)["applied"] for line in stack.lines)


def test_an_exporter_that_goes_away_is_a_hold(stack: Stack) -> None:
    wants = Wants({"decode": 2})
    scaler = stack.scaler(wants)
    stack.thread.run(scaler.tick())
    stack.stop_exporter()
    wants.wanted["decode"] = 3  # what it would do, had it seen anything
    done = stack.thread.run(scaler.tick())
    assert {d.role: (d.current, d.desired, d.reason) for d in done} == {
        "prefill": (1, 1, Reason.SOURCE_FAILED),
        "decode": (2, 2, Reason.SOURCE_FAILED),
    }
    assert len(wants.seen) == 1
    assert stack.spec("decode")[0] == 2
    last = strictjson.loads(stack.lines[-1])
    assert last["reason"] == "source_failed" and "/v1/roles" in last["detail"]
    assert scaler.counts[("decode", Reason.SOURCE_FAILED)] == 1


def test_a_role_the_api_server_does_not_know_holds_every_role(stack: Stack) -> None:
    roles = (*ROLES, Managed("nope", GROUP))
    wants = Wants({"decode": 2})
    scaler = stack.scaler(wants, roles=roles)
    done = stack.thread.run(scaler.tick())
    assert {d.role: (d.desired, d.reason) for d in done} == {
        "prefill": (1, Reason.ACTUATOR_FAILED),
        "decode": (1, Reason.ACTUATOR_FAILED),
        "nope": (None, Reason.ACTUATOR_FAILED),  # never read: unknown, not 0
    }
    assert 'nope: deployments.apps "nope" in namespace "default" not found' in done[0].detail
    assert wants.seen == [] and stack.spec("decode") == (1, 1)
    # It still says what it found of the others (absent, not 0, for the unknown one).
    assert scaler.replicas == {"prefill": Replicas(1, 1), "decode": Replicas(1, 1)}


def test_a_refused_write_is_a_hold_that_says_so(stack: Stack) -> None:
    scaler = stack.scaler(Wants({"decode": 100_000}))  # over the emulator's max: 422
    done = {d.role: d for d in stack.thread.run(scaler.tick())}
    decode = done["decode"]
    assert (decode.current, decode.desired) == (1, 1)
    assert decode.reasons == (Reason.ACTUATOR_FAILED, Reason.PREDICTED_LOAD)
    assert "422" in decode.detail and "wanted 100000" in decode.detail
    assert stack.spec("decode") == (1, 1)


def test_a_restart_resumes_from_the_replicas_it_finds(stack: Stack) -> None:
    first = stack.scaler(Wants({"decode": 2}))
    stack.thread.run(first.tick())
    wait_until(lambda: stack.spec("decode") == (2, 2), 20, "the second decode replica")
    again = stack.scaler(Wants())  # a new process: no memory of the first
    done = {d.role: d for d in stack.thread.run(again.tick())}
    assert (done["decode"].current, done["decode"].desired) == (2, 2)
    assert stack.spec("decode") == (2, 2)


POLICY = {
    "group": GROUP,
    "roles": {
        "prefill": {"slo": {"ttft": {"p90": "1s"}}, "min_replicas": 1, "max_replicas": 4},
        "decode": {"slo": {"tpot": {"p90": "50ms"}}, "min_replicas": 1, "max_replicas": 4},
    },
    "gpu_budget": 8,
}


def test_our_policy_restarted_keeps_the_replicas_it_finds(stack: Stack) -> None:
    """Decode at 3 (set by an earlier autoscaler), no traffic: a new process with our policy
    neither jumps to its minimum nor anywhere else on its first decisions."""
    config = AutoscalerConfig.model_validate(POLICY)
    actuator = stack.actuator()
    stack.thread.run(actuator.set("decode", 3))
    stack.thread.run(actuator.close())
    wait_until(lambda: stack.spec("decode") == (3, 3), 20, "three decode replicas")
    scaler = stack.scaler(OurPolicy(config))
    runner = stack.thread.run(listen(scaler, "127.0.0.1", 0, config))
    try:
        for _ in range(3):
            done = {d.role: d for d in stack.thread.run(scaler.tick())}
            assert (done["decode"].current, done["decode"].desired) == (3, 3)
            assert (done["prefill"].current, done["prefill"].desired) == (1, 1)
        assert stack.spec("decode") == (3, 3)
        _, body = get(f"http://127.0.0.1:{runner.addresses[0][1]}/metrics")
        labels = {names.GROUP: GROUP, names.ROLE: "decode", names.SLO: "tpot_p90"}
        assert value(body, names.AUTOSCALER_TARGET.name, **labels) == 0.05
        assert value(body, names.AUTOSCALER_GPU_BUDGET.name) == 8
        assert value(body, names.AUTOSCALER_GPUS.name) == 4  # 3 decode + 1 prefill
    finally:
        stack.thread.run(runner.cleanup())


def test_keda_mode_publishes_and_a_standby_writes_nothing(stack: Stack) -> None:
    answers = LatestDecisions({GROUP: ["prefill", "decode"]}, GROUP)
    wants = Wants({"decode": 2}, group="elsewhere")  # the service names the managed group
    keda = stack.scaler(wants, act=False, observers=[answers.update])
    stack.thread.run(keda.tick())
    answer = answers.answer("llm", "vllm-pd-decode", {"role": "decode", "group": GROUP})
    assert metric_value(answer) == 2
    standby = stack.scaler(Wants({"prefill": 2}), leader=lambda: False)
    done = {d.role: d for d in stack.thread.run(standby.tick())}
    assert done["prefill"].desired == 2 and done["prefill"].detail.endswith("(standby)")
    assert stack.spec("prefill") == (1, 1) and stack.spec("decode") == (1, 1)
