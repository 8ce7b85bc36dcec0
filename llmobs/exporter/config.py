"""The exporter's configuration: strict models (unknown keys are errors), one YAML file.

A config names static targets, a Kubernetes discovery, or both, plus how to scrape and the
role window. ``--target URL[,role=prefill][,model=M]...`` flags become ``StaticTarget``s
through ``parse_target_flag``. Credentials are fields as in Prometheus's scrape config
(``bearer_token_file``, ``basic_auth``); the files they name are read by ``targets`` at start.
Everything is checked before the first scrape. No I/O here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from llmobs import names
from llmobs.config import StrictModel, read_yaml, validate
from llmobs.errors import ConfigError
from llmobs.exposition.parser import DEFAULT_MAX_BYTES
from llmobs.scrape.fetch import normalize_url
from llmobs.secrets import SECRET, Redactor, display_url, url_credentials
from llmobs.window import DEFAULT_QUANTILES

Engine = Literal["vllm", "sglang", "dynamo"]

DEFAULT_ROLE_LABELS: tuple[str, ...] = (
    "rbg.workloads.x-k8s.io/role-name",  # RoleBasedGroup v1alpha2
    "rolebasedgroup.workloads.x-k8s.io/role",  # RoleBasedGroup v1alpha1
    "llm-d.ai/role",
)
DEFAULT_GROUP_LABELS: tuple[str, ...] = (
    "rbg.workloads.x-k8s.io/group-name",  # RoleBasedGroup v1alpha2
    "rolebasedgroup.workloads.x-k8s.io/name",  # RoleBasedGroup v1alpha1
    "leaderworkerset.sigs.k8s.io/name",
    "app.kubernetes.io/instance",
)
DEFAULT_MODEL_LABELS: tuple[str, ...] = ("llm-d.ai/model", "app.kubernetes.io/model")
KNOWN_ROLES: tuple[str, ...] = (names.ROLE_BOTH, names.ROLE_PREFILL, names.ROLE_DECODE)

# The role window keeps every snapshot of every target inside it: a bound on the snapshots
# it holds per target keeps the memory finite and known.
MAX_WINDOW_SCRAPES = 10_000


def _without_secrets(url: str, message: str) -> str:
    """``message`` about ``url`` with the URL's password (or, unparsable, its userinfo) hidden."""
    credentials = url_credentials(url)
    if credentials is not None:
        return Redactor(credentials.secrets).text(message)
    if "@" in url:
        return message.replace(url.rpartition("@")[0], SECRET)
    return message


class BasicAuth(StrictModel):
    """HTTP basic authentication, spelled as in Prometheus's scrape config."""

    username: str = Field(description="The user name.")
    password_file: str | None = Field(
        default=None,
        description="File holding the password, read once at start (surrounding whitespace "
        "dropped); it is only ever put into the request's Authorization header.",
    )
    password: str | None = Field(
        default=None,
        repr=False,
        description="The password itself. Discouraged: config files are copied, committed "
        "and shown; prefer password_file (a mounted Secret).",
    )

    @model_validator(mode="after")
    def _one_password(self) -> BasicAuth:
        if self.password is not None and self.password_file is not None:
            raise ValueError("give password_file or password, not both")
        return self


class Auth(StrictModel):
    """How requests to a target authenticate: a bearer token or basic auth (not both). A
    URL's own ``user:password@`` is basic auth too."""

    bearer_token_file: str | None = Field(
        default=None,
        description="File holding a bearer token (e.g. a service-account token), read once "
        "at start; sent as 'Authorization: Bearer ...' and never shown.",
    )
    basic_auth: BasicAuth | None = Field(
        default=None, description="HTTP basic auth: username and password_file (or password)."
    )

    @model_validator(mode="after")
    def _one_auth(self) -> Auth:
        if self.bearer_token_file is not None and self.basic_auth is not None:
            raise ValueError("give bearer_token_file or basic_auth, not both")
        return self


