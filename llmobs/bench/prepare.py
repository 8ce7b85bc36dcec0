"""Before the first request: find the model, build the workload, make its lengths exact.

Everything here happens before anything is timed, and every failure is one of llmobs's
errors with a message: a server that cannot be reached, one that is not OpenAI-compatible,
a model it does not serve, a tokenizer folder that cannot be read. Calibration that fails
half-way (``/tokenize`` starts refusing) falls back to approximate lengths, and says so.
Input is checked before the server is contacted, so a bad input is exit 2 whatever the
server does: a plan of more than ``MAX_REQUESTS`` requests (the workload is held in memory),
the dataset file (read whole here) and the ``--tokenizer`` folder. Server text in a message
has the API key redacted; a password in ``--base-url`` is sent as basic auth, and the URL is
used (and shown) without it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiohttp

from llmobs import strictjson
from llmobs.bench import arrivals, calibrate, workload
from llmobs.bench.client import reason
from llmobs.bench.config import DEFAULT_PROMPTS, RunConfig
from llmobs.bench.runner import Target
from llmobs.bench.workload import RequestSpec
from llmobs.errors import ConfigError, LlmobsError, TargetError, TargetUnreachable
from llmobs.secrets import Redactor, strip_userinfo, url_credentials
from llmobs.sim.tokenizer import Tokenizer
from llmobs.sim.tokenizer import load as load_tokenizer
from llmobs.trace import TraceRow, read_trace

MAX_REQUESTS = 1_000_000  # one run's plan; each request's prompt is built before sending
MODELS_TIMEOUT_S = 10.0


@dataclass
class Prepared:
    target: Target
    specs: list[RequestSpec]
    notes: list[str] = field(default_factory=list)


def base_of(url: str) -> tuple[str, str | None]:
    """The server's root; ``http://h:8000/v1`` (the OpenAI SDK's form) is taken to mean
    ``http://h:8000``, with a note."""
    root = url.rstrip("/")
    if root.endswith("/v1"):
        return root[: -len("/v1")], f"--base-url {url}: using {root[:-3]} (the API is under /v1)"
    return root, None


async def models_of(
    base: str, headers: dict[str, str], required: bool, redactor: Redactor | None = None
) -> list[str]:
    """What ``/v1/models`` lists. Unreachable is always an error; an answer that is not a
    model list is one only when the model must be looked up (no ``--model``)."""
    url = base + "/v1/models"
    redactor = redactor or Redactor()
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=MODELS_TIMEOUT_S)) as session,
            session.get(url, headers=headers) as response,
        ):
            status = response.status
            kind = response.headers.get("Content-Type", "no content type")
            text = redactor.text(await response.text(errors="replace"))
    except (aiohttp.ClientError, TimeoutError) as exc:
        _, why = reason(exc, url, MODELS_TIMEOUT_S if isinstance(exc, TimeoutError) else None)
        raise TargetUnreachable(
            f"cannot reach {base}: {redactor.text(why)}; is the server running, and is "
            "--base-url right?"
        ) from None
    if status in (401, 403):
        raise TargetError(f"{url} answered HTTP {status}: give --api-key (or OPENAI_API_KEY)")
    try:
        doc = strictjson.loads(text) if status == 200 else None
    except (ValueError, RecursionError):
        doc = None
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        if not required:
            return []
        why = f"HTTP {status}" if status != 200 else f"no model list ({kind})"
        raise TargetError(
            f"{url} answered {why} ({text.strip()[:200]!r}): is this an OpenAI-compatible "
            "server? With a gateway that has no /v1/models, give --model"
        )
    return [str(m.get("id")) for m in data if isinstance(m, dict)]


def authorization(base_url: str, api_key: str | None) -> tuple[dict[str, str], tuple[str, ...]]:
    """The requests' headers and the secrets to redact: the API key as a bearer token, or
    else the base URL's userinfo as basic auth (sent, never shown: the URL is used without
    it)."""
    if api_key:
        return {"Authorization": f"Bearer {api_key}"}, (api_key,)
    credentials = url_credentials(base_url)
    if credentials is None:
        return {}, ()
    headers = credentials.headers()
    return headers, (*credentials.secrets, headers["Authorization"])


