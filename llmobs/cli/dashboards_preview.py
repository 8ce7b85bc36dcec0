"""``llmobs dashboards preview``: every board's panels as a PNG, from a real Prometheus.

matplotlib and the boards are imported when the command runs, not for ``llmobs --help``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from llmobs import exitcodes
from llmobs.cli.params import POSITIVE
from llmobs.dashboards.preview_format import DEFAULT_DURATION_S, SCRAPE_INTERVAL_S
from llmobs.errors import ConfigError, LlmobsError
from llmobs.interrupts import noted, terminate_as_interrupt
from llmobs.secrets import Redactor, display_url, url_credentials


def _shown(text: str, url: str) -> str:
    """``text`` with ``url``'s password, wherever it appears, as ``<secret>``."""
    credentials = url_credentials(url)
    redactor = Redactor(credentials.secrets if credentials is not None else ())
    return redactor.text(text.replace(url, display_url(url)))


@click.command()
@click.option(
    "--prometheus",
    "prometheus_url",
    required=True,
    metavar="URL",
    help="The Prometheus to query, e.g. http://127.0.0.1:9090.",
)
@click.option(
    "--duration",
    type=POSITIVE,
    default=DEFAULT_DURATION_S,
    show_default=True,
    metavar="SECONDS",
    help="The time range drawn: the last SECONDS.",
)
@click.option(
    "--var",
    "var_items",
    multiple=True,
    metavar="NAME=VALUE",
    help="A template variable's value (repeat a name for several values of a multi-value "
    "variable; VALUE All for all). Unset variables keep the board's own selection.",
)
@click.option(
    "--scrape-interval",
    type=POSITIVE,
    default=SCRAPE_INTERVAL_S,
    show_default=True,
    metavar="SECONDS",
    help="Prometheus's scrape interval, as Grafana's data source is told it "
    "($__rate_interval is at least four of them).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    metavar="DIR",
    help="Where the PNGs go (one per board, named as the board's JSON file).",
)
def preview(
    prometheus_url: str,
    duration: float,
    var_items: tuple[str, ...],
    scrape_interval: float,
    out: Path,
) -> None:
    """Draw each board as a PNG from what Prometheus answers (no Grafana needed).

    Every panel is laid out on its board's grid and drawn from its queries' results, with
    the template variables substituted as Grafana does.

    \b
    Examples:
      llmobs dashboards preview --prometheus http://127.0.0.1:9090 --out previews
      llmobs dashboards preview --prometheus http://prom:9090 --duration 3600 \\
          --var namespace=llm --var role=prefill --var role=decode --out previews

    Exit status 1 when Prometheus cannot be reached (nothing is written) or refuses a
    query (every PNG is still written, the failed panels say why); 2 for a bad --var; 130
    on Ctrl-C or SIGTERM (each PNG is whole or absent).
    """
    from llmobs.dashboards import boards
    from llmobs.dashboards.preview import render_all
    from llmobs.dashboards.preview_format import parse_variables

    every = boards()
    try:
        chosen = parse_variables(var_items, every)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        with terminate_as_interrupt():
            previews = render_all(
                prometheus_url,
                out,
                variables=chosen,
                duration=duration,
                boards=every,
                scrape_interval=scrape_interval,
            )
    except KeyboardInterrupt:
        noted()
        click.echo("interrupted: the boards drawn before it are in --out", err=True)
        sys.exit(exitcodes.INTERRUPTED)
    except ConfigError as exc:
        click.echo(f"error: {_shown(str(exc), prometheus_url)}", err=True)
        sys.exit(exitcodes.USAGE)
    except LlmobsError as exc:
        click.echo(f"error: {_shown(str(exc), prometheus_url)}", err=True)
        sys.exit(exitcodes.FAILURE)
    except OSError as exc:  # the output folder cannot be written
        click.echo(f"error: cannot write the previews to {out}: {exc.strerror or exc}", err=True)
        sys.exit(exitcodes.FAILURE)
    failed = 0
    for shown in previews:
        note = f"  ({shown.empty} of {len(shown.results)} queries returned no data)"
        click.echo(f"{shown.path}{note if shown.empty else ''}")
        for error in shown.errors:
            click.echo(f"error: {shown.board}: {_shown(error, prometheus_url)}", err=True)
        failed += len(shown.errors)
    if failed:
        click.echo(
            f"error: {display_url(prometheus_url)} refused {failed} queries; their panels say why",
            err=True,
        )
        sys.exit(exitcodes.FAILURE)
