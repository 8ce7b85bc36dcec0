"""Grafana's template interpolation for Prometheus queries, pure.

A target's ``expr`` refers to variables as ``$var``, ``${var}`` or ``${var:format}``;
``interpolate`` replaces them as Grafana's Prometheus data source does before a query is
sent: a single-valued variable has backslashes and double quotes escaped for a PromQL string;
a multi-value or include-All variable is regex-escaped (``\\\\`` before each metacharacter,
since the regex sits in a PromQL string) and joined as ``(a|b)``; All is the variable's
``allValue`` as written, else its options, else ``.*``. ``builtins`` gives ``$__interval``
(Grafana's whole-unit form: 90 s is ``1m``), ``$__rate_interval`` (max(interval + scrape
interval, 4 x scrape interval)) and ``$__range`` with their ``_ms``/``_s`` forms. A variable
this module is not given is left as written, as Grafana leaves it.

The escaping is that of Grafana's ``prometheusSpecialCharsInLabelValues`` (double quotes
escaped; classic Grafana escaped single quotes instead, which breaks a value with a double
quote). Divergences, on purpose: an unknown ``:format`` is an error (Grafana falls back to
glob), and ``$__rate_interval`` is written as a PromQL duration (``1m30s``, the same length as
Grafana's).
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from llmobs import promql
from llmobs.errors import ConfigError

ALL = "$__all"  # the value Grafana stores when "All" is selected

# Grafana's variable syntax: $name, [[name:format]] (deprecated), ${name:format}.
_REFERENCE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^}]+))?(?::([^}]+))?\}", re.ASCII
)
_REGEX_META = re.compile(r"[$^*{}\[\]'+?.()|]")  # prometheusSpecialRegexEscape's set
_KBN_META = re.compile(r"[\\^$*+?.()|\[\]{}/]")  # kbn.regexEscape's set (format "regex")
_UNITS = (("y", 365 * 86_400_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000))


@dataclass(frozen=True, slots=True)
class Variable:
    """A template variable's current value(s) and the settings interpolation reads.

    ``values`` is what is selected, ``(ALL,)`` for All; ``options`` every value it offers
    (All without an ``all_value`` is those, or ``.*`` when they are unknown).
    """

    name: str
    values: tuple[str, ...]
    multi: bool = False
    include_all: bool = False
    all_value: str | None = None
    options: tuple[str, ...] = field(default=())


def rate_interval(interval_s: float, scrape_interval_s: float) -> float:
    """Grafana's ``$__rate_interval`` in seconds: max(interval + scrape, 4 x scrape)."""
    return max(interval_s + scrape_interval_s, 4 * scrape_interval_s)


def grafana_interval(seconds: float) -> str:
    """A duration as Grafana writes ``$__interval``: its largest whole unit (``90`` is ``1m``)."""
    ms = int(seconds * 1000 + 1e-6)
    for unit, size in _UNITS:
        if ms >= size:
            return f"{ms // size}{unit}"
    if ms >= 1000:
        return f"{ms // 1000}s"
    return f"{max(ms, 1)}ms"


def builtins(
    start: float, end: float, interval_s: float, scrape_interval_s: float
) -> dict[str, str]:
    """Grafana's global variables for a query over [start, end] (unix seconds).

    ``interval_s`` plays Grafana's computed interval (the query's step), never below the
    data source's scrape interval, as Grafana's Prometheus data source bounds it.

    Raises:
        ConfigError: an interval or scrape interval that is not positive, or end before start.
    """
    if not interval_s > 0 or not scrape_interval_s > 0:
        raise ConfigError(
            f"interval {interval_s!r} and scrape interval {scrape_interval_s!r} must be positive"
        )
    if not end >= start:
        raise ConfigError(f"the range ends ({end!r}) before it starts ({start!r})")
    interval = max(interval_s, scrape_interval_s)
    rate = rate_interval(interval, scrape_interval_s)
    range_ms = round((end - start) * 1000)
    range_s = round(range_ms / 1000)
    return {
        "__interval": grafana_interval(interval),
        "__interval_ms": str(int(interval * 1000 + 1e-6)),
        "__rate_interval": promql.duration(round(rate * 1000) / 1000),
        "__rate_interval_ms": str(round(rate * 1000)),
        "__range": f"{range_s}s",
        "__range_s": str(range_s),
        "__range_ms": str(range_ms),
    }


