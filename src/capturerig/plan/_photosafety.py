"""The plan's lighting sequence on the estimated take timing, checked against the subject's flash limit."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from pathlib import Path

from capturerig.config import (
    ConfigError,
    ConfigProblem,
    LightingCondition,
    LoadedPlan,
    LoadedRig,
    PlanConfig,
    RigConfig,
)
from capturerig.lighting import (
    FlashLimit,
    FlashViolation,
    LightChange,
    PhotosensitivityRefused,
    change_between,
    decode_fixture,
    find_flash_violation,
    flash_limit,
    frames_for_condition,
    light_shares,
    override_hint,
    safe_state_frames,
)
from capturerig.plan._estimate import take_durations

__all__ = ["LightingStep", "check_plan_photosafety", "find_plan_violation", "lighting_timeline", "refuse_unsafe_plan"]


@dataclass(frozen=True)
class LightingStep:
    """A lighting state the plan applies ``at`` seconds after the session starts (estimated)."""

    at: float
    label: str
    condition: LightingCondition | None  # None: the safe state


def lighting_timeline(rig: RigConfig, plan: PlanConfig, base_dir: Path | None = None) -> list[LightingStep]:
    """When each lighting change happens, from the same take estimates as ``capturerig plan estimate``.

    The session starts and ends in the safe state. Operator pauses (pose confirmation) are not counted,
    which can only make the sequence look faster than it is.
    """
    steps = [LightingStep(0.0, "safe state", None)]
    now, current = 0.0, None
    for take, seconds in take_durations(rig, plan, base_dir):
        if take.lighting.state_id != current:  # a change goes out as its take starts (beside any table move)
            steps.append(LightingStep(now, take.lighting.state_id, take.lighting))
            current = take.lighting.state_id
        now += seconds
    steps.append(LightingStep(now, "safe state", None))
    return steps


def _strobes(rig: RigConfig, step: LightingStep, base_dir: Path | None) -> list[tuple[str, float, float]]:
    if step.condition is None:
        return []
    frames = frames_for_condition(rig, step.condition, base_dir)
    shares = light_shares(rig, frames, base_dir)
    found = []
    for fixture, share in zip(rig.fixtures, shares, strict=True):
        hz = decode_fixture(fixture, frames, base_dir).get("strobe", 0.0)
        if hz > 0:
            found.append((f"{step.label} ({fixture.id})", hz, share))
    return found


def find_plan_violation(rig: RigConfig, plan: PlanConfig, limit: FlashLimit,
                        base_dir: Path | None = None) -> FlashViolation | None:
    """The first window of the plan's estimated lighting sequence that breaks ``limit``, or None."""
    safe = light_shares(rig, safe_state_frames(rig, base_dir), base_dir)
    before = safe
    changes: list[LightChange] = []
    strobes: list[tuple[str, float, float]] = []
    for step in lighting_timeline(rig, plan, base_dir):
        if step.condition is None:
            after = safe
        else:
            after = light_shares(rig, frames_for_condition(rig, step.condition, base_dir), base_dir)
        changes.append(change_between(before, after, step.at, step.label))
        strobes += _strobes(rig, step, base_dir)
        before = after
    return find_flash_violation(changes, limit, strobes)


def check_plan_photosafety(rig: RigConfig, plan: PlanConfig, base_dir: Path | None = None,
                           plan_name: str = "the plan") -> FlashLimit | None:
    """Refuse a plan whose lighting would flash a person more than their limit allows.

    Returns the limit that applies (None for an object).

    Raises
    ------
    PhotosensitivityRefused
        With what breaks the limit, when, and how to override.
    """
    limit = flash_limit(rig, plan)
    if limit is None:
        return None
    violation = find_plan_violation(rig, plan, limit, base_dir)
    if violation is not None:
        raise PhotosensitivityRefused(f"{plan_name}: refused for a person in the rig: {violation.describe()}. "
                                      f"{override_hint(limit, _slower(plan, violation))}.")
    return limit


def _slower(plan: PlanConfig, violation: FlashViolation) -> str:
    """A settle time that would space the changes out enough (when spacing can help at all)."""
    times = [c.at for c in violation.changes]
    if violation.strobe_hz or violation.limit.max_flashes == 0 or len(times) < 2:
        return ""
    gap = min(b - a for a, b in itertools.pairwise(times))
    needed = plan.settle.lights_s + violation.limit.window_s / violation.limit.max_flashes - gap
    return f", e.g. settle: {{lights_s: {math.ceil(needed * 20 + 0.2) / 20:.2f}}}"


def refuse_unsafe_plan(rig: LoadedRig, plan: LoadedPlan) -> None:
    """:func:`check_plan_photosafety` for loaded files: a refusal is a ConfigError at the plan's lighting line."""
    try:
        check_plan_photosafety(rig.config, plan.config, rig.path.parent, plan.path.name)
    except PhotosensitivityRefused as exc:
        line = next((n for n, text in enumerate(plan.text.splitlines(), start=1) if text.startswith("lighting:")),
                    None)
        message = str(exc).removeprefix(f"{plan.path.name}: ")
        raise ConfigError([ConfigProblem(plan.path.name, line, ("lighting",), message)]) from exc
