"""The demo's settings and the config files it writes into its run folder, as data.

One ``Settings`` says what the demo deploys: the emulated PD deployment (model, hardware,
cold start, replica limits), the SLOs, how often the exporter scrapes and the autoscaler
decides. ``exporter``, ``autoscaler`` and ``prometheus`` turn it into the documents each
child reads (``llmobs exporter --config``, ``llmobs autoscaler --config``, ``prometheus
--config.file``); every one goes through the child's own strict loader. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from llmobs import names, signals
from llmobs.autoscaler.config import slo_name, slo_signal
from llmobs.rules import EXPORTER_JOB

ROLES = (names.ROLE_PREFILL, names.ROLE_DECODE)
# Each role's SLO as the autoscaler's config writes it: (signal, percentile); the seconds are
# Settings.ttft_p90_s and tpot_p90_s.
SLOS = {
    names.ROLE_PREFILL: (slo_signal(signals.TTFT), "p90"),
    names.ROLE_DECODE: (slo_signal(signals.TPOT), "p90"),
}
AUTOSCALER_JOB = "llmobs-autoscaler"
ENGINES_JOB = "llmobs-sim"


@dataclass(frozen=True, slots=True)
class Settings:
    """What ``llmobs demo`` runs. Durations in seconds."""

    duration_s: float
    hardware: str = "L4"
    model: str = "Qwen2.5-7B"
    max_num_seqs: int = 8
    cold_start_s: float = 3.0
    max_replicas: int = 3
    ttft_p90_s: float = 1.5  # prefill's SLO
    tpot_p90_s: float = 0.2  # decode's SLO (its TPOT is flat under load: room to shrink)
    waiting_limit: float = 2.0  # decode: waiting requests per replica above this grow it
    queue_limit: float = 2.0  # prefill: the same
    scrape_interval_s: float = 1.0
    window_s: float = 10.0
    decide_every_s: float = 1.0
    scale_down_after_s: float = 6.0
    seed: int = 0

    def slo(self) -> dict[str, dict[str, float]]:
        """Each role's SLO: its name as the autoscaler shows it (ttft_p90) -> seconds."""
        return {role: {slo_name(*SLOS[role]): s} for role, s in self.slo_seconds().items()}

    def slo_seconds(self) -> dict[str, float]:
        """Each role's SLO target in seconds."""
        return {names.ROLE_PREFILL: self.ttft_p90_s, names.ROLE_DECODE: self.tpot_p90_s}


def sim_args(settings: Settings) -> list[str]:
    """``llmobs sim`` arguments: 1P1D on free ports with the scale endpoint."""
    return [
        "sim",
        "--pd",
        "1P1D",
        "--port",
        "0",
        "--hardware",
        settings.hardware,
        "--model",
        settings.model,
        "--max-num-seqs",
        str(settings.max_num_seqs),
        "--cold-start-s",
        f"{settings.cold_start_s:g}",
        "--max-replicas",
        str(settings.max_replicas),
    ]


def targets_url(sim_url: str) -> str:
    """The emulator's ready instances in Prometheus HTTP service-discovery format."""
    return f"{sim_url}/sim/targets"


def exporter(settings: Settings, sim_url: str) -> dict[str, Any]:
    """``llmobs exporter`` following the emulator's instances as they come and go."""
    return {
        "http_sd": {"url": targets_url(sim_url), "refresh_interval_s": settings.scrape_interval_s},
        "interval_s": settings.scrape_interval_s,
        "window_s": settings.window_s,
        "host": "127.0.0.1",
        "port": 0,
    }


def autoscaler(settings: Settings, exporter_url: str, sim_url: str) -> dict[str, Any]:
    """``llmobs autoscaler`` reading the exporter and setting replicas through the
    emulator's scale subresource (direct mode)."""

    limits = {
        names.ROLE_PREFILL: {"queue_limit": settings.queue_limit},
        names.ROLE_DECODE: {"waiting_limit": settings.waiting_limit},
    }

    def role(name: str) -> dict[str, Any]:
        signal, percentile = SLOS[name]
        seconds = settings.slo_seconds()[name]
        return {
            "slo": {signal: {percentile: f"{seconds * 1000:g}ms"}},
            "min_replicas": 1,
            "max_replicas": settings.max_replicas,
            "cold_start_s": settings.cold_start_s,
            "scale_down_stabilization_s": settings.scale_down_after_s,
            **limits[name],
        }

    return {
        "policy": {
            "interval_s": settings.decide_every_s,
            "max_observation_age_s": max(10.0, 5 * settings.scrape_interval_s),
            "roles": {name: role(name) for name in ROLES},
        },
        "source": {"kind": "exporter", "url": exporter_url},
        "output": {"mode": "direct", "kind": "Deployment", "api_url": sim_url},
        "http": {"host": "127.0.0.1", "port": 0},
    }


def _address(url: str) -> str:
    return url.removeprefix("http://").removeprefix("https://").rstrip("/")


def prometheus(
    settings: Settings, sim_url: str, exporter_url: str, autoscaler_url: str, rules: str
) -> dict[str, Any]:
    """A Prometheus scraping the exporter (as ``exporters/prometheus/prometheus.yml`` does),
    the autoscaler, and the engines found through the emulator's service discovery, every
    scrape interval; ``rules`` is the rule file's name beside it."""
    every = f"{settings.scrape_interval_s:g}s"
    return {
        "global": {
            "scrape_interval": every,
            "scrape_timeout": every,
            "evaluation_interval": every,
        },
        "rule_files": [rules],
        "scrape_configs": [
            {
                "job_name": EXPORTER_JOB,
                "honor_labels": True,
                "static_configs": [{"targets": [_address(exporter_url)]}],
            },
            {
                "job_name": AUTOSCALER_JOB,
                "static_configs": [{"targets": [_address(autoscaler_url)]}],
            },
            {
                "job_name": ENGINES_JOB,
                "http_sd_configs": [{"url": targets_url(sim_url), "refresh_interval": every}],
            },
        ],
    }
