"""A fake Kubernetes API server for core/v1 Pods that speaks the real list/watch protocol, so
the official ``kubernetes`` client works against it unmodified (``kubeconfig()`` points it here).

* ``GET /api/v1/pods`` and ``/api/v1/namespaces/{ns}/pods``: a ``PodList`` at the current
  ``metadata.resourceVersion``, or with ``watch=true`` a chunked ``application/json`` stream of
  one ``{"type": ..., "object": ...}`` per line.
* resourceVersion: one global integer bumped on every change; a pod carries the rv of its last
  change. A watch from rv ``R`` replays the history after ``R`` then goes live; from ``""`` or
  ``"0"`` it first sends a synthetic ``ADDED`` per matching pod. After ``compact()`` an older
  rv is too old: a watch gets one ``ERROR`` line holding a 410 ``Expired`` Status and ends (as
  real servers do), a list gets HTTP 410 with that Status (real ones do so when etcd no longer
  has the rv, e.g. for ``resourceVersionMatch=Exact``).
* ``labelSelector`` (``=``, ``==``, ``!=``, ``k``, ``!k``, ``in``, ``notin``) and
  ``fieldSelector`` (a few real pod fields; others are 400) filter lists and watches; as in the
  apiserver's watch cache, a change that makes a pod stop matching is sent as ``DELETED`` (the
  old object at the new rv), one that makes it start matching as ``ADDED``.
* ``allowWatchBookmarks``: a ``BOOKMARK`` every ``bookmark_interval`` s (real: about a minute);
  ``timeoutSeconds`` ends the stream cleanly. Errors are ``Status`` objects: 400 bad selector,
  401 without the bearer ``token`` (when one is set), 404 anything else, 410 expired.

Not modelled: graceful deletion (``delete_pod`` is immediate), pagination, writes over HTTP.
Tests change state with ``add_pod``/``update_pod``/``delete_pod`` from their own thread.
"""

from __future__ import annotations

import asyncio
import copy
import json
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from aiohttp import web

from tests.servers import HTTPServer

Obj = dict[str, Any]
T = TypeVar("T")
Ending = Literal["abort", "clean", "expired"]
# (key, operator, values); operators: "exists", "!exists", "in" (also = and ==), "notin" (!=)
Requirement = tuple[str, str, frozenset[str]]

_KEY = r"[A-Za-z0-9](?:[-A-Za-z0-9_./]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"\s*({_KEY})\s+(in|notin)\s*\(([^()]*)\)\s*")
_EQ_RE = re.compile(rf"\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*")
_EXISTS_RE = re.compile(rf"\s*(!?)\s*({_KEY})\s*")
_FIELD_RE = re.compile(r"\s*([A-Za-z.]+)\s*(==|=|!=)\s*([^,=!]*?)\s*")
_FIELDS: dict[str, Callable[[Obj], str]] = {
    "metadata.name": lambda pod: str(pod["metadata"]["name"]),
    "metadata.namespace": lambda pod: str(pod["metadata"]["namespace"]),
    "spec.nodeName": lambda pod: str(pod.get("spec", {}).get("nodeName", "")),
    "status.phase": lambda pod: str(pod.get("status", {}).get("phase", "")),
    "status.podIP": lambda pod: str(pod.get("status", {}).get("podIP", "")),
}
_NOT_FOUND = "the server could not find the requested resource"
_WATCH_TOO_OLD = "The resourceVersion for the provided watch is too old."
_POLL = 0.05  # how often an idle watch notices that its client went away


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def status_object(code: int, reason: str, message: str) -> Obj:
    head = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    return {**head, "message": message, "reason": reason, "code": code}


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(status_object(code, reason, message), status=code)


def parse_label_selector(text: str) -> list[Requirement]:
    """Requirements of a label selector, ANDed; ``ValueError`` on bad syntax."""
    requirements: list[Requirement] = []
    for part in re.split(r",(?![^()]*\))", text) if text.strip() else []:
        if m := _SET_RE.fullmatch(part):
            values = frozenset(v.strip() for v in m[3].split(","))
            if not all(re.fullmatch(_VALUE, v) for v in values) or values == {""}:
                raise ValueError(f"unable to parse requirement: invalid values in {part!r}")
            requirements.append((m[1], m[2], values))
        elif m := _EQ_RE.fullmatch(part):
            requirements.append((m[1], "notin" if m[2] == "!=" else "in", frozenset([m[3]])))
        elif m := _EXISTS_RE.fullmatch(part):
            requirements.append((m[2], "!exists" if m[1] else "exists", frozenset()))
        else:
            raise ValueError(f"unable to parse requirement: {part!r}")
    return requirements


