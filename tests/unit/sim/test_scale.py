"""The scale subresource's rules, without a server: resourceVersions, the API server's Status
bodies for 404, 409, 422, 400 and 415, merge and JSON patches."""

from __future__ import annotations

from typing import Any

import pytest

from llmobs.sim.scale import KubeStatus, ScaleObjects, json_patch, merge_patch

CONFLICT = (
    'Operation cannot be fulfilled on deployments.apps "decode": the object has been '
    "modified; please apply your changes to the latest version and try again"
)


def objects() -> ScaleObjects:
    return ScaleObjects("default", "2026-01-01T00:00:00Z", {"prefill": "uid-p", "decode": "uid-d"})


def failure(call: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    with pytest.raises(KubeStatus) as error:
        call(*args, **kwargs)
    assert error.value.body["code"] == error.value.code
    return error.value.body


def test_a_scale_object_and_its_resource_version() -> None:
    scales = objects()
    first = scales.scale("decode", 2, 1)
    assert first == {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": "decode",
            "namespace": "default",
            "uid": "uid-d",
            "resourceVersion": "1",
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"replicas": 2},
        "status": {"replicas": 1, "selector": "group=llmobs-sim,role=decode"},
    }
    assert scales.scale("decode", 2, 1) == first  # reading changes nothing
    assert scales.scale("prefill", 1, 1)["metadata"]["resourceVersion"] == "2"
    assert scales.scale("decode", 2, 2)["metadata"]["resourceVersion"] == "3"  # status moved
    assert scales.scale("decode", 3, 2)["metadata"]["resourceVersion"] == "4"  # spec moved
    assert scales.scale("prefill", 1, 1)["metadata"]["resourceVersion"] == "2"


def test_unknown_names_and_other_namespaces_are_not_found() -> None:
    scales = objects()
    assert scales.locate("default", "decode") == "decode"
    for namespace, name in [("default", "both"), ("other", "decode")]:
        assert failure(scales.locate, namespace, name) == {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": f'deployments.apps "{name}" not found',
            "reason": "NotFound",
            "details": {"name": name, "group": "apps", "kind": "deployments"},
            "code": 404,
        }


def test_a_stale_resource_version_is_a_conflict_and_none_is_accepted() -> None:
    scales = objects()
    current = scales.scale("decode", 1, 1)
    stale = {"metadata": {"resourceVersion": "0"}, "spec": {"replicas": 3}}
    body = failure(scales.write, "decode", current, stale)
    assert (body["code"], body["reason"], body["message"]) == (409, "Conflict", CONFLICT)
    assert body["details"] == {"name": "decode", "group": "apps", "kind": "deployments"}
    fresh = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 3}}
    assert scales.write("decode", current, fresh) == 3
    assert scales.write("decode", current, {"spec": {"replicas": 4}}) == 4
    merge = "application/merge-patch+json"
    assert scales.write("decode", current, {"spec": {"replicas": 5}}, patch=merge) == 5
    stale_patch = {"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 5}}
    assert failure(scales.write, "decode", current, stale_patch, patch=merge)["code"] == 409
    json_ops = [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "1"},
        {"op": "replace", "path": "/spec/replicas", "value": 6},
    ]
    assert scales.write("decode", current, json_ops, patch="application/json-patch+json") == 6


@pytest.mark.parametrize(
    ("replicas", "message", "cause"),
    [
        (-1, "Invalid value: -1: must be greater than or equal to 0", "FieldValueInvalid"),
        ("3", 'Invalid value: "3": must be an integer', "FieldValueInvalid"),
        (1.5, "Invalid value: 1.5: must be an integer", "FieldValueInvalid"),
        (True, "Invalid value: true: must be an integer", "FieldValueInvalid"),
        (None, "Required value", "FieldValueRequired"),
        (2**31, f"Invalid value: {2**31}: must be at most {2**31 - 1}", "FieldValueInvalid"),
    ],
)
def test_invalid_replicas(replicas: object, message: str, cause: str) -> None:
    scales = objects()
    current = scales.scale("decode", 1, 1)
    body = failure(scales.write, "decode", current, {"spec": {"replicas": replicas}})
    assert body["code"] == 422 and body["reason"] == "Invalid"
    assert body["message"] == f'Scale.autoscaling "decode" is invalid: spec.replicas: {message}'
    assert body["details"]["causes"] == [
        {"reason": cause, "message": message, "field": "spec.replicas"}
    ]
    # validation comes before the resourceVersion check, as in the API server
    stale = {"metadata": {"resourceVersion": "9"}, "spec": {"replicas": replicas}}
    assert failure(scales.write, "decode", current, stale)["code"] == 422


def test_malformed_writes() -> None:
    scales = objects()
    current = scales.scale("decode", 1, 1)
    cases: list[tuple[object, str | None, int]] = [
        ([1], None, 400),  # a PUT of something not an object
        ({"metadata": {"name": "prefill"}, "spec": {"replicas": 1}}, None, 400),
        ({"metadata": {"namespace": "x"}, "spec": {"replicas": 1}}, None, 400),
        ([{"op": "replace"}], "application/json-patch+json", 422),  # decodes, does not apply
        ([{"op": "bogus", "path": "/spec/replicas"}], "application/json-patch+json", 422),
        ([1], "application/json-patch+json", 400),  # does not decode as operations
        ({"spec": {}}, "application/json-patch+json", 400),
        (
            [{"op": "test", "path": "/spec/replicas", "value": 9}],
            "application/json-patch+json",
            422,
        ),
        ([{"op": "replace", "path": "/nope/x", "value": 9}], "application/json-patch+json", 422),
        ([1], "application/merge-patch+json", 400),
        ({"spec": {"replicas": 2}}, "text/plain", 415),
        ({"spec": {"replicas": 2}}, "application/apply-patch+yaml", 415),
    ]
    for body, patch, code in cases:
        assert failure(scales.write, "decode", current, body, patch=patch)["code"] == code, body
    # a merge patch that leaves spec.replicas alone keeps it
    unchanged = {"metadata": {"labels": {"a": "b"}}}
    assert scales.write("decode", current, unchanged, patch="application/merge-patch+json") == 1


def test_merge_and_json_patch() -> None:
    doc: dict[str, Any] = {"a": {"b": 1, "c": [1, 2]}, "d": 2}
    assert merge_patch(doc, {"a": {"b": None, "e": 3}, "d": [4]}) == {
        "a": {"c": [1, 2], "e": 3},
        "d": [4],
    }
    ops = [
        {"op": "add", "path": "/a/c/1", "value": 9},
        {"op": "add", "path": "/a/c/-", "value": 8},
        {"op": "replace", "path": "/a/c/0", "value": 0},
        {"op": "copy", "from": "/d", "path": "/f"},
        {"op": "move", "from": "/a/b", "path": "/g"},
        {"op": "remove", "path": "/d"},
        {"op": "add", "path": "/h~1i", "value": None},
    ]
    assert json_patch(doc, ops) == {"a": {"c": [0, 9, 2, 8]}, "f": 2, "g": 1, "h/i": None}
    assert doc == {"a": {"b": 1, "c": [1, 2]}, "d": 2}  # the input is left as it was
