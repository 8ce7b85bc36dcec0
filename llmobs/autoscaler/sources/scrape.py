"""In-process scraping: the exporter's own scrape loops and role aggregation, no HTTP hop.

The targets are given as the exporter takes them (static ``targets``, ``--target`` flags, or
``kubernetes`` discovery with its pod watch), and ``observe`` returns what the exporter's
``/v1/roles`` would serve at that moment. One process is enough: the autoscaler scrapes the
engines itself. When every known target is down the observation would be empty of signal, so
that is a ``SourceError`` naming the targets' last errors; a role with some replicas down is
an observation (the policy sees ``replicas.up < replicas.ready`` and holds).
"""

from __future__ import annotations

from collections import Counter
from typing import Literal

from pydantic import Field, model_validator

from llmobs.autoscaler.model import SourceError
from llmobs.clock import SYSTEM, Clock
from llmobs.exporter.config import ExporterConfig
from llmobs.exporter.service import Exporter
from llmobs.exporter.state import TargetView
from llmobs.observation import Observation

# How many failing targets an error message names (the rest are counted).
SHOWN_TARGETS = 3


class ScrapeSourceConfig(ExporterConfig):
    """Scrape the engines in this process with the exporter's code: every field of the
    exporter's configuration but ``host`` and ``port`` (nothing is served)."""

    kind: Literal["scrape"] = Field(
        default="scrape", description="This source: in-process scraping of the engines."
    )

    @model_validator(mode="after")
    def _serves_nothing(self) -> ScrapeSourceConfig:
        served = {"host", "port"} & self.model_fields_set
        if served:
            raise ValueError(
                f"{' and '.join(sorted(served))}: the scrape source serves nothing; remove them "
                "(the autoscaler's own port is set elsewhere)"
            )
        return self


def _cause(view: TargetView) -> str:
    """The reason a down target failed most often (``unreachable``, ``timeout``, ...)."""
    if not view.errors:
        return "no_data"
    return max(view.errors.items(), key=lambda item: item[1])[0]


def failure(views: tuple[TargetView, ...]) -> SourceError | None:
    """The error to raise for these targets: None while one is up, or when there are none
    (no target is zero replicas, not a failure)."""
    if not views or any(view.up for view in views):
        return None
    failed = [view for view in views if view.last_error is not None]
    if not failed:
        return SourceError(
            f"no scrape of the {len(views)} target(s) has finished yet", cause="no_data"
        )
    cause = Counter(_cause(view) for view in failed).most_common(1)[0][0]
    shown = "; ".join(str(view.last_error) for view in failed[:SHOWN_TARGETS])
    more = len(failed) - SHOWN_TARGETS
    return SourceError(
        f"every target is down ({cause}): {shown}" + (f"; and {more} more" if more > 0 else ""),
        cause=cause,
    )


class ScrapeSource:
    """``model.Source`` over the exporter's scrape loops, started on the first ``observe``."""

    def __init__(self, config: ExporterConfig, clock: Clock = SYSTEM) -> None:
        """Raises ConfigError: two static targets share an identity, or a secret file cannot
        be read (the exporter reads them here, before anything is scraped)."""
        self.clock = clock
        self.exporter = Exporter(config, clock)
        self.last_success: float | None = None  # wall time of the last good observation
        self._started = False

    async def start(self) -> None:
        """Start scraping (and the pod watch); ``observe`` does it when not done yet."""
        if not self._started:
            self._started = True
            await self.exporter.start()

    async def observe(self) -> Observation:
        """Every role as the exporter aggregates it now.

        Raises:
            SourceError: every target is down (cause: their most frequent failure), or none
                has been scraped yet (``no_data``).
        """
        await self.start()
        exported = self.exporter.scraper.exported()
        error = failure(exported.targets)
        if error is not None:
            raise error
        self.last_success = self.clock.wall()
        return exported.roles

    async def close(self) -> None:
        if self._started:
            await self.exporter.stop()
            self._started = False
