"""What llmbench sends: lengths as vLLM's --random-range-ratio, shared prefixes, Mooncake
rows with their prefix sharing and timestamps, ShareGPT conversations."""

from __future__ import annotations

import itertools
import json
import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmobs.bench.workload import (
    lengths,
    random_workload,
    sharegpt_workload,
    trace_workload,
)
from llmobs.errors import ConfigError
from llmobs.sim.tokenizer import BasicTokenizer
from llmobs.trace import TRACE_BLOCK

TRACE = Path(__file__).parents[2] / "fixtures" / "traces" / "mooncake-conversation-head.jsonl"


def test_range_ratio_bounds_are_vllms() -> None:
    values = lengths(5000, 100, 0.25, random.Random(0))
    assert min(values) == 75 and max(values) == 125  # floor(L(1-r)) .. ceil(L(1+r))
    assert lengths(10, 100, 0.0, random.Random(0)) == [100] * 10


def test_prompts_are_one_token_a_word_for_the_emulator() -> None:
    tokenizer = BasicTokenizer()
    specs = random_workload([0.0] * 20, 300, 10, range_ratio=0.5, seed=1)
    for spec in specs:
        assert len(tokenizer.encode(spec.prompt)) == spec.expected_prompt_tokens


def test_prompts_are_unique_but_share_the_asked_prefix() -> None:
    specs = random_workload([0.0, 1.0, 2.0], 50, 5, prefix_len=30, seed=2)
    heads = {s.prompt.split()[:30].__repr__() for s in specs}
    assert len(heads) == 1  # one shared 30-word prefix
    tails = {" ".join(s.prompt.split()[30:]) for s in specs}
    assert len(tails) == 3
    assert all(s.expected_prompt_tokens == 80 and s.tail_words == 50 for s in specs)
    assert [s.offset for s in specs] == [0.0, 1.0, 2.0]


def test_same_seed_same_prompts() -> None:
    a = random_workload([0.0] * 3, 20, 5, seed=9)
    assert a == random_workload([0.0] * 3, 20, 5, seed=9)
    assert a != random_workload([0.0] * 3, 20, 5, seed=10)


def write_trace(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def test_trace_rows_share_blocks_where_their_hash_ids_match(tmp_path: Path) -> None:
    trace = write_trace(
        tmp_path / "t.jsonl",
        [
            {"timestamp": 1000, "input_length": 1100, "output_length": 7, "hash_ids": [1, 2, 3]},
            {"timestamp": 1500, "input_length": 1030, "output_length": 9, "hash_ids": [1, 2, 4]},
            {"timestamp": 4000, "input_length": 600, "output_length": 3, "hash_ids": [5, 6]},
        ],
    )
    specs = trace_workload(trace, time_scale=2.0)
    assert [s.offset for s in specs] == [0.0, 1.0, 6.0]  # relative, scaled
    assert [s.max_tokens for s in specs] == [7, 9, 3]
    words = [s.prompt.split() for s in specs]
    assert [len(w) for w in words] == [1100, 1030, 600]
    assert words[0][: 2 * TRACE_BLOCK] == words[1][: 2 * TRACE_BLOCK]  # blocks 1 and 2
    assert words[0][:TRACE_BLOCK] != words[2][:TRACE_BLOCK]


def test_trace_limit_and_bad_rows(tmp_path: Path) -> None:
    good = {"timestamp": 0, "input_length": 10, "output_length": 2, "hash_ids": [1]}
    trace = write_trace(tmp_path / "t.jsonl", [good, good, good])
    assert len(trace_workload(trace, limit=2)) == 2
    bad = write_trace(tmp_path / "bad.jsonl", [good, {"timestamp": 5}])
    with pytest.raises(ConfigError, match=r"bad.jsonl:2: not a Mooncake trace row"):
        trace_workload(bad)
    with pytest.raises(ConfigError, match="cannot read trace"):
        trace_workload(tmp_path / "missing.jsonl")


def test_the_real_mooncake_trace_reads() -> None:
    specs = trace_workload(TRACE, limit=50)
    assert len(specs) == 50 and specs[0].offset == 0.0
    assert all(b.offset >= a.offset for a, b in itertools.pairwise(specs))
    # the trace's conversations share their first block (hash id 0)
    first_block = {" ".join(s.prompt.split()[:TRACE_BLOCK]) for s in specs[:4]}
    assert len(first_block) == 1


def test_sharegpt_filters_and_lengths(tmp_path: Path) -> None:
    conversations = [
        {"conversations": [{"value": "x" * 40}, {"value": "y" * 80}]},  # 10 and 20 tokens
        {"conversations": [{"value": "hi"}, {"value": "y" * 80}]},  # prompt too short
        {"conversations": [{"value": "x" * 40}]},  # no reply
        {"conversations": [{"value": "x" * 5000}, {"value": "y" * 80}]},  # prompt too long
    ]
    path = tmp_path / "sg.json"
    path.write_text(json.dumps(conversations))
    specs = sharegpt_workload(path, 3, osl=None)
    assert [s.max_tokens for s in specs] == [20, 20, 20]
    assert {s.prompt for s in specs} == {"x" * 40}
    assert [s.max_tokens for s in sharegpt_workload(path, 2, osl=64)] == [64, 64]
    path.write_text("{}")
    with pytest.raises(ConfigError, match="JSON list"):
        sharegpt_workload(path, 1, osl=None)


def test_lengths_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="at least 1"):
        random_workload([0.0], 0, 5)


sharegpt_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=80),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=14), inner),
    max_leaves=12,
)
conversation = st.fixed_dictionaries(
    {"conversations": st.lists(st.dictionaries(st.just("value"), sharegpt_values), max_size=3)}
)


@settings(max_examples=150)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.lists(conversation | sharegpt_values, max_size=5).map(lambda v: json.dumps(v).encode()),
        sharegpt_values.map(lambda v: json.dumps(v).encode()),
    )
)
def test_any_sharegpt_file_gives_requests_or_a_config_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "sharegpt.json"
        path.write_bytes(data)
        try:
            specs = sharegpt_workload(path, 3, osl=None)
        except ConfigError:
            return
    assert len(specs) == 3
    assert all(isinstance(s.prompt, str) and s.max_tokens >= 1 for s in specs)


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_a_sharegpt_file_with_a_non_finite_number_is_refused(tmp_path: Path, token: str) -> None:
    path = tmp_path / "sharegpt.json"
    path.write_text(f'[{{"conversations": [], "score": {token}}}]')
    with pytest.raises(ConfigError, match=f"{token.lstrip('-')} is not valid JSON"):
        sharegpt_workload(path, 1, osl=None)
