"""Put frames on a rig's light outputs once, outside a session (the CLI's and the panel's light commands).

Here rather than in ``capturerig.lighting``: opening outputs is device work, and lighting stays pure data
(frames from fixture commands), so plans and previews never import a driver.
"""

from __future__ import annotations

from collections.abc import Mapping

from capturerig.config import LoadedRig
from capturerig.devices._registry import DriverContext, create_light_output
from capturerig.devices.protocols import LightOutput

__all__ = ["send_frames_once"]


def send_frames_once(rig: LoadedRig, frames: Mapping[tuple[str, int], bytes], timeout_s: float = 5.0) -> None:
    """Open every light output of ``rig``, send ``frames``, wait until each is on the wire, close.

    Parameters
    ----------
    rig
        The loaded rig whose ``light_outputs`` are opened (drivers resolved relative to its file).
    frames
        DMX frames by (light output id, universe), e.g. from ``capturerig.lighting.frames_for_condition``.
    timeout_s
        Limit for opening each output and for each to put its frames on the wire.

    Raises
    ------
    DeviceError
        Naming the output, when an output cannot be opened or does not send in time.
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
