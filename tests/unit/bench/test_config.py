"""llmbench's options: validated before anything is sent, errors that name the option, and
saved runs read back (a killed run's summary rebuilt from its records)."""

from __future__ import annotations

import base64
import json
import math
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs import strictjson
from llmobs.bench.config import RunConfig
from llmobs.bench.harness import RECORDS_FILE, RESULT_FILE
from llmobs.bench.prepare import authorization, build_specs
from llmobs.bench.records import RequestRecord
from llmobs.bench.saved import load_saved
from llmobs.bench.workers import shares
from llmobs.cli.bench_options import build_config
from llmobs.errors import ConfigError


def config(**options: Any) -> RunConfig:
    cfg, _ = build_config(options, None)
    return cfg


def test_defaults_match_the_model() -> None:
    cfg = config()
    assert cfg == RunConfig()
    assert math.isinf(cfg.request_rate) and cfg.burstiness == 1.0


def test_options_become_the_config_and_the_key_stays_apart() -> None:
    cfg, key = build_config(
        {
            "api_key": "sk-secret",
            "percentiles": "50,99.9",
            "scrape": ("a:8000,b:8000", "c:8000"),
            "slo": "ttft=1s",
            "isl": 2500,
        },
        None,
    )
    assert key == "sk-secret"
    assert "sk-secret" not in cfg.model_dump_json()
    assert cfg.percentiles == (50.0, 99.9)
    assert cfg.scrape == ("a:8000", "b:8000", "c:8000")
    assert cfg.model_fields_set == {"percentiles", "scrape", "slo", "isl", "dataset"}


