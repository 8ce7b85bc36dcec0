"""The fake Kubernetes API server (tests/kubeapi.py) through the official ``kubernetes`` client:
list, selectors, watch semantics (replay, live, filter transitions), 410, drops, bookmarks."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import kubernetes
import pytest
import urllib3
from kubernetes.client import ApiClient, CoreV1Api, V1Pod
from kubernetes.client.exceptions import ApiException
from kubernetes.watch import Watch

from tests.kubeapi import Ending, FakeKubeAPI, Obj, make_pod
from tests.servers import wait_until

Event = dict[str, Any]
Stream = Generator[Event, None, None]
LLM = {"app": "llm"}
# Every watch gets a server-side end (timeoutSeconds) and a client-side read timeout, so a
# broken fake fails a test instead of hanging it.
BOUNDED: dict[str, Any] = {"timeout_seconds": 3, "_request_timeout": 5}


@pytest.fixture
def kube() -> Iterator[FakeKubeAPI]:
    with FakeKubeAPI(bookmark_interval=0.1) as server:
        yield server


def client_for(kube: FakeKubeAPI, path: Path) -> ApiClient:
    config_file = str(kube.kubeconfig(path))
    api_client: ApiClient = kubernetes.config.new_client_from_config(config_file=config_file)  # type: ignore[no-untyped-call]
    return api_client


@pytest.fixture
def v1(kube: FakeKubeAPI, tmp_path: Path) -> Iterator[CoreV1Api]:
    api_client = client_for(kube, tmp_path / "kubeconfig")
    yield CoreV1Api(api_client)
    api_client.close()  # type: ignore[no-untyped-call]


class Collector:
    """Consumes a watch stream in a thread, so the test can change state while it waits;
    stops (closing the stream) after ``count`` events."""

    def __init__(self, stream: Stream, count: int) -> None:
        self.events: list[Event] = []
        self.error: Exception | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(stream, count), daemon=True)
        self.thread.start()

    def _run(self, stream: Stream, count: int) -> None:
        try:
            for event in stream:
                self.events.append(event)
                if len(self.events) == count:
                    break
        except (ApiException, urllib3.exceptions.HTTPError) as exc:
            self.error = exc
        finally:
            stream.close()
            self.done.set()

    def wait(self) -> list[Event]:
        assert self.done.wait(4), f"watch still open after {len(self.events)} events"
        assert self.error is None
        return self.events


def open_stream(watch: Watch, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Stream:
    """``watch.stream`` (the client's one untyped call we use)."""
    events: Stream = watch.stream(func, *args, **kwargs)  # type: ignore[no-untyped-call]
    return events


def watch_llm_pods(v1: CoreV1Api, since: str) -> Stream:
    """A bounded watch of the ``app=llm`` pods in ``default`` from resourceVersion ``since``."""
    return open_stream(
        new_watch(),
        v1.list_namespaced_pod,
        "default",
        label_selector="app=llm",
        resource_version=since,
        **BOUNDED,
    )


def new_watch() -> Watch:
    return Watch()  # type: ignore[no-untyped-call]


def names(pods: list[Any]) -> list[str]:
    return [pod.metadata.name for pod in pods]


def only(listed: Any) -> Any:
    """The one item of a list response (as Any: the models' attributes are all Optional)."""
    [item] = listed.items
    return item


def list_version(v1: CoreV1Api, **kwargs: Any) -> str:
    """The resourceVersion of a list of the default namespace."""
    listed: Any = v1.list_namespaced_pod("default", **kwargs)
    return str(listed.metadata.resource_version)


def status_body(exc: ApiException) -> Obj:
    assert exc.body is not None
    body: Obj = json.loads(exc.body)
    return body


def relabel(labels: dict[str, str]) -> Any:
    def mutate(pod: Obj) -> None:
        pod["metadata"]["labels"] = labels

    return mutate


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("app=llm", ["a", "b"]),
        ("app==llm", ["a", "b"]),
        ("app!=llm", ["c", "d"]),
        ("tier", ["a", "b"]),
        ("!tier", ["c", "d"]),
        ("tier in (gpu,tpu)", ["a"]),
        ("tier notin (gpu)", ["b", "c", "d"]),
        ("app=llm,tier!=gpu", ["b"]),
        ("app in (llm, web),!tier", ["c"]),
        ("", ["a", "b", "c", "d"]),
    ],
)
def test_list_label_selectors(
    kube: FakeKubeAPI, v1: CoreV1Api, selector: str, expected: list[str]
) -> None:
    kube.add_pod(make_pod("a", labels={"app": "llm", "tier": "gpu"}))
    kube.add_pod(make_pod("b", labels={"app": "llm", "tier": "cpu"}))
    kube.add_pod(make_pod("c", labels={"app": "web"}))
    kube.add_pod(make_pod("d"))
    listed = v1.list_namespaced_pod("default", label_selector=selector)
    assert names(listed.items) == expected
    assert kube.list_calls == 1 and kube.watch_calls == 0


