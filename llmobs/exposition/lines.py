"""One line of an exposition at a time: the token rules and the per-body state.

``LineParser`` holds what a parse has learned of one body (families, types, label blocks,
which sample names go where) and reads metadata lines and the sample lines the fast path in
``parser.parse`` does not take, with the exact rules and precise errors described there.
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

from llmobs.errors import MalformedExposition
from llmobs.exposition.model import TYPE_SUFFIXES, Exemplar, MetricFamily, Sample

METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
# Quoted values in the "unrolled loop" form: much faster than a per-character alternation.
_QUOTED = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
_PAIR = r"[a-zA-Z_][a-zA-Z0-9_]*=" + _QUOTED
_LAX_PAIR = r"[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*" + _QUOTED
# The canonical line (what client libraries write): name, optional label block, one space,
# value, optional timestamp. The block is taken up to the first "}" and checked exactly
# (PAIR_LIST) once per distinct block; a "}" inside a value fails the match or the check
# and such a line takes the slow, exact path.
FAST_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ([^ \t#]+)(?: ([^ \t#]+))?\Z")
PAIR_LIST = re.compile(r"(?:" + _PAIR + r"(?:," + _PAIR + r")*)?\Z")
PAIRS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\\n]*(?:\\.[^"\\\n]*)*)"')
# 0.0.4, any spacing: name [blanks] [{pairs[,]}] blanks value [blanks timestamp] [blanks]
_LAX_SAMPLE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)[ \t]*(?:\{[ \t]*((?:"
    + _LAX_PAIR
    + r"[ \t]*,[ \t]*)*(?:"
    + _LAX_PAIR
    + r")?)[ \t]*,?[ \t]*\})?[ \t]+(\S+)(?:[ \t]+(\S+))?[ \t]*\Z"
)
# OpenMetrics, exact: single spaces, no trailing comma, an optional exemplar.
_OM_LABELS = r"\{((?:" + _PAIR + r"(?:," + _PAIR + r")*)?)\}"
_OM_SAMPLE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:" + _OM_LABELS + r")? (\S+)(?: (\S+))?"
    r"(?: # " + _OM_LABELS + r" (\S+)(?: (\S+))?)?\Z"
)
NO_LABELS: dict[str, str] = {}
_ESCAPE = re.compile(r"\\(.)")
_LABEL_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_TEXT_HELP_ESCAPES = {"\\": "\\", "n": "\n"}
_TEXT_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
_OM_TYPES = frozenset(TYPE_SUFFIXES) - {"untyped"}
OWNER_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created", "_gcount", "_gsum", "_info")


def _unescape(value: str, table: dict[str, str]) -> str:
    return _ESCAPE.sub(lambda m: table.get(m.group(1), m.group(0)), value)


def read_value(token: str, lineno: int, what: str = "value") -> float:
    # float() reads NaN, +Inf, Inf, infinity in any case, as Go's ParseFloat does; Prometheus
    # rejects what float() also accepts: underscores, non-ASCII digits, a signed NaN.
    if "_" in token or not token.isascii():
        raise MalformedExposition(f"invalid {what} {token!r}", lineno)
    try:
        value = float(token)
    except ValueError:
        raise MalformedExposition(f"invalid {what} {token!r}", lineno) from None
    if value != value and token[0] in "+-":
        raise MalformedExposition(f"invalid {what} {token!r}", lineno)
    return value


def read_labels(block: str, lineno: int) -> dict[str, str]:
    pairs = PAIRS.findall(block)
    labels = dict(pairs)
    if len(labels) != len(pairs):
        raise MalformedExposition("duplicate label name in a label set", lineno)
    if "\\" in block:
        labels = {k: (_unescape(v, _LABEL_ESCAPES) if "\\" in v else v) for k, v in labels.items()}
    return labels


class LineParser:
    """One body's parse state. Only ``parse`` below constructs it."""

    def __init__(self, openmetrics: bool, keep: frozenset[str] | None) -> None:
        self.openmetrics = openmetrics
        self.keep = keep
        self.kept = owning_families(keep) if keep is not None else frozenset()
        # Selective parses: the families not built (name -> type) and the one declared last,
        # with the sample names it owns, which its samples usually follow.
        self.skipped: dict[str, str] = {}
        self.declared_owns: tuple[str, ...] = ()
        self.declared_starts: tuple[str, ...] = ()  # line_starts(declared_owns)
        self.families: dict[str, MetricFamily] = {}
        self.typed: set[str] = set()
        self.family_for_sample: dict[str, MetricFamily] = {}

    # -- metadata ---------------------------------------------------------------------------
    def family(self, name: str, lineno: int) -> MetricFamily:
        family = self.families.get(name)
        if family is None:
            if not METRIC_NAME.match(name):
                raise MalformedExposition(f"invalid metric name {name[:80]!r}", lineno)
            family = MetricFamily(name, "unknown" if self.openmetrics else "untyped")
            self.families[name] = family
            self.family_for_sample.clear()  # a new name can claim sample names
        return family

    def comment(self, line: str, lineno: int) -> bool:
        """Handle a ``#`` line; True when it was ``# EOF``."""
        keyword = line[2:6] if line.startswith("# ") else ""
        keywords = ("HELP", "TYPE", "UNIT") if self.openmetrics else ("HELP", "TYPE")
        if keyword not in keywords or line[6:7] not in (" ", "\t"):
            if not self.openmetrics:
                return False  # 0.0.4 allows free-form comments; "# EOF" is one of them
            if line == "# EOF":
                return True
            raise MalformedExposition(f"unexpected comment {line[:60]!r}", lineno)
        if self.openmetrics:
            name, _, text = line[7:].partition(" ")
        else:
            name, _, text = line[7:].lstrip(" \t").partition(" ")
        if not name:
            raise MalformedExposition(f"'# {keyword}' without a metric name", lineno)
        if self.keep is not None and name not in self.kept:
            self.skip_declaration(keyword, name, text, lineno)
            return False
        family = self.family(name, lineno)
        self.declared_owns = self.declared_starts = ()
        if keyword == "HELP":
            if "\\" in text:
                text = _unescape(text, _LABEL_ESCAPES if self.openmetrics else _TEXT_HELP_ESCAPES)
            family.help = text
        elif keyword == "TYPE":
            self.type_line(family, text.strip(" \t"), lineno)
        else:
            if text and not name.endswith("_" + text):
                raise MalformedExposition(f"unit {text!r} is not a suffix of {name}", lineno)
            family.unit = text
        return False

    def skim(self, line: str, lineno: int) -> bool:
        """Selective parses: a ``# HELP name ...``/``# TYPE name kind`` line spelled as client
        libraries write it, of a family not built, noted in one step (the hot path of most of
        a vLLM body's comments). False for any other line, and for any fault: ``comment``
        then reads it and raises."""
        head = line[:7]
        if head == "# TYPE ":
            typed = True
        elif head == "# HELP ":
            typed = False
        else:
            return False
        end = line.find(" ", 7)
        name = line[7:end]
        if end == -1 or not name or name in self.kept:
            return False
        kind = self.skipped.get(name)
        if kind is None:
            if not valid_name(name):
                return False
            kind = "unknown" if self.openmetrics else "untyped"
        if typed:
            declared = line[end + 1 :].strip(" \t")
            if name in self.typed:
                if declared != kind:
                    return False
            elif declared in (_OM_TYPES if self.openmetrics else _TEXT_TYPES):
                self.typed.add(name)
            else:
                return False
            kind = declared
        self.skipped[name] = kind
        self.declared_owns, self.declared_starts = family_samples(name, kind)
        return True

    def skip_declaration(self, keyword: str, name: str, text: str, lineno: int) -> None:
        """A HELP/TYPE line of a family a selective parse does not build: its name and type
        are checked and noted (engine detection reads names), nothing else is kept."""
        kind = self.skipped.get(name)
        if kind is None:
            if not METRIC_NAME.match(name):
                raise MalformedExposition(f"invalid metric name {name[:80]!r}", lineno)
            kind = "unknown" if self.openmetrics else "untyped"
        if keyword == "TYPE":
            declared = text.strip(" \t")
            self.check_type(name, kind, declared, lineno)
            kind = declared
        self.skipped[name] = kind
        self.declared_owns, self.declared_starts = family_samples(name, kind)

    def check_type(self, name: str, current: str, kind: str, lineno: int) -> None:
        allowed = _OM_TYPES if self.openmetrics else _TEXT_TYPES
        if kind not in allowed:
            raise MalformedExposition(f"unknown metric type {kind!r} for {name}", lineno)
        if name in self.typed and current != kind:
            raise MalformedExposition(f"{name} declared {current} and then {kind}", lineno)
        self.typed.add(name)

    def type_line(self, family: MetricFamily, kind: str, lineno: int) -> None:
        self.check_type(family.name, family.type, kind, lineno)
        if self.openmetrics and family.samples:
            raise MalformedExposition(f"TYPE line for {family.name} after its samples", lineno)
        family.type = kind
        self.family_for_sample.clear()  # the type decides which sample names it owns

    # -- samples ----------------------------------------------------------------------------
    def owner(self, sample_name: str, lineno: int) -> MetricFamily:
        """The family a sample name belongs to: its own, or a declared family it suffixes."""
        families = self.families
        found = families.get(sample_name)
        if found is not None and "" not in TYPE_SUFFIXES[found.type]:
            found = None
        if found is None:
            for suffix in OWNER_SUFFIXES:
                if sample_name.endswith(suffix):
                    candidate = families.get(sample_name[: -len(suffix)])
                    if candidate is not None and suffix in TYPE_SUFFIXES[candidate.type]:
                        found = candidate
                        break
        if found is None:
            found = self.family(sample_name, lineno)
            if "" not in TYPE_SUFFIXES[found.type]:
                raise MalformedExposition(
                    f"sample {sample_name!r} does not belong to {found.type} {found.name}", lineno
                )
        self.family_for_sample[sample_name] = found
        return found

    def slow_sample(self, line: str, lineno: int) -> tuple[str, MetricFamily | None]:
        """Any sample line the fast path did not take: exact, with a precise error. Returns
        the sample's name and the family it joined (None: not a wanted sample)."""
        pattern = _OM_SAMPLE if self.openmetrics else _LAX_SAMPLE
        match = pattern.match(line)
        if match is None:
            raise MalformedExposition(self.why_bad(line), lineno)
        groups = match.groups()
        name, block, vtext, ttext = groups[:4]
        labels = read_labels(block, lineno) if block else NO_LABELS
        exemplar = None
        if self.openmetrics and groups[5] is not None:
            if not name.endswith(("_total", "_bucket")):
                raise MalformedExposition(f"{name} cannot carry an exemplar", lineno)
            ex_labels = read_labels(groups[4], lineno) if groups[4] else {}
            ex_ts = read_value(groups[6], lineno, "exemplar timestamp") if groups[6] else None
            exemplar = Exemplar(ex_labels, read_value(groups[5], lineno, "exemplar value"), ex_ts)
        ts = self.timestamp(ttext, lineno) if ttext else None
        value = read_value(vtext, lineno)
        if self.keep is not None and name not in self.keep:
            return name, None
        family = self.family_for_sample.get(name) or self.owner(name, lineno)
        family.samples.append(Sample(name, labels, value, ts, exemplar))
        return name, family

    def why_bad(self, line: str) -> str:
        shown = repr(line[:80])
        if line[:1] in (" ", "\t"):
            return f"leading blank before the metric name in {shown}"
        if self.openmetrics and ("\t" in line or "  " in line or line.endswith(" ")):
            return f"OpenMetrics allows single spaces only: {shown}"
        if "{" in line.split(" ", 1)[0] or line.startswith("{"):
            return f"bad metric name or label set in {shown}"
        if " " not in line and "\t" not in line:
            return f"no value in {shown}"
        return f"not a sample line: {shown}"

    def timestamp(self, token: str, lineno: int) -> float:
        if self.openmetrics:
            ts = read_value(token, lineno, "timestamp")
            if ts != ts or ts in (float("inf"), float("-inf")):
                raise MalformedExposition(f"invalid timestamp {token!r}", lineno)
            return ts
        if not (token.isascii() and token.isdigit()):
            raise MalformedExposition(
                f"invalid timestamp {token!r} (0.0.4 wants integer milliseconds)", lineno
            )
        return int(token) / 1000.0


