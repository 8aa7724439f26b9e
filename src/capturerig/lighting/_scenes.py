"""Lighting conditions to DMX frames (and back, for simulators and read-back checks); the safe state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from capturerig.config import (
    DMX_UNIVERSE_SIZE,
    ChannelRole,
    FixtureCommand,
    FixtureConfig,
    FixtureMode,
    LightingCondition,
    PlanConfig,
    RigConfig,
    load_fixture_profile,
)
from capturerig.lighting._commands import decode_mode, encode_fixture, fixture_luminance

__all__ = [
    "BLACKOUT",
    "UniverseKey",
    "UnknownScene",
    "blackout_frames",
    "decode_fixture",
    "find_scene",
    "fixture_commands",
    "fixture_mode",
    "fixture_settle_s",
    "frames_for_commands",
    "frames_for_condition",
    "light_shares",
    "safe_state_frames",
]

UniverseKey = tuple[str, int]  # (light output id, universe)
BLACKOUT = "blackout"


class UnknownScene(KeyError):
    """No scene or lighting state of that name; the message lists the ones there are."""

    def __str__(self) -> str:  # the message as written, not KeyError's quoted repr of it
        return str(self.args[0]) if self.args else ""


def fixture_mode(fixture: FixtureConfig, base_dir: Path | None = None) -> FixtureMode:
    """The profile mode a rig fixture runs in."""
    return load_fixture_profile(fixture.profile, base_dir).modes[fixture.mode]


def fixture_settle_s(fixture: FixtureConfig, base_dir: Path | None = None) -> float:
    """How long the fixture's light needs to settle after a new frame is on the wire (from its profile)."""
    return load_fixture_profile(fixture.profile, base_dir).settle_s


def blackout_frames(rig: RigConfig) -> dict[UniverseKey, bytes]:
    """Every universe of every output at zero."""
    return {(o.id, u): bytes(DMX_UNIVERSE_SIZE) for o in rig.light_outputs for u in o.universes}


def fixture_commands(rig: RigConfig, condition: LightingCondition) -> dict[str, FixtureCommand]:
    """The command of every fixture the condition lights (its own entry over ``*``), by fixture id."""
    commands = {}
    shared = condition.levels.get("*")
    for fixture in rig.fixtures:
        own = condition.levels.get(fixture.id)
        if shared is not None and own is not None:
            commands[fixture.id] = shared.merged(own)
        elif shared is not None or own is not None:
            commands[fixture.id] = own or shared  # type: ignore[assignment]
    return commands


def frames_for_commands(rig: RigConfig, commands: Mapping[str, FixtureCommand],
                        base_dir: Path | None = None) -> dict[UniverseKey, bytes]:
    """Full 512-channel frames for every universe of the rig; fixtures without a command are dark.

    Raises ValueError when a fixture cannot do what its command asks (a strobe rate it lacks).
    """
    frames = {key: bytearray(frame) for key, frame in blackout_frames(rig).items()}
    for fixture in rig.fixtures:
        command = commands.get(fixture.id)
        if command is None:
            continue
        data = encode_fixture(fixture_mode(fixture, base_dir), command, fixture.id)
        frame = frames[(fixture.output, fixture.universe)]
        frame[fixture.address - 1: fixture.address - 1 + len(data)] = data
    return {key: bytes(frame) for key, frame in frames.items()}


def frames_for_condition(rig: RigConfig, condition: LightingCondition,
                         base_dir: Path | None = None) -> dict[UniverseKey, bytes]:
    """Full 512-channel frames for every universe of the rig under ``condition`` (a lighting state).

    Fixtures the condition does not name (and that ``*`` does not cover) are dark; what a fixture's mode
    lacks (a colour, CCT) is ignored, so one condition can drive mixed fixtures.
    """
    return frames_for_commands(rig, fixture_commands(rig, condition), base_dir)


def decode_fixture(fixture: FixtureConfig, frames: Mapping[UniverseKey, bytes],
                   base_dir: Path | None = None) -> dict[ChannelRole, float]:
    """A fixture's levels as read from the frames its output holds (see :func:`decode_mode`)."""
    mode = fixture_mode(fixture, base_dir)
    frame = frames.get((fixture.output, fixture.universe), bytes(DMX_UNIVERSE_SIZE))
    return decode_mode(mode, frame[fixture.address - 1: fixture.address - 1 + mode.footprint])


def light_shares(rig: RigConfig, frames: Mapping[UniverseKey, bytes],
                 base_dir: Path | None = None) -> tuple[float, ...]:
    """Each fixture's light as a share of the rig's full light (every fixture full), in rig order."""
    total = sum(f.power for f in rig.fixtures) or 1.0
    shares = []
    for fixture in rig.fixtures:
        levels = decode_fixture(fixture, frames, base_dir)
        shares.append(fixture.power * fixture_luminance(fixture_mode(fixture, base_dir), levels) / total)
    return tuple(shares)


def find_scene(rig: RigConfig, name: str, plan: PlanConfig | None = None,
               expanded: Sequence[LightingCondition] = ()) -> LightingCondition:
    """A rig scene or a plan lighting state by id (or name); raises UnknownScene (a KeyError) listing what exists."""
    candidates = [*rig.scenes, *expanded, *(plan.lighting if plan is not None else ())]
    for condition in candidates:
        if condition.generator is None and name in (condition.id, condition.name):
            return condition
    known = [c.id for c in candidates if c.generator is None and c.id]
    raise UnknownScene(f"no scene '{name}' (rig scenes{' and plan lighting states' if plan else ''}: "
                   f"{', '.join(known) or 'none'}; 'blackout' is always there)")


def safe_state_frames(rig: RigConfig, base_dir: Path | None = None) -> dict[UniverseKey, bytes]:
    """The rig's safe state: blackout, or the scene its ``safe_state`` names (a work light)."""
    if rig.safe_state == BLACKOUT:
        return blackout_frames(rig)
    return frames_for_condition(rig, find_scene(rig, rig.safe_state), base_dir)
