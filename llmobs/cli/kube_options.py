"""The pod-watch flags shared by ``llmobs exporter`` and ``llmobs autoscaler``: one spelling of
each flag and of the ``kubernetes:`` key it sets in the exporter's config (and in the
autoscaler's scrape source, which is that config)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# Each flag's option name -> the key it sets in the ``kubernetes`` section.
KUBE_FLAGS = {
    "namespace": "namespaces",
    "selector": "label_selector",
    "kubeconfig": "kubeconfig",
    "context": "context",
    "metrics_port": "port",
    "port_name": "port_name",
}

_OPTIONS = (
    click.option(
        "--kubernetes",
        is_flag=True,
        help="Discover pods in Kubernetes (implied by any of the flags below).",
    ),
    click.option(
        "--namespace", multiple=True, help="Namespace to watch, repeatable (default all)."
    ),
    click.option("--selector", default=None, help="Pod label selector, e.g. app=vllm."),
    click.option(
        "--kubeconfig",
        default=None,
        help="kubeconfig path (default in-cluster, else ~/.kube/config).",
    ),
    click.option("--context", default=None, help="kubeconfig context."),
    click.option(
        "--metrics-port",
        type=click.IntRange(1, 65535),
        default=None,
        help="Metrics port of every pod (default: named port, annotation, or the only port).",
    ),
    click.option(
        "--port-name", default=None, help="Name of the pods' container port serving metrics."
    ),
)


def pod_watch_options(command: F) -> F:
    """Add ``--kubernetes``, ``--namespace``, ``--selector``, ``--kubeconfig``, ``--context``,
    ``--metrics-port`` and ``--port-name`` to a click command (in that order in --help)."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def wants_pod_watch(options: dict[str, Any]) -> bool:
    """Whether the flags ask for the pod watch: ``--kubernetes`` or any pod-watch flag."""
    return bool(options.get("kubernetes")) or any(options.get(k) for k in KUBE_FLAGS)


def kube_section(options: dict[str, Any], found: object) -> dict[str, Any]:
    """The ``kubernetes`` section: the file's (``found``, when a mapping) with the flags given
    on top (a repeated flag as a list)."""
    section = dict(found) if isinstance(found, dict) else {}
    for key, value in options.items():
        if key in KUBE_FLAGS and value:
            section[KUBE_FLAGS[key]] = list(value) if isinstance(value, tuple) else value
    return section
