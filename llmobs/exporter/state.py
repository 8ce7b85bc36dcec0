"""What the exporter knows of each target: who it is, its health, and its recent snapshots.

``Target`` is identity and labels (from a static config or a pod). ``TargetState`` is the
mutable record one scrape loop updates: ``observe`` takes a scrape result, reads it with the
engine catalog, carries counters over restarts (``continuity``) and keeps the snapshots that
the role window needs; it also renders the target's ``/metrics`` lines then (``text``), so
that a scrape of the exporter only concatenates them. ``view`` hands an immutable copy to the
pure role aggregation and the exposition, so nothing is read while it changes. A target's
credentials travel with it to the request and nowhere else: an error a server sends back has
them redacted before it is kept. No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections import Counter, deque
from dataclasses import dataclass, field

from llmobs import engines, names
from llmobs.engines.catalog import EngineSnapshot
from llmobs.errors import LlmobsError
from llmobs.exporter import text
from llmobs.exporter.continuity import Carry, carry_on
from llmobs.exposition.model import NO_SHAPE, Shape
from llmobs.observation import RoleKey
from llmobs.roles import Member
from llmobs.scrape.fetch import ScrapeResult
from llmobs.secrets import Credentials, Redactor
from llmobs.window import Point  # (monotonic seconds, snapshot with continuous counters)

# After this many bodies in a row shaped otherwise than the one before, a target is parsed
# without shapes (their cost then buys nothing) but for one scrape in SHAPE_RETRY.
SHAPE_CHANGES = 3
SHAPE_RETRY = 32


@dataclass(frozen=True)
class Target:
    """One engine endpoint. ``key`` is its identity (``namespace/pod`` or the URL). ``url``
    is the request URL, without userinfo; ``credentials`` authenticate the request."""

    key: str
    url: str
    namespace: str = ""
    pod: str = ""
    role: str = names.ROLE_BOTH
    group: str = ""
    model: str | None = None  # None: the model the engine reports
    engine: str | None = None  # None: detect from the exposition
    credentials: Credentials | None = None

    @property
    def auth(self) -> str | None:
        """How its requests authenticate (``basic``, ``bearer``), never with what."""
        creds = self.credentials
        if creds is None:
            return None
        return "bearer" if creds.bearer_token else "basic"


def target_labels(target: Target, model: str, engine: str) -> tuple[str, ...]:
    """Values of ``names.TARGET_LABELS`` for ``target``, in that order."""
    return (target.namespace, target.pod, target.role, target.group, model, engine)


def secrets_of(creds: Credentials | None) -> tuple[str, ...]:
    """Every spelling of ``creds`` a server could echo back: the secrets themselves, the
    whole ``Authorization`` value and its base64 part."""
    if creds is None:
        return ()
    header = creds.headers().get("Authorization", "")
    token = header.partition(" ")[2]
    found = [*creds.secrets, header, token]
    if token and header.startswith("Basic "):
        with contextlib.suppress(binascii.Error):
            found.append(base64.b64decode(token).decode("utf-8", "replace"))
    return tuple(s for s in found if s)


@dataclass(frozen=True)
class TargetView:
    """An immutable picture of one target at one moment."""

    target: Target
    up: bool
    engine: str
    model: str
    model_known: bool  # configured or reported; False: "" until the engine answers
    points: tuple[Point, ...]
    last_duration: float | None
    last_success: float | None
    last_error: str | None
    errors: dict[str, int]
    resets: int
    lines: tuple[str, ...]  # its lines of each family of ``text.TARGET_METRICS``

    @property
    def latest(self) -> EngineSnapshot | None:
        return self.points[-1][1] if self.points else None

    def labels(self) -> tuple[str, ...]:
        """Values of ``names.TARGET_LABELS``, in that order."""
        return target_labels(self.target, self.model, self.engine)

    def member(self) -> Member:
        """This target as a replica of its role, for the role aggregation."""
        t = self.target
        key = RoleKey(t.namespace, t.group, t.role, self.model)
        return Member(key, self.up, self.points, continuous=True, model_known=self.model_known)


@dataclass
class TargetState:
    target: Target
    window_s: float
    carry: Carry = field(default_factory=Carry)
    points: deque[Point] = field(default_factory=deque)
    up: bool = False
    engine: str = ""
    models: tuple[str, ...] = ()
    last_duration: float | None = None
    last_success: float | None = None
    last_error: str | None = None
    errors: Counter[str] = field(default_factory=Counter)
    resets: int = 0
    lines: tuple[str, ...] = field(init=False, default=())
    # The shape of its last body (``exposition.shapes``) and how many bodies in a row had
    # another one than the body before (a target whose lines change at every scrape, e.g.
    # with timestamps, then is parsed without shapes but for one scrape in SHAPE_RETRY).
    shape: Shape = field(init=False, default=NO_SHAPE)
    shape_changes: int = field(init=False, default=0)
    shape_skips: int = field(init=False, default=0)
    redact: Redactor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.redact = Redactor(secrets_of(self.target.credentials))
        self.render()

    def render(self) -> None:
        """Render the target's ``/metrics`` lines: when it changes, not at each exposition."""
        self.lines = text.target_lines(
            target_labels(self.target, self.model, self.target.engine or self.engine),
            up=self.up,
            last_duration=self.last_duration,
            last_success=self.last_success,
            errors=self.errors,
            resets=self.resets,
            snapshot=self.points[-1][1] if self.points else None,
        )

    def like(self) -> Shape | None:
        """The shape to read the next body against; None to parse it without shapes."""
        if self.shape_changes < SHAPE_CHANGES:
            return self.shape
        self.shape_skips += 1
        return self.shape if self.shape_skips % SHAPE_RETRY == 0 else None

    def observe(self, result: ScrapeResult) -> None:
        """Take one scrape's result: a snapshot, or a failure counted by its reason."""
        self.last_duration = result.duration
        snapshot: EngineSnapshot | None = None
        error: LlmobsError | None = result.error
        if error is None and result.exposition is not None:
            shape = result.exposition.shape
            if shape is not None:
                same = shape is self.shape and shape is not NO_SHAPE
                self.shape_changes = 0 if same else self.shape_changes + 1
                self.shape = shape
            try:
                snapshot = engines.snapshot(result.exposition, self.target.engine)
            except LlmobsError as exc:
                error = exc
        if snapshot is None:
            self.up = False
            reason = error.reason if error is not None else "error"
            self.errors[reason] += 1
            self.last_error = self.redact.text(str(error)) if error is not None else "no exposition"
            self.render()
            return
        self.carry, exposed, reset = carry_on(self.carry, snapshot)
        if reset:
            self.resets += 1
        self.up = True
        self.engine = snapshot.engine
        self.models = snapshot.models
        self.last_success = result.wall_time
        self.last_error = None
        self.points.append((result.monotonic, exposed))
        self.prune(result.monotonic)
        self.render()

    def prune(self, now: float) -> None:
        """Keep the snapshots inside the window and the last one before it (the baseline)."""
        start = now - self.window_s
        points = self.points
        while len(points) >= 2 and points[1][0] <= start:
            points.popleft()

    @property
    def model(self) -> str:
        if self.target.model is not None:
            return self.target.model
        return ",".join(self.models)

    @property
    def model_known(self) -> bool:
        return self.target.model is not None or bool(self.models)

    def view(self) -> TargetView:
        return TargetView(
            target=self.target,
            up=self.up,
            engine=self.target.engine or self.engine,
            model=self.model,
            model_known=self.model_known,
            points=tuple(self.points),
            last_duration=self.last_duration,
            last_success=self.last_success,
            last_error=self.last_error,
            errors=dict(self.errors),
            resets=self.resets,
            lines=self.lines,
        )
