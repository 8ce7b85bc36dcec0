"""``llmobs autoscaler``: size prefill by TTFT and decode by TPOT/ITL, separately, and set
the replicas (direct) or answer KEDA.

The config file (``autoscaler/README.md``) or, for a quick start, the same fields as flags;
flags override the file. The autoscaler's modules (the policy, aiohttp, grpc, the Kubernetes
client) are imported when the command runs, not when ``llmobs --help`` lists it. A config
error stops the start with one line (exit 2); SIGTERM stops it as Ctrl-C does (exit 0).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from llmobs import exitcodes
from llmobs.cli.kube_options import kube_section, pod_watch_options, wants_pod_watch
from llmobs.errors import ConfigError, LlmobsError
from llmobs.interrupts import terminate_as_interrupt

if TYPE_CHECKING:
    from llmobs.autoscaler.app import Settings


def _pair(text: str, flag: str, example: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ConfigError(f"{flag} {text!r}: expected {example}")
    return key.strip(), value.strip()


def parse_slo(text: str) -> tuple[str, str, str, str]:
    """``prefill:ttft_p90=1s`` -> (role, signal, percentile, duration); the values are checked
    by the policy's config."""
    role, sep, rest = text.partition(":")
    name, duration = _pair(rest, "--slo", "ROLE:SIGNAL_PNN=DURATION, e.g. prefill:ttft_p90=1s")
    signal_name, _, percentile = name.rpartition("_")
    if not sep or not role.strip() or not signal_name or not percentile:
        raise ConfigError(
            f"--slo {text!r}: expected ROLE:SIGNAL_PNN=DURATION, e.g. prefill:ttft_p90=1s"
        )
    return role.strip(), signal_name, percentile, duration


def parse_bound(text: str, flag: str) -> tuple[str, int]:
    """``prefill=2`` -> (role, 2)."""
    role, value = _pair(text, flag, "ROLE=N, e.g. prefill=1")
    try:
        count = int(value)
    except ValueError:
        raise ConfigError(f"{flag} {text!r}: {value!r} is not a whole number") from None
    return role, count