def test_list_field_selectors_and_bad_selectors(kube: FakeKubeAPI, v1: CoreV1Api) -> None:
    kube.add_pod(make_pod("a"))
    kube.add_pod(make_pod("b", phase="Pending", ip=None, ready=False))
    kube.add_pod(make_pod("c", namespace="other"))
    for selector, expected in [
        ("status.phase=Running", ["a", "c"]),
        ("status.phase!=Running", ["b"]),
        ("metadata.name==c,status.phase=Running", ["c"]),
        ("metadata.namespace=default", ["a", "b"]),
    ]:
        assert names(v1.list_pod_for_all_namespaces(field_selector=selector).items) == expected
    bad: list[dict[str, Any]] = [
        {"field_selector": "spec.unknown=x"},
        {"label_selector": "tier in ()"},
        {"label_selector": "a=b=c"},
    ]
    for kwargs in bad:
        with pytest.raises(ApiException) as caught:
            v1.list_namespaced_pod("default", **kwargs)
        body = status_body(caught.value)
        assert caught.value.status == 400 and body["kind"] == "Status"
        assert body["reason"] == "BadRequest"


def test_list_across_namespaces_deserializes_realistic_pods(
    kube: FakeKubeAPI, v1: CoreV1Api
) -> None:
    owner = {"kind": "ReplicaSet", "name": "llm-7d9f"}
    ports = [{"name": "http", "containerPort": 8000}]
    kube.add_pod(make_pod("a", namespace="ns1", labels=LLM, ports=ports, owner=owner))
    kube.add_pod(make_pod("b", namespace="ns2", ip="10.0.0.2", ready=False))
    everywhere: Any = v1.list_pod_for_all_namespaces()
    assert [(p.metadata.namespace, p.metadata.name) for p in everywhere.items] == [
        ("ns1", "a"),
        ("ns2", "b"),
    ]
    assert all(isinstance(pod, V1Pod) for pod in everywhere.items)
    assert everywhere.metadata.resource_version == str(kube.resource_version)
    a, b = only(v1.list_namespaced_pod("ns1")), only(v1.list_namespaced_pod("ns2"))
    assert a.metadata.labels == LLM and a.metadata.uid
    assert a.spec.containers[0].ports[0].container_port == 8000
    assert a.metadata.owner_references[0].kind == "ReplicaSet"
    assert {c.type: c.status for c in a.status.conditions}["Ready"] == "True"
    assert a.status.pod_ip == "127.0.0.1" and a.status.phase == "Running"
    assert b.status.pod_ip == "10.0.0.2"
    assert {c.type: c.status for c in b.status.conditions}["Ready"] == "False"
    assert v1.list_namespaced_pod("ns3").items == []


def test_watch_from_list_resource_version_is_live_and_ordered(
    kube: FakeKubeAPI, v1: CoreV1Api
) -> None:
    kube.add_pod(make_pod("before", labels=LLM))
    since = list_version(v1, label_selector="app=llm")
    stream = watch_llm_pods(v1, since)
    collector = Collector(stream, count=3)
    wait_until(lambda: kube.open_watches == 1, 2, "the watch to open")
    kube.add_pod(make_pod("new", labels=LLM))
    kube.add_pod(make_pod("other", labels={"app": "web"}))  # filtered out
    kube.update_pod("default", "new", lambda pod: pod["status"].update(podIP="10.0.0.9"))
    kube.delete_pod("default", "new")
    events = collector.wait()
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert all(isinstance(e["object"], V1Pod) for e in events)
    assert names([e["object"] for e in events]) == ["new"] * 3
    assert events[1]["object"].status.pod_ip == "10.0.0.9"
    versions = [int(e["object"].metadata.resource_version) for e in events]
    assert versions == sorted(versions) and versions[-1] == kube.resource_version
    wait_until(lambda: kube.open_watches == 0, 2, "the server to notice the client left")