class StaticTarget(Auth):
    """One engine endpoint given by address."""

    url: str = Field(description="The engine's /metrics URL, or HOST:PORT (then /metrics).")
    role: str = Field(
        default=names.ROLE_BOTH, description="prefill, decode, or both (an aggregated server)."
    )
    model: str | None = Field(
        default=None, description="Model label; by default the model the engine reports."
    )
    engine: Engine | None = Field(
        default=None, description="Read the target as this engine instead of detecting it."
    )
    namespace: str = Field(default="", description="Value of the namespace label.")
    group: str = Field(default="", description="Value of the group label (RBG, Deployment).")
    pod: str | None = Field(
        default=None,
        description="Value of the pod label; by default HOST:PORT of the URL, and "
        "HOST:PORT/PATH?QUERY when another target has the same HOST:PORT (never the "
        "user or password).",
    )

    @model_validator(mode="after")
    def _check(self) -> StaticTarget:
        try:
            normalize_url(self.url)
        except ConfigError as exc:
            raise ValueError(_without_secrets(self.url, str(exc))) from None
        if not self.role:
            raise ValueError("role must not be empty")
        if url_credentials(self.url) is not None and (
            self.basic_auth is not None or self.bearer_token_file is not None
        ):
            raise ValueError(
                f"{display_url(self.url)} has credentials in the URL and in "
                "basic_auth/bearer_token_file: give them once"
            )
        return self


class KubernetesDiscovery(Auth):
    """Find engine pods with a watch on the Kubernetes API."""

    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces to watch; empty watches every namespace (needs a ClusterRole).",
    )
    label_selector: str = Field(
        default="", description="Only pods matching this label selector, e.g. app=vllm."
    )
    kubeconfig: str | None = Field(
        default=None,
        description="Path of a kubeconfig; by default in-cluster config, else ~/.kube/config.",
    )
    context: str | None = Field(default=None, description="kubeconfig context to use.")
    port: int | None = Field(
        default=None, ge=1, le=65535, description="Metrics port number on every pod."
    )
    port_name: str | None = Field(
        default=None,
        description="Name of the container port serving metrics (used when port is not set).",
    )
    path: str = Field(default="/metrics", description="HTTP path of the metrics.")
    scheme: Literal["http", "https"] = Field(default="http", description="URL scheme.")
    role_labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_ROLE_LABELS),
        description="Pod labels naming the role; the first present wins.",
    )
    group_labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_GROUP_LABELS),
        description="Pod labels naming the group; the first present wins, else the owning "
        "Deployment, StatefulSet or LeaderWorkerSet.",
    )
    model_labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_MODEL_LABELS),
        description="Pod labels naming the model; else the model the engine reports.",
    )
    default_role: str = Field(
        default=names.ROLE_BOTH, description="Role of pods that carry no role label."
    )
    engine: Engine | None = Field(
        default=None, description="Read every pod as this engine instead of detecting it."
    )
    watch_timeout_s: int = Field(
        default=300, ge=1, description="Seconds each watch call lasts before it is renewed."
    )


class HttpSd(StrictModel):
    """Targets from a Prometheus HTTP service-discovery endpoint, read again and again (the
    emulator's ``/sim/targets`` is one): ``llmobs.exporter.httpsd``."""

    url: str = Field(
        description="http(s) URL answering [{targets: [HOST:PORT, ...], labels: {...}}] (no "
        "credentials); the labels role, group, pod, namespace and model become the targets'."
    )
    refresh_interval_s: float = Field(
        default=60.0, gt=0, description="Seconds between reads of the list (Prometheus: 60)."
    )

    @model_validator(mode="after")
    def _check(self) -> HttpSd:
        if "@" in self.url:
            raise ValueError("http_sd.url: give it without user:password@ (no credentials)")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"http_sd.url {self.url!r} is not an http(s) URL")
        return self


