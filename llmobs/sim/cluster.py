"""Several emulated instances behind one OpenAI-compatible proxy, in real time.

``llmobs sim --pd 2P1D`` runs prefill and decode instances, each on its own port with its own
/metrics, and a proxy that does what vLLM's disaggregated proxy does: send the request to a
prefill instance with ``max_tokens=1`` and ``kv_transfer_params.do_remote_decode``, pass the
returned ``kv_transfer_params`` to a decode instance, and stream the decoder's answer back.
``--replicas N`` runs N aggregated instances behind the same proxy.

Replica counts change at run time through the Kubernetes scale subresource on the proxy
(``GET``/``PUT``/``PATCH /apis/apps/v1/namespaces/NS/deployments/ROLE/scale``, autoscaling/v1
``Scale`` objects, as strict as the API server: ``llmobs.sim.scale``): new replicas serve
after ``cold_start_s``; removed ones stop getting requests and exit when their last one is
done (the ``ReplicaSet`` policy the virtual-time cluster shares). ``GET /sim/instances``
lists the instances with their roles; ``GET /sim/targets`` gives them in Prometheus HTTP
service-discovery format.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from llmobs import strictjson
from llmobs.clock import SYSTEM, Clock
from llmobs.errors import ConfigError
from llmobs.sim.config import Resolved
from llmobs.sim.replicaset import Phase, Replica, ReplicaSet
from llmobs.sim.scale import KubeStatus, ScaleObjects, decode
from llmobs.sim.serve import Running, bind, start_instance
from llmobs.sim.server import json_response

NAMESPACE = "default"
_PD = re.compile(r"(\d+)P(\d+)D\Z", re.IGNORECASE)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def parse_pd(spec: str) -> dict[str, int]:
    """``"2P1D"`` → ``{"prefill": 2, "decode": 1}``."""
    match = _PD.match(spec.strip())
    if match is None or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ConfigError(f"--pd {spec!r}: expected xPyD with x, y >= 1, for example 2P1D")
    return {"prefill": int(match.group(1)), "decode": int(match.group(2))}


@dataclass(eq=False)
class Slot:
    """What the real-time cluster keeps of a replica: its server once up, and the task that
    boots or drains it."""

    running: Running | None = None
    task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str | None:
        if self.running is None:
            return None
        return f"http://{self.running.server.host}:{self.running.port}"

    @property
    def load(self) -> int:
        return self.running.server.in_flight if self.running is not None else 0


Member = Replica[Slot]


def _new_slot(name: str) -> Slot:
    return Slot()


def _load(slot: Slot) -> int:
    return slot.load


class Cluster:
    def __init__(
        self,
        resolved: Resolved,
        roles: dict[str, int],
        *,
        host: str = "127.0.0.1",
        cold_start_s: float = 0.0,
        instance_ports: list[int] | None = None,
        namespace: str = NAMESPACE,
        clock: Clock = SYSTEM,
    ) -> None:
        self.resolved = resolved
        self.host = host
        most = resolved.settings.max_replicas
        self.replicas: ReplicaSet[Slot] = ReplicaSet(
            roles, clock=clock, cold_start_s=cold_start_s, max_replicas=most
        )
        self.roles = self.replicas.initial
        self.clock = clock
        created = datetime.fromtimestamp(clock.wall(), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.objects = ScaleObjects(
            namespace, created, {role: str(uuid.uuid4()) for role in self.roles}, most
        )
        self._ports = list(instance_ports or [])
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        """Boot the first replicas; a port that cannot be bound raises ``ConfigError``."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )
        for role, count in self.roles.items():
            for _ in range(count):
                await self._boot(self.replicas.add(role, _new_slot, cold=False))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for member in self.replicas.replicas():
            if member.handle.running is not None:
                await member.handle.running.close()
                member.handle.running = None
        if self._session is not None:
            await self._session.close()

    def _spawn(self, member: Member, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        member.handle.task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _boot(self, member: Member) -> None:
        await asyncio.sleep(max(0.0, member.due_at - self.clock.monotonic()))  # the cold start
        slot = member.handle
        sock = bind(self.host, self._ports.pop(0) if self._ports else 0)
        try:
            slot.running = await start_instance(
                self.resolved, sock, role=member.role, name=member.name
            )
        except BaseException:
            sock.close()
            raise
        if not self.replicas.mark_ready(member):  # removed while it booted
            await slot.running.close()
            slot.running = None

    async def _drain(self, member: Member) -> None:
        running = member.handle.running
        if running is not None:
            await running.server.idle.wait()  # in-flight requests finish: none is dropped
            await running.close()
            member.handle.running = None
        self.replicas.mark_stopped(member)

    # -- scaling --------------------------------------------------------------------------------
    def scale(self, role: str, replicas: int) -> None:
        change = self.replicas.scale(role, replicas, _new_slot)
        for member in change.added:
            self._spawn(member, self._boot(member))
        for member in change.removed:
            if member.phase is Phase.STOPPED:  # still in its cold start
                if member.handle.task is not None:
                    member.handle.task.cancel()
            else:
                self._spawn(member, self._drain(member))

    def pick(self, role: str) -> Member | None:
        return self.replicas.pick(role, _load)

    # -- HTTP -----------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024, middlewares=[_kube_errors])
        app.router.add_get("/health", self.health)
        app.router.add_get("/v1/models", self.models)
        app.router.add_post("/v1/completions", self.generate)
        app.router.add_post("/v1/chat/completions", self.generate)
        app.router.add_get("/sim/instances", self.instances)
        app.router.add_get("/sim/targets", self.targets)
        scale = "/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"
        app.router.add_get(scale, self.get_scale)
        app.router.add_put(scale, self.put_scale)
        app.router.add_patch(scale, self.patch_scale)
        return app

    async def health(self, request: web.Request) -> web.Response:
        ok = all(self.pick(role) is not None for role in self.roles)
        return web.Response(status=200 if ok else 503)

    async def models(self, request: web.Request) -> web.StreamResponse:
        member = self.pick("decode" if "decode" in self.roles else "both")
        if member is None or member.handle.url is None:
            return json_response({"detail": "no ready instance"}, 503)
        return await self._forward(
            request, member, await request.read(), stream=False, method="GET"
        )

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "name": m.name,
                "role": m.role,
                "state": m.phase.value,
                "url": m.handle.url,
                "metrics_url": f"{m.handle.url}/metrics" if m.handle.url else None,
            }
            for m in self.replicas.replicas()
        ]

    async def instances(self, request: web.Request) -> web.Response:
        return json_response({"instances": self.listing()})

    async def targets(self, request: web.Request) -> web.Response:
        """Prometheus http_sd_configs: ready instances only, with their role as a label."""
        groups = [
            {
                "targets": [m["url"].removeprefix("http://")],
                "labels": {"role": m["role"], "pod": m["name"], "group": "llmobs-sim"},
            }
            for m in self.listing()
            if m["state"] == "ready"
        ]
        return json_response(groups)

    async def generate(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw)  # lenient as vLLM's server; what it sends on is strict
        except ValueError:
            body = None
        if "both" in self.roles or not isinstance(body, dict):
            member = self.pick("both" if "both" in self.roles else "decode")
            if member is None:
                return json_response({"detail": "no ready instance"}, 503)
            return await self._forward(request, member, raw, stream=True)
        prefill = self.pick("prefill")
        if prefill is None:
            return json_response({"detail": "no ready prefill instance"}, 503)
        first = dict(
            body,
            max_tokens=1,
            stream=False,
            kv_transfer_params={
                "do_remote_decode": True,
                "do_remote_prefill": False,
                "remote_engine_id": None,
                "remote_block_ids": None,
                "remote_host": None,
                "remote_port": None,
            },
        )
        first.pop("stream_options", None)
        first.pop("max_completion_tokens", None)
        assert self._session is not None
        async with self._session.post(
            f"{prefill.handle.url}{request.path}",
            data=strictjson.dumps(first).encode(),
            headers=_pass_headers(request),
        ) as answer:
            payload = await answer.read()
            if answer.status != 200:
                return web.Response(
                    body=payload, status=answer.status, headers={"Content-Type": "application/json"}
                )
        kv = strictjson.loads(payload).get("kv_transfer_params")
        decode = self.pick("decode")
        if decode is None:
            return json_response({"detail": "no ready decode instance"}, 503)
        second = strictjson.dumps(dict(body, kv_transfer_params=kv)).encode()
        return await self._forward(request, decode, second, stream=True)

    async def _forward(
        self,
        request: web.Request,
        member: Member,
        body: bytes,
        *,
        stream: bool,
        method: str = "POST",
    ) -> web.StreamResponse:
        assert self._session is not None
        url = member.handle.url
        assert url is not None
        headers = _pass_headers(request)
        async with self._session.request(
            method, f"{url}{request.path}", data=body, headers=headers
        ) as answer:
            kind = answer.headers.get("Content-Type", "application/json")
            if not stream or not kind.startswith("text/event-stream"):
                return web.Response(
                    body=await answer.read(), status=answer.status, headers={"Content-Type": kind}
                )
            response = web.StreamResponse(status=answer.status, headers={"Content-Type": kind})
            response.enable_chunked_encoding()
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    # -- the scale subresource ------------------------------------------------------------------
    def _scale_now(self, name: str) -> dict[str, Any]:
        counts = self.replicas.counts(name)
        return self.objects.scale(name, counts.desired, counts.ready)

    def _located(self, request: web.Request) -> str:
        return self.objects.locate(request.match_info["namespace"], request.match_info["name"])

    async def get_scale(self, request: web.Request) -> web.Response:
        return json_response(self._scale_now(self._located(request)))

    async def _write(self, request: web.Request, patch: str | None) -> web.Response:
        name = self._located(request)
        body = decode(await request.read(), patch)
        current = self._scale_now(name)
        replicas = self.objects.write(name, current, body, patch=patch)
        if replicas != current["spec"]["replicas"]:
            self.scale(name, replicas)
        return json_response(self._scale_now(name))

    async def put_scale(self, request: web.Request) -> web.Response:
        return await self._write(request, None)

    async def patch_scale(self, request: web.Request) -> web.Response:
        return await self._write(request, request.content_type)


@web.middleware
async def _kube_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The API server's ``Status`` bodies for the scale subresource's errors."""
    try:
        return await handler(request)
    except KubeStatus as exc:
        return json_response(exc.body, exc.code)


def _pass_headers(request: web.Request) -> dict[str, str]:
    keep = ("Content-Type", "X-Request-Id", "Authorization")
    return {k: request.headers[k] for k in keep if k in request.headers}
