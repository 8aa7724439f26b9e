"""Estimates from the same expansion the engine runs: takes, hold time per pose, session time, disk."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby
from pathlib import Path

from capturerig.config import (
    MAX_DMX_RATE_HZ,
    CameraBodyProfile,
    Consistency,
    LightingCondition,
    PlanConfig,
    RigConfig,
    load_body_profile,
    load_fixture_profile,
)
from capturerig.plan._expand import Take, expand_plan

__all__ = ["ENGINE_OVERHEAD_S", "LIGHT_FRAME_S", "PlanEstimate", "burst_refusal", "estimate_plan", "shutter_seconds",
           "take_durations"]

# Per take, beyond the devices' own latencies: arming, journalling, hashing. Measured on the simulator.
ENGINE_OVERHEAD_S = 0.05
# A new light state is on the wire within one frame at DMX512's fastest standard refresh (44 Hz); the
# fixtures' own settle (their profiles) starts then, the plan's settle at the command.
LIGHT_FRAME_S = 1.0 / MAX_DMX_RATE_HZ


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


class _Profiles:
    """The rig's body and fixture profiles, each read once per estimate (a look-up resolves and stats its file:
    one per camera per take made estimating 64 cameras take 0.2 s)."""

    def __init__(self, rig: RigConfig, base_dir: Path | None) -> None:
        self._rig = rig
        self._base_dir = base_dir
        self._bodies: dict[str, CameraBodyProfile] = {}
        self._fixture_settle: dict[str, float] = {}

    def body(self, camera_id: str) -> CameraBodyProfile:
        name = self._rig.camera(camera_id).body
        if name not in self._bodies:
            self._bodies[name] = load_body_profile(name, self._base_dir)
        return self._bodies[name]

    def fixture_settle_s(self, profile: str) -> float:
        if profile not in self._fixture_settle:
            self._fixture_settle[profile] = load_fixture_profile(profile, self._base_dir).settle_s
        return self._fixture_settle[profile]


def _exposure_chain_s(rig: RigConfig, take: Take, profiles: _Profiles) -> float:
    """Trigger to the last file on the host: the slowest camera's latency, exposure, card write and USB."""
    slowest = 0.0
    for camera_id in take.cameras:
        camera = rig.camera(camera_id)
        body = profiles.body(camera_id)
        size = sum(body.formats[f].bytes_estimate for f in camera.formats)
        exposure = shutter_seconds(camera.settings.get("shutter", "1/125")) * 2.0**take.bracket.ev
        seconds = (body.trigger_latency_ms + body.card_write_ms) / 1000 + exposure
        seconds += size / (body.download_mbytes_per_s * 1e6)
        slowest = max(slowest, seconds)
    return slowest


def _light_change_s(rig: RigConfig, plan: PlanConfig, condition: LightingCondition, profiles: _Profiles) -> float:
    """The plan's settle from the command, or one frame onto the wire and the longest settle of the fixtures the
    state names, whichever is longer (as RigDevices.finish_lighting waits)."""
    named = [f for f in rig.fixtures if "*" in condition.levels or f.id in condition.levels]
    settle = max((profiles.fixture_settle_s(f.profile) for f in named), default=0.0)
    return max(plan.settle.lights_s, LIGHT_FRAME_S + settle)


def burst_refusal(takes: Sequence[Take], bodies: Mapping[str, CameraBodyProfile], has_box: bool) -> str | None:
    """Why a pose's ``takes`` (consistency: pose) cannot be shot as one burst, or None when they can.

    A burst fires every state of the hold on the trigger box while the bodies buffer the exposures, and
    downloads after the hold: it needs a box, one station, bracket and camera set, and bodies whose profiles
    give a burst rate and a buffer for every state.
    """
    if not has_box:
        return "no trigger box"
    if len(takes) < 2:
        return "a single take"
    if len({(t.station.id, t.bracket.id, tuple(t.cameras)) for t in takes}) > 1:
        return "the turntable, the bracket or the cameras change within the pose"
    for camera_id in takes[0].cameras:
        body = bodies[camera_id]
        if body.burst_fps is None:
            return f"{camera_id}'s body profile ({body.name}) gives no burst_fps"
        if body.burst_frames < len(takes):
            return f"{camera_id}'s buffer holds {body.burst_frames} exposures, the pose has {len(takes)}"
    return None


