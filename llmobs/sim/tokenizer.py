"""Counting tokens the way the emulated engine does, and making output text of exact length.

Two tokenizers, one interface:

* ``BasicTokenizer`` ("llmobs-basic", the default): deterministic and dependency-free. A
  token is a special token ``<|name|>``, or an optional leading space followed by 1 to 4
  letters, 1 to 3 digits, or one other non-space character; any other whitespace character is
  a token of its own. English text comes out near 4 characters a token, like real BPE
  vocabularies. " the" repeated N times is exactly N tokens.
* ``HFTokenizer``: a local Hugging Face tokenizer folder (``tokenizer.json`` and the chat
  template from ``tokenizer_config.json`` or ``chat_template.jinja``), so a client using the
  same tokenizer agrees exactly, as with a real engine serving that model.

Token ids feed the prefix cache's block hashes: equal prompt prefixes, equal hashes.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from llmobs.errors import ConfigError

_BASIC = re.compile(r"<\|[A-Za-z0-9_]+\|>| ?[A-Za-z]{1,4}| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]|\s")
# Words of one basic token each, cycled to make output text of an exact length.
_OUTPUT_WORDS = (
    " the",
    " of",
    " and",
    " to",
    " in",
    " is",
    " for",
    " that",
    " with",
    " on",
    " as",
    " it",
    " by",
    " this",
    " be",
    " are",
    " from",
    " at",
    " or",
    " an",
)


class Tokenizer(Protocol):
    name: str
    max_token_id: int  # the largest id it has; /detokenize refuses larger ones

    def encode(self, text: str, *, special: bool = True) -> list[int]: ...

    def render_chat(self, messages: Sequence[Mapping[str, Any]]) -> str: ...

    def output_text(self, start: int, count: int) -> list[str]: ...


class BasicTokenizer:
    """Each word or punctuation mark (with its leading space) is a token whose id is its
    crc32. ``decode`` gives back the pieces it has seen (up to ``REMEMBERED`` of them) and
    ``UNKNOWN`` for others, one token each: ``/detokenize`` of any ids has that many tokens."""

    name = "llmobs-basic"
    max_token_id = 2**32 - 1  # ids are crc32s
    REMEMBERED = 1_000_000
    UNKNOWN = " the"

    def __init__(self) -> None:
        self._pieces: dict[int, str] = {}

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        # crc32 of each piece: stable across runs and machines (unlike hash())
        ids = []
        pieces = self._pieces
        room = len(pieces) < self.REMEMBERED
        for piece in _BASIC.findall(text):
            token = zlib.crc32(piece.encode())
            ids.append(token)
            if room and token not in pieces:
                pieces[token] = piece
        return ids

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self._pieces.get(i, self.UNKNOWN) for i in ids)

    def count(self, text: str) -> int:
        return len(_BASIC.findall(text))

    def render_chat(self, messages: Sequence[Mapping[str, Any]]) -> str:
        """ChatML, as Qwen's template: ``<|im_start|>role\\ncontent<|im_end|>\\n`` per message,
        then ``<|im_start|>assistant\\n``."""
        parts = [
            f"<|im_start|>{m.get('role', 'user')}\n{_content(m)}<|im_end|>\n" for m in messages
        ]
        return "".join(parts) + "<|im_start|>assistant\n"

    def output_text(self, start: int, count: int) -> list[str]:
        words = _OUTPUT_WORDS
        return [words[(start + i) % len(words)] for i in range(count)]


def _content(message: Mapping[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # OpenAI content parts: keep the text ones
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return ""


class HFTokenizer:
    """A Hugging Face tokenizer folder, read with the ``tokenizers`` library (no hub)."""

    def __init__(self, folder: Path) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
        from tokenizers import Tokenizer as RustTokenizer

        path = folder / "tokenizer.json"
        if not path.is_file():
            raise ConfigError(
                f"{folder} has no tokenizer.json: give a Hugging Face tokenizer "
                "folder (for example a model's local snapshot)"
            )
        self.name = str(folder)
        self._tok = RustTokenizer.from_file(str(path))
        self.max_token_id = int(self._tok.get_vocab_size(with_added_tokens=True)) - 1
        config: dict[str, Any] = {}
        config_path = folder / "tokenizer_config.json"
        if config_path.is_file():
            config = json.loads(config_path.read_text())
        template = config.get("chat_template")
        jinja_path = folder / "chat_template.jinja"
        if template is None and jinja_path.is_file():
            template = jinja_path.read_text()
        self._special = {k: _token_text(config.get(k)) for k in ("bos_token", "eos_token")}
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        self._template = env.from_string(template) if isinstance(template, str) else None
        self._output = self._pick_output_token()

    def encode(self, text: str, *, special: bool = True) -> list[int]:
        return list(self._tok.encode(text, add_special_tokens=special).ids)

    def render_chat(self, messages: Sequence[Mapping[str, Any]]) -> str:
        if self._template is None:
            raise ConfigError(f"tokenizer {self.name} has no chat template")
        return str(
            self._template.render(
                messages=list(messages), add_generation_prompt=True, **self._special
            )
        )

    def _pick_output_token(self) -> str:
        for word in (" the", " a", "the", " x", "x"):
            ids = self._tok.encode(word * 3, add_special_tokens=False).ids
            if len(ids) == 3:
                return word
        return self._tok.decode([self._tok.encode("a", add_special_tokens=False).ids[0]])

    def output_text(self, start: int, count: int) -> list[str]:
        return [self._output] * count


def _token_text(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("content", ""))
    return str(value) if value is not None else ""


def load(folder: str | Path | None) -> Tokenizer:
    """The basic tokenizer, or the Hugging Face tokenizer in ``folder``."""
    return BasicTokenizer() if folder is None else HFTokenizer(Path(folder))