def check_plan(cfg: RunConfig) -> None:
    """Refuse a plan too large to hold (``MAX_REQUESTS``), before anything is built.

    Raises:
        ConfigError: the plan has more requests than ``MAX_REQUESTS``.
    """
    if cfg.dataset == "trace":
        return  # as many as the file has rows
    count = arrivals.planned(cfg.num_prompts, cfg.duration, cfg.request_rate)
    if count <= MAX_REQUESTS:
        return
    shown = "more than 10^300" if math.isinf(count) else f"about {count:,.0f}"
    plan = (
        f"--request-rate {cfg.request_rate:g} for --duration {cfg.duration:g}s"
        if cfg.duration is not None
        else f"--num-prompts {cfg.num_prompts}"
    )
    raise ConfigError(
        f"{plan} plans {shown} requests; one run holds at most {MAX_REQUESTS:,} (its "
        "workload is built before sending): lower the rate, the duration or the count"
    )


def _warmup(
    cfg: RunConfig, specs: list[RequestSpec], vocabulary: Sequence[str]
) -> list[RequestSpec]:
    """Warm-up requests as long as the first ones, but with prompts of their own: reusing
    the measured prompts would make those prefix-cache hits."""
    out = []
    for i in range(cfg.warmup):
        like = specs[i % len(specs)]
        size = like.expected_prompt_tokens or len(like.prompt.split())
        prompt = workload.words(random.Random(f"warmup-{cfg.seed}-{i}"), size, vocabulary)
        out.append(
            RequestSpec(-1 - i, 0.0, prompt, like.expected_prompt_tokens, like.max_tokens,
                        warmup=True, tail_words=size)
        )  # fmt: skip
    return out


@dataclass(frozen=True)
class Dataset:
    """The dataset file of ``--dataset trace`` or ``sharegpt``, read and checked; both None
    for the random workload."""

    trace: list[TraceRow] | None = None
    conversations: list[workload.Conversation] | None = None


def read_dataset(cfg: RunConfig) -> Dataset:
    """The dataset file, read whole and checked: ``prepare`` does this before it contacts
    the server, so a bad file is an input error whatever the server does.

    Raises:
        ConfigError: the file cannot be read, is not a trace or ShareGPT file (the message
            names the file and the line), or has nothing to send.
    """
    if cfg.dataset == "trace":
        assert cfg.dataset_path is not None
        rows = list(read_trace(cfg.dataset_path, time_scale=cfg.time_scale, limit=cfg.num_prompts))
        if not rows:
            raise ConfigError(f"trace {cfg.dataset_path} has no rows: nothing to send")
        return Dataset(trace=rows)
    if cfg.dataset == "sharegpt":
        assert cfg.dataset_path is not None
        osl = cfg.osl if "osl" in cfg.model_fields_set else None
        return Dataset(conversations=workload.read_sharegpt(cfg.dataset_path, osl=osl))
    return Dataset()


def build_specs(
    cfg: RunConfig, vocabulary: Sequence[str] = workload.WORDS, dataset: Dataset | None = None
) -> list[RequestSpec]:
    """The warm-up requests, then the measured ones with their send offsets; the dataset
    file is read here unless ``dataset`` holds it already."""
    if dataset is None:
        dataset = read_dataset(cfg)
    if dataset.trace is not None:
        specs = workload.trace_specs(dataset.trace, seed=cfg.seed, vocabulary=vocabulary)
    else:
        count = cfg.num_prompts or (0 if cfg.duration else DEFAULT_PROMPTS)
        if cfg.duration is not None:
            offsets = arrivals.offsets_for_duration(
                cfg.duration, cfg.request_rate, cfg.burstiness, cfg.seed
            )
        else:
            offsets = arrivals.offsets(count, cfg.request_rate, cfg.burstiness, cfg.seed)
        if dataset.conversations is not None:
            base = workload.sharegpt_specs(dataset.conversations, len(offsets), seed=cfg.seed)
            specs = [
                RequestSpec(s.index, o, s.prompt, None, s.max_tokens)
                for s, o in zip(base, offsets, strict=True)
            ]
        else:
            specs = workload.random_workload(
                offsets,
                cfg.isl,
                cfg.osl,
                range_ratio=cfg.range_ratio,
                prefix_len=cfg.prefix_len,
                seed=cfg.seed,
                vocabulary=vocabulary,
            )
    if not specs:
        raise ConfigError("the workload is empty: nothing to send")
    return _warmup(cfg, specs, vocabulary) + specs


