"""One role's proposal, before the joint P:D band and GPU budget (``llmobs.autoscaler.policy``).

In order: holds on what cannot be trusted (source failed, role missing, no data, stale
data, no replica ready, fewer replicas reported than ready, no request rate); zero traffic
(to min, or 0 with ``scale_to_zero``, once quiet for the scale-down window); the reactive
and predictive recommendation (up on an SLO ratio beyond tolerance, KV usage, waiting
requests or the predicted load; down only when the consolidation check passes and the load
is not rising); then the change in progress, the stabilization windows, step limits and
bounds. Signals and capacity count only ready replicas. Pure.

What the windows cannot be trusted for is not acted on: a window's means and percentiles lag
a change, so a breach in a window whose rate moved beyond the tolerance does not bound the
capacity, and latencies from a window begun before replicas were added ask for no more (the
load, sized by the capacity, still may). Prefill's demand adds what it is behind by
(``demand``). A growth sized by a known capacity counts the pending replicas, so it is not
held for the change in progress.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from llmobs import names
from llmobs.autoscaler import checks, forecast
from llmobs.autoscaler import demand as demandmod
from llmobs.autoscaler.capacity import Capacity, learn
from llmobs.autoscaler.config import (
    AutoscalerConfig,
    RoleConfig,
    SloTarget,
    observed_input,
    target_input,
)
from llmobs.autoscaler.forecast import Forecaster, Series
from llmobs.autoscaler.model import Reason, Replicas
from llmobs.observation import Observation, RoleObservation

Inputs = dict[str, float | int | str | None]


@dataclass(frozen=True, slots=True)
class RoleState:
    """A role's memory: ``(time, recommendation)`` within the longer stabilization window,
    forecasts of its request rate and tokens per request in and out, its capacity, when it
    last saw traffic, since when its desired and ready replicas differ, and when it began."""

    recommendations: tuple[tuple[float, int], ...] = ()
    rate: Series = field(default_factory=Series)
    isl: Series = field(default_factory=Series)
    osl: Series = field(default_factory=Series)
    capacity: Capacity = field(default_factory=Capacity)
    last_traffic: float | None = None
    pending_since: float | None = None
    started: float | None = None  # the first decision: the replicas found count as a
    # recommendation for the scale-down window, so a restart resumes without a jump
    backlog: tuple[float, float] | None = None  # prefill: (time, prompt tokens in flight
    # beyond what the TTFT target allows), see ``demand.backlog``
    ready_seen: int | None = None  # ready replicas at the last decision
    grown_at: float | None = None  # when ready replicas last rose: until a whole window has
    # passed since, the window's latencies still hold the time before the new replicas


@dataclass(frozen=True, slots=True)
class Proposal:
    """What the role alone would do; ``held`` when data did not allow deciding."""

    role: str
    group: str
    current: int
    ready: int
    desired: int
    reasons: tuple[Reason, ...]
    detail: str
    inputs: Inputs
    held: bool = False


def _quantile(item: RoleObservation, target: SloTarget) -> float | None:
    latency = item.latency.get(target.signal)
    if latency is None:
        return None
    for q, value in latency.quantiles.items():
        if abs(q - target.quantile) < 1e-9:
            return value
    return None


def _slo(item: RoleObservation, role: RoleConfig, inputs: Inputs) -> tuple[float | None, str]:
    """The worst SLO ratio (observed / target), or None and the SLO without data."""
    worst = 0.0
    for target in role.targets():
        observed = _quantile(item, target)
        inputs[observed_input(target.name)] = observed
        inputs[target_input(target.name)] = target.seconds
        if observed is None:
            return None, target.name
        worst = max(worst, observed / target.seconds)
    inputs["slo_ratio"] = worst
    return worst, ""


@dataclass(frozen=True, slots=True)
class _Role:
    """What one decision of one role is about (so helpers take one argument, not seven)."""

    name: str
    group: str
    config: RoleConfig
    now: float
    current: int
    ready: int
    inputs: Inputs
    steady: bool = False  # the request rate within the tolerance of the last decision's
    fresh: bool = True  # a whole window since ready replicas last rose
    rising: bool = False  # the request rate above the last decision's beyond the tolerance

    def hold(self, state: RoleState, reason: Reason, detail: str) -> tuple[Proposal, RoleState]:
        """No change, because the data does not allow deciding (not a recommendation)."""
        args = (self.current, self.ready, self.current, (reason,), detail, self.inputs, True)
        return Proposal(self.name, self.group, *args), state


def propose(
    name: str,
    role: RoleConfig,
    kind: str,
    observation: Observation | None,
    replicas: Replicas | None,
    state: RoleState,
    config: AutoscalerConfig,
    forecaster: Forecaster,
    now: float,
) -> tuple[Proposal, RoleState]:
    """The role's proposal and its next state."""
    item = None if observation is None else observation.find(name, config.group)
    group = item.key.group if item is not None else ""
    if replicas is None:
        ctx = _Role(name, group, role, now, 0, 0, {})
        return ctx.hold(state, Reason.ACTUATOR_FAILED, "the role's replicas are unknown")
    current, ready = replicas.desired, replicas.ready
    ctx = _Role(name, group, role, now, current, ready, {"current": current, "ready": ready})
    since = state.pending_since if state.pending_since is not None else now
    started = state.started if state.started is not None else now
    grown = now if state.ready_seen is not None and ready > state.ready_seen else state.grown_at
    state = replace(
        state,
        pending_since=None if current == ready else since,
        started=started,
        ready_seen=ready,
        grown_at=grown,
    )
    if observation is None:
        return ctx.hold(state, Reason.SOURCE_FAILED, "the observation source failed")
    if current == 0 and ready == 0:
        if item is not None and ((item.request_rate or 0) > 0 or (item.requests_waiting or 0) > 0):
            want = max(role.min_replicas, 1)
            return _finish(ctx, state, want, (Reason.QUEUE,), "traffic at zero replicas")
        return ctx.hold(state, Reason.ZERO_TRAFFIC, "at zero replicas with no traffic")
    if item is None:
        return ctx.hold(state, Reason.MISSING_DATA, f"no observation of role {name}")
    age = ctx.inputs["age_s"] = item.age_at(now)
    if age is None:
        return ctx.hold(state, Reason.MISSING_DATA, "no replica of the role has been scraped")
    if age > config.max_observation_age_s:
        why = f"data {age:.0f}s old (limit {config.max_observation_age_s:g}s)"
        return ctx.hold(state, Reason.STALE_DATA, why)
    if ready == 0:
        return ctx.hold(state, Reason.COLD_START_PENDING, f"{current} asked for, none ready yet")
    if item.replicas.scraped < ready:
        why = f"data from {item.replicas.scraped} of {ready} ready replicas"
        return ctx.hold(state, Reason.TOO_FEW_REPLICAS, why)
    rate = ctx.inputs["request_rate"] = item.request_rate
    if rate is None:
        return ctx.hold(state, Reason.MISSING_DATA, "no request rate")
    busy = rate > 0 or (item.requests_waiting or 0) > 0 or (item.requests_running or 0) > 0
    last = now if busy or state.last_traffic is None else state.last_traffic
    before = state.rate.level
    rate_series = forecast.observe(forecaster, state.rate, now, rate)
    state = replace(state, last_traffic=last, rate=rate_series)
    # A window whose rate moved beyond the tolerance since the last decision mixes two loads
    # (its mean lags a step): a breach in it does not bound the capacity.
    steady = before is not None and abs(rate - before) <= role.tolerance * max(rate, before)
    window = item.window_seconds
    fresh = state.grown_at is None or now - state.grown_at >= window
    rising = before is not None and rate > before * (1 + role.tolerance)
    ctx = replace(ctx, steady=steady and fresh, fresh=fresh, rising=rising)
    if not busy:
        return _quiet(ctx, state, now - last)
    ratio, missing = _slo(item, role, ctx.inputs)
    if missing or ratio is None:
        return ctx.hold(state, Reason.MISSING_DATA, f"no {missing} in the window")
    return _busy(ctx, state, kind, item, ratio, config.interval_s, forecaster)


