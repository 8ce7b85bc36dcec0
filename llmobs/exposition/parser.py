"""Parse Prometheus text format 0.0.4 and OpenMetrics 1.0 bodies into an ``Exposition``.

The rules are Prometheus 2.42's (``model/textparse``): 0.0.4 is lax (blank lines, free
comments, tabs, a trailing comma in a label set, integer-millisecond timestamps), OpenMetrics
is strict (single spaces, ``# EOF``, float-second timestamps, exemplars on ``_total`` and
``_bucket`` only). Label values unescape ``\\\\``, ``\\"`` and ``\\n`` and keep any other
backslash pair as written; values read ``NaN``/``+Inf``/``-Inf`` but not ``1_000``.
``_created``/``_total``/``_bucket`` samples join the family they belong to. On top of
Prometheus we insist on what silently corrupts numbers: a body cut mid-line, an OpenMetrics
body without ``# EOF`` and a histogram series without its ``+Inf`` bucket are errors.

Every problem is a typed ``ExpositionError`` naming the line; never a crash, never a
silently empty result. Speed: one regex per canonical line, each distinct label block parsed
once per body (its dict shared, so ``Sample.labels`` is read-only), samples built without
Python-level constructors. Pure: no I/O.
"""

from __future__ import annotations

import re

from llmobs.errors import BodyTooLarge, MalformedExposition, TruncatedExposition
from llmobs.exposition.model import TYPE_SUFFIXES, Exemplar, Exposition, MetricFamily, Sample

DEFAULT_MAX_BYTES = 10 * 1024 * 1024

