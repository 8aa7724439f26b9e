"""All of a rig's drivers, opened together and always left with the lights in the safe state."""

from __future__ import annotations

import logging
from pathlib import Path

from capturerig.config import RigConfig
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
from capturerig.lighting import UniverseKey, blackout_frames

__all__ = ["RigDevices"]

log = logging.getLogger(__name__)
LIGHT_TIMEOUT_S = 5.0


class RigDevices:
    """Driver instances for every device in the rig (not yet opened)."""

    def __init__(self, rig: RigConfig, base_dir: Path) -> None:
        self.rig = rig
        self.context = DriverContext(rig, base_dir)
        self.cameras: dict[str, Camera] = {c.id: create_camera(c, self.context) for c in rig.cameras}
        self.lights: dict[str, LightOutput] = {
            o.id: create_light_output(o, self.context) for o in rig.light_outputs}
        self.trigger: TriggerBox | None = create_trigger(rig.trigger, self.context) if rig.trigger else None
        self.turntable: Turntable | None = (
            create_turntable(rig.turntable, self.context) if rig.turntable else None)

    def send_frames(self, frames: dict[UniverseKey, bytes]) -> None:
        """Hand every universe its new frame, then wait until all have gone out on the wire."""
        for (output_id, universe), frame in frames.items():
            self.lights[output_id].set_universe(universe, frame)
        for output in self.lights.values():
            output.wait_sent(LIGHT_TIMEOUT_S)

    def lights_safe(self) -> list[str]:
        """Blackout on every output; returns the outputs that could not be reached (never raises)."""
        failed = []
        for (output_id, universe), frame in blackout_frames(self.rig).items():
            try:
                self.lights[output_id].set_universe(universe, frame)
                self.lights[output_id].wait_sent(LIGHT_TIMEOUT_S)
            except (DeviceError, OSError, ValueError) as exc:
                log.error("could not put %s universe %s in the safe state: %s", output_id, universe, exc)
                failed.append(output_id)
        return failed

    def close(self) -> None:
        devices: list[Camera | LightOutput | TriggerBox | Turntable] = [*self.cameras.values(),
                                                                        *self.lights.values()]
        devices += [d for d in (self.trigger, self.turntable) if d is not None]
        for device in devices:
            device.close()
