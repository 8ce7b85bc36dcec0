"""``llmobs sim --pd``'s scale endpoint as a client (an HPA, kubectl) uses it: bounded, with
the API server's answers to bad requests, and nothing kept once replicas are gone."""

from __future__ import annotations

import http.client
import json
import os
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import CLIProcess
from tests.servers import free_port_run, wait_until
from tests.strictjson import loads

MODEL = "Qwen/Qwen2.5-7B-Instruct"
MOST = 8
SCALE = "/apis/apps/v1/namespaces/default/deployments/decode/scale"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class Sim:
    def __init__(self) -> None:
        port = free_port_run(3)
        self.process = CLIProcess(
            "sim", "--pd", "1P1D", "--port", str(port), "--cold-start-s", "0",
            "--max-replicas", str(MOST),
        )  # fmt: skip
        self.process.read_until(r"decode\s+\S+\s+http://")
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    @property
    def pid(self) -> int:
        return self.process.proc.pid

    def request(
        self, method: str, path: str, body: bytes | None = None, kind: str = "application/json"
    ) -> tuple[int, Any]:
        """One request on the test's single keep-alive connection: the emulator's
        descriptors then hold no connection of ours that comes and goes."""
        headers = {"Content-Type": kind} if body is not None else {}
        self.connection.request(method, path, body=body, headers=headers)
        response = self.connection.getresponse()
        return response.status, loads(response.read())

    def patch(self, body: object, kind: str = MERGE) -> tuple[int, Any]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.request("PATCH", SCALE, raw, kind)

    def replicas(self) -> int:
        return int(self.request("GET", SCALE)[1]["spec"]["replicas"])

    def decoders(self, state: str = "ready") -> int:
        listed = self.request("GET", "/sim/instances")[1]["instances"]
        return sum(1 for m in listed if m["role"] == "decode" and m["state"] == state)

    def generate(self) -> None:
        body = json.dumps({"model": MODEL, "prompt": "hi", "max_tokens": 2}).encode()
        status, done = self.request("POST", "/v1/completions", body, "application/json")
        assert status == 200 and done["usage"]["completion_tokens"] == 2, done

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))


@pytest.fixture
def sim() -> Iterator[Sim]:
    running = Sim()
    try:
        yield running
    finally:
        running.connection.close()
        code, output = running.process.stop()
        assert code == 0 and "Traceback" not in output, output


def test_more_replicas_than_the_maximum_are_refused_as_an_invalid_object(sim: Sim) -> None:
    status, body = sim.patch({"spec": {"replicas": 100000}})
    assert status == 422
    assert body["kind"] == "Status" and body["reason"] == "Invalid" and body["code"] == 422
    cause = body["details"]["causes"][0]
    assert cause["field"] == "spec.replicas"
    assert f"must be less than or equal to {MOST}" in cause["message"]
    assert sim.replicas() == 1 and sim.decoders() == 1
    status, body = sim.patch({"spec": {"replicas": MOST}})
    assert status == 200 and body["spec"]["replicas"] == MOST


def test_scaling_up_and_down_gives_back_every_descriptor(sim: Sim) -> None:
    sim.generate()  # the proxy's connection pools hold their usual connections
    baseline = sim.descriptors()
    assert sim.patch({"spec": {"replicas": MOST}})[0] == 200
    wait_until(lambda: sim.decoders() == MOST, 60, f"{MOST} decode replicas ready")
    for _ in range(2 * MOST):  # every replica serves, so the proxy connects to each
        sim.generate()
    assert sim.descriptors() > baseline + MOST  # a listening socket and connections each
    assert sim.patch({"spec": {"replicas": 0}})[0] == 200
    wait_until(lambda: sim.decoders("draining") + sim.decoders() == 0, 60, "decoders gone")
    assert sim.patch({"spec": {"replicas": 1}})[0] == 200
    wait_until(lambda: sim.decoders() == 1, 60, "one decode replica ready")
    sim.generate()
    wait_until(lambda: sim.descriptors() == baseline, 30, f"{baseline} descriptors again")


@pytest.mark.parametrize(
    ("body", "kind", "message"),
    [
        (b'{"spec":', MERGE, "error decoding patch: Expecting value: line 1 column 9"),
        (b'{"spec": {"replicas": NaN}}', MERGE, "error decoding patch: NaN is not valid JSON"),
        (b"\xff\xfe", MERGE, "error decoding patch:"),
        (b"[{", JSON_PATCH, "Expecting property name"),
        (b'{"op": "replace"}', JSON_PATCH, "a JSON patch must be a JSON array of operation"),
        (b"[1]", JSON_PATCH, "a JSON patch must be a JSON array of operation"),
        (b"{", "application/json", "Expecting property name"),
    ],
)
def test_a_body_that_does_not_decode_is_a_400_with_the_parse_error(
    sim: Sim, body: bytes, kind: str, message: str
) -> None:
    method = "PUT" if kind == "application/json" else "PATCH"
    status, answer = sim.request(method, SCALE, body, kind)
    assert status == 400 and answer["reason"] == "BadRequest", answer
    assert answer["message"].startswith(message), answer
    assert "non-negative" not in answer["message"]
    assert sim.replicas() == 1


def test_an_operation_that_does_not_apply_is_a_422_naming_it(sim: Sim) -> None:
    bogus = [{"op": "bogus", "path": "/spec/replicas", "value": 2}]
    status, answer = sim.patch(bogus, JSON_PATCH)
    assert status == 422 and answer["message"] == "Unexpected kind: bogus", answer
    status, answer = sim.patch([{"op": "replace", "path": "/spec/replicas"}], JSON_PATCH)
    assert status == 422 and "has no value" in answer["message"], answer
    replace = [{"op": "replace", "path": "/spec/replicas", "value": 2}]
    status, answer = sim.patch(replace, JSON_PATCH)
    assert status == 200 and answer["spec"]["replicas"] == 2
