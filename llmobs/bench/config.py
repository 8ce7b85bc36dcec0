"""``llmbench run``'s settings: strict, described, checked before anything is sent.

The API key is not part of it: it is read from ``--api-key`` or ``OPENAI_API_KEY`` by the
command line, goes into a header, and is never printed or saved.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import Field, Strict, field_validator, model_validator

from llmobs.config import StrictModel, read_yaml
from llmobs.errors import ConfigError
from llmobs.secrets import display_url
from llmobs.trace import MAX_TOKENS

DEFAULT_PROMPTS = 200
LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=@-]{0,99}")

# Numbers are numbers: a YAML ``isl: true`` or ``rate: "8"`` is refused, not read as 1 or 8
# (pydantic's lax mode would); an int is still a float.
StrictInt = Annotated[int, Strict()]
StrictFloat = Annotated[float, Strict()]
PositiveInt = Annotated[int, Strict(), Field(gt=0)]
PositiveFloat = Annotated[float, Strict(), Field(gt=0)]


class RunConfig(StrictModel):
    base_url: str | None = Field(
        None,
        description=(
            "OpenAI-compatible server (vLLM, SGLang, Dynamo, llm-d, a gateway); none starts the "
            "built-in emulator in this process."
        ),
    )
    endpoint: Literal["/v1/completions", "/v1/chat/completions"] = Field(
        "/v1/completions", description="Which API to load."
    )
    model: str | None = Field(None, description="Model name; default the first of /v1/models.")
    request_rate: StrictFloat = Field(
        math.inf,
        gt=0,
        allow_inf_nan=True,  # inf: everything at once (vLLM's default); gt=0 refuses nan
        description=("Requests per second of the open loop; inf sends everything at once."),
    )
    burstiness: StrictFloat = Field(
        1.0,
        gt=0,
        allow_inf_nan=True,  # inf: evenly spaced; gt=0 refuses nan
        description=("Gamma shape of the gaps: 1 is Poisson, below 1 burstier, inf evenly spaced."),
    )
    max_concurrency: PositiveInt | None = Field(
        None,
        description=(
            "At most this many requests in flight (split over the workers, each its own "
            "queue); the wait is reported as client queue."
        ),
    )
    num_prompts: PositiveInt | None = Field(
        None,
        description=(f"Requests to send (default {DEFAULT_PROMPTS} when no duration is given)."),
    )
    duration: PositiveFloat | None = Field(
        None, description=("Send for this many seconds instead of a number of requests.")
    )
    warmup: StrictInt = Field(
        0, ge=0, description="Requests sent first and left out of the results."
    )
    seed: StrictInt = Field(0, description="Seeds the arrivals and the prompts.")
    isl: PositiveInt = Field(1024, le=MAX_TOKENS, description="Input (prompt) tokens per request.")
    osl: PositiveInt = Field(
        128, le=MAX_TOKENS, description="Output tokens per request (ignore_eos is set)."
    )
    range_ratio: StrictFloat = Field(
        0.0,
        ge=0,
        lt=1,
        description=("Lengths uniform in [L(1-r), L(1+r)], vLLM's --random-range-ratio."),
    )
    prefix_len: StrictInt = Field(
        0, ge=0, le=MAX_TOKENS, description="A prefix of this many tokens shared by all."
    )
    dataset: Literal["random", "sharegpt", "trace"] = Field(
        "random",
        description=(
            "random (isl/osl), a ShareGPT JSON file, or a Mooncake trace (timestamps replayed)."
        ),
    )
    dataset_path: Path | None = Field(None, description="The ShareGPT or trace file.")
    time_scale: PositiveFloat = Field(1.0, description="Trace replay: multiply timestamps.")
    tokenizer: str | None = Field(
        None,
        description=(
            "Local Hugging Face tokenizer folder for exact prompt lengths; else the server's "
            "/tokenize when it has one, else the lengths come from usage.prompt_tokens."
        ),
    )
    percentiles: tuple[StrictFloat, ...] = Field(
        (50.0, 90.0, 95.0, 99.0), description=("Percentiles to report.")
    )
    slo: str | None = Field(None, description="Goodput SLOs, e.g. ttft=500ms,tpot=50ms.")
    scrape: tuple[str, ...] = Field(
        (), description=("Engine /metrics URLs to scrape during the run (server-side truth).")
    )
    scrape_interval: PositiveFloat = Field(2.0, description="Seconds between scrapes.")
    workers: PositiveInt = Field(1, description="Load-generator processes.")
    timeout_s: PositiveFloat | None = Field(
        None,
        description=(
            "Per-request limit; none waits as long as the stream goes on (a stream silent "
            "for 10 minutes fails anyway)."
        ),
    )
    label: str | None = Field(
        None,
        description=(
            "A name for the run, kept in the result and in its folder's name: letters, digits "
            "and . _ - + = @ (one path component, at most 100 characters)."
        ),
    )
    sim_model: str | None = Field(
        None, description="With no base_url: the emulator's model profile (default Qwen2.5-7B)."
    )
    sim_hardware: str | None = Field(
        None, description="With no base_url: the emulator's GPU profile (default H100-80GB)."
    )
    sim_pd: str | None = Field(
        None, description="With no base_url: emulate xPyD disaggregation (e.g. 1P1D)."
    )

    @field_validator("label")
    @classmethod
    def _label(cls, value: str | None) -> str | None:
        """The label names a folder under ``llmbench-runs/``: ``../x`` or ``a/b`` would write
        elsewhere, so only a single plain path component is taken."""
        if value is not None and not LABEL.fullmatch(value):
            raise ValueError(
                f"{value!r} is not a plain name: use letters, digits and . _ - + = @ "
                "(starting with a letter or digit, at most 100 characters)"
            )
        return value

    @model_validator(mode="after")
    def _check(self) -> Self:
        if self.base_url is not None:
            _check_base_url(self.base_url)
        if self.base_url is not None and (self.sim_model or self.sim_hardware or self.sim_pd):
            raise ValueError("--sim-* options choose the emulator: drop them or --base-url")
        if self.dataset != "random" and self.dataset_path is None:
            raise ValueError(f"--dataset {self.dataset} needs a FILE")
        if self.duration is not None and self.num_prompts is not None:
            raise ValueError("give --num-prompts or --duration, not both")
        if self.duration is not None and math.isinf(self.request_rate):
            raise ValueError("--duration needs a finite --request-rate")
        if any(not 0 < p < 100 for p in self.percentiles):
            raise ValueError("percentiles must be between 0 and 100")
        if self.max_concurrency is not None and self.max_concurrency < self.workers:
            raise ValueError(
                "--max-concurrency is split over the --workers: give at least one per worker"
            )
        from llmobs.scrape.fetch import normalize_url  # aiohttp: not for llmbench --help

        for url in self.scrape:
            try:
                normalize_url(url)
            except ConfigError as exc:
                raise ValueError(f"--scrape: {exc}") from None
        return self

    @property
    def chat(self) -> bool:
        return self.endpoint == "/v1/chat/completions"


def _check_base_url(url: str) -> None:
    """An http(s) URL with a host and a port in 1-65535: anything else could never be reached
    (exit 2, not 1). Messages show the URL as ``display_url`` does (no password)."""
    shown = display_url(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket
        raise ValueError(f"--base-url {shown!r}: {exc}; give http://HOST:PORT") from None
    try:
        port = parts.port
    except ValueError:
        port = 0
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--base-url {shown!r}: give http://HOST:PORT (or https://)")
    if port == 0:
        raise ValueError(f"--base-url {shown!r}: the port must be a number from 1 to 65535")


def load_scenario(path: Path) -> dict[str, Any]:
    """A scenario file's settings (``bench/scenarios/``), not validated yet: the command line
    puts its options on top. A relative ``dataset_path`` is relative to the file.

    Raises:
        ConfigError: as ``llmobs.config.read_yaml``.
    """
    data = read_yaml(path, "scenario")
    if isinstance(data.get("dataset_path"), str):
        data["dataset_path"] = (path.parent / data["dataset_path"]).resolve()
    return data
