"""The replica-set policy both emulated clusters share: least-loaded routing among ready
replicas, cold starts, draining, and one validation."""

from __future__ import annotations

import gc
import weakref

import pytest

from llmobs.clock import VirtualClock
from llmobs.errors import ConfigError
from llmobs.sim.replicaset import Counts, Phase, Replica, ReplicaSet, validate_roles


class Box:
    """A handle: what a shell would keep (a server, an engine), here just a load."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.load = 0


def load(box: Box) -> int:
    return box.load


def started(
    roles: dict[str, int], cold_start_s: float = 10.0
) -> tuple[ReplicaSet[Box], VirtualClock]:
    clock = VirtualClock()
    rs: ReplicaSet[Box] = ReplicaSet(roles, clock=clock, cold_start_s=cold_start_s)
    for role, count in roles.items():
        for _ in range(count):
            assert rs.mark_ready(rs.add(role, Box, cold=False))
    return rs, clock


def names(replicas: object) -> list[str]:
    assert isinstance(replicas, list | tuple)
    return [r.name for r in replicas]


def test_the_least_loaded_ready_replica_takes_the_request_and_ties_take_turns() -> None:
    rs, _ = started({"both": 3})
    boxes = [r.handle for r in rs.replicas("both")]
    boxes[0].load, boxes[1].load, boxes[2].load = 2, 1, 1
    picks = [rs.pick("both", load) for _ in range(4)]
    assert [p.name if p else None for p in picks] == ["both-1", "both-2", "both-1", "both-2"]
    boxes[2].load = 0
    chosen = rs.pick("both", load)
    assert chosen is not None and chosen.name == "both-2"


def test_a_new_replica_serves_only_once_its_cold_start_is_over_and_it_is_up() -> None:
    rs, clock = started({"decode": 1}, cold_start_s=30.0)
    clock.advance(5.0)
    change = rs.scale("decode", 3, Box)
    assert names(change.added) == ["decode-1", "decode-2"] and change.removed == ()
    assert [r.due_at for r in change.added] == [35.0, 35.0]
    assert all(r.phase is Phase.STARTING for r in change.added)
    assert rs.counts("decode") == Counts(starting=2, ready=1, draining=0)
    assert rs.counts("decode").desired == 3
    next(rs.replicas("decode")).handle.load = 100  # the only ready one, however busy
    assert [rs.pick("decode", load) for _ in range(3)] == [next(rs.replicas("decode"))] * 3
    clock.set(35.0)
    assert rs.mark_ready(change.added[0])
    assert change.added[0].ready_at == 35.0
    picked = rs.pick("decode", load)
    assert picked is change.added[0]


def test_scaling_down_removes_starting_replicas_first_then_the_newest_ready_ones() -> None:
    rs, clock = started({"both": 3})
    starting = rs.scale("both", 5, Box).added
    clock.advance(1.0)
    change = rs.scale("both", 2, Box)
    assert names(change.removed) == ["both-4", "both-3", "both-2"]
    assert [r.phase for r in change.removed] == [Phase.STOPPED, Phase.STOPPED, Phase.DRAINING]
    assert not rs.mark_ready(starting[0])  # its boot finished after it was removed: unused
    draining = change.removed[2]
    assert draining.draining_since == 1.0
    assert rs.counts("both") == Counts(starting=0, ready=2, draining=1)
    assert rs.pick("both", load) is not draining
    assert draining in list(rs.replicas("both"))  # still there, finishing its requests
    clock.advance(2.0)
    rs.mark_stopped(draining)
    assert draining.phase is Phase.STOPPED and draining.stopped_at == 3.0
    assert names(list(rs.replicas())) == ["both-0", "both-1"]


def test_scaling_to_zero_and_back() -> None:
    rs, _ = started({"prefill": 1, "decode": 1}, cold_start_s=0.0)
    (gone,) = rs.scale("decode", 0, Box).removed
    assert rs.pick("decode", load) is None
    rs.mark_stopped(gone)
    (back,) = rs.scale("decode", 1, Box).added
    assert rs.pick("decode", load) is None  # up only when its shell says so
    rs.mark_ready(back)
    assert rs.pick("decode", load) is back
    assert names(list(rs.replicas())) == ["prefill-0", "decode-2"]


@pytest.mark.parametrize(
    ("roles", "says"),
    [
        ({}, "roles must be"),
        ({"workers": 1}, "roles must be"),
        ({"both": 1, "decode": 1}, "either aggregated"),
        ({"both": -1}, "cannot be negative"),
        ({"decode": True}, "must be an integer"),
        ({"decode": 1.5}, "must be an integer"),
    ],
)
def test_bad_roles(roles: dict[str, int], says: str) -> None:
    with pytest.raises(ConfigError, match=says):
        validate_roles(roles)


def test_bad_scales_change_nothing() -> None:
    rs, _ = started({"both": 2})
    with pytest.raises(ConfigError, match="no role 'decode'"):
        rs.scale("decode", 1, Box)
    with pytest.raises(ConfigError, match="cannot be negative"):
        rs.scale("both", -1, Box)
    with pytest.raises(ConfigError, match="must be an integer"):
        rs.scale("both", True, Box)
    assert rs.counts("both") == Counts(starting=0, ready=2, draining=0)
    with pytest.raises(ConfigError, match="cold_start_s"):
        ReplicaSet({"both": 1}, clock=VirtualClock(), cold_start_s=-1.0)


def test_a_replica_is_a_plain_record_whose_phase_follows_its_times() -> None:
    replica: Replica[str] = Replica("both", "both-0", "handle", due_at=0.0)
    phases = [replica.phase]
    replica.ready_at = 0.0
    phases.append(replica.phase)
    replica.draining_since = 1.0
    phases.append(replica.phase)
    replica.stopped_at = 2.0
    phases.append(replica.phase)
    assert phases == [Phase.STARTING, Phase.READY, Phase.DRAINING, Phase.STOPPED]


def test_stopped_replicas_are_forgotten() -> None:
    rs, clock = started({"decode": 1})
    change = rs.scale("decode", 50, Box)
    for replica in change.added[:10]:
        clock.advance(10)
        rs.mark_ready(replica)
    kept = [weakref.ref(r.handle) for r in change.added]  # a replica keeps its handle
    del change, replica
    removed = rs.scale("decode", 0, Box).removed
    for replica in removed:
        rs.mark_stopped(replica)  # a draining replica's shell says it is gone
    del removed, replica
    gc.collect()
    assert len(kept) == 49 and [ref() for ref in kept] == [None] * 49
    assert list(rs.replicas()) == [] and rs.counts("decode") == Counts(0, 0, 0)


def test_no_role_asks_for_more_than_the_maximum() -> None:
    clock = VirtualClock()
    with pytest.raises(ConfigError, match="decode: 9 replicas is over the most of 8 per role"):
        ReplicaSet({"prefill": 1, "decode": 9}, clock=clock, max_replicas=8)
    rs: ReplicaSet[Box] = ReplicaSet({"decode": 8}, clock=clock, max_replicas=8)
    with pytest.raises(ConfigError, match="over the most of 8"):
        rs.scale("decode", 100_000, Box)
    assert rs.counts("decode") == Counts(0, 0, 0)  # nothing was started