@lru_cache(maxsize=4096)
def sample_names(family: str, kind: str) -> tuple[str, ...]:
    """The sample names a family of this type holds (the same families recur in every body)."""
    return tuple(family + suffix for suffix in TYPE_SUFFIXES[kind])


# Label blocks written the common way, parsed: block -> labels (``plain_labels``).
KNOWN_BLOCKS: dict[str, dict[str, str]] = {}
_KNOWN_BLOCKS_MAX = 16384
# Bucket label sets read so far: id(labels) -> (those labels, the others sorted, le's value)
# (``bucket``), for the parser's +Inf check and the catalogs' histograms. The dict is held,
# so its id stays its own; started over with KNOWN_BLOCKS.
BUCKETS: dict[int, tuple[Mapping[str, str], tuple[tuple[str, str], ...], float]] = {}


def forget_blocks() -> None:
    """Start the memory of label blocks over (what a process that never parsed sees)."""
    KNOWN_BLOCKS.clear()
    BUCKETS.clear()


def bucket(
    labels: Mapping[str, str], name: str
) -> tuple[Mapping[str, str], tuple[tuple[str, str], ...], float]:
    """A bucket sample's labels less ``le`` (sorted pairs, its series) and ``le``'s value,
    remembered in ``BUCKETS``: label dicts are shared across bodies (``plain_labels``), so
    each is read once. ``name`` is the sample's, for the error."""
    le = labels.get("le")
    if le is None:
        raise MalformedExposition(f"{name} sample without an 'le' label")
    try:
        bound = float(le)
    except ValueError:
        raise MalformedExposition(f"{name} has non-numeric le={le!r}") from None
    rest = dict(labels)
    del rest["le"]
    if len(BUCKETS) >= 4 * _KNOWN_BLOCKS_MAX:
        BUCKETS.clear()
    known = BUCKETS[id(labels)] = (labels, tuple(sorted(rest.items())), bound)
    return known