class ExporterConfig(StrictModel):
    """Everything ``llmobs exporter`` needs."""

    targets: list[StaticTarget] = Field(default_factory=list, description="Static targets.")
    kubernetes: KubernetesDiscovery | None = Field(
        default=None, description="Discover pods in Kubernetes."
    )
    http_sd: HttpSd | None = Field(
        default=None, description="Discover targets from an HTTP service-discovery endpoint."
    )
    interval_s: float = Field(default=5.0, gt=0, description="Seconds between scrapes of a target.")
    jitter: float = Field(
        default=0.1,
        ge=0,
        lt=1,
        description="Each interval varies by up to this fraction, so targets do not align.",
    )
    timeout_s: float | None = Field(
        default=None, gt=0, description="Per-scrape timeout; by default 80% of the interval."
    )
    max_bytes: int = Field(default=DEFAULT_MAX_BYTES, ge=1, description="Largest body accepted.")
    concurrency: int = Field(default=64, ge=1, description="Scrapes in flight at most.")
    window_s: float = Field(
        default=60.0,
        gt=0,
        description="Sliding window of the role signals, in seconds: from two to "
        f"{MAX_WINDOW_SCRAPES} scrape intervals (the exporter keeps every snapshot in it).",
    )
    quantiles: list[float] = Field(
        default_factory=lambda: list(DEFAULT_QUANTILES),
        description="Quantiles of the role latency signals.",
    )
    roles: list[str] = Field(
        default_factory=lambda: list(KNOWN_ROLES),
        min_length=1,
        description="The roles a static target (and kubernetes.default_role) may name; a "
        "role not listed is refused as a typo. Add your own (e.g. router) here. Roles read "
        "from pod labels are taken as they are.",
    )
    host: str = Field(default="0.0.0.0", description="Address the exporter listens on.")
    port: int = Field(default=9400, ge=0, le=65535, description="Port; 0 picks a free one.")

    @model_validator(mode="after")
    def _check(self) -> ExporterConfig:
        if not self.targets and self.kubernetes is None and self.http_sd is None:
            raise ValueError("no targets: give --target URL, kubernetes or http_sd discovery")
        if self.timeout_s is not None and self.timeout_s > self.interval_s:
            raise ValueError("timeout_s must not exceed interval_s")
        if self.window_s < 2 * self.interval_s:
            raise ValueError("window_s must be at least two scrape intervals")
        if self.window_s > MAX_WINDOW_SCRAPES * self.interval_s:
            raise ValueError(
                f"window_s holds at most {MAX_WINDOW_SCRAPES} scrape intervals "
                f"({MAX_WINDOW_SCRAPES * self.interval_s:g}s at interval_s "
                f"{self.interval_s:g}): shorten the window or scrape less often"
            )
        if any(not 0 < q < 1 for q in self.quantiles):
            raise ValueError("quantiles must lie strictly between 0 and 1")
        for i, target in enumerate(self.targets):
            self._known_role(target.role, f"targets.{i} ({display_url(target.url)})")
        if self.kubernetes is not None:
            self._known_role(self.kubernetes.default_role, "kubernetes.default_role")
        return self

    def _known_role(self, role: str, where: str) -> None:
        if role not in self.roles:
            raise ValueError(
                f"{where}: role {role!r} is not one of {', '.join(self.roles)}; "
                "fix the typo, or add the role to roles: in the config"
            )

    @property
    def scrape_timeout_s(self) -> float:
        return self.timeout_s if self.timeout_s is not None else 0.8 * self.interval_s


# The fields a --target flag may set: every plain one (basic_auth is a mapping: use the
# URL's user:password@, or a config file).
TARGET_KEYS = frozenset(StaticTarget.model_fields) - {"url", "basic_auth"}


def parse_target_flag(text: str) -> dict[str, str]:
    """``URL[,key=value]...`` → the fields of a ``StaticTarget``.

    Raises:
        ConfigError: a part is not ``key=value``, names an unknown key, or repeats one.
    """
    url, *parts = text.split(",")
    shown = repr(display_url(url.strip()))
    fields = {"url": url.strip()}
    for part in parts:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in TARGET_KEYS:
            raise ConfigError(
                f"--target {shown}: {part!r} is not KEY=VALUE with KEY one of "
                f"{', '.join(sorted(TARGET_KEYS))}"
            )
        if key in fields:
            raise ConfigError(f"--target {shown}: {key} is given twice; give each key once")
        fields[key] = value.strip()
    return fields


def load(path: str | Path) -> dict[str, object]:
    """Read a YAML config file (a mapping) without validating it yet.

    Raises:
        ConfigError: missing, unreadable, not YAML, a key twice, or not a mapping.
    """
    return read_yaml(path, "config")


def build(data: dict[str, object], what: str = "exporter configuration") -> ExporterConfig:
    """Validate ``data`` into an ``ExporterConfig``, raising ``ConfigError`` on any problem."""
    return validate(ExporterConfig, data, what)