def local_tokenizer(cfg: RunConfig) -> Tokenizer | None:
    """``--tokenizer``'s tokenizer, read before the server is contacted (an input error).

    Raises:
        ConfigError: the folder cannot be read as a tokenizer.
    """
    if cfg.tokenizer is None:
        return None
    try:
        return load_tokenizer(cfg.tokenizer)
    except LlmobsError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken tokenizer.json, template, config
        raise ConfigError(f"--tokenizer {cfg.tokenizer}: cannot read it: {exc}") from None


async def _counter(
    cfg: RunConfig, tokenizer: Tokenizer | None, session: aiohttp.ClientSession, base: str,
    model: str, headers: dict[str, str], notes: list[str],
) -> calibrate.Count | None:  # fmt: skip
    if tokenizer is not None:
        notes.append(f"prompt lengths made exact with the tokenizer in {cfg.tokenizer}")
        return calibrate.local_counter(tokenizer)
    counter = await calibrate.server_counter(session, base, model, headers)
    notes.append(
        "prompt lengths made exact with the server's /tokenize"
        if counter
        else "the server has no /tokenize: prompt lengths are approximate; the real ones "
        "come from usage.prompt_tokens"
    )
    return counter


async def prepare(cfg: RunConfig, base_url: str, api_key: str | None) -> Prepared:
    """The target and the requests to send. Input comes first: the plan's size, the dataset
    file and the tokenizer folder are checked before the server is contacted.

    Raises:
        ConfigError: bad input (exit 2), whether or not the server can be reached.
        TargetError: the server cannot be reached or used (nothing was sent).
    """
    check_plan(cfg)
    dataset = read_dataset(cfg)
    tokenizer = local_tokenizer(cfg)
    headers, secrets = authorization(base_url, api_key)
    redactor = Redactor(secrets)
    base, note = base_of(strip_userinfo(base_url))
    notes = [note] if note else []
    models = await models_of(base, headers, cfg.model is None, redactor)
    model = cfg.model
    if model is None:
        if not models:
            raise TargetError(f"{base}/v1/models lists no model: give --model")
        model = models[0]
    elif models and model not in models:
        raise TargetError(f"model {model!r} is not served by {base}; it serves: "
                          + ", ".join(models))  # fmt: skip
    target = Target(base + cfg.endpoint, model, cfg.chat, headers, cfg.timeout_s, secrets)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        counter = await _counter(cfg, tokenizer, session, base, model, headers, notes)
        exact = counter is not None and cfg.dataset != "sharegpt"
        vocabulary: Sequence[str] = workload.WORDS
        try:
            if exact and counter is not None:
                units = await calibrate.unit_words(counter)
                if len(units) >= calibrate.MIN_UNITS:
                    vocabulary = units
                if len(units) < len(workload.WORDS):
                    notes.append(
                        f"{len(units)} of the {len(workload.WORDS)} prompt words are one "
                        "token for this tokenizer; prompts use those"
                    )
            specs = build_specs(cfg, vocabulary, dataset)
            if exact and counter is not None:
                specs = await calibrate.calibrate(specs, counter, vocabulary)
        except (LookupError, aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
            why = redactor.text(str(exc)) or type(exc).__name__
            notes.append(
                f"calibrating prompt lengths failed ({why}): lengths are approximate; the real "
                "ones come from usage.prompt_tokens"
            )
            specs = build_specs(cfg, vocabulary, dataset)
    return Prepared(target, specs, notes)