def plain_labels(block: str) -> dict[str, str] | None:
    """The labels of a label block written the common way (canonical pairs, no escape, no
    name twice), None for any other. Remembered in ``KNOWN_BLOCKS`` across bodies, as the
    blocks recur: every scrape of a target, every replica of a model, has the same ones (at
    most 16,384 blocks; then it starts over). Callers share the dict, which nobody changes
    (``Sample.labels`` is read-only)."""
    labels = KNOWN_BLOCKS.get(block)
    if labels is not None:
        return labels
    if "\\" in block or PAIR_LIST.match(block) is None:
        return None
    pairs = PAIRS.findall(block)
    labels = dict(pairs)
    if len(labels) != len(pairs):
        return None
    if len(KNOWN_BLOCKS) >= _KNOWN_BLOCKS_MAX:
        forget_blocks()
    KNOWN_BLOCKS[block] = labels
    return labels


@lru_cache(maxsize=4096)
def valid_name(name: str) -> bool:
    """``METRIC_NAME``, remembered: the same family names recur in every body."""
    return METRIC_NAME.match(name) is not None


@lru_cache(maxsize=4096)
def family_samples(family: str, kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``sample_names`` of a family and their ``line_starts``, in one look-up."""
    names = sample_names(family, kind)
    return names, line_starts(names)


@lru_cache(maxsize=4096)
def line_starts(names: tuple[str, ...]) -> tuple[str, ...]:
    """How a sample line of one of ``names`` starts as client libraries write it: the name,
    then its label block or the space before its value (for one ``str.startswith``)."""
    return tuple(name + end for name in names for end in ("{", " "))


@lru_cache(maxsize=16)
def owning_families(wanted: frozenset[str]) -> frozenset[str]:
    """The family names that can hold a sample named in ``wanted``: the name itself, or the
    name less one of the suffixes a family adds to its samples (``x_bucket`` in ``x``)."""
    names = set(wanted)
    for name in wanted:
        names.update(name[: -len(s)] for s in OWNER_SUFFIXES if name.endswith(s))
    return frozenset(names)
