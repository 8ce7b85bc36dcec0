"""``llmobs scrape``: the canonical signals of one or more engine /metrics URLs, now.

The HTTP client (aiohttp) is imported when the command runs, not for ``llmobs --help``.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from llmobs import exitcodes, strictjson
from llmobs.cli.params import POSITIVE
from llmobs.engines import BY_ENGINE
from llmobs.errors import ConfigError
from llmobs.exposition.parser import DEFAULT_MAX_BYTES
from llmobs.interrupts import noted, terminate_as_interrupt

if TYPE_CHECKING:
    from llmobs.scrape.fetch import ScrapeResult

DEFAULT_TIMEOUT_S = 10.0  # the command's own default, always passed to the fetcher


@click.command()
@click.argument("urls", nargs=-1, required=True, metavar="URL [URL ...]")
@click.option(
    "--window",
    type=POSITIVE,
    default=None,
    metavar="SECONDS",
    help="Scrape twice, SECONDS apart: rates and quantiles over that window. "
    "Without it, histograms are cumulative since the engine started.",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option(
    "--engine",
    type=click.Choice(sorted(BY_ENGINE)),
    default=None,
    help="Read every target as this engine instead of detecting it.",
)
@click.option(
    "--timeout",
    type=POSITIVE,
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    metavar="SECONDS",
    help="Per-target timeout of one scrape.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Refuse bodies larger than this.",
)
def scrape(
    urls: tuple[str, ...],
    window: float | None,
    as_json: bool,
    engine: str | None,
    timeout: float,
    max_bytes: int,
) -> None:
    """Scrape engine /metrics URLs and print each target's engine and canonical signals.

    A URL may be HOST:PORT (then http://HOST:PORT/metrics is used); a password in it
    (http://USER:PASSWORD@HOST/metrics) is sent as basic auth and shown as <secret>. Exit
    status 1 when any target is down or unreadable; the others still print.
    """
    from llmobs.scrape.fetch import normalize_url, scrape_all

    try:
        targets = [normalize_url(u) for u in urls]
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None

    def round_() -> list[ScrapeResult]:
        return asyncio.run(scrape_all(targets, timeout_s=timeout, max_bytes=max_bytes))

    with terminate_as_interrupt():
        _scrape(targets, round_, window, as_json, engine)


def _scrape(
    targets: list[str],
    round_: Callable[[], list[ScrapeResult]],
    window: float | None,
    as_json: bool,
    engine: str | None,
) -> None:
    from llmobs.scrape.report import build, to_json, to_table

    try:
        first = round_()
    except KeyboardInterrupt:
        noted()
        click.echo("interrupted before the targets answered: nothing was measured", err=True)
        sys.exit(exitcodes.INTERRUPTED)
    second: list[ScrapeResult | None] = [None] * len(targets)
    interrupted = False
    if window is not None:
        try:  # from here on, Ctrl-C still prints what the first scrape measured
            click.echo(
                f"scraped {len(targets)} target(s); scraping again in {window:g}s "
                "(Ctrl-C prints what was measured so far)",
                err=True,
            )
            time.sleep(window)
            second = list(round_())
        except KeyboardInterrupt:
            noted()
            interrupted = True
    reports = [build([a, b], engine) for a, b in zip(first, second, strict=True)]
    if as_json:
        payload = to_json(reports)
        if interrupted:
            payload["interrupted"] = True
        click.echo(strictjson.dumps(payload, indent=2))
    else:
        click.echo(to_table(reports))
        if interrupted:
            click.echo("\ninterrupted before the window closed: values are cumulative", err=True)
    if interrupted:
        sys.exit(exitcodes.INTERRUPTED)
    if any(r.error is not None for r in reports):
        sys.exit(exitcodes.FAILURE)
