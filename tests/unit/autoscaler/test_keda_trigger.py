"""Reading a KEDA trigger's metadata (``llmobs.autoscaler.keda.trigger_role``): any map KEDA
may send either selects a role or is refused with a message naming what is missing."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler.keda import BadTrigger, trigger_role


@given(st.dictionaries(st.text(max_size=12), st.text(max_size=12), max_size=6))
def test_any_metadata_selects_a_role_or_says_what_is_missing(metadata: dict[str, str]) -> None:
    if not metadata.get("role", "").strip():
        with pytest.raises(BadTrigger, match="has no 'role'"):
            trigger_role(metadata, "default")
        return
    group, role = trigger_role(metadata, "default")
    assert role == metadata["role"].strip()
    assert group == (metadata.get("group", "").strip() or "default")


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"role": "decode", "scalerAddress": "a:1"}, ("pd", "decode")),
        ({"role": " prefill ", "group": "my-rbg"}, ("my-rbg", "prefill")),
        ({"role": "decode", "group": ""}, ("pd", "decode")),
    ],
)
def test_trigger_role(metadata: dict[str, str], expected: tuple[str, str]) -> None:
    assert trigger_role(metadata, "pd") == expected
