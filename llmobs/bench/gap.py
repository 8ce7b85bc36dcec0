"""What the client sees minus what the server measured: the network, the API server and the
client itself, per signal.

Means are exact on both sides (the engine's ``_sum / _count``). A server percentile is
interpolated inside a histogram bucket, so it is only as good as the bucket is narrow; the
client's values are therefore put into the *same* buckets and read the same way before the
percentiles are subtracted. The gap is then free of bucket error, which a raw subtraction of
a client percentile and a bucket-interpolated one is not (buckets of vLLM's TTFT are seconds
wide at the top). Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from llmobs import signals
from llmobs.bench.metrics import e2el, itls, tpot, ttft
from llmobs.bench.records import RequestRecord
from llmobs.histogram import Histogram, mean, observe, quantile

QUANTILES = (0.5, 0.9, 0.99)


def _per_request(
    fn: Callable[[RequestRecord], float | None],
) -> Callable[[Sequence[RequestRecord]], list[float]]:
    def values(records: Sequence[RequestRecord]) -> list[float]:
        return [v for r in records if (v := fn(r)) is not None]

    return values


def _itl(records: Sequence[RequestRecord]) -> list[float]:
    return [g for r in records for g in itls(r)]


CLIENT: dict[str, tuple[str, Callable[[Sequence[RequestRecord]], list[float]]]] = {
    "ttft": (signals.TTFT.name, _per_request(ttft)),
    "tpot": (signals.TPOT.name, _per_request(tpot)),
    "itl": (signals.ITL.name, _itl),
    "e2el": (signals.E2E.name, _per_request(e2el)),
}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 3)


def gap(client: Sequence[float], server: Histogram | None) -> dict[str, float | None]:
    """Client minus server (ms): the mean, and percentiles at the server's resolution."""
    if server is None or not client:
        return {"mean": None, **{f"p{q * 100:g}": None for q in QUANTILES}}
    mine = observe(client, server.bounds)
    out: dict[str, float | None] = {}
    client_mean, server_mean = mean(mine), mean(server)
    out["mean"] = (
        None if client_mean is None or server_mean is None else _ms(client_mean - server_mean)
    )
    for q in QUANTILES:
        a, b = quantile(q, mine), quantile(q, server)
        out[f"p{q * 100:g}"] = None if a is None or b is None else _ms(a - b)
    return out


def gaps(
    records: Sequence[RequestRecord], server: Mapping[str, Histogram | None]
) -> dict[str, dict[str, float | None]]:
    """Per signal (ttft, tpot, itl, e2el): client minus server, over the run's requests."""
    ok = [r for r in records if r.ok and not r.warmup]
    return {name: gap(values(ok), server.get(signal)) for name, (signal, values) in CLIENT.items()}
