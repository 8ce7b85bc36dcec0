"""A replica counts in its configured role, group and model from the start, up or not: one
that has never answered (model unknown) takes its role's model when the others agree."""

from __future__ import annotations

from llmobs.observation import RoleKey
from llmobs.roles import Member, aggregate, settle_models


def member(role: str, model: str, *, up: bool = True, group: str = "g") -> Member:
    return Member(RoleKey("", group, role, model), up, (), model_known=bool(model))


def rows(*members: Member) -> dict[tuple[str, str, str], tuple[int, int]]:
    observed = aggregate(members, now=0.0, wall_time=0.0, window_s=60.0, quantiles=(0.5,))
    return {
        (r.key.group, r.key.role, r.key.model): (r.replicas.ready, r.replicas.up)
        for r in observed.roles
    }


def test_a_replica_of_unknown_model_joins_its_roles_row() -> None:
    found = rows(member("decode", "m"), member("decode", "", up=False))
    assert found == {("g", "decode", "m"): (2, 1)}


def test_it_stays_apart_when_its_role_has_no_model_or_several() -> None:
    alone = rows(member("decode", "", up=False), member("prefill", "m"))
    assert alone == {("g", "decode", ""): (1, 0), ("g", "prefill", "m"): (1, 1)}
    mixed = rows(member("decode", "a"), member("decode", "b"), member("decode", "", up=False))
    assert mixed[("g", "decode", "")] == (1, 0)


def test_a_known_model_is_never_changed() -> None:
    known = [member("decode", "a"), member("decode", "b", group="other")]
    assert settle_models(known) == known
    # a configured empty model is known: it is not replaced
    empty = Member(RoleKey("", "g", "decode", ""), False, (), model_known=True)
    assert settle_models([member("decode", "a"), empty])[1] == empty