def test_dataset_file_forms(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text("")
    for options, positional in (
        ({"dataset": "trace"}, str(trace)),
        ({"dataset": f"trace:{trace}"}, None),
        ({"dataset": "trace", "dataset_path": trace}, None),
    ):
        cfg, _ = build_config(options, positional)
        assert (cfg.dataset, cfg.dataset_path) == ("trace", trace)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dataset": "trace"}, "--dataset trace needs a file"),
        ({"dataset": "csv"}, "expected random, sharegpt FILE or trace FILE"),
        ({"dataset": "trace:/nonexistent"}, "is not a file"),
        ({"duration": 10.0}, "--duration needs a finite --request-rate"),
        ({"duration": 10.0, "num_prompts": 5, "request_rate": 1.0}, "not both"),
        ({"percentiles": "50,100"}, "between 0 and 100"),
        ({"percentiles": "p50"}, "expected numbers"),
        ({"slo": "ttft=soon"}, "not a duration"),
        ({"isl": 0}, "--isl: Input should be greater than 0"),
        ({"timeout_s": -1.0}, "--timeout"),
        ({"base_url": "http://x", "sim_pd": "1P1D"}, "--sim-* options choose the emulator"),
        ({"endpoint": "/v1/embeddings"}, "--endpoint"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("*", r"\*")):
        config(**options)


def test_a_killed_run_is_read_back_from_its_records(tmp_path: Path) -> None:
    """The placeholder written before the first request, and the records of a run that was
    killed outright (its last line cut in half), still make a summary."""
    strictjson.write(
        tmp_path / RESULT_FILE,
        {
            "version": 1,
            "tool": "llmbench",
            "state": "running",
            "complete": False,
            "config": {"percentiles": [50, 99], "slo": "ttft=1s"},
            "records": RECORDS_FILE,
        },
    )
    lines = []
    for i in range(3):
        r = RequestRecord(i, 0.1 * i, 10, 2, dispatched=0.1 * i, sent=0.1 * i)
        r.first_token, r.end, r.output_tokens, r.prompt_tokens = 0.1 * i + 0.2, 0.1 * i + 0.3, 2, 10
        r.chunk_times.extend([r.first_token, r.end])
        lines.append(r.to_json())
    (tmp_path / RECORDS_FILE).write_text("\n".join(lines) + "\n" + lines[0][:25])
    saved = load_saved(tmp_path)
    run = saved.run
    assert run.doc["state"] == "killed" and run.complete is False
    (warning,) = saved.warnings
    assert "line 4" in warning and "cut off when the run was killed" in warning
    assert run.doc["summary"]["completed"] == 3
    assert run.doc["summary"]["slo_attainment"] == 1.0
    assert len(run.records) == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not JSON"),
        (json.dumps({"tool": "guidellm"}), "is not a llmbench result"),
        (json.dumps({"tool": "llmbench", "version": 99}), "schema version 99"),
    ],
)
def test_other_files_are_refused_clearly(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        load_saved(path)


SCENARIOS = sorted((Path(__file__).parents[3] / "bench" / "scenarios").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_shipped_scenarios_are_valid(path: Path) -> None:
    cfg, _ = build_config({"config": path}, None)
    assert cfg.model_fields_set  # it set something
    if cfg.dataset_path is not None:
        assert cfg.dataset_path.is_file()


def test_options_override_the_scenario_and_unknown_keys_fail(tmp_path: Path) -> None:
    scenario = tmp_path / "s.yaml"
    scenario.write_text("isl: 2500\nosl: 100\nrequest_rate: 4\n")
    cfg, _ = build_config({"config": scenario, "request_rate": 8.0}, None)
    assert (cfg.isl, cfg.osl, cfg.request_rate) == (2500, 100, 8.0)
    scenario.write_text("isl: 2500\nrequest_rat: 4\n")
    with pytest.raises(ConfigError, match="'request_rat' is not a setting"):
        build_config({"config": scenario}, None)
    scenario.write_text("- isl\n")
    with pytest.raises(ConfigError, match="a mapping of settings"):
        build_config({"config": scenario}, None)


def test_warmup_prompts_are_their_own() -> None:
    """Reusing the measured prompts would make the first measured requests cache hits."""
    cfg = RunConfig(num_prompts=3, warmup=3, isl=50, osl=4)
    specs = build_specs(cfg)
    warm, measured = specs[:3], specs[3:]
    assert all(s.warmup for s in warm) and not any(s.warmup for s in measured)
    assert not {s.prompt for s in warm} & {s.prompt for s in measured}
    assert [len(s.prompt.split()) for s in warm] == [50, 50, 50]


def test_concurrency_is_split_over_workers_exactly() -> None:
    assert shares(10, 4) == [3, 3, 2, 2] and shares(7, 3) == [3, 2, 2]
    assert shares(None, 2) == [None, None]
    with pytest.raises(ConfigError, match="at least one per worker"):
        config(max_concurrency=2, workers=4)


def test_a_bad_scrape_url_fails_before_anything_is_sent() -> None:
    with pytest.raises(ConfigError, match="--scrape"):
        config(scrape=("ftp://x",))


@pytest.mark.parametrize(
    ("settings", "says"),
    [
        ({"isl": True}, "--isl: Input should be a valid integer"),
        ({"request_rate": True}, "--request-rate: Input should be a valid number"),
        ({"seed": "3"}, "--seed"),
        ({"warmup": 1.0}, "--warmup"),
        ({"osl": 10**9}, "--osl"),
        ({"label": "../../escape"}, "--label: '../../escape' is not a plain name"),
        ({"label": "a/b"}, "is not a plain name"),
        ({"label": "."}, "is not a plain name"),
        ({"base_url": "http://h:0"}, "from 1 to 65535"),
        ({"base_url": "http://h:65536"}, "from 1 to 65535"),
    ],
)
def test_values_are_what_they_say_they_are(settings: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        config(**settings)


def test_sweep_labels_and_whole_floats_still_pass() -> None:
    cfg = config(label="rate-1e+06", request_rate=8, percentiles="50,99")
    assert (cfg.label, cfg.request_rate) == ("rate-1e+06", 8.0)


fields = sorted(RunConfig.model_fields)
yaml_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**12), 10**12)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["ttft=1s", "trace", "random", "http://127.0.0.1:9", "../x", "inf"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)
scenario = st.dictionaries(st.sampled_from([*fields, "bogus"]), yaml_values, max_size=6)


@settings(max_examples=200, deadline=None)
@given(st.one_of(scenario.map(lambda d: yaml.safe_dump(d).encode()), st.binary(max_size=80)))
def test_any_scenario_file_gives_a_config_or_a_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "scenario.yaml"
        path.write_bytes(data)
        try:
            cfg, _ = build_config({"config": path}, None)
        except ConfigError:
            return
    for name in ("isl", "osl", "warmup", "seed", "prefix_len", "workers"):
        value = getattr(cfg, name)
        assert isinstance(value, int) and not isinstance(value, bool)


def test_a_password_in_the_base_url_is_basic_auth_and_a_secret() -> None:
    headers, secrets = authorization("http://admin:pw%40x@h:8000", None)
    assert headers == {"Authorization": "Basic " + base64.b64encode(b"admin:pw@x").decode()}
    assert set(secrets) == {"pw@x", headers["Authorization"]}
    assert authorization("http://admin:pw@h:8000", "sk-1") == ({"Authorization": "Bearer sk-1"},
                                                                ("sk-1",))  # fmt: skip
    assert authorization("http://h:8000", None) == ({}, ())
