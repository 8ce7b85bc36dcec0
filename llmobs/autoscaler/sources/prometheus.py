"""Prometheus through ``prometheus-api-client``: the role observation as PromQL computes it.

Every expression comes from ``llmobs.promql`` (``queries`` lays them out). The queries run
over the llmobs exporter's series; when Prometheus has none of them and ``engine_series``
is set, over the engines' own vLLM or SGLang series instead (for users with no exporter: a
relabeling rule must put the role on them, by default as the ``role`` label). All queries of
one ``observe`` are evaluated at one instant, in a worker thread (the client is blocking).

Failures are ``SourceError``s with their cause: ``unreachable`` (refused, reset, DNS),
``timeout``, ``http_status`` (Prometheus answered non-200: a bad query, an overloaded
server, a proxy refusing credentials), ``malformed`` (not Prometheus's JSON), ``no_data``
(none of the series at all: nothing scrapes the exporter). An absent series (the client's
empty list) is None in the observation, never 0. Credentials are read at start and only
sent as the Authorization header; no message shows them.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

import requests
from prometheus_api_client import PrometheusConnect
from prometheus_api_client.exceptions import PrometheusApiClientException
from pydantic import Field, field_validator
from urllib3.exceptions import MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util.retry import Retry

from llmobs import engines, names, promql
from llmobs.autoscaler.model import SourceError
from llmobs.autoscaler.sources.queries import (
    EXPORTER_LABELS,
    Labels,
    Query,
    Slot,
    engine_plan,
    exporter_plan,
    read,
)
from llmobs.clock import SYSTEM, Clock
from llmobs.config import StrictModel
from llmobs.exporter.config import Auth
from llmobs.exporter.targets import credentials
from llmobs.observation import Observation
from llmobs.secrets import Redactor, display_url, strip_userinfo
from llmobs.window import DEFAULT_QUANTILES


class EngineSeries(StrictModel):
    """The engines' own series, read when Prometheus has none of the exporter's."""

    engine: Literal["vllm", "sglang"] = Field(description="Which engine's metric names to read.")
    role_label: str = Field(
        default=names.ROLE,
        description="The series label naming the role (prefill, decode), set by your "
        "Prometheus relabeling (e.g. from the pod label).",
    )
    group_label: str | None = Field(
        default=None, description="The label naming the group (RBG, Deployment); none: ''."
    )
    namespace_label: str | None = Field(
        default=names.NAMESPACE, description="The label naming the namespace; none: ''."
    )
    model_label: str | None = Field(
        default="model_name", description="The label naming the model (vLLM: model_name)."
    )

    def labels(self) -> Labels:
        return Labels(self.namespace_label, self.group_label, self.role_label, self.model_label)


class PrometheusSourceConfig(Auth):
    """Read role observations from Prometheus."""

    kind: Literal["prometheus"] = Field(
        default="prometheus", description="This source: PromQL over Prometheus's series."
    )
    url: str = Field(
        description="Prometheus's address (http://HOST:9090, or with a path prefix); "
        "user:password@ in it is sent as basic auth and never shown."
    )
    timeout_s: float = Field(default=5.0, gt=0, description="Seconds per query; longer fails.")
    window_s: float = Field(
        default=60.0,
        gt=0,
        description="Range of rate() and the latency histograms, in seconds; at least two "
        "scrape intervals of the series read.",
    )
    quantiles: list[float] = Field(
        default_factory=lambda: list(DEFAULT_QUANTILES),
        description="Latency quantiles to compute (those the policy's SLOs name).",
    )
    matchers: dict[str, str] = Field(
        default_factory=dict,
        description="label: value pairs every series must have (e.g. namespace: prod).",
    )
    engine_series: EngineSeries | None = Field(
        default=None,
        description="Read these engine series when Prometheus has none of the exporter's; "
        "by default that is a no_data failure.",
    )

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                f"{display_url(value)!r} is not a Prometheus URL: give http://HOST:PORT"
            )
        return value.rstrip("/")

    @field_validator("quantiles")
    @classmethod
    def _quantiles(cls, value: list[float]) -> list[float]:
        if any(not 0 < q < 1 for q in value):
            raise ValueError("quantiles must lie strictly between 0 and 1")
        return value


def _timed_out(exc: requests.exceptions.RequestException) -> bool:
    """A timeout, also when the client's zero-retry policy wraps it as a connection error."""
    if isinstance(exc, requests.exceptions.Timeout):
        return True
    inner = exc.args[0] if exc.args else None
    if not isinstance(inner, MaxRetryError):
        return False
    # urllib3 makes a refused connection a kind of connect timeout: it is not one.
    reason = inner.reason
    return isinstance(reason, Urllib3Timeout) and not isinstance(reason, NewConnectionError)