def test_watch_replays_history_after_resource_version(kube: FakeKubeAPI, v1: CoreV1Api) -> None:
    kube.add_pod(make_pod("a"))
    since = list_version(v1)
    kube.update_pod("default", "a", relabel({"v": "2"}))
    kube.add_pod(make_pod("b"))
    kube.delete_pod("default", "a")
    stream = open_stream(
        new_watch(), v1.list_namespaced_pod, "default", resource_version=since, **BOUNDED
    )
    events = [next(stream) for _ in range(3)]
    stream.close()
    assert [(e["type"], e["object"].metadata.name) for e in events] == [
        ("MODIFIED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]
    assert events[2]["object"].metadata.labels == {"v": "2"}  # the last state


def test_watch_without_resource_version_starts_with_synthetic_added(
    kube: FakeKubeAPI, v1: CoreV1Api
) -> None:
    kube.add_pod(make_pod("b", labels=LLM))
    kube.add_pod(make_pod("a", labels=LLM))
    kube.add_pod(make_pod("c"))
    watch = new_watch()
    stream = open_stream(watch, v1.list_pod_for_all_namespaces, label_selector="app", **BOUNDED)
    first = [next(stream), next(stream)]
    assert [(e["type"], e["object"].metadata.name) for e in first] == [
        ("ADDED", "a"),
        ("ADDED", "b"),
    ]
    kube.add_pod(make_pod("d", namespace="other", labels=LLM))  # live, after the snapshot
    live = next(stream)
    stream.close()
    assert (live["type"], live["object"].metadata.namespace) == ("ADDED", "other")
    assert watch.resource_version == str(kube.resource_version)


def test_label_changes_become_deleted_and_added(kube: FakeKubeAPI, v1: CoreV1Api) -> None:
    kube.add_pod(make_pod("a", labels=LLM))
    since = list_version(v1)
    stream = watch_llm_pods(v1, since)
    collector = Collector(stream, count=2)
    wait_until(lambda: kube.open_watches == 1, 2, "the watch to open")
    stopped = kube.update_pod("default", "a", relabel({"app": "web"}))
    kube.update_pod("default", "a", relabel({"app": "web", "x": "y"}))  # matches neither time
    kube.update_pod("default", "a", relabel(LLM))
    deleted, added = collector.wait()
    assert deleted["type"] == "DELETED"
    # the object as it last matched, at the resourceVersion of the change
    assert deleted["object"].metadata.labels == LLM
    assert deleted["object"].metadata.resource_version == stopped["metadata"]["resourceVersion"]
    assert added["type"] == "ADDED" and added["object"].metadata.labels == LLM


def test_compacted_resource_version_is_410(kube: FakeKubeAPI, v1: CoreV1Api) -> None:
    kube.add_pod(make_pod("a"))
    old = list_version(v1)
    kube.update_pod("default", "a", relabel({"v": "2"}))
    kube.compact()
    # timeout_seconds given: Watch.stream does not retry; the ERROR event becomes ApiException
    with pytest.raises(ApiException) as caught:
        list(
            open_stream(
                new_watch(), v1.list_namespaced_pod, "default", resource_version=old, **BOUNDED
            )
        )
    assert caught.value.status == 410
    assert (
        caught.value.reason == f"Expired: too old resource version: {old} ({kube.resource_version})"
    )
    assert kube.watch_calls == 1
    # without timeout_seconds it retries once from the same resourceVersion, then raises
    with pytest.raises(ApiException) as caught:
        list(
            open_stream(
                new_watch(),
                v1.list_namespaced_pod,
                "default",
                resource_version=old,
                _request_timeout=5,
            )
        )
    assert caught.value.status == 410 and kube.watch_calls == 3
    # a list at that resourceVersion is an HTTP 410 with the Status body
    with pytest.raises(ApiException) as caught:
        v1.list_namespaced_pod("default", resource_version=old)
    assert caught.value.status == 410
    assert status_body(caught.value)["reason"] == "Expired"
    # the current resourceVersion is still good
    current = str(kube.resource_version)
    assert names(v1.list_namespaced_pod("default", resource_version=current).items) == ["a"]


@pytest.mark.parametrize("how", ["abort", "clean", "expired"])
def test_drop_watches_ends_the_stream(kube: FakeKubeAPI, v1: CoreV1Api, how: Ending) -> None:
    kube.add_pod(make_pod("a"))
    stream = open_stream(new_watch(), v1.list_namespaced_pod, "default", **BOUNDED)
    assert next(stream)["type"] == "ADDED"
    assert kube.open_watches == 1
    started = time.monotonic()
    kube.drop_watches(how)
    assert kube.open_watches == 0
    if how == "abort":  # a cut connection: urllib3 sees the chunked body end early
        with pytest.raises(urllib3.exceptions.ProtocolError, match="ended prematurely"):
            next(stream)
    elif how == "clean":  # a properly ended response: the stream just stops
        assert list(stream) == []
    else:
        with pytest.raises(ApiException) as caught:
            next(stream)
        assert caught.value.status == 410
    assert time.monotonic() - started < 1


def test_without_timeout_seconds_the_client_resumes_after_a_clean_end(
    kube: FakeKubeAPI, v1: CoreV1Api
) -> None:
    kube.add_pod(make_pod("a"))
    stream = open_stream(new_watch(), v1.list_namespaced_pod, "default", _request_timeout=5)
    assert next(stream)["object"].metadata.name == "a"
    kube.drop_watches("clean")
    kube.add_pod(make_pod("b"))  # before or after the client is back: replayed either way
    event = next(stream)
    stream.close()
    assert (event["type"], event["object"].metadata.name) == ("ADDED", "b")
    assert kube.watch_calls == 2  # Watch.stream re-watched from the last resourceVersion


def test_timeout_seconds_ends_the_stream(kube: FakeKubeAPI, v1: CoreV1Api) -> None:
    started = time.monotonic()
    events = list(open_stream(new_watch(), v1.list_namespaced_pod, "default", timeout_seconds=1))
    elapsed = time.monotonic() - started
    assert events == []  # no pods, and no bookmarks unless asked for
    assert 0.9 < elapsed < 2.5
    assert kube.open_watches == 0


def test_bookmarks_when_asked(kube: FakeKubeAPI, v1: CoreV1Api) -> None:
    kube.add_pod(make_pod("a"))
    watch = new_watch()
    stream = open_stream(
        watch, v1.list_namespaced_pod, "default", allow_watch_bookmarks=True, **BOUNDED
    )
    events = [next(stream) for _ in range(4)]
    stream.close()
    assert [e["type"] for e in events] == ["ADDED"] + ["BOOKMARK"] * 3
    current = str(kube.resource_version)
    for bookmark in events[1:]:
        assert bookmark["raw_object"] == {
            "kind": "Pod",
            "apiVersion": "v1",
            "metadata": {"resourceVersion": current},
        }
    assert watch.resource_version == current


def test_token_is_required_when_set(tmp_path: Path) -> None:
    with FakeKubeAPI(token="s3cret") as kube:
        kube.add_pod(make_pod("a"))
        with client_for(kube, tmp_path / "kubeconfig") as api_client:
            assert names(CoreV1Api(api_client).list_namespaced_pod("default").items) == ["a"]
        config = kubernetes.client.Configuration(host=kube.url(""))
        with ApiClient(config) as anonymous:
            v1 = CoreV1Api(anonymous)
            with pytest.raises(ApiException) as caught:
                v1.list_namespaced_pod("default")
            assert caught.value.status == 401
            assert status_body(caught.value)["reason"] == "Unauthorized"
            with pytest.raises(ApiException) as caught:
                next(open_stream(new_watch(), v1.list_namespaced_pod, "default", **BOUNDED))
            assert caught.value.status == 401
        assert kube.list_calls == 1 and kube.watch_calls == 0


def test_anything_else_is_404(v1: CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        v1.list_namespaced_service("default")
    body = status_body(caught.value)
    assert caught.value.status == 404 and body["reason"] == "NotFound"
