"""``llmobs sim --config``: any file gives settings or a ConfigError, never an exception.

The loader is the command's own (``settings_from``, then ``Resolved`` for the checks that
need the profiles), fed bytes, text and YAML mappings of the real keys with any values.
"""

from __future__ import annotations

from pathlib import Path
from tempfile import TemporaryDirectory

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmobs.cli.sim import settings_from
from llmobs.errors import ConfigError
from llmobs.sim.config import EngineSettings, Resolved

KEYS = [*sorted(EngineSettings.model_fields), "modle", "efficiency.decode_mbu", ""]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["Qwen2.5-7B", "Llama-3.1-70B", "H100-80GB", "vllm", "sglang", "0.11.0"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=6).map(
    lambda d: yaml.safe_dump(d).encode()
)
yamlish = st.text(alphabet=st.sampled_from(list("ab: -[]{}'\"\n\t#&*!|>%@`,?0.9e")), max_size=60)
files = st.one_of(documents, st.binary(max_size=80), yamlish.map(str.encode))


def answer(content: bytes) -> object:
    with TemporaryDirectory() as folder:
        path = Path(folder) / "settings.yaml"
        path.write_bytes(content)
        try:
            return Resolved(settings_from({}, path))
        except ConfigError as exc:
            return exc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files)
def test_any_config_file_gives_settings_or_a_config_error(content: bytes) -> None:
    got = answer(content)
    assert isinstance(got, Resolved | ConfigError)
    if isinstance(got, ConfigError):
        assert str(got).strip()  # a message that says what is wrong


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=-5, max_value=5000))
def test_tensor_parallel_sizes_divide_the_heads_or_are_refused(tp: int) -> None:
    got = answer(f"tensor_parallel_size: {tp}\n".encode())
    if isinstance(got, Resolved):
        assert 28 % tp == 0
    else:
        assert tp < 1 or 28 % tp != 0 or "does not fit" in str(got), got
