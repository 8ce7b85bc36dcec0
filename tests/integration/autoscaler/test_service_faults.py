"""The loop against an API server and an exporter that misbehave, each a real HTTP server on
127.0.0.1 speaking the real protocol (a Kubernetes Scale and Status, a ``/v1/roles``
document): 500, 403, 409 on every write, a hang, a role that disappears mid-scale, an
exporter answering 500. Each is a hold with its reason, in the log, the counts and
``/v1/decisions``; nothing is written that was not decided."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from llmobs import observation
from llmobs.autoscaler.actuators import KubeScale, api_client, deployment_target
from llmobs.autoscaler.model import Decision, Reason, Replicas
from llmobs.autoscaler.service import Autoscaler, Managed
from llmobs.autoscaler.sources.exporter import ExporterSource, ExporterSourceConfig
from llmobs.clock import SYSTEM
from llmobs.observation import Observation, RoleKey, RoleObservation
from tests.servers import HTTPServer
from tests.simhost import LoopThread

ROLES = (Managed("prefill", "g"), Managed("decode", "g"))


@dataclass
class Cluster:
    """What the fake API server answers: the replicas, and a fault per verb."""

    replicas: dict[str, int] = field(default_factory=lambda: {"prefill": 1, "decode": 1})
    get_fault: int | None = None  # an HTTP status, or 0 for a hang
    patch_fault: int | None = None
    writes: list[tuple[str, int]] = field(default_factory=list)
    roles_fault: int | None = None


def status(code: int, reason: str, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}  # fmt: skip
    return web.json_response(body, status=code)


def scale(name: str, replicas: int) -> dict[str, Any]:
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {"name": name, "namespace": "default", "resourceVersion": "7"},
            "spec": {"replicas": replicas}, "status": {"replicas": replicas}}  # fmt: skip


def app(cluster: Cluster) -> web.Application:
    async def scale_handler(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        fault = cluster.get_fault if request.method == "GET" else cluster.patch_fault
        if fault == 0:
            await asyncio.Event().wait()
        if fault == 403:
            return status(403, "Forbidden", f'deployments.apps "{name}" is forbidden: '
                          'User "system:serviceaccount:llmobs:llmobs-autoscaler" cannot '
                          f'{request.method.lower()} resource "deployments/scale"')  # fmt: skip
        if fault is not None:
            return status(fault, "InternalError" if fault == 500 else "Conflict", f"fault {fault}")
        if name not in cluster.replicas:
            return status(404, "NotFound", f'deployments.apps "{name}" not found')
        if request.method == "PATCH":
            body = json.loads(await request.read())
            cluster.replicas[name] = body["spec"]["replicas"]
            cluster.writes.append((name, cluster.replicas[name]))
        return web.json_response(scale(name, cluster.replicas[name]))

    async def roles(request: web.Request) -> web.Response:
        if cluster.roles_fault is not None:
            return web.Response(status=cluster.roles_fault, text="exporter broke")
        now = SYSTEM.wall()
        items = tuple(
            RoleObservation(
                RoleKey("default", "g", role, "m"), observation.Replicas(n, n, n), 30.0, now, 0.1
            )
            for role, n in cluster.replicas.items()
        )
        return web.json_response(observation.to_json(Observation(now, 30.0, items)))

    application = web.Application()
    path = "/apis/apps/v1/namespaces/default/deployments/{name}/scale"
    application.router.add_route("*", path, scale_handler)
    application.router.add_get("/v1/roles", roles)
    return application


@dataclass
class Wants:
    wanted: dict[str, int]

    def __call__(
        self, observation: Observation, replicas: Mapping[str, Replicas], now: float
    ) -> Sequence[Decision]:
        return [
            Decision(
                role,
                "g",
                r.desired,
                self.wanted.get(role, r.desired),
                (Reason.PREDICTED_LOAD,),
                "test",
                now,
                {},
            )
            for role, r in replicas.items()
        ]


@dataclass
class Rig:
    cluster: Cluster
    scaler: Autoscaler
    thread: LoopThread
    lines: list[str]

    def tick(self) -> dict[str, Decision]:
        return {d.role: d for d in self.thread.run(self.scaler.tick())}


@pytest.fixture
def rig() -> Iterator[Rig]:
    cluster = Cluster()
    with HTTPServer(app=app(cluster)) as server:
        thread = LoopThread()
        lines: list[str] = []
        targets = {r.role: deployment_target(r.role) for r in ROLES}
        scaler = Autoscaler(
            ExporterSource(ExporterSourceConfig(url=server.url("/"), timeout_s=2)),
            KubeScale(api_client(server.url("")), targets, timeout_s=1, conflict_retries=2),
            Wants({"decode": 2}),
            ROLES,
            interval_s=1.0,
            log=lines.append,
        )
        try:
            yield Rig(cluster, scaler, thread, lines)
        finally:
            thread.run(scaler.close())
            thread.close()


def last_logged(rig: Rig, role: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [json.loads(line) for line in rig.lines]
    return [item for item in found if item.get("role") == role][-1]


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        (500, "500"),
        (409, "3 attempts"),
        (403, "forbidden"),
        (0, "timed out"),
    ],
)
def test_a_refused_or_lost_write_is_a_hold(rig: Rig, fault: int, says: str) -> None:
    rig.cluster.patch_fault = fault
    decode = rig.tick()["decode"]
    assert (decode.current, decode.desired) == (1, 1)
    assert decode.reasons == (Reason.ACTUATOR_FAILED, Reason.PREDICTED_LOAD)
    assert says in decode.detail.lower() or says in decode.detail
    assert rig.cluster.writes == [] and rig.cluster.replicas["decode"] == 1
    assert last_logged(rig, "decode")["reason"] == "actuator_failed"
    assert rig.scaler.counts[("decode", Reason.ACTUATOR_FAILED)] == 1
    rig.cluster.patch_fault = None  # the API server is back: the same decision goes through
    assert rig.tick()["decode"].desired == 2 and rig.cluster.writes == [("decode", 2)]


@pytest.mark.parametrize(("fault", "says"), [(403, "forbidden"), (500, "500"), (0, "timed out")])
def test_replicas_that_cannot_be_read_hold_every_role(rig: Rig, fault: int, says: str) -> None:
    rig.cluster.get_fault = fault
    done = rig.tick()
    assert {d.reason for d in done.values()} == {Reason.ACTUATOR_FAILED}
    assert says in done["decode"].detail.lower() or says in done["decode"].detail
    assert rig.cluster.writes == []
    last = rig.scaler.decisions_json()["roles"]["decode"][-1]
    assert last["reason"] == "actuator_failed"
    # never read: the replicas are unknown, not 0 (KEDA then gets no answer, not a zero)
    assert (done["decode"].current, done["decode"].desired) == (None, None)
    assert (last["current"], last["desired"]) == (None, None)


def test_a_role_that_disappears_mid_scale_holds(rig: Rig) -> None:
    assert rig.tick()["decode"].desired == 2
    del rig.cluster.replicas["decode"]  # the Deployment deleted between two decisions
    done = rig.tick()
    assert {d.reason for d in done.values()} == {Reason.ACTUATOR_FAILED}
    assert 'deployments.apps "decode"' in done["prefill"].detail
    assert (done["decode"].current, done["decode"].desired) == (2, 2)  # last known, not 0


def test_an_exporter_answering_500_is_a_hold(rig: Rig) -> None:
    rig.cluster.roles_fault = 500
    done = rig.tick()
    assert {d.reason for d in done.values()} == {Reason.SOURCE_FAILED}
    assert "500" in done["decode"].detail and rig.cluster.writes == []
