"""The Kubernetes scale subresource of the emulator's roles, as strict as the API server.

Pure: the real-time cluster's HTTP handlers pass in what they read (the path, the body, the
role's current replica counts) and get back a ``Scale`` object as JSON, or a ``KubeStatus``
error that carries the API server's own ``Status`` body. What it keeps to:

* every object has a ``metadata.resourceVersion`` that changes whenever the object does: a
  write that changes ``spec.replicas``, or ``status.replicas`` moving as replicas come up;
  versions come from one counter, as etcd's revision, so they never repeat across objects;
* a write carrying a stale ``resourceVersion`` is a 409 Conflict; a write without one is
  applied to the current object (the API server allows unconditional updates of a scale);
* another namespace, or a name that is no role, is a 404 NotFound;
* ``spec.replicas`` must be an integer from 0 to the cluster's ``max_replicas`` (422 Invalid
  otherwise, as the API server refuses an invalid object): each replica is a server with its
  own sockets, so a count of 100,000 must not reach the cluster;
* PATCH takes JSON merge patches, strategic merge patches (the same thing for a Scale) and
  JSON patches (RFC 6902), chosen by ``Content-Type``;
* a body that is not JSON (``NaN`` included), or a JSON patch that is not an array of
  operation objects, is a 400 that quotes the parse error; an operation that cannot be
  applied (an unknown ``op``, a missing path or value, a failed ``test``) is a 422 naming it,
  as the API server's JSON-patch library words it (``Unexpected kind: bogus``).

``status.replicas`` counts the replicas that exist: past their cold start and not draining
(an emulated replica has no pod before its server is up). It trails ``spec.replicas`` while
new replicas start. ``status.selector`` is the label selector of the role's instances, the
labels ``/sim/targets`` gives them.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from llmobs import strictjson
from llmobs.errors import LlmobsError

GROUP, RESOURCE = "apps", "deployments"
QUALIFIED = f"{RESOURCE}.{GROUP}"
SELECTOR_LABEL = ("group", "llmobs-sim")
INT32_MAX = 2**31 - 1
MERGE_PATCH = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"


class KubeStatus(LlmobsError):
    """An error the API server would answer with: ``body`` is its ``Status`` object."""

    reason = "kubernetes_status"

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any]) -> None:
        super().__init__(message)
        self.code = code
        self.body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "details": details,
            "code": code,
        }


def not_found(name: str) -> KubeStatus:
    details = {"name": name, "group": GROUP, "kind": RESOURCE}
    return KubeStatus(404, "NotFound", f"{QUALIFIED} {_quote(name)} not found", details)


def conflict(name: str) -> KubeStatus:
    message = (
        f"Operation cannot be fulfilled on {QUALIFIED} {_quote(name)}: the object has been "
        "modified; please apply your changes to the latest version and try again"
    )
    return KubeStatus(409, "Conflict", message, {"name": name, "group": GROUP, "kind": RESOURCE})


def invalid(name: str, path: str, value: object, detail: str) -> KubeStatus:
    """422, as ``NewInvalid(autoscaling.Kind("Scale"), ...)`` words it."""
    body = "Required value" if value is None else f"Invalid value: {_go_value(value)}: {detail}"
    cause = {
        "reason": "FieldValueRequired" if value is None else "FieldValueInvalid",
        "message": body,
        "field": path,
    }
    return KubeStatus(
        422,
        "Invalid",
        f"Scale.autoscaling {_quote(name)} is invalid: {path}: {body}",
        {"name": name, "group": "autoscaling", "kind": "Scale", "causes": [cause]},
    )


def bad_request(message: str) -> KubeStatus:
    return KubeStatus(400, "BadRequest", message, {})


def unsupported_media() -> KubeStatus:
    accepted = ", ".join((JSON_PATCH, *MERGE_PATCH))
    message = (
        "the body of the request was in an unknown format - accepted media types include: "
        + accepted
    )
    return KubeStatus(415, "UnsupportedMediaType", message, {})


def _quote(text: str) -> str:
    """Go's ``%q`` for the plain names used here."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _go_value(value: object) -> str:
    return strictjson.dumps(value)


def decode(raw: bytes, patch: str | None) -> object:
    """The request body as JSON, or a 400 quoting the parse error as the API server does
    (a merge patch's as ``error decoding patch: ...``). ``NaN`` and ``Infinity`` are not JSON."""
    try:
        return strictjson.loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        prefix = "error decoding patch: " if patch in MERGE_PATCH else ""
        raise bad_request(f"{prefix}{exc}") from None


@dataclass(slots=True)
class _Version:
    resource_version: int
    spec: int
    status: int


