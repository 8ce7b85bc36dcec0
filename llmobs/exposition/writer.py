"""Write Prometheus text format 0.0.4: byte for byte what prometheus_client writes.

The rules are prometheus_client 0.26's ``generate_latest`` (with the default escaping) and
its ``*MetricFamily`` classes: a ``# HELP`` line (``\\`` and newlines escaped) and a ``# TYPE``
line per family, even one without samples; counters exposed as ``<name>_total`` (their
``_created``, ``_gsum`` and ``_gcount`` samples moved to a gauge family after the family);
labels sorted by name, values escaped (``\\``, newline, ``"``); values as Go writes floats
(``floatToGoString``: ``+Inf``, ``NaN``, exponents from 1e+07 up); timestamps in integer
milliseconds. Histograms have ``_bucket`` samples with ``le``, then ``_count`` (the last
bucket) and ``_sum`` unless a bound is negative or the sum unknown.

Metric and label names must already be valid Prometheus names (prometheus_client would
rewrite others); ours come from ``llmobs.names``. Pure: strings in, strings out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_INF = float("inf")
# Samples prometheus_client moves from a family into a gauge family of their own.
_MOVED_SUFFIXES = ("_created", "_gsum", "_gcount")
_TYPE_WRITTEN = {"info": "gauge", "stateset": "gauge", "gaugehistogram": "histogram"}


class Sample(NamedTuple):
    """One sample: its full name (``x_total``, ``x_bucket``), labels, value, timestamp (s)."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp: float | None = None


@dataclass
class Family:
    """A family as prometheus_client's ``Metric``: ``name`` without ``_total`` for counters."""

    name: str
    type: str
    help: str
    samples: list[Sample] = field(default_factory=list)


_SPECIAL = {"inf": "+Inf", "-inf": "-Inf", "nan": "NaN"}


def number(value: float) -> str:
    """A sample value as Go (and prometheus_client's ``floatToGoString``) writes it."""
    # repr() first: the common case (a dot within six digits) then costs one find().
    text = repr(float(value))
    dot = text.find(".")
    if dot < 0:  # inf, nan, or an exponent repr() chose (from 1e+16)
        return _SPECIAL.get(text, text)
    if dot > 6 and value > 0:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+{dot - 1:02d}"
    return text


def bound(value: float) -> str:
    """A bucket bound or quantile as a label value, as prometheus_client users write them."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_value(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def pairs(labels: Iterable[tuple[str, str]]) -> list[str]:
    """``name="value"`` for each label, sorted by name."""
    return [f'{k}="{escape_value(v)}"' for k, v in sorted(labels)]


def block(labels: Iterable[tuple[str, str]]) -> str:
    """The label block of a sample line: ``{a="1",b="2"}``, or "" without labels."""
    written = pairs(labels)
    return "{" + ",".join(written) + "}" if written else ""


def split_block(labels: Iterable[tuple[str, str]], extra: str) -> tuple[str, str]:
    """The label block around one more label named ``extra`` (``le``, ``quantile``) that
    sorts among them: ``before + f'{extra}="v"' + after`` is the whole block."""
    items = sorted(labels)
    head = pairs(item for item in items if item[0] < extra)
    tail = pairs(item for item in items if item[0] > extra)
    return "{" + "".join(p + "," for p in head), "".join("," + p for p in tail) + "}"


def header(name: str, kind: str, help_text: str) -> str:
    """The ``# HELP`` and ``# TYPE`` lines of a family (``name`` without ``_total``)."""
    if kind == "counter":
        name += "_total"
    elif kind == "info":
        name += "_info"
    written = _TYPE_WRITTEN.get(kind, "untyped" if kind == "unknown" else kind)
    return f"# HELP {name} {escape_help(help_text)}\n# TYPE {name} {written}\n"


def line(name: str, labels: str, value: float, timestamp: float | None = None) -> str:
    """One sample line; ``labels`` is a ready ``block``."""
    if timestamp is None:
        return f"{name}{labels} {number(value)}\n"
    return f"{name}{labels} {number(value)} {int(float(timestamp) * 1000):d}\n"


def histogram_samples(
    name: str,
    labels: Mapping[str, str],
    buckets: Sequence[tuple[str, float]],
    sum_value: float | None,
) -> list[Sample]:
    """The samples ``HistogramMetricFamily.add_metric`` makes: buckets (bound label, count),
    then ``_count`` and ``_sum`` when the first bound is not negative and the sum is known."""
    out = [Sample(name + "_bucket", {**labels, "le": le}, value) for le, value in buckets]
    if float(buckets[0][0]) >= 0 and sum_value is not None:
        out.append(Sample(name + "_count", labels, buckets[-1][1]))
        out.append(Sample(name + "_sum", labels, sum_value))
    return out


def write(families: Iterable[Family]) -> str:
    """The exposition of ``families``, in order, as ``generate_latest`` writes it."""
    out: list[str] = []
    for family in families:
        out.append(header(family.name, family.type, family.help))
        moved: dict[str, list[str]] = {}
        for sample in family.samples:
            text = line(sample.name, block(sample.labels.items()), sample.value, sample.timestamp)
            for suffix in _MOVED_SUFFIXES:
                if sample.name == family.name + suffix:
                    moved.setdefault(suffix, []).append(text)
                    break
            else:
                out.append(text)
        for suffix, lines in sorted(moved.items()):
            out.append(header(family.name + suffix, "gauge", family.help))
            out.extend(lines)
    return "".join(out)
