"""Grafana's side of the queries: template variables in matchers and ranges, and the
``label_values`` queries that fill a board's variables.

Pure text, like the rest of ``llmobs.promql``. A variable in a matcher is always written
``label=~"$var"``: Grafana expands a multi-value or All selection into a regex, and a single
value is a regex that matches itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from llmobs.errors import ConfigError
from llmobs.promql.syntax import Expr, Matcher, Selector, Window, re_

# Grafana's built-in range variables (``$__rate_interval`` is at least four scrape intervals).
RATE_INTERVAL: Window = "$__rate_interval"
INTERVAL: Window = "$__interval"
RANGE: Window = "$__range"
# The value of a variable's All option: every value, and series without the label too.
ALL = ".*"

_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def variable(name: str) -> str:
    """``$name``, the reference to a template variable."""
    if not _NAME.match(name):
        raise ConfigError(f"{name!r} is not a template variable name")
    return "$" + name


def matches(label: str, name: str | None = None) -> Matcher:
    """``label=~"$name"`` (the variable named as the label unless ``name`` says otherwise)."""
    return re_(label, variable(label if name is None else name))


def matching(labels: Sequence[str]) -> tuple[Matcher, ...]:
    """One ``label=~"$label"`` matcher for each label, in order."""
    return tuple(matches(label) for label in labels)


def one_of(label: str, values: Sequence[str]) -> Matcher:
    """``label=~"a|b"``: any of the fixed values (which must not be regex syntax)."""
    for value in values:
        if not _NAME.match(value):
            raise ConfigError(f"{value!r} is not a plain label value")
    return re_(label, "|".join(values))


def label_values(series: Selector | Expr | None, label: str) -> str:
    """Grafana's ``label_values(series, label)`` query for a variable's options (of every
    series when ``series`` is None)."""
    if not _NAME.match(label):
        raise ConfigError(f"{label!r} is not a label name")
    return f"label_values({label})" if series is None else f"label_values({series}, {label})"
