"""Estimates from the same expansion the engine runs: takes, hold time per pose, session time, disk."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from capturerig.config import PlanConfig, RigConfig, load_body_profile
from capturerig.plan._expand import Take, expand_plan

__all__ = ["PlanEstimate", "estimate_plan", "shutter_seconds"]

# Per take, beyond the devices' own latencies: arming, journalling, hashing. Measured on the simulator.
ENGINE_OVERHEAD_S = 0.05


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


def _take_seconds(rig: RigConfig, plan: PlanConfig, take: Take, base_dir: Path | None) -> float:
    slowest = 0.0
    for camera_id in take.cameras:
        camera = rig.camera(camera_id)
        body = load_body_profile(camera.body, base_dir)
        size = sum(body.formats[f].bytes_estimate for f in camera.formats)
        exposure = shutter_seconds(camera.settings.get("shutter", "1/125")) * 2.0**take.bracket.ev
        seconds = (body.trigger_latency_ms + body.card_write_ms) / 1000 + exposure
        seconds += size / (body.download_mbytes_per_s * 1e6)
        slowest = max(slowest, seconds)
    return plan.settle.lights_s + slowest + ENGINE_OVERHEAD_S


def estimate_plan(rig: RigConfig, plan: PlanConfig, base_dir: Path | None = None) -> PlanEstimate:
    """Time and disk a plan needs on ``rig``, from body profiles and the turntable's speed."""
    takes = expand_plan(rig, plan)
    hold: dict[str, float] = {}
    angle = 0.0
    disk = 0
    images = 0
    for take in takes:
        seconds = _take_seconds(rig, plan, take, base_dir)
        target = take.station.angle_deg
        if target is not None and rig.turntable is not None and target != angle:
            seconds += abs(target - angle) / rig.turntable.speed_deg_per_s + plan.settle.turntable_s
            angle = target
        hold[take.pose.id] = hold.get(take.pose.id, 0.0) + seconds
        for camera_id in take.cameras:
            camera = rig.camera(camera_id)
            body = load_body_profile(camera.body, base_dir)
            disk += sum(body.formats[f].bytes_estimate for f in camera.formats)
            images += len(camera.formats)
    return PlanEstimate(len(takes), images, hold, sum(hold.values()), disk)
