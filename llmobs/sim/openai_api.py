"""The OpenAI-compatible API as vLLM's server answers: response bytes.

The ``*_json`` and ``Stream`` helpers write responses with vLLM's exact keys and key order
(captured from a real vLLM 0.32.0), as strict JSON. Requests are checked by
``llmobs.sim.openai_request``; the server module does the HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from llmobs import strictjson
from llmobs.sim.openai_request import Generation

FINGERPRINT_HASH = "c3d1da5c"


def fingerprint(version: str) -> str:
    return f"vllm-{version}-{FINGERPRINT_HASH}"


def _dump(obj: object) -> str:
    return strictjson.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def usage(prompt: int, completion: int, details: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
    }
    if details:
        out.update(prompt_tokens_details=None, completion_tokens_details=None)
    return out


def completion_json(
    g: Generation,
    text: str,
    prompt: int,
    completion: int,
    finish: str,
    version: str,
    kv_params: Mapping[str, Any] | None = None,
) -> str:
    created = int(time.time())
    if g.chat:
        message = {
            "role": "assistant",
            "content": text,
            "refusal": None,
            "annotations": None,
            "audio": None,
            "function_call": None,
            "reasoning": None,
        }
        return _dump(
            {
                "id": g.request_id,
                "object": "chat.completion",
                "created": created,
                "model": g.model,
                "choices": [
                    {
                        "index": 0,
                        "message": message,
                        "logprobs": None,
                        "finish_reason": finish,
                        "stop_reason": None,
                        "token_ids": None,
                        "routed_experts": None,
                    }
                ],
                "service_tier": None,
                "system_fingerprint": fingerprint(version),
                "usage": usage(prompt, completion),
                "prompt_logprobs": None,
                "prompt_token_ids": None,
                "prompt_text": None,
                "kv_transfer_params": kv_params,
                "ec_transfer_params": None,
                "metrics": None,
            }
        )
    return _dump(
        {
            "id": g.request_id,
            "object": "text_completion",
            "created": created,
            "model": g.model,
            "choices": [
                {
                    "index": 0,
                    "text": text,
                    "logprobs": None,
                    "finish_reason": finish,
                    "stop_reason": None,
                    "token_ids": None,
                    "prompt_logprobs": None,
                    "prompt_token_ids": None,
                    "routed_experts": None,
                }
            ],
            "service_tier": None,
            "system_fingerprint": fingerprint(version),
            "usage": usage(prompt, completion),
            "kv_transfer_params": kv_params,
            "ec_transfer_params": None,
            "metrics": None,
        }
    )


class Stream:
    """The SSE events of one streamed response, one ``data:`` event per token."""

    def __init__(self, g: Generation, prompt_tokens: int, version: str) -> None:
        self.g = g
        self.prompt = prompt_tokens
        self.sent = 0
        self.fp = fingerprint(version)
        head = {
            "id": g.request_id,
            "object": "chat.completion.chunk" if g.chat else "text_completion",
            "created": int(time.time()),
            "model": g.model,
        }
        self._head = _dump(head)[:-1]  # without the closing brace

    def _event(self, body: str) -> bytes:
        return f"data: {self._head},{body}}}\n\n".encode()

    def _usage(self, done: int, chat_details: bool) -> str:
        u = usage(self.prompt, done, details=False)
        if chat_details:
            u["completion_tokens_details"] = None
        return f',"usage":{_dump(u)}'

    def start(self) -> bytes:
        """Chat's first event (the assistant role); nothing for completions."""
        if not self.g.chat:
            return b""
        usage_part = self._usage(0, True) if self.g.continuous_usage else ""
        return self._event(
            '"choices":[{"index":0,"delta":{"role":"assistant","content":""},'
            f'"logprobs":null,"finish_reason":null}}]{usage_part},'
            '"prompt_token_ids":null,"prompt_text":null'
        )

    def tokens(self, texts: Sequence[str], finish: str | None) -> bytes:
        """Events for ``texts`` (one per token); ``finish`` marks the last one."""
        out = []
        g = self.g
        for i, text in enumerate(texts):
            self.sent += 1
            last = finish is not None and i == len(texts) - 1
            reason = f'"{finish}","stop_reason":null' if last else "null"
            if g.chat:
                choice = (
                    f'{{"index":0,"delta":{{"content":{_dump(text)}}},"logprobs":null,'
                    f'"finish_reason":{reason},"token_ids":null}}'
                )
            else:
                choice = (
                    f'{{"index":0,"text":{_dump(text)},"logprobs":null,'
                    f'"finish_reason":{reason}'
                    + ("" if last else ',"stop_reason":null')
                    + ',"prompt_token_ids":null,"token_ids":null}'
                )
            body = f'"choices":[{choice}]'
            if g.continuous_usage:
                body += self._usage(self.sent, g.chat)
            elif last and not g.include_usage:
                body += f',"system_fingerprint":"{self.fp}"'
            out.append(self._event(body))
        if finish is not None:
            if g.include_usage:
                u = _dump(usage(self.prompt, self.sent, details=False))
                out.append(
                    self._event(f'"choices":[],"usage":{u},"system_fingerprint":"{self.fp}"')
                )
            out.append(b"data: [DONE]\n\n")
        return b"".join(out)
