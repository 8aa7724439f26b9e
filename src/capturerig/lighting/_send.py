"""Put frames on a rig's light outputs once, outside a session (the CLI's and the panel's light commands)."""

from __future__ import annotations

from collections.abc import Mapping

from capturerig.config import LoadedRig
from capturerig.devices import DriverContext, LightOutput, create_light_output
from capturerig.lighting._scenes import UniverseKey

__all__ = ["send_frames_once"]


def send_frames_once(rig: LoadedRig, frames: Mapping[UniverseKey, bytes], timeout_s: float = 5.0) -> None:
    """Open every light output of ``rig``, send ``frames``, wait until each is on the wire, close.

    Raises DeviceError (naming the output) when an output cannot be opened or does not send in time.
    """
    context = DriverContext(rig.config, rig.path.parent)
    outputs: dict[str, LightOutput] = {o.id: create_light_output(o, context) for o in rig.config.light_outputs}
    try:
        for output in outputs.values():
            output.open(timeout_s)
        for (output_id, universe), frame in frames.items():
            outputs[output_id].set_universe(universe, frame)
        for output in outputs.values():
            output.wait_sent(timeout_s)
    finally:
        for output in outputs.values():
            output.close()