def _burst_s(rig: RigConfig, plan: PlanConfig, takes: Sequence[Take],
             profiles: _Profiles) -> tuple[list[float], float]:
    """A burst's seconds per state (light change or the body's burst interval, then the exposure) and the
    tail after the hold: the cards write the buffered exposures one after another and the host downloads
    them."""
    bodies = {c: profiles.body(c) for c in takes[0].cameras}
    shutter = {c: shutter_seconds(rig.camera(c).settings.get("shutter", "1/125")) * 2.0**takes[0].bracket.ev
               for c in bodies}
    interval = max(1.0 / b.burst_fps for b in bodies.values() if b.burst_fps)
    longest = max(shutter.values())
    periods = []
    for index, take in enumerate(takes):
        light = _light_change_s(rig, plan, take.lighting, profiles)
        wait = light if index == 0 else max(light, interval - longest)
        periods.append(wait + longest)
    hold = sum(periods)
    delivered = 0.0
    for camera_id, body in bodies.items():
        size = sum(body.formats[f].bytes_estimate for f in rig.camera(camera_id).formats)
        written = done = 0.0
        closed = 0.0
        for period in periods:
            closed += period
            written = max(closed, written) + body.card_write_ms / 1000
            done = max(written, done) + size / (body.download_mbytes_per_s * 1e6)
        delivered = max(delivered, done)
    return periods, max(0.0, delivered - hold)


def take_durations(rig: RigConfig, plan: PlanConfig, base_dir: Path | None = None, *,
                   engine_overhead_s: float = ENGINE_OVERHEAD_S) -> list[tuple[Take, float]]:
    """Every take of the plan with its estimated seconds, on the engine's schedule.

    The lights change only when the state does, and at the same time as a turntable move; a take's exposure
    chain follows both. A pose shot as one burst (see ``burst_refusal``) takes each state's light change
    and exposure, and its last take also the downloads after the hold. ``engine_overhead_s=0`` gives the
    hardware's own critical path (what the simulator models), the yardstick of the engine's overhead.
    """
    return [(take, seconds) for take, seconds, _ in _schedule(rig, plan, _Profiles(rig, base_dir), engine_overhead_s)]


def _schedule(rig: RigConfig, plan: PlanConfig, profiles: _Profiles, engine_overhead_s: float,
              table_settling_s: float = 0.0) -> list[tuple[Take, float, float]]:
    """(take, seconds, seconds of it the subject holds still)."""
    durations = []
    angle = 0.0
    settling = table_settling_s if rig.turntable is not None else 0.0
    lighting: str | None = None

    def turn_to(take: Take) -> float:
        """Seconds the turntable takes to reach ``take``'s station and settle (what is left of its settle
        when it is there)."""
        nonlocal angle, settling
        target = take.station.angle_deg
        left, settling = settling, 0.0
        if target is None or rig.turntable is None:
            return 0.0
        if target == angle:
            return left
        seconds = abs(target - angle) / rig.turntable.speed_deg_per_s + plan.settle.turntable_s
        angle = target
        return seconds

    for _, group in groupby(expand_plan(rig, plan), key=lambda t: t.pose.id):
        takes = list(group)
        if plan.consistency == Consistency.POSE and burst_refusal(
                takes, {c: profiles.body(c) for c in takes[0].cameras}, rig.trigger is not None) is None:
            table_s = turn_to(takes[0])
            periods, tail = _burst_s(rig, plan, takes, profiles)
            periods[0] += engine_overhead_s
            # The turntable reaches the station before the hold: the subject holds still for the states only.
            spent = [p + (table_s if index == 0 else 0.0) + (tail if index == len(takes) - 1 else 0.0)
                     for index, p in enumerate(periods)]
            durations += list(zip(takes, spent, periods, strict=True))
            lighting = takes[-1].lighting.id
            continue
        for take in takes:
            lights_s = 0.0 if take.lighting.id == lighting else _light_change_s(rig, plan, take.lighting, profiles)
            lighting = take.lighting.id
            seconds = max(lights_s, turn_to(take)) + _exposure_chain_s(rig, take, profiles) + engine_overhead_s
            durations.append((take, seconds, seconds))
    return durations


def estimate_plan(rig: RigConfig, plan: PlanConfig, base_dir: Path | None = None, *,
                  engine_overhead_s: float = ENGINE_OVERHEAD_S, table_settling_s: float = 0.0) -> PlanEstimate:
    """Time and disk a plan needs on ``rig``, from body and fixture profiles and the turntable's speed
    (see ``take_durations`` for the schedule).

    The table starts at rest at 0 degrees; ``table_settling_s`` is what is left of its settle when the first
    take starts (preflight homed it just before: the first take at 0 waits for that, beside its light)."""
    hold: dict[str, float] = {}
    disk = 0
    images = 0
    profiles = _Profiles(rig, base_dir)
    durations = _schedule(rig, plan, profiles, engine_overhead_s, table_settling_s)
    session_s = 0.0
    for take, seconds, held in durations:
        hold[take.pose.id] = hold.get(take.pose.id, 0.0) + held
        session_s += seconds
        for camera_id in take.cameras:
            camera = rig.camera(camera_id)
            body = profiles.body(camera_id)
            disk += sum(body.formats[f].bytes_estimate for f in camera.formats)
            images += len(camera.formats)
    return PlanEstimate(len(durations), images, hold, session_s, disk)
