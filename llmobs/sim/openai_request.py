"""The OpenAI-compatible API as vLLM's server checks it: request bodies in, errors out.

Pure functions: ``parse_generation`` turns a request body into a ``Generation`` or raises
``ApiError`` with vLLM's status, error type, parameter and message (captured from a real vLLM
0.32.0); ``token_ids`` checks ids against the vocabulary as vLLM's ``validate_token_ids``
does. The responses are ``llmobs.sim.openai_api``; the server module does the HTTP.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from llmobs.sim.tokenizer import Tokenizer


class ApiError(Exception):
    """An error response: ``{"error": {"message", "type", "param", "code"}}``."""

    def __init__(
        self, status: int, message: str, kind: str = "BadRequestError", param: str | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind
        self.param = param

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.status,
            }
        }


def _bad(message: str, param: str | None = None, value: object = None) -> ApiError:
    if param is not None:
        message += f" (parameter={param}" + (f", value={value})" if value is not None else ")")
    return ApiError(400, message, "BadRequestError", param)


def _validation(kind: str, loc: str, msg: str, given: object) -> ApiError:
    """pydantic's request-validation error, as FastAPI reports it in vLLM."""
    shown = f"<dict of {len(given)} items>" if isinstance(given, dict) else str(given)
    detail = f"{{'type': '{kind}', 'loc': '{loc}', 'msg': '{msg}', 'input': '{shown}'}}"
    return ApiError(400, f"1 validation error:\n  {detail}", "Bad Request", loc)


def decode_body(raw: bytes, content_type: str | None) -> dict[str, Any]:
    if content_type is None or not content_type.split(";")[0].strip().endswith("json"):
        raise ApiError(
            400,
            "1 validation error:\n  Unsupported Media Type: Only 'application/json' is allowed",
            "Bad Request",
            None,
        )
    if not raw.strip():
        raise _validation("missing", "body", "Field required", "None")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        pos = getattr(exc, "pos", 0)
        raise _validation("json_invalid", f"body.{pos}", "JSON decode error", {}) from None
    if not isinstance(body, dict):
        raise _validation(
            "model_attributes_type",
            "body",
            "Input should be a valid dictionary or object to extract fields from",
            f"<list of {len(body)} items>" if isinstance(body, list) else body,
        )
    return body


def _int(body: Mapping[str, Any], key: str) -> int | None:
    value = body.get(key)
    return None if value is None else integer(value, f"body.{key}")