def _label_matches(req: Requirement, labels: dict[str, str]) -> bool:
    key, op, values = req
    if op == "exists":
        return key in labels
    if op == "!exists":
        return key not in labels
    if op == "in":
        return key in labels and labels[key] in values
    return labels.get(key) not in values  # notin, != : an absent label matches


@dataclass(frozen=True)
class Selector:
    """Which pods a request sees: namespace (None: all), labels, fields."""

    namespace: str | None = None
    labels: list[Requirement] = field(default_factory=list)
    fields: list[tuple[str, bool, str]] = field(default_factory=list)  # (field, equal?, value)

    @classmethod
    def parse(cls, namespace: str | None, labels: str, fields: str) -> Selector:
        parsed: list[tuple[str, bool, str]] = []
        for part in fields.split(",") if fields.strip() else []:
            m = _FIELD_RE.fullmatch(part)
            if m is None:
                raise ValueError(f"invalid field selector: {part!r}")
            if m[1] not in _FIELDS:
                raise ValueError(f'field label not supported: "{m[1]}"')
            parsed.append((m[1], m[2] != "!=", m[3]))
        return cls(namespace, parse_label_selector(labels), parsed)

    def matches(self, pod: Obj) -> bool:
        meta = pod["metadata"]
        if self.namespace is not None and meta["namespace"] != self.namespace:
            return False
        labels = meta.get("labels") or {}
        return all(_label_matches(r, labels) for r in self.labels) and all(
            (_FIELDS[name](pod) == value) == equal for name, equal, value in self.fields
        )


@dataclass(frozen=True)
class _Event:
    rv: int
    type: str  # ADDED, MODIFIED, DELETED
    obj: Obj  # never mutated once recorded
    prev: Obj | None  # the object before the change (the last state, for DELETED)


@dataclass(eq=False)
class _Watch:
    selector: Selector
    queue: asyncio.Queue[tuple[str, Obj] | None] = field(default_factory=asyncio.Queue)
    end: Ending = "clean"  # how to end, when a None arrives in the queue

    def offer(self, event: _Event) -> None:
        """Queue what this watch sees of ``event``, as the apiserver's cacheWatcher does."""
        now = event.type != "DELETED" and self.selector.matches(event.obj)
        before = event.prev is not None and self.selector.matches(event.prev)
        if now and not before:
            self.queue.put_nowait(("ADDED", event.obj))
        elif now:
            self.queue.put_nowait(("MODIFIED", event.obj))
        elif before and event.prev is not None:
            meta = {**event.prev["metadata"], "resourceVersion": str(event.rv)}
            self.queue.put_nowait(("DELETED", {**event.prev, "metadata": meta}))


def _line(obj: Obj) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode() + b"\n"


