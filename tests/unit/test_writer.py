"""The exposition writer against prometheus_client's own ``generate_latest``, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from llmobs.exposition import writer
from llmobs.exposition.parser import parse


class _Fixed(Collector):
    def __init__(self, metrics: list[Metric]) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self.metrics


def reference(metrics: list[Metric]) -> str:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(metrics))
    return generate_latest(registry).decode()


_NAME = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True).filter(
    lambda n: not n.endswith(("_total", "_created", "_info", "_gsum", "_gcount"))
)
_LABEL = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,6}", fullmatch=True).filter(
    lambda n: not n.startswith("__") and n not in ("le", "quantile")
)
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
_VALUES = st.one_of(
    st.floats(allow_nan=True),
    st.integers(min_value=-(10**12), max_value=10**12).map(float),
    st.sampled_from([0.0, -0.0, 1e7, 1234567.0, 12345678.9, 1e-5, 1e22, 0.1]),
)
_TIMESTAMPS = st.one_of(st.none(), st.floats(min_value=0, max_value=4e9))


@settings(max_examples=500, deadline=None)
@given(_VALUES)
def test_numbers_as_go_writes_them(value: float) -> None:
    assert writer.number(value) == floatToGoString(value)  # type: ignore[no-untyped-call]


@st.composite
def families(draw: st.DrawFn) -> tuple[list[writer.Family], list[Metric]]:
    ours: list[writer.Family] = []
    theirs: list[Metric] = []
    for name in draw(st.lists(_NAME, unique=True, max_size=4)):
        kind = draw(st.sampled_from(["gauge", "counter", "untyped", "summary", "histogram"]))
        help_text = draw(_TEXT)
        family = writer.Family(name, kind, help_text)
        metric = Metric(name, help_text, kind)
        label_names = draw(st.lists(_LABEL, unique=True, max_size=3))
        for _ in range(draw(st.integers(0, 3))):
            labels = {k: draw(_TEXT) for k in label_names}
            suffix = draw(st.sampled_from(["", "_total", "_created", "_sum", "_count"]))
            value, timestamp = draw(_VALUES), draw(_TIMESTAMPS)
            family.samples.append(writer.Sample(name + suffix, labels, value, timestamp))
            metric.add_sample(name + suffix, labels, value, timestamp)
        ours.append(family)
        theirs.append(metric)
    return ours, theirs


@settings(max_examples=400, deadline=None)
@given(families())
def test_any_families_are_written_as_prometheus_client_writes_them(
    pair: tuple[list[writer.Family], list[Metric]],
) -> None:
    ours, theirs = pair
    assert writer.write(ours) == reference(theirs)


_BOUNDS = st.lists(
    st.floats(min_value=-10, max_value=1e9, allow_nan=False), unique=True, min_size=0, max_size=5
).map(lambda xs: [*sorted(xs), float("inf")])


@settings(max_examples=300, deadline=None)
@given(
    _NAME,
    _TEXT,
    st.lists(st.tuples(_TEXT, _TEXT), max_size=3),
    _BOUNDS,
    st.one_of(st.none(), _VALUES),
    st.data(),
)
def test_typed_families_match_prometheus_client_classes(
    name: str,
    help_text: str,
    rows: list[tuple[str, str]],
    bounds: list[float],
    total: float | None,
    data: st.DataObject,
) -> None:
    """Histograms, counters (with ``_created``) and gauges as the collector builds them."""
    hist = HistogramMetricFamily(name, help_text, labels=["pod", "engine"])
    counter = CounterMetricFamily(name + "_c", help_text, labels=["pod", "engine"])
    gauge = GaugeMetricFamily(name + "_g", help_text, labels=["pod", "engine"])
    ours = [
        writer.Family(name, "histogram", help_text),
        writer.Family(name + "_c", "counter", help_text),
        writer.Family(name + "_g", "gauge", help_text),
    ]
    for pod, engine in rows:
        labels = {"pod": pod, "engine": engine}
        buckets = [(writer.bound(b), data.draw(_VALUES)) for b in bounds]
        hist.add_metric([pod, engine], buckets, total)
        ours[0].samples.extend(writer.histogram_samples(name, labels, buckets, total))
        value, created = data.draw(_VALUES), data.draw(st.one_of(st.none(), _VALUES))
        counter.add_metric([pod, engine], value, created=created)
        ours[1].samples.append(writer.Sample(name + "_c_total", labels, value))
        if created is not None:
            ours[1].samples.append(writer.Sample(name + "_c_created", labels, created))
        gauge.add_metric([pod, engine], value)
        ours[2].samples.append(writer.Sample(name + "_g", labels, value))
    assert writer.write(ours) == reference([hist, counter, gauge])


def test_split_block_puts_the_extra_label_in_its_sorted_place() -> None:
    labels = {"role": "decode", "engine": "vllm", "model": 'a"b'}.items()
    before, after = writer.split_block(labels, "le")
    assert before + 'le="0.5"' + after == '{engine="vllm",le="0.5",model="a\\"b",role="decode"}'
    assert writer.split_block([], "le") == ("{", "}")
    assert writer.split_block([("a", "1")], "le") == ('{a="1",', "}")


def test_what_it_writes_parses_back() -> None:
    family = writer.Family("x", "counter", "Help with \\ and\nnewline.")
    family.samples.append(writer.Sample("x_total", {"a": 'q"\\\n'}, 3.0))
    expo = parse(writer.write([family]))
    assert expo.families["x_total"].help == "Help with \\ and\nnewline."
    assert expo.samples("x_total")[0].labels == {"a": 'q"\\\n'}