def _quiet(ctx: _Role, state: RoleState, quiet: float) -> tuple[Proposal, RoleState]:
    """No traffic: to min (or 0 with scale_to_zero) once quiet for the scale-down window."""
    role = ctx.config
    floor = 0 if role.scale_to_zero else role.min_replicas
    if quiet >= role.scale_down_stabilization_s and ctx.current > floor:
        why = f"no traffic for {quiet:.0f}s"
        return _finish(ctx, state, floor, (Reason.ZERO_TRAFFIC,), why, gated=False)
    why = f"no traffic for {quiet:.0f}s of {role.scale_down_stabilization_s:g}s"
    return _finish(ctx, state, ctx.current, (Reason.ZERO_TRAFFIC,), why, gated=False)


def _busy(
    ctx: _Role,
    state: RoleState,
    kind: str,
    item: RoleObservation,
    ratio: float,
    interval_s: float,
    forecaster: Forecaster,
) -> tuple[Proposal, RoleState]:
    """With traffic: learn, forecast, and recommend up (reactive or predicted) or down."""
    role, now, current, ready = ctx.config, ctx.now, ctx.current, ctx.ready
    prefill = kind == names.ROLE_PREFILL
    rate = item.request_rate or 0.0
    tokens = item.prompt_tokens_rate if prefill else item.generation_tokens_rate
    size = None if tokens is None or rate <= 0 else tokens / rate
    sizes = forecast.observe(forecaster, state.isl if prefill else state.osl, now, size)
    state = replace(state, isl=sizes) if prefill else replace(state, osl=sizes)
    # Capacity is also what fits in KV (decode) and what is served without a queue over its
    # limit: either over its limit bounds it as a breach does.
    kv, limit = item.kv_cache_usage_ratio.mean, role.kv_usage_limit
    full = 0.0 if prefill or kv is None or limit is None else kv / limit
    queued = _queued(role, kind, item.requests_waiting, ready)
    worst = max(full, queued)
    pressure, band = (worst, 0.0) if worst > 1.0 and worst > ratio else (ratio, role.tolerance)
    learned = pressure if ctx.steady or pressure <= 1.0 else None
    capacity = learn(state.capacity, None if tokens is None else tokens / ready, learned, band)
    state = replace(state, capacity=capacity)
    horizon = role.cold_start_s + interval_s
    rate_f, size_f = forecast.predict(state.rate, horizon), forecast.predict(sizes, horizon)
    ahead = None if rate_f is None or size_f is None else rate_f * size_f
    demand = None if tokens is None else max(tokens, ahead if ahead is not None else tokens)
    if prefill and demand is not None and tokens is not None and size is not None:
        backlog = demandmod.backlog(role, item, tokens, size)
        queued = (item.requests_waiting or 0.0) >= 1
        if queued and backlog > 0 and capacity.known and capacity.estimate:
            # Behind, requests waiting: the replicas serve at their capacity now, whatever the
            # window's mean (one request in flight at a low rate is not being behind).
            demand = max(demand, ready * capacity.estimate)
        demand += demandmod.overload(state.backlog, backlog, now, horizon)
        state = replace(state, backlog=(now, backlog))
    cap = capacity.estimate
    predicted = None if demand is None or not cap else checks.ceil(demand / cap)
    ctx.inputs.update(
        capacity=cap,
        demand=demand,
        predicted_replicas=predicted,
        kv_usage=item.kv_cache_usage_ratio.mean,
        waiting=item.requests_waiting,
        running=item.requests_running,
    )
    sized = predicted if capacity.known else None
    # Latencies from a window begun before replicas were added do not ask for more.
    breach = ratio if ctx.fresh else min(ratio, 1.0)
    want, reasons, detail = checks.reactive(role, kind, item, breach, ready, sized)
    counted = capacity.known and predicted is not None and predicted > max(want, current)
    if counted:
        why = f"forecast {demand:.4g}/s over {horizon:g}s at {cap:.4g}/s per replica"
        want, reasons, detail = predicted or want, (Reason.PREDICTED_LOAD, *reasons), why
    if want > current:
        return _finish(ctx, state, want, reasons, detail, counted=counted)
    if breach < ratio and ratio > 1 + role.tolerance and state.grown_at is not None:
        why = (
            f"SLO ratio {ratio:.2f} from a window begun before replicas were added "
            f"{now - state.grown_at:.0f}s ago"
        )
        return _finish(ctx, state, current, (Reason.COLD_START_PENDING,), why)
    pending = state.pending_since
    if pending is not None and now - pending < role.change_timeout_s:
        why = f"waiting for {current} replicas, {ready} ready, for {now - pending:.0f}s"
        return _finish(ctx, state, current, (Reason.COLD_START_PENDING, *reasons), why)
    down = checks.consolidate(role, kind, item, ratio, ready, current, demand, capacity, predicted)
    if down < current and ctx.rising:
        why = f"{down} replicas would carry the load, but it is rising: no scale-down"
        return _finish(ctx, state, current, (Reason.PREDICTED_LOAD,), why)
    if down < current:
        why = f"{down} replicas carry the load within {role.scale_down_margin:g} of the limits"
        return _finish(ctx, state, down, (Reason.CONSOLIDATE,), why)
    return _finish(ctx, state, current, (Reason.WITHIN_SLO,), "within SLO")


