"""The files the demo writes for its children are accepted by the children's own strict
loaders (the exporter's, the autoscaler's) and by promtool."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from llmobs.autoscaler import app
from llmobs.config import validate
from llmobs.demo import configs
from llmobs.exporter.config import build
from llmobs.rules import rules_file
from tests.prometheus import binary

SIM = "http://127.0.0.1:8000"
SETTINGS = configs.Settings(duration_s=60)


def test_the_exporter_follows_the_emulators_instances() -> None:
    config = build(configs.exporter(SETTINGS, SIM))
    assert config.http_sd is not None
    assert config.http_sd.url == f"{SIM}/sim/targets"
    assert config.targets == [] and config.port == 0
    assert config.interval_s == SETTINGS.scrape_interval_s


def test_the_autoscaler_sizes_both_roles_on_the_scale_endpoint() -> None:
    document = configs.autoscaler(SETTINGS, "http://127.0.0.1:9400", SIM)
    settings = validate(app.Settings, document)
    assert settings.output.mode == "direct" and settings.output.api_url == SIM
    prefill, decode = settings.policy.roles["prefill"], settings.policy.roles["decode"]
    assert [t.name for t in prefill.targets()] == ["ttft_p90"]
    assert prefill.targets()[0].seconds == SETTINGS.ttft_p90_s
    assert decode.targets()[0].seconds == SETTINGS.tpot_p90_s
    assert decode.waiting_limit == SETTINGS.waiting_limit
    assert prefill.max_replicas == decode.max_replicas == SETTINGS.max_replicas
    assert prefill.cold_start_s == SETTINGS.cold_start_s


def test_the_prometheus_config_and_its_rules_pass_promtool(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(rules_file())
    document = configs.prometheus(
        SETTINGS, SIM, "http://127.0.0.1:9400", "http://127.0.0.1:9401", "rules.yml"
    )
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(document))
    checked = subprocess.run(
        [binary("promtool"), "check", "config", "prometheus.yml"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    jobs = [job["job_name"] for job in document["scrape_configs"]]
    assert jobs == ["llmobs-exporter", "llmobs-autoscaler", "llmobs-sim"]


def test_the_emulator_is_1p1d_on_free_ports_with_a_short_cold_start() -> None:
    args = configs.sim_args(SETTINGS)
    assert args[:5] == ["sim", "--pd", "1P1D", "--port", "0"]
    assert args[args.index("--cold-start-s") + 1] == "3"


def test_the_reports_slos_are_the_autoscalers_targets() -> None:
    """The report's SLO names and seconds are those the autoscaler's config gives."""
    document = configs.autoscaler(SETTINGS, "http://127.0.0.1:9400", SIM)
    roles = validate(app.Settings, document).policy.roles
    assert SETTINGS.slo() == {
        name: {t.name: t.seconds for t in role.targets()} for name, role in roles.items()
    }
