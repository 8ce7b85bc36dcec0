"""The emulator as strict as vLLM where vLLM refuses input, and strict in the JSON it writes:
every body and every SSE chunk parses with a strict parser."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from llmobs.sim.config import EngineSettings
from tests.simhost import SimHost
from tests.strictjson import loads

MODEL = "Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimHost]:
    with SimHost(EngineSettings(max_model_len=4096)) as host:
        yield host


def post(sim: SimHost, path: str, body: object) -> tuple[int, bytes]:
    request = urllib.request.Request(
        sim.url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def error_of(raw: bytes) -> dict[str, Any]:
    body = loads(raw)
    assert set(body) == {"error"}, body
    return dict(body["error"])


@pytest.mark.parametrize("token", [-1, -(2**40), 2**32, 2**63])
def test_detokenize_refuses_ids_out_of_vocabulary_as_vllm_does(sim: SimHost, token: int) -> None:
    status, raw = post(sim, "/detokenize", {"model": MODEL, "tokens": [5, token]})
    assert status == 400
    error = error_of(raw)
    assert error["message"] == f"Token id {token} is out of vocabulary"
    assert error["type"] == "BadRequestError" and error["code"] == 400


def test_detokenize_refuses_what_is_no_integer(sim: SimHost) -> None:
    status, raw = post(sim, "/detokenize", {"model": MODEL, "tokens": ["x"]})
    assert status == 400 and "body.tokens.0" in error_of(raw)["message"]
    status, raw = post(sim, "/detokenize", {"model": MODEL, "tokens": [1.5]})
    assert status == 400 and "fractional part" in error_of(raw)["message"]


def test_detokenize_gives_back_what_tokenize_made(sim: SimHost) -> None:
    status, raw = post(sim, "/tokenize", {"model": MODEL, "prompt": "hello there world"})
    assert status == 200
    tokens = loads(raw)["tokens"]
    status, raw = post(sim, "/detokenize", {"model": MODEL, "tokens": tokens})
    assert status == 200 and loads(raw) == {"prompt": "hello there world"}
    assert post(sim, "/detokenize", {"model": MODEL, "tokens": []})[0] == 200


def test_every_body_and_chunk_is_strict_json_even_for_non_finite_input(sim: SimHost) -> None:
    """Python's json reads NaN (as vLLM's server does); what comes back must not hold it."""
    raw_body = b'{"model": "%s", "prompt": "hi", "max_tokens": 3, "temperature": NaN,' % (
        MODEL.encode()
    )
    for stream in (b"false", b"true"):
        request = urllib.request.Request(
            f"{sim.url}/v1/completions",
            data=raw_body + b' "stream": ' + stream + b"}",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as error:
            text = error.read().decode()
        if stream == b"false" or not text.startswith("data:"):
            loads(text)
            continue
        for line in text.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                loads(line.removeprefix("data: "))