def _queued(role: RoleConfig, kind: str, waiting: float | None, ready: int) -> float:
    """Waiting requests over the role's queue limit for ``ready`` replicas (0: no limit)."""
    limit = checks.queue_limit(role, kind)
    if limit is None or waiting is None or ready <= 0:
        return 0.0
    if limit <= 0:
        return 2.0 if waiting > 0 else 0.0
    return waiting / (limit * ready)


def _finish(
    ctx: _Role,
    state: RoleState,
    want: int,
    reasons: tuple[Reason, ...],
    detail: str,
    *,
    gated: bool = True,
    counted: bool = False,
) -> tuple[Proposal, RoleState]:
    """The change in progress, stabilization and step limits (``gated``: not for zero
    traffic, which has its own window) and the bounds, applied to the recommendation. A
    growth sized by a known capacity against the replicas asked for (``counted``: the
    pending ones counted as capacity) is not held for the change in progress."""
    role, now, current, ready = ctx.config, ctx.now, ctx.current, ctx.ready

    def make(desired: int, reasons: tuple[Reason, ...], detail: str) -> Proposal:
        return Proposal(ctx.name, ctx.group, current, ready, desired, reasons, detail, ctx.inputs)

    def cap(p: Proposal, desired: int, reason: Reason, why: str) -> Proposal:
        if desired == p.desired:
            return p
        rs = (reason, *p.reasons) if desired == current else (*p.reasons, reason)
        return make(desired, rs, f"{p.detail}; {why}")

    window = max(role.scale_up_stabilization_s, role.scale_down_stabilization_s)
    kept = tuple(r for r in state.recommendations if now - r[0] < window)
    history = (*kept, (now, want))
    state = replace(state, recommendations=history)
    p = make(want, reasons, detail)
    direction = (want > current) - (want < current)
    moving = (current > ready) - (current < ready)
    pending = state.pending_since
    if gated and direction and direction == moving and pending is not None and not counted:
        waited = now - pending
        if waited < role.change_timeout_s:
            why = f"{current - ready:+d} in progress for {waited:.0f}s"
            return cap(p, current, Reason.COLD_START_PENDING, why), state
    if gated:
        up = min(r for t, r in history if now - t <= role.scale_up_stabilization_s)
        down = max(r for t, r in history if now - t <= role.scale_down_stabilization_s)
        if state.started is not None and now - state.started < role.scale_down_stabilization_s:
            down = max(down, current)
        stable = up if current < up else down if current > down else current
        p = cap(p, stable, Reason.STABILIZATION, f"stabilized to {stable}")
        stepped = min(max(p.desired, current - role.max_step_down), current + role.max_step_up)
        p = cap(p, stepped, Reason.STEP_LIMIT, f"step limit to {stepped}")
    floor = 0 if role.scale_to_zero and Reason.ZERO_TRAFFIC in reasons else role.min_replicas
    bounded = min(max(p.desired, floor), role.max_replicas)
    if bounded != p.desired:
        first = p.desired == current or bounded == current
        rs = (Reason.BOUNDS, *p.reasons) if first else (*p.reasons, Reason.BOUNDS)
        p = make(bounded, rs, f"{p.detail}; bounds {floor}..{role.max_replicas}")
    return p, state
