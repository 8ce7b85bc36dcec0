"""Strict configuration models: unknown keys are errors, every field is described.

``StrictModel`` is the base of every config in llmobs. ``validate`` turns pydantic's
errors into one ``ConfigError`` whose message names each bad field and why, the message
the command line prints instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from llmobs.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    """Unknown keys are errors (so a typo cannot silently fall back to a default) and
    configs are values, not mutable state."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "(top level)"
        lines.append(f"{where}: {item['msg']}")
    return "; ".join(lines)


def validate(model: type[M], data: Mapping[str, Any], what: str = "configuration") -> M:
    """``model.model_validate(data)``, raising ``ConfigError`` with a readable message."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"invalid {what}: {describe(exc)}") from None
