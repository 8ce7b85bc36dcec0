"""The fake Kubernetes API server of ``tests.kubeapi``, with the objects the autoscaler writes:
any namespaced resource with a ``scale`` subresource (Deployments, StatefulSets,
LeaderWorkerSets, RoleBasedGroupScalingAdapters: the path is the same for all) and
``coordination.k8s.io/v1`` Leases, over the real JSON protocol.

* ``GET .../<plural>/<name>`` the object; ``GET|PUT|PATCH .../<plural>/<name>/scale`` its
  ``autoscaling/v1`` Scale (``spec.replicas`` is the object's, ``status.replicas`` and the
  selector its status). PATCH takes a JSON merge patch; a strategic merge patch only for the
  built-in ``apps`` group (a custom resource answers 415, as the apiextensions server does).
* ``POST .../leases``, ``GET|PUT .../leases/<name>``: create (409 AlreadyExists) and update.
* A write whose ``metadata.resourceVersion`` is not the object's is a 409 Conflict (one global
  revision counter, shared with the pods of ``FakeKubeAPI``); a write without one applies.
* Faults, armed from the test's thread: ``fail(verb, resource, code)`` answers the next
  request(s) with the Status a real server sends for 403 (RBAC's wording), 404, 500;
  ``hang(verb, resource)`` never answers (the client's timeout fires); ``interfere(...)``
  lets another writer change the object just before the next write reaches it (a real
  conflict for the writer holding the old resourceVersion).

``requests`` logs every request as ``(verb, resource)``: ``("patch", "deployments/scale")``.
"""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from llmobs.sim.scale import merge_patch
from tests.kubeapi import FakeKubeAPI, Obj, status_object

Key = tuple[str, str, str, str]  # (group, plural, namespace, name)
LEASES = ("coordination.k8s.io", "leases")
_VERBS = {"GET": "get", "PUT": "update", "PATCH": "patch", "POST": "create"}
_MERGE = "application/merge-patch+json"
_STRATEGIC = "application/strategic-merge-patch+json"
USER = "system:serviceaccount:llmobs:autoscaler"


@dataclass
class _Fault:
    verb: str
    resource: str  # "deployments/scale", "leases", ...
    code: int  # 0: hang
    times: int


