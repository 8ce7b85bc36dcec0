"""Leader election on a real Lease over HTTP (the loopback API server), with one virtual clock
moved by the test: never two leaders, a silent leader replaced after the lease duration, a
released lease taken at once, races decided by the resourceVersion, a 403 explained."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmobs.autoscaler.actuators import api_client
from llmobs.autoscaler.lease import (
    ElectionConfig,
    LeaseElector,
    LeaseRecord,
    Observed,
    Step,
    lease_body,
    micro_time,
    plan,
    record_of,
)
from llmobs.clock import VirtualClock
from tests.kubescale import LEASES, FakeKubeCluster

NS = "llmobs"
CONFIG = ElectionConfig(lease_duration_s=15, renew_deadline_s=10, retry_period_s=2)


@pytest.fixture
def kube() -> Iterator[FakeKubeCluster]:
    with FakeKubeCluster() as server:
        yield server


def elector(
    kube: FakeKubeCluster, identity: str, clock: VirtualClock, name: str = "scaler"
) -> LeaseElector:
    return LeaseElector(api_client(kube.url("")), NS, name, identity, CONFIG, clock)


def spec_of(kube: FakeKubeCluster, name: str = "scaler") -> dict[str, Any]:
    lease = kube.get_object(*LEASES, NS, name)
    assert lease is not None
    spec: dict[str, Any] = lease["spec"]
    return spec


def test_one_leader_and_takeover_after_the_lease_duration(kube: FakeKubeCluster) -> None:
    clock = VirtualClock(start=100.0, epoch=1_700_000_000.0)
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)
    leaders: dict[float, list[str]] = {}

    async def timeline() -> None:
        while clock.monotonic() <= 140:
            if clock.monotonic() <= 110:  # a renews until t=110, then goes silent
                await a.attempt()
            await b.attempt()
            now = clock.monotonic()
            leaders[now] = [e.identity for e in (a, b) if e.is_leader()]
            clock.advance(CONFIG.retry_period_s)

    asyncio.run(timeline())
    assert all(len(who) <= 1 for who in leaders.values()), leaders
    assert leaders[100] == leaders[110] == ["a"]
    assert leaders[120] == []  # a's renew deadline passed at 120; b waits for the duration
    # b last saw a change at 110 (a's last renewal): the lease is b's at 110 + 15 -> 126
    assert leaders[124] == [] and leaders[126] == ["b"] and leaders[140] == ["b"]
    spec = spec_of(kube)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    assert spec["leaseDurationSeconds"] == 15
    assert spec["renewTime"] == micro_time(1_700_000_140.0)
    assert asyncio.run(a.attempt()) is False and a.holder == "b"  # a comes back: follows


def test_release_hands_over_at_once(kube: FakeKubeCluster) -> None:
    clock = VirtualClock()
    a, b = elector(kube, "a", clock), elector(kube, "b", clock)

    async def run() -> list[bool]:
        first = [await a.attempt(), await b.attempt()]
        await a.release()
        return [*first, a.is_leader(), await b.attempt()]

    assert asyncio.run(run()) == [True, False, False, True]
    assert spec_of(kube)["holderIdentity"] == "b"


@pytest.mark.parametrize("name", [f"race-{i}" for i in range(5)])
def test_racing_creators_one_wins(kube: FakeKubeCluster, name: str) -> None:
    clock = VirtualClock()
    electors = [elector(kube, who, clock, name) for who in ("a", "b", "c")]

    async def race() -> list[bool]:
        return list(await asyncio.gather(*(e.attempt() for e in electors)))

    won = asyncio.run(race())
    assert won.count(True) == 1
    assert spec_of(kube, name)["holderIdentity"] == electors[won.index(True)].identity


def test_racing_takeover_one_wins(kube: FakeKubeCluster) -> None:
    clock = VirtualClock()
    a, b, c = (elector(kube, who, clock) for who in "abc")

    async def run() -> list[bool]:
        assert await a.attempt() and not await b.attempt() and not await c.attempt()
        clock.advance(CONFIG.lease_duration_s)  # a fell silent
        return list(await asyncio.gather(b.attempt(), c.attempt()))

    won = asyncio.run(run())
    assert won.count(True) == 1
    spec = spec_of(kube)
    assert spec["holderIdentity"] == "bc"[won.index(True)] and spec["leaseTransitions"] == 1


def test_a_lost_update_means_not_leading(kube: FakeKubeCluster) -> None:
    clock = VirtualClock()
    a = elector(kube, "a", clock)
    assert asyncio.run(a.attempt())
    kube.fail("update", "leases", 409)
    assert asyncio.run(a.attempt()) is False
    assert a.last_error == 'lease "scaler" in namespace "llmobs": another replica wrote it first'


def test_a_leader_cut_off_stops_at_its_renew_deadline(kube: FakeKubeCluster) -> None:
    clock = VirtualClock()
    a = elector(kube, "a", clock)
    assert asyncio.run(a.attempt())
    kube.fail("get", "leases", 500, times=10)  # the API server fails from now on
    leading = {}
    for _ in range(6):
        clock.advance(CONFIG.retry_period_s)
        leading[clock.monotonic()] = asyncio.run(a.attempt())
    assert leading == {2: True, 4: True, 6: True, 8: True, 10: False, 12: False}
    assert a.last_error == 'lease "scaler" in namespace "llmobs": HTTP 500 Internal Server Error'


def test_timeout_is_named(kube: FakeKubeCluster) -> None:
    config = ElectionConfig(15, 10, 2, timeout_s=0.3)
    a = LeaseElector(api_client(kube.url("")), NS, "scaler", "a", config, VirtualClock())
    kube.hang("get", "leases")
    assert asyncio.run(a.attempt()) is False
    assert a.last_error == 'lease "scaler" in namespace "llmobs": timed out after 0.3s'


def test_forbidden_names_the_rule(kube: FakeKubeCluster) -> None:
    kube.fail("get", "leases", 403)
    a = elector(kube, "a", VirtualClock())
    assert asyncio.run(a.attempt()) is False
    assert a.last_error is not None and a.last_error.startswith("forbidden:")
    assert 'resources: ["leases"], verbs: ["get", "create", "update"]' in a.last_error


def test_run_loop_leads_then_releases(kube: FakeKubeCluster) -> None:
    seen: list[bool] = []

    async def run() -> None:
        stop = asyncio.Event()

        def changed(leading: bool) -> None:
            seen.append(leading)
            stop.set()  # stop as soon as it leads

        await elector(kube, "a", VirtualClock()).run(stop, changed)

    asyncio.run(run())
    assert seen == [True]
    assert spec_of(kube)["holderIdentity"] == ""  # released on the way out


RECORD = LeaseRecord("a", 15, "t0", 3, "7")


@pytest.mark.parametrize(
    ("observed", "identity", "now", "step"),
    [
        (None, "a", 0.0, Step.CREATE),
        (Observed(RECORD, 0.0), "a", 100.0, Step.RENEW),
        (Observed(RECORD, 0.0), "b", 14.9, Step.FOLLOW),
        (Observed(RECORD, 0.0), "b", 15.0, Step.ACQUIRE),
        (Observed(LeaseRecord("", 15, None, 3, "8"), 0.0), "b", 0.0, Step.ACQUIRE),
    ],
)
def test_plan(observed: Observed | None, identity: str, now: float, step: Step) -> None:
    assert plan(observed, identity, now) is step


def test_bodies() -> None:
    renew = lease_body("l", "a", 15, Step.RENEW, RECORD, 0.0)
    assert renew["spec"]["acquireTime"] == "t0" and renew["spec"]["leaseTransitions"] == 3
    assert renew["metadata"] == {"name": "l", "resourceVersion": "7"}
    take = lease_body("l", "b", 15, Step.ACQUIRE, RECORD, 1.5)
    assert take["spec"]["acquireTime"] == "1970-01-01T00:00:01.500000Z"
    assert take["spec"]["leaseTransitions"] == 4
    assert "resourceVersion" not in lease_body("l", "a", 15, Step.CREATE, None, 0)["metadata"]


@pytest.mark.parametrize(("retry", "deadline", "duration"), [(2, 10, 10), (10, 10, 15), (0, 1, 2)])
def test_config_needs_retry_below_deadline_below_duration(
    retry: float, deadline: float, duration: int
) -> None:
    with pytest.raises(ValueError, match="retry_period_s < renew_deadline_s < lease_duration_s"):
        ElectionConfig(duration, deadline, retry)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
lease_keys = st.sampled_from(
    ["holderIdentity", "leaseDurationSeconds", "acquireTime", "leaseTransitions", "x"]
)


@given(
    spec=st.one_of(json_values, st.dictionaries(lease_keys, json_values, max_size=5)),
    meta=st.one_of(json_values, st.fixed_dictionaries({"resourceVersion": st.text(max_size=4)})),
)
def test_record_of_any_json(spec: object, meta: object) -> None:
    record = record_of({"spec": spec, "metadata": meta}, 15)
    assert isinstance(record.holder, str) and isinstance(record.resource_version, str)
    assert isinstance(record.duration_s, int) and isinstance(record.transitions, int)
    if isinstance(spec, dict) and isinstance(spec.get("holderIdentity"), str):
        assert record.holder == spec["holderIdentity"]
