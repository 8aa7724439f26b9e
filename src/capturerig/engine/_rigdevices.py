"""All of a rig's drivers, opened together and always left with the lights in the safe state."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from capturerig.config import LightingCondition, RigConfig
from capturerig.devices import (
    Camera,
    DeviceError,
    DriverContext,
    LightOutput,
    TriggerBox,
    Turntable,
    create_camera,
    create_light_output,
    create_trigger,
    create_turntable,
)
from capturerig.engine import _safestate
from capturerig.lighting import (
    FlashGovernor,
    PhotosensitivityRefused,
    UniverseKey,
    blackout_frames,
    change_between,
    decode_fixture,
    fixture_settle_s,
    frames_for_condition,
    light_shares,
    safe_state_frames,
)

__all__ = ["LightChange", "LightsTiming", "PreparedLight", "RigDevices"]

log = logging.getLogger(__name__)
LIGHT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LightsTiming:
    """When an applied lighting state was commanded, on the wire and settled (time.time()), and the
    governor's wait."""

    wire_at: float
    settled_at: float
    governor_wait_s: float
    settled_monotonic: float = 0.0  # settled_at on time.monotonic(), for schedules
    commanded_at: float = 0.0


@dataclass(frozen=True)
class PreparedLight:
    """A lighting state worked out for the rig: its frames, each fixture's share of the light, and the
    longest settle of its lit fixtures."""

    label: str
    frames: dict[UniverseKey, bytes]
    shares: tuple[float, ...]
    fixture_settle_s: float


@dataclass(frozen=True)
class LightChange:
    """A lighting state handed to the outputs (``begin_lighting``), not yet confirmed on the wire.

    The light is steady at the later of ``commanded + settle_floor_s`` (the plan's settle counts from the
    command: it is what a technician measures, sending a state and watching a meter) and the frame's
    arrival on the wire + the lit fixtures' own settle (from their profiles).
    """

    label: str
    commanded: float  # time.monotonic() when the frames were handed over
    settle_floor_s: float
    fixture_settle_s: float
    governor_wait_s: float

    def steady_by(self, wire_s: float) -> float:
        """When the light is steady (time.monotonic()) if the frame takes ``wire_s`` to go out."""
        return max(self.commanded + self.settle_floor_s, self.commanded + wire_s + self.fixture_settle_s)


