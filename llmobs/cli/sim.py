"""``llmobs sim``: start the GPU-free vLLM/SGLang emulator.

The emulator's modules (aiohttp, the profiles, the PD cluster) are imported when the command
runs, not when ``llmobs --help`` builds the command list.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from llmobs import exitcodes
from llmobs.cli.params import NON_NEGATIVE, POSITIVE, Finite
from llmobs.errors import ConfigError

if TYPE_CHECKING:
    import socket

    from llmobs.sim.cluster import Cluster
    from llmobs.sim.config import EngineSettings, Resolved

MAX_PORT = 65535

# command-line option -> settings field, for the flags that map one to one
FIELDS = (
    "engine",
    "engine_version",
    "model",
    "served_model_name",
    "hardware",
    "tensor_parallel_size",
    "max_model_len",
    "max_num_seqs",
    "max_num_batched_tokens",
    "gpu_memory_utilization",
    "tokenizer",
    "fixed_ttft_ms",
    "fixed_itl_ms",
    "default_output_tokens",
    "max_replicas",
)


def settings_from(options: dict[str, Any], config: Path | None) -> EngineSettings:
    """The config file's settings (if any) with the flags on top. Raises ConfigError."""
    from llmobs.config import read_yaml, validate
    from llmobs.sim.config import EngineSettings

    data: dict[str, Any] = read_yaml(config, "emulator config") if config is not None else {}
    data.update({k: v for k, v in options.items() if k in FIELDS and v is not None})
    if options.get("no_prefix_caching"):
        data["enable_prefix_caching"] = False
    if options.get("enable_metrics"):
        data["enable_metrics"] = True
    where = f" ({config} and the flags)" if config is not None else ""
    return validate(EngineSettings, data, f"emulator settings{where}")


def check_tokenizer(folder: str | None) -> None:
    """Read ``--tokenizer`` once before anything listens: a broken folder is bad input.

    Raises:
        ConfigError: no tokenizer.json, or a tokenizer, template or config that cannot be read.
    """
    if folder is None:
        return
    from llmobs.sim.tokenizer import load

    try:
        load(folder)
    except ConfigError:
        raise
    except Exception as exc:  # noqa: BLE001 - the tokenizers library raises plain Exception
        raise ConfigError(f"--tokenizer {folder}: cannot read it: {exc}") from None


def fail(exc: ConfigError) -> NoReturn:
    """A port taken or an instance that cannot start: the message and exit status 2, as
    ``llmobs exporter`` gives."""
    click.echo(f"error: {exc}", err=True)
    sys.exit(exitcodes.USAGE)


def instance_ports(port: int, roles: dict[str, int] | None) -> list[int] | None:
    """The ports of a cluster's first instances: the ones after ``port`` (none to pick when
    ``port`` is 0, or with no cluster). Raises ConfigError past the last port."""
    if roles is None or port == 0:
        return None
    count = sum(roles.values())
    if port + count > MAX_PORT:
        raise ConfigError(
            f"--port {port}: its {count} instances would listen on ports {port + 1} to "
            f"{port + count}, past {MAX_PORT}; give a lower --port (or 0 to pick free ones)"
        )
    return [port + 1 + i for i in range(count)]