class FakeKubeAPI(HTTPServer):
    """The fake API server; see the module docstring. Use as a context manager."""

    def __init__(self, token: str | None = None, bookmark_interval: float = 0.2) -> None:
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.list_calls = 0  # requests that got past authentication
        self.watch_calls = 0
        self._pods: dict[tuple[str, str], Obj] = {}
        self._rv = 1
        self._compacted = 0  # a resourceVersion below this is "too old"
        self._history: list[_Event] = []
        self._watches: set[_Watch] = set()
        app = web.Application()
        app.router.add_get("/api/v1/pods", self._handle)
        app.router.add_get("/api/v1/namespaces/{namespace}/pods", self._handle)
        self.add_routes(app)
        app.router.add_route("*", "/{tail:.*}", self._not_found)
        super().__init__(app=app)

    def add_routes(self, app: web.Application) -> None:
        """More resources, served before the catch-all 404 (``tests.kubescale`` adds the
        scale subresource and Leases)."""

    @property
    def open_watches(self) -> int:
        """Watch streams being served now (dropped ones no longer count)."""
        return len(self._watches)

    @property
    def resource_version(self) -> int:
        """The current (latest) resourceVersion."""
        return self._rv

    def add_pod(self, pod: Obj) -> Obj:
        """Create ``pod`` (``metadata.namespace`` defaults to "default"): one ADDED event."""

        def add() -> Obj:
            new = copy.deepcopy(pod)
            new.setdefault("apiVersion", "v1")
            new.setdefault("kind", "Pod")
            meta = new.setdefault("metadata", {})
            meta.setdefault("namespace", "default")
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", _now())
            key = (meta["namespace"], meta["name"])
            if key in self._pods:
                raise ValueError(f'pods "{key[1]}" already exists in {key[0]}')
            return self._commit("ADDED", key, new, None)

        return self._on_loop(add)

    def update_pod(self, namespace: str, name: str, mutate: Callable[[Obj], None]) -> Obj:
        """Apply ``mutate`` to a copy of the pod and store it: one MODIFIED event."""

        def update() -> Obj:
            old = self._pods[(namespace, name)]
            new = copy.deepcopy(old)
            mutate(new)
            if (new["metadata"]["namespace"], new["metadata"]["name"]) != (namespace, name):
                raise ValueError("update_pod cannot rename a pod")
            return self._commit("MODIFIED", (namespace, name), new, old)

        return self._on_loop(update)

    def delete_pod(self, namespace: str, name: str) -> Obj:
        """Delete at once: one DELETED event carrying the last object at the new rv."""

        def delete() -> Obj:
            last = self._pods[(namespace, name)]
            gone = {**last, "metadata": dict(last["metadata"])}
            return self._commit("DELETED", (namespace, name), gone, last)

        return self._on_loop(delete)

    def compact(self) -> None:
        """Expire every resourceVersion older than the current one (and their history)."""
        self._on_loop(lambda: self._end_history(self._rv))

    def drop_watches(self, how: Ending = "abort") -> None:
        """End every open watch: "abort" cuts the connection mid-stream (no final chunk, as
        when an apiserver dies or a proxy resets); "clean" ends the response properly (as
        the apiserver's own timeout does); "expired" first sends the 410 ERROR event an
        apiserver sends when etcd compacts past a lagging watch."""
        self._on_loop(lambda: self._end_watches(how))

    def kubeconfig(self, path: Path | str) -> Path:
        """Write a kubeconfig for this server (context "fake", the token if any)."""
        user = {"token": self.token} if self.token else {}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": {"server": self.url("")}}],
            "users": [{"name": "fake", "user": user}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path = Path(path)
        path.write_text(yaml.safe_dump(config))
        return path

    def close(self) -> None:
        if self.thread.is_alive():  # let open watches end now rather than at shutdown timeout
            self._on_loop(lambda: self._end_watches("clean"))
        super().close()

    def _on_loop(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (never call from there) and return its result."""

        async def call() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def _commit(self, type_: str, key: tuple[str, str], obj: Obj, prev: Obj | None) -> Obj:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if type_ == "DELETED":
            del self._pods[key]
        else:
            self._pods[key] = obj
        event = _Event(self._rv, type_, obj, prev)
        self._history.append(event)
        for watch in self._watches:
            watch.offer(event)
        return copy.deepcopy(obj)

    def _end_history(self, rv: int) -> None:
        self._compacted = rv
        self._history = [e for e in self._history if e.rv > rv]

    def _end_watches(self, how: Ending) -> None:
        for watch in self._watches:
            watch.end = how
            watch.queue.put_nowait(None)
        self._watches.clear()

    def _too_old(self, rv: int) -> Obj:
        message = f"too old resource version: {rv} ({self._compacted})"
        return status_object(410, "Expired", message)

    def _denied(self, request: web.Request) -> web.Response | None:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        return None

    async def _not_found(self, request: web.Request) -> web.Response:
        return self._denied(request) or _status(404, "NotFound", _NOT_FOUND)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if denied := self._denied(request):
            return denied
        query = request.query
        watching = query.get("watch", "").lower() in ("true", "1")
        if watching:
            self.watch_calls += 1
        else:
            self.list_calls += 1
        try:
            namespace = request.match_info.get("namespace")
            selector = Selector.parse(
                namespace, query.get("labelSelector", ""), query.get("fieldSelector", "")
            )
            raw_rv = query.get("resourceVersion", "")
            rv = int(raw_rv) if raw_rv not in ("", "0") else None
            seconds = float(query.get("timeoutSeconds") or 0)
        except ValueError as exc:
            return _status(400, "BadRequest", str(exc))
        if watching:
            bookmarks = query.get("allowWatchBookmarks", "").lower() in ("true", "1")
            return await self._watch(request, _Watch(selector), rv, seconds, bookmarks)
        if rv is not None and rv < self._compacted:
            return web.json_response(self._too_old(rv), status=410)
        items = [p for _, p in sorted(self._pods.items()) if selector.matches(p)]
        meta = {"resourceVersion": str(self._rv)}
        return web.json_response(
            {"kind": "PodList", "apiVersion": "v1", "metadata": meta, "items": items}
        )

    async def _watch(
        self, request: web.Request, watch: _Watch, rv: int | None, seconds: float, bookmarks: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if rv is not None and rv < self._compacted:
            await response.write(_line({"type": "ERROR", "object": self._too_old(rv)}))
            return response
        # Snapshot (or replay) and registration with no await between: no event missed or
        # seen twice.
        if rv is None:
            for _, pod in sorted(self._pods.items()):
                if watch.selector.matches(pod):
                    watch.queue.put_nowait(("ADDED", pod))
        else:
            for event in self._history:
                if event.rv > rv:
                    watch.offer(event)
        self._watches.add(watch)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds if seconds > 0 else math.inf
        next_bookmark = loop.time() + self.bookmark_interval if bookmarks else math.inf
        try:
            while request.transport is not None and not request.transport.is_closing():
                now = loop.time()
                if now >= deadline:
                    break
                if not watch.queue.empty():
                    item = watch.queue.get_nowait()
                elif now >= next_bookmark:  # nothing queued: this watch has seen up to _rv
                    meta = {"resourceVersion": str(self._rv)}
                    bookmark = {"kind": "Pod", "apiVersion": "v1", "metadata": meta}
                    await response.write(_line({"type": "BOOKMARK", "object": bookmark}))
                    next_bookmark = now + self.bookmark_interval
                    continue
                else:
                    wait = min(deadline, next_bookmark, now + _POLL) - now
                    try:
                        item = await asyncio.wait_for(watch.queue.get(), wait)
                    except TimeoutError:
                        continue
                if item is None:
                    if watch.end == "expired":
                        error = status_object(410, "Expired", _WATCH_TOO_OLD)
                        await response.write(_line({"type": "ERROR", "object": error}))
                    elif watch.end == "abort" and request.transport is not None:
                        request.transport.abort()
                    break
                await response.write(_line({"type": item[0], "object": item[1]}))
        except ConnectionError:
            pass  # the client went away
        finally:
            self._watches.discard(watch)
        return response


def make_pod(
    name: str,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    ip: str | None = "127.0.0.1",
    ready: bool = True,
    ports: list[Obj] | None = None,
    owner: Obj | None = None,
    phase: str = "Running",
) -> Obj:
    """A realistic Pod: one container with ``ports``, ``status.podIP`` (none if ``ip`` is
    None), ``phase``, Ready conditions, and a controller ownerReference from ``owner``."""
    now = _now()
    labels, annotations = dict(labels or {}), dict(annotations or {})
    metadata: Obj = {"name": name, "namespace": namespace, "labels": labels}
    metadata["annotations"] = annotations
    if owner is not None:
        uid = uuid.uuid5(uuid.NAMESPACE_URL, f"{namespace}/{owner['kind']}/{owner['name']}")
        ref = {"apiVersion": "apps/v1", "uid": str(uid), "controller": True, **owner}
        metadata["ownerReferences"] = [{**ref, "blockOwnerDeletion": True}]
    image = "registry.example/llm-server:latest"
    running = phase == "Running"
    container = {"name": "server", "image": image, "imageID": "", "ready": ready}
    container |= {"restartCount": 0, "started": running}
    container["state"] = {"running": {"startedAt": now}} if running else {"waiting": {}}
    flag = "True" if ready else "False"
    conditions = [("PodScheduled", "True"), ("Ready", flag), ("ContainersReady", flag)]
    status: Obj = {"phase": phase, "hostIP": "127.0.0.1", "startTime": now}
    status["conditions"] = [
        {"type": kind, "status": value, "lastTransitionTime": now} for kind, value in conditions
    ]
    status["containerStatuses"] = [container]
    if ip is not None:
        status |= {"podIP": ip, "podIPs": [{"ip": ip}]}
    container_ports = [{"protocol": "TCP", **port} for port in ports or []]
    spec: Obj = {"nodeName": "node-1", "restartPolicy": "Always"}
    spec["containers"] = [{"name": "server", "image": image, "ports": container_ports}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec, "status": status}
