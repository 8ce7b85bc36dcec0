"""A target's next body read against its last one: only the wanted values are new.

A target answers with the same lines at every scrape; only their values change. A selective
parse of a text-format body asked to (``parse(..., like=...)``) remembers its ``Shape``: the
body's outline (each line without its last token; comments whole), where each kept sample's
value is and the families. The next body of the same target whose outline is the same is
read by taking only the kept samples' values from their lines, checked as the parser checks
a value, and everything else from that shape; any other body is parsed in full. So the lines
of unread families of a body shaped as the last one are checked for being those lines again
(all but their last token, not empty) and nothing more: nothing reads them.
Pure: no I/O.
"""

from __future__ import annotations

from llmobs.exposition.model import Exposition, MetricFamily, Sample, Shape

# The outlines remembered, each kept once however many targets have it (at most 256).
_OUTLINES: dict[tuple[str, ...], tuple[str, ...]] = {}
_OUTLINES_MAX = 256


def outline(lines: list[str]) -> tuple[str, ...]:
    """Each line without its last blank and what follows it (a sample's value); a comment,
    a line ending with a blank, or one without a blank, whole."""
    return tuple(
        [
            line if line[:1] == "#" or line[-1:] == " " else (line.rpartition(" ")[0] or line)
            for line in lines
        ]
    )


def remember(
    lined: tuple[str, ...],
    wanted: frozenset[str],
    families: dict[str, MetricFamily],
    rows: list[tuple[int, MetricFamily]],
    skipped: frozenset[str],
) -> Shape | None:
    """The shape of a parsed body (``rows``: the line index and family of each kept sample,
    in the order they were kept); None when one of its samples has a timestamp or an
    exemplar, or came otherwise than from its line's last token."""
    position = {name: i for i, name in enumerate(families)}
    built = list(families.values())
    taken = [0] * len(built)
    reads: list[tuple[int, int, str, dict[str, str], int]] = []
    for index, family in rows:
        at = position[family.name]
        sample = family.samples[taken[at]]
        taken[at] += 1
        if sample.timestamp is not None or sample.exemplar is not None:
            return None
        reads.append((index, len(lined[index]) + 1, sample.name, sample.labels, at))
    if taken != [len(f.samples) for f in built]:
        return None
    heads = tuple((f.name, f.type, f.help, f.unit) for f in built)
    if len(_OUTLINES) >= _OUTLINES_MAX:
        _OUTLINES.clear()
    lined = _OUTLINES.setdefault(lined, lined)  # one copy for the replicas of a model
    return Shape(lined, wanted, heads, tuple(reads), skipped)


def read_like(shape: Shape, lines: list[str]) -> Exposition | None:
    """The kept samples of a body whose outline is ``shape``'s, their values read from their
    lines; None when a value is not one the parser reads (then parse it in full)."""
    families = {
        name: MetricFamily(name, kind, text, unit) for name, kind, text, unit in shape.families
    }
    built = list(families.values())
    new = tuple.__new__
    for index, start, name, labels, at in shape.reads:
        token = lines[index][start:]
        if "_" in token or not token.isascii():
            return None
        try:
            value = float(token)
        except ValueError:
            return None
        if value != value and token[:1] in "+-":
            return None
        built[at].samples.append(new(Sample, (name, labels, value, None, None)))
    return Exposition("text", families, shape.skipped, shape=shape)
