"""Parse speed: llmobs's exposition parser against prometheus_client's, side by side.

Both parse the same body to metric families with every sample (name, labels, value) and
are checked to agree before anything is timed. Runs alternate between the two parsers so
that machine noise hits both alike; the ratio of medians is the result. Beside them, the
selective parse the exporter uses (only the samples the engine catalogs read,
``llmobs.engines.WANTED``), checked to read the same canonical signals as the full one. The
parser remembers label blocks across bodies (``lines.KNOWN_BLOCKS``), as a scraper sees the
same body again; "not seen before" clears that memory before each parse (a first scrape).
"Shaped as the last body" is the exporter's parse of a target's next body
(``parse(..., like=shape)``, ``llmobs.exposition.shapes``): here the same body again.

    .venv/bin/python benchmarks/parse_speed.py [BODY ...]

Without arguments it uses the real vLLM 0.32.0 capture and the SGLang and Dynamo fixtures.
Results go to stdout as a Markdown table (recorded in docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from llmobs.engines import WANTED, snapshot
from llmobs.exposition.lines import forget_blocks
from llmobs.exposition.model import NO_SHAPE
from llmobs.exposition.parser import parse

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "expositions"
DEFAULT_BODIES = ("vllm-0.32.0.txt", "sglang-0.5.23-dp2-priority.txt", "dynamo-frontend.txt")


def _samples_ours(body: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), s.value)
        for f in parse(body).families.values()
        for s in f.samples
    )


def _samples_reference(body: str) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return sorted(
        (s.name, tuple(sorted(s.labels.items())), float(s.value))
        for f in text_string_to_metric_families(body)
        for s in f.samples
    )


def _cold(body: str) -> None:
    """A parse with the label blocks forgotten first: a body the process never saw."""
    forget_blocks()
    parse(body)


def _time(fn: Callable[[], object], inner: int) -> float:
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def measure(body: str, rounds: int, inner: int) -> dict[str, float]:
    if _samples_ours(body) != _samples_reference(body):
        raise SystemExit("the two parsers disagree on this body: not comparable")
    if snapshot(parse(body, wanted=WANTED)) != snapshot(parse(body)):
        raise SystemExit("the selective parse reads other signals than the full one")
    ours: list[float] = []
    cold: list[float] = []
    reference: list[float] = []
    full: list[float] = []
    selective: list[float] = []
    selective_full: list[float] = []
    shaped: list[float] = []
    shape = parse(body, wanted=WANTED, like=NO_SHAPE).shape
    if snapshot(parse(body, wanted=WANTED, like=shape)) != snapshot(parse(body)):
        raise SystemExit("the parse against a shape reads other signals than the full one")
    for _ in range(rounds):
        ours.append(_time(lambda: parse(body), inner))
        cold.append(_time(lambda: _cold(body), inner))
        reference.append(_time(lambda: list(text_string_to_metric_families(body)), inner))
        full.append(_time(lambda: snapshot(parse(body)), inner))
        selective.append(_time(lambda: parse(body, wanted=WANTED), inner))
        selective_full.append(_time(lambda: snapshot(parse(body, wanted=WANTED)), inner))
        shaped.append(_time(lambda: parse(body, wanted=WANTED, like=shape), inner))
    return {
        "ours_ms": statistics.median(ours) * 1e3,
        "reference_ms": statistics.median(reference) * 1e3,
        "ours_plus_catalog_ms": statistics.median(full) * 1e3,
        "selective_ms": statistics.median(selective) * 1e3,
        "selective_plus_catalog_ms": statistics.median(selective_full) * 1e3,
        "shaped_ms": statistics.median(shaped) * 1e3,
        "ratio": statistics.median(reference) / statistics.median(ours),
        "ratio_best": min(reference) / min(ours),
        "cold_ms": statistics.median(cold) * 1e3,
        "ratio_cold": statistics.median(reference) / statistics.median(cold),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bodies", nargs="*", type=Path, help="exposition files to parse")
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds per parser")
    parser.add_argument("--inner", type=int, default=40, help="parses per round")
    args = parser.parse_args()
    paths = args.bodies or [FIXTURES / name for name in DEFAULT_BODIES]
    print(
        f"python {platform.python_version()} on {platform.machine()}, "
        f"{args.rounds} rounds x {args.inner} parses, medians\n"
    )
    print(
        "| body | lines | samples | prometheus_client | llmobs | speed-up (medians) "
        "| speed-up (best rounds) | llmobs, label blocks not seen before | speed-up then "
        "| llmobs parse + engine catalog | selective parse | selective parse + engine catalog "
        "| selective, shaped as the last body |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in paths:
        body = path.read_text()
        samples = sum(len(f.samples) for f in parse(body).families.values())
        r = measure(body, args.rounds, args.inner)
        print(
            f"| {path.name} | {body.count(chr(10))} | {samples} | {r['reference_ms']:.2f} ms "
            f"| {r['ours_ms']:.2f} ms | **{r['ratio']:.1f}x** | {r['ratio_best']:.1f}x "
            f"| {r['cold_ms']:.2f} ms | {r['ratio_cold']:.1f}x "
            f"| {r['ours_plus_catalog_ms']:.2f} ms | {r['selective_ms']:.2f} ms "
            f"| {r['selective_plus_catalog_ms']:.2f} ms | {r['shaped_ms']:.2f} ms |"
        )
    sys.stdout.flush()


if __name__ == "__main__":
    main()
