"""Worker processes: a worker killed outright is reported, not waited for forever."""

from __future__ import annotations

import os
import signal
import time

from llmobs.bench.records import RequestRecord
from llmobs.bench.runner import Target
from llmobs.bench.workers import WorkerPool
from llmobs.bench.workload import RequestSpec
from tests.fakeopenai import MODEL, FakeOpenAI
from tests.servers import wait_until


def test_a_killed_worker_is_reported_and_the_rest_come_back() -> None:
    with FakeOpenAI(mode="slow", slow_s=0.1) as fake:
        specs = [RequestSpec(i, 0.05 * i, "slow words", 2, 3) for i in range(40)]
        target = Target(fake.url("/v1/completions"), MODEL, False)
        pool = WorkerPool(2, specs, target, None)
        records: list[RequestRecord] = []
        try:
            pool.launch()

            def ready() -> bool:
                pool.drain(lambda record, line: records.append(record))
                return len(pool.ready) == 2

            wait_until(ready, 60, "both workers to be ready")
            pool.begin()

            def some() -> bool:
                pool.drain(lambda record, line: records.append(record))
                return len(records) >= 4

            wait_until(some, 30, "the first records")
            victim = pool.processes[1]
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while not pool.done and time.monotonic() < deadline:
                pool.drain(lambda record, line: records.append(record))
                pool.check()
                time.sleep(0.02)
        finally:
            pool.stop()
    assert pool.done
    (problem,) = pool.health.problems
    assert f"worker 1 (pid {victim.pid}) was killed by SIGKILL" in problem
    assert {r.worker for r in records} == {0, 1}
    assert sum(1 for r in records if r.worker == 0) == 20  # the live worker finished its share
