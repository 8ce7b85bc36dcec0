"""The exporter reads time only through its Clock: every timestamp, window and age it
serves is the clock's, whatever the machine's clocks say. Also: running the exporter leaves
process-wide settings (the garbage collector's) as they were."""

from __future__ import annotations

import gc

from llmobs.clock import VirtualClock
from llmobs.observation import from_json
from tests.exporterhost import ExporterHost, all_up
from tests.fixtures.expositions import load
from tests.targets import FakeTarget

DAY = 86_400.0


def test_timestamps_and_ages_come_from_the_exporters_clock() -> None:
    clock = VirtualClock(start=100.0, epoch=1_000.0)
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    with FakeTarget([load("vllm-0.32.0.txt")]) as target:
        config = {
            "targets": [{"url": target.url("/metrics"), "pod": "p", "role": "decode"}],
            "interval_s": DAY,  # one scrape now, the next one a day of real time away
            "window_s": 2 * DAY,
        }
        with ExporterHost(config, clock) as host:
            host.wait(all_up, "the target up")
            assert host.targets()["p"]["last_success"] == 1_100.0  # epoch + monotonic
            (decode,) = from_json(host.roles()).roles
            assert (decode.timestamp, decode.age_seconds) == (1_100.0, 0.0)
            assert decode.window_seconds == 2 * DAY

            clock.advance(20.0)
            scraped_at = host.targets()["p"]["last_success"]
            observation = from_json(host.roles())
            (decode,) = observation.roles
            assert observation.timestamp == decode.timestamp == 1_120.0
            assert decode.age_seconds == 1_120.0 - scraped_at
            assert scraped_at == 1_100.0 or decode.age_seconds == 0.0
            assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, frozen)
