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
once and remembered across bodies (``lines.plain_labels``: the same blocks recur at every
scrape; its dict shared, so ``Sample.labels`` is read-only), samples built without
Python-level constructors. A selective parse (``wanted``: the sample names an engine catalog
reads, ``llmobs.engines.WANTED``) builds only those samples and checks the other lines for
their shape only: most of a vLLM body is skipped at a fraction of the cost. Pure: no I/O.
"""

from __future__ import annotations

from llmobs.errors import BodyTooLarge, MalformedExposition, TruncatedExposition
from llmobs.exposition.lines import (
    BUCKETS,
    FAST_SAMPLE,
    KNOWN_BLOCKS,
    METRIC_NAME,
    NO_LABELS,
    OWNER_SUFFIXES,
    PAIR_LIST,
    LineParser,
    bucket,
    plain_labels,
    read_labels,
    read_value,
)
from llmobs.exposition.model import (
    NO_SHAPE,
    TYPE_SUFFIXES,
    Exposition,
    MetricFamily,
    Sample,
    Shape,
)
from llmobs.exposition.shapes import outline, read_like, remember

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


def check_histograms(families: dict[str, MetricFamily], last: MetricFamily | None) -> None:
    """Every histogram series needs its ``+Inf`` bucket; a series without one at the end of
    the body means the body was cut, elsewhere that the exposition is wrong."""
    memo = BUCKETS  # each bucket label set read once (``lines.bucket``)
    inf = float("inf")
    for family in families.values():
        if family.type not in ("histogram", "gaugehistogram"):
            continue
        bucket_name = family.name + "_bucket"
        series: dict[tuple[tuple[str, str], ...], bool] = {}
        for sample in family.samples:
            if sample.name != bucket_name:
                continue
            labels = sample.labels
            known = memo.get(id(labels))
            if known is None or known[0] is not labels:
                known = bucket(labels, bucket_name)
            key = known[1]
            is_inf = known[2] == inf
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
    wanted: frozenset[str] | None = None,
    like: Shape | None = None,
) -> Exposition:
    """Parse one /metrics body.

    The format comes from ``content_type`` (``application/openmetrics-text`` is OpenMetrics,
    anything else text 0.0.4); without one, a body whose last line is ``# EOF`` is
    OpenMetrics.

    ``wanted`` (exposed sample names, e.g. ``x_total``, ``y_bucket``) makes the parse
    selective: only wanted samples are kept and only the families that can hold them are
    built; the others' names go to ``Exposition.skipped``. Declarations are checked as in a
    full parse. A line of a skipped family is checked for its shape only: a sample name that
    family owns, or else any valid name (then also a numeric value), and one or two blanks
    after the label block with a token after the last; not what its label block, value or
    timestamp hold, nor a skipped
    histogram for its ``+Inf`` bucket (nothing reads them). So a page that is not an
    exposition, or a body cut short (also inside a skipped histogram), fails as in a full
    parse; a bad label or value in a family nothing reads does not. None (the default) keeps
    and checks everything.

    ``like`` (a selective parse of a text-format body): the ``Exposition.shape`` of the
    same target's last body (``model.NO_SHAPE`` before its first). A body shaped as that one
    is read by its wanted values only (``shapes``); the result carries this body's shape
    (``NO_SHAPE`` when it has none to remember: a kept sample with a timestamp).

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

    parser = LineParser(openmetrics, wanted)
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    elif not openmetrics:
        raise TruncatedExposition(
            f"body ends mid-line ({lines[-1][:60]!r}): the response was cut short"
        )
    rows: list[tuple[int, MetricFamily]] | None = None  # (line index, family) of kept samples
    lined: tuple[str, ...] = ()
    if like is not None and wanted is not None and not openmetrics:
        lined = outline(lines)
        if lined == like.outline and wanted == like.wanted:
            known = read_like(like, lines)
            if known is not None:
                return known
        rows = []
    eof_at = None
    # The hot loop: locals instead of attribute lookups, one regex per canonical line, and
    # samples built with tuple.__new__ (a NamedTuple's own __new__ is Python code).
    fast = FAST_SAMPLE.match
    pair_list = PAIR_LIST.match
    owners = parser.family_for_sample
    owner = parser.owner
    slow = parser.slow_sample
    known_blocks = KNOWN_BLOCKS
    new = tuple.__new__
    skim = parser.skim
    keep = wanted
    wanted_names = wanted if wanted is not None else frozenset()
    seen: set[str] = set()  # skipped sample names already checked
    family: MetricFamily | None = None
    # Selective parses: the last sample line's name when it was not kept, the sample names
    # the family declared last owns, and the skipped names it does not (resolved at the end).
    skipped_last: str | None = None
    owns: tuple[str, ...] = ()
    starts: tuple[str, ...] = ()
    stray: set[str] = set()
    # The last line skipped in one step and the starts it matched (its name is found at the end).
    skipped_line, skipped_starts = "", starts
    lineno = 0
    for line in lines:
        lineno += 1
        if not line:
            if openmetrics:
                raise MalformedExposition("empty line (not allowed in OpenMetrics)", lineno)
            continue
        if line[0] == "#":
            if (keep is None or not skim(line, lineno)) and parser.comment(line, lineno):
                eof_at = lineno
                break
            owns = parser.declared_owns
            starts = parser.declared_starts
            continue
        if owns and line.startswith(starts):
            # A sample of the skipped family declared last, in one step: its name, one or
            # two blanks after the label block, something after them (its value is never
            # read: what it is is not checked).
            if line[-1] == " " or not 0 < line.count(" ", line.rfind("}") + 1) < 3:
                slow(line, lineno)  # raises, or reads an odd but valid line
            skipped_last = skipped_line = line
            skipped_starts = starts
            continue
        if owns:
            # In the block of a family not built (selective parses): a line is checked for
            # its shape (a valid name, once per name; one space before the value and the
            # optional timestamp) and a numeric value, without the full match: most lines of
            # a vLLM body. Anything unusual takes the exact slow path.
            brace = line.find("{")
            if brace > 0:
                name = line[:brace]
                tail = line[line.rfind("}") + 1 :]
            else:
                space = line.find(" ")
                name = line[:space]
                tail = line[space:]
            if name not in wanted_names:
                if name not in seen:
                    if METRIC_NAME.match(name) is None:
                        slow(line, lineno)  # raises, naming the fault
                    seen.add(name)
                    if name not in owns:
                        stray.add(name)
                parts = tail.split(" ")
                try:
                    if parts[0] or not 1 < len(parts) < 4:
                        raise ValueError
                    float(parts[1])
                except ValueError:
                    slow(line, lineno)
                skipped_last = name
                continue
        m = fast(line)
        if m is None:
            name, family = slow(line, lineno)
            if family is None:
                stray.add(name)
            elif rows is not None:
                rows.append((lineno - 1, family))
            skipped_last = name if family is None else None
            continue
        name, block, vtext, ttext = m.groups()
        if keep is not None and name not in keep:  # not wanted, outside a skipped block
            try:
                if "_" in vtext:
                    raise ValueError
                float(vtext)
            except ValueError:
                name = slow(line, lineno)[0]  # raises, or reads an odd but valid line
            stray.add(name)
            skipped_last = name
            continue
        if block:
            labels = known_blocks.get(block)
            if labels is None:
                labels = plain_labels(block)
                if labels is None:
                    if pair_list(block) is None:
                        name, family = slow(line, lineno)
                        skipped_last = None  # only wanted samples get here
                        if rows is not None and family is not None:
                            rows.append((lineno - 1, family))
                        continue
                    labels = read_labels(block, lineno)  # escapes, or a name twice (raises)
        else:
            labels = NO_LABELS
        # read_value() inlined for the common case; it runs (and raises) only for odd tokens.
        if "_" in vtext or not vtext.isascii():
            read_value(vtext, lineno)
        try:
            value = float(vtext)
        except ValueError:
            value = read_value(vtext, lineno)
        if value != value:
            value = read_value(vtext, lineno)
        family = owners.get(name) or owner(name, lineno)
        skipped_last = None
        family.samples.append(
            new(
                Sample,
                (name, labels, value, parser.timestamp(ttext, lineno) if ttext else None, None),
            )
        )
        if rows is not None:
            rows.append((lineno - 1, family))
    if eof_at is not None and eof_at < len(lines):
        raise MalformedExposition("content after '# EOF'", eof_at + 1)
    if openmetrics and eof_at is None:
        raise TruncatedExposition("OpenMetrics body without '# EOF': the response was cut short")
    fmt = "openmetrics" if openmetrics else "text"
    if keep is None:
        check_histograms(parser.families, family)
        return Exposition(fmt, parser.families)
    types = dict(parser.skipped)
    types.update((name, f.type) for name, f in parser.families.items())
    if skipped_last is not None:
        if skipped_last is skipped_line:
            skipped_last = next(s for s in skipped_starts if skipped_line.startswith(s))[:-1]
        _check_skipped_end(text, content_type, keep, skipped_last, types)
    check_histograms(parser.families, None if skipped_last is not None else family)
    skipped = set(parser.skipped)
    skipped.update(name for name in stray if _declared_owner(name, types) is None)
    done = frozenset(skipped)
    shape = None if rows is None else remember(lined, keep, parser.families, rows, done) or NO_SHAPE
    return Exposition(fmt, parser.families, done, shape=shape)


def _declared_owner(sample_name: str, types: dict[str, str]) -> str | None:
    """The declared family (name -> type) that holds ``sample_name``, if one does."""
    kind = types.get(sample_name)
    if kind is not None and "" in TYPE_SUFFIXES[kind]:
        return sample_name
    for suffix in OWNER_SUFFIXES:
        if sample_name.endswith(suffix):
            base = sample_name[: -len(suffix)]
            kind = types.get(base)
            if kind is not None and suffix in TYPE_SUFFIXES[kind]:
                return base
    return None


def _check_skipped_end(
    text: str, content_type: str | None, keep: frozenset[str], last: str, types: dict[str, str]
) -> None:
    """A selective parse whose body ends in a skipped histogram reads that family too, so
    that a body cut inside it fails as it would in a full parse (rare: once per such body)."""
    owner = _declared_owner(last, types)
    kind = types.get(owner) if owner is not None else None
    if owner is not None and kind in ("histogram", "gaugehistogram"):
        own = frozenset(owner + suffix for suffix in TYPE_SUFFIXES[kind])
        parse(text, content_type=content_type, max_bytes=len(text) + 1, wanted=keep | own)