class RigDevices:
    """Driver instances for every device in the rig (not yet opened).

    While it exists it is registered for the process-wide exit safety (SIGTERM, interpreter exit).
    """

    def __init__(self, rig: RigConfig, base_dir: Path) -> None:
        self.rig = rig
        self.context = DriverContext(rig, base_dir)
        self.cameras: dict[str, Camera] = {c.id: create_camera(c, self.context) for c in rig.cameras}
        self.lights: dict[str, LightOutput] = {
            o.id: create_light_output(o, self.context) for o in rig.light_outputs}
        self.trigger: TriggerBox | None = create_trigger(rig.trigger, self.context) if rig.trigger else None
        self.turntable: Turntable | None = (
            create_turntable(rig.turntable, self.context) if rig.turntable else None)
        self.governor: FlashGovernor | None = None  # set by the engine when the subject is a person
        self._light_lock = threading.RLock()
        self._shares = light_shares(rig, safe_state_frames(rig, base_dir), base_dir)
        self._latched = False
        _safestate.register(self)

    @property
    def safe_latched(self) -> bool:
        """True after an abort or exit put the lights safe for good: no lighting state is applied any more."""
        return self._latched

    def _record(self, frames: dict[UniverseKey, bytes], label: str) -> None:
        shares = light_shares(self.rig, frames, self.context.base_dir)
        if self.governor is not None:
            self.governor.record(change_between(self._shares, shares, time.monotonic(), label))
        self._shares = shares

    def _settle_s(self, frames: dict[UniverseKey, bytes]) -> float:
        """The longest settle time among the fixtures that are lit (profiles may name one)."""
        settle = 0.0
        for fixture in self.rig.fixtures:
            if any(decode_fixture(fixture, frames, self.context.base_dir).values()):
                settle = max(settle, fixture_settle_s(fixture, self.context.base_dir))
        return settle

    def prepare_lighting(self, condition: LightingCondition) -> PreparedLight:
        """``condition``'s frames, light shares and fixture settle, computed ahead (a burst prepares every
        state before the hold). Raises PhotosensitivityRefused for a strobe the subject's limit forbids."""
        frames = frames_for_condition(self.rig, condition, self.context.base_dir)
        label = condition.id or ""
        shares = light_shares(self.rig, frames, self.context.base_dir)
        if self.governor is not None:
            limit = self.governor.limit
            for fixture, share in zip(self.rig.fixtures, shares, strict=True):
                hz = decode_fixture(fixture, frames, self.context.base_dir).get("strobe", 0.0)
                if hz > limit.max_flashes / limit.window_s and share >= limit.threshold:
                    raise PhotosensitivityRefused(
                        f"lighting '{label}': {fixture.id} strobes at {hz:g} Hz, above the limit of "
                        f"{limit.max_flashes} flashes per {limit.window_s:g} s set by {limit.source}")
        return PreparedLight(label, frames, shares, self._settle_s(frames))

    def governor_wait_s(self, light: PreparedLight) -> float:
        """How long the flash governor would hold ``light`` back if it were commanded now (0 without one; it
        only shrinks as time passes)."""
        if self.governor is None:
            return 0.0
        return self.governor.delay_for(change_between(self._shares, light.shares, time.monotonic(), light.label))

    def begin_lighting(self, condition: LightingCondition | PreparedLight, settle_floor_s: float) -> LightChange:
        """Hand a state's frames to every output without waiting for the wire (``finish_lighting`` does).

        The light is steady ``settle_floor_s`` (the plan's settle) after the command or the lit fixtures' own
        settle (their profiles) after the frame went out, whichever is later (:meth:`LightChange.steady_by`).
        With a governor, the change first waits here until it keeps within the subject's flash limit.

        Raises
        ------
        DeviceError
            An output failed, or the lights are latched in the safe state (abort, SIGTERM).
        PhotosensitivityRefused
            The state strobes a person faster than the limit allows (no wait could make that safe).
        """
        light = condition if isinstance(condition, PreparedLight) else self.prepare_lighting(condition)
        waited = 0.0
        if self.governor is not None:
            waited = self.governor.delay_for(change_between(self._shares, light.shares, time.monotonic(),
                                                            light.label))
            if waited > 0:
                time.sleep(waited)
        with self._light_lock:
            if self._latched:
                raise DeviceError("lights", "held in the safe state after an abort or shutdown",
                                  "resume the session to light it again")
            commanded = time.monotonic()
            for (output_id, universe), frame in light.frames.items():
                self.lights[output_id].set_universe(universe, frame)
            if self.governor is not None:
                self.governor.record(change_between(self._shares, light.shares, commanded, light.label))
            self._shares = light.shares
        return LightChange(light.label, commanded, settle_floor_s, light.fixture_settle_s, waited)

    def finish_lighting(self, change: LightChange) -> LightsTiming:
        """Wait until ``change``'s frames are on the wire; says when the light is steady (no sleep for it)."""
        with self._light_lock:
            for output in self.lights.values():
                output.wait_sent(LIGHT_TIMEOUT_S)
            wire_at, wire_monotonic = time.time(), time.monotonic()
        steady = change.steady_by(wire_monotonic - change.commanded)
        return LightsTiming(wire_at, wire_at + (steady - wire_monotonic), change.governor_wait_s, steady,
                            wire_at - (wire_monotonic - change.commanded))

    def lights_safe(self) -> list[str]:
        """The rig's safe state (blackout or its work-light scene) on every output; never raises.

        Returns the outputs that could not be reached.
        """
        failed = []
        try:
            frames = safe_state_frames(self.rig, self.context.base_dir)
        except Exception:  # a broken work-light scene must not keep the lights on: black out instead
            log.exception("safe-state scene '%s' failed; blacking out", self.rig.safe_state)
            frames = blackout_frames(self.rig)
        with self._light_lock:
            for (output_id, universe), frame in frames.items():
                try:
                    self.lights[output_id].set_universe(universe, frame)
                except (DeviceError, OSError, ValueError) as exc:
                    log.error("could not put %s universe %s in the safe state: %s", output_id, universe, exc)
                    failed.append(output_id)
            for output_id, output in self.lights.items():
                if output_id in failed:
                    continue
                try:
                    output.wait_sent(LIGHT_TIMEOUT_S)  # every frame was handed over first
                except (DeviceError, OSError, ValueError) as exc:
                    log.error("could not confirm the safe state on %s: %s", output_id, exc)
                    failed.append(output_id)
            self._record(frames, "safe state")
        return failed

    def latch_safe(self) -> list[str]:
        """Safe state now and for good (abort, SIGTERM, exit): later :meth:`begin_lighting` calls refuse."""
        self._latched = True
        return self.lights_safe()

    def close(self) -> None:
        _safestate.unregister(self)
        devices: list[Camera | LightOutput | TriggerBox | Turntable] = [*self.cameras.values(),
                                                                        *self.lights.values()]
        devices += [d for d in (self.trigger, self.turntable) if d is not None]
        for device in devices:
            device.close()