@dataclass
class ScaleObjects:
    """The scale subresources of one emulated cluster: one object per role, in one
    namespace, with a resourceVersion per object drawn from one revision counter."""

    namespace: str
    created: str  # creationTimestamp, RFC 3339
    uids: dict[str, str]
    max_replicas: int = INT32_MAX  # the most replicas a write may ask for
    _revision: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _versions: dict[str, _Version] = field(default_factory=dict)

    def locate(self, namespace: str, name: str) -> str:
        """The role a path names, or a 404 as the API server gives it."""
        if namespace != self.namespace or name not in self.uids:
            raise not_found(name)
        return name

    def observe(self, name: str, spec: int, status: int) -> int:
        """The object's resourceVersion given its counts now: a new one if they moved."""
        seen = self._versions.get(name)
        if seen is None or (seen.spec, seen.status) != (spec, status):
            seen = _Version(next(self._revision), spec, status)
            self._versions[name] = seen
        return seen.resource_version

    def scale(self, name: str, spec: int, status: int) -> dict[str, Any]:
        """The ``autoscaling/v1`` Scale object of role ``name`` with these counts."""
        label, value = SELECTOR_LABEL
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                "name": name,
                "namespace": self.namespace,
                "uid": self.uids[name],
                "resourceVersion": str(self.observe(name, spec, status)),
                "creationTimestamp": self.created,
            },
            "spec": {"replicas": spec},
            "status": {"replicas": status, "selector": f"{label}={value},role={name}"},
        }

    def write(
        self,
        name: str,
        current: dict[str, Any],
        body: object,
        *,
        patch: str | None = None,
    ) -> int:
        """The replica count a PUT (``patch`` None) or a PATCH of ``patch`` content type asks
        for, checked as the API server checks it against the ``current`` Scale object."""
        if patch is None:
            if not isinstance(body, dict):
                raise bad_request("the body of a Scale update must be a JSON object")
            updated: object = body
        elif patch in MERGE_PATCH:
            if not isinstance(body, dict):
                raise bad_request("a merge patch must be a JSON object")
            updated = merge_patch(current, body)
        elif patch == JSON_PATCH:
            updated = json_patch(current, body)
        else:
            raise unsupported_media()
        assert isinstance(updated, dict)
        meta = updated.get("metadata")
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("name") not in (None, "", name):
            raise bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL "
                f"({name})"
            )
        if meta.get("namespace") not in (None, "", self.namespace):
            raise bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        spec = updated.get("spec")
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if replicas is None:
            raise invalid(name, "spec.replicas", None, "")
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            raise invalid(name, "spec.replicas", replicas, "must be an integer")
        if replicas < 0:
            raise invalid(name, "spec.replicas", replicas, "must be greater than or equal to 0")
        if replicas > INT32_MAX:
            raise invalid(name, "spec.replicas", replicas, f"must be at most {INT32_MAX}")
        if replicas > self.max_replicas:
            detail = (
                f"must be less than or equal to {self.max_replicas}, the emulator's most "
                "replicas per role (max_replicas, --max-replicas)"
            )
            raise invalid(name, "spec.replicas", replicas, detail)
        version = meta.get("resourceVersion")
        if version not in (None, "") and version != current["metadata"]["resourceVersion"]:
            raise conflict(name)
        return replicas


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386: objects merge key by key, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def json_patch(document: dict[str, Any], operations: object) -> dict[str, Any]:
    """RFC 6902 over a JSON object: add, remove, replace, move, copy and test. A patch that
    is not an array of objects is a 400 (it does not decode); an operation that does not
    apply (an unknown op, a missing path or value, a failed test) a 422."""
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise bad_request(
            "a JSON patch must be a JSON array of operation objects "
            '(for example [{"op": "replace", "path": "/spec/replicas", "value": 2}])'
        )
    doc: Any = copy.deepcopy(document)
    for op in operations:
        kind, path = op.get("op"), op.get("path")
        try:
            if kind not in ("add", "remove", "replace", "move", "copy", "test"):
                raise _PatchFailed(f"Unexpected kind: {_text(kind)}")
            if not isinstance(path, str):
                raise _PatchFailed(f"{kind} operation has no path")
            if kind == "test":
                if _get(doc, path) != op.get("value"):
                    raise _PatchFailed(f"testing value {path} failed")
            elif kind == "remove":
                _remove(doc, path)
            elif kind in ("add", "replace"):
                if "value" not in op:
                    raise _PatchFailed(f"{kind} operation of {path} has no value")
                if kind == "replace":
                    _remove(doc, path)  # it must exist; the value goes where it was
                doc = _put(doc, path, copy.deepcopy(op["value"]))
            else:  # move, copy
                source = op.get("from")
                if not isinstance(source, str):
                    raise _PatchFailed(f"{kind} operation to {path} has no from")
                value = copy.deepcopy(_get(doc, source))
                if kind == "move":
                    _remove(doc, source)
                doc = _put(doc, path, value)
        except _PatchFailed as exc:
            raise KubeStatus(422, "Invalid", str(exc), {}) from None
    if not isinstance(doc, dict):
        raise KubeStatus(422, "Invalid", "the patched document is not an object", {})
    return doc


class _PatchFailed(Exception):
    pass


def _text(value: object) -> str:
    """An operation's ``op`` as the message shows it: a string bare, anything else as JSON."""
    return value if isinstance(value, str) else strictjson.dumps(value)


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _PatchFailed(f"invalid JSON pointer {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise _PatchFailed("cannot change the whole document")
    node = doc
    for token in tokens[:-1]:
        node = _child(node, token, path)
    return node, tokens[-1]


def _child(node: Any, token: str, path: str) -> Any:
    if isinstance(node, dict) and token in node:
        return node[token]
    if isinstance(node, list) and token.isdigit() and int(token) < len(node):
        return node[int(token)]
    raise _PatchFailed(f"missing value at {path}")


def _get(doc: Any, path: str) -> Any:
    node = doc
    for token in _tokens(path):
        node = _child(node, token, path)
    return node


def _put(doc: Any, path: str, value: Any) -> Any:
    if not _tokens(path):
        return value
    parent, key = _parent(doc, path)
    if isinstance(parent, dict):
        parent[key] = value
    elif isinstance(parent, list) and (key == "-" or (key.isdigit() and int(key) <= len(parent))):
        parent.insert(len(parent) if key == "-" else int(key), value)
    else:
        raise _PatchFailed(f"cannot add at {path}")
    return doc


def _remove(doc: Any, path: str) -> None:
    parent, key = _parent(doc, path)
    _child(parent, key, path)
    if isinstance(parent, dict):
        del parent[key]
    else:
        del parent[int(key)]
