"""The one YAML config loader: every way a file can be wrong is one ConfigError naming the
file (and each bad field), and no file whatever makes it raise anything else."""

from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from llmobs.bench.config import RunConfig
from llmobs.config import MAX_CONFIG_BYTES, StrictModel, load_yaml, read_yaml
from llmobs.errors import ConfigError
from llmobs.exporter.config import ExporterConfig
from llmobs.sim.config import EngineSettings, Resolved

MODELS: tuple[type[BaseModel], ...] = (ExporterConfig, RunConfig, EngineSettings)


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "config.yaml"
    if isinstance(text, str):
        path.write_text(text)
    else:
        path.write_bytes(text)
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("model: [1\n", "is not valid YAML: line 2, column 1: expected ',' or ']'"),
        ("- a\n- b\n", "must be a mapping of settings (key: value lines), not a list"),
        ("just words\n", "not a str"),
        ("model: a\nmodel: b\n", "line 2, column 1: the key 'model' is given twice"),
        ("efficiency: {decode_mbu: 0.5, decode_mbu: 0.6}\n", "'decode_mbu' is given twice"),
        ("1: x\n", "setting names are text, not 1"),
        ("max_num_seqs: 0b_\n", "is not valid YAML"),
        ("engine_version: 2001-02-30\n", "is not valid YAML"),
        ("a: !!python/object:os.system x\n", "is not valid YAML"),
        ("modle: x\nblock_size: -1\n", "block_size: Input should be greater than 0; modle: Extra"),
        ("efficiency: {decode_mbu: 2}\n", "efficiency.decode_mbu: Input should be less than"),
    ],
)
def test_each_problem_is_one_config_error_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, EngineSettings, "emulator config")
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_unreadable_files(tmp_path: Path) -> None:
    for path, reason in (
        (tmp_path / "missing.yaml", "No such file or directory"),
        (tmp_path, "Is a directory"),
    ):
        with pytest.raises(ConfigError, match=f"cannot read config {path}: {reason}"):
            read_yaml(path)
    with pytest.raises(ConfigError, match="byte 3: invalid start byte"):
        read_yaml(write(tmp_path, b"a: \xff\n"))


def test_a_good_file_and_an_empty_one(tmp_path: Path) -> None:
    settings_ = load_yaml(
        write(tmp_path, "model: Llama-3.1-8B\ntensor_parallel_size: 2\n"), EngineSettings
    )
    assert (settings_.model, settings_.tensor_parallel_size) == ("Llama-3.1-8B", 2)
    assert load_yaml(write(tmp_path, ""), EngineSettings) == EngineSettings()
    # an anchor merged into a mapping is not a repeated key
    text = "base: &b {url: 'a:1'}\ntargets: [{<<: *b, role: decode}]\n"
    assert read_yaml(write(tmp_path, text))["targets"] == [{"url": "a:1", "role": "decode"}]


# -- any file at all ---------------------------------------------------------------------------
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def field_mappings(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """Mappings that use the model's own field names (and a few others), so that most
    examples reach the validators rather than stopping at an unknown key."""
    keys = st.sampled_from([*model.model_fields, "unknown"])
    return st.dictionaries(keys, values, max_size=5)


def any_file(model: type[BaseModel]) -> st.SearchStrategy[bytes]:
    dumped = field_mappings(model).map(lambda d: yaml.safe_dump(d).encode())
    texts = st.text(max_size=80).map(str.encode)
    return st.one_of(st.binary(max_size=80), texts, dumped)


def load_or_error(data: bytes, model: type[BaseModel]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.yaml"
        path.write_bytes(data)
        try:
            loaded = load_yaml(path, model)
        except ConfigError as exc:
            message = str(exc)
        else:
            message = str(path)
            if isinstance(loaded, EngineSettings):
                with contextlib.suppress(ConfigError):
                    Resolved(loaded)  # the emulator's checks that need the profiles
        assert str(path) in message


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_any_bytes_give_a_model_or_a_config_error(
    model: type[BaseModel], data: st.DataObject
) -> None:
    load_or_error(data.draw(any_file(model)), model)


# -- every number of every config is finite ----------------------------------------------------
def config_models() -> list[type[BaseModel]]:
    """Every StrictModel of the package, imported so that the subclasses exist."""
    import llmobs.bench.config
    import llmobs.exporter.config
    import llmobs.sim.config
    import llmobs.sim.profiles  # noqa: F401

    found: list[type[BaseModel]] = []
    todo: list[type[BaseModel]] = [StrictModel]
    while todo:
        model = todo.pop()
        found.append(model)
        todo.extend(model.__subclasses__())
    return [m for m in found if m.__module__.startswith("llmobs.") and m.model_fields]


def float_fields(model: type[BaseModel]) -> list[tuple[str, bool]]:
    """Each float field and whether it opts in to infinity (``allow_inf_nan=True``)."""
    return [
        (name, any(getattr(m, "allow_inf_nan", False) for m in info.metadata))
        for name, info in model.model_fields.items()
        if "float" in str(info.annotation) and "list" not in str(info.annotation)
    ]


def test_every_float_field_of_every_config_refuses_nan_and_infinity() -> None:
    """NaN everywhere, infinity unless the field gives it a meaning (opts in)."""
    checked = set()
    for model in config_models():
        for name, infinite in float_fields(model):
            refused = (math.nan,) if infinite else (math.nan, math.inf, -math.inf)
            for bad in refused:
                with pytest.raises(ValidationError) as caught:
                    model.model_validate({name: bad})
                assert any(e["loc"][:1] == (name,) for e in caught.value.errors()), (name, bad)
            checked.add(f"{model.__name__}.{name}")
    assert {"ExporterConfig.window_s", "EngineSettings.gpu_memory_utilization"} <= checked
    assert "RunConfig.request_rate" in checked  # nan refused though inf means "all at once"


def test_a_file_too_large_or_a_path_with_a_nul_is_a_config_error(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as file:
        file.truncate(MAX_CONFIG_BYTES + 1)
    with pytest.raises(ConfigError, match="is larger than 4 MiB: not a config file"):
        read_yaml(big)
    with pytest.raises(ConfigError, match="cannot read config"):
        read_yaml("a\0b")


def test_a_key_with_a_newline_is_quoted_so_the_message_is_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, 'efficiency: {"a\\nb": 1}\n')
    with pytest.raises(ConfigError) as caught:
        load_yaml(path, EngineSettings)
    assert "efficiency.'a\\nb': Extra inputs are not permitted" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_file_whose_name_holds_a_newline_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a\nb.yaml"
    with pytest.raises(ConfigError) as caught:
        read_yaml(path)
    assert str(caught.value) == f"cannot read config {str(path)!r}: No such file or directory"
