"""Kubernetes pod discovery: list once, then watch, with the official ``kubernetes`` client.

One thread per watched namespace (or one for all namespaces) runs the informer loop the
Kubernetes docs describe: LIST to get the current pods and a resourceVersion, then WATCH from
that version; a watch that ends is renewed from the last version seen (bookmarks keep it
fresh); a 410 Gone (the version was compacted) or any failure relists after a backoff. Each
change is handed to the event loop: a pod that is a target (``pods.pod_target``) is put, one
that stops being one (not Ready, deleted) is removed at once. After each LIST the namespace's
targets are replaced wholesale, so pods deleted while the watch was down go away too.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import watch as k8s_watch

from llmobs.errors import ConfigError
from llmobs.exporter.config import KubernetesDiscovery
from llmobs.exporter.pods import pod_key, pod_target
from llmobs.exporter.state import Target
from llmobs.secrets import Credentials

log = logging.getLogger(__name__)

GONE = 410
BACKOFF_START_S = 0.5
BACKOFF_MAX_S = 30.0


def api_client(settings: KubernetesDiscovery) -> k8s.ApiClient:
    """In-cluster config inside a pod (unless a kubeconfig is given), else the kubeconfig.

    Raises:
        ConfigError: no usable configuration.
    """
    try:
        if settings.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = k8s.Configuration()
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return k8s.ApiClient(configuration)
        api: k8s.ApiClient = k8s_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=settings.kubeconfig, context=settings.context
        )
        return api
    except (k8s_config.ConfigException, OSError, ValueError) as exc:
        raise ConfigError(
            f"cannot configure the Kubernetes client: {exc}; run inside a pod with a service "
            "account, or give kubernetes.kubeconfig (and context)"
        ) from None


class Sink:
    """Where discovery reports: called from watch threads, it forwards to the event loop."""

    def __init__(
        self,
        put: Callable[[Target], None],
        remove: Callable[[str], None],
        sync: Callable[[str | None, list[Target]], None],
        error: Callable[[], None],
        post: Callable[[Callable[[], None]], None],
    ) -> None:
        self._put, self._remove, self._sync, self._error, self._post = (
            put,
            remove,
            sync,
            error,
            post,
        )

    def put(self, target: Target) -> None:
        self._post(lambda: self._put(target))

    def remove(self, key: str) -> None:
        self._post(lambda: self._remove(key))

    def sync(self, namespace: str | None, targets: list[Target]) -> None:
        self._post(lambda: self._sync(namespace, targets))

    def error(self) -> None:
        self._post(self._error)


class PodWatcher:
    """Watches pods of one namespace (``None``: all) in a daemon thread."""

    def __init__(
        self,
        settings: KubernetesDiscovery,
        namespace: str | None,
        api: k8s.ApiClient,
        sink: Sink,
        credentials: Credentials | None = None,
    ) -> None:
        self.settings = settings
        self.credentials = credentials
        self.namespace = namespace
        self.core = k8s.CoreV1Api(api)
        self.sink = sink
        self._stop = threading.Event()
        self._watch: k8s_watch.Watch | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"watch pods {namespace or '*'}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._watch is not None:
            self._watch.stop()  # type: ignore[no-untyped-call]

    def _list(self, **kwargs: Any) -> Any:
        if self.namespace is None:
            return self.core.list_pod_for_all_namespaces(**kwargs)
        return self.core.list_namespaced_pod(self.namespace, **kwargs)

    def _relist(self) -> str:
        response = self._list(label_selector=self.settings.label_selector, _preload_content=False)
        body = json.loads(response.data)
        found = (pod_target(p, self.settings, self.credentials) for p in body.get("items", []))
        targets = [t for t in found if t]
        self.sink.sync(self.namespace, targets)
        return str(body.get("metadata", {}).get("resourceVersion", ""))

    def _apply(self, kind: str, pod: dict[str, Any]) -> None:
        meta = pod.get("metadata") or {}
        key = pod_key(str(meta.get("namespace", "")), str(meta.get("name", "")))
        target = None if kind == "DELETED" else pod_target(pod, self.settings, self.credentials)
        if target is None:
            self.sink.remove(key)
        else:
            self.sink.put(target)

    def _watch_from(self, version: str) -> str:
        """Watch until the stream ends; the last resourceVersion seen."""
        self._watch = k8s_watch.Watch()  # type: ignore[no-untyped-call]
        kwargs: dict[str, Any] = {
            "label_selector": self.settings.label_selector,
            "resource_version": version,
            "allow_watch_bookmarks": True,
            "timeout_seconds": self.settings.watch_timeout_s,
        }
        for event in self._watch.stream(self._list, **kwargs):  # type: ignore[no-untyped-call]
            if self._stop.is_set():
                break
            raw = event.get("raw_object") or {}
            version = str((raw.get("metadata") or {}).get("resourceVersion") or version)
            if event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                self._apply(str(event["type"]), raw)
        return version

    def _run(self) -> None:
        backoff = BACKOFF_START_S
        version: str | None = None
        while not self._stop.is_set():
            try:
                if version is None:
                    version = self._relist()
                version = self._watch_from(version)
                backoff = BACKOFF_START_S
            except k8s.ApiException as exc:
                if exc.status == GONE:
                    version = None  # compacted: relist at once
                    continue
                self._failed(f"HTTP {exc.status} {exc.reason}")
                version = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)
            except Exception as exc:  # noqa: BLE001  (any failure: count, back off, relist)
                self._failed(f"{type(exc).__name__}: {exc}")
                version = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_S)

    def _failed(self, why: str) -> None:
        if self._stop.is_set():
            return
        log.warning("pod watch (%s) failed: %s; relisting", self.namespace or "all", why)
        self.sink.error()


def watchers(
    settings: KubernetesDiscovery,
    api: k8s.ApiClient,
    sink: Sink,
    credentials: Credentials | None = None,
) -> list[PodWatcher]:
    scopes: list[str | None] = list(settings.namespaces) or [None]
    return [PodWatcher(settings, ns, api, sink, credentials) for ns in scopes]
