"""``llmobs exporter``: scrape engine pods and export role-level SLO signals for Prometheus.

The command owns the process: SIGTERM stops it as Ctrl-C does, and it tunes the garbage
collector for the scrape loops once the exporter listens. The exporter's modules (aiohttp,
prometheus_client, the Kubernetes client) are imported when the command runs, not when
``llmobs --help`` builds the command list.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from llmobs import exitcodes
from llmobs.cli.kube_options import kube_section, pod_watch_options, wants_pod_watch
from llmobs.cli.params import Finite
from llmobs.errors import ConfigError

if TYPE_CHECKING:
    from llmobs.exporter.config import ExporterConfig

# Every scrape parses tens of thousands of short-lived objects, few of them cyclic: a higher
# first GC threshold and the start-up heap frozen out of collections cut the CPU per scrape
# by about a quarter (benchmarks/exporter_scale.py).
GC_THRESHOLD = 100_000


def tune_gc() -> None:
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, 50, 1000)


# Flags that, when given, override the same key of the config file.
SCRAPE_FLAGS = ("interval_s", "timeout_s", "jitter", "window_s", "concurrency", "host", "port")


def merge(options: dict[str, Any], config_path: Path | None) -> ExporterConfig:
    """The config file (if any) with the command line on top. Raises ConfigError."""
    from llmobs.exporter import config as cfg

    data: dict[str, Any] = dict(cfg.load(config_path)) if config_path is not None else {}
    flagged = [cfg.parse_target_flag(t) for t in options["target"]]
    if flagged and isinstance(data.get("targets") or [], list):  # else validation says why
        data["targets"] = list(data.get("targets") or []) + flagged
    for key in SCRAPE_FLAGS:
        if options.get(key) is not None:
            data[key] = options[key]
    if wants_pod_watch(options) and isinstance(data.get("kubernetes") or {}, dict):
        data["kubernetes"] = kube_section(options, data.get("kubernetes"))
    source = f"exporter configuration{f' ({config_path})' if config_path else ''}"
    return cfg.build(data, source)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML config (see exporters/examples/); flags override its keys.",
)
@click.option(
    "--target",
    multiple=True,
    metavar="URL[,role=R][,model=M][,engine=E]...",
    help="A static target, repeatable: the engine's /metrics URL or HOST:PORT, with "
    "optional role (prefill, decode, both), model, engine, namespace, group, pod, "
    "bearer_token_file; each key once. A user:password@ in the URL is used for the "
    "request and never shown.",
)
@pod_watch_options
@click.option(
    "--interval",
    "interval_s",
    type=Finite(),
    default=None,
    help="Seconds between scrapes of a target [5].",
)
@click.option(
    "--timeout",
    "timeout_s",
    type=Finite(),
    default=None,
    help="Per-scrape timeout in seconds [0.8 x interval].",
)
@click.option(
    "--jitter", type=Finite(), default=None, help="Fraction by which each interval varies [0.1]."
)
@click.option(
    "--window", "window_s", type=Finite(), default=None, help="Role signal window in seconds [60]."
)
@click.option("--concurrency", type=int, default=None, help="Scrapes in flight at most [64].")
@click.option("--host", default=None, help="Listen address [0.0.0.0].")
@click.option("--port", type=int, default=None, help="Listen port [9400]; 0 picks a free one.")
def exporter(config_path: Path | None, **options: Any) -> None:
    """Scrape vLLM/SGLang/Dynamo pods and export canonical per-target and per-role signals.

    \b
    Examples:
      llmobs exporter --target http://127.0.0.1:8000
      llmobs exporter --target 10.0.0.5:8000,role=prefill --target 10.0.0.6:8000,role=decode
      llmobs exporter --namespace llm --selector app=vllm
      llmobs exporter --config exporters/examples/rbg-pd.yaml
    """
    from llmobs.exporter.service import serve

    try:
        config = merge(options, config_path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None

    def ready(host: str, port: int) -> None:
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        what = [f"{len(config.targets)} static target(s)"] if config.targets else []
        if config.kubernetes is not None:
            spaces = ", ".join(config.kubernetes.namespaces) or "all namespaces"
            what.append(f"pods in {spaces}")
        click.echo(
            f"llmobs exporter on http://{shown}:{port}/metrics (roles: /v1/roles, targets: "
            f"/v1/targets), scraping {' and '.join(what)} every {config.interval_s:g}s"
        )
        tune_gc()

    signal.signal(signal.SIGTERM, _terminate)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(config, ready))
    except ConfigError as exc:  # a secret file, two targets as one, a port in use
        click.echo(f"error: {exc}", err=True)
        sys.exit(exitcodes.USAGE)
    click.echo("stopped")  # a service stopped on purpose (SIGTERM, Ctrl-C) exits 0