def integer(value: object, loc: str) -> int:
    """``value`` as pydantic's lax ``int`` reads it, or its 400 at ``loc``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _validation(
            "int_from_float",
            loc,
            "Input should be a valid integer, got a number with a fractional part",
            value,
        )
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise _validation(
        "int_parsing",
        loc,
        "Input should be a valid integer, unable to parse string as an integer",
        value,
    )


def token_ids(tokens: Sequence[object], vocab_max: int) -> list[int]:
    """``/detokenize``'s ids, refused as vLLM refuses them: each an integer, none negative
    or past the vocabulary (``Token id -1 is out of vocabulary``)."""
    ids = [integer(t, f"body.tokens.{i}") for i, t in enumerate(tokens)]
    if ids and min(ids) < 0:
        raise ApiError(400, f"Token id {min(ids)} is out of vocabulary")
    if ids and max(ids) > vocab_max:
        raise ApiError(400, f"Token id {max(ids)} is out of vocabulary")
    return ids


def check_model(body: Mapping[str, Any], served: str) -> None:
    """A request for a model this server does not serve is vLLM's 404 (no model: the served one).

    Raises:
        ApiError: 404 NotFoundError, as vLLM words it.
    """
    model = body.get("model") or served
    if model != served:
        raise ApiError(
            404,
            f"The model `{model}` does not exist. Valid aliases: {served}.",
            "NotFoundError",
            "model",
        )


@dataclass(frozen=True)
class Generation:
    """A validated completion or chat request."""

    chat: bool
    model: str
    prompt_ids: list[int]
    max_tokens: int
    finish_reason: str
    stream: bool
    include_usage: bool
    continuous_usage: bool
    request_id: str
    kv_transfer_params: Mapping[str, Any] | None


def parse_generation(
    body: Mapping[str, Any],
    *,
    chat: bool,
    served: str,
    max_model_len: int,
    tokenizer: Tokenizer,
    default_output_tokens: int,
    request_id: str | None = None,
) -> Generation:
    """Validate ``body`` as vLLM does and count its prompt tokens.

    Raises:
        ApiError: the response vLLM would send (400 for a bad body or length, 404 for a model
            it does not serve).
    """
    check_model(body, served)
    for key, low, high, rule in (
        ("temperature", 0.0, None, "must be non-negative"),
        ("top_p", 0.0, 1.0, "must be in (0, 1]"),
    ):
        value = body.get(key)
        if isinstance(value, int | float) and (
            value < low or (high is not None and value > high) or (key == "top_p" and value == 0)
        ):
            raise _bad(f"{key} {rule}, got {float(value)}.", key, float(value))
    n = _int(body, "n")
    if n is not None and n < 1:
        raise ApiError(400, f"n must be at least 1, got {n}.")
    if n is not None and n > 1:
        raise _bad("the emulator generates one choice per request (n=1)", "n", n)
    if chat:
        if "messages" not in body:
            raise _validation("missing", "body.messages", "Field required", dict(body))
        messages = body["messages"]
        if not isinstance(messages, list) or not messages:
            raise ApiError(
                400,
                "Cannot apply chat template to an empty conversation. Provide "
                "at least one message.",
            )
        ids = tokenizer.encode(tokenizer.render_chat(messages), special=False)
        max_tokens = _int(body, "max_completion_tokens")
        if max_tokens is None:
            max_tokens = _int(body, "max_tokens")
    else:
        ids = _prompt_ids(body.get("prompt"), tokenizer)
        max_tokens = _int(body, "max_tokens")
    if max_tokens is not None:
        if max_tokens < 1:
            raise _bad(
                f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens", max_tokens
            )
        if max_tokens > max_model_len:
            raise _bad(
                f"max_tokens={max_tokens} cannot be greater than max_model_len="
                f"{max_model_len}. Please request fewer output tokens.",
                "max_tokens",
                max_tokens,
            )
    if len(ids) > max_model_len:
        raise _bad(
            f"This model's maximum context length is {max_model_len} tokens. However, "
            f"your prompt contains {len(ids)} input tokens, which exceeds this limit "
            "even without any output tokens. Please reduce the length of the input "
            "prompt.",
            "input_tokens",
            len(ids),
        )
    room = max_model_len - len(ids)
    finish = "length"
    if max_tokens is None:
        # a real model stops at its end-of-sequence token; without one asked for, the
        # emulator ends after default_output_tokens as if it had
        ignore_eos = bool(body.get("ignore_eos"))
        max_tokens = room if ignore_eos else min(room, default_output_tokens)
        finish = "length" if ignore_eos or max_tokens == room else "stop"
    max_tokens = min(max_tokens, room)
    if max_tokens < 1:
        raise _bad(f"max_tokens must be at least 1, got {max_tokens}.", "max_tokens", max_tokens)
    min_tokens = _int(body, "min_tokens") or 0
    if min_tokens > max_tokens:
        raise ApiError(
            400,
            f"min_tokens must be less than or equal to max_tokens={max_tokens}, got {min_tokens}.",
        )
    stream = bool(body.get("stream"))
    options = body.get("stream_options")
    if options is not None and not stream:
        raise _bad("Stream options can only be defined when `stream=True`.", "stream_options")
    options = options if isinstance(options, dict) else {}
    include_usage = bool(options.get("include_usage"))
    kv = body.get("kv_transfer_params")
    prefix = "chatcmpl-" if chat else "cmpl-"
    return Generation(
        chat=chat,
        model=served,
        prompt_ids=ids,
        max_tokens=max_tokens,
        finish_reason=finish,
        stream=stream,
        include_usage=include_usage,
        continuous_usage=include_usage and bool(options.get("continuous_usage_stats")),
        request_id=prefix + (request_id or secrets.token_hex(8)),
        kv_transfer_params=kv if isinstance(kv, dict) else None,
    )


def _prompt_ids(prompt: object, tokenizer: Tokenizer) -> list[int]:
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str | list):
        prompt = prompt[0]
    if isinstance(prompt, str) and prompt:
        return tokenizer.encode(prompt)
    if isinstance(prompt, list) and prompt and all(isinstance(t, int) for t in prompt):
        return list(prompt)
    if isinstance(prompt, list) and len(prompt) > 1:
        raise _bad("the emulator takes one prompt per request", "prompt")
    raise _bad("Either prompt or prompt_embeds must be provided and non-empty.", "prompt")
