"""Lighting conditions to DMX frames (and back, for simulators and read-back checks)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from capturerig.config import (
    DMX_UNIVERSE_SIZE,
    ChannelRole,
    FixtureConfig,
    LightingCondition,
    RigConfig,
    load_fixture_profile,
)

__all__ = ["UniverseKey", "blackout_frames", "decode_fixture", "frames_for_condition"]

UniverseKey = tuple[str, int]  # (light output id, universe)


def _channels(fixture: FixtureConfig, base_dir: Path | None) -> tuple[ChannelRole, ...]:
    return load_fixture_profile(fixture.profile, base_dir).modes[fixture.mode].channels


def blackout_frames(rig: RigConfig) -> dict[UniverseKey, bytes]:
    """The safe state: every universe of every output at zero."""
    return {(o.id, u): bytes(DMX_UNIVERSE_SIZE) for o in rig.light_outputs for u in o.universes}


def frames_for_condition(rig: RigConfig, condition: LightingCondition,
                         base_dir: Path | None = None) -> dict[UniverseKey, bytes]:
    """Full 512-channel frames for every universe of the rig under ``condition``.

    Fixtures the condition does not name (and that ``*`` does not cover) are dark; roles a fixture's mode
    lacks are ignored, so one condition can drive mixed fixtures.
    """
    frames = {key: bytearray(frame) for key, frame in blackout_frames(rig).items()}
    for fixture in rig.fixtures:
        levels: dict[ChannelRole, float] = dict(condition.levels.get("*", {}))
        levels.update(condition.levels.get(fixture.id, {}))
        if not levels:
            continue
        frame = frames[(fixture.output, fixture.universe)]
        for offset, role in enumerate(_channels(fixture, base_dir)):
            if role in levels:
                frame[fixture.address - 1 + offset] = round(levels[role] * 255)
    return {key: bytes(frame) for key, frame in frames.items()}


def decode_fixture(fixture: FixtureConfig, frames: Mapping[UniverseKey, bytes],
                   base_dir: Path | None = None) -> dict[ChannelRole, float]:
    """A fixture's channel levels (0..1 by role) as read from the frames its output holds."""
    frame = frames.get((fixture.output, fixture.universe), bytes(DMX_UNIVERSE_SIZE))
    result: dict[ChannelRole, float] = {}
    for offset, role in enumerate(_channels(fixture, base_dir)):
        if role != "unused":
            result[role] = frame[fixture.address - 1 + offset] / 255.0
    return result
