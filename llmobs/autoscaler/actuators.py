"""The direct actuator: a role's replicas through the Kubernetes ``scale`` subresource.

``KubeScale`` implements ``model.Actuator`` with the official ``kubernetes`` client (its
``CustomObjectsApi`` scale calls, whose path ``/apis/<group>/<version>/namespaces/<ns>/
<plural>/<name>/scale`` is the same for built-in kinds and custom resources). The client is
synchronous, so every call runs in a thread (``asyncio.to_thread``).

Which object a role scales is a ``ScaleTarget`` (kind, namespace, name):

==============================  ========================================  ===================
kind                            resource (API group/version)              ``ready`` (object)
==============================  ========================================  ===================
Deployment                      ``deployments`` (apps/v1)                 status.readyReplicas
StatefulSet                     ``statefulsets`` (apps/v1)                status.readyReplicas
LeaderWorkerSet                 ``leaderworkersets``                      status.readyReplicas
                                (leaderworkerset.x-k8s.io/v1)             (ready groups)
RoleBasedGroupScalingAdapter    ``rolebasedgroupscalingadapters``         status.readyReplicas
                                (workloads.x-k8s.io/v1alpha2),            (mirrored from the
                                named ``<rbg>-<role>``                    RBG's role status)
==============================  ========================================  ===================

``get`` answers ``Replicas(desired=spec.replicas, ready=...)``. With ``ready_from="scale"``
(the default; needs only ``get`` on ``<plural>/scale``) ``ready`` is the Scale's
``status.replicas``: for a Deployment or StatefulSet the pods that exist (ready or not), for a
LeaderWorkerSet the groups that exist, for an adapter the replicas its controller last applied
to the role, for the emulator the replicas past their cold start. With ``ready_from="object"``
(needs ``get`` on the resource itself) it is the object's own ready count in the table above.
An absent ``replicas`` field is 0, as the API omits a zero.

``set`` is a read-modify-write: read the Scale (and stop there if ``spec.replicas`` already is
the number), then a JSON merge patch of ``spec.replicas`` carrying the
``metadata.resourceVersion`` just read (the API server refuses it with a 409 if the object
changed in between), retried on 409 from a fresh read up to ``conflict_retries`` times.
Needs ``get`` and ``patch`` on ``<plural>/scale``. Failures are ``ActuatorError``s that say
what to do: 403 names the verb, resource, API group and namespace of the RBAC rule to add;
404 the object; a timeout its length; 5xx the server's reason. Tokens never appear in
messages.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from llmobs.autoscaler.model import ActuatorError, Replicas
from llmobs.errors import ConfigError

T = TypeVar("T")
ReadyFrom = Literal["scale", "object"]
MERGE_PATCH = "application/merge-patch+json"
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_CONFLICT_RETRIES = 5


class Kind(enum.StrEnum):
    """The workload kinds whose scale subresource the autoscaler writes."""

    DEPLOYMENT = "Deployment"
    STATEFULSET = "StatefulSet"
    LEADERWORKERSET = "LeaderWorkerSet"
    SCALING_ADAPTER = "RoleBasedGroupScalingAdapter"


@dataclass(frozen=True, slots=True)
class Resource:
    """Where a kind lives in the API."""

    group: str
    version: str
    plural: str


RESOURCES: Mapping[Kind, Resource] = {
    Kind.DEPLOYMENT: Resource("apps", "v1", "deployments"),
    Kind.STATEFULSET: Resource("apps", "v1", "statefulsets"),
    Kind.LEADERWORKERSET: Resource("leaderworkerset.x-k8s.io", "v1", "leaderworkersets"),
    Kind.SCALING_ADAPTER: Resource(
        "workloads.x-k8s.io", "v1alpha2", "rolebasedgroupscalingadapters"
    ),
}


@dataclass(frozen=True, slots=True)
class ScaleTarget:
    """The object whose scale subresource sizes a role."""

    kind: Kind
    namespace: str
    name: str

    @property
    def resource(self) -> Resource:
        return RESOURCES[self.kind]

    def describe(self) -> str:
        """``deployments.apps "decode" in namespace "default"``, for messages."""
        res = self.resource
        return f'{res.plural}.{res.group} "{self.name}" in namespace "{self.namespace}"'


def adapter_target(rbg: str, role: str, namespace: str = "default") -> ScaleTarget:
    """The RoleBasedGroupScalingAdapter the RBG controller creates for ``role`` of ``rbg``
    (``scalingAdapter.enable: true``): named ``<rbg>-<role>``."""
    return ScaleTarget(Kind.SCALING_ADAPTER, namespace, f"{rbg}-{role}")


def deployment_target(role: str, namespace: str = "default") -> ScaleTarget:
    """A Deployment named as the role: what ``--scale-url`` scales (the emulator's roles)."""
    return ScaleTarget(Kind.DEPLOYMENT, namespace, role)


def targets_for(
    roles: Iterable[str],
    kind: Kind,
    namespace: str,
    names: Mapping[str, str] | None = None,
    group: str | None = None,
) -> dict[str, ScaleTarget]:
    """Each role's target: the name ``names`` gives it, else for an adapter
    ``<group>-<role>`` (the RBG's name as ``group``), else the role's own name."""
    given = dict(names or {})
    unknown = sorted(set(given) - set(roles))
    if unknown:
        raise ValueError(f"scale target names for unknown roles: {', '.join(unknown)}")
    targets = {}
    for role in roles:
        if role in given:
            name = given[role]
        elif kind is Kind.SCALING_ADAPTER and group:
            name = f"{group}-{role}"
        else:
            name = role
        targets[role] = ScaleTarget(kind, namespace, name)
    return targets


def _count(obj: Mapping[str, Any], section: str, key: str, target: ScaleTarget) -> int:
    part = obj.get(section)
    value = part.get(key, 0) if isinstance(part, Mapping) else 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ActuatorError(
            f"{target.describe()}: {section}.{key} is {value!r}, not a replica count"
        )
    return value


def replicas_of(
    scale: Mapping[str, Any], obj: Mapping[str, Any] | None, target: ScaleTarget
) -> Replicas:
    """``Replicas`` from a Scale object and, when ``obj`` is given, the object's own
    ``status.readyReplicas`` (see the module docstring)."""
    desired = _count(scale, "spec", "replicas", target)
    if obj is None:
        return Replicas(desired, _count(scale, "status", "replicas", target))
    return Replicas(desired, _count(obj, "status", "readyReplicas", target))


def scale_patch(scale: Mapping[str, Any], replicas: int) -> dict[str, Any]:
    """The merge patch that sets ``replicas`` only if the Scale is still the one read."""
    meta = scale.get("metadata")
    version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
    patch: dict[str, Any] = {"spec": {"replicas": replicas}}
    if isinstance(version, str) and version:
        patch["metadata"] = {"resourceVersion": version}
    return patch


def _server_says(exc: ApiException) -> str:
    """The API server's ``Status.message``, or the HTTP reason."""
    try:
        body = json.loads(exc.body or "")
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    return str(exc.reason or f"HTTP {exc.status}")


def explain(exc: Exception, verb: str, target: ScaleTarget, sub: str, timeout_s: float) -> str:
    """What went wrong and what to do, for a ``verb`` on ``target`` (``sub``: "/scale" or "")."""
    res = target.resource
    resource = f"{res.plural}{sub}"
    if isinstance(exc, ApiException):
        code = exc.status
        if code == 403:
            return (
                f"forbidden: the autoscaler's identity may not {verb} {resource} in API group "
                f'"{res.group}" in namespace "{target.namespace}"; add an RBAC Role rule '
                f'{{apiGroups: ["{res.group}"], resources: ["{resource}"], verbs: ["{verb}"]}} '
                f"bound to its service account (server: {_server_says(exc)})"
            )
        if code == 401:
            return f"unauthorized: the API server refused the credentials ({_server_says(exc)})"
        if code == 404:
            return (
                f"{target.describe()} not found: create it, or point the role at the right "
                f"kind, namespace and name (server: {_server_says(exc)})"
            )
        if code == 409:
            return f"{target.describe()} kept changing while being scaled: {_server_says(exc)}"
        if isinstance(code, int) and code >= 500:
            return f"the API server failed to {verb} {resource}: HTTP {code}, {_server_says(exc)}"
        return f"cannot {verb} {resource} of {target.describe()}: HTTP {code}, {_server_says(exc)}"
    if isinstance(exc, urllib3.exceptions.NewConnectionError):
        return f"cannot reach the API server to {verb} {resource}: connection refused or failed"
    if isinstance(exc, urllib3.exceptions.TimeoutError):
        return (
            f"timed out after {timeout_s:g}s waiting for the API server to {verb} {resource} "
            f"of {target.describe()}"
        )
    return f"cannot {verb} {resource} of {target.describe()}: {type(exc).__name__}"


def api_client(
    url: str | None = None,
    *,
    kubeconfig: str | None = None,
    context: str | None = None,
    in_cluster: bool = False,
    token: str | None = None,
) -> k8s.ApiClient:
    """A client for a plain base ``url`` (the emulator's proxy, ``kubectl proxy``; ``token``
    sent as a bearer token), the in-cluster service account, or a kubeconfig. Requests are
    never retried by urllib3: a timeout is reported once, after its own length."""
    configuration = k8s.Configuration()
    try:
        if url is not None:
            configuration.host = url.rstrip("/")
            if token is not None:
                configuration.api_key = {"authorization": f"Bearer {token}"}
        elif in_cluster:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig, context=context, client_configuration=configuration
            )
    except (k8s_config.ConfigException, OSError, ValueError) as exc:
        raise ConfigError(f"cannot configure the Kubernetes client: {exc}") from None
    configuration.retries = False
    return k8s.ApiClient(configuration)


