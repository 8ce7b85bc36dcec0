"""Request checks and response bytes of the OpenAI API, as vLLM 0.32 writes them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from llmobs.sim.openai_api import Stream
from llmobs.sim.openai_request import ApiError, Generation, decode_body, parse_generation
from llmobs.sim.tokenizer import BasicTokenizer

TOK = BasicTokenizer()


def parse(body: dict[str, Any], chat: bool = False) -> Generation:
    return parse_generation(
        body,
        chat=chat,
        served="m",
        max_model_len=100,
        tokenizer=TOK,
        default_output_tokens=16,
        request_id="abc",
    )


@pytest.mark.parametrize(
    ("body", "chat", "status", "kind", "param", "message"),
    [
        (
            {"model": "x", "prompt": "a"},
            False,
            404,
            "NotFoundError",
            "model",
            "The model `x` does not exist. Valid aliases: m.",
        ),
        (
            {"prompt": ""},
            False,
            400,
            "BadRequestError",
            "prompt",
            "Either prompt or prompt_embeds must be provided and non-empty. (parameter=prompt)",
        ),
        (
            {"prompt": "a", "max_tokens": 0},
            False,
            400,
            "BadRequestError",
            "max_tokens",
            "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)",
        ),
        (
            {"prompt": "a", "max_tokens": 101},
            False,
            400,
            "BadRequestError",
            "max_tokens",
            "max_tokens=101 cannot be greater than max_model_len=100. Please request fewer output "
            "tokens. (parameter=max_tokens, value=101)",
        ),
        (
            {"prompt": " the" * 101},
            False,
            400,
            "BadRequestError",
            "input_tokens",
            "This model's maximum context length is 100 tokens. However, your prompt contains 101 "
            "input tokens, which exceeds this limit even without any output tokens. Please reduce "
            "the length of the input prompt. (parameter=input_tokens, value=101)",
        ),
        (
            {"prompt": " the" * 100},
            False,
            400,
            "BadRequestError",
            "max_tokens",
            "max_tokens must be at least 1, got 0. (parameter=max_tokens, value=0)",
        ),
        ({"prompt": "a", "max_tokens": "x"}, False, 400, "Bad Request", "body.max_tokens", None),
        ({"prompt": "a", "max_tokens": 2.5}, False, 400, "Bad Request", "body.max_tokens", None),
        (
            {"prompt": "a", "stream_options": {"include_usage": True}},
            False,
            400,
            "BadRequestError",
            "stream_options",
            None,
        ),
        (
            {"prompt": "a", "max_tokens": 2, "min_tokens": 3},
            False,
            400,
            "BadRequestError",
            None,
            "min_tokens must be less than or equal to max_tokens=2, got 3.",
        ),
        ({"prompt": "a", "temperature": -1}, False, 400, "BadRequestError", "temperature", None),
        ({"model": "m"}, True, 400, "Bad Request", "body.messages", None),
        (
            {"messages": []},
            True,
            400,
            "BadRequestError",
            None,
            "Cannot apply chat template to an empty conversation. Provide at least one message.",
        ),
        ({"prompt": "a", "n": 2}, False, 400, "BadRequestError", "n", None),
    ],
)
def test_errors_like_vllm(
    body: dict[str, Any], chat: bool, status: int, kind: str, param: str | None, message: str | None
) -> None:
    with pytest.raises(ApiError) as caught:
        parse(body, chat)
    error = caught.value.body()["error"]
    assert (caught.value.status, error["type"], error["param"], error["code"]) == (
        status,
        kind,
        param,
        status,
    )
    if message is not None:
        assert error["message"] == message


@pytest.mark.parametrize(
    ("raw", "content_type", "param"),
    [
        (b'{"prompt":', "application/json", "body.10"),
        (b"", "application/json", "body"),
        (b"[1,2]", "application/json", "body"),
        (b"{}", "text/plain", None),
    ],
)
def test_body_errors(raw: bytes, content_type: str, param: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        decode_body(raw, content_type)
    assert caught.value.status == 400 and caught.value.param == param
    assert caught.value.kind == "Bad Request"


def test_lengths_and_defaults() -> None:
    g = parse({"prompt": " the" * 10, "max_tokens": 500 // 5})
    assert len(g.prompt_ids) == 10 and g.max_tokens == 90  # clamped to the room left
    assert g.finish_reason == "length" and g.request_id == "cmpl-abc"
    default = parse({"prompt": "hi"})
    assert default.max_tokens == 16 and default.finish_reason == "stop"
    eos = parse({"prompt": "hi", "ignore_eos": True})
    assert eos.max_tokens == 99 and eos.finish_reason == "length"
    chat = parse(
        {"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 3}, chat=True
    )
    assert chat.max_tokens == 3 and chat.request_id.startswith("chatcmpl-")
    assert parse({"prompt": [1, 2, 3], "max_tokens": 1}).prompt_ids == [1, 2, 3]
    assert parse({"prompt": "a", "max_tokens": "7"}).max_tokens == 7  # pydantic is lax


def events(data: bytes) -> list[str]:
    assert data.endswith(b"\n\n")
    return [e.removeprefix("data: ") for e in data.decode().split("\n\n") if e]


def test_completion_stream_bytes() -> None:
    g = parse({"prompt": "hi", "max_tokens": 2, "stream": True})
    stream = Stream(g, 1, "0.32.0")
    assert stream.start() == b""
    first, last, done = events(stream.tokens([" a"], None) + stream.tokens([" b"], "length"))
    chunk = json.loads(first)
    assert list(chunk) == ["id", "object", "created", "model", "choices"]
    assert list(chunk["choices"][0]) == [
        "index",
        "text",
        "logprobs",
        "finish_reason",
        "stop_reason",
        "prompt_token_ids",
        "token_ids",
    ]
    assert chunk["object"] == "text_completion" and chunk["choices"][0]["text"] == " a"
    final = json.loads(last)
    assert final["choices"][0]["finish_reason"] == "length"
    assert final["system_fingerprint"] == "vllm-0.32.0-c3d1da5c"
    assert done == "[DONE]"


def test_usage_chunks() -> None:
    g = parse(
        {
            "prompt": "hi",
            "max_tokens": 2,
            "stream": True,
            "stream_options": {"include_usage": True, "continuous_usage_stats": True},
        }
    )
    stream = Stream(g, 1, "0.32.0")
    a, b, usage, done = events(stream.tokens([" a", " b"], "length"))
    assert json.loads(a)["usage"] == {"prompt_tokens": 1, "total_tokens": 2, "completion_tokens": 1}
    assert "system_fingerprint" not in json.loads(b)
    assert (
        json.loads(usage)["choices"] == [] and json.loads(usage)["usage"]["completion_tokens"] == 2
    )
    assert done == "[DONE]"


def test_chat_stream_starts_with_the_role() -> None:
    g = parse(
        {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "stream": True},
        chat=True,
    )
    stream = Stream(g, 5, "0.32.0")
    (role,) = events(stream.start())
    first = json.loads(role)
    assert first["object"] == "chat.completion.chunk"
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    token, _ = events(stream.tokens([" x"], "length"))
    assert list(json.loads(token)["choices"][0]) == [
        "index",
        "delta",
        "logprobs",
        "finish_reason",
        "stop_reason",
        "token_ids",
    ]
