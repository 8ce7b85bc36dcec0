"""What a parsed /metrics body is: families of samples, nothing engine-specific.

Pure data. The parser (``parser.py``) builds these; catalogs and histogram code read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

# Sample-name suffixes each metric type may add to its family name. "" means the bare name.
TYPE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("_total", "_created", ""),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "gaugehistogram": ("_bucket", "_gcount", "_gsum"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info", ""),
    "stateset": ("",),
    "untyped": ("",),
    "unknown": ("",),
}


class Exemplar(NamedTuple):
    """An OpenMetrics exemplar attached to a counter or bucket sample."""

    labels: dict[str, str]
    value: float
    timestamp: float | None


class Sample(NamedTuple):
    """One line of the exposition. ``timestamp`` is in seconds (both formats)."""

    name: str
    labels: dict[str, str]
    value: float
    timestamp: float | None = None
    exemplar: Exemplar | None = None


@dataclass(slots=True)
class MetricFamily:
    """A ``# TYPE`` group: its name as declared, type, help, unit and samples in body order."""

    name: str
    type: str
    help: str = ""
    unit: str = ""
    samples: list[Sample] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Shape:
    """What ``exposition.shapes`` remembers of a parsed body to read the next one like it:
    its outline, the wanted names, the families (name, type, help, unit), where each kept
    sample is (line index, where its value starts, name, labels, family position), and the
    skipped family names."""

    outline: tuple[str, ...]
    wanted: frozenset[str]
    families: tuple[tuple[str, str, str, str], ...]
    reads: tuple[tuple[int, int, str, dict[str, str], int], ...]
    skipped: frozenset[str]


# A target's shape before its first body: never the shape of one.
NO_SHAPE = Shape((), frozenset(), (), (), frozenset())


@dataclass(slots=True)
class Exposition:
    """A parsed body. ``format`` is ``"text"`` (0.0.4) or ``"openmetrics"``.

    A selective parse (``parse(..., wanted=...)``) builds only the families that can hold a
    wanted sample; ``skipped`` names the body's other families, whose samples were checked
    but not kept. ``names()`` is every family of the body either way. ``shape`` is what a
    parse given ``like`` remembers of the body, to read the target's next one against.

    ``samples(name)`` finds samples by their exposed name (``vllm:prompt_tokens_total``,
    ``x_bucket``), whatever the family was called, which is how catalogs look things up.
    """

    format: str
    families: dict[str, MetricFamily]
    skipped: frozenset[str] = frozenset()
    shape: Shape | None = None  # remembered when the parse was asked to (``like``)
    _index: dict[str, list[Sample]] | None = None
    _types: dict[str, str] = field(default_factory=dict)

    def _build_index(self) -> dict[str, list[Sample]]:
        index: dict[str, list[Sample]] = {}
        types = self._types
        for family in self.families.values():
            for sample in family.samples:
                bucket = index.get(sample.name)
                if bucket is None:
                    index[sample.name] = [sample]
                    types[sample.name] = family.type
                else:
                    bucket.append(sample)
        self._index = index
        return index

    def samples(self, name: str) -> list[Sample]:
        """Every sample whose name is exactly ``name``; empty when there is none."""
        index = self._index if self._index is not None else self._build_index()
        return index.get(name, [])

    def type_of(self, sample_name: str) -> str | None:
        """The type of the family that holds samples named ``sample_name``; None if none does."""
        if self._index is None:
            self._build_index()
        return self._types.get(sample_name)

    def names(self) -> frozenset[str]:
        """The name of every family in the body, built or skipped."""
        return self.skipped.union(self.families)

    def __len__(self) -> int:
        return len(self.families)