class PrometheusSource:
    """``model.Source`` over Prometheus's HTTP API."""

    def __init__(self, config: PrometheusSourceConfig, clock: Clock = SYSTEM) -> None:
        """Raises ConfigError: a secret file cannot be read."""
        self.config = config
        self.clock = clock
        self.shown = display_url(config.url)
        creds = credentials(config, "prometheus", config.url)
        headers = creds.headers() if creds is not None else {}
        auth = headers.get("Authorization", "")
        self._redact = Redactor([*(creds.secrets if creds else ()), auth, auth.partition(" ")[2]])
        # No retries: a failure is reported at once and the next observe is the retry.
        self.client = PrometheusConnect(
            url=strip_userinfo(config.url),
            headers=headers or None,
            retry=Retry(total=0, raise_on_status=False),
            timeout=config.timeout_s,
        )
        matchers = tuple(promql.eq(k, v) for k, v in sorted(config.matchers.items()))
        self.exporter = exporter_plan(config.window_s, config.quantiles, matchers)
        series = config.engine_series
        self.engine: tuple[Labels, tuple[Query, ...]] | None = None
        if series is not None:
            catalog = engines.BY_ENGINE[series.engine]
            labels = series.labels()
            plan = engine_plan(catalog, labels, config.window_s, config.quantiles, matchers)
            self.engine = (labels, plan)
        self.last_success: float | None = None  # wall time of the last good observation

    def _query(self, expr: str, at: float) -> Any:
        try:
            return self.client.custom_query(expr, params={"time": repr(at)})
        except requests.exceptions.ConnectionError as exc:
            if _timed_out(exc):
                raise self._timeout() from None
            why = " ".join(self._redact.text(str(exc)).split())[:300]
            raise SourceError(
                f"cannot reach Prometheus at {self.shown}: {why}", cause="unreachable"
            ) from None
        except PrometheusApiClientException as exc:
            why = " ".join(self._redact.text(str(exc)).split())[:300]
            raise SourceError(
                f"Prometheus at {self.shown} refused {expr!r:.120}: {why}", cause="http_status"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:  # the body is not the API's JSON
            raise SourceError(
                f"Prometheus at {self.shown} sent no query result: {exc!s:.200}",
                cause="malformed",
            ) from None
        except requests.exceptions.RequestException as exc:
            if _timed_out(exc):
                raise self._timeout() from None
            why = " ".join(self._redact.text(str(exc)).split())[:300]
            raise SourceError(f"Prometheus at {self.shown}: {why}", cause="unreachable") from None

    def _timeout(self) -> SourceError:
        return SourceError(
            f"Prometheus at {self.shown} timed out: no answer within {self.config.timeout_s:g}s",
            cause="timeout",
        )

    def _answers(self, plan: tuple[Query, ...], at: float, first: Any) -> dict[Slot, object]:
        """Each slot's answer; an expression that fills several slots is asked once."""
        asked: dict[str, object] = {plan[0].expr: first}
        for query in plan[1:]:
            if query.expr not in asked:
                asked[query.expr] = self._query(query.expr, at)
        return {query.slot: asked[query.expr] for query in plan}

    def _observe(self, at: float) -> Observation:
        plan, labels = self.exporter, EXPORTER_LABELS
        first = self._query(plan[0].expr, at)
        if first == [] and self.engine is not None:
            labels, plan = self.engine
            first = self._query(plan[0].expr, at)
        if first == []:
            hint = (
                "is it scraping the llmobs exporter (or set engine_series)?"
                if self.engine is None
                else "is it scraping the exporter or the engines, with the role label?"
            )
            raise SourceError(
                f"Prometheus at {self.shown} has no {plan[0].expr!r:.160} series: {hint}",
                cause="no_data",
            )
        window, quantiles = self.config.window_s, self.config.quantiles
        answers = self._answers(plan, at, first)
        return read(answers, plan, labels, quantiles=quantiles, window_s=window, timestamp=at)

    async def observe(self) -> Observation:
        """Every role as Prometheus sees it now (raises ``SourceError``)."""
        at = self.clock.wall()
        observation = await asyncio.to_thread(self._observe, at)
        self.last_success = at
        return observation

    async def close(self) -> None:
        self.client.close()