class KubeScale:
    """``Actuator`` over the scale subresource of each role's ``ScaleTarget``."""

    def __init__(
        self,
        api: k8s.ApiClient,
        targets: Mapping[str, ScaleTarget],
        *,
        ready_from: ReadyFrom = "scale",
        timeout_s: float = DEFAULT_TIMEOUT_S,
        conflict_retries: int = DEFAULT_CONFLICT_RETRIES,
    ) -> None:
        if conflict_retries < 0 or not timeout_s > 0:
            raise ValueError("conflict_retries must be >= 0 and timeout_s > 0")
        self.api = api
        self.targets = dict(targets)
        self.ready_from = ready_from
        self.timeout_s = timeout_s
        self.conflict_retries = conflict_retries
        self._objects = k8s.CustomObjectsApi(api)

    def target(self, role: str) -> ScaleTarget:
        found = self.targets.get(role)
        if found is None:
            known = ", ".join(sorted(self.targets)) or "none"
            raise ActuatorError(f"role {role!r} has no scale target (known roles: {known})")
        return found

    async def get(self, role: str) -> Replicas:
        return await asyncio.to_thread(self._get, self.target(role))

    async def set(self, role: str, replicas: int) -> None:
        if replicas < 0:
            raise ActuatorError(f"cannot ask for {replicas} replicas of role {role!r}")
        await asyncio.to_thread(self._set, self.target(role), replicas)

    async def close(self) -> None:
        await asyncio.to_thread(self.api.close)

    def _call(self, verb: str, target: ScaleTarget, sub: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            if isinstance(exc, ApiException) and exc.status == 409 and verb == "patch":
                raise  # a write that lost a race: _set reads again and retries
            raise ActuatorError(explain(exc, verb, target, sub, self.timeout_s)) from None

    def _read_scale(self, target: ScaleTarget) -> dict[str, Any]:
        res = target.resource

        def read() -> Any:
            return self._objects.get_namespaced_custom_object_scale(
                res.group, res.version, target.namespace, res.plural, target.name,
                _request_timeout=self.timeout_s,
            )  # fmt: skip

        return self._mapping(self._call("get", target, "/scale", read), target)

    def _get(self, target: ScaleTarget) -> Replicas:
        scale = self._read_scale(target)
        if self.ready_from == "scale":
            return replicas_of(scale, None, target)
        res = target.resource

        def read() -> Any:
            return self._objects.get_namespaced_custom_object(
                res.group, res.version, target.namespace, res.plural, target.name,
                _request_timeout=self.timeout_s,
            )  # fmt: skip

        return replicas_of(
            scale, self._mapping(self._call("get", target, "", read), target), target
        )

    def _set(self, target: ScaleTarget, replicas: int) -> None:
        res = target.resource
        last: ApiException | None = None
        for _attempt in range(self.conflict_retries + 1):
            scale = self._read_scale(target)
            if replicas_of(scale, None, target).desired == replicas:
                return  # already asked for: no write
            patch = scale_patch(scale, replicas)

            def write(body: dict[str, Any] = patch) -> Any:
                return self._objects.patch_namespaced_custom_object_scale(
                    res.group, res.version, target.namespace, res.plural, target.name, body,
                    _request_timeout=self.timeout_s, _content_type=MERGE_PATCH,
                )  # fmt: skip

            try:
                self._call("patch", target, "/scale", write)
                return
            except ApiException as exc:  # only 409 gets here: read again and retry
                last = exc
        assert last is not None
        raise ActuatorError(
            f"{explain(last, 'patch', target, '/scale', self.timeout_s)} "
            f"({self.conflict_retries + 1} attempts)"
        )

    @staticmethod
    def _mapping(answer: object, target: ScaleTarget) -> dict[str, Any]:
        if not isinstance(answer, dict):
            raise ActuatorError(f"{target.describe()}: the API server's answer is not an object")
        return answer
