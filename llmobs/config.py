"""Strict configuration models and the one way a YAML config file becomes one.

``StrictModel`` is the base of every config in llmobs: unknown keys are errors, and every float
field is finite (NaN and infinities are refused, at any depth) unless the field opts in with
``Field(allow_inf_nan=True)`` because infinity means something there. ``read_yaml``
reads a file into a mapping and ``validate`` checks a mapping against a model;
``load_yaml`` does both. Whatever goes wrong (the file is missing, unreadable, not YAML, not a
mapping, repeats a key, or a field is bad) is one ``ConfigError`` whose message names the file
and each bad field: the message the command line prints instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from llmobs.errors import ConfigError

M = TypeVar("M", bound=BaseModel)
Location = Sequence[int | str]

# A config is a few kilobytes; more is not a config (a log, an image, /dev/zero) and is
# refused before it is read whole.
MAX_CONFIG_BYTES = 4 * 1024 * 1024


class StrictModel(BaseModel):
    """Unknown keys are errors (so a typo cannot silently fall back to a default), configs
    are values, not mutable state, and numbers are finite: a window, interval or limit of
    ``inf`` or ``nan`` would never be reached or compared (memory that grows without end,
    checks that are always false). A field where infinity has a meaning (a request rate of
    ``inf``: everything at once) says so with ``Field(allow_inf_nan=True)``."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _part(part: int | str) -> str:
    if isinstance(part, int):
        return str(part)
    return part if part.isprintable() else repr(part)


def dotted(location: Location) -> str:
    """``("targets", 0, "url")`` -> ``targets.0.url``: where a bad value is in the file. A
    key that is not printable text (a newline in it) is quoted, so a message stays one line."""
    return ".".join(_part(p) for p in location) or "(top level)"


def describe(error: ValidationError, name: Callable[[Location], str] = dotted) -> str:
    """Each problem as ``WHERE: WHAT``, joined by ``; ``. ``name`` spells a location (a
    command line may name its option instead of the field)."""
    lines = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{name(item['loc'])}: {message}" if item["loc"] else message)
    return "; ".join(lines)


def validate(model: type[M], data: Mapping[str, Any], what: str = "configuration") -> M:
    """``model.model_validate(data)``, raising ``ConfigError`` with a readable message."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(f"invalid {what}: {describe(exc)}") from None


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error (PyYAML
    keeps the last silently, so an edit further down the file would win unseen)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                repeated = key in seen
                seen.add(key)
            except TypeError:  # an unhashable key: the base class says so
                continue
            if repeated:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice", key_node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"line {mark.line + 1}, column {mark.column + 1}: {exc.problem}"
    if isinstance(exc, yaml.reader.ReaderError):
        return f"byte {exc.position}: {exc.reason}"
    return str(exc)


def read_bounded(path: str | Path, what: str, max_bytes: int) -> bytes | None:
    """The bytes of a file a user named, or ``None`` when it holds more than ``max_bytes``
    (read no further: the wrong file, not one to load whole).

    Raises:
        ConfigError: missing or unreadable (a directory, no permission, a NUL in the path).
    """
    try:
        with Path(path).open("rb") as file:
            raw = file.read(max_bytes + 1)
    except OSError as exc:
        shown = str(path) if str(path).isprintable() else repr(str(path))  # one line
        raise ConfigError(f"cannot read {what} {shown}: {exc.strerror or exc}") from None
    except ValueError as exc:  # a path with a NUL byte
        raise ConfigError(f"cannot read {what} {path!r}: {exc}") from None
    return None if len(raw) > max_bytes else raw


def read_yaml(path: str | Path, what: str = "config") -> dict[str, Any]:
    """The mapping a YAML file holds, not validated yet; an empty file is ``{}``.

    Raises:
        ConfigError: the file is missing, unreadable (a directory, no permission), larger
            than ``MAX_CONFIG_BYTES``, not YAML (binary, bad UTF-8 or UTF-16, bad syntax),
            repeats a key in one mapping, or holds something other than a mapping with
            string keys.
    """
    raw = read_bounded(path, what, MAX_CONFIG_BYTES)
    if raw is None:
        raise ConfigError(
            f"{what} {path} is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB: "
            "not a config file; give the YAML config"
        )
    try:
        data = yaml.load(raw, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path} is not valid YAML: {_yaml_problem(exc)}") from None
    except (ValueError, OverflowError, RecursionError) as exc:
        # PyYAML's scalar constructors raise these on malformed numbers and dates
        # ("0b_", "2001-02-30"); deep nesting exhausts the stack; UnicodeDecodeError (a
        # ValueError) is a binary file PyYAML's reader did not catch itself.
        raise ConfigError(f"{what} {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{what} {path} must be a mapping of settings (key: value lines), "
            f"not a {type(data).__name__}"
        )
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        raise ConfigError(f"{what} {path}: setting names are text, not {odd[0]!r}")
    return data


def load_yaml(path: str | Path, model: type[M], what: str = "config") -> M:
    """A YAML file validated into ``model``.

    Raises:
        ConfigError: as ``read_yaml``, or with every field ``model`` rejects.
    """
    return validate(model, read_yaml(path, what), f"{what} {path}")
