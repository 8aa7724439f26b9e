"""Estimates from the same expansion the engine runs: takes, hold time per pose, session time, disk."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from capturerig.config import LightingCondition, PlanConfig, RigConfig, load_body_profile, load_fixture_profile
from capturerig.plan._expand import Take, expand_plan

__all__ = ["ENGINE_OVERHEAD_S", "LIGHT_FRAME_S", "PlanEstimate", "estimate_plan", "shutter_seconds", "take_durations"]

# Per take, beyond the devices' own latencies: arming, journalling, hashing. Measured on the simulator.
ENGINE_OVERHEAD_S = 0.05
# A new light state is on the wire within one frame at DMX512's fastest standard refresh (44 Hz); the engine
# waits for that before the settle time starts.
LIGHT_FRAME_S = 1.0 / 44.0


def shutter_seconds(value: str) -> float:
    """``"1/125"`` -> 0.008, ``"2"`` -> 2.0, ``"0.5"`` -> 0.5; raises ValueError on anything else."""
    try:
        seconds = float(Fraction(value.strip().rstrip("s")))
    except (ValueError, ZeroDivisionError) as exc:
        raise ValueError(f"not a shutter speed: '{value}' (use e.g. 1/125 or 0.5)") from exc
    if seconds <= 0:
        raise ValueError(f"not a shutter speed: '{value}'")
    return seconds


@dataclass(frozen=True)
class PlanEstimate:
    takes: int
    images: int
    hold_s_by_pose: dict[str, float]
    session_s: float
    disk_bytes: int


def _exposure_chain_s(rig: RigConfig, take: Take, base_dir: Path | None) -> float:
    """Trigger to the last file on the host: the slowest camera's latency, exposure, card write and USB."""
    slowest = 0.0
    for camera_id in take.cameras:
        camera = rig.camera(camera_id)
        body = load_body_profile(camera.body, base_dir)
        size = sum(body.formats[f].bytes_estimate for f in camera.formats)
        exposure = shutter_seconds(camera.settings.get("shutter", "1/125")) * 2.0**take.bracket.ev
        seconds = (body.trigger_latency_ms + body.card_write_ms) / 1000 + exposure
        seconds += size / (body.download_mbytes_per_s * 1e6)
        slowest = max(slowest, seconds)
    return slowest


def _light_change_s(rig: RigConfig, plan: PlanConfig, condition: LightingCondition, base_dir: Path | None) -> float:
    """One frame onto the wire, then the longest settle of the fixtures the state names (at least the plan's)."""
    named = [f for f in rig.fixtures if "*" in condition.levels or f.id in condition.levels]
    settle = max((load_fixture_profile(f.profile, base_dir).settle_s for f in named), default=0.0)
    return LIGHT_FRAME_S + max(plan.settle.lights_s, settle)


def take_durations(rig: RigConfig, plan: PlanConfig, base_dir: Path | None = None, *,
                   engine_overhead_s: float = ENGINE_OVERHEAD_S) -> list[tuple[Take, float]]:
    """Every take of the plan with its estimated seconds, on the engine's schedule.

    The lights change only when the state does, and at the same time as a turntable move; a take's exposure
    chain follows both. ``engine_overhead_s=0`` gives the hardware's own critical path (what the simulator
    models), the yardstick of the engine's overhead.
    """
    durations = []
    angle = 0.0
    lighting: str | None = None
    for take in expand_plan(rig, plan):
        lights_s = 0.0 if take.lighting.id == lighting else _light_change_s(rig, plan, take.lighting, base_dir)
        lighting = take.lighting.id
        table_s = 0.0
        target = take.station.angle_deg
        if target is not None and rig.turntable is not None and target != angle:
            table_s = abs(target - angle) / rig.turntable.speed_deg_per_s + plan.settle.turntable_s
            angle = target
        durations.append((take, max(lights_s, table_s) + _exposure_chain_s(rig, take, base_dir) + engine_overhead_s))
    return durations


def estimate_plan(rig: RigConfig, plan: PlanConfig, base_dir: Path | None = None, *,
                  engine_overhead_s: float = ENGINE_OVERHEAD_S) -> PlanEstimate:
    """Time and disk a plan needs on ``rig``, from body and fixture profiles and the turntable's speed
    (see ``take_durations`` for the schedule)."""
    hold: dict[str, float] = {}
    disk = 0
    images = 0
    durations = take_durations(rig, plan, base_dir, engine_overhead_s=engine_overhead_s)
    for take, seconds in durations:
        hold[take.pose.id] = hold.get(take.pose.id, 0.0) + seconds
        for camera_id in take.cameras:
            camera = rig.camera(camera_id)
            body = load_body_profile(camera.body, base_dir)
            disk += sum(body.formats[f].bytes_estimate for f in camera.formats)
            images += len(camera.formats)
    return PlanEstimate(len(durations), images, hold, sum(hold.values()), disk)
