"""The exporter follows an HTTP service-discovery endpoint: targets come and go with the list
it serves, take their role and pod from its labels, and an endpoint that fails keeps the
targets of its last good answer (counted as a discovery error), as Prometheus does."""

from __future__ import annotations

import json

from aiohttp import web

from llmobs import names
from tests.exporterhost import ExporterHost, all_up
from tests.fixtures.expositions import load
from tests.servers import HTTPServer
from tests.targets import FakeTarget

FAST = {"interval_s": 0.2, "timeout_s": 0.15, "window_s": 2.0}


class Discovery(HTTPServer):
    """Serves ``groups`` at /sd as JSON, or ``status`` when it is not 200."""

    def __init__(self) -> None:
        self.groups: list[dict[str, object]] = []
        self.status = 200

        async def sd(request: web.Request) -> web.Response:
            if self.status != 200:
                return web.Response(status=self.status, text="down")
            return web.Response(text=json.dumps(self.groups), content_type="application/json")

        super().__init__({"/sd": sd})


def test_targets_follow_the_discovered_list() -> None:
    body = load("vllm-0.32.0.txt")
    with Discovery() as sd, FakeTarget([body]) as one, FakeTarget([body]) as two:
        address = f"127.0.0.1:{one.port}"
        sd.groups = [{"targets": [address], "labels": {"role": "prefill", "pod": "p-0"}}]
        config = {**FAST, "http_sd": {"url": sd.url("/sd"), "refresh_interval_s": 0.2}}
        with ExporterHost(config) as host:
            host.wait(lambda h: set(h.targets()) == {"p-0"} and all_up(h), "p-0 up")
            assert host.targets()["p-0"]["role"] == "prefill"

            sd.groups.append({"targets": [f"127.0.0.1:{two.port}"], "labels": {"role": "decode"}})
            second = f"127.0.0.1:{two.port}"
            host.wait(lambda h: set(h.targets()) == {"p-0", second} and all_up(h), "two up")
            assert host.targets()[second]["role"] == "decode"

            sd.status = 500  # the endpoint fails: the targets stay, the failure is counted
            errors = names.EXPORTER_DISCOVERY_ERRORS.name + "_total"
            host.wait(lambda h: (h.value(errors) or 0) >= 1, "a discovery error counted")
            assert set(host.targets()) == {"p-0", second}

            sd.status = 200
            sd.groups = sd.groups[1:]  # p-0 is gone from the list: it is no longer scraped
            host.wait(lambda h: set(h.targets()) == {second}, "p-0 removed")
