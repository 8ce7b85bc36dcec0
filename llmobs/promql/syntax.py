"""PromQL as text: string literals, durations, selectors, functions and operators.

Pure: nothing here talks to Prometheus or knows an llmobs name. Invalid input (a quantile
outside [0, 1], a malformed duration, a bad label or metric name) raises ``ConfigError``
saying what was wrong.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from llmobs.errors import ConfigError

Expr = str
# A range: seconds, a PromQL duration ("1m30s") or a Grafana variable ("$__rate_interval").
Window = float | str

_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_VARIABLE = re.compile(r"\$(?:[a-zA-Z_]\w*|\{[a-zA-Z_]\w*\})\Z")
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?\Z"
)
# Units of a duration, largest first, in milliseconds (Prometheus: a year is 365 days).
_UNITS: tuple[tuple[str, int], ...] = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


# ---------------------------------------------------------------------------------------
# The language


def string(value: str) -> Expr:
    """``value`` as a double-quoted PromQL string literal (Go's escapes).

    Backslash, quote, newline, CR and tab get their short escapes; other control characters
    and U+FFFD (which Prometheus's lexer takes for a broken UTF-8 byte) are written as a
    ``\\u`` escape of four hex digits (ESC is ``\\u001b``).

    Raises:
        ConfigError: ``value`` holds a lone surrogate, which no UTF-8 label value can.
    """
    out = ['"']
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 or ch == "\ufffd":
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) < 0xE000:
            raise ConfigError(f"label value {value!r} is not valid UTF-8 (a lone surrogate)")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def number(value: float) -> Expr:
    """A finite number as PromQL reads it back exactly (``5``, ``0.25``, ``1e-06``)."""
    if not math.isfinite(value):
        raise ConfigError(f"{value!r} is not a finite number")
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


def check_quantile(q: float) -> float:
    """``q`` as a float if it is a quantile (0 to 1), else ConfigError."""
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 <= q <= 1:
        raise ConfigError(f"quantile {q!r} is not a number from 0 to 1")
    return float(q)


def quantile_label(q: float) -> str:
    """The ``quantile`` label value the exporter writes for ``q`` (prometheus_client's form)."""
    return repr(check_quantile(q))


def parse_duration(text: str) -> float:
    """Seconds in a PromQL duration such as ``1m30s``, ``500ms`` or ``2h``.

    Raises:
        ConfigError: not a duration (units y, w, d, h, m, s, ms, largest first), or zero.
    """
    match = _DURATION.match(text)
    if not text or match is None:
        raise ConfigError(
            f"duration {text!r} is not a PromQL duration: numbers with units y, w, d, h, m, "
            "s, ms, largest first, e.g. 1m30s"
        )
    ms = sum(int(n) * size for n, (_, size) in zip(match.groups(), _UNITS, strict=True) if n)
    if ms == 0:
        raise ConfigError(f"duration {text!r} is zero; a range must be longer")
    return ms / 1000


def duration(seconds: float) -> Expr:
    """A positive number of seconds, a whole number of milliseconds, as ``1m30s``.

    Raises:
        ConfigError: not positive, not finite, or finer than a millisecond.
    """
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ConfigError(f"duration {seconds!r} is not a number of seconds")
    ms = round(seconds * 1000) if math.isfinite(seconds) else 0
    if ms <= 0 or abs(ms - seconds * 1000) > 1e-6 * max(1.0, ms):
        raise ConfigError(f"duration {seconds!r} s is not a positive whole number of milliseconds")
    parts = []
    for unit, size in _UNITS:
        count, ms = divmod(ms, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def window(value: Window) -> Expr:
    """A range: seconds or a duration string (written canonically), or a Grafana variable."""
    if isinstance(value, str):
        return value if _VARIABLE.match(value) else duration(parse_duration(value))
    return duration(value)


def _label_name(label: str) -> str:
    if not _LABEL.match(label):
        raise ConfigError(f"{label!r} is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
    return label


def grouping(by: Sequence[str], *more: str) -> tuple[str, ...]:
    """Label names to group by (``by`` then ``more``), checked."""
    if isinstance(by, str):
        raise ConfigError(f"labels must be a sequence of names, not the string {by!r}")
    return tuple(_label_name(label) for label in (*by, *more))


class Op(StrEnum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@dataclass(frozen=True)
class Matcher:
    """One label matcher; its value is escaped when written."""

    label: str
    op: Op
    value: str

    def __post_init__(self) -> None:
        _label_name(self.label)

    def __str__(self) -> str:
        return f"{self.label}{self.op}{string(self.value)}"


def eq(label: str, value: str) -> Matcher:
    return Matcher(label, Op.EQ, value)


def ne(label: str, value: str) -> Matcher:
    return Matcher(label, Op.NE, value)


def re_(label: str, pattern: str) -> Matcher:
    """``label=~"pattern"``: the pattern is RE2 and anchored at both ends by Prometheus."""
    return Matcher(label, Op.RE, pattern)


def nre(label: str, pattern: str) -> Matcher:
    return Matcher(label, Op.NRE, pattern)


@dataclass(frozen=True)
class Selector:
    """An instant vector selector: a metric name and label matchers."""

    metric: str
    matchers: tuple[Matcher, ...] = ()

    def __post_init__(self) -> None:
        if not _METRIC.match(self.metric):
            raise ConfigError(f"{self.metric!r} is not a metric name")

    def where(self, *matchers: Matcher, **equal: str) -> Selector:
        """This selector with more matchers (``label=value`` for each keyword)."""
        more = tuple(matchers) + tuple(eq(k, v) for k, v in equal.items())
        return Selector(self.metric, self.matchers + more)

    def __str__(self) -> str:
        if not self.matchers:
            return self.metric
        return self.metric + "{" + ", ".join(map(str, self.matchers)) + "}"


def selector(metric: str, *matchers: Matcher, **equal: str) -> Selector:
    """``metric{...}``: ``selector("up", job="x")`` is ``up{job="x"}``."""
    return Selector(metric).where(*matchers, **equal)


def rate(series: Selector, over: Window) -> Expr:
    return f"rate({series}[{window(over)}])"


def increase(series: Selector, over: Window) -> Expr:
    return f"increase({series}[{window(over)}])"


def sample_age(series: Selector) -> Expr:
    """``time() - timestamp(series)``: seconds since each series' newest sample was scraped."""
    return f"time() - timestamp({series})"


class Agg(StrEnum):
    SUM = "sum"
    AVG = "avg"
    MAX = "max"
    MIN = "min"
    COUNT = "count"


def aggregate(op: Agg, expr: Expr | Selector, by: Sequence[str] = ()) -> Expr:
    """``op by (by...) (expr)``, or ``op(expr)`` over everything when ``by`` is empty."""
    return f"{op} by ({', '.join(grouping(by))}) ({expr})" if by else f"{op}({expr})"


def histogram_quantile(q: float, buckets: Expr) -> Expr:
    """``histogram_quantile(q, buckets)``; ``buckets`` must keep the ``le`` label."""
    return f"histogram_quantile({number(check_quantile(q))}, {buckets})"


def ratio(numerator: Expr, denominator: Expr) -> Expr:
    """``a / (b > 0)``: no series where the denominator is zero, rather than NaN or Inf."""
    return f"{numerator} / ({denominator} > 0)"


_COMPARISONS = frozenset(("==", "!=", ">", "<", ">=", "<="))


def compare(expr: Expr | Selector, op: str, value: float) -> Expr:
    """``expr op value``, a filter (``llmobs_target_up == 0``)."""
    if op not in _COMPARISONS:
        raise ConfigError(f"{op!r} is not a comparison; one of {sorted(_COMPARISONS)}")
    return f"{expr} {op} {number(value)}"
