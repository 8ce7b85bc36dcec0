"""The demo's live terminal view, a pure render of a ``State``.

``screen`` is the whole view as lines (redrawn in place on a terminal); ``line`` is one plain
line for a log or a pipe (no escape codes). Unknown values show as ``-``, never 0. Latencies
are shown against their SLO with ``ok`` or ``OVER``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from llmobs.demo.state import TPOT_P90, TTFT_P90, Decision, RoleSample, State

LAST_DECISIONS = 6
CLEAR_BELOW = "\x1b[J"  # erase from the cursor to the end of the screen


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def against(value: float | None, slo: float | None) -> str:
    """``value / slo ok`` or ``OVER``; just the value without an SLO."""
    if slo is None:
        return _seconds(value)
    verdict = "" if value is None else (" ok" if value <= slo else " OVER")
    return f"{_seconds(value)} / {_seconds(slo)}{verdict}"


def _replicas(role: RoleSample) -> str:
    shown = f"{_count(role.spec)} ({_count(role.ready)} ready)"
    if role.desired is not None and role.desired != role.spec:
        shown += f" -> {role.desired}"
    return shown


def _decision(decision: Decision, now: float | None = None) -> str:
    at = datetime.fromtimestamp(decision.timestamp, UTC).strftime("%H:%M:%S")
    change = (
        f"{decision.current} -> {decision.desired}"
        if decision.desired != decision.current
        else f"hold {decision.current}"
    )
    return f"{at} {decision.role:<8} {change:<8} {decision.reason}: {decision.detail}"


def interesting(decisions: tuple[Decision, ...], count: int = LAST_DECISIONS) -> list[Decision]:
    """The last ``count`` decisions that changed something or said why not, newest last:
    the holds that repeat the one before them for the same role are left out."""
    shown: list[Decision] = []
    before: dict[str, tuple[int, int, str]] = {}
    for decision in decisions:
        key = (decision.current, decision.desired, decision.reason)
        if before.get(decision.role) != key or decision.desired != decision.current:
            shown.append(decision)
        before[decision.role] = key
    return shown[-count:]


def screen(state: State, width: int = 100) -> list[str]:
    """The whole view, one string per line, each at most ``width`` characters."""
    head = (
        f"llmobs demo  {state.elapsed_s:5.0f}s of {state.duration_s:g}s   load "
        f"{state.target_rps:.1f} req/s ({state.phase})"
    )
    rows = [head, ""]
    header = (
        f"{'role':<8} {'replicas':<18} {'req/s':>6}  {'TTFT p90 / SLO':<22} {'TPOT p90 / SLO':<22}"
    )
    rows.append(header)
    roles = state.sample.roles if state.sample is not None else ()
    for role in roles:
        slo = state.slo.get(role.role, {})
        rows.append(
            f"{role.role:<8} {_replicas(role):<18} {_number(role.request_rate):>6}  "
            f"{against(role.ttft_p90_s, slo.get(TTFT_P90)):<22} "
            f"{against(role.tpot_p90_s, slo.get(TPOT_P90)):<22}"
        )
    if not roles:
        rows.append("(waiting for the first reading)")
    rows += ["", "last decisions:"]
    shown = interesting(state.decisions)
    rows += [f"  {_decision(d)}" for d in shown] or ["  (none yet)"]
    rows.append("")
    if state.prometheus_url is not None:
        rows.append(f"Prometheus: {state.prometheus_url}")
    rows += list(state.notes)
    rows.append(f"run folder: {state.folder}   (Ctrl-C stops everything)")
    return [row[:width].rstrip() for row in rows]


def redraw(lines: list[str], previous: int) -> str:
    """Escape codes and text that replace the ``previous`` lines drawn with ``lines``."""
    up = f"\x1b[{previous}F" if previous else ""
    return up + CLEAR_BELOW + "".join(line + "\n" for line in lines)


def line(state: State) -> str:
    """One plain line: time, load, each role's replicas and latencies against the SLO."""
    parts = [f"{state.elapsed_s:4.0f}s load {state.target_rps:.1f} req/s ({state.phase})"]
    roles = state.sample.roles if state.sample is not None else ()
    for role in roles:
        slo = state.slo.get(role.role, {})
        signal = TTFT_P90 if TTFT_P90 in slo else TPOT_P90
        value = role.ttft_p90_s if signal == TTFT_P90 else role.tpot_p90_s
        parts.append(
            f"{role.role} {_count(role.spec)} ({_count(role.ready)} ready) "
            f"{signal} {against(value, slo.get(signal))}"
        )
    last = interesting(state.decisions, 1)
    if last:
        parts.append(f"last: {last[0].role} {last[0].current}->{last[0].desired} {last[0].reason}")
    return " | ".join(parts)