def _answer(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(status_object(code, reason, message), status=code)


class FakeKubeCluster(FakeKubeAPI):
    """``FakeKubeAPI`` plus scalable objects and Leases; see the module docstring."""

    def __init__(self, token: str | None = None) -> None:
        self._objects: dict[Key, Obj] = {}
        self._faults: list[_Fault] = []
        self._interfere: dict[Key, int] = {}
        self.requests: list[tuple[str, str]] = []
        super().__init__(token=token)

    def add_routes(self, app: web.Application) -> None:
        base = "/apis/{group}/{version}/namespaces/{namespace}"
        app.router.add_post(base + "/leases", self._create)
        app.router.add_route("*", base + "/{plural}/{name}", self._object)
        app.router.add_route("*", base + "/{plural}/{name}/scale", self._scale)

    # -- the test's side ------------------------------------------------------------------

    def put_object(
        self,
        group: str,
        plural: str,
        namespace: str,
        name: str,
        replicas: int | None,
        status: dict[str, Any] | None = None,
    ) -> Obj:
        """Create or replace an object with ``spec.replicas`` (None: absent) and ``status``."""

        def put() -> Obj:
            spec = {} if replicas is None else {"replicas": replicas}
            meta = {"name": name, "namespace": namespace, "uid": str(uuid.uuid4())}
            obj: Obj = {"metadata": meta, "spec": spec, "status": dict(status or {})}
            self._store((group, plural, namespace, name), obj)
            return copy.deepcopy(obj)

        return self._on_loop(put)

    def get_object(self, group: str, plural: str, namespace: str, name: str) -> Obj | None:
        return self._on_loop(
            lambda: copy.deepcopy(self._objects.get((group, plural, namespace, name)))
        )

    def fail(self, verb: str, resource: str, code: int, times: int = 1) -> None:
        """Answer the next ``times`` ``verb`` requests on ``resource`` with ``code``."""
        self._on_loop(lambda: self._faults.append(_Fault(verb, resource, code, times)))

    def hang(self, verb: str, resource: str, times: int = 1) -> None:
        """Never answer the next ``times`` ``verb`` requests on ``resource``."""
        self.fail(verb, resource, 0, times)

    def interfere(self, key: Key, replicas: int) -> None:
        """Before the next write to ``key``, another writer sets ``spec.replicas``."""
        self._on_loop(lambda: self._interfere.__setitem__(key, replicas))

    # -- the server's side ----------------------------------------------------------------

    def _store(self, key: Key, obj: Obj) -> None:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        self._objects[key] = obj

    async def _fault(self, request: web.Request, resource: str) -> web.StreamResponse | None:
        verb = _VERBS.get(request.method, request.method.lower())
        self.requests.append((verb, resource))
        if denied := self._denied(request):
            return denied
        info = request.match_info
        for fault in self._faults:
            if (fault.verb, fault.resource) != (verb, resource):
                continue
            fault.times -= 1
            if fault.times <= 0:
                self._faults.remove(fault)
            if fault.code == 0:
                await asyncio.Event().wait()  # cancelled when the server closes
            if fault.code == 403:
                message = (
                    f'{info["plural"]}.{info["group"]} "{info.get("name", "")}" is forbidden: '
                    f'User "{USER}" cannot {verb} resource "{resource}" in API group '
                    f'"{info["group"]}" in the namespace "{info["namespace"]}"'
                )
                return _answer(403, "Forbidden", message)
            if fault.code == 409:
                message = (
                    f"Operation cannot be fulfilled on {info['plural']}.{info['group']} "
                    f'"{info.get("name", "")}": the object has been modified; please apply '
                    "your changes to the latest version and try again"
                )
                return _answer(409, "Conflict", message)
            if fault.code == 404:
                return _answer(404, "NotFound", f'{resource} "{info.get("name", "")}" not found')
            return _answer(fault.code, "InternalError", "Internal error occurred: etcd timeout")
        return None

    def _key(self, request: web.Request) -> Key:
        info = request.match_info
        return (info["group"], info["plural"], info["namespace"], info["name"])

    def _missing(self, key: Key) -> web.Response:
        group, plural, _, name = key
        return _answer(404, "NotFound", f'{plural}.{group} "{name}" not found')

    async def _body(self, request: web.Request) -> Obj | web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError as exc:
            return _answer(400, "BadRequest", str(exc))
        if not isinstance(body, dict):
            return _answer(400, "BadRequest", "the body must be a JSON object")
        return body

    def _other_writer(self, key: Key) -> None:
        if key in self._interfere:
            self._objects[key]["spec"]["replicas"] = self._interfere.pop(key)
            self._store(key, self._objects[key])

    def _conflict(self, key: Key, sent: object) -> web.Response | None:
        """A 409 when ``sent`` (a resourceVersion) is not the object's current one."""
        group, plural, _, name = key
        if sent in (None, "") or sent == self._objects[key]["metadata"]["resourceVersion"]:
            return None
        message = (
            f'Operation cannot be fulfilled on {plural}.{group} "{name}": the object has been '
            "modified; please apply your changes to the latest version and try again"
        )
        return _answer(409, "Conflict", message)

    async def _create(self, request: web.Request) -> web.StreamResponse:
        if (answer := await self._fault(request, "leases")) is not None:
            return answer
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        meta = body.setdefault("metadata", {})
        key: Key = (*LEASES, request.match_info["namespace"], str(meta.get("name", "")))
        if key in self._objects:
            return _answer(
                409, "AlreadyExists", f'leases.coordination.k8s.io "{key[3]}" already exists'
            )
        meta |= {"namespace": key[2], "uid": str(uuid.uuid4())}
        body |= {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease"}
        self._store(key, body)
        return web.json_response(body, status=201)

    async def _object(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request)
        if (answer := await self._fault(request, key[1])) is not None:
            return answer
        if key not in self._objects:
            return self._missing(key)
        if request.method == "GET":
            return web.json_response(self._objects[key])
        if request.method != "PUT" or key[:2] != LEASES:
            return _answer(405, "MethodNotAllowed", f"{request.method} is not supported here")
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        meta = body.get("metadata") or {}
        self._other_writer(key)
        if meta.get("name") != key[3]:
            return _answer(400, "BadRequest", "the name of the object does not match the URL")
        if conflict := self._conflict(key, meta.get("resourceVersion")):
            return conflict
        old = self._objects[key]["metadata"]
        body["metadata"] = {**meta, "namespace": key[2], "uid": old["uid"]}
        self._store(key, body)
        return web.json_response(body)

    def _scale_of(self, key: Key) -> Obj:
        obj = self._objects[key]
        meta = obj["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion")},
            "spec": {k: v for k, v in obj["spec"].items() if k == "replicas" and v},
            "status": {
                "replicas": obj["status"].get("replicas", 0),
                "selector": f"app={key[3]}",
            },
        }

    async def _scale(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request)
        if (answer := await self._fault(request, f"{key[1]}/scale")) is not None:
            return answer
        if key not in self._objects:
            return self._missing(key)
        if request.method == "GET":
            return web.json_response(self._scale_of(key))
        if request.method not in ("PUT", "PATCH"):
            return _answer(405, "MethodNotAllowed", f"{request.method} is not supported here")
        body = await self._body(request)
        if isinstance(body, web.Response):
            return body
        self._other_writer(key)
        current = self._scale_of(key)
        sent = (body.get("metadata") or {}).get("resourceVersion")
        if request.method == "PATCH":
            kind = request.content_type
            if kind != _MERGE and not (kind == _STRATEGIC and key[0] == "apps"):
                return _answer(
                    415, "UnsupportedMediaType", f"the media type {kind} is not accepted"
                )
            merged = merge_patch(current, body)
            assert isinstance(merged, dict)
            body = merged
        replicas = (body.get("spec") or {}).get("replicas", 0)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            return _answer(422, "Invalid", f"spec.replicas: Invalid value: {replicas!r}")
        if conflict := self._conflict(key, sent):
            return conflict
        self._objects[key]["spec"]["replicas"] = replicas
        self._store(key, self._objects[key])
        return web.json_response(self._scale_of(key))