def _stop_on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the emulator as Ctrl-C does


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port of the OpenAI-compatible API and /metrics.",
)
@click.option(
    "--engine",
    type=click.Choice(["vllm", "sglang"]),
    default=None,
    help="Whose API and /metrics to emulate (default vllm).",
)
@click.option(
    "--engine-version", default=None, help="vLLM 0.32.0 (default) or 0.11.0; SGLang 0.5.4."
)
@click.option("--model", default=None, help="Model profile (default Qwen2.5-7B).")
@click.option("--served-model-name", default=None, help="Model name the API serves.")
@click.option("--hardware", default=None, help="Accelerator profile (default H100-80GB).")
@click.option("--tensor-parallel-size", "-tp", type=click.IntRange(min=1), default=None)
@click.option("--max-model-len", type=click.IntRange(min=1), default=None)
@click.option("--max-num-seqs", type=click.IntRange(min=1), default=None)
@click.option("--max-num-batched-tokens", type=click.IntRange(min=1), default=None)
@click.option("--gpu-memory-utilization", type=Finite(), default=None)
@click.option("--no-prefix-caching", is_flag=True, help="Disable the prefix cache.")
@click.option("--enable-metrics", is_flag=True, help="SGLang: serve /metrics.")
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, file_okay=False),
    default=None,
    help="Local Hugging Face tokenizer folder (default: the built-in tokenizer).",
)
@click.option(
    "--default-output-tokens",
    type=click.IntRange(min=1),
    default=None,
    help="Output length of requests without max_tokens (default 256).",
)
@click.option(
    "--fixed-ttft-ms",
    type=POSITIVE,
    default=None,
    help="Fixed-latency mode: exact TTFT whatever the load.",
)
@click.option(
    "--fixed-itl-ms",
    type=POSITIVE,
    default=None,
    help="Fixed-latency mode: exact gap between later tokens.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="YAML file of settings (flags override it).",
)
@click.option(
    "--pd",
    "pd_spec",
    default=None,
    metavar="xPyD",
    help="Prefill/decode disaggregation, e.g. 2P1D: x prefill and y decode instances behind "
    "a proxy on --port, instances on the ports after it.",
)
@click.option(
    "--replicas",
    type=click.IntRange(min=1),
    default=None,
    help="Aggregated instances behind a proxy on --port (default: one instance, no proxy).",
)
@click.option(
    "--cold-start-s",
    type=NON_NEGATIVE,
    default=30.0,
    show_default=True,
    help="Seconds before a replica added through the scale endpoint serves.",
)
@click.option(
    "--max-replicas",
    type=click.IntRange(min=1),
    default=None,
    help="Clusters: the most replicas of one role, at start and through the scale endpoint "
    "(more is refused with 422; default 64).",
)
@click.option("--list-profiles", is_flag=True, help="Print the hardware and model profiles.")
@click.option(
    "--inherit-fd",
    type=click.IntRange(min=0),
    default=None,
    hidden=True,
    help="Serve on this inherited listening socket instead of --host/--port, and stop when "
    "stdin closes: how llmbench runs the emulator as its child process.",
)
def sim(
    host: str,
    port: int,
    config_path: Path | None,
    list_profiles: bool,
    pd_spec: str | None,
    replicas: int | None,
    cold_start_s: float,
    inherit_fd: int | None,
    **options: Any,
) -> None:
    """Emulate a vLLM or SGLang server without a GPU: the OpenAI API, streaming, and the
    engine's exact /metrics, with latencies from a roofline model of the chosen GPU.

    \b
    With no flags: vLLM 0.32.0 serving Qwen2.5-7B on one H100 at 127.0.0.1:8000.
    """
    from llmobs.sim import profiles
    from llmobs.sim.cluster import Cluster, parse_pd
    from llmobs.sim.config import Resolved, describe
    from llmobs.sim.serve import bind

    if list_profiles:
        click.echo("hardware: " + ", ".join(profiles.hardware_profiles()))
        click.echo("models:   " + ", ".join(profiles.model_profiles()))
        return
    if pd_spec is not None and replicas is not None:
        raise click.UsageError("--pd and --replicas exclude each other")
    try:
        resolved = Resolved(settings_from(options, config_path))
        roles = parse_pd(pd_spec) if pd_spec else ({"both": replicas} if replicas else None)
        if inherit_fd is not None:
            port = 0  # the socket is given; its cluster's instances pick free ports
        ports = instance_ports(port, roles)
        check_tokenizer(resolved.settings.tokenizer)
        cluster = None
        if roles is not None:
            cluster = Cluster(
                resolved, roles, host=host, cold_start_s=cold_start_s, instance_ports=ports
            )
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        sock = bind(host, port) if inherit_fd is None else inherited(inherit_fd)
    except ConfigError as exc:
        fail(exc)
    host = sock.getsockname()[0]
    click.echo(f"llmobs sim: {describe(resolved)}")
    lifeline = inherit_fd is not None
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            if cluster is None:
                click.echo(f"listening on http://{host}:{sock.getsockname()[1]} (Ctrl-C to stop)")
                asyncio.run(_serve(resolved, sock, lifeline))
            else:
                asyncio.run(_serve_cluster(cluster, sock, lifeline))
    except ConfigError as exc:  # an instance could not listen
        note = " (the instances listen on the ports after --port)" if roles else ""
        fail(ConfigError(f"{exc}{note}"))
    click.echo("stopped")


def inherited(fd: int) -> socket.socket:
    """The listening socket a parent process handed over. Raises ConfigError."""
    import socket

    try:
        sock = socket.socket(fileno=fd)
    except OSError as exc:
        raise ConfigError(f"--inherit-fd {fd}: not a socket ({exc.strerror})") from None
    sock.setblocking(False)
    return sock


async def _until_stopped(lifeline: bool) -> None:
    """Forever, or (``lifeline``) until stdin closes: the parent that started us is gone."""
    if not lifeline:
        await asyncio.Event().wait()
        return
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while await reader.read(4096):
        pass


async def _serve(resolved: Resolved, sock: socket.socket, lifeline: bool) -> None:
    from llmobs.sim.serve import start_instance

    running = await start_instance(resolved, sock)
    try:
        await _until_stopped(lifeline)
    finally:
        await running.close()


async def _serve_cluster(cluster: Cluster, sock: socket.socket, lifeline: bool) -> None:
    from aiohttp import web

    try:
        await cluster.start()
    except ConfigError:
        await cluster.close()  # the instances that did start
        sock.close()
        raise
    runner = web.AppRunner(cluster.app(), access_log=None, handle_signals=False)
    await runner.setup()
    await web.SockSite(runner, sock).start()
    host, port = sock.getsockname()[:2]
    click.echo(
        f"proxy (OpenAI API) on http://{host}:{port}; scale: "
        f"http://{host}:{port}/apis/apps/v1/namespaces/default/deployments/ROLE/scale"
    )
    for member in cluster.listing():
        click.echo(
            f"  {member['role']:8} {member['name']:10} {member['url']}  "
            f"(/metrics, role {member['role']})"
        )
    try:
        await _until_stopped(lifeline)
    finally:
        await runner.cleanup()
        await cluster.close()