_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
# Quoted values in the "unrolled loop" form: much faster than a per-character alternation.
_QUOTED = r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"'
_PAIR = r"[a-zA-Z_][a-zA-Z0-9_]*=" + _QUOTED
_LAX_PAIR = r"[a-zA-Z_][a-zA-Z0-9_]*[ \t]*=[ \t]*" + _QUOTED
# The canonical line (what client libraries write): name, optional label block, one space,
# value, optional timestamp. The block is taken up to the first "}" and checked exactly
# (_PAIR_LIST) once per distinct block; a "}" inside a value fails the match or the check
# and such a line takes the slow, exact path.
_FAST_SAMPLE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})? ([^ \t#]+)(?: ([^ \t#]+))?\Z"
)
_PAIR_LIST = re.compile(r"(?:" + _PAIR + r"(?:," + _PAIR + r")*)?\Z")
_PAIRS = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"([^"\\\n]*(?:\\.[^"\\\n]*)*)"')
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
_NO_LABELS: dict[str, str] = {}
_ESCAPE = re.compile(r"\\(.)")
_LABEL_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}
_TEXT_HELP_ESCAPES = {"\\": "\\", "n": "\n"}
_TEXT_TYPES = frozenset({"counter", "gauge", "histogram", "summary", "untyped"})
_OM_TYPES = frozenset(TYPE_SUFFIXES) - {"untyped"}
_OWNER_SUFFIXES = ("_total", "_bucket", "_count", "_sum", "_created", "_gcount", "_gsum", "_info")


def _unescape(value: str, table: dict[str, str]) -> str:
    return _ESCAPE.sub(lambda m: table.get(m.group(1), m.group(0)), value)


def _value(token: str, lineno: int, what: str = "value") -> float:
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


def _labels(block: str, lineno: int) -> dict[str, str]:
    pairs = _PAIRS.findall(block)
    labels = dict(pairs)
    if len(labels) != len(pairs):
        raise MalformedExposition("duplicate label name in a label set", lineno)
    if "\\" in block:
        labels = {k: (_unescape(v, _LABEL_ESCAPES) if "\\" in v else v) for k, v in labels.items()}
    return labels


class _Parser:
    """One body's parse state. Only ``parse`` below constructs it."""

    def __init__(self, openmetrics: bool) -> None:
        self.openmetrics = openmetrics
        self.families: dict[str, MetricFamily] = {}
        self.typed: set[str] = set()
        self.family_for_sample: dict[str, MetricFamily] = {}
        self.label_cache: dict[str, dict[str, str]] = {}
        self.last_family: MetricFamily | None = None

    # -- metadata ---------------------------------------------------------------------------
    def family(self, name: str, lineno: int) -> MetricFamily:
        family = self.families.get(name)
        if family is None:
            if not _METRIC_NAME.match(name):
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
        family = self.family(name, lineno)
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

    def type_line(self, family: MetricFamily, kind: str, lineno: int) -> None:
        allowed = _OM_TYPES if self.openmetrics else _TEXT_TYPES
        if kind not in allowed:
            raise MalformedExposition(f"unknown metric type {kind!r} for {family.name}", lineno)
        if family.name in self.typed and family.type != kind:
            raise MalformedExposition(
                f"{family.name} declared {family.type} and then {kind}", lineno
            )
        if self.openmetrics and family.samples:
            raise MalformedExposition(f"TYPE line for {family.name} after its samples", lineno)
        self.typed.add(family.name)
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
            for suffix in _OWNER_SUFFIXES:
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

    def slow_sample(self, line: str, lineno: int) -> None:
        """Any sample line the fast path did not take: exact, with a precise error."""
        pattern = _OM_SAMPLE if self.openmetrics else _LAX_SAMPLE
        match = pattern.match(line)
        if match is None:
            raise MalformedExposition(self.why_bad(line), lineno)
        groups = match.groups()
        name, block, vtext, ttext = groups[:4]
        labels = _labels(block, lineno) if block else _NO_LABELS
        exemplar = None
        if self.openmetrics and groups[5] is not None:
            if not name.endswith(("_total", "_bucket")):
                raise MalformedExposition(f"{name} cannot carry an exemplar", lineno)
            ex_labels = _labels(groups[4], lineno) if groups[4] else {}
            ex_ts = _value(groups[6], lineno, "exemplar timestamp") if groups[6] else None
            exemplar = Exemplar(ex_labels, _value(groups[5], lineno, "exemplar value"), ex_ts)
        ts = self.timestamp(ttext, lineno) if ttext else None
        family = self.family_for_sample.get(name) or self.owner(name, lineno)
        family.samples.append(Sample(name, labels, _value(vtext, lineno), ts, exemplar))
        self.last_family = family

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
            ts = _value(token, lineno, "timestamp")
            if ts != ts or ts in (float("inf"), float("-inf")):
                raise MalformedExposition(f"invalid timestamp {token!r}", lineno)
            return ts
        if not (token.isascii() and token.isdigit()):
            raise MalformedExposition(
                f"invalid timestamp {token!r} (0.0.4 wants integer milliseconds)", lineno
            )
        return int(token) / 1000.0


def _check_histograms(families: dict[str, MetricFamily], last: MetricFamily | None) -> None:
    """Every histogram series needs its ``+Inf`` bucket; a series without one at the end of
    the body means the body was cut, elsewhere that the exposition is wrong."""
    # Label dicts are shared per distinct label block (see parse), so memoise on identity.
    memo: dict[int, tuple[frozenset[tuple[str, str]], bool]] = {}
    inf = float("inf")
    for family in families.values():
        if family.type not in ("histogram", "gaugehistogram"):
            continue
        bucket_name = family.name + "_bucket"
        series: dict[frozenset[tuple[str, str]], bool] = {}
        for sample in family.samples:
            if sample.name != bucket_name:
                continue
            labels = sample.labels
            known = memo.get(id(labels))
            if known is None:
                le = labels.get("le")
                if le is None:
                    raise MalformedExposition(f"{bucket_name} sample without an 'le' label")
                try:
                    bound = float(le)
                except ValueError:
                    raise MalformedExposition(f"{bucket_name} has non-numeric le={le!r}") from None
                known = (frozenset(labels.items()) - {("le", le)}, bound == inf)
                memo[id(labels)] = known
            key, is_inf = known
            if is_inf or key not in series:
                series[key] = is_inf or series.get(key, False)
        for key, has_inf in series.items():
            if not has_inf:
                where = "{" + ",".join(f'{k}="{v}"' for k, v in sorted(key)) + "}"
                message = f'histogram {family.name}{where} has no le="+Inf" bucket'
                if family is last:
                    raise TruncatedExposition(message + " (the body ends inside it)")
                raise MalformedExposition(message)


def _decode(body: bytes | str, max_bytes: int) -> str:
    if len(body) > max_bytes:
        raise BodyTooLarge(
            f"body is {len(body)} bytes, over the {max_bytes}-byte cap; raise the cap if the "
            "target really exposes that much"
        )
    if isinstance(body, str):
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedExposition(
            f"body is not UTF-8 ({exc.reason} at byte {exc.start}): not a metrics page"
        ) from None


def parse(
    body: bytes | str,
    *,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Exposition:
    """Parse one /metrics body.

    The format comes from ``content_type`` (``application/openmetrics-text`` is OpenMetrics,
    anything else text 0.0.4); without one, a body whose last line is ``# EOF`` is
    OpenMetrics.

    Raises:
        BodyTooLarge: the body is over ``max_bytes``.
        MalformedExposition: a line breaks the format; the message names the line.
        TruncatedExposition: the body ends mid-line, lacks OpenMetrics' ``# EOF``, or ends
            inside a histogram.
    """
    text = _decode(body, max_bytes)
    if content_type is not None:
        openmetrics = content_type.strip().lower().startswith("application/openmetrics-text")
    else:
        stripped = text.rstrip("\n")
        openmetrics = stripped == "# EOF" or stripped.endswith("\n# EOF")
    if "\x00" in text:
        raise MalformedExposition("body contains NUL bytes: not a metrics page")
    if "\r" in text:
        raise MalformedExposition("body has CR characters (CRLF line ends): not allowed")

    parser = _Parser(openmetrics)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    elif not openmetrics:
        raise TruncatedExposition(
            f"body ends mid-line ({lines[-1][:60]!r}): the response was cut short"
        )
    eof_at = None
    # The hot loop: locals instead of attribute lookups, one regex per canonical line, and
    # samples built with tuple.__new__ (a NamedTuple's own __new__ is Python code).
    fast = _FAST_SAMPLE.match
    pair_list = _PAIR_LIST.match
    findall = _PAIRS.findall
    owners = parser.family_for_sample
    owner = parser.owner
    slow = parser.slow_sample
    label_cache = parser.label_cache
    new = tuple.__new__
    family: MetricFamily | None = None
    lineno = 0
    for line in lines:
        lineno += 1
        if not line:
            if openmetrics:
                raise MalformedExposition("empty line (not allowed in OpenMetrics)", lineno)
            continue
        if line[0] == "#":
            if parser.comment(line, lineno):
                eof_at = lineno
                break
            continue
        m = fast(line)
        if m is None:
            slow(line, lineno)
            family = parser.last_family
            continue
        name, block, vtext, ttext = m.groups()
        if block:
            labels = label_cache.get(block)
            if labels is None:
                if pair_list(block) is None:
                    slow(line, lineno)
                    family = parser.last_family
                    continue
                pairs = findall(block)
                labels = dict(pairs)
                if len(labels) != len(pairs) or "\\" in block:
                    labels = _labels(block, lineno)
                label_cache[block] = labels
        else:
            labels = _NO_LABELS
        # _value() inlined for the common case; it runs (and raises) only for odd tokens.
        if "_" in vtext or not vtext.isascii():
            _value(vtext, lineno)
        try:
            value = float(vtext)
        except ValueError:
            value = _value(vtext, lineno)
        if value != value:
            value = _value(vtext, lineno)
        family = owners.get(name) or owner(name, lineno)
        family.samples.append(
            new(
                Sample,
                (name, labels, value, parser.timestamp(ttext, lineno) if ttext else None, None),
            )
        )
    if eof_at is not None and eof_at < len(lines):
        raise MalformedExposition("content after '# EOF'", eof_at + 1)
    if openmetrics and eof_at is None:
        raise TruncatedExposition("OpenMetrics body without '# EOF': the response was cut short")
    _check_histograms(parser.families, family)
    return Exposition("openmetrics" if openmetrics else "text", parser.families)
