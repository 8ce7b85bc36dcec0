"""The http_* metrics vLLM's API server exposes (prometheus_fastapi_instrumentator), emulated.

vLLM instruments every route but /metrics, /health, /load, /ping, /version and
/server_info: requests by handler, method and status class (``2xx``), request and response
sizes from the Content-Length headers only, and two latency histograms. ``HttpStats`` is
filled by an aiohttp middleware; ``HttpMetrics`` renders it at scrape time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from aiohttp import web
from prometheus_client.core import (
    CounterMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)

from llmobs.sim.stats import Histo, le

# Patterns searched (re.search) in the route template, or the raw path when no route matched.
EXCLUDED = tuple(
    re.compile(p) for p in ("/metrics", "/health", "/load", "/ping", "/version", "/server_info")
)
HIGHR = (
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1,
    1.5,
    2,
    2.5,
    3,
    3.5,
    4,
    4.5,
    5,
    7.5,
    10,
    30,
    60,
)
FEW = (0.1, 0.5, 1)
SIZE_DOC = (
    "Content length of {} by handler. Only value of header is respected. Otherwise "
    "ignored. No percentile calculated. "
)


@dataclass
class _Sized:
    count: int = 0
    total: float = 0.0
    created: float = field(default_factory=time.time)


@dataclass
class HttpStats:
    requests: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    request_size: dict[str, _Sized] = field(default_factory=dict)
    response_size: dict[str, _Sized] = field(default_factory=dict)
    duration: dict[tuple[str, str], tuple[Histo, float]] = field(default_factory=dict)
    highr: Histo = field(default_factory=lambda: Histo(HIGHR))
    highr_created: float = field(default_factory=time.time)

    def record(
        self,
        handler: str,
        method: str,
        status: int,
        request_bytes: int,
        response_bytes: int,
        seconds: float,
    ) -> None:
        key = (handler, method, f"{status // 100}xx")
        counter = self.requests.setdefault(key, [0.0, time.time()])
        counter[0] += 1
        for table, size in (
            (self.request_size, request_bytes),
            (self.response_size, response_bytes),
        ):
            sized = table.setdefault(handler, _Sized())
            sized.count += 1
            sized.total += size
        histo, _ = self.duration.setdefault((handler, method), (Histo(FEW), time.time()))
        histo.observe(seconds)
        self.highr.observe(seconds)


def middleware(stats: HttpStats) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def instrument(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        resource = request.match_info.route.resource
        path = resource.canonical if resource is not None else "none"
        checked = resource.canonical if resource is not None else request.path
        if any(pattern.search(checked) for pattern in EXCLUDED):
            return await handler(request)
        start = time.perf_counter()
        status = 500
        response: web.StreamResponse | None = None
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:  # only when nothing inside turned it into a response
            status = exc.status
            raise
        finally:
            sent = 0
            if (
                response is not None
                and response.content_length is not None
                and not (response.chunked)
            ):
                sent = response.content_length
            stats.record(
                path,
                request.method,
                status,
                request.content_length or 0,
                sent,
                time.perf_counter() - start,
            )

    return instrument


def _histogram(
    name: str, doc: str, labels: list[str], rows: list[tuple[list[str], Histo, float]]
) -> HistogramMetricFamily:
    family = HistogramMetricFamily(name, doc, labels=labels)
    for values, histo, created in rows:
        buckets = [(le(b), c) for b, c in zip(histo.bounds, histo.cumulative(), strict=False)]
        buckets.append(("+Inf", float(histo.count)))
        family.add_metric(values, buckets, histo.sum)
        family.add_sample(name + "_created", dict(zip(labels, values, strict=True)), created)
    return family


class HttpMetrics:
    """prometheus_client collector for ``HttpStats``."""

    def __init__(self, stats: HttpStats) -> None:
        self.stats = stats

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        requests = CounterMetricFamily(
            "http_requests",
            "Total number of requests by method, status and handler.",
            labels=["handler", "method", "status"],
        )
        for (handler, method, status), (count, created) in s.requests.items():
            requests.add_metric([handler, method, status], count, created=created)
        yield requests
        for name, what, table in (
            ("http_request_size_bytes", "incoming requests", s.request_size),
            ("http_response_size_bytes", "outgoing responses", s.response_size),
        ):
            summary = SummaryMetricFamily(name, SIZE_DOC.format(what), labels=["handler"])
            for handler, sized in table.items():
                summary.add_metric([handler], count_value=sized.count, sum_value=sized.total)
                summary.add_sample(name + "_created", {"handler": handler}, sized.created)
            yield summary
        yield _histogram(
            "http_request_duration_highr_seconds",
            "Latency with many buckets but no API specific labels. Made for more accurate "
            "percentile calculations. ",
            [],
            [([], s.highr, s.highr_created)],
        )
        yield _histogram(
            "http_request_duration_seconds",
            "Latency with only few buckets by handler. Made to be only used if aggregation by "
            "handler is important. ",
            ["handler", "method"],
            [([h, m], histo, created) for (h, m), (histo, created) in s.duration.items()],
        )
