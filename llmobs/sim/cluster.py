"""Several emulated instances behind one OpenAI-compatible proxy, in real time.

``llmobs sim --pd 2P1D`` runs prefill and decode instances, each on its own port with its own
/metrics, and a proxy that does what vLLM's disaggregated proxy does: send the request to a
prefill instance with ``max_tokens=1`` and ``kv_transfer_params.do_remote_decode``, pass the
returned ``kv_transfer_params`` to a decode instance, and stream the decoder's answer back.
``--replicas N`` runs N aggregated instances behind the same proxy.

Replica counts change at run time through the Kubernetes scale subresource on the proxy
(``GET``/``PUT``/``PATCH /apis/apps/v1/namespaces/NS/deployments/ROLE/scale``, autoscaling/v1
``Scale`` objects): new replicas serve after ``cold_start_s``; removed ones stop getting
requests and exit when their last one is done. ``GET /sim/instances`` lists the instances with
their roles; ``GET /sim/targets`` gives them in Prometheus HTTP service-discovery format.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from llmobs.errors import ConfigError
from llmobs.sim.config import Resolved
from llmobs.sim.serve import Running, bind, start_instance
from llmobs.sim.server import json_response

NAMESPACE = "default"
_PD = re.compile(r"(\d+)P(\d+)D\Z", re.IGNORECASE)


def parse_pd(spec: str) -> dict[str, int]:
    """``"2P1D"`` → ``{"prefill": 2, "decode": 1}``."""
    match = _PD.match(spec.strip())
    if match is None or int(match.group(1)) < 1 or int(match.group(2)) < 1:
        raise ConfigError(f"--pd {spec!r}: expected xPyD with x, y >= 1, for example 2P1D")
    return {"prefill": int(match.group(1)), "decode": int(match.group(2))}


@dataclass(eq=False)
class Member:
    role: str
    name: str
    state: str  # starting | ready | draining | stopped
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


class Cluster:
    def __init__(
        self,
        resolved: Resolved,
        roles: dict[str, int],
        *,
        host: str = "127.0.0.1",
        cold_start_s: float = 0.0,
        instance_ports: list[int] | None = None,
    ) -> None:
        self.resolved = resolved
        self.host = host
        self.cold_start_s = cold_start_s
        self.roles = roles
        self.members: dict[str, list[Member]] = {role: [] for role in roles}
        self._ports = list(instance_ports or [])
        self._names = itertools.count()
        self._rr = itertools.count()
        self.generation = 1  # the Scale objects' resourceVersion: bumped by every change
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=None)
        )
        for role, count in self.roles.items():
            for _ in range(count):
                member = self._new_member(role)
                await self._boot(member, delay=0.0)

    async def close(self) -> None:
        for members in self.members.values():
            for member in members:
                if member.task is not None:
                    member.task.cancel()
                if member.running is not None:
                    await member.running.close()
        if self._session is not None:
            await self._session.close()

    def _new_member(self, role: str) -> Member:
        member = Member(role, f"{role}-{next(self._names)}", "starting")
        self.members[role].append(member)
        return member

    async def _boot(self, member: Member, delay: float) -> None:
        if delay > 0:
            await asyncio.sleep(delay)  # the cold start: loading weights, capturing graphs
        port = self._ports.pop(0) if self._ports else 0
        sock = bind(self.host, port)
        member.running = await start_instance(
            self.resolved, sock, role=member.role, name=member.name
        )
        if member.state == "starting":
            member.state = "ready"

    async def _drain(self, member: Member) -> None:
        running = member.running
        if running is not None:
            await running.server.idle.wait()  # in-flight requests finish: none is dropped
            await running.close()
        member.state = "stopped"

    # -- scaling --------------------------------------------------------------------------------
    def counts(self, role: str) -> tuple[int, int]:
        """(desired replicas, ready replicas) of a role."""
        live = [m for m in self.members[role] if m.state in ("starting", "ready")]
        return len(live), sum(m.state == "ready" for m in live)

    def scale(self, role: str, replicas: int) -> None:
        live = [m for m in self.members[role] if m.state in ("starting", "ready")]
        for _ in range(replicas - len(live)):
            member = self._new_member(role)
            member.task = asyncio.get_running_loop().create_task(
                self._boot(member, self.cold_start_s)
            )
        # scale down the newest first, not-yet-ready ones before ready ones
        victims = sorted(live, key=lambda m: (m.state == "ready", -self.members[role].index(m)))
        for member in victims[: max(0, len(live) - replicas)]:
            if member.task is not None and member.state == "starting":
                member.task.cancel()
            member.state = "draining"
            member.task = asyncio.get_running_loop().create_task(self._drain(member))
        self.generation += 1

    # -- routing --------------------------------------------------------------------------------
    def pick(self, role: str) -> Member | None:
        ready = [m for m in self.members[role] if m.state == "ready"]
        if not ready:
            return None
        low = min(m.load for m in ready)
        tied = [m for m in ready if m.load == low]
        return tied[next(self._rr) % len(tied)]

    # -- HTTP -----------------------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024 * 1024)
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
        if member is None or member.url is None:
            return json_response({"detail": "no ready instance"}, 503)
        return await self._forward(
            request, member, await request.read(), stream=False, method="GET"
        )

    def listing(self) -> list[dict[str, Any]]:
        return [
            {
                "name": m.name,
                "role": m.role,
                "state": m.state,
                "url": m.url,
                "metrics_url": f"{m.url}/metrics" if m.url else None,
            }
            for members in self.members.values()
            for m in members
            if m.state != "stopped"
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
            body = json.loads(raw)
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
            f"{prefill.url}{request.path}", json=first, headers=_pass_headers(request)
        ) as answer:
            payload = await answer.read()
            if answer.status != 200:
                return web.Response(
                    body=payload, status=answer.status, headers={"Content-Type": "application/json"}
                )
        kv = json.loads(payload).get("kv_transfer_params")
        decode = self.pick("decode")
        if decode is None:
            return json_response({"detail": "no ready decode instance"}, 503)
        second = json.dumps(dict(body, kv_transfer_params=kv)).encode()
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
        assert member.url is not None
        headers = _pass_headers(request)
        async with self._session.request(
            method, f"{member.url}{request.path}", data=body, headers=headers
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
    def _scale_object(self, namespace: str, name: str) -> dict[str, Any]:
        desired, ready = self.counts(name)
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "resourceVersion": str(self.generation),
            },
            "spec": {"replicas": desired},
            "status": {"replicas": ready, "selector": f"role={name}"},
        }

    def _role(self, request: web.Request) -> tuple[str, str]:
        name = request.match_info["name"]
        if name not in self.roles:
            raise web.HTTPNotFound(
                text=json.dumps(_status(404, "NotFound", f'deployments.apps "{name}" not found')),
                content_type="application/json",
            )
        return request.match_info["namespace"], name

    async def get_scale(self, request: web.Request) -> web.Response:
        namespace, name = self._role(request)
        return json_response(self._scale_object(namespace, name))

    async def _set(self, request: web.Request, body: object) -> web.Response:
        namespace, name = self._role(request)
        spec = body.get("spec") if isinstance(body, dict) else None
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            return json_response(
                _status(
                    422,
                    "Invalid",
                    "Scale.spec.replicas: Invalid value: must be a non-negative integer",
                ),
                422,
            )
        self.scale(name, replicas)
        return json_response(self._scale_object(namespace, name))

    async def put_scale(self, request: web.Request) -> web.Response:
        return await self._set(request, await _json(request))

    async def patch_scale(self, request: web.Request) -> web.Response:
        body = await _json(request)
        if isinstance(body, list):  # a JSON patch: [{"op": "replace", "path": "/spec/replicas"}]
            for op in body:
                if (
                    isinstance(op, dict)
                    and op.get("path") == "/spec/replicas"
                    and op.get("op") in ("replace", "add")
                ):
                    body = {"spec": {"replicas": op.get("value")}}
                    break
        return await self._set(request, body)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    """A Kubernetes ``Status`` object, as the API server sends with errors."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


async def _json(request: web.Request) -> object:
    with contextlib.suppress(ValueError):
        return json.loads(await request.read())
    return None


def _pass_headers(request: web.Request) -> dict[str, str]:
    keep = ("Content-Type", "X-Request-Id", "Authorization")
    return {k: request.headers[k] for k in keep if k in request.headers}