def _section(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    section = dict(value) if isinstance(value, dict) else {}
    data[key] = section
    return section


def _scrape(data: dict[str, Any], targets: list[dict[str, Any]], options: dict[str, Any]) -> None:
    """Put ``--target``s, ``--http-sd`` and the pod-watch flags into the file's scrape source
    (its targets kept, its ``http_sd`` URL and ``kubernetes`` keys replaced), or make them the
    source in place of the file's."""
    http_sd = options["http_sd"]
    watch = wants_pod_watch(options)
    if not targets and http_sd is None and not watch:
        return
    source = data.get("source")
    if not (isinstance(source, dict) and source.get("kind") == "scrape"):
        source = {"kind": "scrape"}
    source = dict(source)
    if targets:
        source["targets"] = list(source.get("targets") or []) + targets
    if http_sd is not None:
        found = source.get("http_sd")
        source["http_sd"] = {**(found if isinstance(found, dict) else {}), "url": http_sd}
    if watch:
        source["kubernetes"] = kube_section(options, source.get("kubernetes"))
    data["source"] = source


def check_roles(settings: Settings) -> None:
    """Stop the start (ConfigError) when the policy sizes a role no static target has: it
    would hold on missing data forever. Only static targets name their roles at start; with a
    discovery (``http_sd``, the pod watch) or a source that reads an exporter or Prometheus,
    the roles are known once observed, so those are not checked here."""
    source = settings.source
    if source.kind != "scrape" or source.http_sd is not None or source.kubernetes is not None:
        return
    known = {target.role for target in source.targets}
    missing = [name for name in settings.policy.roles if name not in known]
    if missing:
        names = ", ".join(missing)
        raise ConfigError(
            f"role(s) {names} not found: no target has them (the targets' roles: "
            f"{', '.join(sorted(known))}); add --target URL,role=ROLE for each, or remove "
            "their --slo/--min/--max (policy.roles in the config file)"
        )


def merge(options: dict[str, Any], config_path: Path | None) -> Settings:
    """The config file (if any) with the flags on top: a ``Settings``. Raises ConfigError."""
    from llmobs.autoscaler import app
    from llmobs.config import read_yaml, validate
    from llmobs.exporter.config import parse_target_flag

    data: dict[str, Any] = dict(read_yaml(config_path, "autoscaler config")) if config_path else {}
    policy = _section(data, "policy")
    roles = _section(policy, "roles")

    def role(name: str) -> dict[str, Any]:
        found = roles.get(name)
        roles[name] = dict(found) if isinstance(found, dict) else {}
        return dict(roles[name])

    for text in options["slo"]:
        name, signal_name, percentile, duration = parse_slo(text)
        settings = role(name)
        slo = dict(settings.get("slo") or {})
        slo[signal_name] = {**dict(slo.get(signal_name) or {}), percentile: duration}
        roles[name] = {**settings, "slo": slo}
    for flag, option, key in (
        ("--min", "mins", "min_replicas"),
        ("--max", "maxes", "max_replicas"),
    ):
        for text in options[option]:
            name, count = parse_bound(text, flag)
            roles[name] = {**role(name), key: count}
    targets = [parse_target_flag(t) for t in options["target"]]
    for target in targets:
        if "role" in target and target["role"] not in roles:
            roles[target["role"]] = {}
    _scrape(data, targets, options)
    if options["scale_url"] is not None:
        _section(data, "output")["api_url"] = options["scale_url"]
    if options["port"] is not None:
        _section(data, "http")["port"] = options["port"]
    if options["grpc_port"] is not None:
        _section(data, "grpc")["port"] = options["grpc_port"]
    if options["capacity_from"] is not None:
        _section(data, "capacity_from")["file"] = str(options["capacity_from"])
    if options["sweep_isl"] is not None:
        _section(data, "capacity_from")["prompt_tokens"] = options["sweep_isl"]
    if not roles:
        del policy["roles"]  # validation says what is missing
    where = f"autoscaler configuration{f' ({config_path})' if config_path else ''}"
    built = app.with_capacity(validate(app.Settings, data, where))
    check_roles(built)
    return built


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    default=None,
    help="YAML config (autoscaler/README.md, autoscaler/examples/); flags override its keys.",
)
@click.option("--dry-run", is_flag=True, help="Decide and report everything; change nothing.")
@click.option(
    "--target",
    multiple=True,
    metavar="URL,role=R[,group=G]...",
    help="An engine to scrape in this process, repeatable (as llmobs exporter --target).",
)
@click.option(
    "--http-sd",
    default=None,
    metavar="URL",
    help="Scrape in this process the engines a Prometheus http_sd_configs endpoint lists, "
    "e.g. the emulator's http://127.0.0.1:8000/sim/targets; with or instead of --target. As "
    "the config file's source {kind: scrape, http_sd: {url: URL}}: the list is read every "
    "60 s unless the file's http_sd.refresh_interval_s says otherwise.",
)
@pod_watch_options
@click.option(
    "--slo",
    multiple=True,
    metavar="ROLE:SIGNAL_PNN=DURATION",
    help="An SLO, repeatable: prefill:ttft_p90=1s, decode:tpot_p90=50ms (ttft, itl, tpot, "
    "e2e, queue).",
)
@click.option("--min", "mins", multiple=True, metavar="ROLE=N", help="Fewest replicas of a role.")
@click.option("--max", "maxes", multiple=True, metavar="ROLE=N", help="Most replicas of a role.")
@click.option(
    "--scale-url",
    default=None,
    help="API server or the emulator's proxy whose scale subresource sets the replicas "
    "(each role's Deployment unless the config names another kind).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="HTTP port (/metrics, /v1/decisions, /healthz) [9401]; 0 picks a free one.",
)
@click.option(
    "--grpc-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Serve the KEDA external scaler (gRPC) on this port [9402 in the config].",
)
@click.option(
    "--capacity-from",
    type=click.Path(path_type=Path),
    default=None,
    help="Seed each role's per-replica capacity from an llmbench sweep.json measured on one "
    "replica (a role's own capacity is kept).",
)
@click.option(
    "--sweep-isl",
    type=click.IntRange(min=1),
    default=None,
    help="The sweep's prompt length (--isl), needed to seed prefill.",
)
def autoscaler(config_path: Path | None, dry_run: bool, **options: Any) -> None:
    """Size prefill by its TTFT SLO and decode by TPOT/ITL, separately, within a GPU budget.

    \b
    Examples:
      llmobs autoscaler --config autoscaler/examples/emulator.yaml --dry-run
      llmobs autoscaler --target http://127.0.0.1:8001,role=prefill \\
        --target http://127.0.0.1:8002,role=decode \\
        --slo prefill:ttft_p90=1s --slo decode:tpot_p90=50ms --max decode=4 \\
        --scale-url http://127.0.0.1:8000
      llmobs autoscaler --http-sd http://127.0.0.1:8000/sim/targets \\
        --slo prefill:ttft_p90=1s --slo decode:tpot_p90=50ms --scale-url http://127.0.0.1:8000
      llmobs autoscaler --namespace llm --selector app=vllm \\
        --slo prefill:ttft_p90=1s --slo decode:tpot_p90=50ms --scale-url https://kube-api:6443
      llmobs autoscaler --config autoscaler.yaml --capacity-from sweep.json --sweep-isl 2500
    """
    try:
        settings = merge(options, config_path)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    from llmobs.autoscaler.app import serve

    if settings.capacity_from is not None:
        seeds = ", ".join(
            f"{name} {'unseeded' if role.capacity is None else f'{role.capacity:g}/s'}"
            for name, role in settings.policy.roles.items()
        )
        click.echo(f"capacity per replica from {settings.capacity_from.file}: {seeds}")

    def ready(http_port: int, grpc_port: int | None) -> None:
        host = settings.http.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
        keda = f", KEDA external scaler on :{grpc_port}" if grpc_port is not None else ""
        mode = "dry run" if dry_run else settings.output.mode
        click.echo(
            f"llmobs autoscaler on http://{shown}:{http_port} (/metrics, /v1/decisions){keda}; "
            f"sizing {', '.join(settings.policy.roles)} every {settings.policy.interval_s:g}s "
            f"({mode})"
        )

    try:  # SIGTERM as Ctrl-C: asyncio cancels the loop, which closes what it opened
        with terminate_as_interrupt(), contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, dry_run=dry_run, ready=ready))
    except ConfigError as exc:  # a port in use, a TLS or secret file, the Kubernetes client
        click.echo(f"error: {exc}", err=True)
        sys.exit(exitcodes.USAGE)
    except LlmobsError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exitcodes.FAILURE)
    click.echo("stopped")