def prometheus_escape(value: str) -> str:
    """A single value inside a PromQL string (Grafana's prometheusRegularEscape)."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def prometheus_regex_escape(value: str) -> str:
    """A literal inside a regex inside a PromQL string (prometheusSpecialRegexEscape)."""
    escaped = value.replace("\\", "\\\\\\\\").replace('"', '\\\\\\"')
    return _REGEX_META.sub(lambda m: "\\\\" + m.group(0), escaped)


def _prometheus(values: Sequence[str], variable: Variable) -> str:
    """The Prometheus data source's own format (no ``:format`` given)."""
    if not variable.multi and not variable.include_all:
        return ",".join(prometheus_escape(v) for v in values)
    escaped = [prometheus_regex_escape(v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _regex(values: Sequence[str]) -> str:
    escaped = [_KBN_META.sub(lambda m: "\\" + m.group(0), v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def _quoted(quote: str) -> Callable[[Sequence[str]], str]:
    def fmt(values: Sequence[str]) -> str:
        return ",".join(quote + v.replace(quote, "\\" + quote) + quote for v in values)

    return fmt


_FORMATS: dict[str, Callable[[Sequence[str]], str]] = {
    "raw": ",".join,
    "text": " + ".join,
    "csv": ",".join,
    "pipe": "|".join,
    "regex": _regex,
    "json": lambda values: json.dumps(list(values), separators=(",", ":")),
    "doublequote": _quoted('"'),
    "singlequote": _quoted("'"),
    "glob": lambda values: values[0] if len(values) == 1 else "{" + ",".join(values) + "}",
    "percentencode": lambda values: urllib.parse.quote(
        values[0] if len(values) == 1 else "{" + ",".join(values) + "}", safe="-_.!~*'()"
    ),
}


def format_value(variable: Variable, fmt: str | None) -> str:
    """``variable``'s value as ``${name:fmt}`` (``fmt`` None: as ``$name``) writes it.

    Raises:
        ConfigError: ``fmt`` is not one of Grafana's formats this module knows.
    """
    if fmt is not None and fmt not in _FORMATS and fmt != "queryparam":
        known = ", ".join(sorted([*_FORMATS, "queryparam"]))
        raise ConfigError(f"variable format {fmt!r} of ${{{variable.name}}} is not one of: {known}")
    values: Sequence[str] = variable.values
    if values[:1] == (ALL,) and variable.include_all:
        if variable.all_value is not None:
            return variable.all_value  # a custom All is written as it is, never escaped
        if not variable.options:
            return ".*"
        values = variable.options
    if fmt == "queryparam":
        return "&".join(urllib.parse.urlencode({f"var-{variable.name}": v}) for v in values)
    if fmt is None:
        return _prometheus(values, variable)
    return _FORMATS[fmt](values)


def interpolate(
    expr: str, variables: Mapping[str, Variable], scoped: Mapping[str, str] | None = None
) -> str:
    """``expr`` with every variable Grafana would replace replaced; unknown ones left as written.

    ``scoped`` holds the built-ins (``builtins``), written as they are.

    Raises:
        ConfigError: an unknown ``:format``.
    """
    scoped = scoped or {}

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in scoped:
            return scoped[name]
        variable = variables.get(name)
        if variable is None:
            return match.group(0)
        return format_value(variable, fmt)

    return _REFERENCE.sub(replace, expr)


def referenced(expr: str) -> set[str]:
    """The names of the variables ``expr`` refers to."""
    return {m.group(1) or m.group(2) or m.group(4) for m in _REFERENCE.finditer(expr)}


@dataclass(frozen=True, slots=True)
class Declared:
    """A board's template variable as its JSON declares it (``templating.list``)."""

    name: str
    kind: str  # Grafana's "type": query, custom, constant, textbox, interval, datasource
    query: str  # a query variable's query; a custom variable's comma list; a constant
    current: tuple[str, ...]  # the board's saved selection, empty if none
    multi: bool
    include_all: bool
    all_value: str | None
    regex: str | None  # a query variable's filter on its options


def _strings(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return (str(value),)


def _text(item: Mapping[str, object], key: str) -> str | None:
    """An optional string field of a variable: None when absent or empty."""
    value = item.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ConfigError(f"template variable {item.get('name')!r}: {key} {value!r} is not text")
    return value


def declared(board: Mapping[str, object]) -> list[Declared]:
    """The board's template variables, in order (a later one may refer to an earlier one).

    Raises:
        ConfigError: ``templating.list`` that is not a list of objects with a name, or an
            ``allValue`` or ``regex`` that is not text.
    """
    templating = board.get("templating") or {}
    items = templating.get("list", []) if isinstance(templating, Mapping) else None
    if not isinstance(items, list):
        raise ConfigError("the board's templating.list is not a list")
    out = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ConfigError(f"template variable {item!r} is not an object with a name")
        query = item.get("query", "")
        if isinstance(query, Mapping):  # newer Prometheus variable editor: {"query": ...}
            query = query.get("query", "")
        current = item.get("current") or {}
        out.append(
            Declared(
                name=item["name"],
                kind=str(item.get("type", "query")),
                query=str(query or ""),
                current=_strings(current.get("value")) if isinstance(current, Mapping) else (),
                multi=bool(item.get("multi", False)),
                include_all=bool(item.get("includeAll", False)),
                all_value=_text(item, "allValue"),
                regex=_text(item, "regex"),
            )
        )
    return out


_LABEL_VALUES = re.compile(r"\s*label_values\(\s*(?:(.*?)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*\Z", re.S)


def label_values(query: str) -> tuple[str | None, str]:
    """``label_values(metric{...}, label)`` as (the series selector or None, the label).

    Raises:
        ConfigError: any other variable query (``query_result``, ``metrics``, ...).
    """
    match = _LABEL_VALUES.match(query)
    if match is None:
        raise ConfigError(f"variable query {query!r} is not label_values([selector, ]label)")
    return match.group(1) or None, match.group(2)


def custom_options(query: str) -> tuple[str, ...]:
    """A custom variable's options from its comma-separated query (``a, b,c``)."""
    return tuple(part.strip() for part in re.split(r"(?<!\\),", query) if part.strip())


def filtered(options: Sequence[str], regex: str | None) -> tuple[str, ...]:
    """Options kept by a variable's ``regex`` (``/pattern/``); a capture group is the value.

    Raises:
        ConfigError: ``regex`` does not compile.
    """
    if not regex:
        return tuple(options)
    source = regex[1:-1] if len(regex) > 1 and regex[0] == regex[-1] == "/" else regex
    try:
        pattern = re.compile(source)
    except re.error as exc:
        raise ConfigError(f"variable regex {regex!r} is not a regular expression: {exc}") from None
    kept = []
    for option in options:
        match = pattern.search(option)
        if match is not None:
            kept.append(match.group(1) if pattern.groups else option)
    return tuple(dict.fromkeys(kept))


def selection(
    variable: Declared, chosen: Sequence[str] | None, options: tuple[str, ...]
) -> Variable:
    """The Variable to interpolate: the caller's choice, else the board's, else All or the first."""
    values = tuple(chosen) if chosen else variable.current
    if not values:
        values = (ALL,) if variable.include_all else options[:1]
    if values in (("All",), ("all",)) and variable.include_all:
        values = (ALL,)
    return Variable(
        name=variable.name,
        values=values,
        multi=variable.multi,
        include_all=variable.include_all,
        all_value=variable.all_value,
        options=options,
    )
